// One generator for both statements. Every level of the result (root field, relationship,
// aggregate) is a subquery yielding one row (d json, k text): d the level's JSON, k the
// newline-separated key entries of it and everything below it (NULL when there are none, or when
// keys are not wanted). JSON text built by Postgres never holds a raw newline, so the entries
// join as plain text, without parsing JSON. Parents place children with LEFT JOIN
// LATERAL and concatenate their k, so keys are computed in the same statement, in time linear in
// the result.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "liveql/compiler/sql.hpp"
#include "sql/selection.hpp"

namespace liveql::sql {
namespace {

using detail::join_strings;

using Pairs = std::vector<std::pair<std::string, std::string>>;  // key literal, value expression

std::string json_string(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

// json_build_object takes at most 100 arguments; wider objects are built in chunks and their
// texts spliced, which keeps the keys in request order (jsonb concatenation would not).
std::string json_object(const Pairs& pairs) {
  constexpr size_t kPairsPerCall = 50;
  std::vector<std::string> chunks;
  for (size_t i = 0; i < pairs.size() || chunks.empty(); i += kPairsPerCall) {
    std::vector<std::string> args;
    for (size_t j = i; j < pairs.size() && j < i + kPairsPerCall; ++j) {
      args.push_back(pairs[j].first);
      args.push_back(pairs[j].second);
    }
    chunks.push_back("json_build_object(" + join_strings(args, ", ") + ")");
  }
  if (chunks.size() == 1) return chunks[0];
  std::string out = "(left(" + chunks[0] + "::text, -1)";
  for (size_t i = 1; i < chunks.size(); ++i) {
    bool last = i + 1 == chunks.size();
    std::string text = "substr(" + chunks[i] + "::text, 2)";
    if (!last) text = "left(" + text + ", -1)";
    out += " || ', ' || " + text;
  }
  return out + ")::json";
}

const std::string kKeySep = "E'\\n'";

// NULL when no part holds an entry; concat_ws skips NULL parts.
std::string concat_keys(const std::vector<std::string>& parts) {
  if (parts.empty()) return "NULL::text";
  constexpr size_t kPartsPerCall = 90;
  if (parts.size() <= kPartsPerCall)
    return "NULLIF(concat_ws(" + kKeySep + ", " + join_strings(parts, ", ") + "), '')";
  std::vector<std::string> groups;
  for (size_t i = 0; i < parts.size(); i += kPartsPerCall) {
    std::vector<std::string> g(parts.begin() + i,
                               parts.begin() + std::min(parts.size(), i + kPartsPerCall));
    groups.push_back(concat_keys(g));
  }
  return concat_keys(groups);
}

// vars: the SQL expression of the request's vars object ("s.vars" in queries).
std::string vars_field(const std::string& vars, const std::string& key) {
  return vars + "->" + quote_literal(key);
}

bool is_json_type(const std::string& t) { return t == "json" || t == "jsonb"; }

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "geometry" or "geography" for a PostGIS type name, plain, qualified or quoted; else empty.
std::string geo_kind(std::string_view type) {
  if (auto dot = type.rfind('.'); dot != std::string_view::npos) type = type.substr(dot + 1);
  if (type.size() >= 2 && type.front() == '"' && type.back() == '"')
    type = type.substr(1, type.size() - 2);
  return type == "geometry" || type == "geography" ? std::string(type) : std::string();
}

// A GeoJSON text (an object's JSON, or a session variable's string) as the PostGIS `type`.
std::string geojson_value(const std::string& text, const std::string& type) {
  std::string geom = "ST_GeomFromGeoJSON(" + text + ")";
  return geo_kind(type) == "geography" ? "(" + geom + ")::" + type : geom;
}

// A PostGIS column in a response: the GeoJSON object Hasura sends (15 digits, with the long
// form of the CRS, "urn:ogc:def:crs:EPSG::4326").
std::string geo_output(const std::string& expr, const std::string& pg_type) {
  if (geo_kind(pg_type).empty()) return expr;
  return "ST_AsGeoJSON(" + expr + ", 15, 4)::json";
}

// The value of a Param, cast to its type. JSON strings arrive unquoted through ->>, numbers and
// booleans as their text, so one cast covers every scalar type, enums included.
std::string param_value(const std::string& vars, const ir::Param& p, bool force_list = false) {
  const std::string type = p.pg_type.empty() ? "text" : p.pg_type;
  const std::string v = vars_field(vars, p.key);
  if (!geo_kind(type).empty()) {
    if (p.is_list || force_list)
      return "ARRAY(SELECT " + geojson_value("g", type) + " FROM json_array_elements_text(" + v +
             ") AS g)";
    return geojson_value(vars + "->>" + quote_literal(p.key), type);
  }
  if (p.is_list || force_list) {
    if (is_json_type(type)) return "ARRAY(SELECT json_array_elements(" + v + "))::" + type + "[]";
    return "ARRAY(SELECT json_array_elements_text(" + v + "))::" + type + "[]";
  }
  if (is_json_type(type)) return "(" + v + ")::" + type;
  if (ends_with(type, "[]")) {
    // An array column's value may come as a JSON list or as a Postgres array literal string.
    return "(CASE WHEN json_typeof(" + v +
           ") = 'array' THEN ARRAY(SELECT json_array_elements_text(" + v + "))::" + type +
           " ELSE (" + vars + "->>" + quote_literal(p.key) + ")::" + type + " END)";
  }
  return "(" + vars + "->>" + quote_literal(p.key) + ")::" + type;
}

// Columns a level needs from its base row set, projected as c0, c1, ... so that table column
// names never collide with the generator's own columns (n, the row number).
class Projection {
 public:
  explicit Projection(std::string rel) : rel_(std::move(rel)) {}
  const std::string& rel() const { return rel_; }
  const std::vector<std::string>& columns() const { return columns_; }
  std::string ref(const std::string& column) {
    for (size_t i = 0; i < columns_.size(); ++i)
      if (columns_[i] == column && !calls_[i] && !rows_[i] && !conditions_[i])
        return rel_ + ".c" + std::to_string(i);
    return add(column, nullptr, false);
  }
  // The column where `condition` holds, NULL elsewhere (an inherited role's cell filter).
  std::string ref(const std::string& column, const ir::BoolExpPtr& condition) {
    if (!condition) return ref(column);
    for (size_t i = 0; i < columns_.size(); ++i)
      if (columns_[i] == column && conditions_[i] == condition)
        return rel_ + ".c" + std::to_string(i);
    std::string out = add(column, nullptr, false);
    conditions_.back() = condition;
    return out;
  }
  // The value of a computed field's call on the row (a scalar computed field), NULL where
  // `condition` (an inherited role's cell filter) does not hold.
  std::string ref_call(const ir::FunctionCall* call, const ir::BoolExpPtr& condition = nullptr) {
    for (size_t i = 0; i < calls_.size(); ++i)
      if (calls_[i] == call && conditions_[i] == condition) return rel_ + ".c" + std::to_string(i);
    std::string out = add("", call, false);
    conditions_.back() = condition;
    return out;
  }
  // The whole row, as a value of its table's row type (a table computed field's argument).
  std::string ref_row() {
    for (size_t i = 0; i < rows_.size(); ++i)
      if (rows_[i]) return rel_ + ".c" + std::to_string(i);
    return add("", nullptr, true);
  }
  // Item i is a call (null: a column or the row) / the whole row / a cell-filtered column.
  const ir::FunctionCall* call(size_t i) const { return calls_[i]; }
  bool is_row(size_t i) const { return rows_[i]; }
  const ir::BoolExp* condition(size_t i) const { return conditions_[i].get(); }

 private:
  std::string add(const std::string& column, const ir::FunctionCall* call, bool row) {
    columns_.push_back(column);
    calls_.push_back(call);
    rows_.push_back(row);
    conditions_.emplace_back();
    return rel_ + ".c" + std::to_string(columns_.size() - 1);
  }

  std::string rel_;
  std::vector<std::string> columns_;
  std::vector<const ir::FunctionCall*> calls_;
  std::vector<bool> rows_;
  std::vector<ir::BoolExpPtr> conditions_;  // null: the plain column
};

// child.<second> = parent.<first> for every pair of the mapping.
std::string link_condition(const std::string& child,
                           const std::vector<std::pair<std::string, std::string>>& mapping,
                           const std::string& parent) {
  std::vector<std::string> conds;
  for (const auto& [p, c] : mapping)
    conds.push_back(child + "." + quote_identifier(c) + " = " + parent + "." + quote_identifier(p));
  if (conds.empty()) return "true";
  return join_strings(conds, " AND ");
}

}  // namespace

namespace detail {

std::string qualified(const catalog::QualifiedName& n) {
  return quote_identifier(n.schema) + "." + quote_identifier(n.name);
}

class Generator {
 public:
  Generator(bool with_keys, std::string vars = "s.vars", const TableSources* sources = nullptr)
      : with_keys_(with_keys), vars_(std::move(vars)), sources_(sources) {}

  std::string rows_json(const ir::Select& sel, bool object, const std::string& from) {
    return select(sel, object, nullptr, nullptr, &from);
  }
  std::string condition(const ir::BoolExp& e, const std::string& alias) {
    return bool_exp(e, alias);
  }
  std::string value(const ir::Param& p) const { return param_value(vars_, p); }
  std::string call(const ir::FunctionCall& c) const { return call_sql(c, "NULL"); }

  // Fills the FROM tail (LEFT JOIN LATERALs after the relation `s` that holds vars), the data
  // expression (text) and the keys expression (text).
  // After root(): the relation of the streaming root field (its batch's `c`, the last cursor
  // value as text, and `f`, full), or empty when the operation streams nothing.
  const std::string& stream_from() const { return stream_from_; }

  void root(const ir::Operation& op, std::string& tail, std::string& data, std::string& keys) {
    Pairs pairs;
    std::map<size_t, Pairs> namespaces;  // pairs[i] is a namespace object of these members
    std::vector<std::string> key_parts;
    for (const auto& rf : op.fields) {
      std::string sub;
      switch (rf.kind) {
        case ir::RootField::Kind::kSelect:
          sub = select(rf.select, false, nullptr, nullptr);
          break;
        case ir::RootField::Kind::kSelectByPk:
          sub = select(rf.select, true, nullptr, nullptr);
          break;
        case ir::RootField::Kind::kAggregate:
          sub = aggregate(rf.aggregate, nullptr, nullptr);
          break;
        case ir::RootField::Kind::kConnection:
          sub = connection(rf.connection, nullptr, nullptr);
          break;
        case ir::RootField::Kind::kStatic:
          place(rf, "(" + vars_field(vars_, rf.param.key) + ")", pairs, namespaces);
          continue;
        case ir::RootField::Kind::kStream:
          sub = stream(rf);
          break;
      }
      const std::string f = next("f");
      tail += " LEFT JOIN LATERAL (" + sub + ") AS " + f + " ON true";
      if (rf.kind == ir::RootField::Kind::kStream) stream_from_ = f;
      place(rf, f + ".d", pairs, namespaces);
      key_parts.push_back(f + ".k");
    }
    for (const auto& [at, inner] : namespaces) pairs[at].second = json_object(inner);
    data = json_object(pairs) + "::text";
    if (!with_keys_ || key_parts.empty()) {
      keys = "'[]'::text";
    } else {
      // Entries are not deduplicated here: a sort per result cost a third of a refetch
      // statement, and the matcher keeps each key once anyway.
      keys = "('[' || coalesce(replace(" + concat_keys(key_parts) + ", " + kKeySep +
             ", ','), '') || ']')";
    }
  }

 private:
  std::string next(std::string_view prefix) { return std::string(prefix) + std::to_string(++n_); }

  // A root field's value at the top level, or inside its namespace's object (placed where the
  // namespace first appears).
  static void place(const ir::RootField& rf, std::string value, Pairs& pairs,
                    std::map<size_t, Pairs>& namespaces) {
    if (rf.namespace_alias.empty()) {
      pairs.emplace_back(quote_literal(rf.alias), std::move(value));
      return;
    }
    const std::string key = quote_literal(rf.namespace_alias);
    size_t at = pairs.size();
    for (size_t i = 0; i < pairs.size(); ++i)
      if (pairs[i].first == key && namespaces.count(i)) at = i;
    if (at == pairs.size()) pairs.emplace_back(key, "");
    namespaces[at].emplace_back(quote_literal(rf.alias), std::move(value));
  }

  // A level's aliases, its row's JSON and its keys over its projection (select() and stream()).
  struct Level {
    std::string t;
    Projection proj;
    std::string laterals;
    std::string row;
    std::string keys;
  };
  Level level(const ir::Select& sel) {
    Level l{next("t"), Projection(next("b")), "", "", ""};
    std::vector<std::string> key_parts;
    l.row = row_object(sel.fields, l.proj, l.laterals, key_parts);
    level_keys(sel, l.proj, key_parts);
    l.keys = with_keys_ ? concat_keys(key_parts) : "NULL::text";
    return l;
  }

  // Rows of sel, linked to the parent level by join when given. object: the first row's JSON
  // or no row at all; otherwise the JSON array of rows (one row always).
  std::string select(const ir::Select& sel, bool object, const ir::Join* join, Projection* parent,
                     const std::string* rows_from = nullptr) {
    Level l = level(sel);
    const std::string& t = l.t;
    Projection& proj = l.proj;
    const std::string &laterals = l.laterals, &row = l.row, &keys = l.keys;
    const bool numbered = !object && has_order(sel);
    const std::string from = "(" + base(sel, t, proj, join, parent, numbered, rows_from) + ") AS " +
                             proj.rel() + laterals;
    if (object) return "SELECT " + row + " AS d, " + keys + " AS k FROM " + from + " LIMIT 1";
    return "SELECT coalesce(json_agg(" + row + (numbered ? " ORDER BY " + proj.rel() + ".n" : "") +
           "), '[]'::json) AS d, string_agg(" + keys + ", " + kKeySep + ") AS k FROM " + from;
  }

  // A streaming root field's batch: select()'s `d` and `k` over the rows past the cursor, and
  // `c`, the cursor column's value of the batch's last row as text (NULL for an empty batch),
  // `f`, whether the batch has as many rows as its limit allows (more may be waiting).
  std::string stream(const ir::RootField& rf) {
    const ir::Select& sel = rf.select;
    Level l = level(sel);
    const std::string& t = l.t;
    Projection& proj = l.proj;
    const std::string &laterals = l.laterals, &row = l.row, &keys = l.keys;
    const std::string cursor = proj.ref(rf.stream_column);
    const std::string n = proj.rel() + ".n";
    const std::string from =
        "(" + base(sel, t, proj, nullptr, nullptr, true) + ") AS " + proj.rel() + laterals;
    return "SELECT coalesce(json_agg(" + row + " ORDER BY " + n +
           "), '[]'::json) AS d, string_agg(" + keys + ", " + kKeySep + ") AS k, (array_agg((" +
           cursor + ")::text ORDER BY " + n + " DESC))[1] AS c, count(*) >= " + limit_value(sel) +
           " AS f FROM " + from;
  }

  // The effective limit of a level (the least of the request's and the permission's); "NULL"
  // when it has none.
  std::string limit_value(const ir::Select& sel) const {
    if (sel.limit && sel.permission_limit)
      return "LEAST(" + param_value(vars_, *sel.limit) + ", " +
             param_value(vars_, *sel.permission_limit) + ")";
    if (sel.limit) return param_value(vars_, *sel.limit);
    if (sel.permission_limit) return param_value(vars_, *sel.permission_limit);
    return "NULL";
  }

  std::string aggregate(const ir::Aggregate& agg, const ir::Join* join, Projection* parent) {
    using Output = ir::Aggregate::Output;
    const ir::Select& sel = agg.rows;
    const std::string t = next("t");
    Projection proj(next("b"));
    std::string laterals;
    std::vector<std::string> key_parts;
    const bool has_nodes = agg.has(Output::Kind::kNodes);
    const bool numbered = has_nodes && has_order(sel);
    // As Hasura: the role's limit caps the nodes, not the rows the aggregate functions see. The
    // nodes are then the first rows of the set by p, their position in it.
    const bool nodes_capped = sel.permission_limit && agg.has(Output::Kind::kAggregate);

    Pairs outer;
    for (const auto& out : agg.outputs) {
      const std::string key = quote_literal(out.alias);
      switch (out.kind) {
        case Output::Kind::kTypename:
          outer.emplace_back(key, quote_literal(out.typename_) + "::text");
          break;
        case Output::Kind::kNodes: {
          const std::vector<ir::Field> fields(sel.fields.begin() + out.begin,
                                              sel.fields.begin() + out.end);
          const std::string node = row_object(fields, proj, laterals, key_parts);
          outer.emplace_back(key,
                             "coalesce(json_agg(" + node +
                                 (numbered ? " ORDER BY " + proj.rel() + ".n" : "") + ")" +
                                 (nodes_capped ? " FILTER (WHERE " + proj.rel() + ".p <= " +
                                                     param_value(vars_, *sel.permission_limit) + ")"
                                               : "") +
                                 ", '[]'::json)");
          break;
        }
        case Output::Kind::kAggregate: {
          Pairs inner;
          for (size_t i = out.begin; i < out.end; ++i)
            inner.push_back(aggregate_value(agg.aggregate_fields[i], proj));
          outer.emplace_back(key, json_object(inner));
          break;
        }
      }
    }
    level_keys(sel, proj, key_parts);
    const std::string keys = with_keys_ ? concat_keys(key_parts) : "NULL::text";
    std::string rows;
    if (nodes_capped) {
      ir::Select all = sel;
      all.permission_limit.reset();
      const std::string x = next("x");
      rows = "SELECT " + x + ".*, row_number() OVER (" + (numbered ? "ORDER BY " + x + ".n" : "") +
             ") AS p FROM (" + base(all, t, proj, join, parent, numbered) + ") AS " + x;
    } else {
      rows = base(sel, t, proj, join, parent, numbered);
    }
    const std::string from = "(" + rows + ") AS " + proj.rel() + laterals;
    return "SELECT " + json_object(outer) + " AS d, string_agg(" + keys + ", " + kKeySep +
           ") AS k FROM " + from;
  }

  // One field inside `aggregate { }`: (key literal, value expression).
  std::pair<std::string, std::string> aggregate_value(const ir::AggregateField& af,
                                                      Projection& proj) {
    const std::string key = quote_literal(af.alias);
    switch (af.kind) {
      case ir::AggregateField::Kind::kCount:
        return {key, count_expr(af, proj)};
      case ir::AggregateField::Kind::kFunction: {
        Pairs cols;
        const std::string fn = aggregate_function(af.function);
        for (const auto& c : af.columns)
          cols.emplace_back(quote_literal(c.alias),
                            fn.empty()  ? "NULL::json"
                            : c.as_text ? "(" + fn + "(" + proj.ref(c.column) + "))::text"
                                        : fn + "(" + proj.ref(c.column) + ")");
        for (const auto& tf : af.typename_fields)
          cols.emplace_back(quote_literal(tf.alias), quote_literal(tf.typename_) + "::text");
        return {key, json_object(cols)};
      }
      case ir::AggregateField::Kind::kTypename:
        break;
    }
    return {key, quote_literal(af.typename_) + "::text"};
  }

  static std::string aggregate_function(const std::string& fn) {
    static const std::set<std::string> kKnown = {"sum",     "avg",        "min",         "max",
                                                 "stddev",  "stddev_pop", "stddev_samp", "variance",
                                                 "var_pop", "var_samp"};
    return kKnown.count(fn) ? fn : std::string();
  }

  std::string count_expr(const ir::AggregateField& af, Projection& proj) {
    if (af.count_columns.empty()) return "count(*)";
    std::vector<std::string> refs;
    for (const auto& c : af.count_columns) refs.push_back(proj.ref(c));
    std::string arg = refs.size() == 1 ? refs[0] : "ROW(" + join_strings(refs, ", ") + ")";
    return std::string("count(") + (af.count_distinct ? "DISTINCT " : "") + arg + ")";
  }

  // The JSON object of one row; registers the columns it reads and places its relationship
  // children as LEFT JOIN LATERALs.
  std::string row_object(const std::vector<ir::Field>& fields, Projection& proj,
                         std::string& laterals, std::vector<std::string>& key_parts) {
    Pairs pairs;
    for (const auto& f : fields) {
      const std::string key = quote_literal(f.alias);
      switch (f.kind) {
        case ir::Field::Kind::kColumn:
          if (f.json_path) {
            pairs.emplace_back(key, "(" + proj.ref(f.column, f.cell_filter) + " #> " +
                                        param_value(vars_, *f.json_path, true) + ")");
            break;
          }
          pairs.emplace_back(key, f.as_text
                                      ? "(" + proj.ref(f.column, f.cell_filter) + ")::text"
                                      : geo_output(proj.ref(f.column, f.cell_filter), f.pg_type));
          break;
        case ir::Field::Kind::kTypename:
          pairs.emplace_back(key, quote_literal(f.typename_) + "::text");
          break;
        case ir::Field::Kind::kStatic:
          pairs.emplace_back(key, "(" + vars_field(vars_, f.param.key) + ")");
          break;
        case ir::Field::Kind::kNodeId:
          pairs.emplace_back(key, node_id(f, proj));
          break;
        case ir::Field::Kind::kComputed:
          if (!f.call) {
            pairs.emplace_back(key, "NULL::json");
            break;
          }
          pairs.emplace_back(
              key, f.as_text ? "(" + proj.ref_call(f.call.get(), f.cell_filter) + ")::text"
                             : geo_output(proj.ref_call(f.call.get(), f.cell_filter), f.pg_type));
          break;
        case ir::Field::Kind::kObjectRel:
        case ir::Field::Kind::kArrayRel:
        case ir::Field::Kind::kAggregate:
        case ir::Field::Kind::kConnection: {
          std::string sub;
          if (f.kind == ir::Field::Kind::kAggregate) {
            if (f.aggregate) sub = aggregate(*f.aggregate, &f.join, &proj);
          } else if (f.kind == ir::Field::Kind::kConnection) {
            if (f.connection) sub = connection(*f.connection, &f.join, &proj);
          } else if (f.select) {
            sub = select(*f.select, f.kind == ir::Field::Kind::kObjectRel, &f.join, &proj);
          }
          if (sub.empty()) {
            pairs.emplace_back(key, "NULL::json");
            break;
          }
          const std::string l = next("l");
          laterals += " LEFT JOIN LATERAL (" + sub + ") AS " + l + " ON true";
          pairs.emplace_back(key, l + ".d");
          if (with_keys_) {
            key_parts.push_back(l + ".k");
            // A table computed field's rows are linked to the row by the call, not by columns.
            if (!f.join.mapping.empty()) key_parts.push_back(link_entry(f.join, proj));
          }
          break;
        }
      }
    }
    return json_object(pairs);
  }

  // ["schema.table",["col",..],[values]] as text; NULL when a value is NULL.
  static std::string key_entry(const catalog::QualifiedName& table,
                               const std::vector<std::string>& cols,
                               const std::vector<std::string>& values) {
    std::vector<std::string> names;
    for (const auto& c : cols) names.push_back(json_string(c));
    std::string out = "(" + quote_literal("[" + json_string(table.to_string()) + ",[" +
                                          join_strings(names, ",") + "],[");
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) out += " || ','";
      out += " || to_json((" + values[i] + ")::text)::text";
    }
    return out + " || ']]')";
  }

  // The child side of a join with this level's values.
  static std::string link_entry(const ir::Join& join, Projection& proj) {
    std::vector<std::string> cols, values;
    for (const auto& [p, c] : join.mapping) {
      cols.push_back(c);
      values.push_back(proj.ref(p));
    }
    return key_entry(join.target, cols, values);
  }

  // Primary key, relationships of the where clause and the first hop of order_by paths.
  void level_keys(const ir::Select& sel, Projection& proj, std::vector<std::string>& key_parts) {
    if (!with_keys_) return;
    if (!sel.primary_key.empty()) {
      std::vector<std::string> values;
      for (const auto& c : sel.primary_key) values.push_back(proj.ref(c));
      key_parts.push_back(key_entry(sel.table, sel.primary_key, values));
    }
    std::vector<const ir::Join*> joins;
    if (sel.where) where_joins(*sel.where, joins);
    for (const auto& o : sel.order_by)
      if (!o.path.empty()) joins.push_back(&o.path.front());
    std::set<std::string> seen;
    for (const ir::Join* j : joins) {
      if (j->mapping.empty()) continue;  // a table computed field: no link columns
      std::string e = link_entry(*j, proj);
      if (seen.insert(e).second) key_parts.push_back(std::move(e));
    }
  }

  static void where_joins(const ir::BoolExp& e, std::vector<const ir::Join*>& out) {
    if (e.kind == ir::BoolExp::Kind::kRelationship) {
      out.push_back(&e.join);
      return;
    }
    if (e.kind == ir::BoolExp::Kind::kAnd || e.kind == ir::BoolExp::Kind::kOr ||
        e.kind == ir::BoolExp::Kind::kNot)
      for (const auto& c : e.children)
        if (c) where_joins(*c, out);
  }

  // The rows of the level: filtered, linked, ordered, limited; projected to proj's columns
  // (plus n, the position, when numbered).
  std::string base(const ir::Select& sel, const std::string& t, Projection& proj,
                   const ir::Join* join, Projection* parent, bool numbered,
                   const std::string* from = nullptr) {
    std::vector<std::string> conds;
    if (join && parent)
      for (const auto& [p, c] : join->mapping)
        conds.push_back(t + "." + quote_identifier(c) + " = " + parent->ref(p));
    if (sel.where) conds.push_back(bool_exp(*sel.where, t));
    const std::string order = order_clause(sel, t);

    std::string out = "SELECT ";
    if (!sel.distinct_on.empty()) {
      std::vector<std::string> cols;
      for (const auto& c : sel.distinct_on) cols.push_back(t + "." + quote_identifier(c));
      out += "DISTINCT ON (" + join_strings(cols, ", ") + ") ";
    }
    std::vector<std::string> items;
    for (size_t i = 0; i < proj.columns().size(); ++i) {
      std::string item = t + "." + quote_identifier(proj.columns()[i]);
      if (const ir::FunctionCall* call = proj.call(i)) item = call_sql(*call, row_of(t, sel.table));
      if (proj.is_row(i)) item = row_of(t, sel.table);
      if (const ir::BoolExp* cond = proj.condition(i))
        item = "CASE WHEN " + bool_exp(*cond, t) + " THEN " + item + " END";
      items.push_back(item + " AS c" + std::to_string(i));
    }
    if (numbered) items.push_back("row_number() OVER (ORDER BY " + order + ") AS n");
    if (items.empty()) items.push_back("NULL AS x");
    out += join_strings(items, ", ");
    std::string rows = from ? *from : source(sel.table);
    if (!from && sel.function)
      rows = call_sql(*sel.function, parent ? parent->ref_row() : std::string("NULL"));
    out += " FROM " + rows + " AS " + t;
    if (!conds.empty()) out += " WHERE " + join_strings(conds, " AND ");
    // The parent aggregates in n order, so the base needs an order only to pick the rows of a
    // limit/offset (by n: the order expressions are evaluated once) or for DISTINCT ON.
    if (!sel.distinct_on.empty()) {
      out += " ORDER BY " + order;
    } else if (numbered && (sel.limit || sel.offset || sel.permission_limit)) {
      out += " ORDER BY n";
    } else if (!numbered && !order.empty()) {
      out += " ORDER BY " + order;
    }
    if (sel.limit && sel.permission_limit) {
      out += " LIMIT LEAST(" + param_value(vars_, *sel.limit) + ", " +
             param_value(vars_, *sel.permission_limit) + ")";
    } else if (sel.limit) {
      out += " LIMIT " + param_value(vars_, *sel.limit);
    } else if (sel.permission_limit) {
      out += " LIMIT " + param_value(vars_, *sel.permission_limit);
    }
    if (sel.offset) out += " OFFSET " + param_value(vars_, *sel.offset);
    return out;
  }

  static bool has_order(const ir::Select& sel) {
    return !sel.order_by.empty() || !sel.distinct_on.empty();
  }

  // DISTINCT ON needs ORDER BY to start with the distinct columns: when order_by does not lead
  // with them (in any order), they lead, taking the direction the user gave them if any; the
  // rest of order_by follows.
  std::string order_clause(const ir::Select& sel, const std::string& t) {
    std::vector<std::string> items;
    std::vector<bool> used(sel.order_by.size(), false);
    std::set<std::string> lead;
    for (size_t i = 0; i < sel.order_by.size() && lead.size() < sel.distinct_on.size(); ++i) {
      if (!sel.order_by[i].path.empty()) break;
      lead.insert(sel.order_by[i].column);
    }
    const bool leads =
        lead == std::set<std::string>(sel.distinct_on.begin(), sel.distinct_on.end());
    auto item = [&](const std::string& expr, bool desc, bool nulls_first) {
      items.push_back(expr + (desc ? " DESC" : " ASC") +
                      (nulls_first ? " NULLS FIRST" : " NULLS LAST"));
    };
    for (const auto& d : leads ? std::vector<std::string>{} : sel.distinct_on) {
      bool found = false;
      for (size_t i = 0; i < sel.order_by.size() && !found; ++i) {
        const auto& o = sel.order_by[i];
        if (!used[i] && o.path.empty() && o.column == d) {
          used[i] = found = true;
          item(t + "." + quote_identifier(d), o.desc, o.nulls_first);
        }
      }
      if (!found) item(t + "." + quote_identifier(d), false, false);
    }
    for (size_t i = 0; i < sel.order_by.size(); ++i)
      if (!used[i])
        item(order_expr(sel.order_by[i], t), sel.order_by[i].desc, sel.order_by[i].nulls_first);
    return join_strings(items, ", ");
  }

  // The ordering value; through relationships, nested scalar subqueries walking the path, each
  // reading only the related rows the role may see; an aggregate over the last hop's rows.
  std::string order_expr(const ir::OrderBy& o, const std::string& t) {
    if (o.computed && o.aggregate.empty())
      return call_sql(*o.computed, row_of(t, o.computed->row_table));
    if (o.computed) {
      const std::string a = next("o");
      std::string value = "count(*)";
      if (o.aggregate != "count") {
        const std::string fn = aggregate_function(o.aggregate);
        value = fn.empty() ? "NULL" : fn + "(" + a + "." + quote_identifier(o.column) + ")";
      }
      const bool filtered = !o.path_filters.empty() && o.path_filters[0];
      return "(SELECT " + value + " FROM " +
             call_sql(*o.computed, row_of(t, o.computed->row_table)) + " AS " + a +
             (filtered ? " WHERE " + bool_exp(*o.path_filters[0], a) : "") + ")";
    }
    if (o.path.empty()) return t + "." + quote_identifier(o.column);
    return order_hop(o, 0, t);
  }

  std::string order_hop(const ir::OrderBy& o, size_t i, const std::string& parent) {
    const ir::Join& j = o.path[i];
    const std::string a = next("o");
    std::string where = link_condition(a, j.mapping, parent);
    if (i < o.path_filters.size() && o.path_filters[i])
      where += " AND " + bool_exp(*o.path_filters[i], a);
    const bool last = i + 1 == o.path.size();
    std::string value;
    if (!last) {
      value = order_hop(o, i + 1, a);
    } else if (o.aggregate.empty()) {
      value = a + "." + quote_identifier(o.column);
    } else if (o.aggregate == "count") {
      value = "count(*)";
    } else {
      const std::string fn = aggregate_function(o.aggregate);
      value = fn.empty() ? "NULL" : fn + "(" + a + "." + quote_identifier(o.column) + ")";
    }
    return "(SELECT " + value + " FROM " + source(j.target) + " AS " + a + " WHERE " + where +
           (last && !o.aggregate.empty() ? "" : " LIMIT 1") + ")";
  }

  std::string bool_exp(const ir::BoolExp& e, const std::string& t) {
    using K = ir::BoolExp::Kind;
    switch (e.kind) {
      case K::kTrue:
        return "true";
      case K::kFalse:
        return "false";
      case K::kAnd:
      case K::kOr: {
        std::vector<std::string> parts;
        for (const auto& c : e.children) parts.push_back(c ? bool_exp(*c, t) : "true");
        if (parts.empty()) return e.kind == K::kAnd ? "true" : "false";
        return "(" + join_strings(parts, e.kind == K::kAnd ? " AND " : " OR ") + ")";
      }
      case K::kNot:
        return "(NOT " +
               (e.children.empty() || !e.children[0] ? "true" : bool_exp(*e.children[0], t)) + ")";
      case K::kCompare:
        return compare(e, t);
      case K::kCompareColumns:
        return compare_columns(e, t);
      case K::kRelationship: {
        const std::string a = next("e");
        if (e.computed)
          return "EXISTS (SELECT 1 FROM " +
                 call_sql(*e.computed, row_of(t, e.computed->row_table)) + " AS " + a + " WHERE " +
                 (e.inner ? nested_bool_exp(*e.inner, a, t) : "true") + ")";
        return "EXISTS (SELECT 1 FROM " + source(e.join.target) + " AS " + a + " WHERE " +
               link_condition(a, e.join.mapping, t) +
               (e.inner ? " AND " + nested_bool_exp(*e.inner, a, t) : "") + ")";
      }
      case K::kExists: {
        const std::string a = next("e");
        return "EXISTS (SELECT 1 FROM " + source(e.table) + " AS " + a + " WHERE " +
               (e.inner ? nested_bool_exp(*e.inner, a, t) : "true") + ")";
      }
    }
    return "false";
  }

  // The inner filter of a relationship or _exists level: `outer` stays reachable for column
  // comparisons that name a table further out.
  std::string nested_bool_exp(const ir::BoolExp& e, const std::string& t,
                              const std::string& outer) {
    scope_.push_back(outer);
    std::string out = bool_exp(e, t);
    scope_.pop_back();
    return out;
  }

  std::string compare_columns(const ir::BoolExp& e, const std::string& t) const {
    std::string other_alias = t;
    if (e.levels_up > 0 && static_cast<size_t>(e.levels_up) <= scope_.size())
      other_alias = scope_[scope_.size() - static_cast<size_t>(e.levels_up)];
    const char* op = order_operator(e.op);
    return "(" + t + "." + quote_identifier(e.column) + " " + op + " " + other_alias + "." +
           quote_identifier(e.other_column) + ")";
  }

  // =, <>, >, <, >=, <= for kEq..kLte (value and column comparisons alike).
  static const char* order_operator(ir::CompareOp op) {
    switch (op) {
      case ir::CompareOp::kNeq:
        return "<>";
      case ir::CompareOp::kGt:
        return ">";
      case ir::CompareOp::kLt:
        return "<";
      case ir::CompareOp::kGte:
        return ">=";
      case ir::CompareOp::kLte:
        return "<=";
      default:
        return "=";
    }
  }

  std::string compare(const ir::BoolExp& e, const std::string& t) const {
    using O = ir::CompareOp;
    std::string c = t + "." + quote_identifier(e.column);
    if (e.computed) c = call_sql(*e.computed, row_of(t, e.computed->row_table));
    if (!e.column_cast.empty()) c = "(" + c + ")::" + e.column_cast;
    auto binary = [&](std::string_view op) {
      return "(" + c + " " + std::string(op) + " " + param_value(vars_, e.param) + ")";
    };
    switch (e.op) {
      case O::kEq:
      case O::kNeq:
      case O::kGt:
      case O::kLt:
      case O::kGte:
      case O::kLte:
        return binary(order_operator(e.op));
      case O::kIn:
        return "(" + c + " = ANY(" + param_value(vars_, e.param, true) + "))";
      case O::kNin:
        return "(" + c + " <> ALL(" + param_value(vars_, e.param, true) + "))";
      case O::kIsNull:
        return "((" + c + " IS NULL) = (" + vars_ + "->>" + quote_literal(e.param.key) +
               ")::boolean)";
      case O::kLike:
        return binary("LIKE");
      case O::kNlike:
        return binary("NOT LIKE");
      case O::kIlike:
        return binary("ILIKE");
      case O::kNilike:
        return binary("NOT ILIKE");
      case O::kSimilar:
        return binary("SIMILAR TO");
      case O::kNsimilar:
        return binary("NOT SIMILAR TO");
      case O::kRegex:
        return binary("~");
      case O::kNregex:
        return binary("!~");
      case O::kIregex:
        return binary("~*");
      case O::kNiregex:
        return binary("!~*");
      case O::kContains:
        return binary("@>");
      case O::kContainedIn:
        return binary("<@");
      case O::kHasKey:
        return binary("?");
      case O::kHasKeysAny:
        return "(" + c + " ?| " + param_value(vars_, e.param, true) + ")";
      case O::kHasKeysAll:
        return "(" + c + " ?& " + param_value(vars_, e.param, true) + ")";
      case O::kStContains:
      case O::kStCrosses:
      case O::kStEquals:
      case O::kStIntersects:
      case O::kStOverlaps:
      case O::kStTouches:
      case O::kStWithin:
      case O::kSt3dIntersects:
      case O::kStDWithin:
      case O::kSt3dDWithin:
        return postgis(e, c);
      case O::kAncestor:
        return binary("@>");
      case O::kAncestorAny:
        return "(" + c + " @> " + param_value(vars_, e.param, true) + ")";
      case O::kDescendant:
        return binary("<@");
      case O::kDescendantAny:
        return "(" + c + " <@ " + param_value(vars_, e.param, true) + ")";
      case O::kMatches:
        return binary("~");
      case O::kMatchesAny:
        return "(" + c + " ? " + param_value(vars_, e.param, true) + ")";
      case O::kMatchesFulltext:
        return binary("@");
      case O::kStIntersectsRast:
        return "ST_Intersects(" + c + ", " + param_value(vars_, e.param) + ")";
      case O::kStIntersectsGeomNband:
      case O::kStIntersectsNbandGeom: {
        const std::string arg = vars_field(vars_, e.param.key);
        const std::string geom = geojson_value(arg + "->>'geommin'", "geometry");
        const std::string nband = "(" + arg + "->>'nband')::integer";
        if (e.op == O::kStIntersectsNbandGeom)
          return "ST_Intersects(" + c + ", " + nband + ", " + geom + ")";
        return "ST_Intersects(" + c + ", " + geom + ", " + nband + ")";
      }
    }
    return "false";
  }

  // PostGIS predicates; the *DWithin param is {distance, from, use_spheroid?}.
  std::string postgis(const ir::BoolExp& e, const std::string& c) const {
    using O = ir::CompareOp;
    const char* fn = "";
    switch (e.op) {
      case O::kStContains:
        fn = "ST_Contains";
        break;
      case O::kStCrosses:
        fn = "ST_Crosses";
        break;
      case O::kStEquals:
        fn = "ST_Equals";
        break;
      case O::kStIntersects:
        fn = "ST_Intersects";
        break;
      case O::kStOverlaps:
        fn = "ST_Overlaps";
        break;
      case O::kStTouches:
        fn = "ST_Touches";
        break;
      case O::kStWithin:
        fn = "ST_Within";
        break;
      case O::kSt3dIntersects:
        fn = "ST_3DIntersects";
        break;
      case O::kStDWithin:
      case O::kSt3dDWithin: {
        const std::string arg = vars_field(vars_, e.param.key);
        const std::string from = geojson_value(arg + "->>'from'", e.param.pg_type);
        const std::string distance = "(" + arg + "->>'distance')::float8";
        if (e.op == O::kSt3dDWithin)
          return "ST_3DDWithin(" + c + ", " + from + ", " + distance + ")";
        if (geo_kind(e.param.pg_type) == "geography")
          return "ST_DWithin(" + c + ", " + from + ", " + distance + ", coalesce((" + arg +
                 "->>'use_spheroid')::boolean, true))";
        return "ST_DWithin(" + c + ", " + from + ", " + distance + ")";
      }
      default:
        return "false";
    }
    return std::string(fn) + "(" + c + ", " + param_value(vars_, e.param) + ")";
  }

  // ---- Relay ----

  // Text as Hasura sends ids and cursors: base64 without line breaks.
  static std::string base64_text(const std::string& json) {
    return "translate(encode(convert_to((" + json + ")::text, 'UTF8'), 'base64'), E'\\n', '')";
  }

  // Hasura's v1 global id: base64 of the text of [1, "schema", "table", key values...].
  static std::string node_id(const ir::Field& f, Projection& proj) {
    std::vector<std::string> items{"1", quote_literal(f.node_table.schema) + "::text",
                                   quote_literal(f.node_table.name) + "::text"};
    for (const auto& k : f.node_key) items.push_back(proj.ref(k));
    return base64_text("json_build_array(" + join_strings(items, ", ") + ")");
  }

  // The cursor of a page row: json_build_object of its ordering values (rel.o0, rel.o1, ...)
  // nested by their cursor paths, in order of first appearance.
  static std::string cursor_object(const ir::Connection& conn, const std::string& rel,
                                   const std::vector<size_t>& items, size_t depth) {
    Pairs pairs;
    std::vector<bool> done(items.size(), false);
    for (size_t i = 0; i < items.size(); ++i) {
      if (done[i]) continue;
      const auto& path = conn.cursor_paths[items[i]];
      if (path.size() <= depth) continue;
      const std::string& key = path[depth];
      if (path.size() == depth + 1) {
        pairs.emplace_back(quote_literal(key), rel + ".o" + std::to_string(items[i]));
        done[i] = true;
        continue;
      }
      std::vector<size_t> group;
      for (size_t j = i; j < items.size(); ++j) {
        const auto& other = conn.cursor_paths[items[j]];
        if (!done[j] && other.size() > depth + 1 && other[depth] == key) {
          group.push_back(items[j]);
          done[j] = true;
        }
      }
      pairs.emplace_back(quote_literal(key), cursor_object(conn, rel, group, depth + 1));
    }
    return json_object(pairs);
  }

  static std::string cursor_expr(const ir::Connection& conn, const std::string& rel) {
    std::vector<size_t> all(conn.cursor_paths.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    return base64_text(cursor_object(conn, rel, all, 0));
  }

  // Rows of `rel` past the cursor in vars[cursor.key]: after it in the connection's order
  // (after), or before it. Lexicographic over the ordering values, nulls placed as ordered.
  std::string split(const ir::Connection& conn, const ir::Param& cursor, bool after,
                    const std::string& rel) const {
    std::vector<std::string> alternatives, equal;
    for (size_t i = 0; i < conn.rows.order_by.size() && i < conn.cursor_paths.size(); ++i) {
      const ir::OrderBy& o = conn.rows.order_by[i];
      std::vector<std::string> path;
      for (const auto& k : conn.cursor_paths[i]) path.push_back(quote_literal(k));
      const std::string v = "(" + vars_field(vars_, cursor.key) + " #>> ARRAY[" +
                            join_strings(path, ", ") + "]::text[])::" + conn.cursor_types[i];
      const std::string e = rel + ".o" + std::to_string(i);
      const bool desc = after ? o.desc : !o.desc;
      const bool nulls_first = after ? o.nulls_first : !o.nulls_first;
      const std::string cmp = e + (desc ? " < " : " > ") + v;
      std::string beyond = nulls_first
                               ? "(" + e + " IS NOT NULL AND (" + v + " IS NULL OR " + cmp + "))"
                               : "(" + v + " IS NOT NULL AND (" + e + " IS NULL OR " + cmp + "))";
      std::vector<std::string> conj = equal;
      conj.push_back(beyond);
      alternatives.push_back("(" + join_strings(conj, " AND ") + ")");
      equal.push_back("(" + e + " IS NOT DISTINCT FROM " + v + ")");
    }
    if (alternatives.empty()) return "false";
    return "(" + join_strings(alternatives, " OR ") + ")";
  }

  // A connection: one row (d, k), d the connection object. Page rows are numbered n among all
  // rows of the connection (filtered, in order, before the cursor and the slice), so that
  // hasPreviousPage is "a row before the page's first" and hasNextPage "one after its last",
  // both false for an empty page, as Hasura computes them.
  std::string connection(const ir::Connection& conn, const ir::Join* join, Projection* parent) {
    using Output = ir::Connection::Output;
    const ir::Select& sel = conn.rows;
    const std::string t = next("t");
    Projection proj(next("b"));
    const std::string& p = proj.rel();
    std::string laterals;
    std::vector<std::string> key_parts;
    const std::string cursor = cursor_expr(conn, p);
    Pairs outer;
    for (const auto& out : conn.outputs) {
      Pairs inner;
      for (const auto& o : out.children) {
        const std::string key = quote_literal(o.alias);
        switch (o.kind) {
          case Output::Kind::kCursor:
            inner.emplace_back(key, cursor);
            break;
          case Output::Kind::kNode: {
            const std::vector<ir::Field> fields(sel.fields.begin() + o.begin,
                                                sel.fields.begin() + o.end);
            inner.emplace_back(key, row_object(fields, proj, laterals, key_parts));
            break;
          }
          case Output::Kind::kHasNextPage:
            inner.emplace_back(key, "coalesce(max(" + p + ".n) < max(" + p + ".total), false)");
            break;
          case Output::Kind::kHasPreviousPage:
            inner.emplace_back(key, "coalesce(min(" + p + ".n) > 1, false)");
            break;
          case Output::Kind::kStartCursor:
            inner.emplace_back(key, "(array_agg(" + cursor + " ORDER BY " + p + ".n))[1]");
            break;
          case Output::Kind::kEndCursor:
            inner.emplace_back(key, "(array_agg(" + cursor + " ORDER BY " + p + ".n DESC))[1]");
            break;
          default:
            inner.emplace_back(key, quote_literal(o.typename_) + "::text");
            break;
        }
      }
      const std::string key = quote_literal(out.alias);
      if (out.kind == Output::Kind::kEdges) {
        outer.emplace_back(
            key, "coalesce(json_agg(" + json_object(inner) + " ORDER BY " + p + ".n), '[]'::json)");
      } else if (out.kind == Output::Kind::kPageInfo) {
        outer.emplace_back(key, json_object(inner));
      } else {
        outer.emplace_back(key, quote_literal(out.typename_) + "::text");
      }
    }
    level_keys(sel, proj, key_parts);
    const std::string keys = with_keys_ ? concat_keys(key_parts) : "NULL::text";

    // All rows of the connection with their ordering values o0, o1, ...
    std::vector<std::string> conds;
    if (join && parent)
      for (const auto& [pc, cc] : join->mapping)
        conds.push_back(t + "." + quote_identifier(cc) + " = " + parent->ref(pc));
    if (sel.where) conds.push_back(bool_exp(*sel.where, t));
    std::vector<std::string> items;
    for (size_t i = 0; i < proj.columns().size(); ++i)
      items.push_back(t + "." + quote_identifier(proj.columns()[i]) + " AS c" + std::to_string(i));
    for (size_t i = 0; i < sel.order_by.size(); ++i)
      items.push_back(order_expr(sel.order_by[i], t) + " AS o" + std::to_string(i));
    std::string base = "SELECT ";
    if (!sel.distinct_on.empty()) {
      std::vector<std::string> cols;
      for (const auto& c : sel.distinct_on) cols.push_back(t + "." + quote_identifier(c));
      base += "DISTINCT ON (" + join_strings(cols, ", ") + ") ";
    }
    base += (items.empty() ? std::string("NULL AS x") : join_strings(items, ", ")) + " FROM " +
            (sel.function ? call_sql(*sel.function, "NULL") : source(sel.table)) + " AS " + t;
    if (!conds.empty()) base += " WHERE " + join_strings(conds, " AND ");
    if (!sel.distinct_on.empty() || sel.permission_limit)
      base += " ORDER BY " + order_clause(sel, t);
    if (sel.permission_limit) base += " LIMIT " + param_value(vars_, *sel.permission_limit);

    const std::string x = next("x");
    std::vector<std::string> order;
    for (size_t i = 0; i < sel.order_by.size(); ++i)
      order.push_back(x + ".o" + std::to_string(i) + (sel.order_by[i].desc ? " DESC" : " ASC") +
                      (sel.order_by[i].nulls_first ? " NULLS FIRST" : " NULLS LAST"));
    const std::string numbered = "SELECT " + x + ".*, row_number() OVER (" +
                                 (order.empty() ? "" : "ORDER BY " + join_strings(order, ", ")) +
                                 ") AS n, count(*) OVER () AS total FROM (" + base + ") AS " + x;
    const std::string y = next("y");
    std::string page = "SELECT " + y + ".* FROM (" + numbered + ") AS " + y;
    if (conn.after) page += " WHERE " + split(conn, *conn.after, true, y);
    if (conn.before) page += " WHERE " + split(conn, *conn.before, false, y);
    if (conn.first) page += " ORDER BY " + y + ".n LIMIT " + param_value(vars_, *conn.first);
    if (conn.last) page += " ORDER BY " + y + ".n DESC LIMIT " + param_value(vars_, *conn.last);
    return "SELECT " + json_object(outer) + " AS d, string_agg(" + keys + ", " + kKeySep +
           ") AS k FROM (" + page + ") AS " + p + laterals;
  }

  // schema.fn(args): `row` is the value of a kRow argument.
  std::string call_sql(const ir::FunctionCall& call, const std::string& row) const {
    std::vector<std::string> args;
    for (const auto& a : call.args) {
      std::string v =
          a.kind == ir::FunctionCall::Arg::Kind::kRow ? row : param_value(vars_, a.param);
      args.push_back(a.name.empty() ? v : quote_identifier(a.name) + " => " + v);
    }
    return qualified(call.function) + "(" + join_strings(args, ", ") + ")";
  }

  // The row aliased t as a value of table's row type (whatever relation t reads).
  static std::string row_of(const std::string& t, const catalog::QualifiedName& table) {
    return "ROW(" + t + ".*)::" + qualified(table);
  }

  std::string source(const catalog::QualifiedName& table) const {
    if (sources_) {
      auto it = sources_->find(table);
      if (it != sources_->end()) return it->second;
    }
    return qualified(table);
  }

  bool with_keys_;
  std::string vars_;
  const TableSources* sources_;
  std::vector<std::string> scope_;  // aliases of the enclosing bool_exp levels, outermost first
  int n_ = 0;
  std::string stream_from_;
};

SelectionWriter::SelectionWriter(std::string vars, const TableSources* sources)
    : gen_(std::make_unique<Generator>(false, std::move(vars), sources)) {}
SelectionWriter::~SelectionWriter() = default;

std::string SelectionWriter::rows_json(const ir::Select& sel, bool object,
                                       const std::string& from) {
  return gen_->rows_json(sel, object, from);
}
std::string SelectionWriter::condition(const ir::BoolExp& e, const std::string& alias) {
  return gen_->condition(e, alias);
}
std::string SelectionWriter::value(const ir::Param& p) { return gen_->value(p); }
std::string SelectionWriter::call(const ir::FunctionCall& call) { return gen_->call(call); }

std::string json_object_sql(const std::vector<std::pair<std::string, std::string>>& pairs) {
  return json_object(pairs);
}

}  // namespace detail

using detail::Generator;

std::string single_query(const ir::Operation& op) {
  Generator gen(false);
  std::string tail, data, keys;
  gen.root(op, tail, data, keys);
  return "SELECT " + data + " AS data FROM (SELECT $1::json AS vars) AS s" + tail;
}

namespace {

// A streaming subscription's statement also answers `stream_cursor` and `stream_full`, read
// through the outer relation `r`.
std::string stream_columns(const std::string& from) {
  if (from.empty()) return "";
  return ", " + from + ".c AS stream_cursor, " + from + ".f AS stream_full";
}

}  // namespace

std::string multiplexed_query(const ir::Operation& op) {
  Generator gen(true);
  std::string tail, data, keys;
  gen.root(op, tail, data, keys);
  // Every transaction the statement was asked for must be visible: transactions become visible
  // in no particular order (not in commit order), so one visible xid says nothing of another's.
  // An uncorrelated subquery: evaluated once per statement.
  const std::string stream = gen.stream_from().empty() ? "" : "r.stream_cursor, r.stream_full, ";
  return "SELECT s.id, r.data, r.keys, " + stream +
         "coalesce((SELECT bool_and(pg_visible_in_snapshot(x, pg_current_snapshot())) "
         "FROM unnest($3::xid8[]) AS x), true) AS visible "
         "FROM unnest($1::bigint[], $2::json[]) AS s(id, vars) LEFT JOIN LATERAL (SELECT " +
         data + " AS data, " + keys + " AS keys" + stream_columns(gen.stream_from()) +
         " FROM (SELECT 1) AS z" + tail + ") AS r ON true";
}

}  // namespace liveql::sql
