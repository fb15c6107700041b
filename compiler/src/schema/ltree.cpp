#include "schema/ltree.hpp"

#include "schema/aeson.hpp"

namespace liveql::compiler::ltree {

namespace json = boost::json;

namespace {

// Hasura's descriptions.
constexpr Operator kOperators[] = {
    {"_ancestor", ir::CompareOp::kAncestor, "ltree", false,
     "is the left argument an ancestor of right (or equal)?"},
    {"_ancestor_any", ir::CompareOp::kAncestorAny, "ltree", true,
     "does array contain an ancestor of `ltree`?"},
    {"_descendant", ir::CompareOp::kDescendant, "ltree", false,
     "is the left argument a descendant of right (or equal)?"},
    {"_descendant_any", ir::CompareOp::kDescendantAny, "ltree", true,
     "does array contain a descendant of `ltree`?"},
    {"_matches", ir::CompareOp::kMatches, "lquery", false, "does `ltree` match `lquery`?"},
    {"_matches_any", ir::CompareOp::kMatchesAny, "lquery", true,
     "does `ltree` match any `lquery` in array?"},
    {"_matches_fulltext", ir::CompareOp::kMatchesFulltext, "ltxtquery", false,
     "does `ltree` match `ltxtquery`?"},
};

}  // namespace

bool is_ltree_scalar(std::string_view scalar) {
  return scalar == "ltree" || scalar == "lquery" || scalar == "ltxtquery";
}

const Operator* find_operator(std::string_view name) {
  for (const auto& o : kOperators)
    if (name == o.name) return &o;
  return nullptr;
}

void add_comparison_fields(TypeDef& comparison, std::map<std::string, TypeDef>& types) {
  for (const char* scalar : {"lquery", "ltxtquery"})
    if (!types.count(scalar)) types.emplace(scalar, TypeDef{TypeKind::kScalar, scalar});
  for (const auto& o : kOperators) {
    // _matches_any takes Strings (read as lquery), as in Hasura.
    const char* element = o.op == ir::CompareOp::kMatchesAny ? "String" : o.arg_type;
    gql::TypeRef type = o.list ? list_of(non_null(named_type(element))) : named_type(element);
    comparison.input_fields.push_back(
        InputValueDef{o.name, std::move(type), std::nullopt, o.description});
  }
}

Status check_value(std::string_view scalar, const json::value& value, const std::string& path) {
  if (!is_ltree_scalar(scalar) || value.is_null()) return Ok{};
  if (scalar == "ltree") {
    // Labels may not be empty: "", "a.", ".a" and "a..b" are refused before PostgreSQL sees
    // them; what a label may contain is left to PostgreSQL's ltree_in.
    bool ok = value.is_string();
    if (ok) {
      std::string_view text = value.get_string();
      size_t start = 0;
      while (ok) {
        size_t dot = text.find('.', start);
        size_t end = dot == std::string_view::npos ? text.size() : dot;
        ok = end > start;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
      }
    }
    if (ok) return Ok{};
    return make_error(ErrorCode::kParseFailed,
                      "Expecting label path: a sequence of zero or more labels separated by "
                      "dots, for example L1.L2.L3",
                      path);
  }
  if (value.is_string()) return Ok{};
  return detail::aeson_expected("Text", "String", value, path);
}

std::string extension_type(const catalog::Column& column, const std::string& name) {
  catalog::Column as = column;
  as.udt_name = name;
  as.pg_type = name;
  as.is_array = false;
  return cast_type(as);
}

}  // namespace liveql::compiler::ltree
