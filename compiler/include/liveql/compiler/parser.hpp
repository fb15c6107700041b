// GraphQL lexer and parser for executable documents. Pure; no allocation limits beyond the
// ParseLimits below, which make hostile input (deep nesting, huge documents) an error, never
// a crash or a stack overflow.
#pragma once

#include <cstddef>
#include <string_view>

#include "liveql/base/result.hpp"
#include "liveql/compiler/ast.hpp"

namespace liveql::gql {

// Nesting deeper than this is refused whatever ParseLimits says: each level costs a few stack
// frames (more under sanitizers) in the parser and in everything that walks its output.
inline constexpr size_t kMaxSupportedDepth = 500;

struct ParseLimits {
  size_t max_document_bytes = 1 << 20;  // 1 MiB
  // Nesting of selection sets and list types (`{ a { b } }` is 2 deep). Values above 500 act
  // as 500: deeper would risk the stack.
  size_t max_depth = 64;
  // Nesting of list and object values, counted on its own (`{ a(x: [[1]]) }` nests values 2
  // deep): a 64-deep `_and` written inline is about 130 deep. As deep as a JSON variable may
  // be. Values above 500 act as 500.
  size_t max_value_depth = 256;
  size_t max_tokens = 100'000;  // punctuators, names, numbers, strings; ignored tokens are free
};

// Parses an executable document (October 2021 spec). Linear in the document's size; the
// returned Document owns copies of everything and does not refer to `source`.
//
// Every error has code kValidationFailed (Hasura reports GraphQL syntax errors as
// "validation-failed": "not a valid graphql query"), path "$.query" and a message of the form
//   not a valid graphql query: line 1, column 7: expected a name, found "}"
// (line and column are 1-based; columns count bytes). The same shape covers lexical errors
// ("unterminated string", "invalid number, ..."), invalid UTF-8 ("invalid UTF-8 (byte 0xC0)"),
// type-system definitions (`type`, `schema`, ...: "type system definitions ("type") are not
// allowed in an executable document") and the limits ("the document nests deeper than the
// limit of 64", "a value nests deeper than the limit of 256", "the document has more than
// 100000 tokens"); only the size limit has no
// location: "not a valid graphql query: the document is N bytes, more than the limit of M
// (--max-document-bytes)".
Result<Document> parse(std::string_view source, const ParseLimits& limits = {});

// Parses a single input value, constant or not (variables allowed), followed by the end of
// the source. Errors as parse(), but the message starts "not a valid graphql value" and the
// path is "$".
Result<Value> parse_value(std::string_view source, const ParseLimits& limits = {});

}  // namespace liveql::gql
