// The cost of the worst requests the default compiler::Limits allow, against the demo database
// (tools/demo: its schema read from the database's catalog, its metadata from
// tools/demo/metadata): the CPU time of compile() plus SQL generation for each document, the
// time of the statement and the peak memory of the PostgreSQL backend that ran it (VmHWM of
// pg_backend_pid() in /proc: the server must be on this machine).
//   cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIVEQL_BENCH=ON
//   cmake --build build/bench --target limits_bench
//   build/bench/tools/bench/limits/limits_bench postgresql://... [--compile-only]
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
#include "liveql/server/metadata_loader.hpp"

namespace {

namespace cat = liveql::catalog;
namespace compiler = liveql::compiler;

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

// The demo database's catalog, as liveql serve reads it.
liveql::Result<cat::Catalog> read_catalog(PGconn* conn) {
  PGresult* r = PQexec(conn, std::string(cat::catalog_query()).c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    std::string message = PQresultErrorMessage(r);
    PQclear(r);
    return liveql::make_error(liveql::ErrorCode::kPostgresError, "catalog: " + message);
  }
  auto catalog = cat::parse_catalog(PQgetvalue(r, 0, 0));
  PQclear(r);
  return catalog;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return fmt::print(stderr, "usage: limits_bench DATABASE_URL [--compile-only]\n"), 2;
  const char* url = argv[1];
  const bool run_statements = !(argc > 2 && std::string(argv[2]) == "--compile-only");
  PGconn* catalog_conn = PQconnectdb(url);
  if (PQstatus(catalog_conn) != CONNECTION_OK)
    return fmt::print(stderr, "connect: {}", PQerrorMessage(catalog_conn)), 1;
  auto catalog = read_catalog(catalog_conn);
  PQfinish(catalog_conn);
  if (!catalog) return fmt::print(stderr, "{}\n", catalog.error().message), 1;
  auto md = liveql::server::load_metadata_path(LIVEQL_SOURCE_DIR "/tools/demo/metadata");
  if (!md) return fmt::print(stderr, "metadata: {}\n", md.error().message), 1;
  auto schema = compiler::build_schema(*catalog, *md);
  if (!schema) return fmt::print(stderr, "schema: {}\n", schema.error().message), 1;
  const compiler::Limits limits;
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
    if (run_statements && !sql.empty()) {
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
