// compile(): the front door and the order of the walk. The stages it calls live in the
// compile_*.cpp files next to it (see compile_stages.hpp).
#include "liveql/compiler/compile.hpp"

#include <boost/json.hpp>

#include "schema/compile_stages.hpp"
#include "schema/operation_limits.hpp"

namespace liveql::compiler {
namespace detail {

namespace json = boost::json;

OperationCompiler::OperationCompiler(const Schema& schema, const RoleSchema& rs, const Request& req,
                                     const Session& session, const Limits& limits)
    : schema_(schema), rs_(rs), req_(req), session_(session), limits_(limits) {}

Result<CompiledOperation> OperationCompiler::run() {
  auto doc = gql::parse(req_.query, limits_.parse);
  if (!doc) return doc.take_error();
  doc_ = std::move(*doc);
  auto fragments = check_document(doc_, rs_);
  if (!fragments) return fragments.take_error();
  fragments_ = std::move(*fragments);
  if (auto s = select_operation(); !s) return s.take_error();
  // Limits before anything else looks at the selection: collecting fields expands fragments.
  if (auto s = check_limits(measure(*op_, fragments_, rs_), limits_); !s) return s.take_error();
  if (auto s = coerce_variables(); !s) return s.take_error();
  out_.type = op_->type;
  if (op_->type == gql::OperationType::kMutation) return run_mutation();
  const TypeDef* root =
      rs_.type(op_->type == gql::OperationType::kSubscription ? "subscription_root" : "query_root");
  if (!root) return invalid("no subscriptions exist");  // the role has no query field
  LQ_TRY(fields, collect({&op_->selection_set}, *root, "$"));
  if (op_->type == gql::OperationType::kSubscription && fields.size() != 1 &&
      op_->directives.empty())  // @_multiple_top_level_fields, the only one allowed here
    return invalid("subscriptions must select one top level field");
  // A source's namespace counts its members: Hasura refuses two even with the directive. A
  // streaming field streams alone: its cursor is the subscription's.
  if (op_->type == gql::OperationType::kSubscription && fields.size() > 1)
    for (const auto& cf : fields)
      if (const FieldDef* fd = field_def(*root, cf.field->name, true);
          fd && (fd->role == FieldRole::kNamespace || fd->role == FieldRole::kSelectStream))
        return invalid("subscriptions must select one top level field");
  bool all_static = true;
  json::object data;
  for (const auto& cf : fields) {
    if (out_.root_field_name.empty()) out_.root_field_name = cf.field->name;
    if (const FieldDef* ns = field_def(*root, cf.field->name, true);
        ns && ns->role == FieldRole::kNamespace) {
      LQ_TRY(nested, namespace_fields(*ns, cf));
      all_static = all_static && nested.second;
      data[cf.key] = std::move(nested.first);
      continue;
    }
    LQ_TRY(rf, root_field(*root, cf));
    if (rf.kind == ir::RootField::Kind::kStatic) {
      data[cf.key] = out_.vars.at(rf.param.key);
    } else {
      all_static = false;
    }
    out_.ir.fields.push_back(std::move(rf));
  }
  if (all_static) out_.static_data = std::move(data);
  // Last, so that a variable unbound where a field uses it is reported with that field's path;
  // this catches the rest (unused variables, and uses in skipped fields).
  if (auto s = check_variables(*op_, fragments_); !s) return s.take_error();
  return std::move(out_);
}

// The root fields under a source's namespace field: compiled as root fields of the namespace
// type, tagged with the namespace's response key. Returns the static part of the namespace's
// object and whether it is all static.
Result<std::pair<json::object, bool>> OperationCompiler::namespace_fields(const FieldDef& ns,
                                                                          const Collected& c) {
  const TypeDef* type = rs_.type(base_name(ns.type));
  if (!type) return invalid("unexpected namespace type", c.path);
  LQ_TRY(fields, collect(c.sets, *type, c.path));
  std::pair<json::object, bool> out{json::object(), true};
  for (const auto& cf : fields) {
    LQ_TRY(rf, root_field(*type, cf));
    if (rf.kind == ir::RootField::Kind::kStatic) {
      out.first[cf.key] = out_.vars.at(rf.param.key);
    } else {
      out.second = false;
    }
    rf.namespace_alias = c.key;
    out_.ir.fields.push_back(std::move(rf));
  }
  return out;
}

Result<CompiledOperation> OperationCompiler::run_mutation() {
  const TypeDef* root = rs_.type("mutation_root");
  if (!root || root->fields.empty()) return invalid("no mutations exist");
  LQ_TRY(fields, collect({&op_->selection_set}, *root, "$"));
  bool all_static = true;
  json::object data;
  for (const auto& cf : fields) {
    if (out_.root_field_name.empty()) out_.root_field_name = cf.field->name;
    if (const FieldDef* ns = field_def(*root, cf.field->name, true);
        ns && ns->role == FieldRole::kNamespace) {
      // The mutations under a source's namespace: written as root fields, in request order.
      const TypeDef* type = rs_.type(base_name(ns->type));
      if (!type) return invalid("unexpected namespace type", cf.path);
      LQ_TRY(inner, collect(cf.sets, *type, cf.path));
      json::object nested;
      for (const auto& icf : inner) {
        LQ_TRY(m, mutation_field(*type, icf));
        if (m.write) {
          all_static = false;
        } else {
          nested[icf.key] = m.static_value;
        }
        m.namespace_alias = cf.key;
        out_.mutations.push_back(std::move(m));
      }
      data[cf.key] = std::move(nested);
      continue;
    }
    LQ_TRY(m, mutation_field(*root, cf));
    if (m.write) {
      all_static = false;
    } else {
      data[cf.key] = m.static_value;
    }
    out_.mutations.push_back(std::move(m));
  }
  if (all_static) out_.static_data = std::move(data);
  if (auto s = check_variables(*op_, fragments_); !s) return s.take_error();
  return std::move(out_);
}

}  // namespace detail

Result<CompiledOperation> compile(const Schema& schema, const Request& request,
                                  const Session& session, const Limits& limits) {
  std::string role = session.is_admin && session.role.empty() ? "admin" : session.role;
  if (request.relay) {
    if (auto it = schema.relay_roles.find(role); it != schema.relay_roles.end())
      return detail::OperationCompiler(schema, it->second, request, session, limits).run();
    RoleSchema empty = build_relay_role_schema(schema, build_role_schema(schema, role));
    return detail::OperationCompiler(schema, empty, request, session, limits).run();
  }
  if (const RoleSchema* rs = schema.role(role, session.backend_only))
    return detail::OperationCompiler(schema, *rs, request, session, limits).run();
  // A role without permissions sees an empty schema, as in Hasura.
  RoleSchema empty = build_role_schema(schema, role);
  return detail::OperationCompiler(schema, empty, request, session, limits).run();
}

}  // namespace liveql::compiler
