// The operation runner (server/src/operation_runner.hpp) against a real PostgreSQL, with plans
// built by hand: several statements in one transaction commit together, roll back together,
// a mutation's answer is assembled in request order, and a client sees only what its role may
// (database errors mapped as Hasura maps a mutation's).
#include "operation_runner.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <exception>

#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/live/pg_pool.hpp"
#include "support/test_db.hpp"

namespace liveql::server {
namespace {

namespace asio = boost::asio;

compiler::Statement statement(std::string sql, std::vector<std::string> keys) {
  compiler::Statement s;
  s.sql = std::move(sql);
  s.response_keys = std::move(keys);
  return s;
}

compiler::Statement mutation(std::string sql, std::string key, std::string error_path = "$") {
  compiler::Statement s;
  s.kind = compiler::Statement::Kind::kMutation;
  s.sql = std::move(sql);
  s.response_keys = {std::move(key)};
  s.error_path = std::move(error_path);
  return s;
}

compiler::ResponseField from_statements(std::string key, size_t first, size_t count,
                                        bool list = false) {
  compiler::ResponseField f;
  f.key = std::move(key);
  f.first_statement = first;
  f.statement_count = count;
  f.list = list;
  return f;
}

compiler::Session role(std::string name) {
  compiler::Session s;
  s.role = std::move(name);
  s.is_admin = s.role == "admin";
  return s;
}

class OperationRunnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = new std::string(test::fresh_database("server_operation_runner"));
    test::exec(*url_, "create table notes (id int primary key, body text)");
    test::exec(*url_,
               "create table tags (id int primary key, label text not null unique check "
               "(label <> ''), note_id int references notes (id))");
  }
  static void TearDownTestSuite() { delete url_; }

  void SetUp() override {
    pool_ = std::make_unique<live::PgPool>(ioc_.get_executor(), *url_, 2);
    app_.core = ioc_.get_executor();
    app_.pool = pool_.get();
  }

  // execute_plan() to completion, run on the core's executor (as a --threads 1 session).
  Result<std::string> execute(compiler::Plan plan, compiler::Session session = role("admin")) {
    std::optional<Result<std::string>> out;
    asio::co_spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
          out.emplace(co_await execute_plan(app_, std::move(session), std::move(plan)));
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!out && std::chrono::steady_clock::now() < deadline) {
      if (ioc_.stopped()) ioc_.restart();
      ioc_.run_one_for(std::chrono::milliseconds(10));
    }
    if (!out) return make_error(ErrorCode::kUnexpected, "timed out");
    return std::move(*out);
  }

  static std::string* url_;
  asio::io_context ioc_;
  std::unique_ptr<live::PgPool> pool_;
  App app_;
};
std::string* OperationRunnerTest::url_ = nullptr;

// Two statements, each answering its own response key, in one transaction: the second sees the
// first's row, both commit, and `data` is one object of both keys in statement order.
TEST_F(OperationRunnerTest, StatementsOfATransactionalPlanCommitTogetherIntoOneDataObject) {
  compiler::Plan plan;
  plan.vars = boost::json::object{{"id", 1}, {"body", "first"}};
  plan.vars_text = boost::json::serialize(plan.vars);
  plan.transaction = true;
  plan.statements.push_back(statement(
      "with ins as (insert into notes values (($1::json->>'id')::int, $1::json->>'body') "
      "returning id) select json_build_object('insert_note', (select id from ins))::text as data",
      {"insert_note"}));
  plan.statements.push_back(
      statement("select json_build_object('count', (select count(*) from notes where id = "
                "($1::json->>'id')::int))::text as data",
                {"count"}));
  auto data = execute(std::move(plan));
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ(boost::json::parse(*data), boost::json::parse(R"({"insert_note": 1, "count": 1})"));
  EXPECT_EQ(test::query(*url_, "select body from notes where id = 1").at(0).at(0), "first");
}

// The second statement fails: nothing of the first stays; a non-admin sees no PostgreSQL
// detail, an admin does; path "$" either way.
TEST_F(OperationRunnerTest, AFailingStatementRollsTheWholePlanBackAndHidesDetailsFromNonAdmins) {
  test::exec(*url_, "insert into notes values (100, 'taken')");
  auto plan = [] {
    compiler::Plan p;
    p.vars_text = "{}";
    p.transaction = true;
    p.statements.push_back(
        statement("with ins as (insert into notes values (101, $1::json->>'new') returning id) "
                  "select json_build_object('a', (select id from ins))::text as data",
                  {"a"}));
    p.statements.push_back(
        statement("with ins as (insert into notes values (100, $1::json->>'again') returning id) "
                  "select json_build_object('b', (select id from ins))::text as data",
                  {"b"}));
    return p;
  };
  auto user = execute(plan(), role("user"));
  ASSERT_FALSE(user.ok());
  EXPECT_EQ(user.error().code, ErrorCode::kPostgresError);
  EXPECT_EQ(user.error().message, "database query error");
  EXPECT_EQ(user.error().path, "$");
  auto admin = execute(plan(), role("admin"));
  ASSERT_FALSE(admin.ok());
  EXPECT_NE(admin.error().message.find("duplicate key"), std::string::npos)
      << admin.error().message;
  EXPECT_EQ(test::query(*url_, "select count(*) from notes where id = 101").at(0).at(0), "0");
  // The pool goes on with the same connections.
  compiler::Plan ok;
  ok.vars_text = "{}";
  ok.statements.push_back(
      statement("select json_build_object('x', 1, 'vars', $1::json)::text as data", {"x"}));
  auto x = execute(std::move(ok));
  ASSERT_TRUE(x.ok()) << x.error().message;
  EXPECT_EQ(boost::json::parse(*x), boost::json::parse(R"({"x": 1, "vars": {}})"));
}

// A mutation's data object: static fields, one statement's value and update_many's list of
// several statements' values, in request order; every statement in one transaction.
TEST_F(OperationRunnerTest, AMutationPlanAnswersItsRootFieldsInRequestOrder) {
  compiler::Plan plan;
  plan.type = gql::OperationType::kMutation;
  plan.vars_text = "{}";
  plan.transaction = true;
  plan.statements.push_back(mutation(
      "with w as (insert into notes values (200, 'a') returning id) select json_build_object("
      "'affected_rows', (select count(*) from w))::text as data "
      "where $1::json is not null",
      "ins"));
  plan.statements.push_back(
      mutation("with w as (update notes set body = 'b' where id = 200 returning id) select "
               "json_build_object('affected_rows', (select count(*) from w))::text as data "
               "where $1::json is not null",
               "many"));
  plan.statements.push_back(
      mutation("select json_build_object('body', (select body from notes where id = 200))::text "
               "as data where $1::json is not null",
               "many"));
  compiler::ResponseField typename_field;
  typename_field.key = "__typename";
  typename_field.static_json = R"("mutation_root")";
  plan.response = {typename_field, from_statements("ins", 0, 1),
                   from_statements("many", 1, 2, true)};
  auto data = execute(std::move(plan), role("user"));
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ(*data, R"({"__typename":"mutation_root","ins":{"affected_rows" : 1},)"
                   R"("many":[{"affected_rows" : 1},{"body" : "b"}]})");
}

// PostgreSQL's errors of a mutation as Hasura answers them, for any role (they name no more
// than the constraint), at the failing statement's path; the first statement rolls back.
TEST_F(OperationRunnerTest, MutationErrorsAreMappedAtTheFailingStatementsPath) {
  test::exec(*url_, "insert into notes values (300, 'taken')");
  test::exec(*url_, "insert into tags values (1, 'one', 300)");
  struct Case {
    const char* name;
    std::string sql;
    ErrorCode code;
    std::string message;
  };
  const Case cases[] = {
      {"unique", "insert into tags values (2, 'one', null)", ErrorCode::kConstraintViolation,
       "Uniqueness violation. duplicate key value violates unique constraint "
       "\"tags_label_key\""},
      {"not null", "insert into tags values (3, null, null)", ErrorCode::kConstraintViolation,
       "Not-NULL violation. null value in column \"label\" of relation \"tags\" violates "
       "not-null constraint"},
      {"foreign key", "insert into tags values (4, 'four', 999)", ErrorCode::kConstraintViolation,
       "Foreign key violation. insert or update on table \"tags\" violates foreign key "
       "constraint \"tags_note_id_fkey\""},
      {"check constraint", "insert into tags values (5, '', null)", ErrorCode::kPermissionError,
       "Check constraint violation. new row for relation \"tags\" violates check constraint "
       "\"tags_label_check\""},
      {"permission check",
       "select (case when $1::json->>'x' = 'abc' then 'liveql: check constraint of an "
       "insert/update permission has failed' end)::integer",
       ErrorCode::kPermissionError, "check constraint of an insert/update permission has failed"},
      {"data exception", "insert into tags values (6, 'six', ($1::json->>'x')::int)",
       ErrorCode::kDataException, "invalid input syntax for type integer: \"abc\""},
  };
  for (const auto& c : cases) {
    compiler::Plan plan;
    plan.type = gql::OperationType::kMutation;
    plan.vars_text = R"({"x":"abc"})";
    plan.transaction = true;
    plan.statements.push_back(
        mutation("with w as (insert into notes values (301, 'first') returning id) select "
                 "json_build_object('affected_rows', (select count(*) from w))::text as data "
                 "where $1::json is not null",
                 "a", "$.selectionSet.a.args.objects"));
    const std::string sql =
        c.sql.starts_with("insert")
            ? "with w as (" + c.sql + ") select 'null' as data where $1::json is not null"
            : "select " + c.sql.substr(7) + "::text as data";
    plan.statements.push_back(mutation(sql, "b", "$.selectionSet.b.args.objects"));
    plan.response = {from_statements("a", 0, 1), from_statements("b", 1, 1)};
    auto data = execute(std::move(plan), role("user"));
    ASSERT_FALSE(data.ok()) << c.name;
    EXPECT_EQ(data.error().code, c.code) << c.name;
    EXPECT_EQ(data.error().message, c.message) << c.name;
    EXPECT_EQ(data.error().path, "$.selectionSet.b.args.objects") << c.name;
    EXPECT_EQ(test::query(*url_, "select count(*) from notes where id = 301").at(0).at(0), "0")
        << c.name;
  }
  // An error Hasura does not map is still hidden from a non-admin.
  compiler::Plan plan;
  plan.type = gql::OperationType::kMutation;
  plan.vars_text = "{}";
  plan.transaction = true;
  plan.statements.push_back(
      mutation("select no_such_column as data from notes where $1::json is not null", "a"));
  plan.response = {from_statements("a", 0, 1)};
  auto hidden = execute(plan, role("user"));
  ASSERT_FALSE(hidden.ok());
  EXPECT_EQ(hidden.error().code, ErrorCode::kPostgresError);
  EXPECT_EQ(hidden.error().message, "database query error");
  auto shown = execute(std::move(plan), role("admin"));
  ASSERT_FALSE(shown.ok());
  EXPECT_NE(shown.error().message.find("no_such_column"), std::string::npos);
}

TEST_F(OperationRunnerTest, StaticPlansNeedNoDatabaseAndSubscriptionsAreNotStatements) {
  app_.pool = nullptr;
  compiler::Plan introspection;
  introspection.static_data = boost::json::object{{"__typename", "query_root"}};
  auto data = execute(std::move(introspection));
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ(*data, R"({"__typename":"query_root"})");

  compiler::Plan query;
  query.statements.push_back(statement("select 1", {"a"}));
  auto no_pool = execute(std::move(query));
  ASSERT_FALSE(no_pool.ok());
  EXPECT_EQ(no_pool.error().message, "no database pool");

  app_.pool = pool_.get();
  compiler::Plan subscription;
  subscription.type = gql::OperationType::kSubscription;
  subscription.live.emplace();
  auto refused = execute(std::move(subscription));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnexpected);
}

// A statement answering something else than one row with a `data` column is an error, not a
// crash.
TEST_F(OperationRunnerTest, AResultOfAnotherShapeIsAnError) {
  compiler::Plan plan;
  plan.vars_text = "{}";
  plan.statements.push_back(
      statement("select $1::json as other from generate_series(1, 2)", {"a"}));
  auto data = execute(std::move(plan));
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.error().message, "unexpected query result shape");
}

// Mutation documents compiled against the database's own catalog and run by the runner: the
// whole path a client's mutation takes, minus the transport.
const char* kBlogMetadata = R"YAML(
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
    insert_permissions:
    - role: user
      permission: {check: {}, columns: [name]}
  - table: {schema: public, name: articles}
    object_relationships:
    - name: author
      using: {foreign_key_constraint_on: author_id}
    select_permissions:
    - role: user
      permission:
        columns: [id, title, author_id, rating]
        filter: {author_id: {_eq: X-Hasura-User-Id}, title: {_neq: hidden}}
    insert_permissions:
    - role: user
      permission:
        check: {author_id: {_eq: X-Hasura-User-Id}}
        columns: [title, author_id, rating]
    update_permissions:
    - role: user
      permission:
        columns: [title, rating]
        filter: {author_id: {_eq: X-Hasura-User-Id}}
        check: {rating: {_lte: 5}}
)YAML";

class CompiledMutationTest : public OperationRunnerTest {
 protected:
  static void SetUpTestSuite() {
    OperationRunnerTest::SetUpTestSuite();
    test::exec(*url_,
               "create table authors (id serial primary key, name text not null unique);"
               "create table articles (id serial primary key, title text not null, author_id int "
               "not null references authors (id), rating int)");
    auto rows = test::query(*url_, std::string(catalog::catalog_query()));
    auto cat = catalog::parse_catalog(rows.at(0).at(0));
    ASSERT_TRUE(cat.ok()) << cat.error().message;
    auto md = metadata::parse_metadata(kBlogMetadata);
    ASSERT_TRUE(md.ok()) << md.error().message;
    auto schema = compiler::build_schema(*cat, *md);
    ASSERT_TRUE(schema.ok()) << schema.error().message;
    schema_ = new std::shared_ptr<const compiler::Schema>(*schema);
  }
  static void TearDownTestSuite() {
    delete schema_;
    OperationRunnerTest::TearDownTestSuite();
  }
  void SetUp() override {
    OperationRunnerTest::SetUp();
    app_.schema = *schema_;
    test::exec(*url_, "truncate authors, articles restart identity cascade");
  }
  static compiler::Session user(std::string id) {
    compiler::Session s = role("user");
    s.variables["x-hasura-user-id"] = std::move(id);
    return s;
  }
  Result<std::string> mutate(std::string query, compiler::Session session = role("admin")) {
    OperationRequest request;
    request.query = std::move(query);
    auto plan = plan_request(app_, session, request);
    if (!plan) return plan.take_error();
    return execute(std::move(*plan), std::move(session));
  }
  static std::string count(const std::string& table) {
    return test::query(*url_, "select count(*) from " + table).at(0).at(0);
  }
  static std::shared_ptr<const compiler::Schema>* schema_;
};
std::shared_ptr<const compiler::Schema>* CompiledMutationTest::schema_ = nullptr;

TEST_F(CompiledMutationTest, RootFieldsRunInOrderAndAnswerInRequestOrder) {
  auto data = mutate(R"(mutation {
      a: insert_authors_one(object: {name: "Ann", articles: {data: [{title: "A1", rating: 2}]}}) {
        name articles { title } }
      t: __typename
      u: update_articles(where: {title: {_eq: "A1"}}, _inc: {rating: 1}) {
        affected_rows returning { rating } }
      d: delete_articles_by_pk(id: 1) { title author { name } } })");
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ(boost::json::parse(*data), boost::json::parse(R"({
      "a": {"name": "Ann", "articles": [{"title": "A1"}]},
      "t": "mutation_root",
      "u": {"affected_rows": 1, "returning": [{"rating": 3}]},
      "d": {"title": "A1", "author": {"name": "Ann"}}})"));
  EXPECT_EQ(count("authors"), "1");
  EXPECT_EQ(count("articles"), "0");
}

// The second root field's insert fails its permission check: the first one's row is rolled
// back too, and the error is Hasura's, at the failing field's rows argument.
TEST_F(CompiledMutationTest, AFailedCheckRollsBackEveryRootField) {
  test::exec(*url_, "insert into authors (name) values ('Ann'), ('Ben')");
  auto data = mutate(R"(mutation {
      insert_authors(objects: [{name: "Cleo"}]) { affected_rows }
      insert_articles(objects: [{title: "mine", author_id: 1}, {title: "not", author_id: 2}]) {
        affected_rows } })",
                     user("1"));
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.error().code, ErrorCode::kPermissionError);
  EXPECT_EQ(data.error().message, "check constraint of an insert/update permission has failed");
  EXPECT_EQ(data.error().path, "$.selectionSet.insert_articles.args.objects");
  EXPECT_EQ(count("authors"), "2");
  EXPECT_EQ(count("articles"), "0");

  // An update whose result fails the update check: path "$", nothing written.
  test::exec(*url_, "insert into articles (title, author_id, rating) values ('x', 1, 1)");
  auto update = mutate(R"(mutation { update_articles(where: {}, _set: {rating: 9}) {
                            affected_rows } })",
                       user("1"));
  ASSERT_FALSE(update.ok());
  EXPECT_EQ(update.error().code, ErrorCode::kPermissionError);
  EXPECT_EQ(update.error().path, "$");
  EXPECT_EQ(test::query(*url_, "select rating from articles").at(0).at(0), "1");
}

TEST_F(CompiledMutationTest, AUniqueViolationIsAConstraintViolation) {
  test::exec(*url_, "insert into authors (name) values ('Ann')");
  auto data = mutate(R"(mutation { insert_authors(objects: [{name: "Ann"}]) { affected_rows } })",
                     user("1"));
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.error().code, ErrorCode::kConstraintViolation);
  EXPECT_EQ(data.error().message,
            "Uniqueness violation. duplicate key value violates unique constraint "
            "\"authors_name_key\"");
  EXPECT_EQ(data.error().path, "$.selectionSet.insert_authors.args.objects");
}

// `returning` shows every written row (as Hasura: the select permission's filter does not hide
// a row the role just wrote), with the select permission's columns only.
TEST_F(CompiledMutationTest, ReturningShowsWrittenRowsWithTheSelectColumns) {
  test::exec(*url_, "insert into authors (name) values ('Ann'), ('Ben')");
  test::exec(*url_,
             "insert into articles (title, author_id) values ('a', 1), ('b', 2), ('hidden', 2)");
  auto data = mutate(R"(mutation { update_articles(where: {}, _set: {rating: 1}) {
                          affected_rows returning { title } } })",
                     user("2"));
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ(boost::json::parse(*data), boost::json::parse(R"({"update_articles":
      {"affected_rows": 2, "returning": [{"title": "b"}, {"title": "hidden"}]}})"));
  EXPECT_EQ(test::query(*url_, "select count(*) from articles where rating = 1").at(0).at(0), "2");
}

}  // namespace
}  // namespace liveql::server
