#include "bench_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace liveql::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string& program_name() {
  static std::string name = "bench";
  return name;
}

}  // namespace

void set_program_name(std::string name) { program_name() = std::move(name); }

void die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", program_name().c_str(), message.c_str());
  std::exit(1);
}

int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string last_line_of(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) die("cannot run " + command);
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  if (::pclose(pipe) != 0) die("failed: " + command);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (auto nl = out.rfind('\n'); nl != std::string::npos) out = out.substr(nl + 1);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) die("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split(const std::string& s, char separator) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, separator)) out.push_back(item);
  return out;
}

Conn::Conn(const std::string& url) : pg_(PQconnectdb(url.c_str())) {
  if (PQstatus(pg_) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(pg_));
}

Conn::~Conn() { PQfinish(pg_); }

std::vector<std::vector<std::string>> Conn::rows(const std::string& sql) {
  PGresult* r = PQexec(pg_, sql.c_str());
  auto status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::string message = PQresultErrorMessage(r);
    PQclear(r);
    die(sql.substr(0, 200) + ": " + message);
  }
  std::vector<std::vector<std::string>> out;
  for (int i = 0; i < PQntuples(r); ++i) {
    auto& row = out.emplace_back();
    for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j));
  }
  PQclear(r);
  return out;
}

std::string Conn::value(const std::string& sql) {
  auto r = rows(sql);
  return r.empty() || r[0].empty() ? "" : r[0][0];
}

std::string start_cluster(const std::string& source_dir, const std::string& pg_dir,
                          const std::string& dbname) {
  return last_line_of(source_dir + "/tools/pg.sh start " + pg_dir + " " + dbname);
}

void fresh_database(Conn& root, const std::string& db, const std::string& role) {
  root.rows(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = '" +
      db + "' and not active");
  root.rows("drop database if exists " + db + " with (force)");
  root.rows("create database " + db);
  if (root.value("select count(*) from pg_roles where rolname = '" + role + "'") == "0")
    root.rows("create role " + role + " login superuser replication");
}

void drop_slot(Conn& root, const std::string& slot) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (root.value("select count(*) from pg_replication_slots where slot_name = '" + slot +
                   "' and active") == "0")
      break;
    std::this_thread::sleep_for(50ms);  // the walsender exits shortly after liveql
  }
  root.rows(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = '" +
      slot + "' and not active");
}

double role_statements(Conn& admin, const std::string& role) {
  return std::atof(admin
                       .value("select coalesce(sum(calls), 0) from pg_stat_statements s join "
                              "pg_roles r on r.oid = s.userid where r.rolname = '" +
                              role + "'")
                       .c_str());
}

std::string with_user_and_db(const std::string& url, const std::string& user,
                             const std::string& db) {
  // tools/pg.sh prints postgresql://postgres@127.0.0.1:PORT/DB
  auto at = url.find('@');
  auto slash = url.rfind('/');
  if (at == std::string::npos || slash == std::string::npos || slash < at) die("odd URL " + url);
  return "postgresql://" + user + url.substr(at, slash - at) + "/" + db;
}

double cpu_seconds(int pid, bool children) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  unsigned long long ticks = 0;
  const int last = children ? 17 : 15;
  for (int i = 3; i <= last && fields >> f; ++i)  // field 3 is the state
    if (i >= 14) ticks += std::stoull(f);         // utime, stime, cutime, cstime
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<std::pair<int, double>> backend_cpu(Conn& admin, const std::string& role) {
  std::vector<std::pair<int, double>> out;
  for (const auto& row :
       admin.rows("select pid from pg_stat_activity where usename = '" + role + "'")) {
    int pid = std::atoi(row[0].c_str());
    out.emplace_back(pid, cpu_seconds(pid));
  }
  return out;
}

double backend_cpu_delta(const std::vector<std::pair<int, double>>& before,
                         const std::vector<std::pair<int, double>>& after) {
  double total = 0;
  for (const auto& [pid, cpu] : after) {
    double base = 0;
    for (const auto& [p, c] : before)
      if (p == pid) base = c;
    total += cpu - base;
  }
  return total;
}

namespace {

// One request on a new connection under one deadline (asynchronous: a busy server must not hold
// up the tool); the response body, or "".
template <typename Body>
std::string http_exchange(const std::string& host, uint16_t port, http::request<Body>& req) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(5s);
  req.set(http::field::host, host);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  std::string body;
  stream.async_connect({asio::ip::make_address(host), port}, [&](beast::error_code ec) {
    if (ec) return;
    http::async_write(stream, req, [&](beast::error_code ec, size_t) {
      if (ec) return;
      http::async_read(stream, buffer, res, [&](beast::error_code ec, size_t) {
        if (!ec) body = res.body();
      });
    });
  });
  ioc.run();
  return body;
}

}  // namespace

std::string http_get(const std::string& host, uint16_t port, const std::string& target,
                     const std::string& admin_secret) {
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set("x-hasura-admin-secret", admin_secret);
  return http_exchange(host, port, req);
}

std::string http_post(const std::string& host, uint16_t port, const std::string& target,
                      const std::string& body, const std::string& admin_secret) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set("x-hasura-admin-secret", admin_secret);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  return http_exchange(host, port, req);
}

double metric_value(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    auto space = line.rfind(' ');
    sum += std::atof(line.c_str() + space + 1);
  }
  return sum;
}

std::vector<std::string> serve_args(const ServeArgs& a) {
  return {"serve",
          "--database-url",
          a.database_url,
          "--metadata",
          a.metadata,
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--admin-secret",
          a.admin_secret,
          "--live-mode-default",
          a.mode,
          "--refetch-interval-ms",
          std::to_string(a.refetch_interval_ms),
          "--state-dir",
          a.state_dir,
          "--slot-name",
          a.slot,
          "--log-level",
          "warn"};
}

Server start_server(const std::string& binary, const std::vector<std::string>& args,
                    const std::string& log_path) {
  int out[2];
  if (::pipe(out) != 0) die("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  Server server;
  if (posix_spawn(&server.pid, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0)
    die("cannot start " + binary);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);

  const std::string marker = "liveql listening on http://";
  std::string buffer;
  const auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) {
      int status = 0;
      if (::waitpid(server.pid, &status, WNOHANG) == server.pid)
        die("liveql exited during startup; see " + log_path);
      continue;
    }
    char buf[4096];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) die("liveql closed stdout during startup; see " + log_path);
    buffer.append(buf, static_cast<size_t>(n));
    auto at = buffer.find(marker);
    if (at == std::string::npos) continue;
    auto end = buffer.find('\n', at);
    if (end == std::string::npos) continue;
    std::string hostport = buffer.substr(at + marker.size(), end - at - marker.size());
    auto colon = hostport.rfind(':');
    server.host = hostport.substr(0, colon);
    server.port = static_cast<uint16_t>(std::atoi(hostport.c_str() + colon + 1));
    // liveql may keep writing to stdout: drain it from here on.
    std::thread([fd = out[0]] {
      char b[4096];
      while (::read(fd, b, sizeof b) > 0) {
      }
      ::close(fd);
    }).detach();
    return server;
  }
  ::kill(server.pid, SIGKILL);
  die("liveql did not print its address within 60 s; see " + log_path);
}

bool server_running(const Server& server) {
  int status = 0;
  return ::waitpid(server.pid, &status, WNOHANG) == 0;
}

void stop_server(const Server& server) {
  ::kill(server.pid, SIGTERM);
  const auto deadline = Clock::now() + 15s;
  while (Clock::now() < deadline) {
    int status = 0;
    const int r = ::waitpid(server.pid, &status, WNOHANG);
    if (r == server.pid || r < 0) return;
    std::this_thread::sleep_for(20ms);  // waiting for the process to exit, with a deadline
  }
  std::fprintf(stderr, "liveql did not stop within 15 s after SIGTERM: killing it\n");
  ::kill(server.pid, SIGKILL);
  int status = 0;
  ::waitpid(server.pid, &status, 0);
}

rlim_t raise_fd_limit(rlim_t needed) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) die("getrlimit");
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) die("setrlimit RLIMIT_NOFILE");
  }
  if (lim.rlim_cur < needed)
    die("open-file limit " + std::to_string(lim.rlim_cur) + " < " + std::to_string(needed) +
        " needed for the clients (raise the hard limit: ulimit -Hn / limits.conf)");
  return lim.rlim_cur;
}

Summary summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  double sum = 0;
  for (double x : v) sum += x;
  s.avg = sum / static_cast<double>(v.size());
  s.p50 = at(0.5);
  s.p90 = at(0.9);
  s.p99 = at(0.99);
  s.max = v.back();
  return s;
}

}  // namespace liveql::bench
