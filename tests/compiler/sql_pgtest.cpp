// SQL generation against a real PostgreSQL: IR built by hand, run with libpq, compared with
// hand-written SQL or expected JSON. Every value goes through vars; each run also checks that
// no string value used appears in the SQL text.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "liveql/compiler/sql.hpp"
#include "support/test_db.hpp"

namespace liveql {
namespace {

namespace json = boost::json;
using ir::BoolExp;
using ir::CompareOp;
using K = ir::BoolExp::Kind;

constexpr const char* kSchema = R"sql(
create type status as enum ('new', 'paid', 'shipped');
create table users (
  id serial primary key, name text not null, email text, age int, score bigint,
  created_at timestamptz not null);
create table delivery_agents (id serial primary key, name text not null, rating numeric(3,1));
create table products (sku text primary key, title text not null, price numeric(10,2) not null,
  tags jsonb);
create table orders (
  id serial primary key, user_id int not null references users, agent_id int references
  delivery_agents, status status not null, total numeric(10,2), meta jsonb, placed_at timestamptz);
create table order_items (order_id int references orders, line int, sku text references products,
  qty int not null, primary key (order_id, line));
insert into users values
  (1, 'Alice', 'alice@x.com', 30, 9007199254740993, '2026-01-01 10:00:00+00'),
  (2, 'Bob', null, null, 5, '2026-01-02 10:00:00+00'),
  (3, 'Carol', 'carol@y.org', 41, -7, '2026-01-03 10:00:00+00'),
  (4, 'Dave', null, 25, null, '2026-01-04 10:00:00+00');
insert into delivery_agents values (1, 'Dan', 4.5), (2, 'Eve', null);
insert into products values ('P1', 'Pizza', 10.50, '{"veg": true, "hot": false}'),
  ('P2', 'Tea', 2.25, '{"drink": true}'), ('P3', 'Cake', 4.00, null);
insert into orders values
  (10, 1, 1, 'paid', 23.50, '{"door": "back", "n": 1}', '2026-02-01 12:00:00+00'),
  (11, 1, null, 'new', 12.00, null, null),
  (12, 2, 1, 'shipped', 40.25, '{"ring": false}', '2026-02-03 12:00:00+00'),
  (13, 3, 2, 'paid', 8.00, null, '2026-02-04 12:00:00+00'),
  (14, 3, null, 'new', null, '{}', '2026-02-05 12:00:00+00');
insert into order_items values (10, 1, 'P1', 1), (10, 2, 'P3', 2), (11, 1, 'P2', 1),
  (12, 1, 'P1', 2), (12, 2, 'P2', 2), (13, 1, 'P3', 1);
)sql";

catalog::QualifiedName tbl(const std::string& name) { return {"public", name}; }

ir::Join join(std::string name, std::string target, std::string parent_col, std::string child_col,
              bool is_array) {
  return ir::Join{std::move(name), tbl(target), {{parent_col, child_col}}, is_array};
}
ir::Join users_orders() { return join("orders", "orders", "id", "user_id", true); }
ir::Join orders_user() { return join("user", "users", "user_id", "id", false); }
ir::Join orders_agent() { return join("agent", "delivery_agents", "agent_id", "id", false); }
ir::Join orders_items() { return join("items", "order_items", "id", "order_id", true); }
ir::Join items_order() { return join("order", "orders", "order_id", "id", false); }
ir::Join items_product() { return join("product", "products", "sku", "sku", false); }

std::vector<std::string> pk_of(const std::string& table) {
  if (table == "order_items") return {"order_id", "line"};
  if (table == "products") return {"sku"};
  return {"id"};
}

ir::Field col(std::string column, std::string type = "integer", std::string alias = "") {
  ir::Field f;
  f.kind = ir::Field::Kind::kColumn;
  f.alias = alias.empty() ? column : alias;
  f.column = std::move(column);
  f.pg_type = std::move(type);
  return f;
}

ir::Select sel(const std::string& table, std::vector<ir::Field> fields,
               ir::BoolExpPtr where = nullptr) {
  ir::Select s;
  s.table = tbl(table);
  s.primary_key = pk_of(table);
  s.fields = std::move(fields);
  s.where = std::move(where);
  return s;
}

ir::Field rel(std::string alias, ir::Join j, ir::Select s) {
  ir::Field f;
  f.kind = j.is_array ? ir::Field::Kind::kArrayRel : ir::Field::Kind::kObjectRel;
  f.alias = std::move(alias);
  f.join = std::move(j);
  f.select = std::make_shared<ir::Select>(std::move(s));
  return f;
}

ir::OrderBy ord(std::string column, bool desc = false, std::vector<ir::Join> path = {}) {
  ir::OrderBy o;
  o.column = std::move(column);
  o.desc = desc;
  o.nulls_first = desc;  // Hasura's defaults
  o.path = std::move(path);
  return o;
}

ir::BoolExpPtr node(K kind, std::vector<ir::BoolExpPtr> children = {}) {
  auto e = std::make_shared<BoolExp>();
  e->kind = kind;
  e->children = std::move(children);
  return e;
}
ir::BoolExpPtr and_(std::vector<ir::BoolExpPtr> c) { return node(K::kAnd, std::move(c)); }
ir::BoolExpPtr or_(std::vector<ir::BoolExpPtr> c) { return node(K::kOr, std::move(c)); }
ir::BoolExpPtr not_(ir::BoolExpPtr c) { return node(K::kNot, {std::move(c)}); }
ir::BoolExpPtr through(ir::Join j, ir::BoolExpPtr inner) {
  auto e = std::make_shared<BoolExp>();
  e->kind = K::kRelationship;
  e->join = std::move(j);
  e->inner = std::move(inner);
  return e;
}
ir::BoolExpPtr exists(const std::string& table, ir::BoolExpPtr inner) {
  auto e = std::make_shared<BoolExp>();
  e->kind = K::kExists;
  e->table = tbl(table);
  e->inner = std::move(inner);
  return e;
}

// Holds the request's vars; every value of a test enters through here.
struct Vars {
  json::object obj;
  int n = 0;
  ir::Param param(json::value v, std::string type, bool list = false) {
    std::string key = "p" + std::to_string(n++);
    obj[key] = std::move(v);
    return ir::Param{key, std::move(type), list};
  }
  ir::BoolExpPtr cmp(std::string column, std::string column_type, CompareOp op, json::value v,
                     std::string param_type = "") {
    auto e = std::make_shared<BoolExp>();
    e->kind = K::kCompare;
    e->column = std::move(column);
    e->column_type = column_type;
    e->op = op;
    bool list = op == CompareOp::kIn || op == CompareOp::kNin || op == CompareOp::kHasKeysAny ||
                op == CompareOp::kHasKeysAll;
    if (param_type.empty()) param_type = op == CompareOp::kIsNull ? "boolean" : column_type;
    e->param = param(std::move(v), param_type, list);
    return e;
  }
};

ir::Operation root(std::string alias, ir::Select s,
                   ir::RootField::Kind kind = ir::RootField::Kind::kSelect) {
  ir::RootField rf;
  rf.kind = kind;
  rf.alias = std::move(alias);
  rf.select = std::move(s);
  ir::Operation op;
  op.fields.push_back(std::move(rf));
  return op;
}

void collect_strings(const json::value& v, std::vector<std::string>& out) {
  if (v.is_string()) out.emplace_back(v.as_string().c_str());
  if (v.is_array())
    for (const auto& e : v.as_array()) collect_strings(e, out);
  if (v.is_object())
    for (const auto& kv : v.as_object()) collect_strings(kv.value(), out);
}

std::string pg_array(const std::vector<std::string>& elems) {
  std::string out = "{";
  for (size_t i = 0; i < elems.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : elems[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

struct MultiRow {
  int64_t id = 0;
  json::value data;
  json::value keys;
  bool visible = false;
};

class SqlGenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = test::fresh_database("liveql_sqlgen", kSchema);
    conn_ = PQconnectdb(url_.c_str());
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    PQclear(PQexec(conn_, "SET TimeZone = 'UTC'"));
  }
  static void TearDownTestSuite() {
    PQfinish(conn_);
    conn_ = nullptr;
  }

  static void expect_no_values(const std::string& sql, const json::object& vars) {
    std::vector<std::string> strings;
    collect_strings(vars, strings);
    // Quoted, any value would be a literal; raw, long values catch other splicing (short ones
    // would match the SQL's own words).
    for (const auto& s : strings) {
      EXPECT_EQ(sql.find(sql::quote_literal(s)), std::string::npos) << s << " in SQL: " << sql;
      if (s.size() >= 6) {
        EXPECT_EQ(sql.find(s), std::string::npos) << s << " in SQL: " << sql;
      }
    }
  }

  // data of single_query
  static json::value run(const ir::Operation& op, const json::object& vars) {
    const std::string sql = sql::single_query(op);
    expect_no_values(sql, vars);
    const std::string v = json::serialize(vars);
    const char* params[] = {v.c_str()};
    PGresult* r = PQexecParams(conn_, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
    json::value out;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
      ADD_FAILURE() << PQresultErrorMessage(r) << "\n" << sql;
    } else {
      EXPECT_STREQ(PQfname(r, 0), "data");
      out = json::parse(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return out;
  }

  static std::vector<MultiRow> run_multi(const ir::Operation& op,
                                         const std::vector<std::pair<int64_t, json::object>>& subs,
                                         std::optional<std::string> xid = std::nullopt) {
    const std::string sql = sql::multiplexed_query(op);
    std::vector<std::string> ids, vars;
    for (const auto& [id, v] : subs) {
      expect_no_values(sql, v);
      ids.push_back(std::to_string(id));
      vars.push_back(json::serialize(v));
    }
    const std::string p1 = pg_array(ids), p2 = pg_array(vars);
    const char* params[] = {p1.c_str(), p2.c_str(), xid ? xid->c_str() : nullptr};
    PGresult* r = PQexecParams(conn_, sql.c_str(), 3, nullptr, params, nullptr, nullptr, 0);
    std::vector<MultiRow> rows;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      ADD_FAILURE() << PQresultErrorMessage(r) << "\n" << sql;
    } else {
      for (int i = 0; i < PQntuples(r); ++i) {
        MultiRow row;
        row.id = std::stoll(PQgetvalue(r, i, 0));
        row.data = json::parse(PQgetvalue(r, i, 1));
        row.keys = json::parse(PQgetvalue(r, i, 2));
        row.visible = std::string(PQgetvalue(r, i, 3)) == "t";
        rows.push_back(std::move(row));
      }
    }
    PQclear(r);
    return rows;
  }

  static json::value sql_json(const std::string& sql) {
    auto rows = test::query(url_, "SET TimeZone = 'UTC'; " + sql);
    return json::parse(rows.at(0).at(0));
  }

  // ids of `table` matching where, in id order, via the generator.
  static json::value ids_where(const std::string& table, ir::BoolExpPtr where,
                               const json::object& vars) {
    auto s = sel(table, {col("id")}, std::move(where));
    s.order_by = {ord("id")};
    auto data = run(root("r", std::move(s)), vars);
    json::array ids;
    if (data.is_object())
      for (const auto& row : data.at("r").as_array()) ids.push_back(row.at("id"));
    return ids;
  }
  static json::value ids_sql(const std::string& table, const std::string& where) {
    return sql_json("select coalesce(json_agg(id order by id), '[]') from " + table + " where " +
                    where);
  }

  static std::string url_;
  static PGconn* conn_;
};
std::string SqlGenTest::url_;
PGconn* SqlGenTest::conn_ = nullptr;

struct CompareCase {
  std::string table, column, type;
  CompareOp op;
  std::string value;  // JSON
  std::string where;  // the same condition in SQL
};

TEST_F(SqlGenTest, EveryCompareOperator) {
  const std::vector<CompareCase> cases = {
      {"users", "age", "integer", CompareOp::kEq, "30", "age = 30"},
      {"users", "age", "integer", CompareOp::kNeq, "30", "age <> 30"},
      {"users", "age", "integer", CompareOp::kGt, "29", "age > 29"},
      {"users", "age", "integer", CompareOp::kLt, "41", "age < 41"},
      {"users", "age", "integer", CompareOp::kGte, "30", "age >= 30"},
      {"users", "age", "integer", CompareOp::kLte, "30", "age <= 30"},
      {"users", "age", "integer", CompareOp::kIn, "[30, 41]", "age in (30, 41)"},
      {"users", "age", "integer", CompareOp::kNin, "[30]", "age not in (30)"},
      {"users", "age", "integer", CompareOp::kIn, "[]", "false"},
      {"users", "age", "integer", CompareOp::kNin, "[]", "true"},
      {"users", "email", "text", CompareOp::kIsNull, "true", "email is null"},
      {"users", "email", "text", CompareOp::kIsNull, "false", "email is not null"},
      {"users", "email", "text", CompareOp::kEq, "\"carol@y.org\"", "email = 'carol@y.org'"},
      {"users", "name", "text", CompareOp::kLike, "\"A%\"", "name like 'A%'"},
      {"users", "name", "text", CompareOp::kNlike, "\"A%\"", "name not like 'A%'"},
      {"users", "name", "text", CompareOp::kIlike, "\"%o%\"", "name ilike '%o%'"},
      {"users", "name", "text", CompareOp::kNilike, "\"%O%\"", "name not ilike '%O%'"},
      {"users", "name", "text", CompareOp::kSimilar, "\"(Al|Bo)%\"", "name similar to '(Al|Bo)%'"},
      {"users", "name", "text", CompareOp::kNsimilar, "\"(Al|Bo)%\"",
       "name not similar to '(Al|Bo)%'"},
      {"users", "name", "text", CompareOp::kRegex, "\"^[AB]\"", "name ~ '^[AB]'"},
      {"users", "name", "text", CompareOp::kNregex, "\"^[AB]\"", "name !~ '^[AB]'"},
      {"users", "name", "text", CompareOp::kIregex, "\"^[ab]\"", "name ~* '^[ab]'"},
      {"users", "name", "text", CompareOp::kNiregex, "\"^[ab]\"", "name !~* '^[ab]'"},
      {"users", "score", "bigint", CompareOp::kGt, "9007199254740992", "score > 9007199254740992"},
      {"users", "created_at", "timestamp with time zone", CompareOp::kGte,
       "\"2026-01-02T10:00:00Z\"", "created_at >= '2026-01-02T10:00:00Z'"},
      {"orders", "status", "public.status", CompareOp::kEq, "\"paid\"", "status = 'paid'"},
      {"orders", "status", "public.status", CompareOp::kIn, "[\"paid\", \"shipped\"]",
       "status in ('paid', 'shipped')"},
      {"orders", "status", "public.status", CompareOp::kGt, "\"new\"", "status > 'new'"},
      {"orders", "total", "numeric", CompareOp::kGt, "12.0", "total > 12.0"},
      {"orders", "total", "numeric", CompareOp::kLte, "\"12.00\"", "total <= 12.00"},
      {"orders", "placed_at", "timestamp with time zone", CompareOp::kIsNull, "true",
       "placed_at is null"},
      {"orders", "meta", "jsonb", CompareOp::kContains, "{\"door\": \"back\"}",
       "meta @> '{\"door\": \"back\"}'"},
      {"orders", "meta", "jsonb", CompareOp::kContainedIn, "{\"ring\": false, \"door\": \"x\"}",
       "meta <@ '{\"ring\": false, \"door\": \"x\"}'"},
      {"orders", "meta", "jsonb", CompareOp::kHasKey, "\"door\"", "meta ? 'door'"},
      {"orders", "meta", "jsonb", CompareOp::kHasKeysAny, "[\"door\", \"ring\"]",
       "meta ?| array['door', 'ring']"},
      {"orders", "meta", "jsonb", CompareOp::kHasKeysAll, "[\"door\", \"n\"]",
       "meta ?& array['door', 'n']"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.table + " " + c.where);
    Vars v;
    std::string param_type = c.type;
    if (c.op == CompareOp::kHasKey || c.op == CompareOp::kHasKeysAny ||
        c.op == CompareOp::kHasKeysAll)
      param_type = "text";
    auto where = v.cmp(c.column, c.type, c.op, json::parse(c.value), param_type);
    auto expected = ids_sql(c.table, c.where);
    EXPECT_EQ(ids_where(c.table, where, v.obj), expected);
  }
}

TEST_F(SqlGenTest, BooleanStructure) {
  Vars v;
  auto age_gt = v.cmp("age", "integer", CompareOp::kGt, 25);
  auto a_name = v.cmp("name", "text", CompareOp::kLike, "A%");
  auto no_mail = v.cmp("email", "text", CompareOp::kIsNull, true);
  auto e = and_({age_gt, or_({a_name, no_mail})});
  EXPECT_EQ(ids_where("users", e, v.obj),
            ids_sql("users", "age > 25 and (name like 'A%' or email is null)"));
  EXPECT_EQ(ids_where("users", not_(e), v.obj),
            ids_sql("users", "not (age > 25 and (name like 'A%' or email is null))"));
  EXPECT_EQ(ids_where("users", and_({}), v.obj), ids_sql("users", "true"));
  EXPECT_EQ(ids_where("users", or_({}), v.obj), ids_sql("users", "false"));
  EXPECT_EQ(ids_where("users", node(K::kFalse), v.obj), ids_sql("users", "false"));
  EXPECT_EQ(ids_where("users", node(K::kTrue), v.obj), ids_sql("users", "true"));
}

TEST_F(SqlGenTest, RelationshipFiltersAndExists) {
  Vars v;
  auto paid = v.cmp("status", "public.status", CompareOp::kEq, "paid");
  EXPECT_EQ(ids_where("users", through(users_orders(), paid), v.obj),
            ids_sql("users u",
                    "exists (select 1 from orders o where o.user_id = u.id and "
                    "o.status = 'paid')"));
  auto carol = v.cmp("name", "text", CompareOp::kEq, "Carol");
  EXPECT_EQ(ids_where("orders", through(orders_user(), carol), v.obj),
            ids_sql("orders", "user_id = 3"));
  // order_items have no id column: select order_id via two hops.
  auto alice = v.cmp("name", "text", CompareOp::kEq, "Alice");
  auto s = sel("order_items", {col("order_id"), col("line")},
               through(items_order(), through(orders_user(), alice)));
  s.order_by = {ord("order_id"), ord("line")};
  EXPECT_EQ(run(root("r", s), v.obj).at("r"),
            sql_json("select json_agg(json_build_object('order_id', order_id, 'line', line) "
                     "order by order_id, line) from order_items where order_id in (10, 11)"));
  auto pricey = v.cmp("price", "numeric", CompareOp::kGt, 5);
  auto very = v.cmp("price", "numeric", CompareOp::kGt, 100);
  EXPECT_EQ(ids_where("users", exists("products", pricey), v.obj), ids_sql("users", "true"));
  EXPECT_EQ(ids_where("users", exists("products", very), v.obj), ids_sql("users", "false"));
  auto notx = not_(through(users_orders(), nullptr));
  EXPECT_EQ(ids_where("users", notx, v.obj),
            ids_sql("users u", "not exists (select 1 from orders o where o.user_id = u.id)"));
}

TEST_F(SqlGenTest, OrderBy) {
  auto check = [&](std::vector<ir::OrderBy> order, const std::string& sql_order) {
    SCOPED_TRACE(sql_order);
    Vars v;
    auto s = sel("orders", {col("id")});
    s.order_by = std::move(order);
    json::array ids;
    const json::value data = run(root("r", s), v.obj);
    for (const auto& row : data.at("r").as_array()) ids.push_back(row.at("id"));
    EXPECT_EQ(json::value(ids), sql_json("select json_agg(o.id order by " + sql_order +
                                         ") from orders o join users u on u.id = o.user_id"));
  };
  check({ord("total")}, "o.total asc nulls last");
  check({ord("total", true)}, "o.total desc nulls first");
  auto asc_nulls_first = ord("total");
  asc_nulls_first.nulls_first = true;
  check({asc_nulls_first}, "o.total asc nulls first");
  auto desc_nulls_last = ord("total", true);
  desc_nulls_last.nulls_first = false;
  check({desc_nulls_last}, "o.total desc nulls last");
  check({ord("name", true, {orders_user()}), ord("id")}, "u.name desc, o.id");
  check({ord("status"), ord("id", true)}, "o.status, o.id desc");

  // Two hops: order_items by order.user.name, then order_id, line.
  Vars v;
  auto s = sel("order_items", {col("order_id"), col("line")});
  s.order_by = {ord("name", true, {items_order(), orders_user()}), ord("order_id"), ord("line")};
  EXPECT_EQ(run(root("r", s), v.obj).at("r"),
            sql_json("select json_agg(json_build_object('order_id', i.order_id, 'line', i.line) "
                     "order by u.name desc, i.order_id, i.line) from order_items i join orders o "
                     "on o.id = i.order_id join users u on u.id = o.user_id"));
}

TEST_F(SqlGenTest, LimitOffsetPermissionLimit) {
  auto ids = [&](std::optional<int> limit, std::optional<int> offset, std::optional<int> perm) {
    Vars v;
    auto s = sel("users", {col("id")});
    s.order_by = {ord("id")};
    if (limit) s.limit = v.param(*limit, "integer");
    if (offset) s.offset = v.param(*offset, "integer");
    if (perm) s.permission_limit = v.param(*perm, "integer");
    std::vector<int64_t> out;
    const json::value data = run(root("r", s), v.obj);
    for (const auto& row : data.at("r").as_array()) out.push_back(row.at("id").as_int64());
    return out;
  };
  EXPECT_EQ(ids(2, std::nullopt, std::nullopt), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(ids(2, 1, std::nullopt), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ids(std::nullopt, 3, std::nullopt), (std::vector<int64_t>{4}));
  EXPECT_EQ(ids(3, std::nullopt, 1), (std::vector<int64_t>{1}));
  EXPECT_EQ(ids(1, std::nullopt, 3), (std::vector<int64_t>{1}));
  EXPECT_EQ(ids(std::nullopt, 1, 2), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ids(0, std::nullopt, std::nullopt), (std::vector<int64_t>{}));

  // Limits apply per parent in an array relationship.
  Vars v;
  auto orders = sel("orders", {col("id")});
  orders.order_by = {ord("id", true)};
  orders.limit = v.param(1, "integer");
  auto users = sel("users", {col("id"), rel("orders", users_orders(), orders)});
  users.order_by = {ord("id")};
  EXPECT_EQ(run(root("r", users), v.obj).at("r"),
            json::parse(R"([{"id":1,"orders":[{"id":11}]},{"id":2,"orders":[{"id":12}]},
                            {"id":3,"orders":[{"id":14}]},{"id":4,"orders":[]}])"));
}

TEST_F(SqlGenTest, DistinctOn) {
  Vars v;
  auto s = sel("orders", {col("id"), col("user_id")});
  s.distinct_on = {"user_id"};
  s.order_by = {ord("user_id"), ord("total", true)};
  EXPECT_EQ(run(root("r", s), v.obj).at("r"),
            sql_json("select json_agg(json_build_object('id', id, 'user_id', user_id) order by "
                     "user_id) from (select distinct on (user_id) id, user_id from orders order "
                     "by user_id, total desc nulls first) x"));
  // Without an order_by for the distinct column, and a later ordering column.
  auto t = sel("orders", {col("id"), col("user_id")});
  t.distinct_on = {"user_id"};
  t.order_by = {ord("id", true)};
  EXPECT_EQ(run(root("r", t), v.obj).at("r"),
            json::parse(R"([{"id":11,"user_id":1},{"id":12,"user_id":2},{"id":14,"user_id":3}])"));
}

ir::Select nested_users(Vars& v, int user_id) {
  auto product = sel("products", {col("sku", "text"), col("title", "text"), col("price", "numeric"),
                                  col("tags", "jsonb")});
  auto items =
      sel("order_items", {col("line"), col("qty"), rel("product", items_product(), product)});
  items.order_by = {ord("line")};
  auto agent = sel("delivery_agents", {col("name", "text"), col("rating", "numeric")});
  auto orders =
      sel("orders", {col("id"), col("status", "public.status"), col("total", "numeric"),
                     col("meta", "jsonb"), col("placed_at", "timestamp with time zone"),
                     rel("agent", orders_agent(), agent), rel("items", orders_items(), items)});
  orders.order_by = {ord("id")};
  return sel("users",
             {col("id"), col("name", "text"), col("score", "bigint"),
              col("created_at", "timestamp with time zone"), rel("orders", users_orders(), orders)},
             v.cmp("id", "integer", CompareOp::kEq, user_id));
}

TEST_F(SqlGenTest, NestedThreeLevelsAndJsonValues) {
  Vars v;
  auto data = run(root("u", nested_users(v, 1)), v.obj);
  EXPECT_EQ(data, json::parse(R"({"u":[{"id":1,"name":"Alice","score":9007199254740993,
    "created_at":"2026-01-01T10:00:00+00:00","orders":[
      {"id":10,"status":"paid","total":23.50,"meta":{"door":"back","n":1},
       "placed_at":"2026-02-01T12:00:00+00:00","agent":{"name":"Dan","rating":4.5},
       "items":[{"line":1,"qty":1,"product":{"sku":"P1","title":"Pizza","price":10.50,
                  "tags":{"veg":true,"hot":false}}},
                {"line":2,"qty":2,"product":{"sku":"P3","title":"Cake","price":4.00,"tags":null}}]},
      {"id":11,"status":"new","total":12.00,"meta":null,"placed_at":null,"agent":null,
       "items":[{"line":1,"qty":1,"product":{"sku":"P2","title":"Tea","price":2.25,
                  "tags":{"drink":true}}}]}]}]})"));
}

TEST_F(SqlGenTest, ResponseKeysInRequestOrder) {
  Vars v;
  auto s = sel("users", {col("name", "text", "zed"), col("id", "integer", "alpha")},
               v.cmp("id", "integer", CompareOp::kEq, 2));
  ir::Field tn;
  tn.kind = ir::Field::Kind::kTypename;
  tn.alias = "__typename";
  tn.typename_ = "users";
  s.fields.insert(s.fields.begin() + 1, tn);
  ir::Operation op = root("b_second", s);
  ir::RootField st;
  st.kind = ir::RootField::Kind::kStatic;
  st.alias = "a_static";
  st.param = v.param(json::parse(R"({"__typename":"query_root"})"), "json");
  op.fields.push_back(st);
  const std::string sql = sql::single_query(op);
  const std::string vars = json::serialize(v.obj);
  auto rows = test::query(
      url_, "PREPARE q(json) AS " + sql + "; EXECUTE q(" + sql::quote_literal(vars) + ")");
  // Text, not parsed JSON: the key order is part of the contract.
  std::string text = rows.at(0).at(0);
  EXPECT_LT(text.find("b_second"), text.find("a_static"));
  EXPECT_LT(text.find("zed"), text.find("__typename"));
  EXPECT_LT(text.find("__typename"), text.find("alpha"));
  EXPECT_EQ(json::parse(text), json::parse(R"({"b_second":[{"zed":"Bob","__typename":"users",
    "alpha":2}],"a_static":{"__typename":"query_root"}})"));
}

TEST_F(SqlGenTest, WideObjectsKeepEveryField) {
  Vars v;
  std::vector<ir::Field> fields;
  for (int i = 0; i < 120; ++i) fields.push_back(col("id", "integer", "f" + std::to_string(i)));
  auto s = sel("users", fields, v.cmp("id", "integer", CompareOp::kEq, 3));
  auto data = run(root("r", s), v.obj);
  const auto& row = data.at("r").as_array().at(0).as_object();
  EXPECT_EQ(row.size(), 120u);
  EXPECT_EQ(row.at("f119"), json::value(3));
}

TEST_F(SqlGenTest, ByPk) {
  Vars v;
  auto op = root(
      "u",
      sel("users", {col("id"), col("email", "text")}, v.cmp("id", "integer", CompareOp::kEq, 2)),
      ir::RootField::Kind::kSelectByPk);
  EXPECT_EQ(run(op, v.obj), json::parse(R"({"u":{"id":2,"email":null}})"));
  Vars w;
  auto missing = root("u", sel("users", {col("id")}, w.cmp("id", "integer", CompareOp::kEq, 99)),
                      ir::RootField::Kind::kSelectByPk);
  EXPECT_EQ(run(missing, w.obj), json::parse(R"({"u":null})"));
}

ir::AggregateField count_field(std::string alias, std::vector<std::string> cols = {},
                               bool distinct = false) {
  ir::AggregateField f;
  f.kind = ir::AggregateField::Kind::kCount;
  f.alias = std::move(alias);
  f.count_columns = std::move(cols);
  f.count_distinct = distinct;
  return f;
}
ir::AggregateField fn_field(std::string fn, std::vector<std::pair<std::string, std::string>> cols) {
  ir::AggregateField f;
  f.kind = ir::AggregateField::Kind::kFunction;
  f.alias = fn;
  f.function = fn;
  for (auto& [c, t] : cols) f.columns.push_back({c, c, t});
  return f;
}

TEST_F(SqlGenTest, Aggregates) {
  Vars v;
  ir::RootField rf;
  rf.kind = ir::RootField::Kind::kAggregate;
  rf.alias = "agg";
  rf.aggregate.rows = sel(
      "orders", {col("id")},
      v.cmp("status", "public.status", CompareOp::kIn, json::parse(R"(["paid","new","shipped"])")));
  rf.aggregate.rows.order_by = {ord("id", true)};
  using Output = ir::Aggregate::Output;
  rf.aggregate.outputs = {{Output::Kind::kAggregate, "aggregate", 0, 8},
                          {Output::Kind::kNodes, "nodes", 0, 1},
                          {Output::Kind::kTypename, "__typename", 0, 0, "orders_aggregate"}};
  rf.aggregate.aggregate_fields = {
      count_field("count"),
      count_field("agents", {"agent_id"}),
      count_field("distinct_agents", {"agent_id"}, true),
      count_field("pairs", {"user_id", "agent_id"}, true),
      fn_field("sum", {{"total", "numeric"}, {"id", "integer"}}),
      fn_field("avg", {{"total", "numeric"}}),
      fn_field("min", {{"placed_at", "timestamp with time zone"}, {"status", "public.status"}}),
      fn_field("max", {{"total", "numeric"}}),
  };
  ir::Operation op;
  op.fields.push_back(rf);
  auto data = run(op, v.obj);
  auto expected = sql_json(R"(select json_build_object('agg', json_build_object(
    'aggregate', json_build_object('count', count(*), 'agents', count(agent_id),
      'distinct_agents', count(distinct agent_id), 'pairs', count(distinct (user_id, agent_id)),
      'sum', json_build_object('total', sum(total), 'id', sum(id)),
      'avg', json_build_object('total', avg(total)),
      'min', json_build_object('placed_at', min(placed_at), 'status', min(status)),
      'max', json_build_object('total', max(total))),
    'nodes', json_agg(json_build_object('id', id) order by id desc),
    '__typename', 'orders_aggregate')) from orders)");
  EXPECT_EQ(data, expected);

  // An array relationship's aggregate, per user; with a limit on the aggregated rows.
  Vars w;
  auto agg = std::make_shared<ir::Aggregate>();
  agg->rows = sel("orders", {});
  agg->rows.order_by = {ord("id")};
  agg->rows.limit = w.param(1, "integer");
  agg->outputs = {{Output::Kind::kAggregate, "aggregate", 0, 2}};
  agg->aggregate_fields = {count_field("count"), fn_field("sum", {{"total", "numeric"}})};
  ir::Field af;
  af.kind = ir::Field::Kind::kAggregate;
  af.alias = "orders_aggregate";
  af.join = users_orders();
  af.aggregate = agg;
  auto users = sel("users", {col("id"), af});
  users.order_by = {ord("id")};
  EXPECT_EQ(run(root("u", users), w.obj), json::parse(R"({"u":[
    {"id":1,"orders_aggregate":{"aggregate":{"count":1,"sum":{"total":23.50}}}},
    {"id":2,"orders_aggregate":{"aggregate":{"count":1,"sum":{"total":40.25}}}},
    {"id":3,"orders_aggregate":{"aggregate":{"count":1,"sum":{"total":8.00}}}},
    {"id":4,"orders_aggregate":{"aggregate":{"count":0,"sum":{"total":null}}}}]})"));
}

// As Hasura: the role's limit caps the nodes; the aggregate functions see every row (that the
// user's own limit and offset leave).
TEST_F(SqlGenTest, PermissionLimitCapsNodesNotAggregates) {
  using Output = ir::Aggregate::Output;
  auto agg_of = [](Vars& v, bool ordered, std::optional<int> limit, std::optional<int> offset,
                   bool with_aggregate) {
    ir::Aggregate a;
    a.rows = sel("orders", {col("id")});
    if (ordered) a.rows.order_by = {ord("id")};
    if (limit) a.rows.limit = v.param(*limit, "integer");
    if (offset) a.rows.offset = v.param(*offset, "integer");
    a.rows.permission_limit = v.param(2, "integer");
    if (with_aggregate) {
      a.aggregate_fields = {count_field("count"), fn_field("max", {{"id", "integer"}})};
      a.outputs.push_back({Output::Kind::kAggregate, "aggregate", 0, 2});
    }
    a.outputs.push_back({Output::Kind::kNodes, "nodes", 0, 1});
    return a;
  };
  auto run_agg = [&](Vars& v, ir::Aggregate a) {
    ir::RootField rf;
    rf.kind = ir::RootField::Kind::kAggregate;
    rf.alias = "a";
    rf.aggregate = std::move(a);
    ir::Operation op;
    op.fields.push_back(std::move(rf));
    return run(op, v.obj).at("a");
  };
  Vars v1;
  EXPECT_EQ(run_agg(v1, agg_of(v1, true, std::nullopt, std::nullopt, true)),
            json::parse(R"({"aggregate":{"count":5,"max":{"id":14}},
                            "nodes":[{"id":10},{"id":11}]})"));
  Vars v2;
  EXPECT_EQ(run_agg(v2, agg_of(v2, true, 3, 1, true)),
            json::parse(R"({"aggregate":{"count":3,"max":{"id":13}},
                            "nodes":[{"id":11},{"id":12}]})"));
  Vars v3;
  auto unordered = run_agg(v3, agg_of(v3, false, std::nullopt, std::nullopt, true));
  EXPECT_EQ(unordered.at("aggregate").at("count"), 5);
  EXPECT_EQ(unordered.at("nodes").as_array().size(), 2u);
  Vars v4;
  EXPECT_EQ(run_agg(v4, agg_of(v4, true, std::nullopt, 3, false)),
            json::parse(R"({"nodes":[{"id":13},{"id":14}]})"));

  // Per parent in an array relationship: Alice has orders 10 and 11, Carol 13 and 14.
  Vars w;
  ir::Field af;
  af.kind = ir::Field::Kind::kAggregate;
  af.alias = "orders_aggregate";
  af.join = users_orders();
  af.aggregate = std::make_shared<ir::Aggregate>(agg_of(w, true, std::nullopt, std::nullopt, true));
  af.aggregate->rows.permission_limit = w.param(1, "integer");
  auto users = sel("users", {col("id"), af});
  users.order_by = {ord("id")};
  EXPECT_EQ(run(root("u", users), w.obj), json::parse(R"({"u":[
    {"id":1,"orders_aggregate":{"aggregate":{"count":2,"max":{"id":11}},"nodes":[{"id":10}]}},
    {"id":2,"orders_aggregate":{"aggregate":{"count":1,"max":{"id":12}},"nodes":[{"id":12}]}},
    {"id":3,"orders_aggregate":{"aggregate":{"count":2,"max":{"id":14}},"nodes":[{"id":13}]}},
    {"id":4,"orders_aggregate":{"aggregate":{"count":0,"max":{"id":null}},"nodes":[]}}]})"));
}

// Several `nodes` and `aggregate` selections: each its own fields, in request order.
TEST_F(SqlGenTest, AggregateOutputsInRequestOrder) {
  using Output = ir::Aggregate::Output;
  Vars v;
  ir::RootField rf;
  rf.kind = ir::RootField::Kind::kAggregate;
  rf.alias = "a";
  rf.aggregate.rows = sel("orders",
                          {col("id"), col("total", "numeric"),
                           rel("user", orders_user(), sel("users", {col("name", "text")}))},
                          v.cmp("user_id", "integer", CompareOp::kEq, 1));
  rf.aggregate.rows.order_by = {ord("id", true)};
  rf.aggregate.aggregate_fields = {count_field("count"), fn_field("sum", {{"total", "numeric"}})};
  rf.aggregate.outputs = {{Output::Kind::kNodes, "first", 0, 1},
                          {Output::Kind::kAggregate, "aggregate", 0, 1},
                          {Output::Kind::kNodes, "second", 1, 3},
                          {Output::Kind::kAggregate, "again", 1, 2},
                          {Output::Kind::kTypename, "__typename", 0, 0, "orders_aggregate"}};
  ir::Operation op;
  op.fields.push_back(rf);
  const json::value data = run(op, v.obj);
  EXPECT_EQ(data, json::parse(R"({"a":{"first":[{"id":11},{"id":10}],"aggregate":{"count":2},
      "second":[{"total":12.00,"user":{"name":"Alice"}},{"total":23.50,"user":{"name":"Alice"}}],
      "again":{"sum":{"total":35.50}},"__typename":"orders_aggregate"}})"));
  std::vector<std::string> keys;
  for (const auto& kv : data.at("a").as_object()) keys.emplace_back(kv.key());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"first", "aggregate", "second", "again", "__typename"}));
}

// order_by on an array relationship's aggregate: a correlated aggregate over the related rows
// the path filter lets through.
TEST_F(SqlGenTest, OrderByAggregates) {
  auto check = [&](ir::OrderBy o, const std::string& sql_order, Vars& v) {
    SCOPED_TRACE(sql_order);
    auto s = sel("users", {col("id")});
    s.order_by = {std::move(o), ord("id")};
    json::array ids;
    const json::value out = run(root("r", s), v.obj);  // the loop below must not outlive it
    for (const auto& row : out.at("r").as_array()) ids.push_back(row.at("id"));
    EXPECT_EQ(json::value(ids),
              sql_json("select json_agg(u.id order by " + sql_order + ", u.id) from users u"));
  };
  auto agg = [](std::string fn, std::string column, bool desc) {
    ir::OrderBy o = ord(std::move(column), desc, {users_orders()});
    o.aggregate = std::move(fn);
    return o;
  };
  Vars v;
  check(agg("count", "", true), "(select count(*) from orders o where o.user_id = u.id) desc", v);
  check(agg("sum", "total", false),
        "(select sum(total) from orders o where o.user_id = u.id) asc nulls last", v);
  check(agg("max", "placed_at", true),
        "(select max(placed_at) from orders o where o.user_id = u.id) desc nulls first", v);
  check(agg("stddev_samp", "total", false),
        "(select stddev_samp(total) from orders o where o.user_id = u.id) asc nulls last", v);
  // Only the rows the filter lets through count (a permission on orders).
  Vars f;
  auto paid = agg("count", "", true);
  paid.path_filters = {f.cmp("status", "public.status", CompareOp::kEq, "paid")};
  check(paid, "(select count(*) from orders o where o.user_id = u.id and o.status = 'paid') desc",
        f);
  // Through an object relationship first: order_items by the number of their order's items.
  Vars w;
  auto items = sel("order_items", {col("order_id"), col("line")});
  ir::OrderBy by_size = ord("", true, {items_order(), orders_items()});
  by_size.aggregate = "count";
  by_size.path_filters = {nullptr, w.cmp("qty", "integer", CompareOp::kGt, 1)};
  items.order_by = {by_size, ord("order_id"), ord("line")};
  EXPECT_EQ(run(root("r", items), w.obj).at("r"),
            sql_json("select json_agg(json_build_object('order_id', i.order_id, 'line', i.line) "
                     "order by (select count(*) from order_items x where x.order_id = i.order_id "
                     "and x.qty > 1) desc, i.order_id, i.line) from order_items i"));
}

std::set<std::string> key_set(const json::value& keys) {
  std::set<std::string> out;
  for (const auto& e : keys.as_array()) out.insert(json::serialize(e));
  return out;
}

TEST_F(SqlGenTest, MultiplexedDataKeysAndVisibility) {
  Vars v;
  auto op = root("u", nested_users(v, 1));
  json::object a = v.obj, b = v.obj, c = v.obj;
  b["p0"] = 3;  // the user id param of nested_users
  auto rows = run_multi(op, {{7, a}, {8, b}, {9, c}});
  ASSERT_EQ(rows.size(), 3u);
  std::map<int64_t, MultiRow> by_id;
  for (auto& r : rows) by_id[r.id] = r;
  EXPECT_EQ(by_id.at(7).data, run(op, a));
  EXPECT_EQ(by_id.at(8).data, run(op, b));
  EXPECT_EQ(by_id.at(9).data, by_id.at(7).data);
  EXPECT_NE(by_id.at(8).data, by_id.at(7).data);
  for (auto& [id, r] : by_id) EXPECT_TRUE(r.visible) << id;

  const std::set<std::string> alice = {
      R"(["public.users",["id"],["1"]])",
      R"(["public.orders",["user_id"],["1"]])",
      R"(["public.orders",["id"],["10"]])",
      R"(["public.orders",["id"],["11"]])",
      R"(["public.delivery_agents",["id"],["1"]])",
      R"(["public.order_items",["order_id"],["10"]])",
      R"(["public.order_items",["order_id"],["11"]])",
      R"(["public.order_items",["order_id","line"],["10","1"]])",
      R"(["public.order_items",["order_id","line"],["10","2"]])",
      R"(["public.order_items",["order_id","line"],["11","1"]])",
      R"(["public.products",["sku"],["P1"]])",
      R"(["public.products",["sku"],["P2"]])",
      R"(["public.products",["sku"],["P3"]])",
  };
  EXPECT_EQ(key_set(by_id.at(7).keys), alice);
  // Entries may repeat (a product in two orders): the matcher keeps each once.
  EXPECT_GE(by_id.at(7).keys.as_array().size(), alice.size());
  auto carol = key_set(by_id.at(8).keys);
  EXPECT_TRUE(carol.count(R"(["public.users",["id"],["3"]])"));
  EXPECT_TRUE(carol.count(R"(["public.orders",["user_id"],["3"]])"));
  EXPECT_TRUE(carol.count(R"(["public.orders",["id"],["14"]])"));
  EXPECT_TRUE(carol.count(R"(["public.delivery_agents",["id"],["2"]])"));
  EXPECT_FALSE(carol.count(R"(["public.users",["id"],["1"]])"));

  // A subscriber whose result is empty still gets a row, with no keys.
  json::object none = v.obj;
  none["p0"] = 99;
  auto empty = run_multi(op, {{1, none}});
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].data, json::parse(R"({"u":[]})"));
  EXPECT_EQ(empty[0].keys, json::array());

  // Visibility guard ($3 the xids the fetch must see): committed transactions are visible, one
  // still open is not, and one open transaction among committed ones makes the row not visible.
  auto committed = test::query(url_, "select pg_current_xact_id()::text").at(0).at(0);
  auto committed2 = test::query(url_, "select pg_current_xact_id()::text").at(0).at(0);
  EXPECT_TRUE(run_multi(op, {{1, a}}, "{" + committed + "," + committed2 + "}").at(0).visible);
  PGconn* other = PQconnectdb(url_.c_str());
  ASSERT_EQ(PQstatus(other), CONNECTION_OK);
  PQclear(PQexec(other, "BEGIN"));
  PGresult* x = PQexec(other, "select pg_current_xact_id()::text");
  std::string open_xid = PQgetvalue(x, 0, 0);
  PQclear(x);
  EXPECT_FALSE(run_multi(op, {{1, a}}, "{" + open_xid + "}").at(0).visible);
  // The open one is older than a committed one: the newest being visible proves nothing.
  auto newer = test::query(url_, "select pg_current_xact_id()::text").at(0).at(0);
  EXPECT_FALSE(run_multi(op, {{1, a}}, "{" + open_xid + "," + newer + "}").at(0).visible);
  PQclear(PQexec(other, "COMMIT"));
  EXPECT_TRUE(run_multi(op, {{1, a}}, "{" + open_xid + "," + newer + "}").at(0).visible);
  PQfinish(other);
}

TEST_F(SqlGenTest, KeysOfAggregatesFiltersAndOrderPaths) {
  Vars v;
  // order_items of Alice's orders (filter through order), ordered by order.user.name;
  // plus an aggregate of orders per agent.
  auto items = sel("order_items", {col("line")},
                   through(items_order(), v.cmp("user_id", "integer", CompareOp::kEq, 1)));
  items.order_by = {ord("name", false, {items_order(), orders_user()})};
  ir::Operation op = root("items", items);
  ir::RootField rf;
  rf.kind = ir::RootField::Kind::kAggregate;
  rf.alias = "agg";
  rf.aggregate.rows = sel("orders", {}, v.cmp("agent_id", "integer", CompareOp::kEq, 2));
  rf.aggregate.outputs = {{ir::Aggregate::Output::Kind::kAggregate, "aggregate", 0, 1}};
  rf.aggregate.aggregate_fields = {count_field("count")};
  op.fields.push_back(rf);
  auto rows = run_multi(op, {{1, v.obj}});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].data.at("agg"), json::parse(R"({"aggregate":{"count":1}})"));
  const std::set<std::string> expected = {
      R"(["public.order_items",["order_id","line"],["10","1"]])",
      R"(["public.order_items",["order_id","line"],["10","2"]])",
      R"(["public.order_items",["order_id","line"],["11","1"]])",
      R"(["public.orders",["id"],["10"]])",
      R"(["public.orders",["id"],["11"]])",
      R"(["public.orders",["id"],["13"]])",  // the aggregated row
  };
  EXPECT_EQ(key_set(rows[0].keys), expected);
}

TEST_F(SqlGenTest, SameShapeSameText) {
  Vars a, b;
  auto x = root("u", nested_users(a, 1));
  auto y = root("u", nested_users(b, 3));
  EXPECT_EQ(sql::single_query(x), sql::single_query(y));
  EXPECT_EQ(sql::multiplexed_query(x), sql::multiplexed_query(y));
}

TEST(SqlQuote, IdentifiersAndLiterals) {
  EXPECT_EQ(sql::quote_identifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(sql::quote_literal("it's"), "'it''s'");
  EXPECT_EQ(sql::quote_literal("a\\b"), "E'a\\\\b'");
}

}  // namespace
}  // namespace liveql
