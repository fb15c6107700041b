#include "graphql/lexer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace liveql::gql::detail {
namespace {

bool is_name_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_name_continue(unsigned char c) { return is_name_start(c) || is_digit(c); }

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Names the character at `pos` for an error message. The source is valid UTF-8 by the time
// the lexer runs, so a multi-byte sequence can be decoded without checks beyond bounds.
std::string describe_char(std::string_view src, size_t pos) {
  if (pos >= src.size()) return "end of document";
  auto c = static_cast<unsigned char>(src[pos]);
  if (c >= 0x20 && c < 0x7F) {
    if (c == '"') return "'\"'";
    return fmt::format("\"{}\"", static_cast<char>(c));
  }
  uint32_t cp = c;
  size_t len = 1;
  if (c >= 0xF0) {
    cp = c & 0x07;
    len = 4;
  } else if (c >= 0xE0) {
    cp = c & 0x0F;
    len = 3;
  } else if (c >= 0xC0) {
    cp = c & 0x1F;
    len = 2;
  }
  for (size_t k = 1; k < len && pos + k < src.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(src[pos + k]) & 0x3F);
  }
  return fmt::format("U+{:04X}", cp);
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; });
}

// Appends `line` with every escaped triple quote (\""") turned into """.
void append_block_line(std::string& out, std::string_view line) {
  for (;;) {
    size_t at = line.find("\\\"\"\"");
    if (at == std::string_view::npos) break;
    out.append(line.substr(0, at));
    out.append("\"\"\"");
    line.remove_prefix(at + 4);
  }
  out.append(line);
}

// The spec's BlockStringValue(): common indentation (of the lines after the first that are
// not blank) is removed, leading and trailing blank lines dropped, lines joined with \n.
void block_string_value(std::string_view raw, std::string& out) {
  std::vector<std::string_view> lines;
  size_t begin = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' || raw[i] == '\r') {
      lines.push_back(raw.substr(begin, i - begin));
      if (raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
      begin = i + 1;
    }
  }
  lines.push_back(raw.substr(begin));

  size_t common = std::string_view::npos;
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t indent = lines[i].find_first_not_of(" \t");
    if (indent != std::string_view::npos) common = std::min(common, indent);
  }
  size_t first = 0;
  size_t last = lines.size();
  while (first < last && is_blank(lines[first])) ++first;
  while (last > first && is_blank(lines[last - 1])) --last;

  out.clear();
  for (size_t i = first; i < last; ++i) {
    std::string_view line = lines[i];
    if (i > 0 && common != std::string_view::npos) {
      line.remove_prefix(std::min(common, line.size()));
    }
    if (i > first) out.push_back('\n');
    append_block_line(out, line);
  }
}

}  // namespace

std::string_view token_kind_name(TokenKind kind) {
  switch (kind) {
    case TokenKind::kEof:
      return "end of document";
    case TokenKind::kBang:
      return "\"!\"";
    case TokenKind::kDollar:
      return "\"$\"";
    case TokenKind::kAmp:
      return "\"&\"";
    case TokenKind::kParenL:
      return "\"(\"";
    case TokenKind::kParenR:
      return "\")\"";
    case TokenKind::kSpread:
      return "\"...\"";
    case TokenKind::kColon:
      return "\":\"";
    case TokenKind::kEquals:
      return "\"=\"";
    case TokenKind::kAt:
      return "\"@\"";
    case TokenKind::kBracketL:
      return "\"[\"";
    case TokenKind::kBracketR:
      return "\"]\"";
    case TokenKind::kBraceL:
      return "\"{\"";
    case TokenKind::kPipe:
      return "\"|\"";
    case TokenKind::kBraceR:
      return "\"}\"";
    case TokenKind::kName:
      return "a name";
    case TokenKind::kInt:
      return "an int";
    case TokenKind::kFloat:
      return "a float";
    case TokenKind::kString:
      return "a string";
    case TokenKind::kBlockString:
      return "a block string";
  }
  return "a token";
}

std::optional<size_t> find_invalid_utf8(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    // GraphQL documents are nearly all ASCII: check eight bytes at a time.
    if (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, s + i, sizeof word);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3;
      lo = 0xA0;  // below is an overlong form
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = 3;
    } else if (c == 0xED) {
      len = 3;
      hi = 0x9F;  // above are UTF-16 surrogates
    } else if (c == 0xF0) {
      len = 4;
      lo = 0x90;  // below is an overlong form
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4;
      hi = 0x8F;  // above is past U+10FFFF
    } else {
      return i;
    }
    if (i + 1 >= n || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (i + k >= n || (s[i + k] & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return std::nullopt;
}

Location location_of(std::string_view source, size_t offset) {
  uint32_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line;
      line_start = i + 1;
    } else if (source[i] == '\r') {
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      ++line;
      line_start = i + 1;
    }
  }
  return Location{line, static_cast<uint32_t>(offset - line_start + 1)};
}

Lexer::Lexer(std::string_view source, size_t max_tokens) : src_(source), max_tokens_(max_tokens) {}

Location Lexer::loc_at(size_t offset) const {
  return Location{line_, static_cast<uint32_t>(offset - line_start_ + 1)};
}

bool Lexer::fail(size_t offset, std::string message) {
  error_ = LexError{std::move(message), loc_at(offset)};
  return false;
}

void Lexer::newline_at(size_t next_line_start) {
  ++line_;
  line_start_ = next_line_start;
}

void Lexer::skip_ignored() {
  const size_t n = src_.size();
  while (pos_ < n) {
    const auto c = static_cast<unsigned char>(src_[pos_]);
    if (c == ' ' || c == '\t' || c == ',') {
      ++pos_;
    } else if (c == '\n') {
      ++pos_;
      newline_at(pos_);
    } else if (c == '\r') {
      pos_ += (pos_ + 1 < n && src_[pos_ + 1] == '\n') ? 2 : 1;
      newline_at(pos_);
    } else if (c == '#') {
      while (pos_ < n && src_[pos_] != '\n' && src_[pos_] != '\r') ++pos_;
    } else if (c == 0xEF && src_.substr(pos_, 3) == "\xEF\xBB\xBF") {
      pos_ += 3;  // a byte order mark is an ignored token anywhere
    } else {
      break;
    }
  }
}

bool Lexer::next(Token& out) {
  skip_ignored();
  out.loc = loc_at(pos_);
  if (pos_ >= src_.size()) {
    out.kind = TokenKind::kEof;
    out.text = {};
    return true;
  }
  if (++tokens_ > max_tokens_) {
    return fail(pos_, fmt::format("the document has more than {} tokens", max_tokens_));
  }
  const size_t start = pos_;
  auto punct = [&](TokenKind kind, size_t len) {
    out.kind = kind;
    out.text = src_.substr(start, len);
    pos_ += len;
    return true;
  };
  const auto c = static_cast<unsigned char>(src_[pos_]);
  switch (c) {
    case '!':
      return punct(TokenKind::kBang, 1);
    case '$':
      return punct(TokenKind::kDollar, 1);
    case '&':
      return punct(TokenKind::kAmp, 1);
    case '(':
      return punct(TokenKind::kParenL, 1);
    case ')':
      return punct(TokenKind::kParenR, 1);
    case ':':
      return punct(TokenKind::kColon, 1);
    case '=':
      return punct(TokenKind::kEquals, 1);
    case '@':
      return punct(TokenKind::kAt, 1);
    case '[':
      return punct(TokenKind::kBracketL, 1);
    case ']':
      return punct(TokenKind::kBracketR, 1);
    case '{':
      return punct(TokenKind::kBraceL, 1);
    case '|':
      return punct(TokenKind::kPipe, 1);
    case '}':
      return punct(TokenKind::kBraceR, 1);
    case '.':
      if (src_.substr(pos_, 3) == "...") return punct(TokenKind::kSpread, 3);
      return fail(pos_, "unexpected \".\", expected \"...\"");
    case '"':
      if (src_.substr(pos_, 3) == "\"\"\"") return lex_block_string(out);
      return lex_string(out);
    default:
      break;
  }
  if (c == '-' || is_digit(c)) return lex_number(out);
  if (is_name_start(c)) {
    ++pos_;
    while (pos_ < src_.size() && is_name_continue(static_cast<unsigned char>(src_[pos_]))) ++pos_;
    out.kind = TokenKind::kName;
    out.text = src_.substr(start, pos_ - start);
    return true;
  }
  return fail(pos_, "unexpected character " + describe_char(src_, pos_));
}

bool Lexer::lex_number(Token& out) {
  const size_t start = pos_;
  const size_t n = src_.size();
  auto at = [&](size_t i) -> unsigned char {
    return i < n ? static_cast<unsigned char>(src_[i]) : '\0';
  };
  auto digits = [&]() {
    if (pos_ >= n || !is_digit(at(pos_))) {
      return fail(pos_, "invalid number, expected a digit but found " + describe_char(src_, pos_));
    }
    while (pos_ < n && is_digit(at(pos_))) ++pos_;
    return true;
  };
  if (at(pos_) == '-') ++pos_;
  if (at(pos_) == '0') {
    ++pos_;
    if (pos_ < n && is_digit(at(pos_))) {
      return fail(pos_, "invalid number, unexpected digit after 0: " + describe_char(src_, pos_));
    }
  } else if (!digits()) {
    return false;
  }
  bool is_float = false;
  if (at(pos_) == '.') {
    ++pos_;
    if (!digits()) return false;
    is_float = true;
  }
  if (at(pos_) == 'e' || at(pos_) == 'E') {
    ++pos_;
    if (at(pos_) == '+' || at(pos_) == '-') ++pos_;
    if (!digits()) return false;
    is_float = true;
  }
  if (pos_ < n && (at(pos_) == '.' || is_name_start(at(pos_)))) {
    return fail(pos_, "invalid number, expected a digit but found " + describe_char(src_, pos_));
  }
  out.kind = is_float ? TokenKind::kFloat : TokenKind::kInt;
  out.text = src_.substr(start, pos_ - start);
  return true;
}

// Decodes the escape sequence at pos_ (which holds the backslash) into string_value_.
bool Lexer::lex_escape(size_t& pos) {
  const size_t n = src_.size();
  if (pos + 1 >= n) return fail(pos, "unterminated string");
  const char e = src_[pos + 1];
  char simple = 0;
  switch (e) {
    case '"':
    case '\\':
    case '/':
      simple = e;
      break;
    case 'b':
      simple = '\b';
      break;
    case 'f':
      simple = '\f';
      break;
    case 'n':
      simple = '\n';
      break;
    case 'r':
      simple = '\r';
      break;
    case 't':
      simple = '\t';
      break;
    case 'u':
      break;
    default:
      return fail(pos, "invalid escape sequence \\" + describe_char(src_, pos + 1));
  }
  if (simple != 0) {
    string_value_.push_back(simple);
    pos += 2;
    return true;
  }
  auto hex4 = [&](size_t at) -> int32_t {
    if (at + 4 > n) return -1;
    int32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int h = hex_value(static_cast<unsigned char>(src_[at + k]));
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  };
  const size_t esc = pos;
  if (pos + 2 < n && src_[pos + 2] == '{') {
    // \u{...}: variable width, October 2021.
    size_t i = pos + 3;
    uint32_t cp = 0;
    size_t count = 0;
    while (i < n && hex_value(static_cast<unsigned char>(src_[i])) >= 0) {
      cp = cp * 16 + hex_value(static_cast<unsigned char>(src_[i]));
      ++i;
      if (++count > 8 || cp > 0x10FFFF) break;
    }
    if (count == 0 || count > 8 || cp > 0x10FFFF || i >= n || src_[i] != '}' ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return fail(esc, "invalid unicode escape sequence");
    }
    append_utf8(string_value_, cp);
    pos = i + 1;
    return true;
  }
  int32_t cp = hex4(pos + 2);
  if (cp < 0) return fail(esc, "invalid unicode escape sequence");
  pos += 6;
  if (cp >= 0xDC00 && cp <= 0xDFFF) {
    return fail(esc, "invalid unicode escape sequence: unpaired surrogate");
  }
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    // A leading surrogate must be followed by an escaped trailing one; together they name
    // one supplementary code point.
    int32_t low = -1;
    if (pos + 1 < n && src_[pos] == '\\' && src_[pos + 1] == 'u') low = hex4(pos + 2);
    if (low < 0xDC00 || low > 0xDFFF) {
      return fail(esc, "invalid unicode escape sequence: unpaired surrogate");
    }
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    pos += 6;
  }
  append_utf8(string_value_, static_cast<uint32_t>(cp));
  return true;
}

bool Lexer::lex_string(Token& out) {
  const size_t start = pos_;
  const size_t n = src_.size();
  string_value_.clear();
  size_t pos = start + 1;
  size_t chunk = pos;
  for (;;) {
    if (pos >= n) return fail(pos, "unterminated string");
    const auto c = static_cast<unsigned char>(src_[pos]);
    if (c == '"') {
      string_value_.append(src_.substr(chunk, pos - chunk));
      ++pos;
      break;
    }
    if (c == '\\') {
      string_value_.append(src_.substr(chunk, pos - chunk));
      if (!lex_escape(pos)) return false;
      chunk = pos;
      continue;
    }
    if (c == '\n' || c == '\r') return fail(pos, "unterminated string");
    if (c < 0x20 && c != '\t') {
      return fail(pos, "invalid character " + describe_char(src_, pos) + " within a string");
    }
    ++pos;
  }
  pos_ = pos;
  out.kind = TokenKind::kString;
  out.text = src_.substr(start, pos_ - start);
  return true;
}

bool Lexer::lex_block_string(Token& out) {
  const size_t start = pos_;
  const Location start_loc = loc_at(start);
  const size_t n = src_.size();
  size_t pos = start + 3;
  const size_t raw_start = pos;
  size_t raw_end = 0;
  for (;;) {
    if (pos >= n) {
      error_ = LexError{"unterminated block string", start_loc};
      return false;
    }
    const auto c = static_cast<unsigned char>(src_[pos]);
    if (c == '"' && src_.substr(pos, 3) == "\"\"\"") {
      raw_end = pos;
      pos += 3;
      break;
    }
    if (c == '\\' && src_.substr(pos, 4) == "\\\"\"\"") {
      pos += 4;
    } else if (c == '\n') {
      ++pos;
      newline_at(pos);
    } else if (c == '\r') {
      pos += (pos + 1 < n && src_[pos + 1] == '\n') ? 2 : 1;
      newline_at(pos);
    } else if (c < 0x20 && c != '\t') {
      return fail(pos, "invalid character " + describe_char(src_, pos) + " within a string");
    } else {
      ++pos;
    }
  }
  pos_ = pos;
  block_string_value(src_.substr(raw_start, raw_end - raw_start), string_value_);
  out.kind = TokenKind::kBlockString;
  out.text = src_.substr(start, pos_ - start);
  out.loc = start_loc;
  return true;
}

}  // namespace liveql::gql::detail
