// Builders shared by the matcher tests.
#pragma once

#include <boost/json/parse.hpp>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "liveql/base/row_change.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/matcher/evaluate.hpp"

namespace liveql::matcher::test {

using deps::Predicate;

struct Col {
  Col(std::string n, const char* v) : name(std::move(n)) {
    if (v) value = v;
  }
  Col(std::string n, std::string v) : name(std::move(n)), value(std::move(v)) {}
  Col(std::string n, std::nullopt_t) : name(std::move(n)) {}
  std::string name;
  std::optional<std::string> value;
};

inline RowImage row(std::initializer_list<Col> cols) {
  RowImage r;
  for (const auto& c : cols) r.columns.push_back(ColumnValue{c.name, "", c.value});
  return r;
}

inline Predicate cmp(std::string column, std::string type, ir::CompareOp op, std::string key,
                     bool list = false) {
  Predicate p;
  p.kind = Predicate::Kind::kCompare;
  p.column = std::move(column);
  p.column_type = type;
  p.op = op;
  p.param = ir::Param{std::move(key), std::move(type), list};
  return p;
}

inline Predicate node(Predicate::Kind kind, std::vector<Predicate> children = {}) {
  Predicate p;
  p.kind = kind;
  p.children = std::move(children);
  return p;
}
inline Predicate p_and(std::vector<Predicate> c) { return node(Predicate::Kind::kAnd, c); }
inline Predicate p_or(std::vector<Predicate> c) { return node(Predicate::Kind::kOr, c); }
inline Predicate p_not(Predicate c) { return node(Predicate::Kind::kNot, {std::move(c)}); }
inline Predicate p_true() { return node(Predicate::Kind::kTrue); }
inline Predicate p_false() { return node(Predicate::Kind::kFalse); }
inline Predicate p_unknown() { return node(Predicate::Kind::kUnknown); }

inline deps::TableDependency table_dep(std::string table, deps::TableRole role, Predicate pred,
                                       std::vector<std::string> pk = {"id"}) {
  deps::TableDependency d;
  d.table = catalog::QualifiedName{"public", table};
  d.table_key = "public." + table;
  d.role = role;
  d.primary_key = std::move(pk);
  d.predicate = std::move(pred);
  return d;
}

inline std::shared_ptr<deps::Dependencies> make_deps(std::vector<deps::TableDependency> tables) {
  auto d = std::make_shared<deps::Dependencies>();
  d->tables = std::move(tables);
  deps::assign_param_slots(*d);
  return d;
}

inline boost::json::object vars(const char* json) { return boost::json::parse(json).as_object(); }

// Evaluates one predicate with vars given as JSON text.
inline Truth eval(Predicate p, const RowImage& r, const char* json_vars = "{}") {
  auto d = make_deps({table_dep("t", deps::TableRole::kRoot, std::move(p))});
  return evaluate(d->tables[0].predicate, r, bind_params(*d, vars(json_vars)));
}

}  // namespace liveql::matcher::test
