// ReplicationStream: PostgreSQL's logical replication stream (wal2json format-version 2) as
// committed Transactions, in commit order, with standby feedback and reconnects.
//
// Threading: runs on the executor it is given (liveql's single io_context thread); every public
// member and every callback runs on that thread. libpq is used strictly non-blocking: the socket
// is waited on with Asio, never a blocking libpq call.
//
// Per connection: connect with `replication=database` added to the conninfo; IDENTIFY_SYSTEM;
// check wal_level and the slot (pg_replication_slots), creating it (LOGICAL wal2json) when
// missing; START_REPLICATION from the resume position (below) with format-version 2, xids,
// lsn, timestamps, types and, when `tables` is set, add-tables. Any error (network, server,
// bad bytes) ends the connection: StreamEvent kDisconnected, then a reconnect after an
// exponential backoff (backoff_initial doubling to backoff_max, reset once streaming). Errors that
// retrying cannot fix (wal_level is not logical, wal2json missing or not allowed by
// output_plugin_libraries, the slot belongs to another plugin or database) end the stream with
// kUnavailable: liveql then polls every live query.
//
// Acknowledgement (DESIGN.md rule 10, Restart safety). The LSN reported as flushed to PostgreSQL
// (the slot's confirmed_flush_lsn) only moves for two reasons:
//  1. acknowledge(lsn): the consumer calls it with a Transaction's end_lsn after it has matched the
//     transaction AND saved that LSN in the StateStore.
//  2. idle positions: keepalive positions received between transactions, and the end of
//     transactions that carry no row change (writes to untracked tables, other databases, updates
//     of key-less tables). Such a position is usable only once every transaction delivered before
//     it has been acknowledged. With `on_idle_position` set, the stream calls it with the newest
//     usable position (at a status tick, a server reply request, or at most once a second while
//     such positions come, and only when it is ahead of the acknowledged LSN: a stream carrying
//     only tables left out keeps its slot near the WAL); the consumer saves it and calls
//     acknowledge() with it, so the StateStore never falls behind the slot. Without that callback
//     the stream treats usable idle positions as acknowledged itself (for tools and tests without
//     a StateStore).
// Feedback ('r': written = received_lsn, flushed = applied = the position above) is sent every
// status_interval, at once when the server asks for a reply, and within ~100 ms of the position
// advancing, so an idle or irrelevant-only slot never pins WAL.
//
// Delivery: each committed transaction with at least one row change is delivered once per
// ReplicationStream object. After a reconnect the server resends from the slot's
// confirmed_flush_lsn; transactions already delivered (end_lsn <= the last delivered end_lsn) are
// skipped. Across process restarts delivery restarts at the slot's confirmed position (at least
// once), which is why the consumer acknowledges only saved LSNs.
//
// Resume position sent in START_REPLICATION: max(config.start_lsn, the acknowledged position),
// both dropped when the server's system identifier or timeline differs from the one they were
// taken on (see StreamConfig::start_system_identifier). PostgreSQL starts at the slot's
// confirmed_flush_lsn when that is later.
//
// Gap detection is the consumer's: kConnected carries the system identifier, timeline, database,
// whether the slot was just created, and the slot's confirmed_flush_lsn before streaming; compare
// them with the StateStore's SlotRecord (missing slot / other system / slot past the record).
//
// Slot lag, from the protocol alone (no SQL): progress() = the server's WAL end as the stream
// learns it (IDENTIFY_SYSTEM's xlogpos, every keepalive's and XLogData's position, and
// note_server_wal_end() for a position read elsewhere) minus the slot's confirmed position (read
// at connect, then every flushed position sent). For logical replication the walsender reports
// the position it has decoded up to, which is the end of WAL whenever it is caught up. On a quiet
// connection the stream asks for a reply with its status update (every status_interval), and the
// server answers with a keepalive: the reading is never older than about two status intervals.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/base/row_change.hpp"

namespace liveql::replication {

struct TableRef {
  std::string schema;
  std::string name;
  bool operator==(const TableRef&) const = default;
};

struct StreamConfig {
  std::string conninfo;              // libpq URL or key=value string; replication=database is added
  std::string slot_name = "liveql";  // [a-z0-9_]{1,63}, as PostgreSQL requires
  std::vector<TableRef> tables;      // decode only these; empty = every table
  // Never decode these (wal2json's filter-tables): tables nothing follows, e.g. those in poll
  // mode. Their transactions still pass as idle positions. set_excluded_tables() changes it.
  std::vector<TableRef> excluded_tables;
  Lsn start_lsn = 0;  // e.g. the StateStore's confirmed_lsn
  // The system (IDENTIFY_SYSTEM systemid) and timeline start_lsn belongs to; empty/0 = unknown.
  // Positions mean nothing on another system or timeline: when a connection reports another one
  // than the positions were taken on (these, or an earlier connection's), start_lsn and every
  // position kept so far are dropped and streaming starts at the slot's confirmed position.
  std::string start_system_identifier;
  uint32_t start_timeline = 0;
  std::chrono::milliseconds status_interval{10'000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5'000};
  std::chrono::milliseconds connect_timeout{10'000};
  // Nothing received for this long (the stream asks the server for a reply when quiet) is an
  // error: the connection is dropped and re-established.
  std::chrono::milliseconds receive_timeout{60'000};
  // Caught up (nothing left to read) within this of its last read, the stream waits out the rest
  // of it before waiting for the socket: under load one read per interval instead of one per
  // message (each a few system calls); a commit after a quiet moment is still read at once, and
  // a backlog is read on without pausing. 0: read whenever readable.
  std::chrono::microseconds read_interval{2'000};
};

enum class StreamEventKind {
  kConnected,     // streaming started
  kDisconnected,  // the connection failed or ended; a reconnect follows after `retry_in`
  kUnavailable,   // logical replication cannot work here; the stream has stopped
};

struct StreamEvent {
  StreamEventKind kind = StreamEventKind::kConnected;
  // kConnected
  std::string system_identifier;  // IDENTIFY_SYSTEM systemid
  uint32_t timeline = 0;
  std::string database;
  Lsn server_lsn = 0;          // IDENTIFY_SYSTEM xlogpos
  bool slot_created = false;   // the slot did not exist and was created now
  Lsn slot_confirmed_lsn = 0;  // the slot's confirmed_flush_lsn (consistent point if created)
  Lsn start_lsn = 0;           // the position sent in START_REPLICATION
  // The session's TimeZone (its ParameterStatus): the zone timestamptz values in this
  // connection's row images are printed in.
  std::string time_zone;
  // kDisconnected, kUnavailable
  std::string message;
  std::chrono::milliseconds retry_in{0};  // kDisconnected
};

struct StreamStats {
  uint64_t connects = 0;
  uint64_t disconnects = 0;
  uint64_t transactions = 0;        // delivered
  uint64_t changes = 0;             // row changes delivered
  uint64_t empty_transactions = 0;  // committed without a row change (not delivered)
  uint64_t keepalives = 0;
  uint64_t feedback_sent = 0;
  uint64_t bytes = 0;  // XLogData payload bytes
  uint64_t reads = 0;  // times the stream loop read its socket (see read_interval)
};

// Where the server's WAL is, as far as the stream knows, and how far the slot is behind it.
struct WalProgress {
  Lsn server_wal_end = 0;      // highest WAL position the server reported (0 before connecting)
  Lsn slot_confirmed_lsn = 0;  // the slot's confirmed position: read at connect, then as sent
  // server_wal_end - slot_confirmed_lsn; 0 when not ahead, or while the slot's position is
  // unknown (before the first connect).
  uint64_t lag_bytes = 0;
  bool operator==(const WalProgress&) const = default;
};

struct StreamCallbacks {
  std::function<void(Transaction&&)> on_transaction;  // required
  std::function<void(const StreamEvent&)> on_event;   // optional
  std::function<void(Lsn)> on_idle_position;          // optional; see "Acknowledgement"
  // Optional: progress() each time it changes (after a batch of messages, a status update sent,
  // a connect, or note_server_wal_end()).
  std::function<void(const WalProgress&)> on_progress;
};

class ReplicationStream {
 public:
  ReplicationStream(boost::asio::any_io_executor executor, StreamConfig config,
                    StreamCallbacks callbacks);
  // Stops; no callback runs afterwards. Outstanding asynchronous work finishes on the executor.
  ~ReplicationStream();
  ReplicationStream(const ReplicationStream&) = delete;
  ReplicationStream& operator=(const ReplicationStream&) = delete;

  // Starts connecting (asynchronously). An invalid configuration is an Error. Calling start()
  // while running does nothing; after stop(), it starts again once the previous run has ended
  // (running() is false).
  [[nodiscard]] Status start();
  // Closes the connection; no callback runs afterwards. A connection that is streaming first
  // sends a last standby status update with the acknowledged position (asynchronously: running()
  // turns false once that is sent and the connection is closed).
  void stop();
  bool running() const;
  bool streaming() const;  // connected and in COPY mode

  // Everything before `lsn` is matched and saved. Monotonic: smaller values are ignored.
  void acknowledge(Lsn lsn);

  // Replaces config.excluded_tables. A running stream reads nothing more on its connection and
  // reconnects at once (a kDisconnected event with retry_in 0, then kConnected) from its
  // acknowledged position, so a table no longer excluded is decoded from there: every commit to
  // it that a fetch made after this call cannot have seen is delivered.
  void set_excluded_tables(std::vector<TableRef> tables);

  Lsn received_lsn() const;      // highest WAL position received from the server
  Lsn acknowledged_lsn() const;  // highest acknowledge()d LSN
  Lsn flushed_lsn() const;       // the flushed position last sent to the server
  // The newest idle position that may be acknowledged (every transaction delivered before it is
  // acknowledged); 0 before any. With on_idle_position set, a consumer stopping between status
  // ticks can save and acknowledge it instead of waiting for the callback.
  Lsn usable_idle_lsn() const;
  const StreamStats& stats() const;

  // The slot lag as the protocol reports it (see "Slot lag" above).
  WalProgress progress() const;
  // A WAL position of the same server learnt elsewhere (e.g. pg_current_wal_lsn() on an ordinary
  // connection): raises progress().server_wal_end while the walsender is behind the WAL and
  // cannot report its end. Smaller values are ignored.
  void note_server_wal_end(Lsn lsn);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace liveql::replication
