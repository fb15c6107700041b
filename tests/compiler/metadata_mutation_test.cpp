// Metadata of mutations: insert/update/delete permissions and custom root field names.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/metadata.hpp"

namespace liveql::metadata {
namespace {

namespace json = boost::json;

// As Hasura's export writes it (YAML), with every key the permissions may hold.
constexpr const char* kArticles = R"yaml(
table: {schema: public, name: article}
configuration:
  custom_root_fields:
    insert: AddArticles
    insert_one: {name: AddArticle, comment: one article}
    update: UpdateArticles
    update_by_pk: UpdateArticle
    update_many: UpdateArticlesMany
    delete: DeleteArticles
    delete_by_pk: null
    select: Articles
insert_permissions:
  - role: user
    permission:
      check:
        author_id: X-Hasura-User-Id
      columns: [title, content]
      set:
        author_id: x-hasura-USER-id
        is_published: false
        kind: "draft"
      backend_only: false
  - role: service
    permission:
      check: {}
      backend_only: true
  - role: editor
    permission:
      check:
        author_id: {_in: X-Hasura-Allowed-User-Ids}
      columns: '*'
update_permissions:
  - role: user
    permission:
      columns: [title, content, version]
      filter:
        $and:
          - author_id: X-Hasura-User-Id
          - is_published: false
      check:
        version: {_gt: 0}
      set:
        updated_by: X-Hasura-User-Id
  - role: admin2
    permission:
      columns: '*'
      filter: {}
delete_permissions:
  - role: user
    permission:
      filter:
        author_id: X-Hasura-User-Id
  - role: service
    permission:
      backend_only: true
)yaml";

TEST(MetadataMutationTest, ParsesInsertPermissions) {
  auto t = parse_table(kArticles);
  ASSERT_TRUE(t.ok()) << t.error().message << " at " << t.error().path;
  ASSERT_EQ(t->insert_permissions.size(), 3u);
  const InsertPermission& user = t->insert_permissions[0];
  EXPECT_EQ(user.role, "user");
  EXPECT_EQ(json::serialize(user.check), R"({"author_id":"X-Hasura-User-Id"})");
  EXPECT_FALSE(user.all_columns);
  EXPECT_EQ(user.columns, (std::vector<std::string>{"title", "content"}));
  EXPECT_FALSE(user.backend_only);
  ASSERT_EQ(user.set.size(), 3u);
  EXPECT_EQ(user.set[0].column, "author_id");
  EXPECT_EQ(user.set[0].session_variable, "x-hasura-user-id");
  EXPECT_TRUE(user.set[0].value.is_null());
  EXPECT_EQ(user.set[1].column, "is_published");
  EXPECT_FALSE(user.set[1].session_variable);
  EXPECT_EQ(user.set[1].value, json::value(false));
  EXPECT_EQ(user.set[2].value, json::value("draft"));

  const InsertPermission& service = t->insert_permissions[1];
  EXPECT_TRUE(service.backend_only);
  EXPECT_TRUE(service.all_columns);  // no `columns`: every column, as Hasura reads it
  EXPECT_EQ(json::serialize(service.check), "{}");
  EXPECT_TRUE(t->insert_permissions[2].all_columns);
}

TEST(MetadataMutationTest, ParsesUpdateAndDeletePermissions) {
  auto t = parse_table(kArticles);
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->update_permissions.size(), 2u);
  const UpdatePermission& user = t->update_permissions[0];
  EXPECT_EQ(user.columns, (std::vector<std::string>{"title", "content", "version"}));
  EXPECT_EQ(json::serialize(user.filter),
            R"({"$and":[{"author_id":"X-Hasura-User-Id"},{"is_published":false}]})");
  EXPECT_EQ(json::serialize(user.check), R"({"version":{"_gt":0}})");
  ASSERT_EQ(user.set.size(), 1u);
  EXPECT_EQ(user.set[0].session_variable, "x-hasura-user-id");
  const UpdatePermission& admin2 = t->update_permissions[1];
  EXPECT_TRUE(admin2.all_columns);
  EXPECT_EQ(json::serialize(admin2.check), "{}");  // no check: always
  EXPECT_TRUE(admin2.set.empty());

  ASSERT_EQ(t->delete_permissions.size(), 2u);
  EXPECT_EQ(json::serialize(t->delete_permissions[0].filter),
            R"({"author_id":"X-Hasura-User-Id"})");
  EXPECT_FALSE(t->delete_permissions[0].backend_only);
  EXPECT_EQ(json::serialize(t->delete_permissions[1].filter), "{}");
  EXPECT_TRUE(t->delete_permissions[1].backend_only);
}

TEST(MetadataMutationTest, ParsesCustomRootFields) {
  auto t = parse_table(kArticles);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const CustomRootFields& f = t->custom_root_fields;
  EXPECT_EQ(f.insert, "AddArticles");
  EXPECT_EQ(f.insert_one, "AddArticle");
  EXPECT_EQ(f.update, "UpdateArticles");
  EXPECT_EQ(f.update_by_pk, "UpdateArticle");
  EXPECT_EQ(f.update_many, "UpdateArticlesMany");
  EXPECT_EQ(f.delete_, "DeleteArticles");
  EXPECT_FALSE(f.delete_by_pk);
  EXPECT_EQ(f.select, "Articles");
  EXPECT_FALSE(f.select_by_pk);
  EXPECT_FALSE(f.select_aggregate);
  EXPECT_FALSE(f.select_stream);
}

TEST(MetadataMutationTest, ReadsPermissionsInsideAWholeExport) {
  auto md = parse_metadata(R"({"version": 3, "sources": [{"name": "default", "kind": "postgres",
      "tables": [{"table": {"schema": "public", "name": "a"},
        "insert_permissions": [{"role": "r", "permission": {"check": {}, "columns": ["x"]}}],
        "update_permissions": [{"role": "r", "permission": {"columns": ["x"], "filter": {}}}],
        "delete_permissions": [{"role": "r", "permission": {"filter": {}}}]}]}]})");
  ASSERT_TRUE(md.ok()) << md.error().message;
  ASSERT_EQ(md->tables.size(), 1u);
  EXPECT_EQ(md->tables[0].insert_permissions.size(), 1u);
  EXPECT_EQ(md->tables[0].update_permissions.size(), 1u);
  EXPECT_EQ(md->tables[0].delete_permissions.size(), 1u);
}

struct BadCase {
  std::string yaml;
  std::string path;
  std::string message;  // part of the message
};

TEST(MetadataMutationTest, ErrorsNameThePathOfTheBadKey) {
  const std::vector<BadCase> cases = {
      {"insert_permissions: [{permission: {check: {}}}]", "$.insert_permissions[0]",
       "missing key \"role\""},
      {"insert_permissions: [{role: '', permission: {check: {}}}]", "$.insert_permissions[0].role",
       "empty role name"},
      {"insert_permissions: [{role: r}]", "$.insert_permissions[0].permission",
       "expected an object"},
      {"insert_permissions: [{role: r, permission: {check: [1]}}]",
       "$.insert_permissions[0].permission.check", "boolean expression"},
      {"insert_permissions: [{role: r, permission: {check: {}, columns: 5}}]",
       "$.insert_permissions[0].permission.columns", "list of columns"},
      {"insert_permissions: [{role: r, permission: {check: {}, columns: [a, 1]}}]",
       "$.insert_permissions[0].permission.columns[1]", "expected a string"},
      {"insert_permissions: [{role: r, permission: {check: {}, set: [a]}}]",
       "$.insert_permissions[0].permission.set", "{column: value}"},
      {"insert_permissions: [{role: r, permission: {check: {}, backend_only: 'yes'}}]",
       "$.insert_permissions[0].permission.backend_only", "expected a boolean"},
      {"insert_permissions: {role: r}", "$.insert_permissions", "expected a list"},
      {"update_permissions: [{role: r, permission: {filter: {}}}]",
       "$.update_permissions[0].permission", "missing key \"columns\""},
      {"update_permissions: [{role: r, permission: {columns: '*', filter: 3}}]",
       "$.update_permissions[0].permission.filter", "boolean expression"},
      {"update_permissions: [{role: r, permission: {columns: '*', check: true}}]",
       "$.update_permissions[0].permission.check", "boolean expression"},
      {"update_permissions: [{role: r, permission: {columns: '*', set: 1}}]",
       "$.update_permissions[0].permission.set", "{column: value}"},
      {"delete_permissions: [{role: r, permission: {filter: 'x'}}]",
       "$.delete_permissions[0].permission.filter", "boolean expression"},
      {"delete_permissions: [{role: r, permission: {backend_only: 1}}]",
       "$.delete_permissions[0].permission.backend_only", "expected a boolean"},
      {"configuration: {custom_root_fields: {inserts: X}}",
       "$.configuration.custom_root_fields.inserts", "unknown root field"},
      {"configuration: {custom_root_fields: {insert: [X]}}",
       "$.configuration.custom_root_fields.insert", "expected a string"},
      {"configuration: {custom_root_fields: {insert: {name: 5}}}",
       "$.configuration.custom_root_fields.insert.name", "expected a string"},
      {"configuration: {custom_root_fields: {insert: ''}}",
       "$.configuration.custom_root_fields.insert", "empty root field name"},
      {"configuration: {custom_root_fields: [insert]}", "$.configuration.custom_root_fields",
       "expected an object"},
  };
  for (const auto& c : cases) {
    auto t = parse_table("table: {schema: public, name: a}\n" + c.yaml);
    ASSERT_FALSE(t.ok()) << c.yaml;
    EXPECT_EQ(t.error().code, ErrorCode::kParseFailed) << c.yaml;
    EXPECT_EQ(t.error().path, c.path) << c.yaml;
    EXPECT_NE(t.error().message.find(c.message), std::string::npos)
        << c.yaml << ": " << t.error().message;
  }
}

TEST(MetadataMutationTest, SessionVariablePresetsAreCaseInsensitiveOthersAreLiterals) {
  auto t = parse_table(R"yaml(
table: {name: a}
insert_permissions:
  - role: r
    permission:
      check: {}
      set: {a: X-HASURA-ORG, b: "x-hasura", c: 12, d: "Xhasura-not", e: null, f: {k: [1]}}
)yaml");
  ASSERT_TRUE(t.ok()) << t.error().message;
  const auto& set = t->insert_permissions[0].set;
  ASSERT_EQ(set.size(), 6u);
  EXPECT_EQ(set[0].session_variable, "x-hasura-org");
  EXPECT_FALSE(set[1].session_variable);  // "x-hasura" lacks the dash: a literal
  EXPECT_EQ(set[1].value, json::value("x-hasura"));
  EXPECT_EQ(set[2].value, json::value(12));
  EXPECT_FALSE(set[3].session_variable);
  EXPECT_TRUE(set[4].value.is_null());
  EXPECT_FALSE(set[4].session_variable);
  EXPECT_EQ(json::serialize(set[5].value), R"({"k":[1]})");
}

}  // namespace
}  // namespace liveql::metadata
