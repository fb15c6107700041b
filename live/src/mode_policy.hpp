// The mode policy: whether a cohort is refetched on matched commits (event) or on a timer
// (poll), and why. Pure: no I/O, no clock; LiveQueries calls it when a cohort is created and when
// its inputs change (set_table_modes, set_event_source, unreadable result keys).
//
// Poll when, in this order:
//  - the operation's dependencies are unknown;
//  - the cohort's result keys could not be read (broken_reason);
//  - event mode is unavailable (no replication yet, or it failed: the reason given);
//  - a table it reads is in poll mode (its TableLive::mode, else the default mode);
//  - a table it reads is in event mode but polled for its write rate (TableLive::write_fallback;
//    write_fallback.hpp): then the decision says so, and the cohort polls at the held period;
//  - a table whose rows enter the result has no primary key and is not REPLICA IDENTITY FULL;
//  - a table dependency is intractable (text patterns, _exists, ...), unless the table's mode is
//    explicitly kEvent: then the cohort stays in event mode and the table is "forced": any change
//    to it refetches every subscriber of the cohort.
// Otherwise event.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "liveql/live/live_queries.hpp"

namespace liveql::deps {
struct Dependencies;
}

namespace liveql::live {

struct ModeInputs {
  const deps::Dependencies* deps = nullptr;  // null: unknown
  std::string_view broken_reason;            // non-empty: result keys unreadable
  bool event_available = false;
  std::string_view event_unavailable_reason;
  LiveMode default_mode = LiveMode::kEvent;
  const LiveQueries::TableModes* table_modes = nullptr;  // null or empty: no table's mode set
};

struct ModeDecision {
  LiveMode mode = LiveMode::kPoll;
  std::string reason;                   // shown in /v1/live/cohorts
  std::set<std::string> forced_tables;  // event mode only: intractable tables forced to event
  bool write_fallback = false;          // poll mode for a table's write rate only
};

ModeDecision decide_mode(const ModeInputs& in);

}  // namespace liveql::live
