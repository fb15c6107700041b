// Which results a row image writes (ARCHITECTURE rule 11), and the text it writes. That the text
// is byte for byte PostgreSQL's is checked against the database in tests/live (change feed
// test); here, every shape that must not qualify and every value form.
#include "liveql/compiler/row_result.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <tuple>

#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "schema_fixture.hpp"

namespace liveql::deps {
namespace {

namespace json = boost::json;
using compiler::Session;

class RowResultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { schema_ = test::shop_schema(); }
  static void TearDownTestSuite() { schema_.reset(); }

  static Session user() { return test::role_session("user", "7"); }
  // The row_result of a compiled subscription (nullopt also when it does not compile).
  std::optional<RowResult> plan(std::string_view query, const Session& session = Session{},
                                std::string vars = "{}") {
    compiler::Request r{query, json::parse(vars).as_object(), std::nullopt};
    auto op = compiler::compile(*schema_, r, session);
    EXPECT_TRUE(op.ok()) << (op.ok() ? "" : op.error().message);
    if (!op.ok()) return std::nullopt;
    vars_ = op->vars;
    return extract_dependencies(op->ir).row_result;
  }
  json::object vars_;
  static inline std::shared_ptr<const compiler::Schema> schema_;
};

RowImage image(std::vector<std::pair<std::string, std::optional<std::string>>> values) {
  RowImage row;
  for (auto& [name, value] : values) row.columns.push_back({name, "", std::move(value)});
  return row;
}

// `<table>(where: {id: {_eq: $p1}}) { <columns> }` built directly (types the fixture lacks):
// each column's name, PostgreSQL type and whether it is stringified.
ir::Operation by_key(const char* table,
                     std::vector<std::tuple<const char*, const char*, bool>> columns) {
  ir::Operation op;
  ir::RootField& rf = op.fields.emplace_back();
  rf.alias = table;
  rf.select.table = {"public", table};
  rf.select.primary_key = {"id"};
  auto where = std::make_shared<ir::BoolExp>();
  where->kind = ir::BoolExp::Kind::kCompare;
  where->column = "id";
  where->column_type = "integer";
  where->param = ir::Param{"p1", "integer", false};
  rf.select.where = where;
  for (auto [name, type, as_text] : columns) {
    ir::Field& f = rf.select.fields.emplace_back();
    f.alias = f.column = name;
    f.pg_type = type;
    f.as_text = as_text;
  }
  return op;
}

TEST_F(RowResultTest, AListOrAnObjectByTheKeyQualifies) {
  auto list = plan(
      "subscription ($id: Int!) { delivery_agents(where: {id: {_eq: $id}}) "
      "{ id name phone active } }",
      Session{}, R"({"id": 3})");
  ASSERT_TRUE(list);
  EXPECT_FALSE(list->object);
  EXPECT_EQ(list->root_alias, "delivery_agents");
  EXPECT_EQ(list->table.name, "delivery_agents");
  EXPECT_EQ(list->key_column, "id");
  ASSERT_EQ(list->columns.size(), 4u);
  EXPECT_EQ(list->columns[0].form, RowResult::Form::kNumber);
  EXPECT_EQ(list->columns[2].form, RowResult::Form::kString);
  EXPECT_EQ(list->columns[3].form, RowResult::Form::kBool);
  EXPECT_EQ(row_result_key(*list, vars_)->key, "3");

  auto object = plan("subscription { a: delivery_agents_by_pk(id: 5) { n: name __typename } }");
  ASSERT_TRUE(object);
  EXPECT_TRUE(object->object);
  EXPECT_EQ(object->root_alias, "a");
  EXPECT_EQ(row_result_key(*object, vars_)->key, "5");
  ASSERT_EQ(object->columns.size(), 2u);
  EXPECT_EQ(object->columns[1].typename_, "delivery_agents");

  // A permission filter of {} adds nothing; order_by cannot reorder one row.
  EXPECT_TRUE(
      plan("subscription { delivery_agents(where: {id: {_eq: 1}}, order_by: {name: asc}) "
           "{ id name } }",
           user()));
}

TEST_F(RowResultTest, OtherEqualitiesAreCheckedAgainstTheImage) {
  // The user role's permission on users, id = X-Hasura-User-Id: a second value of the key.
  auto own = plan("subscription { users_by_pk(id: 7) { id name } }", user());
  ASSERT_TRUE(own);
  EXPECT_EQ(own->keys.size(), 2u);
  EXPECT_TRUE(own->checks.empty());
  ASSERT_TRUE(row_result_key(*own, vars_));
  EXPECT_EQ(row_result_key(*own, vars_)->key, "7");
  // Someone else's row: the key's values disagree, never written (always refetched: null).
  auto other = plan("subscription { users_by_pk(id: 8) { id name } }", user());
  ASSERT_TRUE(other);
  EXPECT_FALSE(row_result_key(*other, vars_));

  // A condition on another column is checked against the image.
  auto named = plan(
      "subscription { delivery_agents(where: {id: {_eq: 1}, name: {_eq: \"x\"}}) "
      "{ id } }");
  ASSERT_TRUE(named);
  ASSERT_EQ(named->checks.size(), 1u);
  EXPECT_EQ(named->checks[0].column, "name");
  auto key = row_result_key(*named, vars_);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->checks, std::vector<std::string>{"x"});
  EXPECT_TRUE(row_passes(*named, *key, image({{"id", "1"}, {"name", "x"}})));
  EXPECT_FALSE(row_passes(*named, *key, image({{"id", "1"}, {"name", "X"}})));
  EXPECT_FALSE(row_passes(*named, *key, image({{"id", "1"}, {"name", std::nullopt}})));
  EXPECT_FALSE(row_passes(*named, *key, image({{"id", "1"}})));

  // A boolean (wal2json's true/false, PostgreSQL's t/f) and an enum's label are checked too.
  auto active = plan(
      "subscription ($a: Boolean!) { delivery_agents(where: {id: {_eq: 1}, active: {_eq: $a}}) "
      "{ id } }",
      Session{}, R"({"a": true})");
  ASSERT_TRUE(active);
  ASSERT_EQ(active->checks.size(), 1u);
  EXPECT_TRUE(active->checks[0].boolean);
  key = row_result_key(*active, vars_);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->checks, std::vector<std::string>{"true"});
  EXPECT_TRUE(row_passes(*active, *key, image({{"active", "true"}})));
  EXPECT_TRUE(row_passes(*active, *key, image({{"active", "t"}})));
  EXPECT_FALSE(row_passes(*active, *key, image({{"active", "false"}})));
  EXPECT_FALSE(row_passes(*active, *key, image({{"active", "f"}})));
  auto placed =
      plan("subscription { orders(where: {id: {_eq: 1}, status: {_eq: \"placed\"}}) { id } }");
  ASSERT_TRUE(placed);
  ASSERT_EQ(placed->checks.size(), 1u);
  EXPECT_FALSE(placed->checks[0].boolean);
  key = row_result_key(*placed, vars_);
  ASSERT_TRUE(key);
  EXPECT_TRUE(row_passes(*placed, *key, image({{"status", "placed"}})));
  EXPECT_FALSE(row_passes(*placed, *key, image({{"status", "delivered"}})));
  // A text column holding `t` is not a boolean: no reading of it as `true`.
  auto t_name =
      plan("subscription { delivery_agents(where: {id: {_eq: 1}, name: {_eq: \"true\"}}) { id } }");
  ASSERT_TRUE(t_name);
  key = row_result_key(*t_name, vars_);
  ASSERT_TRUE(key);
  EXPECT_FALSE(row_passes(*t_name, *key, image({{"name", "t"}})));
}

TEST_F(RowResultTest, AnythingButOneKeyedRowOfPlainColumnsDoesNot) {
  const char* refused[] = {
      // a condition other than an equality of an integer, text, uuid, enum or boolean column
      "subscription { delivery_agents(where: {id: {_eq: 1}, active: {_neq: true}}) { id } }",
      "subscription { orders(where: {id: {_eq: 1}, total: {_eq: 5}}) { id } }",
      "subscription { delivery_agents(where: {id: {_eq: 1}, name: {_neq: \"x\"}}) { id } }",
      "subscription { delivery_agents(where: {id: {_eq: 1}, phone: {_is_null: true}}) { id } }",
      // no equality on the key
      "subscription { delivery_agents(where: {name: {_eq: \"x\"}}) { id } }",
      "subscription { delivery_agents(where: {id: {_gt: 1}}) { id } }",
      "subscription { delivery_agents(where: {id: {_in: [1]}}) { id } }",
      "subscription { delivery_agents(where: {_or: [{id: {_eq: 1}}]}) { id } }",
      "subscription { delivery_agents { id } }",
      // limit and offset (a limit of 0 is an empty result)
      "subscription { delivery_agents(where: {id: {_eq: 1}}, limit: 0) { id } }",
      "subscription { delivery_agents(where: {id: {_eq: 1}}, offset: 1) { id } }",
      // columns whose JSON is not their text (numeric, jsonb)
      "subscription { orders_by_pk(id: 1) { id total } }",
      "subscription { orders_by_pk(id: 1) { notes } }",
      // relationships, aggregates, several root fields
      "subscription { orders_by_pk(id: 1) { id user { id } } }",
      "subscription { delivery_agents_aggregate(where: {id: {_eq: 1}}) { aggregate { count } } }",
      "query { a: delivery_agents_by_pk(id: 1) { id } b: delivery_agents_by_pk(id: 2) { id } }",
  };
  for (const char* q : refused) EXPECT_FALSE(plan(q)) << q;
}

TEST_F(RowResultTest, TheKeyIsAnIntegerOrAString) {
  auto p = plan("subscription ($id: Int!) { delivery_agents_by_pk(id: $id) { id } }", Session{},
                R"({"id": -12})");
  ASSERT_TRUE(p);
  EXPECT_EQ(row_result_key(*p, vars_)->key, "-12");
  EXPECT_FALSE(row_result_key(*p, json::parse(R"({})").as_object()));
  ASSERT_EQ(p->keys.size(), 1u);
  json::object vars{{p->keys[0].key, "42"}};
  EXPECT_EQ(row_result_key(*p, vars)->key, "42");
  vars[p->keys[0].key] = 4.5;
  EXPECT_FALSE(row_result_key(*p, vars));
  vars[p->keys[0].key] = nullptr;
  EXPECT_FALSE(row_result_key(*p, vars));
}

TEST_F(RowResultTest, WritesTheRowAsJsonBuildObjectAndJsonAggPrintIt) {
  auto list = plan(
      "subscription { delivery_agents(where: {id: {_eq: 1}}) "
      "{ the_id: id name phone active __typename } }");
  ASSERT_TRUE(list);
  auto row = image({{"id", "1"},
                    {"name", "a \"q\" \\ \n\t\r\b\f \x01\x1f\x7f é"},
                    {"phone", std::nullopt},
                    {"active", "true"}});
  EXPECT_EQ(write_row_result(*list, row),
            "{\"delivery_agents\" : [{\"the_id\" : 1, \"name\" : \"a \\\"q\\\" \\\\ "
            "\\n\\t\\r\\b\\f \\u0001\\u001f\x7f é\", \"phone\" : null, \"active\" : true, "
            "\"__typename\" : \"delivery_agents\"}]}");
  auto object = plan("subscription { delivery_agents_by_pk(id: 1) { active id } }");
  ASSERT_TRUE(object);
  EXPECT_EQ(write_row_result(*object, image({{"id", "-5"}, {"active", "false"}, {"x", "y"}})),
            "{\"delivery_agents_by_pk\" : {\"active\" : false, \"id\" : -5}}");
  // PostgreSQL's own text forms of booleans are read too.
  EXPECT_EQ(write_row_result(*object, image({{"id", "1"}, {"active", "t"}})),
            "{\"delivery_agents_by_pk\" : {\"active\" : true, \"id\" : 1}}");
}

// Enums are their label; dates and timestamps go from PostgreSQL's ISO text to the JSON spelling
// json_build_object prints (`T`, a zone with its minutes); a timestamptz makes the plan zoned.
TEST_F(RowResultTest, EnumsDatesAndTimestampsAreWrittenInTheirJsonSpelling) {
  auto p = plan("subscription { orders_by_pk(id: 1) { status created_at } }");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->zoned);
  auto write = [&](const char* status, const char* created_at) {
    return write_row_result(*p, image({{"status", status}, {"created_at", created_at}}));
  };
  auto json = [](const char* status, const char* created_at) {
    return std::string("{\"orders_by_pk\" : {\"status\" : \"") + status +
           "\", \"created_at\" : \"" + created_at + "\"}}";
  };
  EXPECT_EQ(write("placed", "2026-12-03 07:19:19.123456+00"),
            json("placed", "2026-12-03T07:19:19.123456+00:00"));
  EXPECT_EQ(write("placed", "2026-12-03 12:49:19+05:30"),
            json("placed", "2026-12-03T12:49:19+05:30"));
  EXPECT_EQ(write("placed", "1900-01-01 05:53:28+05:53:28"),
            json("placed", "1900-01-01T05:53:28+05:53:28"));
  EXPECT_EQ(write("placed", "2026-12-03 01:00:00.5-06"),
            json("placed", "2026-12-03T01:00:00.5-06:00"));
  EXPECT_EQ(write("placed", "infinity"), json("placed", "infinity"));
  EXPECT_EQ(write("placed", "-infinity"), json("placed", "-infinity"));
  // What the writer does not read (a BC or five-digit year, another DateStyle, no zone).
  for (const char* unread :
       {"0044-03-15 12:00:00+00 BC", "10000-01-01 00:00:00+00", "12/03/2026 07:19:19 UTC",
        "Thu Dec 03 07:19:19 2026 UTC", "2026-12-03 07:19:19", "2026-12-03T07:19:19+00",
        "2026-12-03 07:19:19.1234567+00", "2026-12-03 07:19:19+0530", "2026-12-03"})
    EXPECT_FALSE(write("placed", unread)) << unread;
  // Without a timestamptz the plan is not zoned.
  auto status = plan("subscription { orders_by_pk(id: 1) { id status } }");
  ASSERT_TRUE(status);
  EXPECT_FALSE(status->zoned);
}

TEST(RowResult, DatesAndTimestampsWithoutZone) {
  auto op = by_key("t", {{"d", "date", false}, {"ts", "timestamp without time zone", false}});
  auto p = row_result(op);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->zoned);
  EXPECT_EQ(write_row_result(*p, image({{"d", "2026-12-31"}, {"ts", "2026-12-03 07:19:19.5"}})),
            "{\"t\" : [{\"d\" : \"2026-12-31\", \"ts\" : \"2026-12-03T07:19:19.5\"}]}");
  EXPECT_EQ(write_row_result(*p, image({{"d", "infinity"}, {"ts", "-infinity"}})),
            "{\"t\" : [{\"d\" : \"infinity\", \"ts\" : \"-infinity\"}]}");
  EXPECT_FALSE(write_row_result(*p, image({{"d", "12-31-2026"}, {"ts", "2026-12-03 07:19:19"}})));
  EXPECT_FALSE(
      write_row_result(*p, image({{"d", "2026-12-31"}, {"ts", "2026-12-03 07:19:19+00"}})));
  EXPECT_FALSE(
      write_row_result(*p, image({{"d", "2026-12-31 00:00:00"}, {"ts", "2026-12-03 07:19"}})));
}

// Stringified numeric types (HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES): a bigint as a JSON string.
TEST(RowResult, AStringifiedIntegerIsAString) {
  auto op = by_key("items", {{"id", "integer", false}, {"value", "bigint", true}});
  ir::RootField& rf = op.fields[0];
  auto p = row_result(op);
  ASSERT_TRUE(p);
  EXPECT_EQ(write_row_result(*p, image({{"id", "2"}, {"value", "9007199254740993"}})),
            "{\"items\" : [{\"id\" : 2, \"value\" : \"9007199254740993\"}]}");
  // A stringified type the writer does not know is refused.
  rf.select.fields[1].pg_type = "numeric";
  EXPECT_FALSE(row_result(op));
}

TEST_F(RowResultTest, AnImageMissingAColumnOrWithAValueOfTheWrongFormWritesNothing) {
  auto p = plan("subscription { delivery_agents_by_pk(id: 1) { id name active } }");
  ASSERT_TRUE(p);
  // An unchanged TOASTed value is absent from the new image.
  EXPECT_EQ(write_row_result(*p, image({{"id", "1"}, {"active", "true"}})), std::nullopt);
  EXPECT_EQ(write_row_result(*p, image({{"id", "1.5"}, {"name", "a"}, {"active", "true"}})),
            std::nullopt);
  EXPECT_EQ(write_row_result(*p, image({{"id", ""}, {"name", "a"}, {"active", "true"}})),
            std::nullopt);
  EXPECT_EQ(write_row_result(*p, image({{"id", "1"}, {"name", "a"}, {"active", "yes"}})),
            std::nullopt);
}

}  // namespace
}  // namespace liveql::deps
