// StateStore: liveql's durable state in RocksDB (`--state-dir`). It records, per replication slot,
// the database identity and the LSN up to which every change has been matched, plus per-table
// live-mode overrides.
//
// Contract:
// - open() creates the directory's store when the directory is missing or empty. A directory that
//   holds something else (files of another program, a RocksDB of another program, a corrupt
//   store, a store written by a newer liveql, or one locked by another running process) is an
//   Error with a message saying which; never a crash and never a silent reset.
// - save() and the other writes use WriteOptions.sync = true: when they return ok the record
//   survives a crash of the process or the machine. DESIGN.md: save the LSN *before* acknowledging
//   it to PostgreSQL.
// - Calls may come from several threads at once (the store keeps no state besides RocksDB's
//   DB, which is thread-safe): liveql saves positions on a thread of its own, off the event loop,
//   because writes block on a disk sync (a few ms at most); callers batch rather than saving per
//   change.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "liveql/base/live_mode.hpp"
#include "liveql/base/result.hpp"
#include "liveql/base/row_change.hpp"

namespace liveql::state {

// What liveql knows about one replication slot. A consumer compares it with what the server
// reports on every (re)connect to decide whether changes may have been lost.
struct SlotRecord {
  std::string slot_name;
  std::string system_identifier;  // IDENTIFY_SYSTEM's systemid (decimal text)
  uint32_t timeline = 0;
  std::string database;   // database name the slot belongs to
  Lsn confirmed_lsn = 0;  // every change before this LSN has been matched

  bool operator==(const SlotRecord&) const = default;
};

class StateStore {
 public:
  // The on-disk format this build writes and reads. A store with a larger number is refused.
  static constexpr int kFormatVersion = 1;

  [[nodiscard]] static Result<std::unique_ptr<StateStore>> open(const std::string& dir);
  // For inspection (`liveql slot status`) while a liveql holds the lock: a snapshot as of now,
  // never created or written (writes fail). The directory must already be a liveql store.
  [[nodiscard]] static Result<std::unique_ptr<StateStore>> open_read_only(const std::string& dir);

  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // The record of `slot_name`, std::nullopt when none was saved. An unreadable record is an Error.
  [[nodiscard]] Result<std::optional<SlotRecord>> load(std::string_view slot_name) const;
  // Replaces the record of record.slot_name (synced).
  [[nodiscard]] Status save(const SlotRecord& record);
  // Removes the record of `slot_name`; ok when there was none (synced).
  [[nodiscard]] Status erase(std::string_view slot_name);

  // Per-table live-mode overrides, keyed by "schema.table" (synced).
  [[nodiscard]] Status set_table_mode(std::string_view table, LiveMode mode);
  [[nodiscard]] Status clear_table_mode(std::string_view table);
  [[nodiscard]] Result<std::map<std::string, LiveMode>> table_modes() const;

  const std::string& dir() const { return dir_; }

 private:
  struct Db;
  StateStore(std::string dir, std::unique_ptr<Db> db);

  std::string dir_;
  std::unique_ptr<Db> db_;
};

}  // namespace liveql::state
