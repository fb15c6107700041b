// How liveql follows a table, and with it every live query that reads the table:
//  - kEvent: from the replication stream, refetching (or writing from the row image) only what a
//    committed change can affect;
//  - kPoll: by refetching at --refetch-interval-ms; the table is left out of the stream.
// The one enum for a table's mode wherever it is set (metadata's `live_mode`, an operator's
// override kept in the state store, --live-mode-default) and for the mode a cohort runs in (it
// polls when a table it reads polls or when its query cannot be matched against a row change).
// A table whose mode is not set anywhere is std::nullopt: the server's default applies.
#pragma once

#include <optional>
#include <string_view>

namespace liveql {

enum class LiveMode { kEvent, kPoll };

// Its name in metadata, in the state store, on the command line and in the JSON of the live
// endpoints: "event" / "poll".
constexpr const char* live_mode_name(LiveMode mode) {
  return mode == LiveMode::kPoll ? "poll" : "event";
}

// The inverse of live_mode_name; nullopt for any other text.
constexpr std::optional<LiveMode> parse_live_mode(std::string_view text) {
  if (text == "event") return LiveMode::kEvent;
  if (text == "poll") return LiveMode::kPoll;
  return std::nullopt;
}

}  // namespace liveql
