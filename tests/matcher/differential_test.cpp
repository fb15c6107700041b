// Randomized differential tests: the indexed Matcher against brute force over every subscriber,
// and the three-valued evaluator against a direct SQL-semantics evaluator on complete rows.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <functional>
#include <map>
#include <random>

#include "liveql/matcher/matcher.hpp"
#include "test_util.hpp"

namespace liveql::matcher {
namespace {

using namespace test;  // NOLINT
using Op = ir::CompareOp;

struct Gen {
  std::mt19937_64 rng;
  explicit Gen(uint64_t seed) : rng(seed) {}
  int below(int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); }
  bool chance(int percent) { return below(100) < percent; }

  static constexpr const char* kColumns[] = {"a", "b", "c", "d"};
  static constexpr const char* kTypes[] = {"integer", "text", "numeric", "timestamp"};

  std::string value(int column) {
    int v = below(4);
    switch (column) {
      case 0:
        return std::to_string(v);
      case 1:
        return std::string(1, static_cast<char>('w' + v));
      case 2:
        return std::to_string(v) + (chance(50) ? ".0" : "");
      default:
        return "2024-01-0" + std::to_string(v + 1);
    }
  }

  boost::json::value param(int column) {
    if (chance(5)) return nullptr;
    int v = below(4);
    switch (column) {
      case 0:
        return chance(50) ? boost::json::value(v) : boost::json::value(std::to_string(v));
      case 1:
        return boost::json::value(std::string(1, static_cast<char>('w' + v)));
      case 2:
        return boost::json::value(v);
      default:
        return boost::json::value("2024-01-0" + std::to_string(v + 1));
    }
  }

  // A predicate over columns a..d; every comparison gets its own parameter key.
  Predicate predicate(int depth, boost::json::object& vars, int& next_key) {
    int pick = below(depth > 0 ? 10 : 6);
    if (pick <= 4) {
      int column = below(4);
      static constexpr Op kOps[] = {Op::kEq,  Op::kEq, Op::kEq,  Op::kNeq,   Op::kGt,
                                    Op::kLte, Op::kIn, Op::kNin, Op::kIsNull};
      Op op = kOps[below(9)];
      std::string key = "p" + std::to_string(next_key++);
      Predicate p = cmp(kColumns[column], kTypes[column], op, key, op == Op::kIn || op == Op::kNin);
      if (op == Op::kIsNull) {
        vars[key] = chance(50);
      } else if (op == Op::kIn || op == Op::kNin) {
        boost::json::array list;
        for (int i = below(4); i > 0; --i) list.push_back(param(column));
        vars[key] = list;
      } else {
        vars[key] = param(column);
      }
      return p;
    }
    if (pick == 5) return chance(50) ? p_unknown() : (chance(50) ? p_true() : p_false());
    std::vector<Predicate> children;
    for (int i = 1 + below(3); i > 0; --i) children.push_back(predicate(depth - 1, vars, next_key));
    if (pick <= 7) return p_and(std::move(children));
    if (pick == 8) return p_or(std::move(children));
    return p_not(std::move(children.front()));
  }

  RowImage image(bool key_only_allowed) {
    RowImage r;
    r.columns.push_back(ColumnValue{"id", "integer", std::to_string(below(6))});
    if (key_only_allowed && chance(40)) return r;
    for (int c = 0; c < 4; ++c) {
      if (chance(10)) continue;  // absent (TOAST, partial identity)
      std::optional<std::string> v;
      if (!chance(15)) v = value(c);
      r.columns.push_back(ColumnValue{kColumns[c], kTypes[c], v});
    }
    if (!chance(10))
      r.columns.push_back(ColumnValue{"parent_id", "integer", std::to_string(below(4))});
    return r;
  }

  RowChange change() {
    RowChange c;
    c.schema = "public";
    c.table = chance(70) ? "t" : "u";
    int kind = below(20);
    c.kind = kind < 7    ? ChangeKind::kInsert
             : kind < 14 ? ChangeKind::kUpdate
             : kind < 19 ? ChangeKind::kDelete
                         : ChangeKind::kTruncate;
    if (c.kind == ChangeKind::kInsert || c.kind == ChangeKind::kUpdate) c.new_row = image(false);
    if (c.kind == ChangeKind::kUpdate || c.kind == ChangeKind::kDelete) c.old_row = image(true);
    return c;
  }
};

TEST(MatcherDifferential, IndexNeverMissesWhatBruteForceFinds) {
  Gen g(20240601);
  size_t total_affected = 0, total_checked = 0;
  for (int round = 0; round < 30; ++round) {
    Matcher m;
    // A few cohorts (shared Dependencies), each with many subscribers.
    std::vector<std::pair<std::shared_ptr<deps::Dependencies>, boost::json::object>> cohorts;
    for (int c = 0; c < 6; ++c) {
      std::vector<deps::TableDependency> tables;
      boost::json::object shape_vars;
      int next_key = 0;
      for (int t = 1 + g.below(2); t > 0; --t) {
        auto role = static_cast<deps::TableRole>(g.below(3));
        auto dep = table_dep(g.chance(70) ? "t" : "u", role, g.predicate(3, shape_vars, next_key));
        if (role == deps::TableRole::kLinked) dep.link_columns = {"parent_id"};
        // Relationship filters: linked by the row's key, or by a column old images may lack.
        if (role == deps::TableRole::kFilterOnly && g.chance(60))
          dep.link_columns = {g.chance(50) ? "id" : "parent_id"};
        dep.all_rows_relevant = g.chance(25);
        dep.old_image_relevant = dep.all_rows_relevant || g.chance(20);
        tables.push_back(std::move(dep));
      }
      cohorts.emplace_back(make_deps(std::move(tables)), std::move(shape_vars));
    }
    SubscriberId next_id = 1;
    for (int s = 0; s < 300; ++s) {
      auto& [d, shape_vars] = cohorts[static_cast<size_t>(g.below(6))];
      // Same shape, fresh values for every parameter.
      boost::json::object v;
      for (const auto& [k, value] : shape_vars) {
        if (value.is_array()) {
          boost::json::array list;
          for (int i = g.below(4); i > 0; --i) list.push_back(g.param(g.below(4)));
          v[k] = list;
        } else if (value.is_bool()) {
          v[k] = g.chance(50);
        } else {
          v[k] = g.param(g.below(4));
        }
      }
      SubscriberId id = next_id++;
      ASSERT_TRUE(m.add(id, d, v).ok());
      if (g.chance(70)) {
        ResultKeys keys;
        for (int k = g.below(4); k > 0; --k) {
          bool link = g.chance(40);
          keys.push_back(ResultKey{g.chance(70) ? "public.t" : "public.u",
                                   {link ? "parent_id" : "id"},
                                   {std::to_string(g.below(link ? 4 : 6))}});
        }
        ASSERT_TRUE(m.set_result_keys(id, keys).ok());
      }
      if (g.chance(10)) m.remove(static_cast<SubscriberId>(1 + g.below(static_cast<int>(id))));
    }
    for (int t = 0; t < 60; ++t) {
      Transaction txn;
      for (int c = 1 + g.below(3); c > 0; --c) txn.changes.push_back(g.change());
      auto indexed = m.affected(txn);
      auto brute = m.affected_brute_force(txn);
      ASSERT_EQ(indexed, brute) << "round " << round << " txn " << t;
      total_affected += brute.size();
      total_checked += m.size();
    }
  }
  // The test is only meaningful if matches are neither empty nor everything.
  EXPECT_GT(total_affected, total_checked / 50);
  EXPECT_LT(total_affected, total_checked);
}

// SQL three-valued logic on complete integer rows: 1 true, 0 false, -1 NULL.
int sql_eval(const Predicate& p, const std::map<std::string, std::optional<int>>& row,
             const boost::json::object& vars) {
  using K = Predicate::Kind;
  switch (p.kind) {
    case K::kTrue:
      return 1;
    case K::kFalse:
      return 0;
    case K::kAnd: {
      int r = 1;
      for (const auto& c : p.children) {
        int v = sql_eval(c, row, vars);
        if (v == 0)
          r = 0;
        else if (v == -1 && r == 1)
          r = -1;
      }
      return r;
    }
    case K::kOr: {
      int r = 0;
      for (const auto& c : p.children) {
        int v = sql_eval(c, row, vars);
        if (v == 1)
          r = 1;
        else if (v == -1 && r == 0)
          r = -1;
      }
      return r;
    }
    case K::kNot: {
      int v = sql_eval(p.children[0], row, vars);
      return v == -1 ? -1 : 1 - v;
    }
    default:
      break;
  }
  auto x = row.at(p.column);
  const auto& param = vars.at(p.param.key);
  if (p.op == Op::kIsNull) return x.has_value() != param.as_bool() ? 1 : 0;
  if ((p.op == Op::kIn || p.op == Op::kNin) && param.as_array().empty())
    return p.op == Op::kIn ? 0 : 1;  // x IN () is false even for NULL
  if (!x) return -1;
  auto eq = [&](const boost::json::value& e) { return e.is_null() ? -1 : (e.as_int64() == *x); };
  if (p.op == Op::kIn || p.op == Op::kNin) {
    int r = 0;
    for (const auto& e : param.as_array()) {
      int v = eq(e);
      if (v == 1)
        r = 1;
      else if (v == -1 && r == 0)
        r = -1;
    }
    return p.op == Op::kIn ? r : (r == -1 ? -1 : 1 - r);
  }
  int64_t y = param.as_int64();
  switch (p.op) {
    case Op::kEq:
      return *x == y;
    case Op::kNeq:
      return *x != y;
    case Op::kGt:
      return *x > y;
    case Op::kLte:
      return *x <= y;
    default:
      return -1;
  }
}

TEST(EvaluateDifferential, AgreesWithSqlOnCompleteRows) {
  Gen g(7);
  int trues = 0;
  for (int i = 0; i < 20000; ++i) {
    boost::json::object v;
    int key = 0;
    Predicate p = g.predicate(3, v, key);
    // Integer-only, no unknown leaves, no NULL parameters: SQL's answer is fully determined.
    std::function<bool(Predicate&)> integer_only = [&](Predicate& n) {
      if (n.kind == Predicate::Kind::kUnknown) return false;
      if (n.kind == Predicate::Kind::kCompare) {
        n.column = "a";
        n.column_type = "integer";
        auto& pv = v[n.param.key];
        if (pv.is_array()) {
          for (auto& e : pv.as_array())
            if (!e.is_null()) e = g.below(4);
        } else if (!pv.is_bool()) {
          pv = g.below(4);
        }
      }
      for (auto& c : n.children)
        if (!integer_only(c)) return false;
      return true;
    };
    if (!integer_only(p)) continue;
    std::optional<int> a;
    if (!g.chance(20)) a = g.below(4);
    RowImage r = row({{"a", a ? std::to_string(*a).c_str() : nullptr}});
    Truth got = eval(p, r, boost::json::serialize(v).c_str());
    int want = sql_eval(p, {{"a", a}}, v);
    ASSERT_NE(got, Truth::kUnknown) << boost::json::serialize(v);
    EXPECT_EQ(got == Truth::kTrue, want == 1)
        << boost::json::serialize(v) << " a=" << (a ? *a : -9);
    trues += want == 1;
  }
  EXPECT_GT(trues, 100);
}

}  // namespace
}  // namespace liveql::matcher
