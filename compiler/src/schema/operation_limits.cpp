#include "schema/operation_limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>

namespace liveql::compiler::detail {
namespace {

// IR building, SQL generation, dependency extraction and the result's JSON all recurse once
// per selection level; this keeps them far from the stack's end (measured under ASan in
// tests/compiler/limits_test.cpp), whatever max_query_depth says.
constexpr uint64_t kMaxSupportedQueryDepth = 200;

uint64_t add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

// The size of one selection set, fragments included.
struct SetSize {
  uint64_t fields = 0;       // in the set and below
  uint64_t relations = 0;    // in the set and below
  uint64_t own_fields = 0;   // fields of this level (spreads and inline fragments flattened)
  uint64_t own_aliases = 0;  // aliased fields of this level
  uint64_t max_aliases = 0;  // the most in any set below this level
  uint64_t depth = 0;

  void add_level(const SetSize& inner) {  // a fragment's fields joining this level
    fields = add(fields, inner.fields);
    relations = add(relations, inner.relations);
    own_fields = add(own_fields, inner.own_fields);
    own_aliases = add(own_aliases, inner.own_aliases);
    max_aliases = std::max(max_aliases, inner.max_aliases);
    depth = std::max(depth, inner.depth);
  }
};

bool is_relation(FieldRole role) {
  switch (role) {
    case FieldRole::kSelect:
    case FieldRole::kSelectByPk:
    case FieldRole::kSelectAggregate:
    case FieldRole::kObjectRel:
    case FieldRole::kArrayRel:
    case FieldRole::kArrayRelAggregate:
    // A mutation root field is a statement of its own, and `returning` a subquery of it.
    case FieldRole::kInsert:
    case FieldRole::kInsertOne:
    case FieldRole::kUpdate:
    case FieldRole::kUpdateByPk:
    case FieldRole::kUpdateMany:
    case FieldRole::kDelete:
    case FieldRole::kDeleteByPk:
    case FieldRole::kReturning:
    // Relay: a connection is a subquery, and node(id) a lookup.
    case FieldRole::kSelectConnection:
    case FieldRole::kArrayRelConnection:
    case FieldRole::kNode:
    // Tracked functions: a call and a subquery over its rows.
    case FieldRole::kFunction:
    case FieldRole::kFunctionAggregate:
    case FieldRole::kFunctionConnection:
      return true;
    default:
      return false;
  }
}

class Measurer {
 public:
  explicit Measurer(const RoleSchema& rs) : rs_(rs) {}

  void measure_fragment(const gql::FragmentDefinition& f) {
    fragments_[&f] = measure(f.selection_set, rs_.type(f.type_condition));
  }

  void fragment_index(const FragmentIndex& index) { index_ = &index; }

  // `type` may be null (an unknown type: validation fails later); fields are still counted.
  // Recursion is bounded by the parser's selection depth: spreads read the memo.
  SetSize measure(const gql::SelectionSet& set, const TypeDef* type) {
    SetSize size;
    for (const auto& sel : set) {
      if (const auto* f = std::get_if<gql::Field>(&sel.node)) {
        const FieldDef* fd = field(type, f->name);
        const TypeDef* inner_type = fd ? rs_.type(base_name(fd->type)) : nullptr;
        SetSize inner = measure(f->selection_set, inner_type);
        size.fields = add(size.fields, add(1, inner.fields));
        size.relations = add(size.relations, inner.relations);
        if (fd && is_relation(fd->role)) size.relations = add(size.relations, 1);
        size.own_fields = add(size.own_fields, 1);
        if (f->alias) size.own_aliases = add(size.own_aliases, 1);
        size.max_aliases = std::max({size.max_aliases, inner.max_aliases, inner.own_aliases});
        size.depth = std::max(size.depth, add(1, inner.depth));
      } else if (const auto* s = std::get_if<gql::FragmentSpread>(&sel.node)) {
        const gql::FragmentDefinition* def = index_->by_name.find(s->name)->second;
        size.add_level(fragments_.at(def));
      } else {
        const auto& inl = std::get<gql::InlineFragment>(sel.node);
        const TypeDef* cond = inl.type_condition ? rs_.type(*inl.type_condition) : type;
        size.add_level(measure(inl.selection_set, cond));
      }
    }
    return size;
  }

 private:
  const FieldDef* field(const TypeDef* type, const std::string& name) const {
    if (!type) return nullptr;
    if (name == "__schema" || name == "__type") {
      static const FieldDef kSchema = [] {
        FieldDef f;
        f.type = named_type("__Schema");
        return f;
      }();
      static const FieldDef kType = [] {
        FieldDef f;
        f.type = named_type("__Type");
        return f;
      }();
      return name == "__schema" ? &kSchema : &kType;
    }
    return type->field(name);
  }

  const RoleSchema& rs_;
  const FragmentIndex* index_ = nullptr;
  std::map<const gql::FragmentDefinition*, SetSize> fragments_;
};

}  // namespace

OperationSize measure(const gql::OperationDefinition& op, const FragmentIndex& fragments,
                      const RoleSchema& rs) {
  Measurer m(rs);
  m.fragment_index(fragments);
  for (const auto* f : fragments.dependencies_first) m.measure_fragment(*f);
  const char* root_name = "query_root";
  if (op.type == gql::OperationType::kSubscription) root_name = "subscription_root";
  if (op.type == gql::OperationType::kMutation) root_name = "mutation_root";
  const TypeDef* root = rs.type(root_name);
  SetSize size = m.measure(op.selection_set, root);
  OperationSize out;
  out.fields = size.fields;
  out.relations = size.relations;
  out.root_fields = size.own_fields;
  out.max_aliases = std::max(size.max_aliases, size.own_aliases);
  out.depth = size.depth;
  return out;
}

uint64_t effective_max_depth(const Limits& limits) {
  return std::min<uint64_t>(limits.max_query_depth, kMaxSupportedQueryDepth);
}

Status check_limits(const OperationSize& size, const Limits& limits) {
  auto exceeded = [](std::string message) {
    return make_error(ErrorCode::kValidationFailed, std::move(message), "$");
  };
  const uint64_t max_depth = effective_max_depth(limits);
  if (size.depth > max_depth)
    return exceeded(
        fmt::format("the operation nests {} fields deep, more than the limit of {} "
                    "(--max-depth)",
                    size.depth, max_depth));
  if (size.root_fields > limits.max_root_fields)
    return exceeded(
        fmt::format("the operation has {} root fields, more than the limit of {} "
                    "(--max-root-fields)",
                    size.root_fields, limits.max_root_fields));
  if (size.max_aliases > limits.max_aliases)
    return exceeded(
        fmt::format("a selection set has {} aliased fields, more than the limit of {} "
                    "(--max-aliases)",
                    size.max_aliases, limits.max_aliases));
  if (size.relations > limits.max_relations)
    return exceeded(
        fmt::format("the operation selects {} tables and relationships, more than "
                    "the limit of {} (--max-relations)",
                    size.relations, limits.max_relations));
  if (size.fields > limits.max_fields)
    return exceeded(
        fmt::format("the operation selects {} fields, more than the limit of {} "
                    "(--max-fields)",
                    size.fields, limits.max_fields));
  return Ok{};
}

}  // namespace liveql::compiler::detail
