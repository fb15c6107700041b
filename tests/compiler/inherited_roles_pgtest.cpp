// Inherited roles (metadata `inherited_roles`) against a real PostgreSQL, as Hasura v2 combines
// permissions: the union of the parents' rows, a column NULL in the rows of parents that do not
// allow it (cell nullification), the largest limit, nested inherited roles, a role's own
// permission winning, mutations inherited only when the parents agree, cycles refused, and the
// combined filter seen by the matcher as the OR of the parents'.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "compiled_pg_test.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/compiler/sql.hpp"

namespace liveql {
namespace {

namespace json = boost::json;

constexpr const char* kSetup = R"sql(
create table articles (id int primary key, title text, body text, author_id int,
                       is_published boolean);
insert into articles values
  (1, 'one', 'body 1', 1, true), (2, 'two', 'body 2', 1, false), (3, 'three', 'body 3', 2, true),
  (4, 'four', 'body 4', 2, false), (5, 'five', 'body 5', 3, true), (6, 'six', 'body 6', 3, true);
)sql";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: articles}
    select_permissions:
    - role: author
      permission: {columns: '*', filter: {author_id: {_eq: X-Hasura-Author-Id}}}
    - role: guest
      permission: {columns: [id, title], filter: {is_published: {_eq: true}}}
    - role: reviewer
      permission: {columns: [id, body], filter: {author_id: {_eq: 3}}, limit: 3}
    - role: own
      permission: {columns: [id], filter: {id: {_eq: 1}}}
    insert_permissions:
    - role: author
      permission: {columns: [id, title], check: {author_id: {_eq: X-Hasura-Author-Id}}}
    update_permissions:
    - role: author
      permission: {columns: [title], filter: {author_id: {_eq: X-Hasura-Author-Id}}}
    - role: guest
      permission: {columns: [title], filter: {is_published: {_eq: true}}}
inherited_roles:
- {role_name: author_guest, role_set: [author, guest]}
- {role_name: guest_reviewer, role_set: [guest, reviewer]}
- {role_name: nested, role_set: [author_guest, reviewer]}
- {role_name: own, role_set: [author, guest]}
)YAML";

class InheritedRolesPgTest : public test::CompiledPgTest<InheritedRolesPgTest> {
 public:
  static constexpr const char* kDatabase = "liveql_inherited_roles_test";
  static constexpr const char* kSetup = liveql::kSetup;
  static constexpr const char* kMetadata = liveql::kMetadata;
};

compiler::Session as(const std::string& role) {
  compiler::Session s;
  s.role = role;
  s.is_admin = false;
  s.variables["x-hasura-author-id"] = "1";
  return s;
}

TEST_F(InheritedRolesPgTest, RowsOfEveryParentWithCellsOnlyWhereAParentAllowsThem) {
  // author sees 1, 2 (all columns); guest 1, 3, 5, 6 (id, title): body only in author's rows.
  EXPECT_EQ(query("{ articles(order_by: {id: asc}) { id title body } }", "{}", as("author_guest")),
            json::parse(R"({"articles": [
              {"id": 1, "title": "one", "body": "body 1"},
              {"id": 2, "title": "two", "body": "body 2"},
              {"id": 3, "title": "three", "body": null},
              {"id": 5, "title": "five", "body": null},
              {"id": 6, "title": "six", "body": null}]})"));
}

TEST_F(InheritedRolesPgTest, TheLargestLimitOfTheParentsThatHaveOne) {
  // guest has none, reviewer 3: 3 (a parent without a limit does not lift it, as in Hasura).
  json::value got =
      query("{ articles(order_by: {id: asc}) { id title body } }", "{}", as("guest_reviewer"));
  EXPECT_EQ(got, json::parse(R"({"articles": [
              {"id": 1, "title": "one", "body": null},
              {"id": 3, "title": "three", "body": null},
              {"id": 5, "title": "five", "body": "body 5"}]})"));
}

TEST_F(InheritedRolesPgTest, NestedInheritedRolesKeepTheirParentsCellFilters) {
  // nested = author_guest (no limit) + reviewer (limit 3): rows of author, guest and reviewer;
  // body where author or reviewer allows it, title where author or guest does.
  json::value got =
      query("{ articles(order_by: {id: desc}) { id title body } }", "{}", as("nested"));
  EXPECT_EQ(got, json::parse(R"({"articles": [
              {"id": 6, "title": "six", "body": "body 6"},
              {"id": 5, "title": "five", "body": "body 5"},
              {"id": 3, "title": "three", "body": null}]})"));
}

TEST_F(InheritedRolesPgTest, ARolesOwnPermissionWins) {
  EXPECT_EQ(query("{ articles { id } }", "{}", as("own")),
            json::parse(R"({"articles": [{"id": 1}]})"));
  compiler::Request r;
  r.query = "{ articles { title } }";
  EXPECT_FALSE(compiler::compile(*schema_, r, as("own")).ok());
}

TEST_F(InheritedRolesPgTest, MutationsAreInheritedOnlyWhenTheParentsAgree) {
  compiler::Request r;
  // Only author may insert: author_guest inherits it, with its session variable.
  r.query = R"(mutation { insert_articles(objects: {id: 9, title: "x"}) { affected_rows } })";
  EXPECT_TRUE(compiler::compile(*schema_, r, as("author_guest")).ok());
  // author and guest update differently: no update for author_guest, as in Hasura.
  r.query = R"(mutation { update_articles(where: {}, _set: {title: "x"}) { affected_rows } })";
  auto op = compiler::compile(*schema_, r, as("author_guest"));
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().message, "field 'update_articles' not found in type: 'mutation_root'");
}

TEST_F(InheritedRolesPgTest, TheMatcherSeesTheOrOfTheParentsFilters) {
  auto op = compile("{ articles { id body } }", "{}", as("author_guest"));
  const deps::Dependencies d = deps::extract_dependencies(op.ir);
  EXPECT_TRUE(d.tractable) << d.reason;
  const std::string sql = sql::multiplexed_query(op.ir);
  EXPECT_NE(sql.find(" OR "), std::string::npos) << sql;
  EXPECT_NE(sql.find("CASE WHEN"), std::string::npos) << sql;
}

TEST(InheritedRolesTest, ACycleIsRefused) {
  auto md = metadata::parse_metadata(R"YAML(
version: 3
sources: [{name: default, kind: postgres, tables: []}]
inherited_roles:
- {role_name: a, role_set: [b]}
- {role_name: b, role_set: [c, a]}
)YAML");
  ASSERT_TRUE(md.ok()) << md.error().message;
  ASSERT_EQ(md->inherited_roles.size(), 2u);
  EXPECT_EQ(md->inherited_roles[1].role_set, (std::vector<std::string>{"c", "a"}));
  auto schema = compiler::build_schema(catalog::Catalog{}, *md);
  ASSERT_FALSE(schema.ok());
  EXPECT_NE(schema.error().message.find("cycle"), std::string::npos) << schema.error().message;
}

}  // namespace
}  // namespace liveql
