// Small text helpers shared by every module.
#pragma once

#include <string>
#include <string_view>

namespace liveql {

// ASCII lower case (header names, session-variable keys, SQL type names); other bytes unchanged.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace liveql
