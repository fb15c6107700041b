// End to end: PostgreSQL guards seen from HTTP. A statement whose client closed the socket is
// cancelled in PostgreSQL (not left running), and a statement past --query-timeout-ms answers
// with the timeout error. The real `liveql` binary, real sockets, a real database; a lock held
// by another session makes the statement wait for as long as the test needs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "http_client.hpp"
#include "support/test_db.hpp"

namespace liveql::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kAdminSecret = "cancel-admin-secret";
constexpr int kTimeoutMs = 4000;

std::string read_text(const std::string& rel) {
  std::ifstream in(source_path(rel));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A session that holds `lock table ...` in an open transaction until destroyed.
class LockHolder {
 public:
  LockHolder(const std::string& url, const std::string& table) : pg_(PQconnectdb(url.c_str())) {
    if (PQstatus(pg_) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(pg_));
    exec("begin");
    exec("lock table " + table + " in access exclusive mode");
  }
  ~LockHolder() { PQfinish(pg_); }
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;

 private:
  void exec(const std::string& sql) {
    PGresult* r = PQexec(pg_, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) throw std::runtime_error(PQerrorMessage(pg_));
  }
  PGconn* pg_;
};

// liveql's pool statements waiting for a lock right now.
std::size_t waiting_statements(const std::string& url) {
  return query(url,
               "select pid from pg_stat_activity where application_name = 'liveql' and "
               "state = 'active' and wait_event_type = 'Lock' and datname = current_database()")
      .size();
}

template <class Pred>
bool wait_for(Pred done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
  }
  return true;
}

std::string orders_request(unsigned short port) {
  std::string body = json::serialize(json::object{{"query", "{ orders { id } }"}});
  return "POST /v1/graphql HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nContent-Type: application/json\r\nx-hasura-admin-secret: " + kAdminSecret +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class HttpCancelE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_url_ =
        new std::string(fresh_database("server_http_cancel", read_text("tools/demo/schema.sql") +
                                                                 read_text("tools/demo/seed.sql")));
    server_ = new ChildProcess(LIVEQL_EXE, {"serve",
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
                                            "--query-timeout-ms",
                                            std::to_string(kTimeoutMs),
                                            "--live-mode-default",
                                            "poll",
                                            "--pool-size",
                                            "2",
                                            "--log-level",
                                            "warn",
                                            "--slot-name",
                                            "server_http_cancel",
                                            "--state-dir",
                                            ""});
    auto line = server_->wait_for_line("liveql listening on http://", 60s);
    ASSERT_TRUE(line) << "server did not start:\n" << server_->output();
    port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
    ASSERT_TRUE(wait_for(
        [] {
          try {
            HttpClient c(port_);
            return c.request("GET", "/healthz").status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        30s))
        << server_->output();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete db_url_;
  }
  static std::string* db_url_;
  static ChildProcess* server_;
  static unsigned short port_;
};
std::string* HttpCancelE2e::db_url_ = nullptr;
ChildProcess* HttpCancelE2e::server_ = nullptr;
unsigned short HttpCancelE2e::port_ = 0;

TEST_F(HttpCancelE2e, ClientClosingTheSocketCancelsItsStatement) {
  LockHolder lock(*db_url_, "orders");
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string request = orders_request(port_);
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(wait_for([&] { return waiting_statements(*db_url_) == 1; }, 10s))
      << server_->output();
  auto closed = std::chrono::steady_clock::now();
  ::close(fd);
  // Well before the query timeout, with the lock still held: only a cancel ends it.
  ASSERT_TRUE(wait_for([&] { return waiting_statements(*db_url_) == 0; }, 2s)) << server_->output();
  EXPECT_LT(std::chrono::steady_clock::now() - closed, std::chrono::milliseconds(kTimeoutMs));
}

TEST_F(HttpCancelE2e, StatementPastTheTimeoutAnswersWithTheTimeoutError) {
  auto started = std::chrono::steady_clock::now();
  HttpReply reply;
  {
    LockHolder lock(*db_url_, "orders");
    HttpClient c(port_);
    reply = c.post("/v1/graphql", json::serialize(json::object{{"query", "{ orders { id } }"}}),
                   {{"x-hasura-admin-secret", kAdminSecret}});
  }
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(kTimeoutMs));
  json::value v = json::parse(reply.body);
  const auto& e = v.at("errors").at(0);
  EXPECT_EQ(e.at("extensions").at("code").as_string(), "postgres-error") << reply.body;
  EXPECT_EQ(e.at("message").as_string(),
            "the query exceeded the timeout of 4000 ms (--query-timeout-ms)")
      << reply.body;
  // The pool goes on.
  HttpClient c(port_);
  auto ok = c.post("/v1/graphql", json::serialize(json::object{{"query", "{ users { id } }"}}),
                   {{"x-hasura-admin-secret", kAdminSecret}});
  EXPECT_NE(ok.body.find("\"data\""), std::string::npos) << ok.body;
}

}  // namespace
}  // namespace liveql::test
