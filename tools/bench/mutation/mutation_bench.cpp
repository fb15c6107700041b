// mutation_bench: what liveql costs as a data access layer (issue 10). For each of two writes,
//  - insert: `insert_orders_one(object: {total: $t}) { id }`
//  - update: `update_orders_by_pk(pk_columns: {id: $id}, _set: {notes: $n}) { id notes }`
// run as role `user` of the demo metadata (tools/demo: the insert presets user_id from the
// session and checks it; the update is filtered to the user's own orders), it measures
// operations per second of C concurrent clients (default 16, each its own user and its own
// orders, so that no two clients wait on one row lock):
//  - libpq: each client a libpq connection sending the statement a hand-written data layer would,
//    prepared once: INSERT INTO orders (user_id, total) VALUES ($1, $2) RETURNING id, and
//    UPDATE orders SET notes = $3 WHERE id = $1 AND user_id = $2 RETURNING id, notes;
//  - liveql: each client one HTTP/1.1 keep-alive connection to `liveql serve` posting the
//    mutation with the admin secret, x-hasura-role: user and x-hasura-user-id (a service's
//    headers), every answer checked for errors.
// Both phases run in the same process against the same cluster with liveql running (its
// replication stream decodes the baseline's commits too), alternating libpq / liveql for
// --rounds rounds; the ratio is liveql's ops/s over libpq's in the same round. Also: latency
// percentiles, and CPU per operation of liveql, of the phase's PostgreSQL client backends (the
// baseline's connections, or liveql's pool), of liveql's walsender (decoding the commits) and
// of the bench's own clients.
//
// A third phase, `http`, measures the floor of any HTTP data layer on this machine: the same
// clients, connections and headers posting `query { __typename }`, which liveql answers without
// a statement (authentication, parsing, the answer, the sockets). Every process shares the
// machine's cores, so a mutation through liveql costs at least the baseline's statement (its
// backend and walsender CPU) plus that floor; the ceiling printed for each round,
//   ceiling = baseline CPU per op / (baseline backend + walsender + http floor's liveql + client),
// is the best ratio any liveql could reach here while the cores are the limit.
//
//   cmake --build build/bench --target mutation_bench liveql
//   build/bench/tools/bench/mutation/mutation_bench [--clients 16] [--seconds 10] [--rounds 2]
//       [--pg-dir /tmp/liveql-bench-pg] [--liveql PATH]
#include <libpq-fe.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace fs = std::filesystem;
using asio::ip::tcp;
using namespace std::chrono_literals;
using namespace liveql::bench;

constexpr const char* kAdminSecret = "bench-admin-secret";
constexpr const char* kDatabase = "liveql_bench_mut";
constexpr const char* kServerRole = "liveql_bench_srv";      // liveql's own role, to count its CPU
constexpr const char* kBaselineRole = "liveql_bench_libpq";  // the baseline's connections
constexpr int kOrdersPerClient = 200;

struct Options {
  std::string pg_dir = "/tmp/liveql-bench-pg";
  std::string binary = LIVEQL_BINARY;
  int clients = 16;
  int seconds = 10;
  int rounds = 2;
};

enum class Kind { kInsert, kUpdate, kFloor };
const char* name_of(Kind k) {
  switch (k) {
    case Kind::kInsert:
      return "insert_orders_one";
    case Kind::kUpdate:
      return "update_orders_by_pk";
    case Kind::kFloor:
      break;
  }
  return "__typename";
}

// One bench client's identity: its user and the orders it updates.
struct Identity {
  int user_id = 0;
  std::vector<int> orders;
};

// What one phase measured, summed over its clients.
struct Phase {
  size_t ops = 0;
  size_t errors = 0;
  std::string first_error;
  std::vector<double> latency_us;
  double seconds = 0;   // the clients' writing time
  double catch_up = 0;  // then, until liveql's walsender had decoded every commit of the phase
  // Operations per second including the decoding of the phase's commits: what the machine
  // sustains with liveql attached (a phase that writes faster than the walsender decodes only
  // defers that work into the next phase).
  double sustained() const { return static_cast<double>(ops) / (seconds + catch_up); }
};

// The k-th operation's values of one client: a total, and for updates the order and its notes.
struct Values {
  std::string total;
  int order = 0;
  std::string notes;
};
Values values_for(const Identity& who, size_t k) {
  Values v;
  v.total = std::to_string(k % 1000) + ".25";
  v.order = who.orders[k % who.orders.size()];
  v.notes = "{\"n\": " + std::to_string(k) + "}";
  return v;
}

// Runs one client per identity, each on its own thread with its own state made by `make` (an
// operation: false on an error, with a message), until the deadline. Once every client has
// stopped, `catch_up` waits for the decoding of what they wrote (returns the seconds it took),
// then `at_end` runs, before any client closes its connection (backends' CPU is read from
// /proc).
template <typename Make, typename CatchUp, typename AtEnd>
Phase run_clients(const std::vector<Identity>& who, int seconds, Make make, CatchUp catch_up,
                  AtEnd at_end) {
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<size_t> stopped{0};
  std::atomic<bool> release{false};
  std::vector<Phase> per(who.size());
  std::vector<std::thread> threads;
  for (size_t c = 0; c < who.size(); ++c) {
    threads.emplace_back([&, c] {
      auto op = make(who[c]);  // connects before the clock starts
      while (!go.load()) std::this_thread::yield();
      Phase& mine = per[c];
      for (size_t k = 0; !stop.load(std::memory_order_relaxed); ++k) {
        const int64_t t0 = now_ns();
        std::string error;
        const bool ok = op(values_for(who[c], k), error);
        mine.latency_us.push_back(static_cast<double>(now_ns() - t0) / 1e3);
        if (ok) {
          ++mine.ops;
        } else if (mine.errors++ == 0) {
          mine.first_error = error;
        }
      }
      ++stopped;
      // Sleeping, not spinning: the catch-up after the phase needs the cores.
      while (!release.load()) std::this_thread::sleep_for(1ms);
    });
  }
  std::this_thread::sleep_for(500ms);  // connections made (they are not timed)
  const int64_t start = now_ns();
  go = true;
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  while (stopped.load() < who.size()) std::this_thread::yield();
  const double elapsed = static_cast<double>(now_ns() - start) / 1e9;
  const double caught_up = catch_up();
  at_end();
  release = true;
  for (auto& t : threads) t.join();
  Phase all;
  all.seconds = elapsed;
  all.catch_up = caught_up;
  for (auto& p : per) {
    all.ops += p.ops;
    all.errors += p.errors;
    if (all.first_error.empty()) all.first_error = p.first_error;
    all.latency_us.insert(all.latency_us.end(), p.latency_us.begin(), p.latency_us.end());
  }
  return all;
}

// The libpq client of one identity: one connection, the statement prepared once.
auto libpq_client(const std::string& url, Kind kind) {
  return [url, kind](const Identity& who) {
    auto conn = std::make_shared<Conn>(url);
    const char* sql = kind == Kind::kInsert
                          ? "INSERT INTO orders (user_id, total) VALUES ($1, $2) RETURNING id"
                          : "UPDATE orders SET notes = $3 WHERE id = $1 AND user_id = $2 "
                            "RETURNING id, notes";
    PGresult* prepared = PQprepare(conn->pg(), "w", sql, 0, nullptr);
    if (PQresultStatus(prepared) != PGRES_COMMAND_OK) die(PQerrorMessage(conn->pg()));
    PQclear(prepared);
    const std::string user = std::to_string(who.user_id);
    return [conn, kind, user](const Values& v, std::string& error) {
      const std::string order = std::to_string(v.order);
      std::vector<const char*> params;
      if (kind == Kind::kInsert) {
        params = {user.c_str(), v.total.c_str()};
      } else {
        params = {order.c_str(), user.c_str(), v.notes.c_str()};
      }
      PGresult* r = PQexecPrepared(conn->pg(), "w", static_cast<int>(params.size()), params.data(),
                                   nullptr, nullptr, 0);
      const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
      if (!ok) error = PQerrorMessage(conn->pg());
      PQclear(r);
      return ok;
    };
  };
}

// The HTTP client of one identity: one keep-alive connection to liveql.
auto http_client(const Server& server, Kind kind) {
  return [&server, kind](const Identity& who) {
    struct State {
      asio::io_context ioc;
      beast::tcp_stream stream{ioc};
      beast::flat_buffer buffer;
    };
    auto state = std::make_shared<State>();
    state->stream.connect(tcp::endpoint(asio::ip::make_address(server.host), server.port));
    const std::string user = std::to_string(who.user_id);
    const std::string host = server.host;
    return [state, kind, user, host](const Values& v, std::string& error) {
      json::object body;
      if (kind == Kind::kFloor) {
        body["query"] = "query { __typename }";
      } else if (kind == Kind::kInsert) {
        body["query"] = "mutation ($t: numeric!) { insert_orders_one(object: {total: $t}) { id } }";
        body["variables"] = json::object{{"t", json::parse(v.total)}};
      } else {
        body["query"] =
            "mutation ($id: Int!, $n: jsonb!) { update_orders_by_pk(pk_columns: {id: $id}, "
            "_set: {notes: $n}) { id notes } }";
        body["variables"] = json::object{{"id", v.order}, {"n", json::parse(v.notes)}};
      }
      http::request<http::string_body> req{http::verb::post, "/v1/graphql", 11};
      req.set(http::field::host, host);
      req.set(http::field::content_type, "application/json");
      req.set("x-hasura-admin-secret", kAdminSecret);
      req.set("x-hasura-role", "user");
      req.set("x-hasura-user-id", user);
      req.keep_alive(true);
      req.body() = json::serialize(body);
      req.prepare_payload();
      http::response<http::string_body> res;
      beast::error_code ec;
      state->stream.expires_after(10s);
      http::write(state->stream, req, ec);
      if (!ec) http::read(state->stream, state->buffer, res, ec);
      if (ec) {
        error = ec.message();
        return false;
      }
      const std::string& text = res.body();
      if (res.result() != http::status::ok || text.find("\"errors\"") != std::string::npos ||
          text.find("null") != std::string::npos ||
          (kind == Kind::kFloor && text.find("query_root") == std::string::npos)) {
        error = std::to_string(res.result_int()) + " " + text.substr(0, 300);
        return false;
      }
      return true;
    };
  };
}

// CPU seconds of the backends connected as `role` by pid: its client backends, or its
// walsender (liveql's replication stream, which decodes every commit of both phases).
std::vector<std::pair<int, double>> role_cpu(Conn& admin, const std::string& role, bool walsender) {
  std::vector<std::pair<int, double>> out;
  for (const auto& row :
       admin.rows("select pid from pg_stat_activity where usename = '" + role +
                  "' and backend_type " + (walsender ? "=" : "<>") + " 'walsender'")) {
    const int pid = std::atoi(row[0].c_str());
    out.emplace_back(pid, cpu_seconds(pid));
  }
  return out;
}

// The statements `role` ran since the last pg_stat_statements_reset(), by total time: calls,
// mean execution and planning time (planning is counted when track_planning is on).
void print_statements(Conn& admin, const std::string& role) {
  for (const auto& row : admin.rows(
           "select calls, round(mean_exec_time::numeric, 3), round(mean_plan_time::numeric, 3), "
           "left(regexp_replace(query, '\\s+', ' ', 'g'), 100) from pg_stat_statements s join "
           "pg_roles r on r.oid = s.userid where r.rolname = '" +
           role + "' order by total_exec_time desc limit 4"))
    std::printf("    %8s calls  exec %7s ms  plan %7s ms  %s\n", row[0].c_str(), row[1].c_str(),
                row[2].c_str(), row[3].c_str());
}

// CPU of liveql, of the phase's client backends, of liveql's walsender and of this process (the
// clients), in seconds.
struct PhaseCpu {
  double liveql = -1, backends = 0, walsender = 0, clients = 0;
};

void print_phase(const char* what, const Phase& p, const PhaseCpu& cpu) {
  const auto s = summarize(p.latency_us);
  const double ops = static_cast<double>(p.ops) / p.seconds;
  std::printf(
      "  %-7s %6.0f ops/s sustained (%6.0f writing, %4.1f s to decode after)"
      "  latency p50 %6.0f us  p99 %6.0f us  max %7.0f us",
      what, p.sustained(), ops, p.catch_up, s.p50, s.p99, s.max);
  const double per_op = 1e6 / static_cast<double>(std::max<size_t>(p.ops, 1));
  if (cpu.liveql >= 0) std::printf("  liveql %5.1f us/op", cpu.liveql * per_op);
  std::printf("  backends %5.1f us/op  walsender %5.1f us/op  clients %5.1f us/op",
              cpu.backends * per_op, cpu.walsender * per_op, cpu.clients * per_op);
  if (p.errors) std::printf("  ERRORS %zu (first: %s)", p.errors, p.first_error.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  set_program_name("mutation_bench");
  Options opt;
  CLI::App app{"mutation_bench: liveql's mutations against the same writes through libpq",
               "mutation_bench"};
  app.add_option("--pg-dir", opt.pg_dir, "the benchmark's PostgreSQL cluster")
      ->capture_default_str();
  app.add_option("--liveql", opt.binary, "the liveql binary")->capture_default_str();
  app.add_option("--clients", opt.clients, "concurrent clients")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--seconds", opt.seconds, "seconds per phase")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  app.add_option("--rounds", opt.rounds, "rounds of libpq / liveql / http phases")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const std::string src = LIVEQL_SOURCE_DIR;
  if (!fs::exists(opt.binary)) die("no liveql binary at " + opt.binary);

  // A fresh database with the demo schema and seed, a user and its orders per client.
  const std::string url = start_cluster(src, opt.pg_dir, "liveql_bench");
  Conn root(url);
  fresh_database(root, kDatabase, kServerRole);
  const std::string admin_url = with_user_and_db(url, "postgres", kDatabase);
  const std::string liveql_url = with_user_and_db(url, kServerRole, kDatabase);
  const std::string bench_url = with_user_and_db(url, kBaselineRole, kDatabase);
  Conn admin(admin_url);
  if (admin.value(std::string("select count(*) from pg_roles where rolname = '") + kBaselineRole +
                  "'") == "0")
    admin.rows(std::string("create role ") + kBaselineRole + " login superuser");
  admin.rows("create extension if not exists pg_stat_statements");
  admin.rows(read_file(src + "/tools/demo/schema.sql"));
  admin.rows(read_file(src + "/tools/demo/seed.sql"));
  std::vector<Identity> who(static_cast<size_t>(opt.clients));
  for (int c = 0; c < opt.clients; ++c) {
    auto& id = who[static_cast<size_t>(c)];
    id.user_id = std::stoi(admin.value("insert into users (name, email) values ('bench " +
                                       std::to_string(c) + "', 'bench" + std::to_string(c) +
                                       "@example.com') returning id"));
    for (const auto& row : admin.rows("insert into orders (user_id) select " +
                                      std::to_string(id.user_id) + " from generate_series(1, " +
                                      std::to_string(kOrdersPerClient) + ") returning id"))
      id.orders.push_back(std::stoi(row[0]));
  }
  admin.rows("analyze");

  const fs::path work =
      fs::temp_directory_path() / ("liveql-mutation-bench-" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string log = (work / "liveql.log").string();
  // As many pooled connections as the baseline has clients: "from the same number of
  // connections".
  auto args = serve_args({.database_url = liveql_url,
                          .metadata = src + "/tools/demo/metadata",
                          .admin_secret = kAdminSecret,
                          .mode = "event",
                          .state_dir = (work / "state").string(),
                          .slot = "liveql_mutation_bench"});
  args.insert(args.end(), {"--pool-size", std::to_string(opt.clients)});
  Server server = start_server(opt.binary, args, log);
  std::printf(
      "mutation_bench: PostgreSQL %s (fsync=%s, synchronous_commit=%s), %d clients, %d s "
      "per phase, %u cores; liveql pid %d (log %s)\n",
      admin.value("show server_version").c_str(), admin.value("show fsync").c_str(),
      admin.value("show synchronous_commit").c_str(), opt.clients, opt.seconds,
      std::thread::hardware_concurrency(), server.pid, log.c_str());

  const int self = static_cast<int>(::getpid());
  // Waits until liveql's walsender has read and decoded the WAL written so far (its sent_lsn,
  // which a logical walsender advances record by record); the seconds it took.
  auto catch_up = [&] {
    const std::string lsn = admin.value("select pg_current_wal_lsn()::text");
    const int64_t start = now_ns();
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    const std::string decoded = "select coalesce(bool_and(sent_lsn >= '" + lsn +
                                "'::pg_lsn), false) from pg_stat_replication where usename = '" +
                                kServerRole + "'";
    while (admin.value(decoded) != "t") {
      if (std::chrono::steady_clock::now() > deadline) die("liveql's walsender did not catch up");
      std::this_thread::sleep_for(2ms);
    }
    return static_cast<double>(now_ns() - start) / 1e9;
  };
  for (Kind kind : {Kind::kInsert, Kind::kUpdate}) {
    std::vector<double> ratios, ceilings;
    for (int round = 1; round <= opt.rounds; ++round) {
      std::printf("%s, round %d\n", name_of(kind), round);
      // The baseline's backends start with the phase: their whole CPU time is the phase's.
      PhaseCpu base_cpu, gql_cpu, floor_cpu;
      admin.rows("select pg_stat_statements_reset()");
      auto wal_before = role_cpu(admin, kServerRole, true);
      double clients_before = cpu_seconds(self);
      const Phase base =
          run_clients(who, opt.seconds, libpq_client(bench_url, kind), catch_up, [&] {
            base_cpu.backends = backend_cpu_delta({}, role_cpu(admin, kBaselineRole, false));
            base_cpu.walsender = backend_cpu_delta(wal_before, role_cpu(admin, kServerRole, true));
            base_cpu.clients = cpu_seconds(self) - clients_before;
          });
      print_phase("libpq", base, base_cpu);

      // liveql's phases: the mutation, then the HTTP floor.
      auto through_liveql = [&](Kind k, PhaseCpu& cpu) {
        const auto pool_before = role_cpu(admin, kServerRole, false);
        wal_before = role_cpu(admin, kServerRole, true);
        const double liveql_before = cpu_seconds(server.pid);
        clients_before = cpu_seconds(self);
        return run_clients(who, opt.seconds, http_client(server, k), catch_up, [&] {
          cpu.liveql = cpu_seconds(server.pid) - liveql_before;
          cpu.backends = backend_cpu_delta(pool_before, role_cpu(admin, kServerRole, false));
          cpu.walsender = backend_cpu_delta(wal_before, role_cpu(admin, kServerRole, true));
          cpu.clients = cpu_seconds(self) - clients_before;
        });
      };
      const Phase gql = through_liveql(kind, gql_cpu);
      print_phase("liveql", gql, gql_cpu);
      print_statements(admin, kServerRole);
      const Phase floor = through_liveql(Kind::kFloor, floor_cpu);
      print_phase("http", floor, floor_cpu);
      if (gql.errors || base.errors || floor.errors) {
        stop_server(server);
        die("errors in the run (see above)");
      }
      const double ratio = gql.sustained() / base.sustained();
      ratios.push_back(ratio);
      auto per_op = [](double seconds, const Phase& p) {
        return seconds * 1e6 / static_cast<double>(std::max<size_t>(p.ops, 1));
      };
      const double base_total =
          per_op(base_cpu.backends + base_cpu.walsender + base_cpu.clients, base);
      const double floor_total = per_op(base_cpu.backends + base_cpu.walsender, base) +
                                 per_op(floor_cpu.liveql + floor_cpu.clients, floor);
      ceilings.push_back(base_total / floor_total);
      std::printf(
          "  ratio liveql / libpq: %.2f  (ceiling on this machine: %.2f = %.0f / %.0f us)\n", ratio,
          ceilings.back(), base_total, floor_total);
    }
    auto mean = [](const std::vector<double>& v) {
      double sum = 0;
      for (double x : v) sum += x;
      return sum / static_cast<double>(v.size());
    };
    std::printf("%s: mean ratio over %d rounds %.2f, mean ceiling %.2f\n\n", name_of(kind),
                opt.rounds, mean(ratios), mean(ceilings));
    std::fflush(stdout);
  }
  stop_server(server);
  fs::remove_all(work);
  return 0;
}
