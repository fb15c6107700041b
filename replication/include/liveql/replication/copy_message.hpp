// The replication protocol's CopyData messages (server → client), parsed with every header
// length-checked. Pure; used by ReplicationStream, unit-tested on bad bytes.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>

#include "liveql/base/result.hpp"
#include "liveql/base/row_change.hpp"

namespace liveql::replication {

// 'w': WAL data; for logical decoding `payload` is one output-plugin message.
struct XLogData {
  Lsn data_start = 0;
  Lsn wal_end = 0;
  int64_t send_time = 0;     // microseconds since 2000-01-01
  std::string_view payload;  // points into the parsed buffer
};

// 'k': primary keepalive.
struct Keepalive {
  Lsn wal_end = 0;
  int64_t send_time = 0;
  bool reply_requested = false;
};

using CopyMessage = std::variant<XLogData, Keepalive>;

// An unknown type, a short header or an empty message is an Error (the caller reconnects).
[[nodiscard]] Result<CopyMessage> parse_copy_message(std::string_view bytes);

}  // namespace liveql::replication
