// Tracked SQL functions and computed fields against a real PostgreSQL: the functions read from
// pg_proc by the catalog statement, root fields with `args` (defaults, the session argument),
// their aggregates, scalar and table computed fields in selections, filters, order_by and
// permissions, single and multiplexed, and the dependencies that make such cohorts poll.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "compiled_pg_test.hpp"
#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/sql.hpp"
#include "support/test_db.hpp"

namespace liveql {
namespace {

namespace json = boost::json;

constexpr const char* kSetup = R"sql(
create table shelf (id serial primary key, label text not null, owner_id int not null);
create table book (
  id serial primary key,
  title text not null,
  pages int not null,
  shelf_id int not null references shelf(id)
);
insert into shelf (label, owner_id) values ('fiction', 1), ('poetry', 2);
insert into book (title, pages, shelf_id) values
  ('Dune', 600, 1), ('Emma', 400, 1), ('Odes', 90, 2), ('Dubliners', 250, 1);

create function books_longer_than(min_pages int, max_rows int default 100)
returns setof book as $$
  select * from book where pages > min_pages order by id limit max_rows
$$ language sql stable;

create function my_shelves(hasura_session json)
returns setof shelf as $$
  select * from shelf where owner_id = (hasura_session ->> 'x-hasura-user-id')::int
$$ language sql stable;

create function first_book() returns book as $$
  select * from book order by id limit 1
$$ language sql stable;

create function shelf_books(s shelf, prefix text) returns setof book as $$
  select * from book where shelf_id = s.id and title like prefix || '%'
$$ language sql stable;

create function shelf_all_books(s shelf) returns setof book as $$
  select * from book where shelf_id = s.id
$$ language sql stable;

create function shelf_pages(shelf) returns bigint as $$
  select sum(pages) from book where shelf_id = $1.id
$$ language sql stable;

create function book_score(b book, weight int) returns int as $$
  select b.pages * weight
$$ language sql stable;

create function add_book(title text) returns setof book as $$
  insert into book (title, pages, shelf_id) values (title, 1, 1) returning *
$$ language sql volatile;

create function pages_plus(b book, hasura_session json) returns int as $$
  select b.pages + coalesce((hasura_session ->> 'x-hasura-extra')::int, 0)
$$ language sql stable;
)sql";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: shelf}
    computed_fields:
    - name: books_with_prefix
      definition: {function: {schema: public, name: shelf_books}, table_argument: s}
    - name: all_books
      definition: {function: {schema: public, name: shelf_all_books}}
    - name: total_pages
      definition: {function: shelf_pages}
      comment: pages on the shelf
    select_permissions:
    - role: reader
      permission:
        columns: [id, label]
        computed_fields: [total_pages]
        filter: {owner_id: {_eq: X-Hasura-User-Id}}
    - role: guest
      permission:
        columns: [label]
        filter: {}
  - table: {schema: public, name: book}
    computed_fields:
    - name: score
      definition: {function: book_score}
    - name: pages_plus
      definition: {function: pages_plus, table_argument: b, session_argument: hasura_session}
    select_permissions:
    - role: reader
      permission:
        columns: [id, title, pages]
        computed_fields: [pages_plus]
        filter: {pages: {_lt: 500}}
        allow_aggregations: true
  functions:
  - function: {schema: public, name: books_longer_than}
  - function: {schema: public, name: my_shelves}
    configuration: {session_argument: hasura_session, custom_root_fields: {function: mine}}
  - function: first_book
  - function: add_book
)YAML";

class FunctionsPgTest : public test::CompiledPgTest<FunctionsPgTest> {
 public:
  static constexpr const char* kDatabase = "liveql_functions_test";
  static constexpr const char* kSetup = liveql::kSetup;
  static constexpr const char* kMetadata = liveql::kMetadata;

  static compiler::Session reader(std::string user) {
    compiler::Session s;
    s.role = "reader";
    s.is_admin = false;
    s.variables["x-hasura-role"] = "reader";
    s.variables["x-hasura-user-id"] = std::move(user);
    return s;
  }

  static Error compile_error(std::string_view q, const compiler::Session& s = {}) {
    compiler::Request r;
    r.query = q;
    auto op = compiler::compile(*schema_, r, s);
    EXPECT_FALSE(op.ok());
    return op.ok() ? Error{} : op.error();
  }
};

TEST_F(FunctionsPgTest, CatalogReadsFunctionsFromPgProc) {
  auto rows = test::query(url_, std::string(catalog::catalog_query()));
  auto cat = catalog::parse_catalog(rows.at(0).at(0));
  ASSERT_TRUE(cat.ok()) << cat.error().message;
  const catalog::Function* f = cat->function({"public", "books_longer_than"});
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->returns_set);
  EXPECT_EQ(f->volatility, 's');
  EXPECT_EQ(f->return_kind, 'c');
  EXPECT_EQ(f->return_type.udt_name, "book");
  ASSERT_EQ(f->arguments.size(), 2u);
  EXPECT_EQ(f->arguments[0].name, "min_pages");
  EXPECT_FALSE(f->arguments[0].has_default);
  EXPECT_EQ(f->arguments[1].type.udt_name, "int4");
  EXPECT_TRUE(f->arguments[1].has_default);
  const catalog::Function* pages = cat->function({"public", "shelf_pages"});
  ASSERT_NE(pages, nullptr);
  EXPECT_EQ(pages->arguments.at(0).name, "");
  EXPECT_EQ(pages->return_kind, 'b');
  EXPECT_EQ(cat->function({"public", "add_book"})->volatility, 'v');
  // The tables are still all there, functions listed after them.
  EXPECT_NE(cat->table({"public", "book"}), nullptr);
}

TEST_F(FunctionsPgTest, RootFunctionWithArgumentsAndDefaults) {
  EXPECT_EQ(query(R"({
      all: books_longer_than(args: {min_pages: 200}) { title }
      two: books_longer_than(args: {min_pages: 200, max_rows: 2}, order_by: {title: desc})
        { title }
      filtered: books_longer_than(args: {min_pages: 0}, where: {title: {_like: "D%"}},
        limit: 1, offset: 1, order_by: {id: asc}) { id }
      one: first_book { title }
    })"),
            json::parse(R"({
      "all": [{"title": "Dune"}, {"title": "Emma"}, {"title": "Dubliners"}],
      "two": [{"title": "Emma"}, {"title": "Dune"}],
      "filtered": [{"id": 4}],
      "one": {"title": "Dune"}})"));
}

TEST_F(FunctionsPgTest, FunctionAggregate) {
  EXPECT_EQ(query(R"({ books_longer_than_aggregate(args: {min_pages: 300}) {
      aggregate { count sum { pages } } nodes { title } } })"),
            json::parse(R"({"books_longer_than_aggregate": {
      "aggregate": {"count": 2, "sum": {"pages": 1000}},
      "nodes": [{"title": "Dune"}, {"title": "Emma"}]}})"));
}

TEST_F(FunctionsPgTest, SessionArgumentIsFilledAndHidden) {
  EXPECT_EQ(query("{ mine { label } }", "{}", reader("2")),
            json::parse(R"({"mine": [{"label": "poetry"}]})"));
  // The session argument is not an input: my_shelves has no args at all.
  Error e = compile_error("{ mine(args: {hasura_session: \"{}\"}) { label } }", reader("2"));
  EXPECT_EQ(e.message, "'mine' has no argument named 'args'");
}

TEST_F(FunctionsPgTest, ReturnTablePermissionFiltersTheRows) {
  // reader sees books under 500 pages only, whatever the function returns.
  EXPECT_EQ(query("{ books_longer_than(args: {min_pages: 200}) { title } }", "{}", reader("1")),
            json::parse(R"({"books_longer_than": [{"title": "Emma"}, {"title": "Dubliners"}]})"));
  // guest may not select book: no function field (inferred function permissions).
  compiler::Session guest;
  guest.role = "guest";
  guest.is_admin = false;
  Error e = compile_error("{ books_longer_than(args: {min_pages: 1}) { title } }", guest);
  EXPECT_EQ(e.message, "field 'books_longer_than' not found in type: 'query_root'");
}

TEST_F(FunctionsPgTest, OmittedArgumentsAsHasura) {
  Error e = compile_error("{ books_longer_than(args: {max_rows: 1}) { title } }");
  EXPECT_EQ(e.code, ErrorCode::kNotSupported);
  EXPECT_EQ(e.message, "Non default arguments cannot be omitted");
  EXPECT_EQ(e.path, "$.selectionSet.books_longer_than.args.args");
}

TEST_F(FunctionsPgTest, VolatileFunctionIsNotAQuery) {
  Error e = compile_error("{ add_book(args: {title: \"x\"}) { id } }");
  EXPECT_EQ(e.message, "field 'add_book' not found in type: 'query_root'");
}

TEST_F(FunctionsPgTest, ComputedFieldsInSelections) {
  EXPECT_EQ(query(R"({ shelf(order_by: {id: asc}) {
      label total_pages
      books_with_prefix(args: {prefix: "D"}, order_by: {id: desc}) { title score(args: {weight: 2}) }
      all_books(where: {pages: {_gt: 300}}) { title }
    } })"),
            json::parse(R"({"shelf": [
      {"label": "fiction", "total_pages": 1250,
       "books_with_prefix": [{"title": "Dubliners", "score": 500}, {"title": "Dune", "score": 1200}],
       "all_books": [{"title": "Dune"}, {"title": "Emma"}]},
      {"label": "poetry", "total_pages": 90, "books_with_prefix": [], "all_books": []}]})"));
}

TEST_F(FunctionsPgTest, ComputedFieldsInWhereAndOrderBy) {
  EXPECT_EQ(query(R"({
      big: shelf(where: {total_pages: {_gt: 1000}}) { label }
      by_total: shelf(order_by: {total_pages: asc}) { label }
      with_long: shelf(where: {all_books: {pages: {_gt: 500}}}) { label }
      by_count: shelf(order_by: {all_books_aggregate: {count: desc}}) { label }
      by_max: shelf(order_by: {all_books_aggregate: {max: {pages: asc}}}) { label }
    })"),
            json::parse(R"({"big": [{"label": "fiction"}],
      "by_total": [{"label": "poetry"}, {"label": "fiction"}],
      "with_long": [{"label": "fiction"}],
      "by_count": [{"label": "fiction"}, {"label": "poetry"}],
      "by_max": [{"label": "poetry"}, {"label": "fiction"}]})"));
  // A computed field taking arguments is not in the bool_exp.
  Error e = compile_error("{ shelf(where: {books_with_prefix: {id: {_eq: 1}}}) { id } }");
  EXPECT_EQ(e.message, "field 'books_with_prefix' not found in type: 'shelf_bool_exp'");
}

TEST_F(FunctionsPgTest, ComputedFieldPermissionsAndSession) {
  compiler::Session s = reader("1");
  s.variables["x-hasura-extra"] = "5";
  EXPECT_EQ(query(R"({ shelf { label total_pages all_books(order_by: {id: asc}) {
      title pages_plus } } })",
                  "{}", s),
            json::parse(R"({"shelf": [{"label": "fiction", "total_pages": 1250,
      "all_books": [{"title": "Emma", "pages_plus": 405}, {"title": "Dubliners",
                    "pages_plus": 255}]}]})"));
  Error e = compile_error("{ book { score(args: {weight: 1}) } }", reader("1"));
  EXPECT_EQ(e.message, "field 'score' not found in type: 'book'");
}

TEST_F(FunctionsPgTest, MultiplexedFunctionQueryPollsWithAReason) {
  auto op = compile("{ books_longer_than(args: {min_pages: 200}) { title } }");
  deps::Dependencies d = deps::extract_dependencies(op.ir);
  EXPECT_FALSE(d.tractable);
  EXPECT_EQ(d.reason, "reads function public.books_longer_than");
  ASSERT_FALSE(d.tables.empty());
  EXPECT_EQ(d.tables[0].table_key, "public.book");

  auto cf = compile("{ shelf { total_pages } }");
  EXPECT_EQ(deps::extract_dependencies(cf.ir).reason, "reads function public.shelf_pages");

  // Two subscribers with different arguments in one statement.
  const std::string sql = sql::multiplexed_query(op.ir);
  json::object a = op.vars, b = op.vars;
  for (auto& [k, v] : b)
    if (v.is_int64() && v.get_int64() == 200) v = 500;
  auto item = [](const json::object& vars) {
    std::string escaped;
    for (char c : json::serialize(vars)) {
      if (c == '"' || c == '\\') escaped += '\\';
      escaped += c;
    }
    return "\"" + escaped + "\"";
  };
  const std::string arrays[] = {"{1,2}", "{" + item(a) + "," + item(b) + "}"};
  const char* params[] = {arrays[0].c_str(), arrays[1].c_str(), nullptr};
  PGresult* r = PQexecParams(conn_, sql.c_str(), 3, nullptr, params, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  ASSERT_EQ(PQntuples(r), 2);
  EXPECT_EQ(json::parse(PQgetvalue(r, 0, 1)),
            json::parse(R"({"books_longer_than": [{"title": "Dune"}, {"title": "Emma"},
                         {"title": "Dubliners"}]})"));
  EXPECT_EQ(json::parse(PQgetvalue(r, 1, 1)),
            json::parse(R"({"books_longer_than": [{"title": "Dune"}]})"));
  PQclear(r);
}

}  // namespace
}  // namespace liveql
