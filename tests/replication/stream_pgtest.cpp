// ReplicationStream against the real PostgreSQL of the `pg` fixture. The io_context runs on the
// test thread in short slices until a condition holds or a deadline passes; SQL is issued from
// the test thread with blocking libpq between slices (one test runs it on a thread of its own).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <thread>

#include "liveql/replication/stream.hpp"
#include "support/test_db.hpp"

namespace liveql::replication {
namespace {

using namespace std::chrono_literals;
using test::exec;
using test::query;

struct Harness {
  explicit Harness(const std::string& url, const std::string& slot, bool idle_callback = false) {
    config.conninfo = url;
    config.slot_name = slot;
    config.status_interval = 500ms;
    config.backoff_initial = 50ms;
    config.backoff_max = 400ms;
    StreamCallbacks cb;
    cb.on_transaction = [this](Transaction&& t) { txns.push_back(std::move(t)); };
    cb.on_event = [this](const StreamEvent& e) { events.push_back(e); };
    if (idle_callback)
      cb.on_idle_position = [this](Lsn lsn) {
        idle_positions.push_back(lsn);
        stream->acknowledge(lsn);
      };
    callbacks = std::move(cb);
  }
  ~Harness() {
    if (stream) stream->stop();
    run_until([&] { return !stream || !stream->running(); }, 10s);
  }
  void start() {
    stream = std::make_unique<ReplicationStream>(io.get_executor(), config, callbacks);
    ASSERT_TRUE(stream->start().ok());
  }
  bool run_until(const std::function<bool()>& done, std::chrono::seconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.restart();
      io.run_for(10ms);
    }
    return true;
  }
  // Stops the stream and runs the loop until it has ended (its final status update sent).
  bool stop() {
    stream->stop();
    return run_until([&] { return !stream->running(); });
  }
  int count(StreamEventKind kind) const {
    int n = 0;
    for (const auto& e : events) n += e.kind == kind;
    return n;
  }
  bool connected() const { return count(StreamEventKind::kConnected) > 0; }

  boost::asio::io_context io;
  StreamConfig config;
  StreamCallbacks callbacks;
  std::unique_ptr<ReplicationStream> stream;
  std::vector<Transaction> txns;
  std::vector<StreamEvent> events;
  std::vector<Lsn> idle_positions;
};

Lsn slot_confirmed(const std::string& url, const std::string& slot) {
  auto rows = query(url,
                    "select coalesce(confirmed_flush_lsn::text, '0/0') from "
                    "pg_replication_slots where slot_name = '" +
                        slot + "'");
  if (rows.empty()) return 0;
  return parse_lsn(rows[0][0]).value_or(0);
}

Lsn current_wal(const std::string& url) {
  return *parse_lsn(query(url, "select pg_current_wal_lsn()::text")[0][0]);
}

void drop_slot(const std::string& url, const std::string& slot) {
  // The walsender may take a moment to exit after the stream closed its connection.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto rows = query(
        url, "select active::text from pg_replication_slots where slot_name = '" + slot + "'");
    if (rows.empty()) return;
    if (rows[0][0] == "false") {
      exec(url, "select pg_drop_replication_slot('" + slot + "')");
      return;
    }
    ::usleep(20'000);  // polling the server's state, with the deadline above
  }
  ADD_FAILURE() << "slot " << slot << " stayed active";
}

const std::string* value(const RowImage& row, const std::string& name) {
  const ColumnValue* c = row.find(name);
  return c && c->value ? &*c->value : nullptr;
}

constexpr const char* kSchema = R"sql(
  create table items (id int primary key, name text, price numeric, flag bool, data bytea,
                      code char(4), tags text[], doc jsonb, at timestamptz, big text);
  alter table items alter column big set storage external;
  create table fulls (id int primary key, v text);
  alter table fulls replica identity full;
  create table nokey (a int, b text);
)sql";

TEST(ReplicationStream, DeliversTypedTransactionsInCommitOrder) {
  const std::string url = test::fresh_database("liveql_repl_order", kSchema);
  const std::string slot = "liveql_repl_order";
  Harness h(url, slot);
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
  EXPECT_TRUE(h.events[0].slot_created);
  EXPECT_EQ(h.events[0].database, "liveql_repl_order");
  EXPECT_FALSE(h.events[0].system_identifier.empty());
  EXPECT_GT(h.events[0].slot_confirmed_lsn, 0u);

  exec(url,
       "insert into items values (1, 'a', 1.50, true, '\\x00ff', 'ab', '{\"x y\",z}', "
       "'{\"k\": [1, 2]}', '2024-01-02 03:04:05.678+02', repeat('q', 5000))");
  exec(url,
       "begin; insert into items (id, name) values (2, 'b'); insert into items (id, name) "
       "values (3, 'c'); commit");
  exec(url, "update items set name = 'a2' where id = 1");  // DEFAULT identity, TOAST kept
  exec(url, "update items set id = 20 where id = 2");      // key change
  exec(url, "delete from items where id = 3");
  exec(url, "insert into fulls values (1, 'x'); update fulls set v = 'y'");  // one txn
  exec(url, "insert into nokey values (1, 'k')");
  exec(url, "update nokey set b = 'l'");  // no identity: an empty transaction, not delivered
  exec(url, "truncate items, fulls");
  ASSERT_TRUE(h.run_until([&] { return h.txns.size() >= 8; })) << h.txns.size();
  ASSERT_EQ(h.txns.size(), 8u);
  for (size_t i = 1; i < h.txns.size(); ++i) {
    EXPECT_LT(h.txns[i - 1].end_lsn, h.txns[i].end_lsn);
    EXPECT_LT(h.txns[i].commit_lsn, h.txns[i].end_lsn);
    EXPECT_NE(h.txns[i].xid, 0u);
    EXPECT_FALSE(h.txns[i].commit_time.empty());
  }

  // Values equal what `col::text` prints on this server.
  const auto& ins = h.txns[0].changes.at(0);
  EXPECT_EQ(ins.kind, ChangeKind::kInsert);
  EXPECT_EQ(ins.table, "items");
  auto text = query(url,
                    "select '1', 'a', 1.50::numeric::text, true::text, '\\x00ff'::bytea::text, "
                    "'ab'::char(4)::text, '{\"x y\",z}'::text[]::text, "
                    "'{\"k\": [1, 2]}'::jsonb::text, "
                    "'2024-01-02 03:04:05.678+02'::timestamptz::text")[0];
  const char* cols[] = {"id", "name", "price", "flag", "data", "code", "tags", "doc", "at"};
  for (size_t i = 0; i < 9; ++i) {
    const std::string* v = value(ins.new_row, cols[i]);
    ASSERT_NE(v, nullptr) << cols[i];
    EXPECT_EQ(*v, text[i]) << cols[i];
  }
  ASSERT_NE(value(ins.new_row, "big"), nullptr);

  const auto& multi = h.txns[1];
  ASSERT_EQ(multi.changes.size(), 2u);
  EXPECT_EQ(*value(multi.changes[0].new_row, "id"), "2");
  EXPECT_EQ(*value(multi.changes[1].new_row, "id"), "3");
  EXPECT_EQ(multi.changes[0].new_row.find("price"), nullptr);             // NULL or NaN: unknown
  EXPECT_EQ(multi.changes[0].new_row.find("flag")->value, std::nullopt);  // SQL NULL

  const auto& upd = h.txns[2].changes.at(0);
  EXPECT_EQ(upd.kind, ChangeKind::kUpdate);
  EXPECT_EQ(*value(upd.new_row, "name"), "a2");
  EXPECT_EQ(upd.new_row.find("big"), nullptr);  // unchanged TOAST value: unknown
  ASSERT_EQ(upd.old_row.columns.size(), 1u);    // DEFAULT identity: the key only
  EXPECT_EQ(*value(upd.old_row, "id"), "1");

  const auto& key = h.txns[3].changes.at(0);
  EXPECT_EQ(*value(key.new_row, "id"), "20");
  EXPECT_EQ(*value(key.old_row, "id"), "2");

  const auto& del = h.txns[4].changes.at(0);
  EXPECT_EQ(del.kind, ChangeKind::kDelete);
  EXPECT_EQ(*value(del.old_row, "id"), "3");
  EXPECT_TRUE(del.new_row.empty());

  const auto& full = h.txns[5];
  ASSERT_EQ(full.changes.size(), 2u);
  EXPECT_EQ(*value(full.changes[1].old_row, "v"), "x");  // FULL identity: every old column
  EXPECT_EQ(*value(full.changes[1].new_row, "v"), "y");

  EXPECT_EQ(h.txns[6].changes.at(0).table, "nokey");
  EXPECT_EQ(h.txns[6].changes.at(0).kind, ChangeKind::kInsert);

  const auto& trunc = h.txns[7];
  ASSERT_EQ(trunc.changes.size(), 2u);
  EXPECT_EQ(trunc.changes[0].kind, ChangeKind::kTruncate);
  EXPECT_EQ(trunc.changes[0].table, "items");
  EXPECT_EQ(trunc.changes[1].table, "fulls");
  EXPECT_GE(h.stream->stats().empty_transactions, 1u);

  ASSERT_TRUE(h.stop());
  drop_slot(url, slot);
}

TEST(ReplicationStream, OnlyAcknowledgedPositionsReachTheSlot) {
  const std::string url = test::fresh_database("liveql_repl_ack", kSchema);
  const std::string slot = "liveql_repl_ack";
  Harness h(url, slot);
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
  exec(url, "insert into items (id) values (1)");
  ASSERT_TRUE(h.run_until([&] { return h.txns.size() == 1; }));
  const Lsn end = h.txns[0].end_lsn;
  // Unacknowledged: several status intervals pass (keepalives included), the slot stays behind.
  const uint64_t sent = h.stream->stats().feedback_sent;
  ASSERT_TRUE(h.run_until([&] { return h.stream->stats().feedback_sent >= sent + 3; }));
  EXPECT_LT(slot_confirmed(url, slot), end);
  h.stream->acknowledge(end);
  ASSERT_TRUE(h.run_until([&] { return slot_confirmed(url, slot) >= end; }));
  EXPECT_EQ(h.stream->acknowledged_lsn(), end);
  ASSERT_TRUE(h.stop());
  drop_slot(url, slot);
}

// Commits every ~20 ms for over a second, the stream reading at most every 300 ms when caught
// up: every one delivered, in order, in a few reads.
TEST(ReplicationStream, ABusyStreamReadsOncePerReadInterval) {
  const std::string url = test::fresh_database("liveql_repl_reads", kSchema);
  const std::string slot = "liveql_repl_reads";
  Harness h(url, slot);
  h.config.read_interval = 300ms;
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
  constexpr int kCommits = 60;
  const uint64_t reads = h.stream->stats().reads;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 1; i <= kCommits; ++i) {
    exec(url, "insert into items (id) values (" + std::to_string(i) + ")");
    h.io.restart();
    h.io.run_for(20ms);
  }
  ASSERT_TRUE(h.run_until([&] { return h.txns.size() == kCommits; }));
  const auto took = std::chrono::steady_clock::now() - started;
  for (int i = 0; i < kCommits; ++i) {
    ASSERT_EQ(h.txns[i].changes.size(), 1u);
    EXPECT_EQ(*value(h.txns[i].changes[0].new_row, "id"), std::to_string(i + 1));
  }
  // About one read per interval (7–9 for these ~2 s), a few more under load (data arriving while
  // a read is handled is read on at once); one per message would be 60 to 90.
  const uint64_t made = h.stream->stats().reads - reads;
  EXPECT_LE(made, kCommits / 3u) << "in " << std::chrono::duration<double>(took).count() << " s";
  ASSERT_TRUE(h.stop());
  drop_slot(url, slot);
}

// Between reads the socket is not watched: a walsender sending every commit as it decodes it
// must not wake the thread for each (Asio watches a registered descriptor edge-triggered, so a
// socket registered throughout woke the loop once per message). The io_context runs on its own
// thread here, blocking whenever it has nothing to do, and counts its own sleeps.
TEST(ReplicationStream, ABusyStreamDoesNotWakeTheLoopPerMessage) {
  const std::string url = test::fresh_database("liveql_repl_wakes", kSchema);
  const std::string slot = "liveql_repl_wakes";
  Harness h(url, slot);
  h.config.read_interval = 300ms;
  std::atomic<int> delivered = 0;
  h.callbacks.on_transaction = [&](Transaction&&) { ++delivered; };
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
  constexpr int kCommits = 60;
  long sleeps = -1;
  h.io.restart();
  auto work = boost::asio::make_work_guard(h.io);
  std::thread loop([&] {
    rusage before{};
    ::getrusage(RUSAGE_THREAD, &before);
    h.io.run();
    rusage after{};
    ::getrusage(RUSAGE_THREAD, &after);
    sleeps = after.ru_nvcsw - before.ru_nvcsw;
  });
  for (int i = 1; i <= kCommits; ++i) {
    exec(url, "insert into items (id) values (" + std::to_string(i) + ")");
    std::this_thread::sleep_for(20ms);  // spacing the commits: one message each
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (delivered < kCommits && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);  // polling the loop thread's counter, with a deadline
  work.reset();
  h.io.stop();
  loop.join();
  ASSERT_EQ(delivered, kCommits);
  // About one wake-up per read interval and per status interval (10 in these ~2 s); one per
  // message would be more than 60.
  EXPECT_LE(sleeps, kCommits / 3);
  ASSERT_TRUE(h.stop());
  drop_slot(url, slot);
}

// Excluded tables are not decoded; changing the list reconnects at once from the acknowledged
// position, so a commit made after the change, while the old connection was still open, is
// decoded with the new list.
TEST(ReplicationStream, ExcludedTablesAreLeftOutAndChangingThemReconnects) {
  const std::string url = test::fresh_database("liveql_repl_excluded", kSchema);
  const std::string slot = "liveql_repl_excluded";
  Harness h(url, slot);
  h.config.excluded_tables = {{"public", "fulls"}};
  h.callbacks.on_transaction = [&](Transaction&& t) {
    h.stream->acknowledge(t.end_lsn);
    h.txns.push_back(std::move(t));
  };
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
  exec(url, "insert into fulls (id, v) values (1, 'left out')");
  exec(url, "insert into items (id) values (1)");
  ASSERT_TRUE(h.run_until([&] { return h.txns.size() == 1; }));
  EXPECT_EQ(h.txns[0].changes.at(0).table, "items");

  h.stream->set_excluded_tables({{"public", "items"}});
  exec(url, "insert into fulls (id, v) values (2, 'after the change')");
  exec(url, "insert into items (id) values (2)");
  exec(url, "insert into fulls (id, v) values (3, 'after the reconnect')");
  ASSERT_TRUE(h.run_until([&] { return h.txns.size() == 3; }));
  EXPECT_EQ(h.count(StreamEventKind::kConnected), 2);
  EXPECT_EQ(h.count(StreamEventKind::kDisconnected), 1);
  for (int i : {1, 2}) {
    ASSERT_EQ(h.txns[i].changes.size(), 1u);
    EXPECT_EQ(h.txns[i].changes[0].table, "fulls");
    EXPECT_EQ(*value(h.txns[i].changes[0].new_row, "id"), std::to_string(i + 1));
  }
  ASSERT_TRUE(h.stop());
  drop_slot(url, slot);
}

// Transactions that carry nothing for the stream (here: a table left out) are idle positions,
// handed to on_idle_position about once a second, not only at the status tick (a minute here):
// the slot follows the WAL.
TEST(ReplicationStream, IdlePositionsAreHandedOverWithinASecond) {
  const std::string url = test::fresh_database("liveql_repl_handover", kSchema);
  const std::string slot = "liveql_repl_handover";
  Harness h(url, slot, /*idle_callback=*/true);
  h.config.status_interval = 60s;
  h.config.excluded_tables = {{"public", "fulls"}};
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
  const auto started = std::chrono::steady_clock::now();
  for (int i = 1; i <= 25; ++i) {
    exec(url, "insert into fulls (id, v) values (" + std::to_string(i) + ", 'x')");
    h.io.restart();
    h.io.run_for(100ms);
  }
  const Lsn written = current_wal(url);
  ASSERT_TRUE(h.run_until([&] { return slot_confirmed(url, slot) >= written; }, 10s))
      << h.idle_positions.size() << " idle positions handed over";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  EXPECT_TRUE(h.txns.empty());
  ASSERT_TRUE(h.stop());
  drop_slot(url, slot);
}

// A read takes at most libpq's buffer (16 KB): with data still waiting, the stream reads on
// without waiting out its read interval. (3,000 rows of 1 kB: ~200 reads, a minute at 300 ms.)
TEST(ReplicationStream, ABacklogIsReadWithoutWaitingOutTheReadInterval) {
  const std::string url = test::fresh_database("liveql_repl_backlog", kSchema);
  const std::string slot = "liveql_repl_backlog";
  Harness h(url, slot);
  h.config.read_interval = 300ms;
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
  exec(url,
       "insert into items (id, name) select g, repeat('x', 1000) from generate_series(1, 3000) g");
  ASSERT_TRUE(h.run_until([&] { return h.txns.size() == 1; }, 15s))
      << h.stream->stats().reads << " reads, " << h.stream->stats().bytes << " bytes";
  EXPECT_EQ(h.txns[0].changes.size(), 3000u);
  ASSERT_TRUE(h.stop());
  drop_slot(url, slot);
}

TEST(ReplicationStream, IdleSlotAdvancesWithUnrelatedWrites) {
  const std::string url = test::fresh_database("liveql_repl_idle", kSchema);
  const std::string other =
      test::fresh_database("liveql_repl_idle_other", "create table w (x int)");
  const std::string slot = "liveql_repl_idle";
  for (bool with_callback : {false, true}) {
    SCOPED_TRACE(with_callback ? "with on_idle_position" : "auto");
    Harness h(url, slot, with_callback);
    h.config.tables = {{"public", "items"}};
    h.start();
    ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
    exec(url, "insert into items (id) values (" + std::to_string(with_callback ? 2 : 1) + ")");
    ASSERT_TRUE(h.run_until([&] { return h.txns.size() == 1; }));
    h.stream->acknowledge(h.txns[0].end_lsn);
    // Writes elsewhere: another database, and an untracked table of this one.
    exec(other, "insert into w select generate_series(1, 1000)");
    exec(url, "insert into fulls values (1, 'x') on conflict do nothing");
    const Lsn target = current_wal(url);
    ASSERT_TRUE(h.run_until([&] { return slot_confirmed(url, slot) >= target; }))
        << format_lsn(slot_confirmed(url, slot)) << " < " << format_lsn(target);
    EXPECT_EQ(h.txns.size(), 1u);  // the untracked table's transaction was not delivered
    if (with_callback) {
      EXPECT_FALSE(h.idle_positions.empty());
    }
    ASSERT_TRUE(h.stop());
  }
  drop_slot(url, slot);
}

// The slot lag from the protocol alone: the server's end of WAL (IDENTIFY_SYSTEM, XLogData,
// keepalives) minus the slot's confirmed position. Above 0 while a writer outpaced a consumer
// that acknowledged nothing yet, never beyond what the slot retains, 0 once everything is
// acknowledged; and on an idle connection the server answers the status updates' reply requests
// with keepalives, so the reading stays fresh without a statement.
TEST(ReplicationStream, ProgressGivesTheSlotLagWithoutSql) {
  const std::string url = test::fresh_database("liveql_repl_lag", kSchema);
  const std::string slot = "liveql_repl_lag";
  Harness h(url, slot);
  std::vector<WalProgress> reports;
  h.callbacks.on_progress = [&](const WalProgress& p) { reports.push_back(p); };
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
  EXPECT_GE(h.stream->progress().server_wal_end, h.events[0].server_lsn);
  EXPECT_GE(h.stream->progress().slot_confirmed_lsn, h.events[0].slot_confirmed_lsn);
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.back(), h.stream->progress());

  // The consumer is paused (this thread runs its io_context) while the writer commits.
  const Lsn confirmed = slot_confirmed(url, slot);
  for (int i = 1; i <= 50; ++i)
    exec(url, "insert into items (id, name) values (" + std::to_string(i) + ", repeat('x', 500))");
  ASSERT_TRUE(h.run_until([&] { return h.txns.size() == 50; }));
  const Lsn first = h.txns.front().end_lsn, last = h.txns.back().end_lsn;
  ASSERT_TRUE(h.run_until([&] { return h.stream->progress().server_wal_end >= last; }));
  WalProgress p = h.stream->progress();
  EXPECT_GE(p.lag_bytes, last - first)
      << format_lsn(p.server_wal_end) << " " << format_lsn(p.slot_confirmed_lsn);
  EXPECT_LE(p.lag_bytes, current_wal(url) - confirmed);
  EXPECT_EQ(reports.back(), p);

  h.stream->acknowledge(last);
  ASSERT_TRUE(h.run_until([&] { return h.stream->progress().lag_bytes == 0; }));
  EXPECT_GE(slot_confirmed(url, slot), last);

  // Idle: keepalives keep coming, answering the reply requests, and the lag comes back under
  // 64 kB. Other tests' databases write WAL meanwhile (ctest -j runs them on the same cluster; a
  // CREATE DATABASE writes megabytes), so the lag may rise for a moment: it must fall again
  // without any acknowledgement from this test, through the idle positions alone.
  const uint64_t keepalives = h.stream->stats().keepalives;
  ASSERT_TRUE(h.run_until(
      [&] {
        return h.stream->stats().keepalives >= keepalives + 2 &&
               h.stream->progress().lag_bytes < 64u * 1024;
      },
      30s))
      << h.stream->progress().lag_bytes;

  // A position learnt elsewhere (pg_current_wal_lsn()) raises the end; an older one is ignored.
  const Lsn end = h.stream->progress().server_wal_end;
  const std::size_t n = reports.size();
  h.stream->note_server_wal_end(end - 1);
  EXPECT_EQ(reports.size(), n);
  h.stream->note_server_wal_end(end + 4096);
  EXPECT_EQ(h.stream->progress().server_wal_end, end + 4096);
  EXPECT_GE(h.stream->progress().lag_bytes, 4096u);
  ASSERT_EQ(reports.size(), n + 1);
  EXPECT_EQ(reports.back(), h.stream->progress());

  ASSERT_TRUE(h.stop());
  drop_slot(url, slot);
}

TEST(ReplicationStream, ReconnectsAfterTheWalsenderIsKilledAndLosesNothing) {
  const std::string url = test::fresh_database("liveql_repl_kill", kSchema);
  const std::string slot = "liveql_repl_kill";
  Harness h(url, slot);
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
  exec(url, "insert into items (id) values (1)");
  exec(url, "insert into items (id) values (2)");
  ASSERT_TRUE(h.run_until([&] { return h.txns.size() == 2; }));
  h.stream->acknowledge(h.txns[0].end_lsn);  // the second stays unacknowledged
  ASSERT_TRUE(h.run_until([&] { return slot_confirmed(url, slot) >= h.txns[0].end_lsn; }));

  exec(url,
       "select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = '" +
           slot + "'");
  exec(url, "insert into items (id) values (3)");  // committed while (likely) disconnected
  ASSERT_TRUE(h.run_until([&] { return h.count(StreamEventKind::kConnected) >= 2; }));
  EXPECT_GE(h.count(StreamEventKind::kDisconnected), 1);
  exec(url, "insert into items (id) values (4)");
  ASSERT_TRUE(h.run_until([&] { return h.txns.size() >= 4; }));
  ASSERT_EQ(h.txns.size(), 4u);  // nothing lost, nothing delivered twice
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(*value(h.txns[i].changes.at(0).new_row, "id"), std::to_string(i + 1));
  // The slot resumed from the acknowledged position, below the unacknowledged second commit.
  EXPECT_LT(h.events.back().start_lsn, h.txns[1].end_lsn);
  h.stream->acknowledge(h.txns[3].end_lsn);
  ASSERT_TRUE(h.run_until([&] { return slot_confirmed(url, slot) >= h.txns[3].end_lsn; }));
  ASSERT_TRUE(h.stop());
  drop_slot(url, slot);
}

TEST(ReplicationStream, ReportsARecreatedSlot) {
  const std::string url = test::fresh_database("liveql_repl_recreate", kSchema);
  const std::string slot = "liveql_repl_recreate";
  {
    Harness h(url, slot);
    h.start();
    ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
    EXPECT_TRUE(h.events[0].slot_created);
  }
  {
    Harness h(url, slot);
    h.start();
    ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
    EXPECT_FALSE(h.events.back().slot_created);  // the existing slot is reused
  }
  drop_slot(url, slot);
  {
    Harness h(url, slot);
    h.start();
    ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
    EXPECT_TRUE(h.events.back().slot_created);  // the consumer sees the slot was lost
  }
  drop_slot(url, slot);
}

// A start position recorded on another system (e.g. a state dir restored next to another
// cluster) lies in an unrelated WAL: starting there would skip every change until this server's
// WAL passed it. The stream drops it and starts at the slot's position instead.
TEST(ReplicationStream, PositionsOfAnotherSystemAreDropped) {
  const std::string url = test::fresh_database("liveql_repl_foreign", kSchema);
  const std::string slot = "liveql_repl_foreign";
  for (bool foreign : {false, true}) {
    Harness h(url, slot);
    h.config.start_lsn = current_wal(url) + (Lsn{1} << 40);  // far ahead of this server's WAL
    h.config.start_system_identifier = "1";                  // no real system has this id
    if (!foreign) {
      h.config.start_system_identifier.clear();  // unknown: the position is taken as given
      h.config.start_lsn = 0;
    }
    h.start();
    ASSERT_TRUE(h.run_until([&] { return h.connected(); }));
    EXPECT_LT(h.events.back().start_lsn, current_wal(url));
    exec(url, "insert into items (id) values (" + std::to_string(foreign ? 2 : 1) + ")");
    ASSERT_TRUE(h.run_until([&] { return !h.txns.empty(); }, 20s));
    h.stream->acknowledge(h.txns.back().end_lsn);
    ASSERT_TRUE(h.run_until([&] { return slot_confirmed(url, slot) >= h.txns.back().end_lsn; }));
  }
  drop_slot(url, slot);
}

TEST(ReplicationStream, SlotOfAnotherPluginIsUnavailable) {
  const std::string url = test::fresh_database("liveql_repl_plugin", kSchema);
  const std::string slot = "liveql_repl_plugin";
  exec(url, "select pg_create_logical_replication_slot('" + slot + "', 'test_decoding')");
  Harness h(url, slot);
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.count(StreamEventKind::kUnavailable) == 1; }));
  EXPECT_NE(h.events.back().message.find("test_decoding"), std::string::npos)
      << h.events.back().message;
  ASSERT_TRUE(h.run_until([&] { return !h.stream->running(); }));
  EXPECT_EQ(h.count(StreamEventKind::kConnected), 0);
  drop_slot(url, slot);
}

TEST(ReplicationStream, UnreachableServerRetriesWithBackoff) {
  // A port nobody listens on: bind port 0, note it, close.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  Harness h("postgresql://postgres@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x",
            "liveql_repl_unreachable");
  h.start();
  ASSERT_TRUE(h.run_until([&] { return h.count(StreamEventKind::kDisconnected) >= 5; }));
  std::vector<long> delays;
  for (const auto& e : h.events) delays.push_back(e.retry_in.count());
  EXPECT_EQ(delays[0], 50);
  EXPECT_EQ(delays[1], 100);
  EXPECT_EQ(delays[2], 200);
  EXPECT_EQ(delays[3], 400);
  EXPECT_EQ(delays[4], 400);  // capped at backoff_max
  EXPECT_TRUE(h.stream->running());
}

TEST(ReplicationStream, InvalidConfigurationIsAnError) {
  boost::asio::io_context io;
  StreamConfig c;
  c.conninfo = "postgresql://x/y";
  c.slot_name = "Bad-Name";
  ReplicationStream s(io.get_executor(), c, {[](Transaction&&) {}, {}, {}});
  EXPECT_FALSE(s.start().ok());
}

}  // namespace
}  // namespace liveql::replication
