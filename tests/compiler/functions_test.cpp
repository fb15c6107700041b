// Tracked functions and computed fields without a database: the metadata keys, the checks that
// make a function or computed field inconsistent (Hasura's reasons), the types each role gets,
// and function permissions (inferred, or required when inference is off).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"
#include "schema/schema.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

using test::col;

catalog::Function::Argument arg(std::string name, std::string pg_type, std::string udt,
                                bool has_default = false, std::string schema = "pg_catalog") {
  catalog::Function::Argument a;
  a.name = std::move(name);
  a.type = col(a.name, std::move(pg_type), std::move(udt));
  a.type.type_schema = std::move(schema);
  a.has_default = has_default;
  return a;
}

catalog::Function fn(std::string name, std::vector<catalog::Function::Argument> args,
                     std::string returns, char kind = 'c', bool set = true, char volatility = 's') {
  catalog::Function f;
  f.name = {"public", std::move(name)};
  f.arguments = std::move(args);
  f.return_type = col("", returns, returns);
  f.return_type.type_schema = kind == 'c' ? "public" : "pg_catalog";
  f.return_kind = kind;
  f.returns_set = set;
  f.volatility = volatility;
  return f;
}

// notes (id, body, author) and a few functions over it.
catalog::Catalog notes_catalog() {
  catalog::Catalog cat;
  catalog::Table notes;
  notes.name = {"public", "notes"};
  notes.columns = {col("id", "integer", "int4"), col("body", "text", "text"),
                   col("author", "integer", "int4")};
  notes.primary_key = {"id"};
  catalog::Table other;
  other.name = {"public", "untracked"};
  other.columns = {col("id", "integer", "int4")};
  cat.tables = {notes, other};
  cat.functions = {
      fn("search_notes", {arg("q", "text", "text"), arg("", "integer", "int4", true)}, "notes"),
      fn("my_notes", {arg("hasura_session", "json", "json"), arg("q", "text", "text")}, "notes"),
      fn("purge_notes", {}, "notes", 'c', true, 'v'),
      fn("others", {}, "untracked"),
      fn("count_words", {arg("n", "notes", "notes", false, "public")}, "int4", 'b', false),
      fn("similar", {arg("n", "notes", "notes", false, "public")}, "notes"),
      fn("overloaded", {}, "notes"),
      fn("add_note", {arg("hasura_session", "json", "json"), arg("body", "text", "text")}, "notes",
         'c', true, 'v'),
      fn("touch_note", {arg("id", "integer", "int4")}, "notes", 'c', false, 'v'),
  };
  cat.functions[cat.functions.size() - 3].overloads = 2;
  return cat;
}

Result<std::shared_ptr<const Schema>> build(const std::string& md_text, SchemaOptions opts = {}) {
  auto md = metadata::parse_metadata(md_text);
  if (!md) return md.take_error();
  return build_schema(notes_catalog(), *md, opts);
}

constexpr const char* kMetadata = R"({version: 3, sources: [{name: default, kind: postgres,
  tables: [{table: {name: notes},
            computed_fields: [
              {name: words, definition: {function: count_words}, comment: how many words},
              {name: similar_notes, definition: {function: similar, table_argument: n}}],
            select_permissions: [
              {role: reader, permission: {columns: [id, body], filter: {}}},
              {role: counter, permission: {columns: [id], filter: {words: {_gt: 3}},
                                           computed_fields: [words]}}]}],
  functions: [
    {function: search_notes, configuration: {custom_name: find}},
    {function: {schema: public, name: my_notes},
     configuration: {session_argument: hasura_session,
                     custom_root_fields: {function: mine, function_aggregate: mine_agg}},
     permissions: [{role: counter}]},
    {function: purge_notes}]}]})";

TEST(FunctionsMetadataTest, ReadsFunctionsAndComputedFields) {
  auto md = metadata::parse_metadata(kMetadata);
  ASSERT_TRUE(md.ok()) << md.error().message;
  ASSERT_EQ(md->functions.size(), 3u);
  EXPECT_EQ(md->functions[0].function, (catalog::QualifiedName{"public", "search_notes"}));
  EXPECT_EQ(md->functions[0].custom_name, "find");
  EXPECT_EQ(md->functions[1].session_argument, "hasura_session");
  EXPECT_EQ(md->functions[1].custom_function, "mine");
  EXPECT_EQ(md->functions[1].custom_function_aggregate, "mine_agg");
  EXPECT_EQ(md->functions[1].permissions, std::vector<std::string>{"counter"});
  const auto& t = md->tables.at(0);
  ASSERT_EQ(t.computed_fields.size(), 2u);
  EXPECT_EQ(t.computed_fields[0].function.name, "count_words");
  EXPECT_EQ(t.computed_fields[0].comment, "how many words");
  EXPECT_EQ(t.computed_fields[1].table_argument, "n");
  EXPECT_EQ(t.select_permissions[1].computed_fields, std::vector<std::string>{"words"});
}

TEST(FunctionsMetadataTest, RejectsBadKeys) {
  auto bad = metadata::parse_metadata(
      R"({version: 3, sources: [{name: d, kind: postgres, tables: [],
          functions: [{function: f, configuration: {exposed_as: sometimes}}]}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().path, "$.sources[0].functions[0].configuration.exposed_as");
  auto dup = metadata::parse_metadata(
      R"({version: 3, sources: [{name: d, kind: postgres, tables: [],
          functions: [{function: f, configuration: {custom_root_fields:
            {function: x, function_aggregate: x}}}]}]})");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message,
            "invalid metadata: the following custom root field names are duplicated: \"x\" and "
            "\"x\"");
}

TEST(FunctionsSchemaTest, RootFieldsAndArgsTypes) {
  auto schema = build(kMetadata);
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  const RoleSchema& admin = *(*schema)->role("admin");
  const TypeDef& query = *admin.type("query_root");
  const FieldDef* find = query.field("find");
  ASSERT_NE(find, nullptr);
  EXPECT_EQ(find->role, FieldRole::kFunction);
  EXPECT_EQ(type_to_string(find->type), "[notes!]!");
  EXPECT_EQ(find->description, "execute function \"search_notes\" which returns \"notes\"");
  ASSERT_FALSE(find->args.empty());
  EXPECT_EQ(find->args[0].name, "args");
  EXPECT_EQ(type_to_string(find->args[0].type), "find_args!");
  const TypeDef* args = admin.type("find_args");
  ASSERT_NE(args, nullptr);
  ASSERT_EQ(args->input_fields.size(), 2u);
  EXPECT_EQ(args->input_fields[0].name, "q");
  EXPECT_EQ(args->input_fields[1].name, "arg_1");
  EXPECT_EQ(type_to_string(args->input_fields[1].type), "Int");
  EXPECT_NE(query.field("find_aggregate"), nullptr);
  // The session argument is hidden: my_notes takes q only.
  const TypeDef* mine_args = admin.type("my_notes_args");
  ASSERT_NE(mine_args, nullptr);
  ASSERT_EQ(mine_args->input_fields.size(), 1u);
  EXPECT_NE(query.field("mine"), nullptr);
  EXPECT_NE(query.field("mine_agg"), nullptr);
  // VOLATILE: not a query.
  EXPECT_EQ(query.field("purge_notes"), nullptr);
  EXPECT_EQ(admin.type("subscription_root")->field("purge_notes"), nullptr);
  EXPECT_NE(admin.type("subscription_root")->field("find"), nullptr);
}

TEST(FunctionsSchemaTest, ComputedFieldsInTypes) {
  auto schema = build(kMetadata);
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  const RoleSchema& admin = *(*schema)->role("admin");
  const FieldDef* words = admin.type("notes")->field("words");
  ASSERT_NE(words, nullptr);
  EXPECT_EQ(words->role, FieldRole::kComputedScalar);
  EXPECT_EQ(type_to_string(words->type), "Int");
  EXPECT_EQ(words->description, "how many words");
  EXPECT_NE(admin.type("notes_bool_exp")->input_field("words"), nullptr);
  EXPECT_NE(admin.type("notes_order_by")->input_field("words"), nullptr);
  const FieldDef* similar = admin.type("notes")->field("similar_notes");
  ASSERT_NE(similar, nullptr);
  EXPECT_EQ(type_to_string(similar->type), "[notes!]!");
  EXPECT_EQ(similar->description, "A computed field, executes function \"similar\"");
  EXPECT_NE(admin.type("notes_bool_exp")->input_field("similar_notes"), nullptr);
  // reader was not given `words`; counter was, and filters on it.
  const RoleSchema& reader = *(*schema)->role("reader");
  EXPECT_EQ(reader.type("notes")->field("words"), nullptr);
  EXPECT_NE(reader.type("notes")->field("similar_notes"), nullptr);
  EXPECT_NE((*schema)->role("counter")->type("notes")->field("words"), nullptr);
}

// An inherited role selects the scalar computed fields of any parent, as columns: null in the
// rows of parents that do not allow them (a cell filter, as for columns).
TEST(FunctionsSchemaTest, InheritedRolesSelectEveryParentsComputedFields) {
  std::string md = kMetadata;
  md.insert(md.rfind('}'), R"(, inherited_roles: [
    {role_name: counter_reader, role_set: [counter, reader]},
    {role_name: counter_twice, role_set: [counter, counter_too]}])");
  const std::string perm = "{role: counter, permission: {columns: [id], filter: {words: {_gt: 3}},";
  md.insert(md.find(perm), R"({role: counter_too, permission: {columns: [body], filter: {},
                                           computed_fields: [words]}}, )");
  auto schema = build(md);
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  const RoleSchema& mixed = *(*schema)->role("counter_reader");
  EXPECT_NE(mixed.type("notes")->field("words"), nullptr);
  EXPECT_NE(mixed.type("notes")->field("body"), nullptr);
  const RoleTable* rt = mixed.table(0);
  ASSERT_TRUE(rt && rt->permission);
  EXPECT_TRUE(rt->permission->column_filters.count("words"));  // reader's rows: null
  const RoleTable* twice = (*schema)->role("counter_twice")->table(0);
  ASSERT_TRUE(twice && twice->permission);
  EXPECT_FALSE(twice->permission->column_filters.count("words"));  // both parents allow it
}

TEST(FunctionsSchemaTest, FunctionPermissionsInferredOrRequired) {
  auto inferred = build(kMetadata);
  ASSERT_TRUE(inferred.ok()) << inferred.error().message;
  EXPECT_NE((*inferred)->role("reader")->type("query_root")->field("find"), nullptr);
  SchemaOptions opts;
  opts.infer_function_permissions = false;
  auto required = build(kMetadata, opts);
  ASSERT_TRUE(required.ok()) << required.error().message;
  EXPECT_EQ((*required)->role("reader")->type("query_root")->field("find"), nullptr);
  EXPECT_EQ((*required)->role("reader")->type("query_root")->field("mine"), nullptr);
  EXPECT_NE((*required)->role("counter")->type("query_root")->field("mine"), nullptr);
  EXPECT_NE((*required)->role("admin")->type("query_root")->field("find"), nullptr);
}

TEST(FunctionsSchemaTest, VolatileFunctionsAreMutationsWithAFunctionPermission) {
  const std::string md = R"({version: 3, sources: [{name: default, kind: postgres,
      tables: [{table: {name: notes}, select_permissions: [
        {role: reader, permission: {columns: [id, body], filter: {}}},
        {role: writer, permission: {columns: [id], filter: {}}}]}],
      functions: [
        {function: add_note, configuration: {session_argument: hasura_session},
         permissions: [{role: writer}]},
        {function: touch_note, configuration: {exposed_as: mutation}},
        {function: purge_notes, configuration: {exposed_as: query}}]}],
      inherited_roles: [{role_name: both, role_set: [reader, writer]}]})";
  for (bool infer : {true, false}) {
    SchemaOptions opts;
    opts.infer_function_permissions = infer;
    auto schema = build(md, opts);
    ASSERT_TRUE(schema.ok()) << schema.error().message;
    const RoleSchema& admin = *(*schema)->role("admin");
    const TypeDef& mutation = *admin.type("mutation_root");
    const FieldDef* add = mutation.field("add_note");
    ASSERT_NE(add, nullptr);
    EXPECT_EQ(type_to_string(add->type), "[notes!]!");
    EXPECT_NE(add->arg("where"), nullptr);
    EXPECT_NE(add->arg("order_by"), nullptr);
    EXPECT_EQ(mutation.field("add_note_aggregate"), nullptr);
    EXPECT_EQ(admin.type("query_root")->field("add_note"), nullptr);
    // A function returning one row answers the row or null, with the table's arguments.
    const FieldDef* touch = mutation.field("touch_note");
    ASSERT_NE(touch, nullptr);
    EXPECT_EQ(type_to_string(touch->type), "notes");
    EXPECT_NE(touch->arg("where"), nullptr);
    // exposed_as: query keeps a VOLATILE function on query_root.
    EXPECT_EQ(mutation.field("purge_notes"), nullptr);
    EXPECT_NE(admin.type("query_root")->field("purge_notes"), nullptr);
    // Inferred permissions never expose a mutation: reader lacks a function permission, and
    // has no mutation_root at all; writer has one, and the inherited role through writer.
    EXPECT_EQ((*schema)->role("reader")->type("mutation_root"), nullptr);
    ASSERT_NE((*schema)->role("writer")->type("mutation_root"), nullptr);
    EXPECT_NE((*schema)->role("writer")->type("mutation_root")->field("add_note"), nullptr);
    EXPECT_EQ((*schema)->role("writer")->type("mutation_root")->field("touch_note"), nullptr);
    ASSERT_NE((*schema)->role("both")->type("mutation_root"), nullptr);
    EXPECT_NE((*schema)->role("both")->type("mutation_root")->field("add_note"), nullptr);
  }
}

// The reason the schema built from these functions and computed fields left out the one
// inconsistent object (Hasura serves the rest).
std::string build_error(const std::string& functions, const std::string& computed = "[]") {
  auto s = build(R"({version: 3, sources: [{name: default, kind: postgres,
      tables: [{table: {name: notes}, computed_fields: )" +
                 computed + R"(}], functions: )" + functions + "}]}");
  EXPECT_TRUE(s.ok()) << s.error().message;
  if (!s.ok()) return "";
  const auto& left_out = inconsistent_objects(**s);
  EXPECT_EQ(left_out.size(), 1u);
  return left_out.empty() ? "" : left_out.front().reason;
}

TEST(FunctionsSchemaTest, InconsistentFunctions) {
  EXPECT_EQ(build_error("[{function: nope}]"),
            "inconsistent metadata: in function \"public.nope\": no such function exists: "
            "\"public.nope\"");
  EXPECT_EQ(build_error("[{function: others}]"),
            "inconsistent metadata: in function \"public.others\": the function "
            "\"public.others\" cannot be tracked because the function's return table "
            "\"public.untracked\" is not tracked");
  EXPECT_EQ(build_error("[{function: count_words}]"),
            "inconsistent metadata: in function \"public.count_words\": the function "
            "\"public.count_words\" cannot be tracked because the function does not return a "
            "\"COMPOSITE\" type");
  EXPECT_EQ(build_error("[{function: my_notes, configuration: {session_argument: random}}]"),
            "inconsistent metadata: in function \"public.my_notes\": the function "
            "\"public.my_notes\" cannot be tracked because given session argument \"random\" "
            "not the input argument of the function");
  EXPECT_EQ(build_error("[{function: my_notes, configuration: {session_argument: q}}]"),
            "inconsistent metadata: in function \"public.my_notes\": the function "
            "\"public.my_notes\" cannot be tracked because given session argument \"q\" is not "
            "of type json");
  EXPECT_EQ(build_error("[{function: search_notes, configuration: {exposed_as: mutation}}]"),
            "inconsistent metadata: in function \"public.search_notes\": the function "
            "\"public.search_notes\" cannot be tracked because the function was requested to be "
            "exposed as a mutation, but is not marked VOLATILE. Maybe the function was given the "
            "wrong volatility when it was defined?");
  EXPECT_EQ(build_error("[{function: overloaded}]"),
            "inconsistent metadata: in function \"public.overloaded\": the function "
            "\"public.overloaded\" cannot be tracked because function overloading is not "
            "supported");
}

TEST(FunctionsSchemaTest, InconsistentFunctionIsLeftOutAndTheRestServed) {
  auto s = build(R"({version: 3, sources: [{name: default, kind: postgres,
      tables: [{table: {name: notes},
                select_permissions: [{role: reader, permission: {columns: [id], filter: {}}}]}],
      functions: [{function: overloaded}, {function: search_notes}, {function: nope}]}]})");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const auto& left_out = inconsistent_objects(**s);
  ASSERT_EQ(left_out.size(), 2u);
  EXPECT_EQ(left_out[0].type, "function");
  EXPECT_EQ(left_out[0].name, "function public.overloaded");
  EXPECT_EQ(left_out[1].name, "function public.nope");
  const TypeDef& query = *(*s)->role("reader")->type("query_root");
  EXPECT_EQ(query.field("overloaded"), nullptr);
  EXPECT_NE(query.field("search_notes"), nullptr);
  EXPECT_NE(query.field("notes"), nullptr);
}

// A function's root field on a name a table's (or an earlier function's) root field has: the
// function is left out and reported, the table served (a clash of two tables stays an error).
TEST(FunctionsSchemaTest, AFunctionOnATablesRootFieldNameIsLeftOut) {
  EXPECT_EQ(build_error("[{function: search_notes, configuration: {custom_name: notes}}]"),
            "inconsistent metadata: in function \"public.search_notes\": the root field "
            "\"notes\" of query_root is already defined by table \"public.notes\"");
  EXPECT_EQ(build_error("[{function: search_notes, configuration: {custom_root_fields: "
                        "{function_aggregate: notes_by_pk}}}]"),
            "inconsistent metadata: in function \"public.search_notes\": the root field "
            "\"notes_by_pk\" of query_root is already defined by table \"public.notes\"");
  EXPECT_EQ(build_error("[{function: touch_note, configuration: {exposed_as: mutation, "
                        "custom_name: insert_notes_one}}]"),
            "inconsistent metadata: in function \"public.touch_note\": the root field "
            "\"insert_notes_one\" of mutation_root is already defined by table "
            "\"public.notes\"");
  EXPECT_EQ(build_error("[{function: search_notes, configuration: {custom_name: find}}, "
                        "{function: my_notes, configuration: {custom_name: find}}]"),
            "inconsistent metadata: in function \"public.my_notes\": the root field \"find\" of "
            "query_root is already defined by function \"public.search_notes\"");
  auto s = build(R"({version: 3, sources: [{name: default, kind: postgres,
      tables: [{table: {name: notes}}],
      functions: [{function: search_notes, configuration: {custom_name: notes}}]}]})");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const FieldDef* notes = (*s)->role("admin")->type("query_root")->field("notes");
  ASSERT_NE(notes, nullptr);
  EXPECT_EQ(notes->role, FieldRole::kSelect);
}

TEST(FunctionsSchemaTest, InconsistentComputedFields) {
  EXPECT_EQ(build_error("[]", "[{name: x, definition: {function: search_notes}}]"),
            "inconsistent metadata: in table \"public.notes\": in computed field \"x\": the "
            "computed field \"x\" cannot be added to table \"public.notes\" because the type of "
            "the table argument is not the table \"public.notes\"");
  EXPECT_EQ(build_error("[]", "[{name: x, definition: {function: similar, table_argument: m}}]"),
            "inconsistent metadata: in table \"public.notes\": in computed field \"x\": the "
            "computed field \"x\" cannot be added to table \"public.notes\" because the table "
            "argument \"m\" is not an input argument of the function");
  EXPECT_EQ(build_error("[]", "[{name: x, definition: {function: overloaded}}]"),
            "inconsistent metadata: in table \"public.notes\": in computed field \"x\": the "
            "computed field \"x\" cannot be added to table \"public.notes\" because function "
            "overloading is not supported");
  EXPECT_EQ(build_error("[]", "[{name: body, definition: {function: count_words}}]"),
            "inconsistent metadata: in table \"public.notes\": in computed field \"body\": the "
            "computed field \"body\" cannot be added to table \"public.notes\" because a column "
            "of the table has the same name");
}

}  // namespace
}  // namespace liveql::compiler
