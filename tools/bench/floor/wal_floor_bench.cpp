// wal_floor_bench: the latency floor of event mode (issue 4, a). One connection commits N
// single-row updates at a fixed rate; liveql's ReplicationStream (wal2json v2) receives them on a
// slot. For each commit it reports the time from just before the writer sends COMMIT, and from
// the moment the COMMIT reply arrived, to the moment on_transaction delivers the transaction.
//
//   wal_floor_bench [--pg-dir DIR | --url URL] [--n 500] [--rate 20] [--sync on|off]
//
// Without --url it starts (or reuses) a throwaway cluster with tools/pg.sh start DIR liveql_bench.
// Everything runs against 127.0.0.1 and stops by itself: at most N commits, then at most 10 s of
// waiting for the last deliveries.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "liveql/replication/stream.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace asio = boost::asio;

using liveql::bench::die;
using liveql::bench::now_ns;  // CLOCK_MONOTONIC, as steady_clock

struct Conn {
  explicit Conn(const std::string& url) : pg(PQconnectdb(url.c_str())) {
    if (PQstatus(pg) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(pg));
  }
  ~Conn() { PQfinish(pg); }
  // Runs one statement; returns the first value of the first row ("" when none).
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(pg, sql.c_str());
    auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string message = PQresultErrorMessage(r);
      PQclear(r);
      die(sql + ": " + message);
    }
    std::string value = PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return value;
  }
  PGconn* pg;
};

void print_row(const char* name, const std::vector<double>& ms) {
  if (ms.empty()) {
    std::printf("%-28s no samples\n", name);
    return;
  }
  auto p = liveql::bench::summarize(ms);
  std::printf("%-28s n=%zu p50=%.3f p90=%.3f p99=%.3f max=%.3f mean=%.3f ms\n", name, ms.size(),
              p.p50, p.p90, p.p99, p.max, p.avg);
}

}  // namespace

int main(int argc, char** argv) {
  liveql::bench::set_program_name("wal_floor_bench");
  std::string pg_dir = "/tmp/liveql-bench-pg";
  std::string url;
  int n = 500;
  double rate = 20;
  std::string sync = "on";
  std::string slot = "liveql_floor_bench";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--pg-dir") {
      pg_dir = next();
    } else if (a == "--url") {
      url = next();
    } else if (a == "--n") {
      n = std::max(1, std::min(100'000, std::atoi(next().c_str())));
    } else if (a == "--rate") {
      rate = std::max(0.1, std::min(1000.0, std::atof(next().c_str())));
    } else if (a == "--sync") {
      sync = next();
      if (sync != "on" && sync != "off") die("--sync on|off");
    } else if (a == "--slot") {
      slot = next();
    } else {
      die("usage: wal_floor_bench [--pg-dir DIR | --url URL] [--n N] [--rate PER_S] "
          "[--sync on|off] [--slot NAME]");
    }
  }
  if (url.empty()) {
    url = liveql::bench::last_line_of(std::string(LIVEQL_SOURCE_DIR) + "/tools/pg.sh start " +
                                      pg_dir + " liveql_bench");
  }

  Conn admin(url);
  admin.exec("create table if not exists floor_bench (id int primary key, v bigint not null)");
  admin.exec("insert into floor_bench values (1, -1) on conflict (id) do update set v = -1");
  // A leftover slot from an interrupted run would replay its commits: start clean.
  admin.exec(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where "
      "slot_name = '" +
      slot + "' and not active");
  const std::string version = admin.exec("show server_version");
  const std::string fsync = admin.exec("show fsync");

  std::vector<std::atomic<int64_t>> received(static_cast<size_t>(n));
  for (auto& r : received) r.store(0);
  std::atomic<int> delivered{0};
  std::atomic<bool> connected{false};
  std::atomic<bool> unavailable{false};

  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::unique_ptr<liveql::replication::ReplicationStream> stream;
  liveql::replication::StreamConfig config;
  config.conninfo = url;
  config.slot_name = slot;
  config.tables = {{"public", "floor_bench"}};
  liveql::replication::StreamCallbacks callbacks;
  callbacks.on_transaction = [&](liveql::Transaction&& txn) {
    const int64_t t = now_ns();
    for (const auto& change : txn.changes) {
      const auto* v = change.new_row.find("v");
      if (!v || !v->value) continue;
      long long seq = std::atoll(v->value->c_str());
      if (seq >= 0 && seq < n) {
        int64_t expected = 0;
        if (received[static_cast<size_t>(seq)].compare_exchange_strong(expected, t)) ++delivered;
      }
    }
    stream->acknowledge(txn.end_lsn);
  };
  callbacks.on_event = [&](const liveql::replication::StreamEvent& e) {
    using liveql::replication::StreamEventKind;
    if (e.kind == StreamEventKind::kConnected) connected = true;
    if (e.kind == StreamEventKind::kUnavailable) {
      std::fprintf(stderr, "replication unavailable: %s\n", e.message.c_str());
      unavailable = true;
    }
    if (e.kind == StreamEventKind::kDisconnected)
      std::fprintf(stderr, "replication disconnected: %s\n", e.message.c_str());
  };
  asio::post(io, [&] {
    stream = std::make_unique<liveql::replication::ReplicationStream>(io.get_executor(), config,
                                                                      callbacks);
    if (!stream->start().ok()) die("stream start failed");
  });
  std::thread io_thread([&] { io.run(); });

  const auto connect_deadline = Clock::now() + 30s;
  while (!connected && !unavailable && Clock::now() < connect_deadline)
    std::this_thread::sleep_for(10ms);  // waiting on the stream's state, with a deadline
  if (!connected) die("the replication stream did not connect within 30 s");

  Conn writer(url);
  writer.exec("set synchronous_commit = " + sync);
  std::vector<int64_t> before_commit(static_cast<size_t>(n)), after_commit(static_cast<size_t>(n));
  const auto period = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / rate));
  const auto start = Clock::now() + 200ms;
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_until(start + i * period);  // the fixed commit schedule
    writer.exec("begin");
    writer.exec("update floor_bench set v = " + std::to_string(i) + " where id = 1");
    before_commit[static_cast<size_t>(i)] = now_ns();
    writer.exec("commit");
    after_commit[static_cast<size_t>(i)] = now_ns();
  }
  const auto drain_deadline = Clock::now() + 10s;
  while (delivered.load() < n && Clock::now() < drain_deadline)
    std::this_thread::sleep_for(5ms);  // waiting for the last deliveries, with a deadline

  std::promise<void> stopped;
  asio::post(io, [&] {
    stream->stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  const auto stop_deadline = Clock::now() + 10s;
  while (Clock::now() < stop_deadline) {
    std::promise<bool> running;
    asio::post(io, [&] { running.set_value(stream->running()); });
    if (!running.get_future().get()) break;
    std::this_thread::sleep_for(10ms);
  }
  asio::post(io, [&] { stream.reset(); });
  guard.reset();
  io.stop();
  io_thread.join();

  std::vector<double> from_before, from_reply;
  int missing = 0, before_reply = 0;
  for (int i = 0; i < n; ++i) {
    int64_t r = received[static_cast<size_t>(i)].load();
    if (r == 0) {
      ++missing;
      continue;
    }
    from_before.push_back(static_cast<double>(r - before_commit[static_cast<size_t>(i)]) / 1e6);
    from_reply.push_back(static_cast<double>(r - after_commit[static_cast<size_t>(i)]) / 1e6);
    before_reply += r < after_commit[static_cast<size_t>(i)];
  }
  std::printf(
      "wal_floor_bench: PostgreSQL %s, fsync=%s, writer synchronous_commit=%s, %d commits at "
      "%.1f/s, slot %s\n",
      version.c_str(), fsync.c_str(), sync.c_str(), n, rate, slot.c_str());
  print_row("before COMMIT -> delivered", from_before);
  print_row("COMMIT reply -> delivered", from_reply);
  std::printf("delivered before the writer saw the COMMIT reply: %d of %zu; missing: %d\n",
              before_reply, from_before.size(), missing);

  // The slot pins WAL while it exists; this tool's slot is its own.
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (admin.exec("select count(*) from pg_replication_slots where slot_name = '" + slot +
                   "' and active") == "0")
      break;
    std::this_thread::sleep_for(50ms);  // the walsender exits shortly after the stream closes
  }
  admin.exec(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where "
      "slot_name = '" +
      slot + "' and not active");
  return missing == 0 ? 0 : 1;
}
