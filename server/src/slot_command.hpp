// `liveql slot status` and `liveql slot drop`: one-shot operator commands for the logical
// replication slot liveql streams from (--slot-name) and the record the state dir keeps of it
// (--state-dir). They run before any event loop exists, so they use blocking libpq.
//
// status: prints the slot as pg_replication_slots shows it (plugin, database, active and the
//   walsender pid, restart_lsn, confirmed_flush_lsn, WAL bytes between confirmed_flush_lsn and
//   pg_current_wal_lsn()) and the state dir's SlotRecord (system identifier, timeline, LSN),
//   as text or, with `json`, one JSON object. The state dir is only read: a missing directory
//   is reported, never created; one locked by a running liveql is reported as such.
//   Exit code 0 when the slot exists, 1 when it does not or the database cannot be queried.
// drop: drops the slot and erases the state dir's record of it, so the next start finds no
//   position and treats the restart as a gap (DESIGN.md "Restart safety": every cohort is
//   refetched once). Refuses, changing nothing, when the slot is active (a liveql streams from
//   it), is not a wal2json logical slot, belongs to another database, or the state dir cannot
//   be opened. Exit code 0 when the slot no longer exists afterwards, 1 otherwise.
//
// Output goes to `out`, errors to `err` (std::cout and std::cerr from main).
#pragma once

#include <iosfwd>

#include "liveql/server/config.hpp"

namespace liveql::server {

int run_slot_status(const Config& config, bool json, std::ostream& out, std::ostream& err);
int run_slot_drop(const Config& config, std::ostream& out, std::ostream& err);

}  // namespace liveql::server
