// Enum tables (metadata is_enum): the rows statement, the shape checks, the enum types a
// referencing column gets, and input coercion against them.
#include "liveql/compiler/enum_tables.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>

#include "liveql/compiler/compile.hpp"
#include "schema/schema.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;
using test::col;

// colors (value, comment) is an enum table; users.favorite_color and posts.color reference it.
catalog::Catalog color_catalog() {
  catalog::Catalog cat;
  catalog::Table colors;
  colors.name = {"public", "colors"};
  colors.columns = {col("value", "text", "text"), col("comment", "text", "text", true)};
  colors.primary_key = {"value"};
  catalog::Table users;
  users.name = {"public", "users"};
  users.columns = {col("id", "integer", "int4"), col("name", "text", "text"),
                   col("favorite_color", "text", "text")};
  users.primary_key = {"id"};
  users.foreign_keys = {
      {"users_favorite_color_fkey", {"favorite_color"}, {"public", "colors"}, {"value"}}};
  catalog::Table posts;
  posts.name = {"public", "posts"};
  posts.columns = {col("id", "integer", "int4"), col("color", "text", "text", true)};
  posts.primary_key = {"id"};
  posts.foreign_keys = {{"posts_color_fkey", {"color"}, {"public", "colors"}, {"value"}}};
  cat.tables = {colors, users, posts};
  return cat;
}

constexpr const char* kMetadata = R"([
  {table: {name: colors}, is_enum: true},
  {table: {name: users}, select_permissions: [
    {role: anonymous, permission: {columns: [id, name, favorite_color], filter: {}}}]},
  {table: {name: posts}}])";

metadata::Metadata parse(const char* text) {
  auto md = metadata::parse_metadata(text);
  EXPECT_TRUE(md.ok()) << (md.ok() ? "" : md.error().message);
  return md.ok() ? *md : metadata::Metadata{};
}

// The rows as the statement returns them, in table order (not value order).
constexpr const char* kRows =
    R"([[["red","#FF0000"],["green","#00FF00"],["blue",null],["yellow","#FFFF00"]]])";

Result<std::shared_ptr<const Schema>> build(catalog::Catalog cat, const char* md_text,
                                            const char* rows = kRows) {
  metadata::Metadata md = parse(md_text);
  if (rows)
    if (auto s = add_enum_values(rows, md, cat); !s) return s.take_error();
  return build_schema(cat, md);
}

std::shared_ptr<const Schema> color_schema() {
  auto s = build(color_catalog(), kMetadata);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : nullptr;
}

const InputValueDef* input_field(const RoleSchema& rs, const std::string& type,
                                 const std::string& field) {
  const TypeDef* t = rs.type(type);
  return t ? t->input_field(field) : nullptr;
}

TEST(EnumTablesTest, MetadataReadsIsEnum) {
  metadata::Metadata md = parse(kMetadata);
  ASSERT_EQ(md.tables.size(), 3u);
  EXPECT_TRUE(md.tables[0].is_enum);
  EXPECT_FALSE(md.tables[1].is_enum);
  auto bad = metadata::parse_metadata("[{table: {name: colors}, is_enum: yes please}]");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().path, "$[0].is_enum");
}

TEST(EnumTablesTest, RowsStatementReadsOnlyEnumTablesOfTheRightShape) {
  catalog::Catalog cat = color_catalog();
  EXPECT_EQ(enum_values_query(cat, parse("[{table: {name: colors}}]")), "");
  std::string q = enum_values_query(cat, parse(kMetadata));
  EXPECT_NE(q.find(R"(json_build_array(r."value", r."comment"))"), std::string::npos) << q;
  EXPECT_NE(q.find(R"(from "public"."colors" r)"), std::string::npos) << q;
  EXPECT_EQ(q.find("users"), std::string::npos) << q;
  // users cannot be an enum (integer key, three columns): not read, refused by build_schema.
  EXPECT_EQ(enum_values_query(cat, parse("[{table: {name: users}, is_enum: true}]")), "");

  metadata::Metadata md = parse(kMetadata);
  ASSERT_TRUE(add_enum_values(kRows, md, cat).ok());
  const auto& rows = cat.enum_values.at({"public", "colors"});
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (catalog::EnumValue{"red", "#FF0000"}));
  EXPECT_EQ(rows[2], (catalog::EnumValue{"blue", std::nullopt}));
  EXPECT_FALSE(add_enum_values("[]", md, cat).ok());
  EXPECT_FALSE(add_enum_values("[[[1, null]]]", md, cat).ok());
  EXPECT_FALSE(add_enum_values("not json", md, cat).ok());
}

TEST(EnumTablesTest, ReferencingColumnsHaveTheEnumType) {
  auto s = color_schema();
  ASSERT_TRUE(s);
  const RoleSchema& admin = *s->role("admin");
  const TypeDef* e = admin.type("colors_enum");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, TypeKind::kEnum);
  EXPECT_EQ(e->enum_values, (std::vector<std::string>{"blue", "green", "red", "yellow"}));
  EXPECT_EQ(e->enum_descriptions, (std::vector<std::string>{"", "#00FF00", "#FF0000", "#FFFF00"}));

  const FieldDef* fav = admin.type("users")->field("favorite_color");
  ASSERT_TRUE(fav);
  EXPECT_EQ(type_to_string(fav->type), "colors_enum!");
  EXPECT_EQ(type_to_string(admin.type("posts")->field("color")->type), "colors_enum");
  // The enum table stays a table: its key is a String.
  EXPECT_EQ(type_to_string(admin.type("colors")->field("value")->type), "String!");

  const InputValueDef* where = input_field(admin, "users_bool_exp", "favorite_color");
  ASSERT_TRUE(where);
  EXPECT_EQ(type_to_string(where->type), "colors_enum_comparison_exp");
  const TypeDef* cmp = admin.type("colors_enum_comparison_exp");
  ASSERT_TRUE(cmp);
  std::vector<std::string> ops;
  for (const auto& f : cmp->input_fields) ops.push_back(f.name + ":" + type_to_string(f.type));
  EXPECT_EQ(ops,
            (std::vector<std::string>{"_eq:colors_enum", "_in:[colors_enum!]", "_is_null:Boolean",
                                      "_neq:colors_enum", "_nin:[colors_enum!]"}));
  EXPECT_EQ(type_to_string(input_field(admin, "users_insert_input", "favorite_color")->type),
            "colors_enum");
  EXPECT_EQ(type_to_string(input_field(admin, "users_set_input", "favorite_color")->type),
            "colors_enum");
  // Not an ordered scalar: no min/max over it (users has no other comparable text but name).
  const TypeDef* max = admin.type("users_max_fields");
  ASSERT_TRUE(max);
  EXPECT_EQ(max->field("favorite_color"), nullptr);
  EXPECT_NE(max->field("name"), nullptr);

  // A role that may not see the enum table still gets the type of a column it sees.
  const RoleSchema& anon = *s->role("anonymous");
  EXPECT_EQ(anon.type("colors"), nullptr);
  ASSERT_TRUE(anon.type("colors_enum"));
  EXPECT_EQ(anon.type("colors_enum")->enum_values.size(), 4u);
}

TEST(EnumTablesTest, CustomNameNamesTheEnum) {
  auto s = build(color_catalog(), R"([
    {table: {name: colors}, is_enum: true, configuration: {custom_name: Colour}},
    {table: {name: users}}])");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const RoleSchema& admin = *(*s)->role("admin");
  EXPECT_TRUE(admin.type("Colour_enum"));
  EXPECT_EQ(type_to_string(admin.type("users")->field("favorite_color")->type), "Colour_enum!");
}

TEST(EnumTablesTest, ATableOfAnotherShapeIsRefusedWithHasurasReason) {
  struct Case {
    std::function<void(catalog::Table&)> change;
    const char* rows;
    std::string message;
  };
  const std::string prefix =
      "inconsistent metadata: the table \"colors\" cannot be used as an enum ";
  const Case cases[] = {
      // As Hasura: with the key refused, every column counts against the comment column.
      {[](catalog::Table& t) { t.primary_key.clear(); }, nullptr,
       prefix + "for the following reasons:\n"
                "  • the table must have a primary key\n"
                "  • the table must have exactly one primary key and optionally one comment "
                "column, not 2 columns (comment, value)\n"},
      {[](catalog::Table& t) { t.columns = {col("value", "integer", "int4")}; }, nullptr,
       prefix + "for the following reasons:\n"
                "  • the table’s primary key (\"value\") must have type \"text\", not type "
                "\"integer\"\n"
                "  • the table’s comment column (\"value\") must have type \"text\", not type "
                "\"integer\"\n"},
      {[](catalog::Table& t) {
         t.primary_key = {"value", "comment"};
       },
       nullptr,
       prefix + "for the following reasons:\n"
                "  • the table’s primary key must not span multiple columns (comment, value)\n"
                "  • the table must have exactly one primary key and optionally one comment "
                "column, not 2 columns (comment, value)\n"},
      {[](catalog::Table& t) { t.columns.push_back(col("hex", "text", "text")); }, kRows,
       prefix + "because the table must have exactly one primary key and optionally one comment "
                "column, not 2 columns (comment, hex)"},
      {[](catalog::Table& t) { t.columns[1] = col("comment", "integer", "int4"); }, "[[]]",
       prefix + "for the following reasons:\n"
                "  • the table’s comment column (\"comment\") must have type \"text\", not type "
                "\"integer\"\n"
                "  • the table must have at least one row\n"},
      {[](catalog::Table&) {}, R"([[["red",null],["2d",null],["null",null],["a b",null]]])",
       prefix + "because the values \"2d\", \"a b\", and \"null\" are not valid GraphQL enum "
                "value names"},
      {[](catalog::Table&) {}, R"([[["red",null],["x-y",null]]])",
       prefix + "because the value \"x-y\" is not a valid GraphQL enum value name"},
  };
  for (const auto& c : cases) {
    catalog::Catalog cat = color_catalog();
    c.change(cat.tables[0]);
    metadata::Metadata md = parse(kMetadata);
    if (c.rows) ASSERT_TRUE(add_enum_values(c.rows, md, cat).ok()) << c.message;
    auto s = build_schema(cat, md);
    ASSERT_FALSE(s.ok()) << c.message;
    EXPECT_EQ(s.error().code, ErrorCode::kConstraintViolation);
    EXPECT_EQ(s.error().message, c.message);
  }
  // Rows that were never read (enum_values_query not run) are the caller's bug, said plainly.
  auto unread = build(color_catalog(), kMetadata, nullptr);
  ASSERT_FALSE(unread.ok());
  EXPECT_NE(unread.error().message.find("were not read"), std::string::npos);
}

class EnumCompileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { schema_ = color_schema(); }
  Result<CompiledOperation> run(std::string_view q, std::string vars = "{}",
                                const std::string& role = "admin") {
    Request r;
    r.query = q;
    r.variables = json::parse(vars).as_object();
    Session s;
    s.role = role;
    s.is_admin = role == "admin";
    return compile(*schema_, r, s);
  }
  void expect_error(std::string_view q, const std::string& message, const std::string& path,
                    std::string vars = "{}") {
    auto r = run(q, vars);
    ASSERT_FALSE(r.ok()) << q;
    EXPECT_EQ(r.error().code, ErrorCode::kValidationFailed) << q;
    EXPECT_EQ(r.error().message, message) << q;
    EXPECT_EQ(r.error().path, path) << q;
  }
  static std::shared_ptr<const Schema> schema_;
};
std::shared_ptr<const Schema> EnumCompileTest::schema_;

TEST_F(EnumCompileTest, EnumLiteralsAndVariablesCompareAsText) {
  auto r = run("{ users(where: {favorite_color: {_eq: red}}) { name favorite_color } }");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const ir::BoolExp& w = *r->ir.fields[0].select.where;
  EXPECT_EQ(w.column, "favorite_color");
  EXPECT_EQ(w.param.pg_type, "text");
  EXPECT_EQ(json::serialize(r->vars), R"({"p0":"red"})");

  auto v =
      run("query ($c: colors_enum, $cs: [colors_enum!]) { users(where: {_or: ["
          "{favorite_color: {_eq: $c}}, {favorite_color: {_in: $cs}}]}) { name } }",
          R"({"c": "blue", "cs": ["green", "yellow"]})");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(json::serialize(v->vars), R"({"p0":"blue","p1":["green","yellow"]})");

  // The role that may not select colors filters on the column all the same.
  auto anon = run("{ users(where: {favorite_color: {_neq: red}}) { name } }", "{}", "anonymous");
  EXPECT_TRUE(anon.ok()) << anon.error().message;
}

TEST_F(EnumCompileTest, WritesTakeEnumValues) {
  auto r =
      run("mutation ($c: colors_enum) { insert_posts(objects: [{color: green}, {color: $c}, {}]) "
          "{ affected_rows } update_users(where: {favorite_color: {_eq: red}}, "
          "_set: {favorite_color: blue}) { affected_rows } }",
          R"({"c": null})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->mutations.size(), 2u);
}

TEST_F(EnumCompileTest, BadValuesGetHasurasErrors) {
  const std::string one_of =
      "expected one of the values blue, green, red, or yellow for type \"colors_enum\", but "
      "found \"not_a_real_color\"";
  expect_error("{ users(where: {favorite_color: {_eq: not_a_real_color}}) { name } }", one_of,
               "$.selectionSet.users.args.where.favorite_color._eq");
  expect_error("{ users(where: {favorite_color: {_eq: \"red\"}}) { name } }",
               "expected an enum value for type \"colors_enum\", but found a string",
               "$.selectionSet.users.args.where.favorite_color._eq");
  // Variable values are checked up front, where liveql reports them (Hasura: at their use).
  expect_error("query ($c: colors_enum) { users(where: {favorite_color: {_eq: $c}}) { name } }",
               one_of, "$.variableValues.c", R"({"c": "not_a_real_color"})");
  expect_error("query ($c: colors_enum) { users(where: {favorite_color: {_eq: $c}}) { name } }",
               "expected an enum value for type \"colors_enum\", but found a number",
               "$.variableValues.c", R"({"c": 3})");
  expect_error(
      "mutation { insert_users(objects: [{name: \"M\", favorite_color: not_a_real_color}]) "
      "{ affected_rows } }",
      one_of, "$.selectionSet.insert_users.args.objects[0].favorite_color");
  // A String variable is not a colors_enum one.
  auto r = run("query ($c: String) { users(where: {favorite_color: {_eq: $c}}) { name } }",
               R"({"c": "red"})");
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace liveql::compiler
