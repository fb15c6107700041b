// latency_bench: end-to-end cost of liveql's subscriptions (issues 3 and 4).
//
// For each live mode (the server default: `--live-mode-default poll --refetch-interval-ms 1000`,
// Hasura's behaviour, and `--live-mode-default event`) it starts `liveql serve` on the demo schema
// (tools/demo) with port 0, then:
//  1. latency, for each subscriber count N: opens N graphql-transport-ws clients, each as role
//     `user` for one of K bench users (connection_init payload.headers), subscribed to
//       subscription ($id: Int!) { orders(where: {id: {_eq: $id}}) { id status total } }
//     for that user's order; then commits U updates, one per interval, each setting `total` of
//     all K watched orders to 1000 + update number in one transaction. For each update and each
//     client it records the time from the COMMIT reply to the arrival of the result carrying the
//     new total. It reports p50/p90/p99/max, liveql's CPU time (/proc/<pid>/stat utime+stime)
//     and the CPU time of liveql's PostgreSQL backends over the update phase.
//  2. idle cost: opens I idle subscribers (K = I distinct users), waits for every first result,
//     then counts for S seconds with no writes the statements liveql's connections run
//     (pg_stat_statements `calls` of liveql's own role) and liveql_refetch_statements_total.
// Which mode the server put each cohort in is read from GET /v1/live/cohorts (admin secret); a
// WARNING is printed when a cohort is not in the requested mode. Each phase also prints the
// statements liveql ran by text (calls and mean execution time from pg_stat_statements), the
// latency of the first client per update (commit -> first push, without the fan-out), and in the
// idle phase the keep-alive pings/s liveql sent. The soft open-file limit is raised to the hard
// limit (liveql inherits it); the bench stops with a message when the clients cannot fit.
//
//   latency_bench [--pg-dir DIR] [--modes poll,event] [--subscribers 1,100,1000]
//                 [--distinct K] [--updates 30] [--interval-ms 1000] [--idle 10000]
//                 [--idle-seconds 30] [--refetch-interval-ms 1000] [--liveql PATH]
//                 [--writer sql|graphql]
//
// --writer graphql sends each update as an `update_orders` mutation through liveql (HTTP, admin)
// and times arrivals from the mutation's response: "mutation response -> push".
//
// Everything runs against 127.0.0.1, with bounded counts and deadlines, and stops by itself.
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_support.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
namespace fs = std::filesystem;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace liveql::bench;

constexpr const char* kAdminSecret = "bench-admin-secret";
constexpr const char* kDatabase = "liveql_bench_lat";
constexpr const char* kServerRole = "liveql_bench_srv";  // liveql's own role, to count its SQL
constexpr int kTotalBase = 1000;                         // total = kTotalBase + update number

// How many cohorts GET /v1/live/cohorts lists, and how many of them are in `mode`.
std::pair<int, int> cohorts_in_mode(const std::string& body, const std::string& mode) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_array()) return {0, 0};
  int total = 0, in_mode = 0;
  for (const auto& c : v.as_array()) {
    if (!c.is_object()) continue;
    ++total;
    const auto* m = c.as_object().if_contains("mode");
    if (m && m->is_string() && m->as_string() == mode) ++in_mode;
  }
  return {total, in_mode};
}

// "orders event (reason) subscribers=.. distinct=..; ..." from GET /v1/live/cohorts.
std::string cohort_modes(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_array()) return "unavailable (" + body.substr(0, 120) + ")";
  std::string out;
  for (const auto& c : v.as_array()) {
    if (!c.is_object()) continue;
    const auto& o = c.as_object();
    auto str = [&](const char* key) -> std::string {
      auto* p = o.if_contains(key);
      return p && p->is_string() ? std::string(p->as_string()) : "?";
    };
    auto num = [&](const char* key) -> std::string {
      auto* p = o.if_contains(key);
      return p && p->is_number() ? json::serialize(*p) : "?";
    };
    if (!out.empty()) out += "; ";
    out += str("root_field") + " " + str("mode");
    std::string reason = str("mode_reason");
    if (!reason.empty() && reason != "?") out += " (" + reason + ")";
    out += " subscribers=" + num("subscribers") + " distinct=" + num("distinct_variables");
  }
  return out.empty() ? "no cohorts" : out;
}

// ---------------------------------------------------------------------------------------------
// graphql-transport-ws clients (one io_context thread)

struct Client {
  int user_id = 0;
  int order_id = 0;
  std::vector<std::atomic<int64_t>> arrivals;  // by update number; 0 = not (yet) seen
  std::atomic<bool> ready{false};              // first result received
  std::atomic<bool> failed{false};
  std::string error;                                         // written before `failed`
  std::unique_ptr<websocket::stream<beast::tcp_stream>> ws;  // io thread only
};

struct ClientSet {
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  std::atomic<int> finished{0};
  std::atomic<int64_t> pings{0};  // keep-alive pings received from liveql
  std::string first_error;        // io thread only until joined
};

// The update number a result carries (total - kTotalBase), or -1.
int update_number(const json::value& msg) {
  const json::value* orders = nullptr;
  if (auto* payload = msg.as_object().if_contains("payload"); payload && payload->is_object())
    if (auto* data = payload->as_object().if_contains("data"); data && data->is_object())
      orders = data->as_object().if_contains("orders");
  if (!orders || !orders->is_array() || orders->as_array().empty()) return -1;
  const auto& row = orders->as_array()[0];
  if (!row.is_object()) return -1;
  const auto* total = row.as_object().if_contains("total");
  if (!total) return -1;
  double t = 0;
  if (total->is_number())
    t = total->to_number<double>();
  else if (total->is_string())
    t = std::atof(total->as_string().c_str());
  else
    return -1;
  return static_cast<int>(std::lround(t)) - kTotalBase;
}

asio::awaitable<void> run_client(Client& c, ClientSet& set, tcp::endpoint endpoint,
                                 std::string host) {
  auto fail = [&](std::string why) {
    if (set.first_error.empty()) set.first_error = why;
    c.error = std::move(why);
    c.failed = true;
    ++set.failed;
  };
  auto executor = co_await asio::this_coro::executor;
  c.ws = std::make_unique<websocket::stream<beast::tcp_stream>>(executor);
  auto& ws = *c.ws;
  co_await beast::get_lowest_layer(ws).async_connect(endpoint, asio::use_awaitable);
  beast::get_lowest_layer(ws).expires_never();
  ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
    req.set(http::field::sec_websocket_protocol, "graphql-transport-ws");
  }));
  co_await ws.async_handshake(host + ":" + std::to_string(endpoint.port()), "/v1/graphql",
                              asio::use_awaitable);
  ws.text(true);
  json::object init{{"type", "connection_init"},
                    {"payload",
                     {{"headers",
                       {{"x-hasura-admin-secret", kAdminSecret},
                        {"x-hasura-role", "user"},
                        {"x-hasura-user-id", std::to_string(c.user_id)}}}}}};
  co_await ws.async_write(asio::buffer(json::serialize(init)), asio::use_awaitable);
  beast::flat_buffer buffer;
  while (true) {
    buffer.clear();
    co_await ws.async_read(buffer, asio::use_awaitable);
    const int64_t arrived = now_ns();
    boost::system::error_code ec;
    json::value msg = json::parse(beast::buffers_to_string(buffer.data()), ec);
    if (ec || !msg.is_object()) {
      fail("bad message: " + beast::buffers_to_string(buffer.data()).substr(0, 200));
      co_return;
    }
    const auto* type_value = msg.as_object().if_contains("type");
    std::string type = type_value && type_value->is_string() ? std::string(type_value->as_string())
                                                             : std::string();
    if (type == "connection_ack") {
      json::object sub{
          {"id", "1"},
          {"type", "subscribe"},
          {"payload",
           {{"query",
             "subscription ($id: Int!) { orders(where: {id: {_eq: $id}}) { id status total } }"},
            {"variables", {{"id", c.order_id}}}}}};
      co_await ws.async_write(asio::buffer(json::serialize(sub)), asio::use_awaitable);
    } else if (type == "next") {
      if (!c.ready.exchange(true)) ++set.ready;
      int n = update_number(msg);
      if (n >= 0 && static_cast<size_t>(n) < c.arrivals.size()) {
        int64_t expected = 0;
        c.arrivals[static_cast<size_t>(n)].compare_exchange_strong(expected, arrived);
      }
    } else if (type == "ping") {
      ++set.pings;
      co_await ws.async_write(asio::buffer(std::string(R"({"type":"pong"})")), asio::use_awaitable);
    } else if (type == "pong") {
    } else {
      fail(type + ": " + json::serialize(msg).substr(0, 300));
      co_return;
    }
  }
}

// Clients for one phase. Their coroutines run on `io` (its own thread).
class Fleet {
 public:
  Fleet(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Fleet() {
    close_all();
    guard_.reset();
    const auto deadline = Clock::now() + 20s;
    while (set_.finished.load() < static_cast<int>(clients_.size()) && Clock::now() < deadline)
      std::this_thread::sleep_for(10ms);  // waiting for the coroutines to end, with a deadline
    io_.stop();
    thread_.join();
  }

  // Opens clients for (user, order) pairs, at most `window` connecting at once, and waits (with
  // a deadline) until each has its first result or failed. Returns the time that took.
  double open(const std::vector<std::pair<int, int>>& subscribers, int updates,
              std::chrono::seconds timeout) {
    const auto start = Clock::now();
    const auto deadline = start + timeout;
    const tcp::endpoint endpoint(asio::ip::make_address(host_), port_);
    constexpr int kWindow = 200;
    for (const auto& [user, order] : subscribers) {
      auto c = std::make_unique<Client>();
      c->user_id = user;
      c->order_id = order;
      c->arrivals = std::vector<std::atomic<int64_t>>(static_cast<size_t>(updates));
      for (auto& a : c->arrivals) a.store(0);
      clients_.push_back(std::move(c));
    }
    size_t launched = 0;
    while (Clock::now() < deadline) {
      const int settled = set_.ready.load() + set_.failed.load();
      while (launched < clients_.size() && static_cast<int>(launched) - settled < kWindow) {
        Client& c = *clients_[launched++];
        asio::co_spawn(io_, run_client(c, set_, endpoint, host_), [this, &c](std::exception_ptr e) {
          if (e && !c.failed.load() && !closing_.load()) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              if (set_.first_error.empty()) set_.first_error = ex.what();
              c.error = ex.what();
            }
            c.failed = true;
            ++set_.failed;
          }
          ++set_.finished;
        });
      }
      if (settled >= static_cast<int>(clients_.size())) break;
      std::this_thread::sleep_for(5ms);  // waiting for first results, with a deadline
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  void close_all() {
    if (closing_.exchange(true)) return;
    std::promise<void> done;
    asio::post(io_, [&] {
      for (auto& c : clients_) {
        if (!c->ws) continue;
        beast::error_code ec;
        beast::get_lowest_layer(*c->ws).socket().close(ec);
      }
      done.set_value();
    });
    done.get_future().wait();
  }

  int ready() const { return set_.ready.load(); }
  int failed() const { return set_.failed.load(); }
  int64_t pings() const { return set_.pings.load(); }
  std::string first_error() {
    std::promise<std::string> p;
    asio::post(io_, [&] { p.set_value(set_.first_error); });
    return p.get_future().get();
  }
  const std::vector<std::unique_ptr<Client>>& clients() const { return clients_; }

 private:
  std::string host_;
  uint16_t port_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  std::thread thread_;
  std::vector<std::unique_ptr<Client>> clients_;
  ClientSet set_;
  std::atomic<bool> closing_{false};
};

// ---------------------------------------------------------------------------------------------
// Statistics

struct LatencyRow {
  std::string mode;
  int subscribers = 0, distinct = 0, updates = 0;
  Summary from_reply, from_before;
  size_t missing = 0;
  double liveql_cpu = 0, db_cpu = 0, statements = 0, refetch_statements = 0, refetches = 0;
  std::string cohorts;
  int cohorts_total = 0, cohorts_in_mode = 0;  // cohorts listed, and in the requested mode
};

struct IdleRow {
  std::string mode;
  int subscribers = 0, ready = 0;
  double seconds = 0, open_seconds = 0, statements = 0, refetch_statements = 0;
  double liveql_cpu = 0, db_cpu = 0, pings = 0;
  std::string cohorts;
  int cohorts_total = 0, cohorts_in_mode = 0;
};

// ---------------------------------------------------------------------------------------------

struct Options {
  std::string pg_dir = "/tmp/liveql-bench-pg";
  std::string binary = LIVEQL_BINARY;
  std::vector<std::string> modes{"poll", "event"};
  std::vector<int> subscribers{1, 100, 1000};
  int distinct = 0;  // 0: min(N, 100)
  int updates = 30;
  int interval_ms = 1000;
  int idle = 10000;
  int idle_seconds = 30;
  int refetch_interval_ms = 1000;
  // "sql": each update is a transaction on a libpq connection, timed from its COMMIT reply;
  // "graphql": an `update_orders` mutation posted to liveql itself (admin, HTTP), timed from the
  // mutation's response — what a client that writes through liveql sees.
  std::string writer = "sql";
};

// Bench users 1..count with one order each (ids returned), in a fresh database.
std::vector<std::pair<int, int>> make_bench_rows(Conn& db, int count) {
  db.rows(
      "insert into users (name, email) select 'bench ' || g, 'bench' || g || '@example.com' "
      "from generate_series(1, " +
      std::to_string(count) + ") g");
  db.rows(
      "insert into orders (user_id, status, total) select u.id, 'placed', 0 from users u where "
      "u.email like 'bench%@example.com' order by u.id");
  std::vector<std::pair<int, int>> out;
  for (const auto& row : db.rows("select o.user_id, o.id from orders o join users u on u.id = "
                                 "o.user_id where u.email like 'bench%@example.com' order by o.id"))
    out.emplace_back(std::atoi(row[0].c_str()), std::atoi(row[1].c_str()));
  return out;
}

// Calls and total execution time (ms) of each statement liveql's role ran
// (pg_stat_statements), by queryid, with the start of its text.
struct StatementStats {
  double calls = 0, exec_ms = 0;
  std::string text;
};
std::map<std::string, StatementStats> statement_calls(Conn& admin) {
  std::map<std::string, StatementStats> out;
  for (const auto& row : admin.rows(
           std::string("select s.queryid::text, sum(s.calls), sum(s.total_exec_time), "
                       "min(left(regexp_replace(s.query, "
                       "'\\s+', ' ', 'g'), 90)) from pg_stat_statements s join pg_roles r on "
                       "r.oid = s.userid where r.rolname = '") +
           kServerRole + "' group by s.queryid"))
    out[row[0]] = {std::atof(row[1].c_str()), std::atof(row[2].c_str()), row[3]};
  return out;
}

// "  12 x  1.23 ms  select ..." per line: the statements run between two snapshots (calls, mean
// execution time in PostgreSQL), most calls first.
std::string statement_breakdown(const std::map<std::string, StatementStats>& before,
                                const std::map<std::string, StatementStats>& after) {
  std::vector<StatementStats> delta;
  for (const auto& [id, stats] : after) {
    StatementStats base;
    if (auto it = before.find(id); it != before.end()) base = it->second;
    if (stats.calls - base.calls > 0)
      delta.push_back({stats.calls - base.calls, stats.exec_ms - base.exec_ms, stats.text});
  }
  std::sort(delta.begin(), delta.end(),
            [](const auto& a, const auto& b) { return a.calls > b.calls; });
  std::string out;
  for (const auto& d : delta) {
    if (!out.empty()) out += "\n    ";
    char head[64];
    std::snprintf(head, sizeof head, "%6.0f x %7.2f ms  ", d.calls, d.exec_ms / d.calls);
    out += head + d.text;
  }
  return out.empty() ? "(none)" : out;
}

double liveql_statements(Conn& admin) { return role_statements(admin, kServerRole); }

}  // namespace

int main(int argc, char** argv) {
  set_program_name("latency_bench");
  Options opt;
  CLI::App app{"latency_bench: commit to client latency of liveql's live queries", "latency_bench"};
  app.add_option("--pg-dir", opt.pg_dir, "the benchmark's PostgreSQL cluster")
      ->capture_default_str();
  app.add_option("--liveql", opt.binary, "the liveql binary")->capture_default_str();
  app.add_option("--modes", opt.modes, "live modes, in order")
      ->delimiter(',')
      ->check(CLI::IsMember({"event", "poll"}))
      ->capture_default_str();
  app.add_option("--subscribers", opt.subscribers, "subscriber counts, one run each")
      ->delimiter(',')
      ->check(CLI::Range(1, 15'000))
      ->capture_default_str();
  app.add_option("--distinct", opt.distinct, "distinct variable sets (0: min(N, 100))")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--updates", opt.updates, "updates per run")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  app.add_option("--interval-ms", opt.interval_ms, "between updates")
      ->check(CLI::Range(10, 60'000))
      ->capture_default_str();
  app.add_option("--idle", opt.idle, "idle clients for the keep-alive phase")
      ->check(CLI::Range(0, 15'000))
      ->capture_default_str();
  app.add_option("--idle-seconds", opt.idle_seconds, "length of the keep-alive phase")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  app.add_option("--writer", opt.writer, "sql (libpq transactions) or graphql (mutations)")
      ->check(CLI::IsMember({"sql", "graphql"}))
      ->capture_default_str();
  app.add_option("--refetch-interval-ms", opt.refetch_interval_ms, "liveql's poll interval")
      ->check(CLI::Range(10, 60'000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const std::string src = LIVEQL_SOURCE_DIR;
  if (!fs::exists(opt.binary)) die("no liveql binary at " + opt.binary);
  int most_clients = opt.idle;
  for (int n : opt.subscribers) most_clients = std::max(most_clients, n);
  raise_fd_limit(static_cast<rlim_t>(most_clients) + 256);

  // A fresh database with the demo schema and seed, and a role for liveql alone.
  const std::string url = start_cluster(src, opt.pg_dir, "liveql_bench");
  Conn root(url);
  fresh_database(root, kDatabase, kServerRole);
  const std::string admin_url = with_user_and_db(url, "postgres", kDatabase);
  const std::string liveql_url = with_user_and_db(url, kServerRole, kDatabase);
  Conn admin(admin_url);
  admin.rows("create extension if not exists pg_stat_statements");
  admin.rows(read_file(src + "/tools/demo/schema.sql"));
  admin.rows(read_file(src + "/tools/demo/seed.sql"));
  int max_rows = opt.idle;
  for (int n : opt.subscribers)
    max_rows = std::max(max_rows, opt.distinct > 0 ? std::min(n, opt.distinct) : std::min(n, 100));
  const auto bench_rows = make_bench_rows(admin, max_rows);
  admin.rows("analyze");

  // The demo metadata, minus its per-table live_mode keys, so that the server default decides.
  const fs::path work =
      fs::temp_directory_path() / ("liveql-latency-bench-" + std::to_string(::getpid()));
  fs::remove_all(work);
  const fs::path metadata = work / "metadata";
  for (const auto& entry : fs::recursive_directory_iterator(src + "/tools/demo/metadata")) {
    const fs::path rel = fs::relative(entry.path(), src + "/tools/demo/metadata");
    if (entry.is_directory()) {
      fs::create_directories(metadata / rel);
      continue;
    }
    fs::create_directories((metadata / rel).parent_path());
    std::istringstream in(read_file(entry.path().string()));
    std::ofstream out(metadata / rel);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("live_mode:", 0) != 0) out << line << "\n";
  }

  Conn writer(admin_url);
  writer.rows("set synchronous_commit = on");
  const std::string pg_version = admin.value("show server_version");
  const std::string fsync = admin.value("show fsync");
  std::printf("latency_bench: PostgreSQL %s (fsync=%s), liveql %s, %u cores\n", pg_version.c_str(),
              fsync.c_str(), opt.binary.c_str(), std::thread::hardware_concurrency());

  std::vector<LatencyRow> latency_rows;
  std::vector<IdleRow> idle_rows;
  for (const std::string& mode : opt.modes) {
    const std::string slot = "liveql_lat_" + mode;
    const std::string log = (work / ("liveql-" + mode + ".log")).string();
    const auto args = serve_args({.database_url = liveql_url,
                                  .metadata = metadata.string(),
                                  .admin_secret = kAdminSecret,
                                  .mode = mode,
                                  .state_dir = (work / ("state-" + mode)).string(),
                                  .slot = slot,
                                  .refetch_interval_ms = opt.refetch_interval_ms});
    Server server = start_server(opt.binary, args, log);
    std::printf("\n[%s] liveql pid %d on %s:%u (log %s)\n", mode.c_str(), server.pid,
                server.host.c_str(), server.port, log.c_str());
    std::fflush(stdout);

    for (int n : opt.subscribers) {
      const int distinct = opt.distinct > 0 ? std::min(n, opt.distinct) : std::min(n, 100);
      std::vector<std::pair<int, int>> subs;
      for (int i = 0; i < n; ++i) subs.push_back(bench_rows[static_cast<size_t>(i % distinct)]);
      std::string ids;
      for (int k = 0; k < distinct; ++k) {
        if (k) ids += ',';
        ids += std::to_string(bench_rows[static_cast<size_t>(k)].second);
      }
      writer.rows("update orders set total = 0 where id in (" + ids + ")");

      LatencyRow row;
      row.mode = mode;
      row.subscribers = n;
      row.distinct = distinct;
      row.updates = opt.updates;
      Fleet fleet(server.host, server.port);
      const double open_s = fleet.open(subs, opt.updates, 120s);
      std::printf("[%s] N=%d: %d ready, %d failed in %.2f s\n", mode.c_str(), n, fleet.ready(),
                  fleet.failed(), open_s);
      if (fleet.failed() > 0) std::printf("  first error: %s\n", fleet.first_error().c_str());
      std::fflush(stdout);
      if (fleet.ready() == 0) {
        row.cohorts = "no subscriber got a first result";
        latency_rows.push_back(row);
        continue;
      }
      std::this_thread::sleep_for(1500ms);  // let first fetches and mode decisions settle
      const std::string cohorts_body =
          http_get(server.host, server.port, "/v1/live/cohorts", kAdminSecret);
      row.cohorts = cohort_modes(cohorts_body);
      std::tie(row.cohorts_total, row.cohorts_in_mode) = cohorts_in_mode(cohorts_body, mode);
      if (row.cohorts_in_mode != row.cohorts_total || row.cohorts_total == 0)
        std::printf("  WARNING: %d of %d cohorts in mode %s: %s\n", row.cohorts_in_mode,
                    row.cohorts_total, mode.c_str(), row.cohorts.c_str());

      std::vector<int64_t> before(static_cast<size_t>(opt.updates)),
          reply(static_cast<size_t>(opt.updates));
      const double cpu0 = cpu_seconds(server.pid);
      const auto db0 = backend_cpu(admin, kServerRole);
      const double st0 = liveql_statements(admin);
      const auto calls0 = statement_calls(admin);
      const std::string metrics0 = http_get(server.host, server.port, "/metrics", kAdminSecret);
      const double rf0 = metric_value(metrics0, "liveql_refetch_statements_total");
      const double rc0 = metric_value(metrics0, "liveql_refetches_total");
      const auto start = Clock::now() + 200ms;
      for (int u = 0; u < opt.updates; ++u) {
        std::this_thread::sleep_until(start + u * std::chrono::milliseconds(opt.interval_ms));
        // Totals are reset to 0 before each phase, so an earlier result never counts.
        const int total = kTotalBase + u;
        if (opt.writer == "graphql") {
          const std::string mutation = json::serialize(
              json::object{{"query", "mutation { update_orders(where: {id: {_in: [" + ids +
                                         "]}}, _set: {total: " + std::to_string(total) +
                                         "}) { affected_rows } }"}});
          before[static_cast<size_t>(u)] = now_ns();
          const std::string answer =
              http_post(server.host, server.port, "/v1/graphql", mutation, kAdminSecret);
          reply[static_cast<size_t>(u)] = now_ns();
          if (answer.find("affected_rows") == std::string::npos)
            die("the mutation failed: " + answer.substr(0, 300));
          continue;
        }
        writer.rows("begin");
        writer.rows("update orders set total = " + std::to_string(total) + " where id in (" + ids +
                    ")");
        before[static_cast<size_t>(u)] = now_ns();
        writer.rows("commit");
        reply[static_cast<size_t>(u)] = now_ns();
      }
      // Wait for the last results: every client has every update, or 3 intervals + 5 s.
      const auto drain = Clock::now() + std::chrono::milliseconds(3 * opt.interval_ms) + 5s;
      auto all_arrived = [&] {
        for (const auto& c : fleet.clients())
          if (c->ready && !c->failed && opt.updates > 0 && c->arrivals.back().load() == 0)
            return false;
        return true;
      };
      while (!all_arrived() && Clock::now() < drain)
        std::this_thread::sleep_for(10ms);  // waiting for arrivals, with a deadline
      row.liveql_cpu = cpu_seconds(server.pid) - cpu0;
      row.db_cpu = backend_cpu_delta(db0, backend_cpu(admin, kServerRole));
      row.statements = liveql_statements(admin) - st0;
      const std::string metrics1 = http_get(server.host, server.port, "/metrics", kAdminSecret);
      row.refetch_statements = metric_value(metrics1, "liveql_refetch_statements_total") - rf0;
      row.refetches = metric_value(metrics1, "liveql_refetches_total") - rc0;
      const std::string breakdown = statement_breakdown(calls0, statement_calls(admin));

      std::vector<double> from_reply, from_before;
      for (const auto& c : fleet.clients()) {
        if (!c->ready || c->failed) continue;
        for (int u = 0; u < opt.updates; ++u) {
          const int64_t t = c->arrivals[static_cast<size_t>(u)].load();
          if (t == 0) {
            ++row.missing;
            continue;
          }
          from_reply.push_back(static_cast<double>(t - reply[static_cast<size_t>(u)]) / 1e6);
          from_before.push_back(static_cast<double>(t - before[static_cast<size_t>(u)]) / 1e6);
        }
      }
      // Per update, the first client's arrival: commit -> refetch -> first push, without the
      // fan-out to the other clients.
      std::vector<double> first_arrival;
      for (int u = 0; u < opt.updates; ++u) {
        int64_t first = 0;
        for (const auto& c : fleet.clients()) {
          const int64_t t = c->ready && !c->failed ? c->arrivals[static_cast<size_t>(u)].load() : 0;
          if (t != 0 && (first == 0 || t < first)) first = t;
        }
        if (first != 0)
          first_arrival.push_back(static_cast<double>(first - reply[static_cast<size_t>(u)]) / 1e6);
      }
      const Summary first_summary = summarize(first_arrival);
      row.from_reply = summarize(from_reply);
      row.from_before = summarize(from_before);
      std::printf(
          "[%s] N=%d K=%d: %s -> client p50=%.2f p90=%.2f p99=%.2f max=%.2f ms "
          "(n=%zu, missing %zu); liveql CPU %.2f s, its DB backends %.2f s, %0.f statements "
          "(/metrics: %.0f refetch statements, %.0f refetches); cohorts: %s\n  first client per "
          "update: "
          "p50=%.2f p90=%.2f p99=%.2f max=%.2f ms\n  statements by text:\n    %s\n",
          mode.c_str(), n, distinct, opt.writer == "graphql" ? "mutation response" : "commit reply",
          row.from_reply.p50, row.from_reply.p90, row.from_reply.p99, row.from_reply.max,
          row.from_reply.n, row.missing, row.liveql_cpu, row.db_cpu, row.statements,
          row.refetch_statements, row.refetches, row.cohorts.c_str(), first_summary.p50,
          first_summary.p90, first_summary.p99, first_summary.max, breakdown.c_str());
      std::fflush(stdout);
      latency_rows.push_back(row);
    }

    if (opt.idle > 0) {
      IdleRow row;
      row.mode = mode;
      row.subscribers = opt.idle;
      std::vector<std::pair<int, int>> subs(bench_rows.begin(), bench_rows.begin() + opt.idle);
      Fleet fleet(server.host, server.port);
      row.open_seconds = fleet.open(subs, 0, 300s);
      row.ready = fleet.ready();
      std::printf("[%s] idle: %d of %d subscribers ready, %d failed, in %.1f s\n", mode.c_str(),
                  fleet.ready(), opt.idle, fleet.failed(), row.open_seconds);
      if (fleet.failed() > 0) std::printf("  first error: %s\n", fleet.first_error().c_str());
      std::fflush(stdout);
      std::this_thread::sleep_for(2s);  // let first fetches settle before the window opens
      const std::string cohorts_body =
          http_get(server.host, server.port, "/v1/live/cohorts", kAdminSecret);
      row.cohorts = cohort_modes(cohorts_body);
      std::tie(row.cohorts_total, row.cohorts_in_mode) = cohorts_in_mode(cohorts_body, mode);
      if (row.cohorts_in_mode != row.cohorts_total || row.cohorts_total == 0)
        std::printf("  WARNING: %d of %d cohorts in mode %s\n", row.cohorts_in_mode,
                    row.cohorts_total, mode.c_str());
      const double cpu0 = cpu_seconds(server.pid);
      const auto db0 = backend_cpu(admin, kServerRole);
      const double st0 = liveql_statements(admin);
      const auto calls0 = statement_calls(admin);
      const double rf0 = metric_value(http_get(server.host, server.port, "/metrics", kAdminSecret),
                                      "liveql_refetch_statements_total");
      const int64_t pings0 = fleet.pings();
      const auto t0 = Clock::now();
      std::this_thread::sleep_for(std::chrono::seconds(opt.idle_seconds));  // the idle window
      row.pings = static_cast<double>(fleet.pings() - pings0);
      row.refetch_statements =
          metric_value(http_get(server.host, server.port, "/metrics", kAdminSecret),
                       "liveql_refetch_statements_total") -
          rf0;
      row.statements = liveql_statements(admin) - st0;
      row.liveql_cpu = cpu_seconds(server.pid) - cpu0;
      row.db_cpu = backend_cpu_delta(db0, backend_cpu(admin, kServerRole));
      row.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      const std::string breakdown = statement_breakdown(calls0, statement_calls(admin));
      std::printf(
          "[%s] idle %d subscribers, %.1f s: %.1f statements/s (pg_stat_statements), %.1f "
          "refetch statements/s (/metrics), liveql CPU %.1f %%, its DB backends %.1f %%, "
          "%.0f keep-alive pings/s to the clients; cohorts: %s\n  statements by text:\n    %s\n",
          mode.c_str(), row.ready, row.seconds, row.statements / row.seconds,
          row.refetch_statements / row.seconds, 100 * row.liveql_cpu / row.seconds,
          100 * row.db_cpu / row.seconds, row.pings / row.seconds,
          row.cohorts.substr(0, 300).c_str(), breakdown.c_str());
      std::fflush(stdout);
      idle_rows.push_back(row);
    }
    stop_server(server);
    drop_slot(root, slot);
  }

  std::printf(
      "\n| mode | cohorts in mode | N | K | p50 ms | p90 ms | p99 ms | max ms | samples | "
      "missing | liveql CPU s | DB CPU s | statements | refetch statements |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : latency_rows)
    std::printf(
        "| %s | %d/%d | %d | %d | %.2f | %.2f | %.2f | %.2f | %zu | %zu | %.2f | %.2f | %.0f | "
        "%.0f |\n",
        r.mode.c_str(), r.cohorts_in_mode, r.cohorts_total, r.subscribers, r.distinct,
        r.from_reply.p50, r.from_reply.p90, r.from_reply.p99, r.from_reply.max, r.from_reply.n,
        r.missing, r.liveql_cpu, r.db_cpu, r.statements, r.refetch_statements);
  for (const auto& r : latency_rows) {
    if (r.mode != "poll") continue;
    for (const auto& e : latency_rows)
      if (e.mode == "event" && e.subscribers == r.subscribers && e.from_reply.n > 0 &&
          e.from_reply.p50 > 0)
        std::printf(
            "N=%d poll/event: p50 x%.1f, p90 x%.1f, p99 x%.1f, max x%.1f, liveql CPU x%.2f, "
            "DB CPU x%.2f, statements x%.2f\n",
            r.subscribers, r.from_reply.p50 / e.from_reply.p50, r.from_reply.p90 / e.from_reply.p90,
            r.from_reply.p99 / e.from_reply.p99, r.from_reply.max / e.from_reply.max,
            e.liveql_cpu > 0 ? r.liveql_cpu / e.liveql_cpu : 0.0,
            e.db_cpu > 0 ? r.db_cpu / e.db_cpu : 0.0,
            e.statements > 0 ? r.statements / e.statements : 0.0);
  }
  if (!idle_rows.empty()) {
    std::printf(
        "\n| mode | cohorts in mode | idle subscribers (of) | open s | seconds | statements/s | "
        "refetch statements/s | liveql CPU %% | DB CPU %% | pings/s |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& r : idle_rows)
      std::printf("| %s | %d/%d | %d (%d) | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %.0f |\n",
                  r.mode.c_str(), r.cohorts_in_mode, r.cohorts_total, r.ready, r.subscribers,
                  r.open_seconds, r.seconds, r.statements / r.seconds,
                  r.refetch_statements / r.seconds, 100 * r.liveql_cpu / r.seconds,
                  100 * r.db_cpu / r.seconds, r.pings / r.seconds);
    for (const auto& r : idle_rows)
      std::printf("cohorts [%s idle]: %s\n", r.mode.c_str(), r.cohorts.substr(0, 400).c_str());
  }
  fs::remove_all(work / "state-poll");
  fs::remove_all(work / "state-event");
  return 0;
}
