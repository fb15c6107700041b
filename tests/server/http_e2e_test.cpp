// End to end over HTTP: the real `liveql` binary against a fresh database holding the demo
// schema (tools/demo), talked to over real sockets.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "http_client.hpp"
#include "support/test_db.hpp"

namespace liveql::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kAdminSecret = "e2e-admin-secret";
constexpr const char* kJwtKey = "an-hs256-key-that-is-at-least-32-characters";

std::string read_text(const std::string& rel) {
  std::ifstream in(source_path(rel));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string gql(const std::string& query, const json::object& variables = {}) {
  return json::serialize(json::object{{"query", query}, {"variables", variables}});
}

json::value parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return v;
}

// The single error of a GraphQL error body: (code, message, path).
struct GqlError {
  std::string code, message, path;
};
GqlError error_of(const HttpReply& r) {
  json::value v = parse(r.body);
  if (!v.is_object() || !v.as_object().contains("errors")) {
    ADD_FAILURE() << "no errors in " << r.body;
    return {};
  }
  EXPECT_FALSE(v.as_object().contains("data")) << r.body;
  const auto& e = v.at("errors").at(0).as_object();
  return {std::string(e.at("extensions").at("code").as_string()),
          std::string(e.at("message").as_string()),
          std::string(e.at("extensions").at("path").as_string())};
}

std::string jwt(const std::string& role, const std::string& user_id, long exp_offset_s) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  json::object claims{{"x-hasura-allowed-roles", json::array{"user"}},
                      {"x-hasura-default-role", role},
                      {"x-hasura-user-id", user_id}};
  json::object payload{{"sub", user_id},
                       {"iat", now - 10},
                       {"exp", now + exp_offset_s},
                       {"https://hasura.io/jwt/claims", claims}};
  return sign_hs256(json::serialize(payload), kJwtKey);
}

class HttpE2e : public ::testing::Test {
 protected:
  // A state dir of its own: slot names and state are per server instance.
  static std::string state_dir() {
    auto dir = std::filesystem::temp_directory_path() /
               ("liveql_http_e2e_state_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    return dir.string();
  }

  static void SetUpTestSuite() {
    db_url_ = new std::string(fresh_database(
        "server_http_e2e", read_text("tools/demo/schema.sql") + read_text("tools/demo/seed.sql")));
    server_ =
        new ChildProcess(LIVEQL_EXE, {"serve",
                                      "--database-url",
                                      *db_url_,
                                      "--metadata",
                                      source_path("tools/demo/metadata"),
                                      "--host",
                                      "127.0.0.1",
                                      "--port",
                                      "0",
                                      "--admin-secret",
                                      kAdminSecret,
                                      "--jwt-secret",
                                      std::string(R"({"type":"HS256","key":")") + kJwtKey + "\"}",
                                      "--max-body-bytes",
                                      "65536",
                                      "--pool-size",
                                      "2",
                                      "--log-level",
                                      "warn",
                                      "--slot-name",
                                      "server_http_e2e",
                                      "--state-dir",
                                      state_dir()});
    auto line = server_->wait_for_line("liveql listening on http://", 60s);
    ASSERT_TRUE(line) << "server did not start:\n" << server_->output();
    port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
    // Ready means /healthz answers; poll it with a deadline.
    auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      try {
        HttpClient c(port_);
        if (c.request("GET", "/healthz").status == 200) break;
      } catch (const std::exception&) {
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << server_->output();
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete db_url_;
  }
  void TearDown() override {
    // Whatever a test sent, the server keeps serving others.
    HttpClient c(port_);
    auto r = c.post("/v1/graphql", gql("{ users(order_by: {id: asc}) { id } }"), admin());
    EXPECT_EQ(parse(r.body), parse(R"({"data":{"users":[{"id":1},{"id":2},{"id":3}]}})"))
        << r.body << server_->output();
  }
  static std::map<std::string, std::string> admin() {
    return {{"x-hasura-admin-secret", kAdminSecret}};
  }
  static std::string* db_url_;
  static ChildProcess* server_;
  static unsigned short port_;
};
std::string* HttpE2e::db_url_ = nullptr;
ChildProcess* HttpE2e::server_ = nullptr;
unsigned short HttpE2e::port_ = 0;

TEST_F(HttpE2e, QueryMatchesHandWrittenJoin) {
  HttpClient c(port_);
  auto r = c.post("/v1/graphql",
                  gql("{ orders(order_by: {id: asc}) { id status total user { name } "
                      "items(order_by: {id: asc}) { name quantity } } }"),
                  admin());
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.headers["content-type"], "application/json; charset=utf-8");
  auto expected = query(*db_url_, R"(
    select coalesce(json_agg(json_build_object(
      'id', o.id, 'status', o.status, 'total', o.total,
      'user', json_build_object('name', u.name),
      'items', (select coalesce(json_agg(json_build_object('name', i.name, 'quantity', i.quantity)
                                         order by i.id), '[]')
                from order_items i where i.order_id = o.id))
      order by o.id), '[]')::text
    from orders o join users u on u.id = o.user_id)");
  json::value got = parse(r.body);
  ASSERT_TRUE(got.as_object().contains("data")) << r.body;
  EXPECT_EQ(got.at("data").at("orders"), parse(expected.at(0).at(0))) << r.body;
}

TEST_F(HttpE2e, KeepAliveAndVariables) {
  HttpClient c(port_);
  for (int id = 1; id <= 4; ++id) {
    auto r =
        c.post("/v1/graphql",
               gql("query($id: Int!) { orders_by_pk(id: $id) { id } }", {{"id", id}}), admin());
    ASSERT_EQ(r.status, 200u);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(parse(r.body),
              parse(R"({"data":{"orders_by_pk":{"id":)" + std::to_string(id) + "}}}"))
        << r.body;
  }
}

TEST_F(HttpE2e, RolesFromHeadersAndJwt) {
  HttpClient c(port_);
  auto by_header = c.post("/v1/graphql", gql("{ orders(order_by: {id: asc}) { id } }"),
                          {{"x-hasura-admin-secret", kAdminSecret},
                           {"x-hasura-role", "user"},
                           {"x-hasura-user-id", "1"}});
  EXPECT_EQ(parse(by_header.body), parse(R"({"data":{"orders":[{"id":1},{"id":2}]}})"));

  auto by_jwt = c.post("/v1/graphql", gql("{ orders { id } }"),
                       {{"authorization", "Bearer " + jwt("user", "2", 600)}});
  EXPECT_EQ(parse(by_jwt.body), parse(R"({"data":{"orders":[{"id":3}]}})"));

  // A column the role may not see is an unknown field for it.
  auto hidden = c.post("/v1/graphql", gql("{ delivery_agents { phone } }"),
                       {{"authorization", "Bearer " + jwt("user", "2", 600)}});
  EXPECT_EQ(error_of(hidden).code, "validation-failed");
}

TEST_F(HttpE2e, ExplainShowsOneStatementWithOneParameter) {
  HttpClient c(port_);
  json::object body{
      {"query", json::object{{"query",
                              "query($s: order_status) { orders(where: {status: {_eq: $s}}, "
                              "limit: 5) { id items { name } } }"},
                             {"variables", json::object{{"s", "placed"}}}}},
      {"user", json::object{{"x-hasura-role", "user"}, {"x-hasura-user-id", "1"}}}};
  auto r = c.post("/v1/graphql/explain", json::serialize(body), admin());
  ASSERT_EQ(r.status, 200u) << r.body;
  json::value v = parse(r.body);
  ASSERT_TRUE(v.is_array()) << r.body;
  ASSERT_EQ(v.as_array().size(), 1u);
  const auto& e = v.as_array()[0].as_object();
  EXPECT_EQ(e.at("field").as_string(), "orders");
  std::string sql(e.at("sql").as_string());
  EXPECT_NE(sql.find("$1"), std::string::npos) << sql;
  EXPECT_EQ(sql.find("$2"), std::string::npos) << sql;
  EXPECT_EQ(sql.find("placed"), std::string::npos) << "a value in the SQL text: " << sql;
  ASSERT_EQ(e.at("params").as_array().size(), 1u);
  EXPECT_NE(std::string(e.at("params").at(0).as_string()).find("placed"), std::string::npos);
  EXPECT_FALSE(e.at("plan").as_array().empty());

  auto denied = c.post("/v1/graphql/explain", json::serialize(body),
                       {{"authorization", "Bearer " + jwt("user", "1", 600)}});
  EXPECT_EQ(denied.status, 400u);
  EXPECT_EQ(parse(denied.body).at("code").as_string(), "access-denied");
}

TEST_F(HttpE2e, ExplainAnswersInHasurasShape) {
  HttpClient c(port_);
  // A static field: no statement, as Hasura answers __typename.
  json::object typename_only{
      {"query", json::object{{"query", "query abc { __typename }"}, {"operationName", "abc"}}}};
  auto r = c.post("/v1/graphql/explain", json::serialize(typename_only), admin());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(parse(r.body), parse(R"([{"field": "__typename", "sql": null, "plan": null}])"));

  // The admin secret with another role is not the admin: 400, as Hasura.
  auto headers = admin();
  headers["x-hasura-role"] = "random_user";
  auto as_user = c.post("/v1/graphql/explain", json::serialize(typename_only), headers);
  EXPECT_EQ(as_user.status, 400u) << as_user.body;

  // A subscription: one object, the multiplexed statement, its plan and the cohort variables.
  json::object sub{
      {"query",
       json::object{
           {"query", "subscription ($id: Int!) { orders(where: {id: {_eq: $id}}) { id } }"},
           {"variables", json::object{{"id", 1}}}}},
      {"user", json::object{{"x-hasura-role", "user"},
                            {"X-Hasura-User-Id", "1"},
                            {"x-hasura-allowed-ids", "{1,3,4}"}}}};
  auto s = c.post("/v1/graphql/explain", json::serialize(sub), admin());
  ASSERT_EQ(s.status, 200u) << s.body;
  json::value v = parse(s.body);
  ASSERT_TRUE(v.is_object()) << s.body;
  EXPECT_NE(std::string(v.at("sql").as_string()).find("unnest"), std::string::npos) << s.body;
  EXPECT_FALSE(v.at("plan").as_array().empty()) << s.body;
  EXPECT_EQ(v.at("variables"), parse(R"({"session": {"x-hasura-user-id": "1"},
      "query": {"id": "1"}, "synthetic": ["1"], "cursor": {}})"));

  // Mutations are refused, as Hasura does.
  json::object mutation{
      {"query", json::object{{"query",
                              "mutation { delete_orders(where: {id: {_eq: -1}}) { "
                              "affected_rows } }"}}}};
  auto m = c.post("/v1/graphql/explain", json::serialize(mutation), admin());
  EXPECT_EQ(m.status, 400u) << m.body;
}

TEST_F(HttpE2e, BadRequestsGetHasuraErrors) {
  HttpClient c(port_);
  auto malformed = c.post("/v1/graphql", "{\"query\": ", admin());
  EXPECT_EQ(malformed.status, 200u);
  EXPECT_EQ(error_of(malformed).code, "invalid-json");

  auto no_query = c.post("/v1/graphql", R"({"variables": {}})", admin());
  EXPECT_EQ(error_of(no_query).code, "parse-failed");

  auto bad_graphql = c.post("/v1/graphql", gql("{ orders { id "), admin());
  EXPECT_EQ(bad_graphql.status, 200u);
  auto syntax = error_of(bad_graphql);  // Hasura: validation-failed at $.query
  EXPECT_EQ(syntax.code, "validation-failed");
  EXPECT_NE(syntax.message.find("not a valid graphql query"), std::string::npos) << syntax.message;

  auto unknown = c.post("/v1/graphql", gql("{ orders { id bogus } }"), admin());
  auto u = error_of(unknown);
  EXPECT_EQ(u.code, "validation-failed");
  EXPECT_NE(u.path.find("bogus"), std::string::npos) << u.path;

  auto wrong_type =
      c.post("/v1/graphql",
             gql("query($id: Int!) { orders_by_pk(id: $id) { id } }", {{"id", "abc"}}), admin());
  EXPECT_EQ(error_of(wrong_type).code, "validation-failed");

  auto missing =
      c.post("/v1/graphql", gql("query($id: Int!) { orders_by_pk(id: $id) { id } }"), admin());
  EXPECT_EQ(error_of(missing).code, "validation-failed");

  std::string deep = "{ orders { id ";
  for (int i = 0; i < 20; ++i) deep += "user { orders { ";
  deep += "id";
  for (int i = 0; i < 20; ++i) deep += " } }";
  deep += " } }";
  auto too_deep = c.post("/v1/graphql", gql(deep), admin());
  EXPECT_EQ(error_of(too_deep).code, "validation-failed") << too_deep.body;
}

TEST_F(HttpE2e, AuthErrors) {
  HttpClient c(port_);
  auto bad_secret =
      c.post("/v1/graphql", gql("{ orders { id } }"), {{"x-hasura-admin-secret", "wrong"}});
  EXPECT_EQ(bad_secret.status, 200u);
  auto e = error_of(bad_secret);
  EXPECT_EQ(e.code, "access-denied");
  EXPECT_EQ(e.message, "invalid x-hasura-admin-secret/x-hasura-access-key");

  auto garbage =
      c.post("/v1/graphql", gql("{ orders { id } }"), {{"authorization", "Bearer not.a.jwt"}});
  EXPECT_EQ(error_of(garbage).code, "invalid-jwt");

  auto expired = c.post("/v1/graphql", gql("{ orders { id } }"),
                        {{"authorization", "Bearer " + jwt("user", "1", -3600)}});
  auto x = error_of(expired);
  EXPECT_EQ(x.code, "invalid-jwt");
  EXPECT_NE(x.message.find("JWTExpired"), std::string::npos) << x.message;

  std::string token = jwt("user", "1", 600);
  token.back() = token.back() == 'A' ? 'B' : 'A';
  auto tampered =
      c.post("/v1/graphql", gql("{ orders { id } }"), {{"authorization", "Bearer " + token}});
  EXPECT_EQ(error_of(tampered).code, "invalid-jwt");

  auto unknown_role =
      c.post("/v1/graphql", gql("{ orders { id } }"),
             {{"x-hasura-admin-secret", kAdminSecret}, {"x-hasura-role", "nobody"}});
  EXPECT_EQ(error_of(unknown_role).code, "validation-failed");

  auto no_credentials = c.post("/v1/graphql", gql("{ orders { id } }"));
  EXPECT_EQ(error_of(no_credentials).code, "invalid-headers");
}

TEST_F(HttpE2e, OversizedBodyIsRefusedAndTheConnectionClosed) {
  HttpClient c(port_);
  std::string huge = gql("{ orders { id } }" + std::string(70000, ' '));
  auto r = c.post("/v1/graphql", huge, admin());
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(error_of(r).code, "bad-request");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HttpE2e, OperationalEndpoints) {
  HttpClient c(port_);
  // Healthy once the replication stream is connected (it says so meanwhile): wait for it.
  auto health = c.request("GET", "/healthz");
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       health.body != "OK" && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    health = c.request("GET", "/healthz");
  }
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.body, "OK");

  auto metrics = c.request("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200u);
  EXPECT_NE(metrics.body.find("liveql_http_requests_total"), std::string::npos) << metrics.body;

  auto missing = c.request("GET", "/nope");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(parse(missing.body).at("code").as_string(), "not-found");

  auto cohorts = c.request("GET", "/v1/live/cohorts", "", admin());
  EXPECT_EQ(cohorts.status, 200u);
  EXPECT_TRUE(parse(cohorts.body).is_array()) << cohorts.body;
}

// Startup failures end the process with exit code 1 and say why.
TEST(HttpStartup, BadMetadataOrUnreachableDatabaseExitWithOne) {
  std::string url = fresh_database("server_http_startup", "create table t (id int primary key);");
  auto dir = std::filesystem::temp_directory_path() / "liveql-http-startup-metadata.yaml";
  std::ofstream(dir) << "- table: {name: missing_table, schema: public}\n";
  {
    ChildProcess p(LIVEQL_EXE, {"serve", "--database-url", url, "--metadata", dir.string(),
                                "--port", "0", "--host", "127.0.0.1"});
    auto rc = p.wait_exit(60s);
    ASSERT_TRUE(rc) << p.output();
    EXPECT_EQ(*rc, 1) << p.output();
    EXPECT_NE(p.output().find("missing_table"), std::string::npos) << p.output();
  }
  {
    ChildProcess p(LIVEQL_EXE, {"serve", "--database-url", "postgresql://127.0.0.1:1/none",
                                "--port", "0", "--host", "127.0.0.1"});
    auto rc = p.wait_exit(60s);
    ASSERT_TRUE(rc) << p.output();
    EXPECT_EQ(*rc, 1) << p.output();
    EXPECT_NE(p.output().find("cannot read the database catalog"), std::string::npos) << p.output();
  }
  {
    ChildProcess p(
        LIVEQL_EXE,
        {"serve", "--database-url", url, "--port", "0", "--host", "127.0.0.1", "--slot-name",
         "server_http_startup", "--state-dir",
         (std::filesystem::temp_directory_path() / "liveql-http-startup-state").string()});
    ASSERT_TRUE(p.wait_for_line("liveql listening on", 60s)) << p.output();
    p.signal(SIGTERM);
    auto rc = p.wait_exit(30s);
    ASSERT_TRUE(rc) << p.output();
    EXPECT_EQ(*rc, 0) << p.output();
  }
  std::filesystem::remove(dir);
}

// Database errors other than bad values reach admins verbatim and others as a generic message;
// the metadata comes from a single JSON file here.
TEST(HttpDatabaseErrors, PostgresErrorsDoNotLeakToNonAdmins) {
  std::string url = fresh_database("server_http_pg_errors", R"(
    create table secrets (id int primary key, v text);
    insert into secrets values (1, 'x');
    do $$ begin
      if not exists (select from pg_roles where rolname = 'liveql_http_limited') then
        create role liveql_http_limited login;
      end if;
    end $$;
    revoke all on secrets from liveql_http_limited;)");
  auto at = url.find("postgres@");
  ASSERT_NE(at, std::string::npos) << url;
  std::string limited = url.substr(0, at) + "liveql_http_limited@" + url.substr(at + 9);
  auto file = std::filesystem::temp_directory_path() / "liveql-http-pg-errors-metadata.json";
  std::ofstream(file) << R"({"version":3,"sources":[{"name":"default","kind":"postgres","tables":[
    {"table":{"schema":"public","name":"secrets"},
     "select_permissions":[{"role":"user","permission":{"columns":"*","filter":{}}}]}]}]})";
  ChildProcess p(
      LIVEQL_EXE,
      {"serve", "--database-url", limited, "--metadata", file.string(), "--port", "0", "--host",
       "127.0.0.1", "--admin-secret", "s", "--slot-name", "server_http_pg_errors", "--state-dir",
       (std::filesystem::temp_directory_path() / "liveql-http-pg-errors-state").string()});
  auto line = p.wait_for_line("liveql listening on http://", 60s);
  ASSERT_TRUE(line) << p.output();
  HttpClient c(static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1))));
  std::string body = gql("{ secrets { id v } }");

  auto as_admin = c.post("/v1/graphql", body, {{"x-hasura-admin-secret", "s"}});
  auto a = error_of(as_admin);
  EXPECT_EQ(a.code, "postgres-error");
  EXPECT_NE(a.message.find("permission denied"), std::string::npos) << a.message;

  auto as_user =
      c.post("/v1/graphql", body, {{"x-hasura-admin-secret", "s"}, {"x-hasura-role", "user"}});
  auto u = error_of(as_user);
  EXPECT_EQ(u.code, "postgres-error");
  EXPECT_EQ(u.message, "database query error");
  EXPECT_EQ(as_user.body.find("secrets"), std::string::npos) << as_user.body;

  std::filesystem::remove(file);
}

TEST_F(HttpE2e, ValuesPostgresRejectsAreDataExceptions) {
  HttpClient c(port_);
  auto r = c.post("/v1/graphql", gql(R"({ orders(where: {total: {_eq: "abc"}}) { id } })"),
                  {{"authorization", "Bearer " + jwt("user", "1", 600)}});
  auto e = error_of(r);
  EXPECT_EQ(e.code, "data-exception");
  EXPECT_NE(e.message.find("invalid input syntax for type numeric"), std::string::npos)
      << e.message;
}

}  // namespace
}  // namespace liveql::test
