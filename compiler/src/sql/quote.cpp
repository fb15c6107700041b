#include "liveql/compiler/sql.hpp"

namespace liveql::sql {

std::string quote_identifier(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string quote_literal(std::string_view text) {
  // A NUL byte cannot be sent to the server in a statement; names never hold one, so drop it
  // rather than truncate the statement.
  bool backslash = text.find('\\') != std::string_view::npos;
  std::string out;
  out.reserve(text.size() + 3);
  if (backslash) out += 'E';
  out += '\'';
  for (char c : text) {
    if (c == '\0') continue;
    if (c == '\'') out += '\'';
    if (c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

}  // namespace liveql::sql
