// What the fuzz targets check beyond "no crash": a violated invariant aborts with a message, so
// libFuzzer saves the input like any sanitizer report.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace liveql::fuzz {

[[noreturn]] inline void invariant_failed(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n  %.*s\n", what, int(detail.size()),
               detail.data());
  std::abort();
}

#define LIVEQL_FUZZ_CHECK(cond, detail)                             \
  do {                                                              \
    if (!(cond)) ::liveql::fuzz::invariant_failed(#cond, (detail)); \
  } while (0)

// Splits `input` at the first `sep`: the part before, and (in `rest`) the part after it.
inline std::string_view split_first(std::string_view& rest, char sep) {
  size_t at = rest.find(sep);
  std::string_view head = rest.substr(0, at);
  rest = at == std::string_view::npos ? std::string_view() : rest.substr(at + 1);
  return head;
}

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

}  // namespace liveql::fuzz
