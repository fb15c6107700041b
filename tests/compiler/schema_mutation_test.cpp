// mutation_root and its input types per role, built from a catalog and Hasura metadata: which
// fields each role gets (insert, update, delete, their _one/_by_pk/_many forms), their arguments,
// the input types and their tags for the compiler, and what introspection answers.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/compile.hpp"
#include "schema/schema.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;
using test::col;
using Strings = std::vector<std::string>;

// authors 1-n articles; event_log (renamed, no primary key); author_stats (a view that accepts
// no writes).
catalog::Catalog blog_catalog() {
  catalog::Catalog cat;
  catalog::Table authors;
  authors.name = {"public", "authors"};
  authors.columns = {col("id", "integer", "int4"), col("name", "text", "text"),
                     col("bio", "text", "text", true),
                     col("created_at", "timestamp with time zone", "timestamptz")};
  authors.columns[0].comment = "the author's number";
  authors.primary_key = {"id"};
  authors.unique_constraints = {{"authors_pkey", {"id"}, true}, {"authors_name_key", {"name"}}};
  catalog::Table articles;
  articles.name = {"public", "articles"};
  articles.columns = {col("id", "integer", "int4"),
                      col("author_id", "integer", "int4"),
                      col("title", "text", "text"),
                      col("meta", "jsonb", "jsonb", true),
                      col("rating", "numeric", "numeric", true),
                      col("search", "tsvector", "tsvector", true)};
  articles.columns[5].generated_always = true;
  articles.primary_key = {"id"};
  articles.foreign_keys = {
      {"articles_author_id_fkey", {"author_id"}, {"public", "authors"}, {"id"}}};
  articles.unique_constraints = {{"articles_pkey", {"id"}, true},
                                 {"articles-title", {"author_id", "title"}}};
  catalog::Table logs;
  logs.name = {"audit", "logs"};
  logs.columns = {col("at", "timestamp with time zone", "timestamptz"),
                  col("message", "text", "text")};
  catalog::Table stats;
  stats.name = {"public", "author_stats"};
  stats.is_view = true;
  stats.insertable = stats.updatable = stats.deletable = false;
  stats.columns = {col("author_id", "integer", "int4"), col("articles", "bigint", "int8")};
  cat.tables = {authors, articles, logs, stats};
  return cat;
}

constexpr const char* kBlogMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: authors}
    array_relationships:
    - name: articles
      using:
        foreign_key_constraint_on: {column: author_id, table: {schema: public, name: articles}}
    select_permissions:
    - role: user
      permission: {columns: [id, name], filter: {}}
    - role: restricted
      permission: {columns: [id, name], filter: {}}
    insert_permissions:
    - role: service
      permission: {check: {}, backend_only: true}
    - role: restricted
      permission: {check: {}, columns: [name]}
    update_permissions:
    - role: restricted
      permission: {columns: [], filter: {}}
  - table: {schema: public, name: articles}
    object_relationships:
    - name: author
      using: {foreign_key_constraint_on: author_id}
    select_permissions:
    - role: user
      permission:
        columns: [id, author_id, title]
        filter: {author_id: {_eq: X-Hasura-User-Id}}
    insert_permissions:
    - role: user
      permission:
        check: {author_id: {_eq: X-Hasura-User-Id}}
        columns: [author_id, title, meta]
        set: {author_id: X-Hasura-User-Id}
    update_permissions:
    - role: user
      permission:
        columns: [title, meta, rating]
        filter: {author_id: {_eq: X-Hasura-User-Id}}
    - role: editor
      permission: {columns: [title], filter: {}}
    delete_permissions:
    - role: user
      permission:
        filter: {author_id: {_eq: X-Hasura-User-Id}}
  - table: {schema: audit, name: logs}
    configuration:
      custom_name: event_log
      custom_root_fields:
        select: events
        select_aggregate: {name: events_stats, comment: counted}
        insert: add_events
        delete: purge_events
  - table: {schema: public, name: author_stats}
    select_permissions:
    - role: user
      permission: {columns: "*", filter: {}}
)YAML";

std::shared_ptr<const Schema> blog_schema() {
  auto md = metadata::parse_metadata(kBlogMetadata);
  EXPECT_TRUE(md.ok()) << (md.ok() ? "" : md.error().message + " at " + md.error().path);
  if (!md.ok()) return nullptr;
  auto s = build_schema(blog_catalog(), *md);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : nullptr;
}

const RoleSchema& role(const Schema& s, const std::string& name, bool backend = false) {
  const RoleSchema* rs = s.role(name, backend);
  EXPECT_NE(rs, nullptr) << name;
  static const RoleSchema kNone;
  return rs ? *rs : kNone;
}

Strings field_names(const TypeDef* t) {
  Strings out;
  if (!t) return out;
  for (const auto& f : t->fields) out.push_back(f.name);
  for (const auto& f : t->input_fields) out.push_back(f.name);
  return out;
}

Strings arg_names(const FieldDef* f) {
  Strings out;
  if (f)
    for (const auto& a : f->args) out.push_back(a.name);
  return out;
}

std::string type_of(const TypeDef* t, const std::string& field) {
  if (!t) return "no type";
  if (const FieldDef* f = t->field(field)) return type_to_string(f->type);
  if (const InputValueDef* f = t->input_field(field)) return type_to_string(f->type);
  return "no field " + field;
}

std::string arg_type(const FieldDef* f, const std::string& arg) {
  if (!f) return "no field";
  const InputValueDef* a = f->arg(arg);
  return a ? type_to_string(a->type) : "no arg " + arg;
}

size_t table_index(const Schema& s, const std::string& name) {
  for (size_t i = 0; i < s.tables.size(); ++i)
    if (s.tables[i].table.name.name == name) return i;
  ADD_FAILURE() << name;
  return 0;
}

TEST(SchemaMutationTest, AdminRootFields) {
  auto s = blog_schema();
  ASSERT_TRUE(s);
  const RoleSchema& admin = role(*s, "admin");
  const TypeDef* root = admin.type("mutation_root");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->description, "mutation root");
  // Byte order, as Hasura sorts: "delete_authors" < "delete_authors_by_pk".
  EXPECT_EQ(field_names(root),
            (Strings{"add_events", "delete_articles", "delete_articles_by_pk", "delete_authors",
                     "delete_authors_by_pk", "insert_articles", "insert_articles_one",
                     "insert_authors", "insert_authors_one", "insert_event_log_one", "purge_events",
                     "update_articles", "update_articles_by_pk", "update_articles_many",
                     "update_authors", "update_authors_by_pk", "update_authors_many",
                     "update_event_log", "update_event_log_many"}));

  const size_t authors = table_index(*s, "authors");
  const FieldDef* insert = root->field("insert_authors");
  ASSERT_NE(insert, nullptr);
  EXPECT_EQ(insert->role, FieldRole::kInsert);
  EXPECT_EQ(insert->table, authors);
  EXPECT_EQ(insert->description, "insert data into the table: \"authors\"");
  EXPECT_EQ(type_to_string(insert->type), "authors_mutation_response");
  EXPECT_EQ(arg_names(insert), (Strings{"objects", "on_conflict"}));
  EXPECT_EQ(arg_type(insert, "objects"), "[authors_insert_input!]!");
  EXPECT_EQ(insert->arg("objects")->description, "the rows to be inserted");
  EXPECT_EQ(arg_type(insert, "on_conflict"), "authors_on_conflict");
  EXPECT_EQ(insert->arg("on_conflict")->description, "upsert condition");

  const FieldDef* one = root->field("insert_authors_one");
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->role, FieldRole::kInsertOne);
  EXPECT_EQ(one->description, "insert a single row into the table: \"authors\"");
  EXPECT_EQ(type_to_string(one->type), "authors");
  EXPECT_EQ(arg_names(one), (Strings{"object", "on_conflict"}));
  EXPECT_EQ(arg_type(one, "object"), "authors_insert_input!");
  EXPECT_EQ(one->arg("object")->description, "the row to be inserted");

  const FieldDef* update = root->field("update_articles");
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update->role, FieldRole::kUpdate);
  EXPECT_EQ(update->description, "update data of the table: \"articles\"");
  EXPECT_EQ(arg_names(update), (Strings{"_append", "_delete_at_path", "_delete_elem", "_delete_key",
                                        "_inc", "_prepend", "_set", "where"}));
  EXPECT_EQ(arg_type(update, "where"), "articles_bool_exp!");
  EXPECT_EQ(update->arg("where")->description, "filter the rows which have to be updated");
  EXPECT_EQ(update->arg("_set")->description,
            "sets the columns of the filtered rows to the given values");
  EXPECT_EQ(update->arg("_inc")->description,
            "increments the numeric columns with given value of the filtered values");
  // authors has no jsonb column: no jsonb operator.
  EXPECT_EQ(arg_names(root->field("update_authors")), (Strings{"_inc", "_set", "where"}));

  const FieldDef* by_pk = root->field("update_articles_by_pk");
  ASSERT_NE(by_pk, nullptr);
  EXPECT_EQ(by_pk->role, FieldRole::kUpdateByPk);
  EXPECT_EQ(by_pk->description, "update single row of the table: \"articles\"");
  EXPECT_EQ(type_to_string(by_pk->type), "articles");
  EXPECT_EQ(arg_type(by_pk, "pk_columns"), "articles_pk_columns_input!");
  EXPECT_EQ(by_pk->arg("where"), nullptr);

  const FieldDef* many = root->field("update_articles_many");
  ASSERT_NE(many, nullptr);
  EXPECT_EQ(many->role, FieldRole::kUpdateMany);
  EXPECT_EQ(many->description, "update multiples rows of table: \"articles\"");
  EXPECT_EQ(type_to_string(many->type), "[articles_mutation_response]");
  EXPECT_EQ(arg_type(many, "updates"), "[articles_updates!]!");
  EXPECT_EQ(many->arg("updates")->description, "updates to execute, in order");

  const FieldDef* del = root->field("delete_authors");
  ASSERT_NE(del, nullptr);
  EXPECT_EQ(del->role, FieldRole::kDelete);
  EXPECT_EQ(del->description, "delete data from the table: \"authors\"");
  EXPECT_EQ(arg_type(del, "where"), "authors_bool_exp!");
  EXPECT_EQ(del->arg("where")->description, "filter the rows which have to be deleted");
  const FieldDef* del_pk = root->field("delete_authors_by_pk");
  ASSERT_NE(del_pk, nullptr);
  EXPECT_EQ(del_pk->role, FieldRole::kDeleteByPk);
  EXPECT_EQ(del_pk->table, authors);
  EXPECT_EQ(del_pk->description, "delete single row from the table: \"authors\"");
  EXPECT_EQ(type_to_string(del_pk->type), "authors");
  EXPECT_EQ(arg_names(del_pk), (Strings{"id"}));
  EXPECT_EQ(arg_type(del_pk, "id"), "Int!");
  EXPECT_EQ(del_pk->arg("id")->description, "the author's number");

  // The view accepts no writes.
  for (const auto& f : root->fields) EXPECT_EQ(f.name.find("author_stats"), std::string::npos);
}

TEST(SchemaMutationTest, AdminInputTypes) {
  auto s = blog_schema();
  ASSERT_TRUE(s);
  const RoleSchema& admin = role(*s, "admin");
  const size_t articles = table_index(*s, "articles");
  const size_t authors = table_index(*s, "authors");

  const TypeDef* ins = admin.type("articles_insert_input");
  ASSERT_NE(ins, nullptr);
  EXPECT_EQ(ins->kind, TypeKind::kInputObject);
  EXPECT_EQ(ins->input_role, InputRole::kInsertInput);
  EXPECT_EQ(ins->table, articles);
  EXPECT_EQ(ins->description, "input type for inserting data into table \"articles\"");
  // The generated column is not there; the relationship is, typed by the target's input.
  EXPECT_EQ(field_names(ins), (Strings{"author", "author_id", "id", "meta", "rating", "title"}));
  EXPECT_EQ(type_of(ins, "author"), "authors_obj_rel_insert_input");
  EXPECT_EQ(type_of(ins, "title"), "String");  // nullable: a column may have a default
  EXPECT_EQ(type_of(ins, "id"), "Int");
  EXPECT_EQ(type_of(admin.type("authors_insert_input"), "articles"),
            "articles_arr_rel_insert_input");

  const TypeDef* obj = admin.type("authors_obj_rel_insert_input");
  ASSERT_NE(obj, nullptr);
  EXPECT_EQ(obj->input_role, InputRole::kObjRelInsert);
  EXPECT_EQ(obj->table, authors);
  EXPECT_EQ(obj->description,
            "input type for inserting object relation for remote table \"authors\"");
  EXPECT_EQ(field_names(obj), (Strings{"data", "on_conflict"}));
  EXPECT_EQ(type_of(obj, "data"), "authors_insert_input!");
  EXPECT_EQ(type_of(obj, "on_conflict"), "authors_on_conflict");
  const TypeDef* arr = admin.type("articles_arr_rel_insert_input");
  ASSERT_NE(arr, nullptr);
  EXPECT_EQ(arr->input_role, InputRole::kArrRelInsert);
  EXPECT_EQ(arr->table, articles);
  EXPECT_EQ(arr->description,
            "input type for inserting array relation for remote table \"articles\"");
  EXPECT_EQ(type_of(arr, "data"), "[articles_insert_input!]!");

  const TypeDef* oc = admin.type("authors_on_conflict");
  ASSERT_NE(oc, nullptr);
  EXPECT_EQ(oc->input_role, InputRole::kOnConflict);
  EXPECT_EQ(oc->table, authors);
  EXPECT_EQ(oc->description, "on_conflict condition type for table \"authors\"");
  EXPECT_EQ(field_names(oc), (Strings{"constraint", "update_columns", "where"}));
  EXPECT_EQ(type_of(oc, "constraint"), "authors_constraint!");
  EXPECT_EQ(type_of(oc, "update_columns"), "[authors_update_column!]!");
  EXPECT_EQ(oc->input_field("update_columns")->default_value, "[]");
  EXPECT_EQ(type_of(oc, "where"), "authors_bool_exp");

  const TypeDef* constraint = admin.type("authors_constraint");
  ASSERT_NE(constraint, nullptr);
  EXPECT_EQ(constraint->kind, TypeKind::kEnum);
  EXPECT_EQ(constraint->description, "unique or primary key constraints on table \"authors\"");
  EXPECT_EQ(constraint->enum_values, (Strings{"authors_name_key", "authors_pkey"}));
  EXPECT_EQ(constraint->enum_descriptions,
            (Strings{"unique or primary key constraint on columns \"name\"",
                     "unique or primary key constraint on columns \"id\""}));
  // A constraint whose name is no GraphQL name cannot be offered.
  EXPECT_EQ(admin.type("articles_constraint")->enum_values, (Strings{"articles_pkey"}));

  const TypeDef* cols = admin.type("articles_update_column");
  ASSERT_NE(cols, nullptr);
  EXPECT_EQ(cols->description, "update columns of table \"articles\"");
  EXPECT_EQ(cols->enum_values, (Strings{"author_id", "id", "meta", "rating", "title"}));
  EXPECT_EQ(cols->enum_descriptions, Strings(5, "column name"));

  struct Op {
    const char* type;
    Strings fields;
    const char* field_type;
    const char* description;
  };
  const Op ops[] = {
      {"articles_set_input",
       {"author_id", "id", "meta", "rating", "title"},
       "String",
       "input type for updating data in table \"articles\""},
      {"articles_inc_input",
       {"author_id", "id", "rating"},
       "numeric",
       "input type for incrementing numeric columns in table \"articles\""},
      {"articles_append_input",
       {"meta"},
       "jsonb",
       "append existing jsonb value of filtered columns with new jsonb value"},
      {"articles_prepend_input",
       {"meta"},
       "jsonb",
       "prepend existing jsonb value of filtered columns with new jsonb value"},
      {"articles_delete_key_input",
       {"meta"},
       "String",
       "delete key/value pair or string element. key/value pairs are matched based on their key "
       "value"},
      {"articles_delete_elem_input",
       {"meta"},
       "Int",
       "delete the array element with specified index (negative integers count from the end). "
       "throws an error if top level container is not an array"},
      {"articles_delete_at_path_input",
       {"meta"},
       "[String!]",
       "delete the field or element with specified path (for JSON arrays, negative integers "
       "count from the end)"},
  };
  for (const Op& op : ops) {
    const TypeDef* t = admin.type(op.type);
    ASSERT_NE(t, nullptr) << op.type;
    EXPECT_EQ(t->input_role, InputRole::kUpdateOperator) << op.type;
    EXPECT_EQ(t->table, articles) << op.type;
    EXPECT_EQ(field_names(t), op.fields) << op.type;
    EXPECT_EQ(type_of(t, op.fields.back()), op.field_type) << op.type;
    EXPECT_EQ(t->description, op.description) << op.type;
  }

  const TypeDef* pk = admin.type("articles_pk_columns_input");
  ASSERT_NE(pk, nullptr);
  EXPECT_EQ(pk->input_role, InputRole::kPkColumns);
  EXPECT_EQ(pk->description, "primary key columns input for table: articles");
  EXPECT_EQ(field_names(pk), (Strings{"id"}));
  EXPECT_EQ(type_of(pk, "id"), "Int!");

  const TypeDef* updates = admin.type("articles_updates");
  ASSERT_NE(updates, nullptr);
  EXPECT_EQ(updates->input_role, InputRole::kUpdates);
  EXPECT_EQ(updates->table, articles);
  EXPECT_EQ(updates->description, "");
  EXPECT_EQ(field_names(updates), (Strings{"_append", "_delete_at_path", "_delete_elem",
                                           "_delete_key", "_inc", "_prepend", "_set", "where"}));
  EXPECT_EQ(type_of(updates, "where"), "articles_bool_exp!");

  const TypeDef* resp = admin.type("articles_mutation_response");
  ASSERT_NE(resp, nullptr);
  EXPECT_EQ(resp->kind, TypeKind::kObject);
  EXPECT_EQ(resp->description, "response of any mutation on the table \"articles\"");
  EXPECT_EQ(field_names(resp), (Strings{"affected_rows", "returning"}));
  EXPECT_EQ(resp->field("affected_rows")->role, FieldRole::kAffectedRows);
  EXPECT_EQ(resp->field("affected_rows")->table, articles);
  EXPECT_EQ(type_of(resp, "affected_rows"), "Int!");
  EXPECT_EQ(resp->field("affected_rows")->description, "number of rows affected by the mutation");
  EXPECT_EQ(resp->field("returning")->role, FieldRole::kReturning);
  EXPECT_EQ(resp->field("returning")->table, articles);
  EXPECT_EQ(type_of(resp, "returning"), "[articles!]!");
  EXPECT_EQ(resp->field("returning")->description, "data from the rows affected by the mutation");

  const RoleTable* rt = admin.table(articles);
  ASSERT_NE(rt, nullptr);
  EXPECT_TRUE(rt->selectable);
  ASSERT_NE(rt->insert, nullptr);
  ASSERT_NE(rt->update, nullptr);
  ASSERT_NE(rt->del, nullptr);
  EXPECT_EQ(rt->insert_columns, (Strings{"id", "author_id", "title", "meta", "rating"}));
  EXPECT_EQ(rt->update_columns, rt->insert_columns);
}

TEST(SchemaMutationTest, ColumnLimitedInsertWithPreset) {
  auto s = blog_schema();
  ASSERT_TRUE(s);
  const RoleSchema& user = role(*s, "user");
  const size_t articles = table_index(*s, "articles");
  EXPECT_EQ(
      field_names(user.type("mutation_root")),
      (Strings{"delete_articles", "delete_articles_by_pk", "insert_articles", "insert_articles_one",
               "update_articles", "update_articles_by_pk", "update_articles_many"}));
  // author_id has a preset: not in the input; no insert permission on authors: no relationship.
  EXPECT_EQ(field_names(user.type("articles_insert_input")), (Strings{"meta", "title"}));
  const RoleTable* rt = user.table(articles);
  ASSERT_NE(rt, nullptr);
  ASSERT_NE(rt->insert, nullptr);
  EXPECT_EQ(rt->insert->set.size(), 1u);
  EXPECT_EQ(rt->insert->set[0].column, "author_id");
  EXPECT_EQ(rt->insert_columns, (Strings{"title", "meta"}));
  EXPECT_EQ(rt->update_columns, (Strings{"title", "meta", "rating"}));
  EXPECT_EQ(field_names(user.type("articles_set_input")), (Strings{"meta", "rating", "title"}));
  EXPECT_EQ(field_names(user.type("articles_inc_input")), (Strings{"rating"}));
  EXPECT_EQ(user.type("articles_update_column")->enum_values, (Strings{"meta", "rating", "title"}));
  // returning is the select permission's view of the row.
  EXPECT_EQ(field_names(user.type("articles")), (Strings{"author", "author_id", "id", "title"}));
  EXPECT_EQ(field_names(user.type("articles_mutation_response")),
            (Strings{"affected_rows", "returning"}));
  EXPECT_EQ(user.type("authors_insert_input"), nullptr);
  // The query side is unchanged.
  EXPECT_EQ(field_names(user.type("query_root")),
            (Strings{"articles", "articles_by_pk", "author_stats", "authors", "authors_by_pk"}));
}

TEST(SchemaMutationTest, RoleWithUpdateOnly) {
  auto s = blog_schema();
  ASSERT_TRUE(s);
  const RoleSchema& editor = role(*s, "editor");
  const size_t articles = table_index(*s, "articles");
  EXPECT_EQ(field_names(editor.type("mutation_root")),
            (Strings{"update_articles", "update_articles_many"}));
  EXPECT_EQ(arg_names(editor.type("mutation_root")->field("update_articles")),
            (Strings{"_set", "where"}));
  // Without a select permission: affected_rows only, and filters on nothing but _and/_or/_not.
  EXPECT_EQ(field_names(editor.type("articles_mutation_response")), (Strings{"affected_rows"}));
  EXPECT_EQ(editor.type("articles"), nullptr);
  const TypeDef* bexp = editor.type("articles_bool_exp");
  ASSERT_NE(bexp, nullptr);
  EXPECT_EQ(bexp->input_role, InputRole::kBoolExp);
  EXPECT_EQ(bexp->table, articles);
  EXPECT_EQ(field_names(bexp), (Strings{"_and", "_not", "_or"}));
  // Nothing to read: Hasura's placeholder query field, and no subscription_root.
  EXPECT_EQ(field_names(editor.type("query_root")), (Strings{"no_queries_available"}));
  EXPECT_EQ(editor.type("subscription_root"), nullptr);
  const RoleTable* rt = editor.table(articles);
  ASSERT_NE(rt, nullptr);
  EXPECT_FALSE(rt->selectable);
  EXPECT_FALSE(rt->by_pk);
  EXPECT_TRUE(rt->columns.empty());
  EXPECT_EQ(rt->insert, nullptr);
  EXPECT_NE(rt->update, nullptr);
  EXPECT_EQ(rt->del, nullptr);
  // Not reachable as a select: neither a root field nor a relationship.
  Request r;
  r.query = "{ articles { id } }";
  Session session;
  session.role = "editor";
  session.is_admin = false;
  auto c = compile(*s, r, session);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "field 'articles' not found in type: 'query_root'");
}

TEST(SchemaMutationTest, BackendOnlyPermissionsOnlyInTheBackendView) {
  auto s = blog_schema();
  ASSERT_TRUE(s);
  const RoleSchema& front = role(*s, "service");
  EXPECT_EQ(front.type("mutation_root"), nullptr);
  EXPECT_EQ(front.table(table_index(*s, "authors")), nullptr);
  ASSERT_EQ(s->backend_roles.count("service"), 1u);
  EXPECT_EQ(s->backend_roles.size(), 1u);
  const RoleSchema& back = role(*s, "service", true);
  // No select permission: no insert_authors_one, and returning is not offered.
  EXPECT_EQ(field_names(back.type("mutation_root")), (Strings{"insert_authors"}));
  EXPECT_EQ(field_names(back.type("authors_mutation_response")), (Strings{"affected_rows"}));
  EXPECT_EQ(field_names(back.type("authors_insert_input")),
            (Strings{"bio", "created_at", "id", "name"}));
  // No update permission: no upsert.
  EXPECT_EQ(arg_names(back.type("mutation_root")->field("insert_authors")), (Strings{"objects"}));
  EXPECT_EQ(back.type("authors_on_conflict"), nullptr);
  // Roles without a backend_only permission fall back to their one view.
  EXPECT_EQ(s->role("user", true), s->role("user"));
}

TEST(SchemaMutationTest, UpsertWithoutUpdatableColumnsUsesThePlaceholder) {
  auto s = blog_schema();
  ASSERT_TRUE(s);
  const RoleSchema& restricted = role(*s, "restricted");
  EXPECT_EQ(field_names(restricted.type("mutation_root")),
            (Strings{"insert_authors", "insert_authors_one", "update_authors",
                     "update_authors_by_pk", "update_authors_many"}));
  EXPECT_EQ(arg_names(restricted.type("mutation_root")->field("update_authors")),
            (Strings{"where"}));
  EXPECT_EQ(field_names(restricted.type("authors_insert_input")), (Strings{"name"}));
  const TypeDef* cols = restricted.type("authors_update_column");
  ASSERT_NE(cols, nullptr);
  EXPECT_EQ(cols->enum_values, (Strings{"_PLACEHOLDER"}));
  EXPECT_EQ(cols->enum_descriptions, (Strings{"placeholder (do not use)"}));
  EXPECT_EQ(cols->description,
            "placeholder for update columns of table \"authors\" (current role has no relevant "
            "permissions)");
  EXPECT_EQ(restricted.type("authors_set_input"), nullptr);
}

TEST(SchemaMutationTest, CustomNamesAndATableWithoutPrimaryKey) {
  auto s = blog_schema();
  ASSERT_TRUE(s);
  const RoleSchema& admin = role(*s, "admin");
  const TypeDef* root = admin.type("mutation_root");
  ASSERT_NE(root, nullptr);
  const FieldDef* add = root->field("add_events");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->role, FieldRole::kInsert);
  EXPECT_EQ(add->table, table_index(*s, "logs"));
  // Descriptions name the table, schema-qualified outside public; types use the custom name.
  EXPECT_EQ(add->description, "insert data into the table: \"audit.logs\"");
  EXPECT_EQ(type_to_string(add->type), "event_log_mutation_response");
  // No unique constraint: no on_conflict.
  EXPECT_EQ(arg_names(add), (Strings{"objects"}));
  EXPECT_EQ(admin.type("event_log_on_conflict"), nullptr);
  EXPECT_EQ(root->field("purge_events")->role, FieldRole::kDelete);
  EXPECT_NE(root->field("insert_event_log_one"), nullptr);
  EXPECT_EQ(root->field("update_event_log_by_pk"), nullptr);
  EXPECT_EQ(root->field("delete_event_log_by_pk"), nullptr);
  EXPECT_EQ(admin.type("event_log_pk_columns_input"), nullptr);
  EXPECT_EQ(admin.type("event_log_insert_input")->description,
            "input type for inserting data into table \"audit.logs\"");
  // The query side takes its custom names too; types keep the table's GraphQL name.
  const TypeDef* query = admin.type("query_root");
  ASSERT_NE(query, nullptr);
  ASSERT_NE(query->field("events"), nullptr);
  EXPECT_EQ(query->field("events")->role, FieldRole::kSelect);
  EXPECT_EQ(type_to_string(query->field("events")->type), "[event_log!]!");
  ASSERT_NE(query->field("events_stats"), nullptr);
  EXPECT_EQ(query->field("events_stats")->role, FieldRole::kSelectAggregate);
  EXPECT_EQ(query->field("event_log"), nullptr);
  EXPECT_NE(admin.type("subscription_root")->field("events"), nullptr);
  Request r;
  r.query = "{ events(limit: 1) { message } events_stats { aggregate { count } } }";
  auto c = compile(*s, r, Session{});
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->ir.fields.size(), 2u);
}

TEST(SchemaMutationTest, TwoTablesMayNotShareARootFieldName) {
  auto md = metadata::parse_metadata(R"([
    {table: {name: authors}, configuration: {custom_root_fields: {insert: insert_articles}}},
    {table: {name: articles}}])");
  ASSERT_TRUE(md.ok()) << md.error().message;
  auto s = build_schema(blog_catalog(), *md);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "inconsistent metadata: the root field \"insert_articles\" of mutation_root is "
            "defined for tables \"public.articles\" and \"public.authors\"");
  md = metadata::parse_metadata(R"([
    {table: {name: authors}, configuration: {custom_root_fields: {select_by_pk: articles}}},
    {table: {name: articles}}])");
  ASSERT_TRUE(md.ok()) << md.error().message;
  s = build_schema(blog_catalog(), *md);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("\"articles\" of query_root"), std::string::npos);
}

TEST(SchemaMutationTest, RolesThatWriteNothingHaveNoMutationRoot) {
  auto md = metadata::parse_metadata(test::kShopMetadata);
  ASSERT_TRUE(md.ok());
  auto s = build_schema(test::shop_catalog(), *md);
  ASSERT_TRUE(s.ok());
  EXPECT_NE((*s)->role("admin")->type("mutation_root"), nullptr);
  EXPECT_EQ((*s)->role("user")->type("mutation_root"), nullptr);
  EXPECT_EQ((*s)->role("agent")->type("mutation_root"), nullptr);
  EXPECT_TRUE((*s)->backend_roles.empty());
}

TEST(SchemaMutationTest, WritePermissionsAreCheckedAgainstTheCatalog) {
  struct Case {
    const char* table_entry;
    const char* message;
  };
  const Case cases[] = {
      {"{table: {name: authors}, insert_permissions: [{role: u, permission: {check: {}, "
       "columns: [nope]}}]}",
       "table \"public.authors\": insert permission for role \"u\": column \"nope\" does not "
       "exist"},
      {"{table: {name: authors}, update_permissions: [{role: u, permission: {columns: [name], "
       "filter: {}, set: {nope: 1}}}]}",
       "table \"public.authors\": update permission for role \"u\": column \"nope\" does not "
       "exist"},
      {"{table: {name: authors}, delete_permissions: [{role: admin, permission: {filter: {}}}]}",
       "table \"public.authors\": delete permission for role \"admin\" is not allowed"},
      {"{table: {name: authors}, delete_permissions: [{role: u, permission: {filter: {}}}, "
       "{role: u, permission: {filter: {}}}]}",
       "table \"public.authors\": duplicate delete permission for role \"u\""},
      {"{table: {name: authors}, insert_permissions: [{role: u, permission: {check: {nope: "
       "{_eq: 1}}}}]}",
       "table \"public.authors\": insert permission for role \"u\": "},
  };
  for (const Case& c : cases) {
    auto md = metadata::parse_metadata(std::string("[") + c.table_entry + "]");
    ASSERT_TRUE(md.ok()) << c.table_entry << ": " << md.error().message;
    auto s = build_schema(blog_catalog(), *md);
    ASSERT_FALSE(s.ok()) << c.table_entry;
    EXPECT_EQ(s.error().code, ErrorCode::kValidationFailed);
    EXPECT_NE(s.error().message.find(c.message), std::string::npos) << s.error().message;
  }
}

json::value introspect(const Schema& s, const std::string& query, const Session& session) {
  Request r;
  r.query = query;
  auto c = compile(s, r, session);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message + " " + c.error().path);
  if (!c.ok() || !c->static_data) return nullptr;
  return *c->static_data;
}

TEST(SchemaMutationTest, IntrospectionAnswersTheMutationTypes) {
  auto s = blog_schema();
  ASSERT_TRUE(s);
  json::value admin = introspect(*s, R"({
    __schema { mutationType { name } }
    root: __type(name: "mutation_root") {
      kind description
      fields { name args { name defaultValue type { kind name ofType { kind name } } } }
    }
    input: __type(name: "authors_on_conflict") {
      kind inputFields { name defaultValue type { kind ofType { kind ofType { kind ofType { name } } } } }
    }
    constraint: __type(name: "authors_constraint") { kind enumValues { name description } }
  })",
                                 Session{});
  ASSERT_TRUE(admin.is_object());
  EXPECT_EQ(admin.at("__schema").at("mutationType").at("name"), "mutation_root");
  const json::value& root = admin.at("root");
  EXPECT_EQ(root.at("kind"), "OBJECT");
  EXPECT_EQ(root.at("description"), "mutation root");
  const json::value* insert = nullptr;
  for (const auto& f : root.at("fields").as_array())
    if (f.at("name") == "insert_authors") insert = &f;
  ASSERT_NE(insert, nullptr);
  EXPECT_EQ(json::serialize(insert->at("args")),
            R"([{"name":"objects","defaultValue":null,"type":{"kind":"NON_NULL","name":null,)"
            R"("ofType":{"kind":"LIST","name":null}}},)"
            R"({"name":"on_conflict","defaultValue":null,"type":{"kind":"INPUT_OBJECT",)"
            R"("name":"authors_on_conflict","ofType":null}}])");
  EXPECT_EQ(json::serialize(admin.at("input").at("inputFields").at(1)),
            R"({"name":"update_columns","defaultValue":"[]","type":{"kind":"NON_NULL",)"
            R"("ofType":{"kind":"LIST","ofType":{"kind":"NON_NULL","ofType":)"
            R"({"name":"authors_update_column"}}}}})");
  EXPECT_EQ(json::serialize(admin.at("constraint")),
            R"({"kind":"ENUM","enumValues":[{"name":"authors_name_key","description":)"
            R"("unique or primary key constraint on columns \"name\""},)"
            R"({"name":"authors_pkey","description":)"
            R"("unique or primary key constraint on columns \"id\""}]})");

  Session reader;
  reader.role = "user";
  reader.is_admin = false;
  json::value user = introspect(
      *s,
      R"({ __schema { mutationType { name } } t: __type(name: "authors_insert_input") { name } })",
      reader);
  EXPECT_EQ(user.at("__schema").at("mutationType").at("name"), "mutation_root");
  EXPECT_TRUE(user.at("t").is_null());

  // A role that may only read has no mutation root at all.
  auto md = metadata::parse_metadata(test::kShopMetadata);
  ASSERT_TRUE(md.ok());
  auto shop = build_schema(test::shop_catalog(), *md);
  ASSERT_TRUE(shop.ok());
  Session agent;
  agent.role = "agent";
  agent.is_admin = false;
  json::value a = introspect(
      **shop, R"({ __schema { mutationType { name } } t: __type(name: "mutation_root") { name } })",
      agent);
  EXPECT_TRUE(a.at("__schema").at("mutationType").is_null());
  EXPECT_TRUE(a.at("t").is_null());
}

}  // namespace
}  // namespace liveql::compiler
