// json/jsonb columns as Hasura v2 exposes them: the `path` argument of a column field (Hasura's
// path syntax, its errors, the value read with #> and a parameter) and `_cast` from jsonb to
// String.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/sql.hpp"
#include "schema/json_path.hpp"
#include "schema/schema.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;
using Keys = std::vector<std::string>;

Keys keys(std::string_view text) {
  auto r = json_path::parse(text, "$.p");
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Keys{"<error>"};
}

TEST(JsonPathTest, HasurasSyntax) {
  EXPECT_EQ(keys("$"), Keys{});
  EXPECT_EQ(keys("a"), Keys{"a"});
  EXPECT_EQ(keys("$.a"), Keys{"a"});
  EXPECT_EQ(keys(".obj.c1"), (Keys{"obj", "c1"}));
  EXPECT_EQ(keys("arr[0]"), (Keys{"arr", "0"}));
  EXPECT_EQ(keys("$[12]"), Keys{"12"});
  EXPECT_EQ(keys("a[007]"), (Keys{"a", "7"}));
  EXPECT_EQ(keys("_under-score9"), Keys{"_under-score9"});
  EXPECT_EQ(keys("['!@#$%^']"), Keys{"!@#$%^"});
  EXPECT_EQ(keys("t['hello world!']"), (Keys{"t", "hello world!"}));
  EXPECT_EQ(keys("o[0]['\xE4\xBD\xA0']"), (Keys{"o", "0", "\xE4\xBD\xA0"}));
  EXPECT_EQ(keys("o.[0].[\"\xE4\xBD\xA0\"]"), (Keys{"o", "0", "\xE4\xBD\xA0"}));
  EXPECT_EQ(keys("\xE4\xBD\xA0.x"), (Keys{"\xE4\xBD\xA0", "x"}));
  EXPECT_EQ(keys(R"(["a\"b\u0041"])"), Keys{"a\"bA"});
  EXPECT_EQ(keys(R"(['it\'s "q"'])"), Keys{"it's \"q\""});
}

TEST(JsonPathTest, RejectsWithHasurasMessage) {
  for (const char* bad :
       {"", "$$", "1a", "a..b", "a.", "a[]", "a[x]", "a[0", "['x", "a b", "a$", "[\"\\q\"]"}) {
    auto r = json_path::parse(bad, "$.selectionSet.t.selectionSet.c.args.path");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kValidationFailed);
    EXPECT_EQ(r.error().message,
              std::string("parse json path error: ") + bad +
                  ". Accept letters, digits, underscore (_) or hyphen (-) only. Use quotes "
                  "enclosed in bracket ([\"...\"]) if there is any special character");
    EXPECT_EQ(r.error().path, "$.selectionSet.t.selectionSet.c.args.path");
  }
}

class JsonColumnTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { schema_ = test::shop_schema(); }
  Result<CompiledOperation> run(std::string_view q, const Session& s = Session{}) {
    Request r;
    r.query = q;
    return compile(*schema_, r, s);
  }
  static std::shared_ptr<const Schema> schema_;
};
std::shared_ptr<const Schema> JsonColumnTest::schema_;

TEST_F(JsonColumnTest, JsonColumnsTakeAPathArgument) {
  const TypeDef* orders = schema_->roles.at("admin").type("orders");
  ASSERT_TRUE(orders);
  const FieldDef* notes = orders->field("notes");
  ASSERT_TRUE(notes);
  ASSERT_EQ(notes->args.size(), 1u);
  EXPECT_EQ(notes->args[0].name, "path");
  EXPECT_EQ(type_to_string(notes->args[0].type), "String");
  EXPECT_EQ(notes->args[0].description, "JSON select path");
  EXPECT_TRUE(orders->field("total")->args.empty());
}

TEST_F(JsonColumnTest, PathIsAParameterReadWithTheJsonPathOperator) {
  auto op = run(R"({ orders { a: notes(path: "door.code[1]") whole: notes(path: "$") notes } })");
  ASSERT_TRUE(op.ok()) << op.error().message;
  const auto& fields = op->ir.fields[0].select.fields;
  ASSERT_EQ(fields.size(), 3u);
  ASSERT_TRUE(fields[0].json_path);
  EXPECT_EQ(op->vars.at(fields[0].json_path->key), json::parse(R"(["door", "code", "1"])"));
  EXPECT_FALSE(fields[1].json_path);
  EXPECT_FALSE(fields[2].json_path);
  const std::string sql = sql::single_query(op->ir);
  EXPECT_NE(sql.find(" #> ARRAY(SELECT json_array_elements_text("), std::string::npos) << sql;
  EXPECT_EQ(sql.find("door"), std::string::npos) << "values never enter SQL text";

  auto same = run(R"({ orders { a: notes(path: "other") } })");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(sql::single_query(same->ir), sql::single_query(run(R"({ orders { a: notes(path:
      "x.y") } })")
                                                               ->ir));

  auto bad = run(R"({ orders { notes(path: "a b") } })");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(bad.error().path, "$.selectionSet.orders.selectionSet.notes.args.path");

  auto not_json = run(R"({ orders { total(path: "a") } })");
  ASSERT_FALSE(not_json.ok());
}

TEST_F(JsonColumnTest, JsonbCastsToString) {
  const RoleSchema& admin = schema_->roles.at("admin");
  const TypeDef* cmp = admin.type("jsonb_comparison_exp");
  ASSERT_TRUE(cmp);
  ASSERT_TRUE(cmp->input_field("_cast"));
  EXPECT_EQ(type_to_string(cmp->input_field("_cast")->type), "jsonb_cast_exp");
  const TypeDef* cast = admin.type("jsonb_cast_exp");
  ASSERT_TRUE(cast);
  ASSERT_EQ(cast->input_fields.size(), 1u);
  EXPECT_EQ(cast->input_fields[0].name, "String");
  EXPECT_EQ(type_to_string(cast->input_fields[0].type), "String_comparison_exp");

  auto op = run(R"({ orders(where: {notes: {_cast: {String: {_ilike: "%door%"}}}}) { id } })");
  ASSERT_TRUE(op.ok()) << op.error().message;
  const ir::BoolExp& where = *op->ir.fields[0].select.where;
  EXPECT_EQ(where.op, ir::CompareOp::kIlike);
  EXPECT_EQ(where.column, "notes");
  EXPECT_EQ(where.column_cast, "text");
  const std::string sql = sql::single_query(op->ir);
  EXPECT_NE(sql.find(".\"notes\")::text ILIKE"), std::string::npos) << sql;
  deps::Dependencies d = deps::extract_dependencies(op->ir);
  EXPECT_FALSE(d.tractable);
  EXPECT_EQ(d.reason, "_cast with _ilike on public.orders.notes");

  auto wrong = run(R"({ orders(where: {notes: {_cast: {Int: {_eq: 1}}}}) { id } })");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kValidationFailed);
}

}  // namespace
}  // namespace liveql::compiler
