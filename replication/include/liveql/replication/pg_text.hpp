// Integers in PostgreSQL's text form (int8, xid8, a bigint LSN distance, IDENTIFY_SYSTEM's
// timeline), read back from the server. Pure. Bad text (empty, a sign where none may be, junk
// after the digits, out of range) is an error value, never an exception: a value read from a
// connection must not end the loop that reads it.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "liveql/base/result.hpp"

namespace liveql::replication {

// Parses all of `text` as a T; errors name `what` (kUnexpected: the server said something this
// code does not understand).
template <class T>
Result<T> parse_pg_integer(std::string_view text, std::string_view what) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    std::string shown(text.substr(0, 40));
    return make_error(ErrorCode::kUnexpected,
                      std::string(what) + ": not an integer in range: \"" + shown + "\"");
  }
  return value;
}

}  // namespace liveql::replication
