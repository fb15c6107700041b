// GraphQL lexer and parser for executable documents. Pure; no allocation limits beyond the
// ParseLimits below, which make hostile input (deep nesting, huge documents) an error, never
// a crash or a stack overflow.
#pragma once

#include <cstddef>
#include <string_view>

#include "liveql/base/result.hpp"
#include "liveql/compiler/ast.hpp"

namespace liveql::gql {

struct ParseLimits {
  size_t max_document_bytes = 1 << 20;  // 1 MiB
  size_t max_depth = 64;                // nesting of selection sets, lists and objects
  size_t max_tokens = 100'000;
};

// Parses an executable document. Errors have code kParseFailed and Hasura's message style
// ("not a valid graphql query" details with line:column). Type-system definitions
// (`type`, `schema`, ...) are rejected. Invalid UTF-8 is an error.
Result<Document> parse(std::string_view source, const ParseLimits& limits = {});

// Parses a single input value (used for variable defaults in tests and for tools).
Result<Value> parse_value(std::string_view source, const ParseLimits& limits = {});

}  // namespace liveql::gql
