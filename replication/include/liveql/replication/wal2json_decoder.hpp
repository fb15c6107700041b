// Wal2JsonDecoder: wal2json `format-version 2` lines → committed Transactions. Pure (no I/O),
// not thread-safe; the ReplicationStream owns one on its event-loop thread.
//
// Input: one JSON object per line, as wal2json writes one per XLogData message: actions
// B (begin), C (commit), I/U/D (row changes, with `columns` and `identity`), T (truncate), M
// (logical message, ignored). feed() accepts a payload holding several lines too.
// Output: at each C, the Transaction built since its B, in commit order. xid, commit lsn
// (`lsn` of C), end lsn (`nextlsn`) and commit time (`timestamp`) come from the B/C lines when
// the stream was started with include-xids, include-lsn and include-timestamp; absent fields stay
// 0 / empty (the stream fills end_lsn from the XLogData header then).
//
// Values are converted to what `col::text` prints in PostgreSQL (checked against PostgreSQL 15
// with wal2json 2.5, see tests/replication/wal2json_decoder_test.cpp):
// - JSON numbers: their literal text (wal2json prints the type's output function verbatim);
// - JSON strings: the unescaped string; JSON booleans: "true" / "false" (bool::text);
// - JSON null: SQL NULL (std::nullopt);
// - bytea: wal2json prints the hex digits without the `\x` prefix; it is added back;
// - character(n): wal2json keeps the blank padding; bpchar::text strips it, so it is stripped;
// - real / double precision / numeric: wal2json prints NaN and ±Infinity as JSON null, so a null
//   of these types is ambiguous and the column is left out of the image (unknown, never wrong);
// - unchanged TOASTed values are absent from wal2json's `columns`: absent (unknown) in new_row.
// - timestamptz / date / interval / money follow the walsender's TimeZone, DateStyle, lc_monetary:
//   the server defaults, the same as a fresh query connection unless that one overrides them.
// Bad input (not JSON, a missing or mistyped field, an action out of place) is an Error; the
// decoder then drops its partial transaction, so the caller may resume after a reconnect.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/base/row_change.hpp"

namespace liveql::replication {

class Wal2JsonDecoder {
 public:
  Wal2JsonDecoder();
  ~Wal2JsonDecoder();
  Wal2JsonDecoder(Wal2JsonDecoder&&) noexcept;
  Wal2JsonDecoder& operator=(Wal2JsonDecoder&&) noexcept;

  // Decodes one payload (one or more newline-separated JSON objects; empty lines are skipped).
  // Appends every transaction that the payload commits to `committed`.
  [[nodiscard]] Status feed(std::string_view payload, std::vector<Transaction>& committed);

  // Convenience for one line: the committed transaction, if the line was a C.
  [[nodiscard]] Result<std::optional<Transaction>> feed_line(std::string_view line);

  // True between a B and its C.
  bool in_transaction() const;

  // Drops a partial transaction (after a disconnect: the server resends it whole).
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace liveql::replication
