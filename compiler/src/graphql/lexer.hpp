// GraphQL lexer (October 2021 spec, section 2.1). Private to the graphql stage.
//
// The lexer yields one token at a time; a token's text is a view into the source, so the source
// must outlive the lexer. String tokens are decoded on the fly into a buffer the parser may
// move from. Ignored tokens (whitespace, line terminators, commas, comments, the BOM) are
// skipped. The lexer assumes the source is valid UTF-8 (see find_invalid_utf8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "liveql/compiler/ast.hpp"

namespace liveql::gql::detail {

enum class TokenKind {
  kEof,
  kBang,         // !
  kDollar,       // $
  kAmp,          // &
  kParenL,       // (
  kParenR,       // )
  kSpread,       // ...
  kColon,        // :
  kEquals,       // =
  kAt,           // @
  kBracketL,     // [
  kBracketR,     // ]
  kBraceL,       // {
  kPipe,         // |
  kBraceR,       // }
  kName,         // /[_A-Za-z][_0-9A-Za-z]*/
  kInt,          // -?(0|[1-9][0-9]*)
  kFloat,        // an int with a fraction and/or an exponent
  kString,       // "..."
  kBlockString,  // """..."""
};

// How a token kind is named in error messages: `"{"`, `a name`, `end of document`, ...
std::string_view token_kind_name(TokenKind kind);

struct Token {
  TokenKind kind = TokenKind::kEof;
  std::string_view text;  // the token's source bytes (strings include their quotes)
  Location loc;
};

struct LexError {
  std::string message;  // e.g. `unterminated string`
  Location loc;
};

// Returns the byte offset of the first byte that is not part of a well-formed UTF-8 sequence
// (overlong forms, surrogates, code points above U+10FFFF and truncated sequences are all
// ill-formed), or nullopt when the whole input is valid.
std::optional<size_t> find_invalid_utf8(std::string_view bytes);

// The 1-based line and byte column of `offset` in `source`, counting \n, \r\n and \r as line
// terminators, as the lexer does. Linear in offset; meant for error paths.
Location location_of(std::string_view source, size_t offset);

class Lexer {
 public:
  // `max_tokens` bounds the number of tokens next() returns before it fails (EOF excluded).
  Lexer(std::string_view source, size_t max_tokens);

  // Lexes the next token into `out`. Returns false on a lexical error; error() then describes
  // it and the lexer must not be used further. After kEof, keeps returning kEof.
  bool next(Token& out);

  // The decoded value of the last kString or kBlockString token. The parser may move from it.
  std::string& string_value() { return string_value_; }

  const LexError& error() const { return error_; }

 private:
  bool fail(size_t offset, std::string message);
  void skip_ignored();
  bool lex_number(Token& out);
  bool lex_string(Token& out);
  bool lex_block_string(Token& out);
  bool lex_escape(size_t& pos);
  void newline_at(size_t next_line_start);
  Location loc_at(size_t offset) const;

  std::string_view src_;
  size_t pos_ = 0;
  uint32_t line_ = 1;
  size_t line_start_ = 0;
  size_t tokens_ = 0;
  size_t max_tokens_;
  std::string string_value_;
  LexError error_;
};

}  // namespace liveql::gql::detail
