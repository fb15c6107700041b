#include "schema/executable_rules.hpp"

#include <fmt/format.h>

#include <set>
#include <utility>

namespace liveql::compiler::detail {
namespace {

Error invalid(std::string message) {
  return make_error(ErrorCode::kValidationFailed, std::move(message), "$");
}

const char* operation_kind(gql::OperationType type) {
  switch (type) {
    case gql::OperationType::kQuery:
      return "a query";
    case gql::OperationType::kMutation:
      return "a mutation";
    case gql::OperationType::kSubscription:
      return "a subscription";
  }
  return "an operation";
}

Status no_directives(const std::vector<gql::Directive>& directives, const char* where) {
  if (directives.empty()) return Ok{};
  const std::string& name = directives.front().name;
  if (name != "include" && name != "skip")
    return invalid(fmt::format("directive '{}' is not defined in the schema", name));
  return invalid(fmt::format("directive '{}' is not allowed on {}", name, where));
}

// Hasura's `@_multiple_top_level_fields` (no arguments) lets a subscription select several root
// fields; no other directive may stand on an operation.
Status operation_directives(const gql::OperationDefinition& op) {
  if (op.type == gql::OperationType::kSubscription && op.directives.size() == 1 &&
      op.directives[0].name == kMultipleTopLevelFields && op.directives[0].arguments.empty())
    return Ok{};
  return no_directives(op.directives, operation_kind(op.type));
}

Status unique_arguments(const std::vector<gql::Argument>& arguments) {
  // Argument lists are short; a quadratic scan beats building a set.
  for (size_t i = 0; i < arguments.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (arguments[i].name == arguments[j].name)
        return invalid(fmt::format("there can be only one argument named '{}'", arguments[i].name));
  return Ok{};
}

Status unique_directive_arguments(const std::vector<gql::Directive>& directives) {
  for (const auto& d : directives)
    if (auto s = unique_arguments(d.arguments); !s) return s;
  return Ok{};
}

Status check_type_condition(const std::string& type, const RoleSchema& rs,
                            const std::string* fragment) {
  const TypeDef* def = rs.type(type);
  if (!def) return invalid(fmt::format("type '{}' not found in the schema", type));
  if (def->kind == TypeKind::kObject || def->kind == TypeKind::kInterface ||
      def->kind == TypeKind::kUnion)
    return Ok{};
  if (fragment)
    return invalid(
        fmt::format("fragment '{}' cannot condition on non composite type '{}'", *fragment, type));
  return invalid(fmt::format("fragment cannot condition on non composite type '{}'", type));
}

// One walk over a selection set (not into fragments): spreads it makes, arguments, inline
// fragments' type conditions. Recursion is bounded by the parser's selection depth.
struct SetWalker {
  const RoleSchema& rs;
  std::vector<const gql::FragmentSpread*>& spreads;

  Status walk(const gql::SelectionSet& set) {
    for (const auto& sel : set) {
      if (const auto* f = std::get_if<gql::Field>(&sel.node)) {
        if (auto s = unique_arguments(f->arguments); !s) return s;
        if (auto s = unique_directive_arguments(f->directives); !s) return s;
        if (auto s = walk(f->selection_set); !s) return s;
      } else if (const auto* sp = std::get_if<gql::FragmentSpread>(&sel.node)) {
        if (auto s = unique_directive_arguments(sp->directives); !s) return s;
        spreads.push_back(sp);
      } else {
        const auto& inl = std::get<gql::InlineFragment>(sel.node);
        if (inl.type_condition)
          if (auto s = check_type_condition(*inl.type_condition, rs, nullptr); !s) return s;
        if (auto s = unique_directive_arguments(inl.directives); !s) return s;
        if (auto s = walk(inl.selection_set); !s) return s;
      }
    }
    return Ok{};
  }
};

// Variables named in a value (recursion bounded by the parser's value depth).
void variables_in(const gql::Value& v, std::set<std::string>& out) {
  if (v.kind == gql::Value::Kind::kVariable) out.insert(v.text);
  for (const auto& e : v.list) variables_in(e, out);
  for (const auto& [name, e] : v.fields) variables_in(e, out);
}

void variables_in(const std::vector<gql::Argument>& args, std::set<std::string>& out) {
  for (const auto& a : args) variables_in(a.value, out);
}

void variables_in(const std::vector<gql::Directive>& dirs, std::set<std::string>& out) {
  for (const auto& d : dirs) variables_in(d.arguments, out);
}

// Variables and spreads of one selection set, not entering fragments.
void variables_in(const gql::SelectionSet& set, std::set<std::string>& vars,
                  std::vector<const gql::FragmentSpread*>& spreads) {
  for (const auto& sel : set) {
    if (const auto* f = std::get_if<gql::Field>(&sel.node)) {
      variables_in(f->arguments, vars);
      variables_in(f->directives, vars);
      variables_in(f->selection_set, vars, spreads);
    } else if (const auto* sp = std::get_if<gql::FragmentSpread>(&sel.node)) {
      variables_in(sp->directives, vars);
      spreads.push_back(sp);
    } else {
      const auto& inl = std::get<gql::InlineFragment>(sel.node);
      variables_in(inl.directives, vars);
      variables_in(inl.selection_set, vars, spreads);
    }
  }
}

}  // namespace

Result<FragmentIndex> check_document(const gql::Document& doc, const RoleSchema& rs) {
  std::set<std::string_view> operation_names;
  for (const auto& op : doc.operations)
    if (op.name && !operation_names.insert(*op.name).second)
      return invalid(fmt::format("multiple definitions for operation '{}'", *op.name));

  FragmentIndex index;
  for (const auto& f : doc.fragments)
    if (!index.by_name.emplace(f.name, &f).second)
      return invalid(fmt::format("multiple definitions for fragment '{}'", f.name));

  // Each definition walked once: the spreads it makes, by definition.
  std::vector<const gql::FragmentSpread*> spreads;
  std::vector<std::vector<const gql::FragmentDefinition*>> spreads_of_fragment(
      doc.fragments.size());
  std::map<const gql::FragmentDefinition*, size_t> position;
  for (size_t i = 0; i < doc.fragments.size(); ++i) position[&doc.fragments[i]] = i;
  auto resolve = [&](std::vector<const gql::FragmentDefinition*>* into) -> Status {
    for (const auto* s : spreads) {
      auto it = index.by_name.find(s->name);
      if (it == index.by_name.end())
        return invalid(fmt::format("reference to undefined fragment '{}'", s->name));
      if (into) into->push_back(it->second);
    }
    spreads.clear();
    return Ok{};
  };
  std::vector<bool> used(doc.fragments.size(), false);
  std::vector<size_t> reached;  // fragments spread by an operation directly
  for (const auto& op : doc.operations) {
    if (auto s = operation_directives(op); !s) return s.take_error();
    for (const auto& v : op.variables)
      if (auto s = no_directives(v.directives, "a variable definition"); !s) return s.take_error();
    if (auto s = SetWalker{rs, spreads}.walk(op.selection_set); !s) return s.take_error();
    std::vector<const gql::FragmentDefinition*> direct;
    if (auto s = resolve(&direct); !s) return s.take_error();
    for (const auto* f : direct) reached.push_back(position[f]);
  }
  for (size_t i = 0; i < doc.fragments.size(); ++i) {
    const auto& f = doc.fragments[i];
    if (auto s = check_type_condition(f.type_condition, rs, &f.name); !s) return s.take_error();
    if (auto s = no_directives(f.directives, "a fragment definition"); !s) return s.take_error();
    if (auto s = SetWalker{rs, spreads}.walk(f.selection_set); !s) return s.take_error();
    if (auto s = resolve(&spreads_of_fragment[i]); !s) return s.take_error();
  }

  // Depth-first search with an explicit stack: 1 = on the stack, 2 = done. A fragment is
  // appended once all it spreads are, which gives dependencies_first.
  std::vector<int> state(doc.fragments.size(), 0);
  struct Frame {
    size_t fragment;
    size_t next = 0;
  };
  std::vector<Frame> stack;
  for (size_t root = 0; root < doc.fragments.size(); ++root) {
    if (state[root] != 0) continue;
    stack.push_back({root});
    state[root] = 1;
    while (!stack.empty()) {
      Frame& top = stack.back();
      const auto& out = spreads_of_fragment[top.fragment];
      if (top.next == out.size()) {
        state[top.fragment] = 2;
        index.dependencies_first.push_back(&doc.fragments[top.fragment]);
        stack.pop_back();
        continue;
      }
      size_t next = position[out[top.next++]];
      if (state[next] == 1)
        return invalid(
            fmt::format("the fragment definition(s) {} form a cycle", doc.fragments[next].name));
      if (state[next] == 0) {
        state[next] = 1;
        stack.push_back({next});
      }
    }
  }

  // Fragments must be used: reachable from some operation.
  while (!reached.empty()) {
    size_t i = reached.back();
    reached.pop_back();
    if (used[i]) continue;
    used[i] = true;
    for (const auto* f : spreads_of_fragment[i]) reached.push_back(position[f]);
  }
  for (size_t i = 0; i < doc.fragments.size(); ++i)
    if (!used[i]) return invalid(fmt::format("fragment '{}' is never used", doc.fragments[i].name));
  return index;
}

Status check_variables(const gql::OperationDefinition& op, const FragmentIndex& fragments) {
  std::set<std::string> defined;
  for (const auto& v : op.variables)
    if (!defined.insert(v.name).second)
      return invalid(fmt::format("multiple definitions for variable '{}'", v.name));
  std::set<std::string> used;
  std::vector<const gql::FragmentSpread*> spreads;
  variables_in(op.directives, used);
  variables_in(op.selection_set, used, spreads);
  std::set<const gql::FragmentDefinition*> visited;
  while (!spreads.empty()) {
    const gql::FragmentSpread* s = spreads.back();
    spreads.pop_back();
    const gql::FragmentDefinition* f = fragments.by_name.find(s->name)->second;
    if (!visited.insert(f).second) continue;
    variables_in(f->directives, used);
    variables_in(f->selection_set, used, spreads);
  }
  for (const auto& name : used)
    if (!defined.count(name)) return invalid(fmt::format("unbound variable '{}'", name));
  // A variable declared and never used is accepted, as Hasura accepts it (the spec's "All
  // Variables Used" would refuse queries Hasura clients send).
  return Ok{};
}

}  // namespace liveql::compiler::detail
