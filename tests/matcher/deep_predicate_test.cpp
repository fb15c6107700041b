// Predicates as deep as the compiler lets a filter nest (inline values and variables up to the
// parser's cap of 500 levels make at most ~250 nested _and/_or/_not): evaluation, registration
// and matching recurse once per level and must stay well inside the stack under ASan.
#include <gtest/gtest.h>

#include "liveql/matcher/matcher.hpp"
#include "test_util.hpp"

namespace liveql::matcher {
namespace {

using namespace test;  // NOLINT
using Op = ir::CompareOp;

// (user_id = $uid AND (user_id = $uid AND (...))) `levels` deep; with `negate`, every level is
// wrapped in a double negation as well.
Predicate nested_and(int levels, bool negate) {
  Predicate p = cmp("user_id", "integer", Op::kEq, "uid");
  for (int i = 0; i < levels; ++i) {
    p = p_and({cmp("user_id", "integer", Op::kEq, "uid"), std::move(p)});
    if (negate) p = p_not(p_not(std::move(p)));
  }
  return p;
}

TEST(DeepPredicateTest, EvaluatesThreeHundredLevels) {
  for (bool negate : {false, true}) {
    SCOPED_TRACE(negate ? "with double negations" : "and only");
    EXPECT_EQ(eval(nested_and(300, negate), row({{"user_id", "7"}}), R"({"uid": 7})"),
              Truth::kTrue);
    EXPECT_EQ(eval(nested_and(300, negate), row({{"user_id", "8"}}), R"({"uid": 7})"),
              Truth::kFalse);
    EXPECT_EQ(eval(nested_and(300, negate), row({{"id", "1"}}), R"({"uid": 7})"), Truth::kUnknown);
  }
}

TEST(DeepPredicateTest, MatchesThroughTheIndex) {
  Matcher m;
  auto d = make_deps({table_dep("orders", deps::TableRole::kRoot, nested_and(300, true))});
  ASSERT_TRUE(m.add(1, d, vars(R"({"uid": 7})")).ok());
  ASSERT_TRUE(m.add(2, d, vars(R"({"uid": 8})")).ok());
  RowChange c;
  c.schema = "public";
  c.table = "orders";
  c.kind = ChangeKind::kInsert;
  c.new_row = row({{"id", "1"}, {"user_id", "7"}});
  Transaction t;
  t.changes = {c};
  EXPECT_EQ(m.affected(t), std::vector<SubscriberId>{1});
  EXPECT_EQ(m.affected_brute_force(t), std::vector<SubscriberId>{1});
  ASSERT_TRUE(m.remove(1));
  EXPECT_EQ(m.affected(t), std::vector<SubscriberId>{});
}

}  // namespace
}  // namespace liveql::matcher
