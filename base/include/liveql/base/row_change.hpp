// A committed row change as decoded from the replication stream (replication/ produces it,
// matcher/ reads it). Values are in Postgres text form (what `col::text` prints), so that they
// compare equal to the result keys the SQL returns; std::nullopt is SQL NULL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace liveql {

struct ColumnValue {
  std::string name;
  std::string type;  // as wal2json names it ("integer", "text", "character varying(20)")
  std::optional<std::string> value;
};

// A row image. A column that is absent is unknown (e.g. old images under REPLICA IDENTITY
// DEFAULT carry only the key; unchanged TOASTed values are absent too).
struct RowImage {
  std::vector<ColumnValue> columns;
  const ColumnValue* find(std::string_view name) const {
    for (const auto& c : columns)
      if (c.name == name) return &c;
    return nullptr;
  }
  bool empty() const { return columns.empty(); }
};

enum class ChangeKind { kInsert, kUpdate, kDelete, kTruncate };

struct RowChange {
  std::string schema;
  std::string table;
  ChangeKind kind = ChangeKind::kInsert;
  RowImage new_row;  // insert, update
  RowImage old_row;  // update, delete: wal2json's `identity` (the key, or all columns if FULL)
};

using Lsn = uint64_t;

// One committed transaction, in commit order.
struct Transaction {
  uint32_t xid = 0;    // 32-bit, as wal2json prints it
  Lsn commit_lsn = 0;  // LSN of the commit record
  Lsn end_lsn = 0;     // nextlsn: acknowledge up to here once matched
  std::string commit_time;
  std::vector<RowChange> changes;
};

std::string format_lsn(Lsn lsn);                      // "16/B374D848"
std::optional<Lsn> parse_lsn(std::string_view text);  // inverse

inline std::string format_lsn(Lsn lsn) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  auto hex = [](uint32_t v) {
    std::string s;
    do {
      s.insert(s.begin(), kHex[v & 0xF]);
      v >>= 4;
    } while (v != 0);
    return s;
  };
  return hex(static_cast<uint32_t>(lsn >> 32)) + "/" + hex(static_cast<uint32_t>(lsn));
}

inline std::optional<Lsn> parse_lsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size()) return {};
  auto part = [](std::string_view s) -> std::optional<uint64_t> {
    if (s.size() > 8) return {};
    uint64_t v = 0;
    for (char c : s) {
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                       : -1;
      if (d < 0) return {};
      v = v * 16 + static_cast<uint64_t>(d);
    }
    return v;
  };
  auto hi = part(text.substr(0, slash));
  auto lo = part(text.substr(slash + 1));
  if (!hi || !lo) return {};
  return (*hi << 32) | *lo;
}

}  // namespace liveql
