// Mutation statements: WITH w1 AS (INSERT|UPDATE|DELETE ... RETURNING liveql_w AS w, <ok> AS ok),
// ..., then one SELECT building the root field's JSON from the CTEs. Every write CTE returns
// the whole written row (w) and whether it passes its permission check (ok); the check is
// computed in RETURNING because only there the row is seen as written (and, for an upsert,
// whether it was inserted or updated: xmax = 0 on a freshly inserted row).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "liveql/compiler/sql.hpp"
#include "liveql/compiler/sql_mutation.hpp"
#include "sql/selection.hpp"

namespace liveql::sql {
namespace {

using detail::join_strings;

using detail::qualified;
using detail::TableSources;

constexpr const char* kVars = "$1::json";
// The alias of the written table in every write CTE. A whole-row reference: it must not be
// the name of one of the table's columns, hence the prefix.
constexpr const char* kRow = "liveql_w";

// A CTE holding written rows.
struct Written {
  std::string cte;
  // An upsert's CTE may hold new versions of rows the table still shows in their old version
  // to the statement.
  bool may_update = false;
};

class MutationWriter {
 public:
  MutationWriter() : sel_(kVars, &sources_) {}

  std::string insert(const ir::MutationField& f) {
    const std::vector<std::string> top = insert_level(f.insert, {});
    std::vector<std::string> parts;
    for (const auto& cte : top) parts.push_back("SELECT (" + cte + ".w).* FROM " + cte);
    std::string from = parts.empty()
                           ? "(SELECT * FROM " + qualified(f.insert.table) + " WHERE false)"
                           : "(" + join_strings(parts, " UNION ALL ") + ")";
    return finish(f, from, f.kind == ir::MutationField::Kind::kInsertOne);
  }

  std::string update(const ir::MutationField& f, const ir::Update& u) {
    const std::string w = next_cte();
    std::string body;
    const std::string ok = u.check ? checked(*u.check) : "true";
    const std::string where = u.where ? " WHERE " + sel_.condition(*u.where, kRow) : "";
    if (u.set.empty()) {
      body = "SELECT " + std::string(kRow) + " AS w, " + ok + " AS ok FROM " + qualified(u.table) +
             " AS " + kRow + where;
    } else {
      std::vector<std::string> sets;
      for (const auto& c : u.set) sets.push_back(quote_identifier(c.column) + " = " + assign(c));
      body = "UPDATE " + qualified(u.table) + " AS " + kRow + " SET " + join_strings(sets, ", ") +
             where + " RETURNING " + kRow + " AS w, " + ok + " AS ok";
    }
    add_cte(w, body, u.check != nullptr);
    return finish(f, "(SELECT (" + w + ".w).* FROM " + w + ")",
                  f.kind == ir::MutationField::Kind::kUpdateByPk);
  }

  std::string remove(const ir::MutationField& f) {
    const std::string w = next_cte();
    const ir::Delete& d = f.del;
    add_cte(w,
            "DELETE FROM " + qualified(d.table) + " AS " + kRow +
                (d.where ? " WHERE " + sel_.condition(*d.where, kRow) : "") + " RETURNING " + kRow +
                " AS w, true AS ok",
            false);
    return finish(f, "(SELECT (" + w + ".w).* FROM " + w + ")",
                  f.kind == ir::MutationField::Kind::kDeleteByPk);
  }

  // What the function wrote is unknown: the rows are read from the call, once, and
  // relationships of the returned rows see the tables as they were before the statement.
  std::string function(const ir::MutationField& f) {
    const bool one = f.kind == ir::MutationField::Kind::kFunctionOne;
    const ir::Select& sel = f.function_rows;
    return "SELECT coalesce(o1.d, " + std::string(one ? "'null'" : "'[]'") +
           "::json)::text AS data FROM (SELECT " + kVars + " AS vars) AS s LEFT JOIN LATERAL (" +
           sel_.rows_json(sel, one, sel_.call(*sel.function)) + ") AS o1 ON true";
  }

 private:
  std::string next_cte() { return "w" + std::to_string(++n_); }

  void add_cte(const std::string& name, const std::string& body, bool checks) {
    ctes_.push_back(name + " AS (" + body + ")");
    written_.push_back(name);
    if (checks) checked_.push_back(name);
  }

  // A permission check on the written row: NULL (unknown) fails, as it would in a WHERE.
  std::string checked(const ir::BoolExp& e) {
    return "coalesce(" + sel_.condition(e, kRow) + ", false)";
  }

  std::string assign(const ir::ColumnUpdate& c) {
    using Op = ir::ColumnUpdate::Op;
    const std::string v = sel_.value(c.param);
    const std::string old = std::string(kRow) + "." + quote_identifier(c.column);
    switch (c.op) {
      case Op::kSet:
        return v;
      case Op::kInc:
        return "(" + old + " + " + v + ")";
      case Op::kAppend:
        return "(" + old + " || " + v + ")";
      case Op::kPrepend:
        return "(" + v + " || " + old + ")";
      case Op::kDeleteKey:
      case Op::kDeleteElem:
        return "(" + old + " - " + v + ")";
      case Op::kDeleteAtPath:
        return "(" + old + " #- " + v + ")";
    }
    return v;
  }

  // Relationships and checks read a table written by this statement through the rows written
  // so far: the table's rows (minus the old versions of upserted ones) and the CTEs' rows.
  void overlay(const catalog::QualifiedName& table, const std::vector<std::string>& primary_key) {
    const auto& written = inserted_[table];
    std::vector<std::string> keep;
    for (const auto& w : written) {
      if (!w.may_update || primary_key.empty()) continue;
      std::vector<std::string> eq;
      for (const auto& c : primary_key)
        eq.push_back("(" + w.cte + ".w)." + quote_identifier(c) + " = liveql_x." +
                     quote_identifier(c));
      keep.push_back("NOT EXISTS (SELECT 1 FROM " + w.cte + " WHERE " + join_strings(eq, " AND ") +
                     ")");
    }
    std::string out = "(SELECT liveql_x.* FROM " + qualified(table) + " AS liveql_x";
    if (!keep.empty()) out += " WHERE " + join_strings(keep, " AND ");
    for (const auto& w : written) out += " UNION ALL SELECT (" + w.cte + ".w).* FROM " + w.cte;
    sources_[table] = out + ")";
  }

  // column -> value expression
  using Linked = std::vector<std::pair<std::string, std::string>>;

  // Writes the rows of one insert level, each row also getting the linked columns; returns the
  // CTEs holding the level's rows.
  std::vector<std::string> insert_level(const ir::Insert& ins, const Linked& linked) {
    bool nested = false;
    for (const auto& row : ins.rows)
      nested = nested || !row.object_relationships.empty() || !row.array_relationships.empty();
    std::vector<std::string> out;
    if (!nested && !ins.rows.empty() && (!linked.empty() || has_values(ins.rows))) {
      std::vector<const ir::InsertRow*> rows;
      for (const auto& row : ins.rows) rows.push_back(&row);
      out.push_back(insert_rows(ins, rows, {linked}));
      return out;
    }
    // One CTE per row: its relationships link to exactly that row.
    for (const auto& row : ins.rows) {
      Linked own = linked;
      for (const auto& rel : row.object_relationships) {
        if (!rel.insert) continue;
        const std::vector<std::string> parent = insert_level(*rel.insert, {});
        if (parent.empty()) continue;
        const std::string why = "cannot proceed to insert object relation \"" + rel.join.name +
                                "\" since insert to table \"" + rel.insert->table.name +
                                "\" affects zero rows";
        for (const auto& [mine, theirs] : rel.join.mapping)
          own.emplace_back(mine, linked_value(parent.front(), theirs, why));
      }
      const std::string w = insert_rows(ins, {&row}, {own});
      out.push_back(w);
      for (const auto& rel : row.array_relationships) {
        if (!rel.insert) continue;
        Linked children;
        const std::string why =
            "cannot proceed to insert array relations since insert to table \"" + ins.table.name +
            "\" affects zero rows";
        for (const auto& [mine, theirs] : rel.join.mapping)
          children.emplace_back(theirs, linked_value(w, mine, why));
        insert_level(*rel.insert, children);
      }
    }
    return out;
  }

  // `column` of the one row of cte. When cte holds no row (an on_conflict that did nothing),
  // the linked rows cannot be written: the cast of the reason raises (see finish()).
  static std::string linked_value(const std::string& cte, const std::string& column,
                                  const std::string& why) {
    return "(SELECT (" + cte + ".w)." + quote_identifier(column) +
           " FROM (SELECT count(*) AS n FROM " + cte + ") AS liveql_n LEFT JOIN " + cte +
           " ON true WHERE (CASE WHEN liveql_n.n = 0 THEN " +
           quote_literal(std::string(kRaisedPrefix) + why) + " END)::integer IS NULL LIMIT 1)";
  }

  static bool has_values(const std::vector<ir::InsertRow>& rows) {
    for (const auto& r : rows)
      if (!r.values.empty()) return true;
    return false;
  }

  // One INSERT of rows (linked[i] applies to rows[i], or linked[0] to all); columns a row does
  // not give get DEFAULT.
  std::string insert_rows(const ir::Insert& ins, const std::vector<const ir::InsertRow*>& rows,
                          const std::vector<Linked>& linked) {
    std::vector<std::string> columns;
    auto add_column = [&](const std::string& c) {
      for (const auto& have : columns)
        if (have == c) return;
      columns.push_back(c);
    };
    for (const auto& l : linked)
      for (const auto& [c, v] : l) add_column(c);
    for (const auto* row : rows)
      for (const auto& v : row->values) add_column(v.column);

    const std::string w = next_cte();
    std::string body = "INSERT INTO " + qualified(ins.table) + " AS " + kRow;
    if (columns.empty()) {
      body += " DEFAULT VALUES";
    } else {
      std::vector<std::string> quoted, tuples;
      for (const auto& c : columns) quoted.push_back(quote_identifier(c));
      for (size_t i = 0; i < rows.size(); ++i) {
        const Linked& l = linked[linked.size() == 1 ? 0 : i];
        std::vector<std::string> values;
        for (const auto& c : columns) {
          std::string v = "DEFAULT";
          for (const auto& [lc, lv] : l)
            if (lc == c) v = lv;
          for (const auto& cv : rows[i]->values)
            if (cv.column == c) v = sel_.value(cv.param);
          values.push_back(std::move(v));
        }
        tuples.push_back("(" + join_strings(values, ", ") + ")");
      }
      body += " (" + join_strings(quoted, ", ") + ") VALUES " + join_strings(tuples, ", ");
    }

    bool updates = false;
    const ir::BoolExp* update_check = nullptr;
    if (ins.on_conflict) {
      const ir::OnConflict& oc = *ins.on_conflict;
      body += " ON CONFLICT ON CONSTRAINT " + quote_identifier(oc.constraint);
      if (oc.update_columns.empty()) {
        body += " DO NOTHING";
      } else {
        updates = true;
        update_check = oc.check.get();
        std::vector<std::string> sets;
        for (const auto& c : oc.update_columns)
          sets.push_back(quote_identifier(c) + " = EXCLUDED." + quote_identifier(c));
        for (const auto& p : oc.update_presets)
          sets.push_back(quote_identifier(p.column) + " = " + sel_.value(p.param));
        body += " DO UPDATE SET " + join_strings(sets, ", ");
        if (oc.where) body += " WHERE " + sel_.condition(*oc.where, kRow);
      }
    }

    std::string ok = "true";
    const bool checks = ins.check || update_check;
    if (updates && checks) {
      ok = "CASE WHEN " + std::string(kRow) + ".xmax = 0 THEN " +
           (ins.check ? checked(*ins.check) : "true") + " ELSE " +
           (update_check ? checked(*update_check) : "true") + " END";
    } else if (ins.check) {
      ok = checked(*ins.check);
    }
    body += " RETURNING " + std::string(kRow) + " AS w, " + ok + " AS ok";
    add_cte(w, body, checks);
    inserted_[ins.table].push_back(Written{w, updates});
    overlay(ins.table, ins.primary_key);
    return w;
  }

  // The final SELECT: the check, then the root field's JSON from the rows in `from`.
  std::string finish(const ir::MutationField& f, const std::string& from, bool one) {
    std::string tail;
    std::string data;
    if (one) {
      tail =
          " LEFT JOIN LATERAL (" + sel_.rows_json(f.returning_one, true, from) + ") AS o1 ON true";
      data = "coalesce(o1.d, 'null'::json)::text";
    } else {
      std::vector<std::pair<std::string, std::string>> pairs;
      int n = 0;
      for (const auto& o : f.output) {
        switch (o.kind) {
          case ir::MutationOutputField::Kind::kAffectedRows:
            pairs.emplace_back(quote_literal(o.alias), affected_rows());
            break;
          case ir::MutationOutputField::Kind::kTypename:
            pairs.emplace_back(quote_literal(o.alias), quote_literal(o.typename_) + "::text");
            break;
          case ir::MutationOutputField::Kind::kReturning: {
            const std::string o_alias = "o" + std::to_string(++n);
            tail += " LEFT JOIN LATERAL (" + sel_.rows_json(o.returning, false, from) + ") AS " +
                    o_alias + " ON true";
            pairs.emplace_back(quote_literal(o.alias), o_alias + ".d");
            break;
          }
        }
      }
      data = detail::json_object_sql(pairs) + "::text";
    }

    std::string sql = ctes_.empty() ? "" : "WITH " + join_strings(ctes_, ", ");
    // Reads $1 even when no value does, so that every statement takes its one parameter.
    std::string base = "(SELECT " + std::string(kVars) + " AS vars) AS s";
    std::string where;
    if (!checked_.empty()) {
      // The cast of the marker text fails, raising the error, only when a row failed; the
      // outer WHERE reads the column so that the planner cannot drop it.
      std::vector<std::string> oks;
      for (const auto& c : checked_) oks.push_back("SELECT " + c + ".ok FROM " + c);
      sql += std::string(ctes_.empty() ? "WITH" : ",") +
             " liveql_check AS (SELECT (CASE WHEN coalesce(bool_and(c.ok), true) THEN NULL ELSE " +
             quote_literal(kCheckViolationMarker) + " END)::integer AS failed FROM (" +
             join_strings(oks, " UNION ALL ") + ") AS c)";
      base += " CROSS JOIN liveql_check";
      where = " WHERE liveql_check.failed IS NULL";
    }
    return sql + (sql.empty() ? "" : " ") + "SELECT " + data + " AS data FROM " + base + tail +
           where;
  }

  std::string affected_rows() const {
    std::vector<std::string> counts;
    for (const auto& w : written_) counts.push_back("(SELECT count(*) FROM " + w + ")");
    if (counts.empty()) return "0";
    return "(" + join_strings(counts, " + ") + ")";
  }

  TableSources sources_;
  detail::SelectionWriter sel_;
  std::vector<std::string> ctes_;
  std::vector<std::string> written_;
  std::vector<std::string> checked_;
  std::map<catalog::QualifiedName, std::vector<Written>> inserted_;
  int n_ = 0;
};

}  // namespace

std::vector<std::string> mutation_statements(const ir::MutationField& field) {
  using K = ir::MutationField::Kind;
  std::vector<std::string> out;
  switch (field.kind) {
    case K::kInsert:
    case K::kInsertOne:
      out.push_back(MutationWriter().insert(field));
      break;
    case K::kUpdate:
    case K::kUpdateByPk:
    case K::kUpdateMany:
      for (const auto& u : field.updates) out.push_back(MutationWriter().update(field, u));
      break;
    case K::kDelete:
    case K::kDeleteByPk:
      out.push_back(MutationWriter().remove(field));
      break;
    case K::kFunction:
    case K::kFunctionOne:
      out.push_back(MutationWriter().function(field));
      break;
  }
  return out;
}

}  // namespace liveql::sql
