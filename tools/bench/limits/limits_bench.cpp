// The cost of the worst requests the default compiler::Limits allow, against the demo schema
// (tools/demo/schema.sql): the CPU time of compile() plus SQL generation for each document, and,
// given a database URL, the time of the statement and the peak memory of the PostgreSQL backend
// that ran it (VmHWM of pg_backend_pid() in /proc: the server must be on this machine).
//   cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIVEQL_BENCH=ON
//   cmake --build build/bench --target limits_bench
//   build/bench/tools/bench/limits/limits_bench [postgresql://... of a database with the demo
//   schema]
#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/compiler/sql.hpp"

namespace {

namespace cat = liveql::catalog;
namespace compiler = liveql::compiler;

cat::Column col(std::string name, std::string pg_type, std::string udt, bool nullable = false) {
  cat::Column c;
  c.name = std::move(name);
  c.pg_type = std::move(pg_type);
  c.udt_name = std::move(udt);
  c.nullable = nullable;
  return c;
}

// tools/demo/schema.sql
cat::Catalog demo_catalog() {
  cat::Table users;
  users.name = {"public", "users"};
  users.columns = {col("id", "integer", "int4"), col("name", "text", "text"),
                   col("email", "text", "text"),
                   col("created_at", "timestamp with time zone", "timestamptz")};
  users.primary_key = {"id"};
  cat::Table agents;
  agents.name = {"public", "delivery_agents"};
  agents.columns = {col("id", "integer", "int4"), col("name", "text", "text"),
                    col("phone", "text", "text", true), col("active", "boolean", "bool")};
  agents.primary_key = {"id"};
  cat::Table orders;
  orders.name = {"public", "orders"};
  cat::Column status = col("status", "order_status", "order_status");
  status.type_schema = "public";
  status.enum_values = {"placed", "preparing", "delivering", "delivered", "cancelled"};
  orders.columns = {col("id", "integer", "int4"),
                    col("user_id", "integer", "int4"),
                    col("delivery_agent_id", "integer", "int4", true),
                    status,
                    col("total", "numeric", "numeric"),
                    col("notes", "jsonb", "jsonb", true),
                    col("created_at", "timestamp with time zone", "timestamptz")};
  orders.primary_key = {"id"};
  orders.foreign_keys = {{"orders_user_id_fkey", {"user_id"}, {"public", "users"}, {"id"}},
                         {"orders_delivery_agent_id_fkey",
                          {"delivery_agent_id"},
                          {"public", "delivery_agents"},
                          {"id"}}};
  cat::Table items;
  items.name = {"public", "order_items"};
  items.columns = {col("id", "integer", "int4"), col("order_id", "integer", "int4"),
                   col("name", "text", "text"), col("quantity", "integer", "int4"),
                   col("price", "numeric", "numeric")};
  items.primary_key = {"id"};
  items.foreign_keys = {{"order_items_order_id_fkey", {"order_id"}, {"public", "orders"}, {"id"}}};
  cat::Catalog c;
  c.tables = {users, agents, orders, items};
  return c;
}

// tools/demo/metadata, in one file.
constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: users}
    array_relationships:
    - name: orders
      using:
        foreign_key_constraint_on: {column: user_id, table: {schema: public, name: orders}}
    select_permissions:
    - role: user
      permission:
        columns: [id, name, email]
        filter: {id: {_eq: X-Hasura-User-Id}}
  - table: {schema: public, name: delivery_agents}
  - table: {schema: public, name: orders}
    object_relationships:
    - name: user
      using: {foreign_key_constraint_on: user_id}
    - name: delivery_agent
      using: {foreign_key_constraint_on: delivery_agent_id}
    array_relationships:
    - name: items
      using:
        foreign_key_constraint_on: {column: order_id, table: {schema: public, name: order_items}}
    select_permissions:
    - role: user
      permission:
        columns: [id, user_id, delivery_agent_id, status, total, notes, created_at]
        filter: {user_id: {_eq: X-Hasura-User-Id}}
        allow_aggregations: true
  - table: {schema: public, name: order_items}
    object_relationships:
    - name: order
      using: {foreign_key_constraint_on: order_id}
    select_permissions:
    - role: user
      permission:
        columns: "*"
        filter: {order: {user_id: {_eq: X-Hasura-User-Id}}}
)YAML";

struct Document {
  std::string name;
  std::string query;
  std::string variables = "{}";
};

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::vector<Document> documents(const compiler::Limits& limits) {
  std::vector<Document> docs;
  const size_t aliases = limits.max_aliases;
  const size_t relations = limits.max_relations;
  {
    // Fragments fanned out up to the field limit: F0 spreads F1 10 times ..., F3 selects 9.
    std::string q = "query { users { ...F0 } }\n";
    for (int i = 0; i < 3; ++i)
      q += fmt::format("fragment F{} on users {{{}}}\n", i,
                       repeat(fmt::format(" ...F{}", i + 1), 10));
    q += "fragment F3 on users { id name email id name email id name email }\n";
    docs.push_back({"fan-out to 9001 fields (3 levels x 10, 9 leaves)", q});
  }
  {
    std::string q = "query { users { ...F0 } }\n";
    for (int i = 0; i < 10; ++i)
      q += fmt::format("fragment F{} on users {{{}}}\n", i,
                       repeat(fmt::format(" ...F{}", i + 1), 10));
    q += "fragment F10 on users { id }\n";
    docs.push_back({"fan-out of 10 levels (refused: 10^10 fields)", q});
  }
  {
    // Relations at the limit: root aliases of orders with their user.
    std::string q = "query {";
    for (size_t i = 0; i < relations / 2; ++i)
      q += fmt::format(" a{}: orders {{ id user {{ id name }} }}", i);
    docs.push_back({fmt::format("{} relations ({} root aliases of orders {{ user }})", relations,
                                relations / 2),
                    q + " }"});
  }
  {
    // Relations at the limit, nested as deep as they may go: users { orders { user ... } }.
    std::string q = "query {";
    size_t used = 0;
    size_t branch = 0;
    while (used + limits.max_query_depth - 1 <= relations && branch < aliases) {
      std::string inner = "id";
      for (size_t d = 1; d + 1 < limits.max_query_depth; ++d)
        inner = ((limits.max_query_depth - 1 - d) % 2 ? "orders { " : "user { ") + inner + " }";
      q += fmt::format(" b{}: users {{ {} }}", branch++, inner);
      used += limits.max_query_depth - 1;  // users and 30 relationships below it
    }
    docs.push_back(
        {fmt::format("{} relations in chains {} deep", used, limits.max_query_depth), q + " }"});
  }
  {
    // The widest rows: aliases x aliases columns up to the field limit.
    const size_t per_set = std::min(aliases, limits.max_fields / (aliases + 1));
    std::string q = "query {";
    for (size_t i = 0; i < per_set; ++i) {
      q += fmt::format(" a{}: orders {{", i);
      for (size_t j = 0; j + 1 < aliases && (i + 1) * (j + 2) <= limits.max_fields; ++j)
        q += fmt::format(" c{}: id", j);
      q += " }";
    }
    docs.push_back(
        {fmt::format("{} root aliases x {} column aliases", per_set, aliases - 1), q + " }"});
  }
  {
    // Values as deep as allowed: _and nested inline, and the same as a variable.
    const size_t levels = (limits.parse.max_value_depth - 2) / 2;
    std::string w;
    std::string j;
    for (size_t i = 0; i < levels; ++i) {
      w += "{_and: [";
      j += "{\"_and\": [";
    }
    w += "{id: {_gt: 0}}";
    j += R"({"id": {"_gt": 0}})";
    for (size_t i = 0; i < levels; ++i) {
      w += "]}";
      j += "]}";
    }
    docs.push_back(
        {fmt::format("_and {} deep inline", levels), "query { orders(where: " + w + ") { id } }"});
    docs.push_back({fmt::format("_and {} deep in a variable", levels),
                    "query($w: orders_bool_exp) { orders(where: $w) { id } }",
                    "{\"w\": " + j + "}"});
  }
  {
    // As many tokens as allowed: one long _in list.
    std::string list;
    const size_t n = limits.parse.max_tokens - 40;
    for (size_t i = 0; i < n; ++i) list += std::to_string(i % 1000) + " ";
    docs.push_back({fmt::format("{} tokens (an _in list of {} integers)", n + 20, n),
                    "query { orders(where: {id: {_in: [" + list + "]}}) { id } }"});
  }
  {
    // As many bytes as allowed: one string literal.
    const std::string head = R"(query { users(where: {name: {_eq: ")";
    const std::string tail = R"("}}) { id } })";
    const std::string body(limits.parse.max_document_bytes - head.size() - tail.size(), 'x');
    docs.push_back({fmt::format("{} bytes (one string)", limits.parse.max_document_bytes),
                    head + body + tail});
  }
  {
    docs.push_back({"GraphiQL introspection query", R"(
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
})"});
  }
  return docs;
}

double cpu_ms() { return 1000.0 * static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

long backend_peak_kb(PGconn* conn) {
  PGresult* r = PQexec(conn, "select pg_backend_pid()");
  std::string pid = PQgetvalue(r, 0, 0);
  PQclear(r);
  std::ifstream status("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  auto md = liveql::metadata::parse_metadata(kMetadata);
  if (!md) return fmt::print(stderr, "metadata: {}\n", md.error().message), 1;
  auto schema = compiler::build_schema(demo_catalog(), *md);
  if (!schema) return fmt::print(stderr, "schema: {}\n", schema.error().message), 1;
  const compiler::Limits limits;
  const char* url = argc > 1 ? argv[1] : nullptr;
  fmt::print("{:<52} {:>9} {:>12} {:>10} {:>11}  {}\n", "document (default limits)", "bytes",
             "compile ms", "stmt ms", "backend MB", "outcome");
  for (const auto& doc : documents(limits)) {
    compiler::Request req;
    req.query = doc.query;
    boost::json::parse_options deep;
    deep.max_depth = 4096;
    req.variables = boost::json::parse(doc.variables, {}, deep).as_object();
    compiler::Session session;
    session.role = "user";
    session.is_admin = false;
    session.variables["x-hasura-user-id"] = "1";
    // Median of 5 runs, CPU time of compile() and single_query().
    std::vector<double> times;
    std::string outcome;
    std::string sql;
    std::string vars;
    for (int i = 0; i < 5; ++i) {
      const double start = cpu_ms();
      auto op = compiler::compile(**schema, req, session, limits);
      if (op && !op->static_data) sql = liveql::sql::single_query(op->ir);
      times.push_back(cpu_ms() - start);
      if (!op) {
        outcome = "refused: " + op.error().message.substr(0, 90);
      } else {
        outcome = op->static_data ? "static" : "compiled";
        vars = boost::json::serialize(op->vars);
      }
    }
    std::sort(times.begin(), times.end());
    std::string stmt_ms = "-";
    std::string peak = "-";
    if (url && !sql.empty()) {
      PGconn* conn = PQconnectdb(url);
      if (PQstatus(conn) != CONNECTION_OK) {
        fmt::print(stderr, "connect: {}", PQerrorMessage(conn));
        return 1;
      }
      const char* params[] = {vars.c_str()};
      const auto start = std::chrono::steady_clock::now();
      PGresult* r = PQexecParams(conn, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
      const auto elapsed = std::chrono::steady_clock::now() - start;
      if (PQresultStatus(r) != PGRES_TUPLES_OK)
        outcome += " / SQL error: " + std::string(PQresultErrorMessage(r)).substr(0, 60);
      PQclear(r);
      stmt_ms = fmt::format("{:.1f}", std::chrono::duration<double, std::milli>(elapsed).count());
      peak = fmt::format("{:.1f}", static_cast<double>(backend_peak_kb(conn)) / 1024);
      PQfinish(conn);
    }
    fmt::print("{:<52} {:>9} {:>12.2f} {:>10} {:>11}  {}\n", doc.name, doc.query.size(),
               times[times.size() / 2], stmt_ms, peak, outcome);
  }
  return 0;
}
