// Selection collection: fragments flattened (iteratively), @skip/@include applied, fields with
// equal response keys merged, each field checked against its type, and field arguments
// coerced with their defaults.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <unordered_map>
#include <utility>

#include "schema/compile_stages.hpp"

namespace liveql::compiler::detail {

namespace json = boost::json;

namespace {

bool value_equal(const gql::Value& a, const gql::Value& b) {
  if (a.kind != b.kind || a.text != b.text || a.list.size() != b.list.size() ||
      a.fields.size() != b.fields.size())
    return false;
  for (size_t i = 0; i < a.list.size(); ++i)
    if (!value_equal(a.list[i], b.list[i])) return false;
  for (size_t i = 0; i < a.fields.size(); ++i)
    if (a.fields[i].first != b.fields[i].first ||
        !value_equal(a.fields[i].second, b.fields[i].second))
      return false;
  return true;
}

bool args_equal(const std::vector<gql::Argument>& a, const std::vector<gql::Argument>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& x : a) {
    bool found = false;
    for (const auto& y : b)
      if (x.name == y.name) found = value_equal(x.value, y.value);
    if (!found) return false;
  }
  return true;
}

}  // namespace

Result<bool> OperationCompiler::included(const std::vector<gql::Directive>& dirs,
                                         const std::string& path) {
  std::set<std::string> seen;
  for (const auto& d : dirs) {
    if (!seen.insert(d.name).second)
      return invalid(fmt::format("the following directives are used more than once: {}", d.name),
                     path);
    if (d.name != "include" && d.name != "skip")
      return invalid(fmt::format("directive '{}' is not defined in the schema", d.name), path);
    const gql::Argument* arg = nullptr;
    for (const auto& a : d.arguments) {
      if (a.name != "if")
        return invalid(fmt::format("'{}' has no argument named '{}'", d.name, a.name), path);
      arg = &a;
    }
    if (!arg)
      return invalid(fmt::format("missing \"if\" argument for '{}' directive", d.name), path);
    LQ_TRY(v, coerce_literal(arg->value, non_null(named_type("Boolean")), path));
    if (!v || !v->is_bool())
      return invalid(fmt::format("missing \"if\" argument for '{}' directive", d.name), path);
    if (v->get_bool() == (d.name == "skip")) return false;
  }
  return true;
}

namespace {

// `type` implements the interface `cond` (Relay's Node).
bool relay_fragment_applies(const TypeDef& type, const TypeDef& cond) {
  return cond.kind == TypeKind::kInterface &&
         std::find(type.interfaces.begin(), type.interfaces.end(), cond.name) !=
             type.interfaces.end();
}

// `type` and the object type `cond` implement one interface: inside a selection on that
// interface, a fragment for another of its types, which does not apply to this row.
bool relay_fragment_skipped(const TypeDef& type, const TypeDef& cond) {
  for (const auto& i : type.interfaces)
    if (std::find(cond.interfaces.begin(), cond.interfaces.end(), i) != cond.interfaces.end())
      return true;
  return false;
}

}  // namespace

// Flattens fragments into `out`, merging fields with equal response keys (`by_key` indexes
// `out`). Iterative: a chain of fragments spreading one another must not recurse.
Status OperationCompiler::collect_into(const gql::SelectionSet& set, const TypeDef& type,
                                       const std::string& path, std::vector<Collected>& out,
                                       std::unordered_map<std::string_view, size_t>& by_key) {
  struct Frame {
    const gql::SelectionSet* set;
    size_t next = 0;
  };
  std::vector<Frame> stack{{&set}};
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next == top.set->size()) {
      stack.pop_back();
      continue;
    }
    const gql::Selection& sel = (*top.set)[top.next++];
    if (const auto* f = std::get_if<gql::Field>(&sel.node)) {
      std::string fpath = path + ".selectionSet." + f->response_key();
      LQ_TRY(inc, included(f->directives, fpath));
      if (!inc) continue;
      auto [it, added] = by_key.try_emplace(f->response_key(), out.size());
      if (added) {
        out.push_back(Collected{f->response_key(), f, {&f->selection_set}, fpath});
        continue;
      }
      Collected* prev = &out[it->second];
      if (prev->field->name != f->name)
        return invalid(fmt::format("selection of both '{}' and '{}' specify the same response "
                                   "name, '{}'",
                                   prev->field->name, f->name, f->response_key()),
                       fpath);
      if (!args_equal(prev->field->arguments, f->arguments))
        return invalid(fmt::format("inconsistent arguments between multiple selections of "
                                   "field '{}'",
                                   f->name),
                       fpath);
      prev->sets.push_back(&f->selection_set);
      continue;
    }
    const gql::SelectionSet* inner = nullptr;
    const std::vector<gql::Directive>* dirs = nullptr;
    std::optional<std::string> cond;
    if (const auto* s = std::get_if<gql::FragmentSpread>(&sel.node)) {
      const gql::FragmentDefinition* fd = fragments_.by_name.find(s->name)->second;
      inner = &fd->selection_set;
      dirs = &s->directives;
      cond = fd->type_condition;
    } else {
      const auto& inl = std::get<gql::InlineFragment>(sel.node);
      inner = &inl.selection_set;
      dirs = &inl.directives;
      cond = inl.type_condition;
    }
    LQ_TRY(inc, included(*dirs, path));
    if (!inc) continue;
    if (cond && *cond != type.name) {
      const TypeDef* ct = rs_.type(*cond);
      if (!ct) return invalid(fmt::format("type '{}' not found in the schema", *cond), path);
      // Relay's Node: a node's selection is collected in the concrete type its id names, so a
      // fragment on Node applies, and one on another type implementing Node does not.
      if (relay_fragment_applies(type, *ct)) {
        stack.push_back({inner});
        continue;
      }
      if (relay_fragment_skipped(type, *ct)) continue;
      // No other interfaces, and no unions: a fragment on another type never applies.
      return invalid(
          fmt::format("fragment on type '{}' cannot be spread in type '{}'", *cond, type.name),
          path);
    }
    stack.push_back({inner});  // `top` is not used after this
  }
  return Ok{};
}

Result<std::vector<Collected>> OperationCompiler::collect(
    const std::vector<const gql::SelectionSet*>& sets, const TypeDef& type,
    const std::string& path) {
  std::vector<Collected> out;
  std::unordered_map<std::string_view, size_t> by_key;
  for (const auto* s : sets)
    if (auto r = collect_into(*s, type, path, out, by_key); !r) return r.take_error();
  for (const auto& c : out) {
    if (c.field->name == "__typename") {
      if (!c.field->arguments.empty())
        return invalid(
            fmt::format("'__typename' has no argument named '{}'", c.field->arguments[0].name),
            c.path);
      if (has_selection(c))
        return invalid("unexpected subselection set for non-object field", c.path);
      continue;
    }
    bool is_root = type.name == "query_root" || type.name == "subscription_root";
    const FieldDef* fd = field_def(type, c.field->name, is_root);
    if (!fd)
      return invalid(fmt::format("field '{}' not found in type: '{}'", c.field->name, type.name),
                     c.path);
    const TypeDef* ft = rs_.type(base_name(fd->type));
    bool leaf = ft->kind == TypeKind::kScalar || ft->kind == TypeKind::kEnum;
    if (leaf && has_selection(c))
      return invalid("unexpected subselection set for non-object field", c.path);
    if (!leaf && !has_selection(c))
      return invalid(fmt::format("missing selection set for '{}'", ft->name), c.path);
    for (const auto& a : c.field->arguments)
      if (!fd->arg(a.name))
        return invalid(fmt::format("'{}' has no argument named '{}'", fd->name, a.name), c.path);
  }
  return out;
}

bool OperationCompiler::has_selection(const Collected& c) {
  for (const auto* s : c.sets)
    if (!s->empty()) return true;
  return false;
}

const FieldDef* OperationCompiler::field_def(const TypeDef& type, const std::string& name,
                                             bool is_root) {
  if (is_root && name == "__schema") return &schema_field_;
  if (is_root && name == "__type") return &type_field_;
  return type.field(name);
}

Result<json::object> OperationCompiler::arguments(const Collected& c, const FieldDef& fd) {
  json::object out;
  for (const auto& def : fd.args) {
    std::string apath = c.path + ".args." + def.name;
    const gql::Argument* given = nullptr;
    for (const auto& a : c.field->arguments)
      if (a.name == def.name) given = &a;
    const auto outer = std::exchange(parsing_, def.parsing);
    struct Restore {
      InputValueDef::Parsing& slot;
      InputValueDef::Parsing value;
      ~Restore() { slot = value; }
    } restore{parsing_, outer};
    if (given) {
      LQ_TRY(v, coerce_literal(given->value, def.type, apath, def.default_value.has_value()));
      if (v) {
        out[def.name] = std::move(*v);
        continue;
      }
    }
    if (def.default_value) {
      auto dv = gql::parse_value(*def.default_value);
      if (dv) {
        LQ_TRY(v, coerce_literal(*dv, def.type, apath));
        if (v) out[def.name] = std::move(*v);
      }
      continue;
    }
    if (!nullable(def.type))
      return invalid(fmt::format("missing required field '{}'", def.name), c.path + ".args");
  }
  return out;
}

}  // namespace liveql::compiler::detail
