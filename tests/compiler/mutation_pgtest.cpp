// Mutation SQL against a real PostgreSQL: IR built by hand, statements run with libpq inside a
// transaction rolled back after each test (every test starts from the seeded rows). Every value
// goes through vars, and each run checks that no string value appears in the SQL text.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "liveql/compiler/ir_mutation.hpp"
#include "liveql/compiler/pg_error.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/compiler/sql_mutation.hpp"
#include "support/test_db.hpp"

namespace liveql {
namespace {

namespace json = boost::json;
using K = ir::BoolExp::Kind;
using MK = ir::MutationField::Kind;
using Op = ir::ColumnUpdate::Op;
using Out = ir::MutationOutputField::Kind;

constexpr const char* kSchema = R"sql(
create table authors (id serial primary key, name text not null unique,
  is_registered boolean not null default false, tenant text);
create table articles (id serial primary key, title text not null,
  author_id int not null references authors, meta jsonb, version int not null default 1,
  rating int check (rating between 0 and 5), published boolean not null default false);
create table tags (article_id int not null references articles on delete cascade,
  tag text not null, primary key (article_id, tag));
create table notes (body text);
insert into authors (id, name, tenant) values (1, 'Ann', 't1'), (2, 'Ben', 't2');
select setval('authors_id_seq', 2);
insert into articles (id, title, author_id, meta) values
  (1, 'A1', 1, '{"a": 1, "list": [1, 2, 3], "deep": {"x": 1, "y": 2}}'),
  (2, 'A2', 1, null), (3, 'B1', 2, '{}');
select setval('articles_id_seq', 3);
insert into tags values (1, 'x'), (1, 'y'), (3, 'z');
)sql";

catalog::QualifiedName tbl(const std::string& name) { return {"public", name}; }

ir::Join join(std::string name, std::string target, std::string parent_col, std::string child_col,
              bool is_array) {
  return ir::Join{std::move(name), tbl(target), {{parent_col, child_col}}, is_array};
}
ir::Join article_author() { return join("author", "authors", "author_id", "id", false); }
ir::Join author_articles() { return join("articles", "articles", "id", "author_id", true); }
ir::Join article_tags() { return join("tags", "tags", "id", "article_id", true); }

std::vector<std::string> pk_of(const std::string& table) {
  if (table == "tags") return {"article_id", "tag"};
  if (table == "notes") return {};
  return {"id"};
}

ir::Field col(std::string column, std::string type = "text") {
  ir::Field f;
  f.kind = ir::Field::Kind::kColumn;
  f.alias = column;
  f.column = std::move(column);
  f.pg_type = std::move(type);
  return f;
}

ir::Select sel(const std::string& table, std::vector<ir::Field> fields,
               std::vector<ir::OrderBy> order = {}) {
  ir::Select s;
  s.table = tbl(table);
  s.primary_key = pk_of(table);
  s.fields = std::move(fields);
  s.order_by = std::move(order);
  return s;
}

ir::OrderBy by(std::string column) {
  ir::OrderBy o;
  o.column = std::move(column);
  return o;
}

ir::Field rel(std::string alias, ir::Join j, ir::Select s) {
  ir::Field f;
  f.kind = j.is_array ? ir::Field::Kind::kArrayRel : ir::Field::Kind::kObjectRel;
  f.alias = std::move(alias);
  f.join = std::move(j);
  f.select = std::make_shared<ir::Select>(std::move(s));
  return f;
}

ir::MutationOutputField affected(std::string alias = "affected_rows") {
  ir::MutationOutputField o;
  o.kind = Out::kAffectedRows;
  o.alias = std::move(alias);
  return o;
}
ir::MutationOutputField returning(ir::Select s, std::string alias = "returning") {
  ir::MutationOutputField o;
  o.kind = Out::kReturning;
  o.alias = std::move(alias);
  o.returning = std::move(s);
  return o;
}
ir::MutationOutputField typename_field(std::string name) {
  ir::MutationOutputField o;
  o.kind = Out::kTypename;
  o.alias = "__typename";
  o.typename_ = std::move(name);
  return o;
}

ir::BoolExpPtr and_(std::vector<ir::BoolExpPtr> children) {
  auto e = std::make_shared<ir::BoolExp>();
  e->kind = K::kAnd;
  e->children = std::move(children);
  return e;
}
ir::BoolExpPtr through(ir::Join j, ir::BoolExpPtr inner) {
  auto e = std::make_shared<ir::BoolExp>();
  e->kind = K::kRelationship;
  e->join = std::move(j);
  e->inner = std::move(inner);
  return e;
}

// column op other_column, the other column `levels_up` relationship levels out.
ir::BoolExpPtr columns(std::string column, ir::CompareOp op, std::string other, int levels_up = 0) {
  auto e = std::make_shared<ir::BoolExp>();
  e->kind = K::kCompareColumns;
  e->column = std::move(column);
  e->op = op;
  e->other_column = std::move(other);
  e->levels_up = levels_up;
  return e;
}

// Holds the request's vars; every value of a test enters through here.
struct Vars {
  json::object obj;
  int n = 0;
  ir::Param param(json::value v, std::string type) {
    std::string key = "p" + std::to_string(n++);
    obj[key] = std::move(v);
    return ir::Param{key, std::move(type), false};
  }
  ir::ColumnValue value(std::string column, json::value v, std::string type = "text") {
    return ir::ColumnValue{std::move(column), param(std::move(v), std::move(type))};
  }
  ir::BoolExpPtr cmp(std::string column, std::string type, ir::CompareOp op, json::value v) {
    auto e = std::make_shared<ir::BoolExp>();
    e->kind = K::kCompare;
    e->column = std::move(column);
    e->column_type = type;
    e->op = op;
    e->param = param(std::move(v), std::move(type));
    return e;
  }
  ir::BoolExpPtr eq(std::string column, json::value v, std::string type = "text") {
    return cmp(std::move(column), std::move(type), ir::CompareOp::kEq, std::move(v));
  }
  ir::ColumnUpdate update(Op op, std::string column, json::value v, std::string type) {
    return ir::ColumnUpdate{op, std::move(column), param(std::move(v), std::move(type))};
  }
};

ir::InsertRow row(std::vector<ir::ColumnValue> values) {
  ir::InsertRow r;
  r.values = std::move(values);
  return r;
}

std::shared_ptr<const ir::Insert> nested(const std::string& table, std::vector<ir::InsertRow> rows,
                                         ir::BoolExpPtr check = nullptr) {
  auto ins = std::make_shared<ir::Insert>();
  ins->table = tbl(table);
  ins->primary_key = pk_of(table);
  ins->rows = std::move(rows);
  ins->check = std::move(check);
  return ins;
}

ir::MutationField insert_field(const std::string& table, std::vector<ir::InsertRow> rows,
                               std::vector<ir::MutationOutputField> output) {
  ir::MutationField f;
  f.kind = MK::kInsert;
  f.alias = "insert_" + table;
  f.insert = *nested(table, std::move(rows));
  f.output = std::move(output);
  return f;
}

ir::MutationField update_field(const std::string& table, ir::BoolExpPtr where,
                               std::vector<ir::ColumnUpdate> set,
                               std::vector<ir::MutationOutputField> output) {
  ir::MutationField f;
  f.kind = MK::kUpdate;
  f.alias = "update_" + table;
  ir::Update u;
  u.table = tbl(table);
  u.primary_key = pk_of(table);
  u.where = std::move(where);
  u.set = std::move(set);
  f.updates.push_back(std::move(u));
  f.output = std::move(output);
  return f;
}

ir::MutationField delete_field(const std::string& table, ir::BoolExpPtr where,
                               std::vector<ir::MutationOutputField> output) {
  ir::MutationField f;
  f.kind = MK::kDelete;
  f.alias = "delete_" + table;
  f.del.table = tbl(table);
  f.del.where = std::move(where);
  f.output = std::move(output);
  return f;
}

void collect_strings(const json::value& v, std::vector<std::string>& out) {
  if (v.is_string()) out.emplace_back(v.as_string().c_str());
  if (v.is_array())
    for (const auto& e : v.as_array()) collect_strings(e, out);
  if (v.is_object())
    for (const auto& kv : v.as_object()) collect_strings(kv.value(), out);
}

// A statement's outcome: its data, or the error Hasura would answer.
struct Outcome {
  std::vector<json::value> data;  // one per statement
  std::optional<Error> error;
  std::string sqlstate;
};

class MutationSqlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = test::fresh_database("liveql_mutation_sql", kSchema);
    conn_ = PQconnectdb(url_.c_str());
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
  }
  static void TearDownTestSuite() {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  void SetUp() override { exec("BEGIN"); }
  void TearDown() override { exec("ROLLBACK"); }

  static void exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
        << PQresultErrorMessage(r) << "\n"
        << sql;
    PQclear(r);
  }

  // Runs the field's statements in order inside a savepoint; on an error, rolls back to it (as
  // the caller's transaction would roll back) and maps the error.
  static Outcome run(const ir::MutationField& field, const json::object& vars) {
    Outcome out;
    const std::vector<std::string> statements = sql::mutation_statements(field);
    EXPECT_FALSE(statements.empty());
    std::vector<std::string> strings;
    collect_strings(vars, strings);
    const std::string v = json::serialize(vars);
    exec("SAVEPOINT field");
    for (const auto& sql : statements) {
      for (const auto& s : strings) {
        EXPECT_EQ(sql.find(sql::quote_literal(s)), std::string::npos) << s << " in SQL: " << sql;
        if (s.size() >= 6) EXPECT_EQ(sql.find(s), std::string::npos) << s << " in SQL: " << sql;
      }
      const char* params[] = {v.c_str()};
      PGresult* r = PQexecParams(conn_, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
      if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const char* message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        out.sqlstate = state ? state : "";
        out.error = sql::mutation_error(out.sqlstate, message ? message : "");
        if (!out.error)
          out.error = make_error(ErrorCode::kPostgresError, PQresultErrorMessage(r) + sql);
        PQclear(r);
        exec("ROLLBACK TO SAVEPOINT field");
        return out;
      }
      EXPECT_EQ(PQntuples(r), 1) << sql;
      EXPECT_STREQ(PQfname(r, 0), "data");
      if (PQntuples(r) == 1) out.data.push_back(json::parse(PQgetvalue(r, 0, 0)));
      PQclear(r);
    }
    exec("RELEASE SAVEPOINT field");
    return out;
  }

  static json::value data(const ir::MutationField& field, const json::object& vars) {
    Outcome o = run(field, vars);
    if (o.error) {
      ADD_FAILURE() << o.sqlstate << " " << o.error->message;
      return nullptr;
    }
    return o.data.size() == 1 ? o.data[0] : json::value(nullptr);
  }

  static json::value sql_json(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    json::value out;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
      ADD_FAILURE() << PQresultErrorMessage(r) << "\n" << sql;
    else
      out = json::parse(PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
  }

  static std::string url_;
  static PGconn* conn_;
};
std::string MutationSqlTest::url_;
PGconn* MutationSqlTest::conn_ = nullptr;

TEST_F(MutationSqlTest, InsertsRowsWithDefaultsAndReturnsThem) {
  Vars v;
  auto f = insert_field(
      "authors",
      {row({v.value("name", "Cleo"), v.value("tenant", "t3")}),
       row({v.value("name", "Dora"), v.value("is_registered", true, "boolean")})},
      {affected(),
       returning(sel("authors", {col("name"), col("tenant"), col("is_registered", "boolean")})),
       typename_field("authors_mutation_response")});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 2, "returning": [
      {"name": "Cleo", "tenant": "t3", "is_registered": false},
      {"name": "Dora", "tenant": null, "is_registered": true}],
      "__typename": "authors_mutation_response"})"));
  EXPECT_EQ(sql_json("select json_agg(name order by id) from authors"),
            json::parse(R"(["Ann", "Ben", "Cleo", "Dora"])"));
}

TEST_F(MutationSqlTest, InsertOneReturnsTheRowObject) {
  Vars v;
  auto f = insert_field("authors", {row({v.value("name", "Cleo")})}, {});
  f.kind = MK::kInsertOne;
  f.returning_one = sel("authors", {col("name")});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"name": "Cleo"})"));
}

TEST_F(MutationSqlTest, InsertOfNoRowsWritesNothing) {
  auto f = insert_field("authors", {}, {affected(), returning(sel("authors", {col("name")}))});
  EXPECT_EQ(data(f, {}), json::parse(R"({"affected_rows": 0, "returning": []})"));
}

TEST_F(MutationSqlTest, InsertOfAnEmptyObjectUsesDefaults) {
  auto f = insert_field("notes", {row({}), row({})}, {affected()});
  EXPECT_EQ(data(f, {}), json::parse(R"({"affected_rows": 2})"));
  EXPECT_EQ(sql_json("select count(*) from notes where body is null"), json::value(2));
}

TEST_F(MutationSqlTest, NestedObjectRelationshipIsInsertedFirst) {
  Vars v;
  ir::InsertRow article = row({v.value("title", "New article")});
  article.object_relationships.push_back(
      {article_author(), nested("authors", {row({v.value("name", "Nested author")})})});
  auto f = insert_field(
      "articles", {article},
      {affected(), returning(sel("articles", {col("title"), rel("author", article_author(),
                                                                sel("authors", {col("name")}))}))});
  // The returning sees the author this statement inserted.
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 2, "returning": [
      {"title": "New article", "author": {"name": "Nested author"}}]})"));
  EXPECT_EQ(sql_json("select json_agg(a.name) from articles r join authors a on a.id = r.author_id "
                     "where r.title = 'New article'"),
            json::parse(R"(["Nested author"])"));
}

TEST_F(MutationSqlTest, ReturningWalksBackIntoTheRowsJustInserted) {
  // article -> its new author -> the author's articles and their count: the root row is there.
  Vars v;
  ir::InsertRow article = row({v.value("title", "Only article")});
  article.object_relationships.push_back(
      {article_author(), nested("authors", {row({v.value("name", "Fresh author")})})});
  ir::Field count;
  count.kind = ir::Field::Kind::kAggregate;
  count.alias = "articles_aggregate";
  count.join = author_articles();
  count.aggregate = std::make_shared<ir::Aggregate>();
  count.aggregate->rows = sel("articles", {});
  ir::AggregateField n;
  n.alias = "count";
  count.aggregate->aggregate_fields.push_back(n);
  count.aggregate->outputs.push_back({ir::Aggregate::Output::Kind::kAggregate, "aggregate", 0, 1});
  auto author = sel(
      "authors",
      {col("name"), rel("articles", author_articles(), sel("articles", {col("title")})), count});
  auto f = insert_field(
      "articles", {article},
      {returning(sel("articles", {col("title"), rel("author", article_author(), author)}))});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"returning": [{"title": "Only article",
      "author": {"name": "Fresh author", "articles": [{"title": "Only article"}],
                 "articles_aggregate": {"aggregate": {"count": 1}}}}]})"));
}

TEST_F(MutationSqlTest, NestedArrayRelationshipsAreInsertedAfterTheirParent) {
  Vars v;
  ir::InsertRow first = row({v.value("title", "First")});
  first.array_relationships.push_back(
      {article_tags(),
       nested("tags", {row({v.value("tag", "red")}), row({v.value("tag", "blue")})})});
  ir::InsertRow author = row({v.value("name", "Prolific")});
  author.array_relationships.push_back(
      {author_articles(), nested("articles", {first, row({v.value("title", "Second")})})});
  ir::InsertRow plain = row({v.value("name", "Plain")});
  auto f = insert_field(
      "authors", {author, plain},
      {affected(),
       returning(sel("authors", {col("name"), rel("articles", author_articles(),
                                                  sel("articles",
                                                      {col("title"),
                                                       rel("tags", article_tags(),
                                                           sel("tags", {col("tag")}, {by("tag")}))},
                                                      {by("title")}))}))});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 6, "returning": [
      {"name": "Prolific", "articles": [
         {"title": "First", "tags": [{"tag": "blue"}, {"tag": "red"}]},
         {"title": "Second", "tags": []}]},
      {"name": "Plain", "articles": []}]})"));
  EXPECT_EQ(sql_json("select json_agg(t.tag order by t.tag) from tags t join articles r on "
                     "r.id = t.article_id join authors a on a.id = r.author_id "
                     "where a.name = 'Prolific'"),
            json::parse(R"(["blue", "red"])"));
}

TEST_F(MutationSqlTest, OnConflictDoNothingSkipsTheRow) {
  Vars v;
  auto f = insert_field("authors", {row({v.value("name", "Ann")}), row({v.value("name", "Cleo")})},
                        {affected(), returning(sel("authors", {col("name")}))});
  f.insert.on_conflict = ir::OnConflict{"authors_name_key", {}, {}, nullptr, nullptr};
  EXPECT_EQ(data(f, v.obj),
            json::parse(R"({"affected_rows": 1, "returning": [{"name": "Cleo"}]})"));
}

TEST_F(MutationSqlTest, OnConflictUpdateUpdatesTheExistingRowWhereAllowed) {
  Vars v;
  auto f = insert_field(
      "authors",
      {row({v.value("name", "Ann"), v.value("tenant", "moved")}),
       row({v.value("name", "Ben"), v.value("tenant", "moved too")})},
      {affected(),
       returning(sel("authors", {col("name"), col("tenant"), col("is_registered", "boolean")}))});
  // Only Ann's row may be updated; the update permission's preset sets is_registered.
  f.insert.on_conflict = ir::OnConflict{"authors_name_key",
                                        {"tenant"},
                                        {v.value("is_registered", true, "boolean")},
                                        v.eq("tenant", "t1"),
                                        nullptr};
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 1, "returning": [
      {"name": "Ann", "tenant": "moved", "is_registered": true}]})"));
  EXPECT_EQ(sql_json("select json_agg(tenant order by id) from authors"),
            json::parse(R"(["moved", "t2"])"));
}

TEST_F(MutationSqlTest, UpsertReturningSeesTheNewVersionOnce) {
  Vars v;
  ir::InsertRow article = row({v.value("title", "Upserted")});
  article.object_relationships.push_back(
      {article_author(),
       nested("authors", {row({v.value("name", "Ann"), v.value("tenant", "new")})})});
  auto f = insert_field(
      "articles", {article},
      {returning(sel("articles", {col("title"), rel("author", article_author(),
                                                    sel("authors", {col("tenant")}))}))});
  auto author = std::make_shared<ir::Insert>(*f.insert.rows[0].object_relationships[0].insert);
  author->on_conflict = ir::OnConflict{"authors_name_key", {"tenant"}, {}, nullptr, nullptr};
  f.insert.rows[0].object_relationships[0].insert = author;
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"returning": [
      {"title": "Upserted", "author": {"tenant": "new"}}]})"));
}

TEST_F(MutationSqlTest, NestedInsertUnderAnUpsertThatDidNothingFails) {
  // The object row conflicts and is not written: the parent has no author to link to.
  Vars v;
  ir::InsertRow article = row({v.value("title", "Orphan")});
  auto author = nested("authors", {row({v.value("name", "Ann")})});
  std::const_pointer_cast<ir::Insert>(author)->on_conflict =
      ir::OnConflict{"authors_name_key", {}, {}, nullptr, nullptr};
  article.object_relationships.push_back({article_author(), author});
  Outcome o = run(insert_field("articles", {article}, {affected()}), v.obj);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, ErrorCode::kNotSupported);
  EXPECT_EQ(o.error->message,
            "cannot proceed to insert object relation \"author\" since insert to table "
            "\"authors\" affects zero rows");

  // The parent conflicts and is not written: its articles have no author.
  Vars w;
  ir::InsertRow parent = row({w.value("name", "Ben")});
  parent.array_relationships.push_back(
      {author_articles(), nested("articles", {row({w.value("title", "Orphan too")})})});
  auto f = insert_field("authors", {parent}, {affected()});
  f.insert.on_conflict = ir::OnConflict{"authors_name_key", {}, {}, nullptr, nullptr};
  o = run(f, w.obj);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, ErrorCode::kNotSupported);
  EXPECT_EQ(o.error->message,
            "cannot proceed to insert array relations since insert to table \"authors\" affects "
            "zero rows");
  EXPECT_EQ(sql_json("select count(*) from articles where title like 'Orphan%'"), json::value(0));
}

TEST_F(MutationSqlTest, InsertCheckPassesAndFailsPerRow) {
  Vars v;
  auto f = insert_field("authors",
                        {row({v.value("name", "Cleo"), v.value("tenant", "t1")}),
                         row({v.value("name", "Dora"), v.value("tenant", "t1")})},
                        {affected()});
  f.insert.check = v.eq("tenant", "t1");
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 2})"));

  Vars w;
  auto bad = insert_field("authors",
                          {row({w.value("name", "Eve"), w.value("tenant", "t1")}),
                           row({w.value("name", "Fay"), w.value("tenant", "t2")})},
                          {affected()});
  bad.insert.check = w.eq("tenant", "t1");
  Outcome o = run(bad, w.obj);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, ErrorCode::kPermissionError);
  EXPECT_EQ(o.error->message, "check constraint of an insert/update permission has failed");
  EXPECT_EQ(sql_json("select count(*) from authors where name in ('Eve', 'Fay')"), json::value(0));
}

TEST_F(MutationSqlTest, CheckWithNullIsAFailure) {
  Vars v;
  auto f = insert_field("authors", {row({v.value("name", "Cleo")})}, {affected()});
  f.insert.check = v.eq("tenant", "t1");  // tenant NULL: unknown
  Outcome o = run(f, v.obj);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, ErrorCode::kPermissionError);
}

TEST_F(MutationSqlTest, NestedCheckThroughARelationshipSeesTheNewParent) {
  // The article's check reads its author, inserted by the same statement.
  Vars v;
  ir::InsertRow article = row({v.value("title", "Checked")});
  article.object_relationships.push_back(
      {article_author(),
       nested("authors", {row({v.value("name", "Cleo"), v.value("tenant", "t9")})})});
  auto f = insert_field("articles", {article}, {affected()});
  f.insert.check = through(article_author(), v.eq("tenant", "t9"));
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 2})"));

  // An array child whose check fails rolls the parent back too.
  Vars w;
  ir::InsertRow author = row({w.value("name", "Dora"), w.value("tenant", "t9")});
  author.array_relationships.push_back(
      {author_articles(), nested("articles", {row({w.value("title", "Denied")})},
                                 through(article_author(), w.eq("tenant", "other")))});
  auto bad = insert_field("authors", {author}, {affected()});
  Outcome o = run(bad, w.obj);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, ErrorCode::kPermissionError);
  EXPECT_EQ(sql_json("select count(*) from authors where name = 'Dora'"), json::value(0));
}

// Hasura's column comparison operators: {"version": {"_clte": "rating"}} compares two columns of
// the row, {"author": {"name": {"_ceq": ["$", "title"]}}} the related row with the checked one.
TEST_F(MutationSqlTest, ColumnComparisonsInChecks) {
  Vars v;
  auto f = insert_field("articles",
                        {row({v.value("title", "Ann"), v.value("author_id", 1, "integer"),
                              v.value("rating", 3, "integer")})},
                        {affected()});
  f.insert.check =
      and_({columns("version", ir::CompareOp::kLte, "rating"),
            through(article_author(), columns("name", ir::CompareOp::kEq, "title", 1))});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 1})"));

  for (auto [title, rating] : {std::pair{"Ben", 3}, std::pair{"Ann", 0}}) {
    Vars w;
    auto bad = insert_field("articles",
                            {row({w.value("title", title), w.value("author_id", 1, "integer"),
                                  w.value("rating", rating, "integer")})},
                            {affected()});
    bad.insert.check = f.insert.check;
    Outcome o = run(bad, w.obj);
    ASSERT_TRUE(o.error) << title;
    EXPECT_EQ(o.error->code, ErrorCode::kPermissionError);
  }
  EXPECT_EQ(sql_json("select count(*) from articles where title in ('Ann', 'Ben')"),
            json::value(1));
}

TEST_F(MutationSqlTest, UpsertChecksTheUpdatePermissionOnUpdatedRows) {
  Vars v;
  auto f = insert_field("authors", {row({v.value("name", "Ben"), v.value("tenant", "t1")})},
                        {affected()});
  f.insert.check = v.eq("tenant", "t1");  // the insert check would pass
  f.insert.on_conflict =
      ir::OnConflict{"authors_name_key", {"tenant"}, {}, nullptr, v.eq("name", "Ann")};
  Outcome o = run(f, v.obj);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, ErrorCode::kPermissionError);
  EXPECT_EQ(sql_json("select to_json(tenant) from authors where name = 'Ben'"), json::value("t2"));
}

TEST_F(MutationSqlTest, FailedFieldRollsBackEarlierFields) {
  exec("SAVEPOINT operation");
  Vars v;
  auto first = insert_field("authors", {row({v.value("name", "Cleo")})}, {affected()});
  EXPECT_EQ(data(first, v.obj), json::parse(R"({"affected_rows": 1})"));
  auto second = update_field("authors", v.eq("name", "Ben"),
                             {v.update(Op::kSet, "tenant", "t3", "text")}, {affected()});
  second.updates[0].check = v.eq("tenant", "t2");
  Outcome o = run(second, v.obj);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, ErrorCode::kPermissionError);
  exec("ROLLBACK TO SAVEPOINT operation");
  EXPECT_EQ(sql_json("select count(*) from authors where name = 'Cleo'"), json::value(0));
  EXPECT_EQ(sql_json("select to_json(tenant) from authors where name = 'Ben'"), json::value("t2"));
}

TEST_F(MutationSqlTest, UpdateOperators) {
  Vars v;
  auto f = update_field(
      "articles", v.eq("id", 1, "integer"),
      {v.update(Op::kSet, "title", "Renamed", "text"), v.update(Op::kInc, "version", 2, "integer"),
       v.update(Op::kDeleteAtPath, "meta", json::array{"deep", "x"}, "text[]")},
      {affected(), returning(sel("articles", {col("title"), col("version", "integer"),
                                              col("meta", "jsonb")}))});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 1, "returning": [
      {"title": "Renamed", "version": 3, "meta": {"a": 1, "list": [1, 2, 3], "deep": {"y": 2}}}]})"));

  auto jsonb_op = [&](Op op, json::value arg, const std::string& type) {
    Vars w;
    auto g = update_field("articles", w.eq("id", 1, "integer"), {w.update(op, "meta", arg, type)},
                          {returning(sel("articles", {col("meta", "jsonb")}))});
    return data(g, w.obj).at("returning").at(0).at("meta");
  };
  EXPECT_EQ(jsonb_op(Op::kAppend, json::parse(R"({"b": 2})"), "jsonb"),
            json::parse(R"({"a": 1, "b": 2, "list": [1, 2, 3], "deep": {"y": 2}})"));
  EXPECT_EQ(jsonb_op(Op::kPrepend, json::parse(R"({"a": 0, "c": 3})"), "jsonb"),
            json::parse(R"({"a": 1, "b": 2, "c": 3, "list": [1, 2, 3], "deep": {"y": 2}})"));
  EXPECT_EQ(jsonb_op(Op::kDeleteKey, "b", "text"),
            json::parse(R"({"a": 1, "c": 3, "list": [1, 2, 3], "deep": {"y": 2}})"));
  // _delete_elem works on arrays: on an object, PostgreSQL refuses (a data-exception).
  Vars w;
  auto elem = update_field("articles", w.eq("id", 1, "integer"),
                           {w.update(Op::kDeleteElem, "meta", 0, "integer")}, {affected()});
  Outcome o = run(elem, w.obj);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->code, ErrorCode::kDataException) << o.error->message;
  EXPECT_EQ(jsonb_op(Op::kDeleteAtPath, json::array{"list", "0"}, "text[]"),
            json::parse(R"({"a": 1, "c": 3, "list": [2, 3], "deep": {"y": 2}})"));
  exec("UPDATE articles SET meta = '[1, 2, 3]' WHERE id = 1");
  EXPECT_EQ(jsonb_op(Op::kDeleteElem, -1, "integer"), json::parse("[1, 2]"));
}

TEST_F(MutationSqlTest, UpdateWithFilterAndRelationshipInReturning) {
  Vars v;
  // Ann's articles only (the filter goes through the author relationship).
  auto f = update_field(
      "articles", through(article_author(), v.eq("name", "Ann")),
      {v.update(Op::kSet, "published", true, "boolean")},
      {affected(), returning(sel("articles",
                                 {col("title"), col("published", "boolean"),
                                  rel("author", article_author(), sel("authors", {col("name")}))},
                                 {by("title")}))});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 2, "returning": [
      {"title": "A1", "published": true, "author": {"name": "Ann"}},
      {"title": "A2", "published": true, "author": {"name": "Ann"}}]})"));
  EXPECT_EQ(sql_json("select json_agg(published order by id) from articles"),
            json::parse("[true, true, false]"));
}

TEST_F(MutationSqlTest, UpdateByPkReturnsTheRowOrNull) {
  Vars v;
  auto f = update_field("authors", v.eq("id", 2, "integer"),
                        {v.update(Op::kSet, "name", "Benjamin", "text")}, {});
  f.kind = MK::kUpdateByPk;
  f.returning_one = sel("authors", {col("name")});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"name": "Benjamin"})"));
  Vars w;
  auto none = update_field("authors", w.eq("id", 99, "integer"),
                           {w.update(Op::kSet, "name", "Nobody", "text")}, {});
  none.kind = MK::kUpdateByPk;
  none.returning_one = sel("authors", {col("name")});
  EXPECT_EQ(data(none, w.obj), json::value(nullptr));
}

TEST_F(MutationSqlTest, UpdateWithoutColumnsReturnsTheRowsAsTheyAre) {
  Vars v;
  auto f = update_field("authors", v.eq("id", 1, "integer"), {},
                        {affected(), returning(sel("authors", {col("name")}))});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 1, "returning": [{"name": "Ann"}]})"));
}

TEST_F(MutationSqlTest, UpdateManyRunsInOrderAndSeesEarlierUpdates) {
  Vars v;
  auto f = update_field("articles", v.eq("id", 2, "integer"),
                        {v.update(Op::kInc, "version", 10, "integer")},
                        {affected(), returning(sel("articles", {col("version", "integer")}))});
  f.kind = MK::kUpdateMany;
  ir::Update second = f.updates[0];
  second.where = v.cmp("version", "integer", ir::CompareOp::kGt, 5);
  second.set = {v.update(Op::kInc, "version", 1, "integer")};
  f.updates.push_back(second);
  Outcome o = run(f, v.obj);
  ASSERT_FALSE(o.error) << o.error->message;
  ASSERT_EQ(o.data.size(), 2u);
  EXPECT_EQ(o.data[0], json::parse(R"({"affected_rows": 1, "returning": [{"version": 11}]})"));
  EXPECT_EQ(o.data[1], json::parse(R"({"affected_rows": 1, "returning": [{"version": 12}]})"));
}

TEST_F(MutationSqlTest, DeleteReturnsTheDeletedRowsWithRelationships) {
  Vars v;
  auto f = delete_field(
      "articles", v.eq("author_id", 1, "integer"),
      {affected(),
       returning(sel("articles",
                     {col("title"), rel("author", article_author(), sel("authors", {col("name")}))},
                     {by("title")}))});
  // Two articles plus, by cascade, tags the statement does not count.
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"affected_rows": 2, "returning": [
      {"title": "A1", "author": {"name": "Ann"}}, {"title": "A2", "author": {"name": "Ann"}}]})"));
  EXPECT_EQ(sql_json("select json_agg(title) from articles"), json::parse(R"(["B1"])"));
}

TEST_F(MutationSqlTest, DeleteByPkReturnsTheRowOrNull) {
  Vars v;
  auto f = delete_field("tags", and_({v.eq("article_id", 3, "integer"), v.eq("tag", "z")}), {});
  f.kind = MK::kDeleteByPk;
  f.returning_one = sel("tags", {col("tag")});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"tag": "z"})"));
  EXPECT_EQ(data(f, v.obj), json::value(nullptr));
}

TEST_F(MutationSqlTest, ReturningAppliesTheSelectPermissionFilter) {
  Vars v;
  auto visible = sel("authors", {col("name")});
  visible.where = v.eq("tenant", "t3");
  auto f = insert_field("authors",
                        {row({v.value("name", "Cleo"), v.value("tenant", "t3")}),
                         row({v.value("name", "Dora"), v.value("tenant", "t4")})},
                        {affected(), returning(visible)});
  EXPECT_EQ(data(f, v.obj),
            json::parse(R"({"affected_rows": 2, "returning": [{"name": "Cleo"}]})"));
}

TEST_F(MutationSqlTest, PresetsAreValuesLikeAnyOther) {
  // A session variable preset arrives as a param like a request value.
  Vars v;
  auto f = insert_field("authors", {row({v.value("name", "Cleo"), v.value("tenant", "session-t")})},
                        {returning(sel("authors", {col("tenant")}))});
  EXPECT_EQ(data(f, v.obj), json::parse(R"({"returning": [{"tenant": "session-t"}]})"));
}

struct ErrorCase {
  std::string name;
  std::function<ir::MutationField(Vars&)> field;
  ErrorCode code;
  std::string message;  // prefix
};

TEST_F(MutationSqlTest, ConstraintErrorsMapToHasurasErrors) {
  const std::vector<ErrorCase> cases = {
      {"unique",
       [](Vars& v) {
         return insert_field("authors", {row({v.value("name", "Ann")})}, {affected()});
       },
       ErrorCode::kConstraintViolation,
       "Uniqueness violation. duplicate key value violates unique constraint \"authors_name_key\""},
      {"foreign key",
       [](Vars& v) {
         return insert_field("articles",
                             {row({v.value("title", "x"), v.value("author_id", 99, "integer")})},
                             {affected()});
       },
       ErrorCode::kConstraintViolation,
       "Foreign key violation. insert or update on table \"articles\" violates foreign key "
       "constraint \"articles_author_id_fkey\""},
      {"foreign key on delete",
       [](Vars& v) { return delete_field("authors", v.eq("id", 1, "integer"), {affected()}); },
       ErrorCode::kConstraintViolation,
       "Foreign key violation. update or delete on table \"authors\" violates foreign key "
       "constraint \"articles_author_id_fkey\" on table \"articles\""},
      {"not null",
       [](Vars& v) {
         return insert_field("articles", {row({v.value("title", "x")})}, {affected()});
       },
       ErrorCode::kConstraintViolation, "Not-NULL violation. null value in column \"author_id\""},
      {"check",
       [](Vars& v) {
         return update_field("articles", v.eq("id", 1, "integer"),
                             {v.update(Op::kSet, "rating", 9, "integer")}, {affected()});
       },
       ErrorCode::kPermissionError,
       "Check constraint violation. new row for relation \"articles\" violates check constraint "
       "\"articles_rating_check\""},
      {"data",
       [](Vars& v) {
         return update_field("articles", v.eq("id", 1, "integer"),
                             {v.update(Op::kSet, "version", "many", "integer")}, {affected()});
       },
       ErrorCode::kDataException, "invalid input syntax for type integer"},
      {"unknown constraint",
       [](Vars& v) {
         auto f = insert_field("authors", {row({v.value("name", "Zed")})}, {affected()});
         f.insert.on_conflict = ir::OnConflict{"no_such_constraint", {}, {}, nullptr, nullptr};
         return f;
       },
       ErrorCode::kConstraintError, "constraint \"no_such_constraint\""},
  };
  for (const auto& c : cases) {
    Vars v;
    Outcome o = run(c.field(v), v.obj);
    ASSERT_TRUE(o.error) << c.name;
    EXPECT_EQ(o.error->code, c.code) << c.name << ": " << o.sqlstate << " " << o.error->message;
    EXPECT_EQ(o.error->message.substr(0, c.message.size()), c.message) << c.name;
  }
}

}  // namespace
}  // namespace liveql
