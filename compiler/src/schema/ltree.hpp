// The ltree extension as Hasura v2 exposes it: the `ltree`, `lquery` and `ltxtquery` scalars
// (label paths and patterns as strings), the operators of ltree_comparison_exp (_ancestor,
// _descendant, _matches, ... and their _any forms) and Hasura's check of the values. Pure.
#pragma once

#include <boost/json/value.hpp>
#include <map>
#include <string>
#include <string_view>

#include "liveql/base/result.hpp"
#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/ir.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler::ltree {

// True for the GraphQL scalars the extension's types get: "ltree", "lquery", "ltxtquery".
bool is_ltree_scalar(std::string_view scalar);

// An ltree operator of ltree_comparison_exp. Its argument is one value or a list of values of
// `arg_type` ("ltree", "lquery" or "ltxtquery"); _matches_any takes a list of String, read as
// lquery.
struct Operator {
  const char* name;  // "_ancestor"
  ir::CompareOp op;
  const char* arg_type;
  bool list;
  const char* description;
};

// The operator `name` of ltree_comparison_exp, or null.
const Operator* find_operator(std::string_view name);

// The operators ltree_comparison_exp gains, and the lquery / ltxtquery scalars they name,
// added to `types`.
void add_comparison_fields(TypeDef& comparison, std::map<std::string, TypeDef>& types);

// Checks a value given for one of the scalars as Hasura's parser does: an ltree is a string of
// labels separated by dots with no label empty ("Expecting label path: ..."), lquery and
// ltxtquery are strings. Errors are `parse-failed` at `path`; other scalars pass.
Status check_value(std::string_view scalar, const boost::json::value& value,
                   const std::string& path);

// The Postgres type `name` ("lquery", ...) of the extension that defines `column`'s ltree type,
// usable in a cast: the extension may live in any schema.
std::string extension_type(const catalog::Column& column, const std::string& name);

}  // namespace liveql::compiler::ltree
