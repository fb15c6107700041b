// One role's GraphQL type system, named as Hasura v2 names it: tables, relationships,
// aggregates, query_root and subscription_root (mutation_root: schema_mutation_types.cpp).
#include <fmt/format.h>

#include <algorithm>

#include "schema/bool_exp.hpp"
#include "schema/ltree.hpp"
#include "schema/postgis.hpp"
#include "schema/role_builder.hpp"
#include "schema/schema.hpp"
#include "schema/source_customization.hpp"

namespace liveql::compiler {

namespace detail {

namespace {

bool is_comparable_scalar(const std::string& s) {
  static const std::set<std::string> k{"String", "bpchar",    "citext",      "date", "time",
                                       "timetz", "timestamp", "timestamptz", "name", "inet"};
  return RoleBuilder::is_numeric_scalar(s) || k.count(s) > 0;
}

bool is_text_scalar(const std::string& s) {
  return s == "String" || s == "bpchar" || s == "citext" || s == "name";
}

}  // namespace

bool RoleBuilder::is_numeric_scalar(const std::string& s) {
  static const std::set<std::string> k{"Int",    "Float",   "smallint", "bigint",
                                       "float8", "numeric", "money"};
  return k.count(s) > 0;
}

InputValueDef RoleBuilder::input(std::string name, gql::TypeRef type, std::string description) {
  return InputValueDef{std::move(name), std::move(type), std::nullopt, std::move(description)};
}

FieldDef RoleBuilder::field(std::string name, gql::TypeRef type, FieldRole role,
                            std::string description) {
  FieldDef f;
  f.name = std::move(name);
  f.type = std::move(type);
  f.role = role;
  f.description = std::move(description);
  return f;
}

std::string RoleBuilder::table_text(const TrackedTable& tt) {
  const catalog::QualifiedName& q = tt.table.name;
  return q.schema == "public" ? q.name : q.schema + "." + q.name;
}

RoleBuilder::RoleBuilder(const Schema& schema, const std::string& role, bool backend)
    : schema_(schema), backend_(backend) {
  rs_.role = role;
}

RoleSchema RoleBuilder::build() {
  for (const char* s : {"Int", "Float", "String", "Boolean", "ID"}) add_scalar(s);
  add_order_by_enum();
  for (size_t i = 0; i < schema_.tables.size(); ++i) add_visibility(i);
  TypeDef query{TypeKind::kObject, "query_root"};
  TypeDef subscription{TypeKind::kObject, "subscription_root"};
  for (const auto& [index, rt] : rs_.tables) {
    if (!rt.selectable) continue;
    add_table_types(rt);
    for (auto& f : root_fields(rt)) {
      query.fields.push_back(f);
      subscription.fields.push_back(std::move(f));
    }
    if (auto stream = stream_field(rt)) subscription.fields.push_back(std::move(*stream));
  }
  std::vector<FieldDef> function_queries, function_mutations;
  add_function_fields(function_queries, function_mutations);
  for (auto& f : function_queries) {
    query.fields.push_back(f);
    subscription.fields.push_back(std::move(f));
  }
  // As Hasura: a query_root without fields gets a placeholder (GraphQL wants one field), and an
  // empty subscription_root does not exist.
  if (query.fields.empty())
    query.fields.push_back(
        field("no_queries_available", non_null(named_type("String")), FieldRole::kPlaceholder));
  sort_fields(query);
  sort_fields(subscription);
  rs_.types.emplace(query.name, std::move(query));
  if (!subscription.fields.empty()) rs_.types.emplace(subscription.name, std::move(subscription));
  add_mutation_root(std::move(function_mutations));
  return std::move(rs_);
}

void RoleBuilder::sort_fields(TypeDef& t) {
  std::sort(t.fields.begin(), t.fields.end(),
            [](const FieldDef& a, const FieldDef& b) { return a.name < b.name; });
  std::sort(t.input_fields.begin(), t.input_fields.end(),
            [](const InputValueDef& a, const InputValueDef& b) { return a.name < b.name; });
}

void RoleBuilder::add_scalar(const std::string& name) {
  if (rs_.types.count(name)) return;
  TypeDef t{TypeKind::kScalar, name};
  rs_.types.emplace(name, std::move(t));
}

void RoleBuilder::add_order_by_enum() {
  TypeDef t{TypeKind::kEnum, "order_by"};
  t.description = "column ordering options";
  t.enum_values = {"asc",  "asc_nulls_first",  "asc_nulls_last",
                   "desc", "desc_nulls_first", "desc_nulls_last"};
  t.enum_descriptions = {"in ascending order, nulls last",   "in ascending order, nulls first",
                         "in ascending order, nulls last",   "in descending order, nulls first",
                         "in descending order, nulls first", "in descending order, nulls last"};
  rs_.types.emplace(t.name, std::move(t));
}

void RoleBuilder::add_visibility(size_t i) {
  const TrackedTable& tt = schema_.tables[i];
  RoleTable rt;
  rt.table = i;
  if (rs_.role == "admin") {
    rt.selectable = true;
    for (const auto& c : tt.table.columns) rt.columns.push_back(c.name);
    rt.aggregations = true;
  } else if (auto it = tt.permissions.find(rs_.role); it != tt.permissions.end()) {
    rt.selectable = true;
    rt.permission = &it->second;
    for (const auto& c : tt.table.columns)
      if (it->second.columns.count(c.name)) rt.columns.push_back(c.name);
    rt.aggregations = it->second.allow_aggregations;
  }
  add_write_permissions(rt);
  if (!rt.selectable && !rt.insert && !rt.update && !rt.del) return;
  rt.by_pk = rt.selectable && !tt.table.primary_key.empty();
  for (const auto& k : tt.table.primary_key)
    if (!rt.sees(k)) rt.by_pk = false;
  rs_.tables.emplace(i, std::move(rt));
}

const std::string& RoleBuilder::gql_column(const TrackedTable& tt, const std::string& col) {
  return *tt.graphql_column(col);
}

namespace {

InputValueDef offset_input() {
  InputValueDef offset = RoleBuilder::input("offset", named_type("Int"),
                                            "skip the first n rows. Use only with order_by");
  offset.parsing = InputValueDef::Parsing::kBigInt;
  return offset;
}

}  // namespace

std::vector<InputValueDef> RoleBuilder::select_args(const RoleTable& rt) {
  const std::string& n = schema_.tables[rt.table].gql_name;
  return {
      input("distinct_on", list_of(non_null(named_type(n + "_select_column"))),
            "distinct select on columns"),
      input("limit", named_type("Int"), "limit the number of rows returned"),
      offset_input(),
      input("order_by", list_of(non_null(named_type(n + "_order_by"))),
            "sort the rows by one or more columns"),
      input("where", named_type(n + "_bool_exp"), "filter the rows returned"),
  };
}

TypeDef RoleBuilder::comparison_exp(const std::string& scalar) {
  TypeDef t{TypeKind::kInputObject, scalar + "_comparison_exp"};
  t.description = fmt::format(
      "Boolean expression to compare columns of type \"{}\". All fields are combined with "
      "logical 'AND'.",
      scalar);
  t.input_role = InputRole::kComparison;
  t.scalar = scalar;
  return t;
}

std::string RoleBuilder::comparison_type(const std::string& scalar) {
  if (const TypeDef* e = rs_.type(scalar); e && e->kind == TypeKind::kEnum)
    return enum_comparison_type(scalar);
  std::string name = scalar + "_comparison_exp";
  if (rs_.types.count(name)) return name;
  TypeDef t = comparison_exp(scalar);
  gql::TypeRef s = named_type(scalar);
  for (const char* op : {"_eq", "_gt", "_gte", "_lt", "_lte", "_neq"})
    t.input_fields.push_back(input(op, s));
  t.input_fields.push_back(input("_in", list_of(non_null(s))));
  t.input_fields.push_back(input("_nin", list_of(non_null(s))));
  t.input_fields.push_back(input("_is_null", named_type("Boolean")));
  if (is_text_scalar(scalar)) {
    t.input_fields.push_back(
        input("_ilike", s, "does the column match the given case-insensitive pattern"));
    t.input_fields.push_back(
        input("_iregex", s,
              "does the column match the given POSIX regular expression, case insensitive"));
    t.input_fields.push_back(input("_like", s, "does the column match the given pattern"));
    t.input_fields.push_back(
        input("_nilike", s, "does the column NOT match the given case-insensitive pattern"));
    t.input_fields.push_back(
        input("_niregex", s,
              "does the column NOT match the given POSIX regular expression, case insensitive"));
    t.input_fields.push_back(input("_nlike", s, "does the column NOT match the given pattern"));
    t.input_fields.push_back(
        input("_nregex", s,
              "does the column NOT match the given POSIX regular expression, case sensitive"));
    t.input_fields.push_back(
        input("_nsimilar", s, "does the column NOT match the given SQL regular expression"));
    t.input_fields.push_back(input(
        "_regex", s, "does the column match the given POSIX regular expression, case sensitive"));
    t.input_fields.push_back(
        input("_similar", s, "does the column match the given SQL regular expression"));
  }
  if (scalar == "jsonb") {
    t.input_fields.push_back(
        input("_contained_in", s, "is the column contained in the given json value"));
    t.input_fields.push_back(
        input("_contains", s, "does the column contain the given json value at the top level"));
    t.input_fields.push_back(input("_has_key", named_type("String"),
                                   "does the string exist as a top-level key in the column"));
    t.input_fields.push_back(
        input("_has_keys_all", list_of(non_null(named_type("String"))),
              "do all of these strings exist as top-level keys in the column"));
    t.input_fields.push_back(
        input("_has_keys_any", list_of(non_null(named_type("String"))),
              "do any of these strings exist as top-level keys in the column"));
    t.input_fields.push_back(input("_cast", named_type("jsonb_cast_exp")));
    if (!rs_.types.count("jsonb_cast_exp")) {
      TypeDef cast{TypeKind::kInputObject, "jsonb_cast_exp"};
      cast.input_fields.push_back(input("String", named_type("String_comparison_exp")));
      rs_.types.emplace(cast.name, std::move(cast));
    }
  }
  if (scalar == "ltree") ltree::add_comparison_fields(t, rs_.types);
  postgis::add_comparison_fields(scalar, t, rs_.types);
  if (scalar == "raster") postgis::add_raster_comparison_fields(t, rs_.types);
  for (auto& f : t.input_fields)
    if (f.name != "_is_null" && f.name != "_cast") f.parsing = InputValueDef::Parsing::kColumnValue;
  sort_fields(t);
  rs_.types.emplace(name, std::move(t));
  if (scalar == "raster") add_scalar("geometry");
  // A _cast names the target type's comparison (and so its scalar), as in Hasura.
  if (std::string other = cast_target(scalar); !other.empty()) {
    add_scalar(other);
    comparison_type(other);
  }
  return name;
}

void RoleBuilder::add_table_types(const RoleTable& rt) {
  const TrackedTable& tt = schema_.tables[rt.table];
  const std::string& n = tt.gql_name;
  const std::string tname = table_text(tt);

  TypeDef sel{TypeKind::kEnum, n + "_select_column"};
  sel.description = fmt::format("select columns of table \"{}\"", tname);
  for (const auto& c : rt.columns) {
    sel.enum_values.push_back(gql_column(tt, c));
    sel.enum_descriptions.push_back("column name");
  }
  std::vector<size_t> order(sel.enum_values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return sel.enum_values[a] < sel.enum_values[b]; });
  std::vector<std::string> sorted;
  for (size_t i : order) sorted.push_back(sel.enum_values[i]);
  sel.enum_values = sorted;
  sel.enum_descriptions.assign(sorted.size(), "column name");

  TypeDef obj{TypeKind::kObject, n};
  obj.description = tt.table.comment.empty()
                        ? fmt::format("columns and relationships of \"{}\"", tname)
                        : tt.table.comment;
  obj.table = rt.table;
  TypeDef bexp{TypeKind::kInputObject, n + "_bool_exp"};
  bexp.description = fmt::format(
      "Boolean expression to filter rows from the table \"{}\". All fields are combined with a "
      "logical 'AND'.",
      tname);
  bexp.input_role = InputRole::kBoolExp;
  bexp.table = rt.table;
  bexp.input_fields.push_back(input("_and", list_of(non_null(named_type(bexp.name)))));
  bexp.input_fields.push_back(input("_not", named_type(bexp.name)));
  bexp.input_fields.push_back(input("_or", list_of(non_null(named_type(bexp.name)))));
  TypeDef ord{TypeKind::kInputObject, n + "_order_by"};
  ord.description = fmt::format("Ordering options when selecting data from \"{}\".", tname);
  ord.input_role = InputRole::kOrderBy;
  ord.table = rt.table;

  std::vector<const catalog::Column*> numeric, comparable;
  for (const auto& cname : rt.columns) {
    const catalog::Column& c = *tt.table.column(cname);
    std::string scalar = column_type(tt, c);
    const std::string& g = gql_column(tt, cname);
    FieldDef f = field(g, c.nullable ? named_type(scalar) : non_null(named_type(scalar)),
                       FieldRole::kColumn, c.comment);
    f.column = cname;
    f.table = rt.table;
    if (!c.is_array && (scalar == "json" || scalar == "jsonb"))
      f.args.push_back(input("path", named_type("String"), "JSON select path"));
    obj.fields.push_back(std::move(f));
    bexp.input_fields.push_back(input(g, named_type(comparison_type(scalar))));
    ord.input_fields.push_back(input(g, named_type("order_by")));
    if (!c.is_array && is_numeric_scalar(scalar)) numeric.push_back(&c);
    if (!c.is_array && is_comparable_scalar(scalar)) comparable.push_back(&c);
  }
  for (const auto& rel : tt.relationships) {
    const RoleTable* target = rs_.table(rel.target);
    if (!target || !target->selectable) continue;
    const std::string& tn = schema_.tables[rel.target].gql_name;
    if (rel.is_array) {
      FieldDef f = field(rel.name, non_null(list_of(non_null(named_type(tn)))),
                         FieldRole::kArrayRel, "An array relationship");
      f.args = select_args(*target);
      f.rel = &rel;
      f.table = rel.target;
      obj.fields.push_back(std::move(f));
      if (target->aggregations) {
        FieldDef a = field(rel.name + "_aggregate", non_null(named_type(tn + "_aggregate")),
                           FieldRole::kArrayRelAggregate, "An aggregate relationship");
        a.args = select_args(*target);
        a.rel = &rel;
        a.table = rel.target;
        obj.fields.push_back(std::move(a));
      }
      // Ordering by the related rows' aggregates needs only their select permission (Hasura).
      ord.input_fields.push_back(
          input(rel.name + "_aggregate", named_type(aggregate_order_by_type(*target))));
    } else {
      FieldDef f = field(rel.name, named_type(tn), FieldRole::kObjectRel, "An object relationship");
      f.rel = &rel;
      f.table = rel.target;
      obj.fields.push_back(std::move(f));
      ord.input_fields.push_back(input(rel.name, named_type(tn + "_order_by")));
    }
    bexp.input_fields.push_back(input(rel.name, named_type(tn + "_bool_exp")));
  }
  add_computed_fields(rt, obj, bexp, ord);
  sort_fields(obj);
  sort_fields(bexp);
  sort_fields(ord);
  rs_.types.emplace(sel.name, std::move(sel));
  rs_.types.emplace(obj.name, std::move(obj));
  rs_.types.emplace(bexp.name, std::move(bexp));
  rs_.types.emplace(ord.name, std::move(ord));
  if (rt.aggregations) add_aggregate_types(rt, numeric, comparable);
}

void RoleBuilder::add_aggregate_types(const RoleTable& rt,
                                      const std::vector<const catalog::Column*>& numeric,
                                      const std::vector<const catalog::Column*>& comparable) {
  const TrackedTable& tt = schema_.tables[rt.table];
  const std::string& n = tt.gql_name;
  const std::string tname = table_text(tt);
  TypeDef agg{TypeKind::kObject, n + "_aggregate"};
  agg.description = fmt::format("aggregated selection of \"{}\"", tname);
  agg.table = rt.table;
  FieldDef a = field("aggregate", named_type(n + "_aggregate_fields"), FieldRole::kAggregate);
  a.table = rt.table;
  agg.fields.push_back(std::move(a));
  FieldDef nodes = field("nodes", non_null(list_of(non_null(named_type(n)))), FieldRole::kNodes);
  nodes.table = rt.table;
  agg.fields.push_back(std::move(nodes));

  TypeDef fields{TypeKind::kObject, n + "_aggregate_fields"};
  fields.description = fmt::format("aggregate fields of \"{}\"", tname);
  fields.table = rt.table;
  FieldDef count = field("count", non_null(named_type("Int")), FieldRole::kCount);
  count.args = {input("columns", list_of(non_null(named_type(n + "_select_column")))),
                input("distinct", named_type("Boolean"))};
  count.table = rt.table;
  fields.fields.push_back(std::move(count));
  auto add_fn = [&](const std::string& fn, const std::vector<const catalog::Column*>& cols,
                    bool as_float, const std::string& description) {
    if (cols.empty()) return;
    std::string tn = n + "_" + fn + "_fields";
    TypeDef t{TypeKind::kObject, tn};
    t.description = fmt::format("aggregate {} on columns", fn);
    t.table = rt.table;
    for (const auto* c : cols) {
      FieldDef f = field(gql_column(tt, c->name), named_type(as_float ? "Float" : scalar_for(*c)),
                         FieldRole::kAggColumn);
      f.column = c->name;
      f.table = rt.table;
      t.fields.push_back(std::move(f));
    }
    sort_fields(t);
    rs_.types.emplace(tn, std::move(t));
    FieldDef f = field(fn, named_type(tn), FieldRole::kAggFunction, description);
    f.function = fn;
    f.table = rt.table;
    fields.fields.push_back(std::move(f));
  };
  add_fn("avg", numeric, true, "");
  add_fn("max", comparable, false, "");
  add_fn("min", comparable, false, "");
  add_fn("stddev", numeric, true, "");
  add_fn("stddev_pop", numeric, true, "");
  add_fn("stddev_samp", numeric, true, "");
  add_fn("sum", numeric, false, "");
  add_fn("var_pop", numeric, true, "");
  add_fn("var_samp", numeric, true, "");
  add_fn("variance", numeric, true, "");
  sort_fields(fields);
  rs_.types.emplace(agg.name, std::move(agg));
  rs_.types.emplace(fields.name, std::move(fields));
}

std::string RoleBuilder::aggregate_order_by_type(const RoleTable& rt) {
  const TrackedTable& tt = schema_.tables[rt.table];
  const std::string& n = tt.gql_name;
  std::string name = n + "_aggregate_order_by";
  if (rs_.types.count(name)) return name;
  const std::string tname = table_text(tt);
  std::vector<std::string> numeric, comparable;
  for (const auto& cname : rt.columns) {
    const catalog::Column& c = *tt.table.column(cname);
    if (c.is_array) continue;
    std::string scalar = column_type(tt, c);
    if (is_numeric_scalar(scalar)) numeric.push_back(gql_column(tt, cname));
    if (is_comparable_scalar(scalar)) comparable.push_back(gql_column(tt, cname));
  }
  TypeDef t{TypeKind::kInputObject, name};
  t.description = fmt::format("order by aggregate values of table \"{}\"", tname);
  t.table = rt.table;
  t.input_fields.push_back(input("count", named_type("order_by")));
  auto add_fn = [&](const std::string& fn, const std::vector<std::string>& cols) {
    if (cols.empty()) return;
    TypeDef f{TypeKind::kInputObject, n + "_" + fn + "_order_by"};
    f.description = fmt::format("order by {}() on columns of table \"{}\"", fn, tname);
    f.table = rt.table;
    for (const auto& c : cols) f.input_fields.push_back(input(c, named_type("order_by")));
    sort_fields(f);
    t.input_fields.push_back(input(fn, named_type(f.name)));
    rs_.types.emplace(f.name, std::move(f));
  };
  for (const char* fn :
       {"avg", "stddev", "stddev_pop", "stddev_samp", "sum", "var_pop", "var_samp", "variance"})
    add_fn(fn, numeric);
  add_fn("max", comparable);
  add_fn("min", comparable);
  sort_fields(t);
  rs_.types.emplace(name, std::move(t));
  return name;
}

std::vector<FieldDef> RoleBuilder::root_fields(const RoleTable& rt) {
  const TrackedTable& tt = schema_.tables[rt.table];
  const std::string& n = tt.gql_name;
  const std::string tname = table_text(tt);
  const metadata::CustomRootFields& custom = tt.meta.custom_root_fields;
  std::vector<FieldDef> out;
  FieldDef sel = field(custom.select.value_or(n), non_null(list_of(non_null(named_type(n)))),
                       FieldRole::kSelect, fmt::format("fetch data from the table: \"{}\"", tname));
  sel.args = select_args(rt);
  sel.table = rt.table;
  out.push_back(std::move(sel));
  if (rt.aggregations) {
    FieldDef agg = field(custom.select_aggregate.value_or(n + "_aggregate"),
                         non_null(named_type(n + "_aggregate")), FieldRole::kSelectAggregate,
                         fmt::format("fetch aggregated fields from the table: \"{}\"", tname));
    agg.args = select_args(rt);
    agg.table = rt.table;
    out.push_back(std::move(agg));
  }
  if (rt.by_pk) {
    FieldDef pk =
        field(custom.select_by_pk.value_or(n + "_by_pk"), named_type(n), FieldRole::kSelectByPk,
              fmt::format("fetch data from the table: \"{}\" using primary key columns", tname));
    for (const auto& k : tt.table.primary_key)
      pk.args.push_back(
          input(gql_column(tt, k), non_null(named_type(column_type(tt, *tt.table.column(k))))));
    for (auto& a : pk.args) a.parsing = InputValueDef::Parsing::kColumnValue;
    pk.table = rt.table;
    out.push_back(std::move(pk));
  }
  return out;
}

}  // namespace detail

RoleSchema build_role_schema(const Schema& schema, const std::string& role, bool backend) {
  RoleSchema rs = detail::RoleBuilder(schema, role, backend).build();
  customize_root_fields(rs, schema.customization);
  add_introspection_types(rs);
  return rs;
}

}  // namespace liveql::compiler
