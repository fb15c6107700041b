#include "schema/json_path.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <optional>

namespace liveql::compiler::json_path {

namespace {

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::optional<std::vector<std::string>> run() {
    if (text_ == "$") return std::vector<std::string>{};
    if (peek() == '$') ++pos_;
    std::vector<std::string> out;
    while (pos_ < text_.size()) {
      auto e = element();
      if (!e) return std::nullopt;
      out.push_back(std::move(*e));
    }
    if (out.empty()) return std::nullopt;
    return out;
  }

 private:
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  // A letter: ASCII, or any non-ASCII character (its whole UTF-8 sequence).
  bool letter(std::string& out) {
    const char c = peek();
    if (is_ascii_letter(c)) {
      out.push_back(text_[pos_++]);
      return true;
    }
    if (static_cast<unsigned char>(c) < 0x80) return false;
    do {
      out.push_back(text_[pos_++]);
    } while (pos_ < text_.size() && (static_cast<unsigned char>(text_[pos_]) & 0xC0) == 0x80);
    return true;
  }

  std::optional<std::string> name() {
    std::string out;
    if (peek() == '_') {
      out.push_back(text_[pos_++]);
    } else if (!letter(out)) {
      return std::nullopt;
    }
    while (pos_ < text_.size()) {
      const char c = peek();
      if (is_digit(c) || c == '_' || c == '-') {
        out.push_back(text_[pos_++]);
      } else if (!letter(out)) {
        break;
      }
    }
    return out;
  }

  // A quoted key: its characters become a JSON string literal (escapes kept, a single-quoted
  // key's \' unescaped and its " escaped), then decoded as JSON.
  std::optional<std::string> quoted(char delimiter) {
    ++pos_;
    std::string literal = "\"";
    while (pos_ < text_.size() && text_[pos_] != delimiter) {
      const char c = text_[pos_];
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) return std::nullopt;
        const char escaped = text_[pos_ + 1];
        if (delimiter == '\'' && escaped == '\'') {
          literal.push_back('\'');
        } else {
          literal.push_back('\\');
          literal.push_back(escaped);
        }
        pos_ += 2;
        continue;
      }
      if (delimiter == '\'' && c == '"') literal.push_back('\\');
      literal.push_back(c);
      ++pos_;
    }
    if (pos_ >= text_.size()) return std::nullopt;
    ++pos_;
    literal.push_back('"');
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(literal, ec);
    if (ec || !v.is_string()) return std::nullopt;
    return std::string(v.get_string());
  }

  std::optional<std::string> bracket() {
    ++pos_;  // '['
    std::optional<std::string> out;
    if (is_digit(peek())) {
      std::string digits;
      while (is_digit(peek())) digits.push_back(text_[pos_++]);
      size_t zeros = 0;
      while (zeros + 1 < digits.size() && digits[zeros] == '0') ++zeros;
      out = digits.substr(zeros);
    } else if (peek() == '"' || peek() == '\'') {
      out = quoted(peek());
    }
    if (!out || peek() != ']') return std::nullopt;
    ++pos_;
    return out;
  }

  std::optional<std::string> element() {
    if (peek() == '.' && peek(1) == '[') {
      ++pos_;
      return bracket();
    }
    if (peek() == '[') return bracket();
    if (peek() == '.') ++pos_;
    return name();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::vector<std::string>> parse(std::string_view text, const std::string& path) {
  if (auto elements = Parser(text).run()) return std::move(*elements);
  return make_error(ErrorCode::kValidationFailed,
                    fmt::format("parse json path error: {}. Accept letters, digits, underscore (_) "
                                "or hyphen (-) only. Use quotes enclosed in bracket ([\"...\"]) if "
                                "there is any special character",
                                text),
                    path);
}

}  // namespace liveql::compiler::json_path
