#include "liveql/compiler/dependencies.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace liveql::deps {
namespace {

const char* op_name(ir::CompareOp op) {
  switch (op) {
    case ir::CompareOp::kEq:
      return "_eq";
    case ir::CompareOp::kNeq:
      return "_neq";
    case ir::CompareOp::kGt:
      return "_gt";
    case ir::CompareOp::kLt:
      return "_lt";
    case ir::CompareOp::kGte:
      return "_gte";
    case ir::CompareOp::kLte:
      return "_lte";
    case ir::CompareOp::kIn:
      return "_in";
    case ir::CompareOp::kNin:
      return "_nin";
    case ir::CompareOp::kIsNull:
      return "_is_null";
    case ir::CompareOp::kLike:
      return "_like";
    case ir::CompareOp::kNlike:
      return "_nlike";
    case ir::CompareOp::kIlike:
      return "_ilike";
    case ir::CompareOp::kNilike:
      return "_nilike";
    case ir::CompareOp::kSimilar:
      return "_similar";
    case ir::CompareOp::kNsimilar:
      return "_nsimilar";
    case ir::CompareOp::kRegex:
      return "_regex";
    case ir::CompareOp::kNregex:
      return "_nregex";
    case ir::CompareOp::kIregex:
      return "_iregex";
    case ir::CompareOp::kNiregex:
      return "_niregex";
    case ir::CompareOp::kContains:
      return "_contains";
    case ir::CompareOp::kContainedIn:
      return "_contained_in";
    case ir::CompareOp::kHasKey:
      return "_has_key";
    case ir::CompareOp::kHasKeysAny:
      return "_has_keys_any";
    case ir::CompareOp::kHasKeysAll:
      return "_has_keys_all";
    case ir::CompareOp::kStContains:
      return "_st_contains";
    case ir::CompareOp::kStCrosses:
      return "_st_crosses";
    case ir::CompareOp::kStEquals:
      return "_st_equals";
    case ir::CompareOp::kStIntersects:
      return "_st_intersects";
    case ir::CompareOp::kStOverlaps:
      return "_st_overlaps";
    case ir::CompareOp::kStTouches:
      return "_st_touches";
    case ir::CompareOp::kStWithin:
      return "_st_within";
    case ir::CompareOp::kSt3dIntersects:
      return "_st_3d_intersects";
    case ir::CompareOp::kStDWithin:
      return "_st_d_within";
    case ir::CompareOp::kSt3dDWithin:
      return "_st_3d_d_within";
    case ir::CompareOp::kAncestor:
      return "_ancestor";
    case ir::CompareOp::kAncestorAny:
      return "_ancestor_any";
    case ir::CompareOp::kDescendant:
      return "_descendant";
    case ir::CompareOp::kDescendantAny:
      return "_descendant_any";
    case ir::CompareOp::kMatches:
      return "_matches";
    case ir::CompareOp::kMatchesAny:
      return "_matches_any";
    case ir::CompareOp::kMatchesFulltext:
      return "_matches_fulltext";
    case ir::CompareOp::kStIntersectsRast:
      return "_st_intersects_rast";
    case ir::CompareOp::kStIntersectsGeomNband:
      return "_st_intersects_geom_nband";
    case ir::CompareOp::kStIntersectsNbandGeom:
      return "_st_intersects_nband_geom";
  }
  return "?";
}

bool is_matchable_op(ir::CompareOp op) {
  switch (op) {
    case ir::CompareOp::kEq:
    case ir::CompareOp::kNeq:
    case ir::CompareOp::kGt:
    case ir::CompareOp::kLt:
    case ir::CompareOp::kGte:
    case ir::CompareOp::kLte:
    case ir::CompareOp::kIn:
    case ir::CompareOp::kNin:
    case ir::CompareOp::kIsNull:
      return true;
    default:
      return false;
  }
}

bool is_jsonb_op(ir::CompareOp op) {
  return op == ir::CompareOp::kContains || op == ir::CompareOp::kContainedIn ||
         op == ir::CompareOp::kHasKey || op == ir::CompareOp::kHasKeysAny ||
         op == ir::CompareOp::kHasKeysAll;
}

bool is_postgis_op(ir::CompareOp op) {
  return (op >= ir::CompareOp::kStContains && op <= ir::CompareOp::kSt3dDWithin) ||
         (op >= ir::CompareOp::kStIntersectsRast && op <= ir::CompareOp::kStIntersectsNbandGeom);
}

bool is_ltree_op(ir::CompareOp op) {
  return op >= ir::CompareOp::kAncestor && op <= ir::CompareOp::kMatchesFulltext;
}

class Extractor {
 public:
  explicit Extractor(Dependencies& out) : out_(out) {}

  void root_field(const ir::RootField& field) {
    switch (field.kind) {
      case ir::RootField::Kind::kSelect:
      case ir::RootField::Kind::kSelectByPk:
        select(field.select, TableRole::kRoot, {}, false);
        break;
      case ir::RootField::Kind::kAggregate:
        select(field.aggregate.rows, TableRole::kRoot, {}, true);
        break;
      case ir::RootField::Kind::kConnection:
        // The page and its pageInfo depend on rows outside it (before a cursor, past a slice):
        // as for an aggregate, every row satisfying the predicate is relevant.
        select(field.connection.rows, TableRole::kRoot, {}, true);
        break;
      case ir::RootField::Kind::kStatic:
        break;
      case ir::RootField::Kind::kStream: {
        // Only rows entering past the cursor matter: a row already streamed is never sent
        // again, whatever happens to it, so neither old images nor result keys are relevant.
        const size_t index = out_.tables.size();
        select(field.select, TableRole::kRoot, {}, false);
        if (!field.select.primary_key.empty()) out_.tables[index].old_image_relevant = false;
        break;
      }
    }
  }

 private:
  struct Context {
    size_t owner;  // index of the dependency whose predicate is being converted
    bool negated;
    bool all_rows;
  };

  static std::string reads_function(const ir::FunctionCall& call) {
    return "reads function " + call.function.to_string();
  }

  void mark_intractable(size_t index, std::string reason) {
    auto& dep = out_.tables[index];
    if (!dep.tractable) return;  // keep the first reason: it is the one operators act on
    dep.tractable = false;
    dep.reason = std::move(reason);
  }

  size_t new_dependency(const catalog::QualifiedName& table, TableRole role) {
    TableDependency dep;
    dep.table = table;
    dep.table_key = table.to_string();
    dep.role = role;
    out_.tables.push_back(std::move(dep));
    return out_.tables.size() - 1;
  }

  void select(const ir::Select& sel, TableRole role, std::vector<std::string> link_columns,
              bool aggregate) {
    size_t index = new_dependency(sel.table, role);
    bool all_rows =
        aggregate || sel.limit || sel.offset || sel.permission_limit || !sel.distinct_on.empty();
    {
      auto& dep = out_.tables[index];
      dep.primary_key = sel.primary_key;
      dep.link_columns = std::move(link_columns);
      dep.all_rows_relevant = all_rows;
      dep.old_image_relevant = all_rows;
      if (sel.primary_key.empty()) {
        dep.old_image_relevant = true;
        mark_intractable(index, "table " + dep.table_key + " has no primary key");
      }
    }
    // What a SQL function reads is unknown: its rows (a tracked function, a table computed
    // field) and values (a scalar computed field) can change with any table.
    if (sel.function) mark_intractable(index, reads_function(*sel.function));
    for (const auto& field : sel.fields)
      if (field.kind == ir::Field::Kind::kComputed && field.call)
        mark_intractable(index, reads_function(*field.call));
    Predicate pred = sel.where ? convert(*sel.where, Context{index, false, all_rows}) : Predicate{};
    out_.tables[index].predicate = std::move(pred);

    for (const auto& order : sel.order_by) {
      if (order.computed) mark_intractable(index, reads_function(*order.computed));
      if (order.path.empty()) continue;
      mark_intractable(index, (order.aggregate.empty() ? "order_by through relationship "
                                                       : "order_by on an aggregate of ") +
                                  order.path.front().name + " of " + out_.tables[index].table_key);
      // Any related row the role may see can change the order (an aggregate reads them all):
      // its new or old image satisfying the related table's permission filter.
      for (size_t i = 0; i < order.path.size(); ++i) {
        const ir::Join& join = order.path[i];
        size_t related = new_dependency(join.target, TableRole::kFilterOnly);
        out_.tables[related].old_image_relevant = true;
        out_.tables[related].all_rows_relevant = true;
        for (const auto& [parent, child] : join.mapping)
          out_.tables[related].link_columns.push_back(child);
        if (i < order.path_filters.size() && order.path_filters[i]) {
          Predicate filter = convert(*order.path_filters[i], Context{related, false, true});
          out_.tables[related].predicate = std::move(filter);
        }
      }
    }

    for (const auto& field : sel.fields) {
      std::vector<std::string> child_columns;
      for (const auto& [parent, child] : field.join.mapping) child_columns.push_back(child);
      if ((field.kind == ir::Field::Kind::kObjectRel || field.kind == ir::Field::Kind::kArrayRel) &&
          field.select) {
        select(*field.select, TableRole::kLinked, std::move(child_columns), false);
      } else if (field.kind == ir::Field::Kind::kAggregate && field.aggregate) {
        select(field.aggregate->rows, TableRole::kLinked, std::move(child_columns), true);
      } else if (field.kind == ir::Field::Kind::kConnection && field.connection) {
        select(field.connection->rows, TableRole::kLinked, std::move(child_columns), true);
      }
    }
  }

  Predicate convert(const ir::BoolExp& exp, Context ctx) {
    Predicate p;
    switch (exp.kind) {
      case ir::BoolExp::Kind::kTrue:
        p.kind = Predicate::Kind::kTrue;
        return p;
      case ir::BoolExp::Kind::kFalse:
        p.kind = Predicate::Kind::kFalse;
        return p;
      case ir::BoolExp::Kind::kAnd:
      case ir::BoolExp::Kind::kOr:
        p.kind = exp.kind == ir::BoolExp::Kind::kAnd ? Predicate::Kind::kAnd : Predicate::Kind::kOr;
        for (const auto& child : exp.children)
          if (child) p.children.push_back(convert(*child, ctx));
        return p;
      case ir::BoolExp::Kind::kNot: {
        p.kind = Predicate::Kind::kNot;
        Context inner = ctx;
        inner.negated = !ctx.negated;
        if (exp.children.empty() || !exp.children[0]) {
          p.children.push_back(Predicate{});
        } else {
          p.children.push_back(convert(*exp.children[0], inner));
        }
        return p;
      }
      case ir::BoolExp::Kind::kCompare: {
        if (exp.computed) {
          p.kind = Predicate::Kind::kUnknown;
          mark_intractable(ctx.owner, reads_function(*exp.computed));
          return p;
        }
        const std::string where = out_.tables[ctx.owner].table_key + "." + exp.column;
        // PostGIS: spatial predicates (and values seen through a _cast) are computed by
        // PostGIS only; a row image holds the geometry as hex EWKB.
        if (is_postgis_op(exp.op) || !exp.column_cast.empty()) {
          p.kind = Predicate::Kind::kUnknown;
          mark_intractable(ctx.owner,
                           (is_postgis_op(exp.op) ? "PostGIS operator " : "_cast with ") +
                               std::string(op_name(exp.op)) + " on " + where);
          return p;
        }
        if (!is_matchable_op(exp.op)) {
          p.kind = Predicate::Kind::kUnknown;
          const char* kind = is_jsonb_op(exp.op)   ? "jsonb operator "
                             : is_ltree_op(exp.op) ? "ltree operator "
                                                   : "text pattern ";
          mark_intractable(ctx.owner, kind + std::string(op_name(exp.op)) + " on " + where);
          return p;
        }
        p.kind = Predicate::Kind::kCompare;
        p.column = exp.column;
        p.column_type = exp.column_is_enum ? "enum" : exp.column_type;
        p.op = exp.op;
        p.param = exp.param;
        return p;
      }
      case ir::BoolExp::Kind::kCompareColumns:
        // Column against column (a permission's _ceq, _cgt, ...): the matcher does not compare
        // two columns, so the row may match. Unknown costs refetches on this table's changes,
        // not correctness; a comparison with an outer table sits under a relationship or
        // _exists, which makes the table intractable already.
        p.kind = Predicate::Kind::kUnknown;
        return p;
      case ir::BoolExp::Kind::kRelationship: {
        if (exp.computed) mark_intractable(ctx.owner, reads_function(*exp.computed));
        p.kind = Predicate::Kind::kRelationship;
        for (const auto& [parent, child] : exp.join.mapping) p.link_columns.push_back(parent);
        mark_intractable(ctx.owner, "relationship filter " + exp.join.name + " of " +
                                        out_.tables[ctx.owner].table_key + " reaches " +
                                        exp.join.target.to_string());
        size_t related = new_dependency(exp.join.target, TableRole::kFilterOnly);
        {
          auto& dep = out_.tables[related];
          dep.all_rows_relevant = ctx.all_rows;
          // A related row also leaves the filter by changing its link columns (an order moving
          // to another user): the matcher checks the old image whenever it lacks them.
          dep.old_image_relevant = ctx.negated || ctx.all_rows;
          for (const auto& [parent, child] : exp.join.mapping) dep.link_columns.push_back(child);
        }
        Predicate inner = exp.inner
                              ? convert(*exp.inner, Context{related, ctx.negated, ctx.all_rows})
                              : Predicate{};
        out_.tables[related].predicate = std::move(inner);
        return p;
      }
      case ir::BoolExp::Kind::kExists: {
        p.kind = Predicate::Kind::kUnknown;
        mark_intractable(ctx.owner, "_exists on " + exp.table.to_string() + " in a filter of " +
                                        out_.tables[ctx.owner].table_key);
        size_t related = new_dependency(exp.table, TableRole::kFilterOnly);
        out_.tables[related].all_rows_relevant = ctx.all_rows;
        // Rows of an _exists table are never linked to the result, so no key finds the row
        // that stops satisfying the filter: only its old image can.
        out_.tables[related].old_image_relevant = true;
        Predicate inner = exp.inner
                              ? convert(*exp.inner, Context{related, ctx.negated, ctx.all_rows})
                              : Predicate{};
        out_.tables[related].predicate = std::move(inner);
        return p;
      }
    }
    p.kind = Predicate::Kind::kUnknown;
    return p;
  }

  Dependencies& out_;
};

void walk(Predicate& p, std::map<std::string, int32_t>& slots, Dependencies& deps,
          std::vector<std::string>& columns) {
  if (p.kind == Predicate::Kind::kCompare) {
    auto [it, inserted] = slots.emplace(p.param.key, static_cast<int32_t>(deps.param_keys.size()));
    if (inserted) deps.param_keys.push_back(p.param.key);
    p.slot = it->second;
    columns.push_back(p.column);
  }
  if (p.kind == Predicate::Kind::kRelationship)
    columns.insert(columns.end(), p.link_columns.begin(), p.link_columns.end());
  for (auto& child : p.children) walk(child, slots, deps, columns);
}

}  // namespace

void assign_param_slots(Dependencies& deps) {
  deps.param_keys.clear();
  deps.tractable = true;
  deps.reason.clear();
  std::map<std::string, int32_t> slots;
  for (auto& dep : deps.tables) {
    dep.predicate_columns.clear();
    walk(dep.predicate, slots, deps, dep.predicate_columns);
    std::sort(dep.predicate_columns.begin(), dep.predicate_columns.end());
    dep.predicate_columns.erase(
        std::unique(dep.predicate_columns.begin(), dep.predicate_columns.end()),
        dep.predicate_columns.end());
    if (dep.table_key.empty()) dep.table_key = dep.table.to_string();
    if (!dep.tractable && deps.tractable) {
      deps.tractable = false;
      deps.reason = dep.reason;
    }
  }
}

Dependencies extract_dependencies(const ir::Operation& op) {
  Dependencies deps;
  Extractor extractor(deps);
  for (const auto& field : op.fields) extractor.root_field(field);
  assign_param_slots(deps);
  deps.row_result = row_result(op);
  return deps;
}

}  // namespace liveql::deps
