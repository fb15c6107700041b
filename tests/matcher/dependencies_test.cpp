#include "liveql/compiler/dependencies.hpp"

#include <gtest/gtest.h>

namespace liveql::deps {
namespace {

using ir::BoolExp;

ir::BoolExpPtr compare(std::string column, std::string type, ir::CompareOp op, std::string key) {
  auto e = std::make_shared<BoolExp>();
  e->kind = BoolExp::Kind::kCompare;
  e->column = std::move(column);
  e->column_type = type;
  e->op = op;
  e->param = ir::Param{std::move(key), type, false};
  return e;
}

ir::Select select(std::string table, ir::BoolExpPtr where) {
  ir::Select s;
  s.table = catalog::QualifiedName{"public", std::move(table)};
  s.primary_key = {"id"};
  s.where = std::move(where);
  return s;
}

ir::Operation root(ir::Select s, ir::RootField::Kind kind = ir::RootField::Kind::kSelect) {
  ir::Operation op;
  ir::RootField f;
  f.kind = kind;
  if (kind == ir::RootField::Kind::kAggregate) {
    f.aggregate.rows = std::move(s);
  } else {
    f.select = std::move(s);
  }
  op.fields.push_back(std::move(f));
  return op;
}

TEST(Dependencies, RootSelectIsTractableWithSlots) {
  auto d = extract_dependencies(
      root(select("orders", compare("user_id", "integer", ir::CompareOp::kEq, "uid"))));
  ASSERT_EQ(d.tables.size(), 1u);
  EXPECT_TRUE(d.tractable);
  const auto& t = d.tables[0];
  EXPECT_EQ(t.table_key, "public.orders");
  EXPECT_EQ(t.role, TableRole::kRoot);
  EXPECT_FALSE(t.all_rows_relevant);
  EXPECT_EQ(t.predicate.kind, Predicate::Kind::kCompare);
  EXPECT_EQ(t.predicate.slot, 0);
  EXPECT_EQ(d.param_keys, std::vector<std::string>{"uid"});
  EXPECT_EQ(t.predicate_columns, std::vector<std::string>{"user_id"});
}

TEST(Dependencies, AnyEnumTypeIsComparedAsAnEnum) {
  auto status = std::make_shared<BoolExp>(
      *compare("status", "\"public\".\"order_status\"", ir::CompareOp::kEq, "s"));
  status->column_is_enum = true;
  auto d = extract_dependencies(root(select("orders", status)));
  EXPECT_EQ(d.tables.at(0).predicate.column_type, "enum");
  auto plain = extract_dependencies(
      root(select("orders", compare("name", "text", ir::CompareOp::kEq, "n"))));
  EXPECT_EQ(plain.tables.at(0).predicate.column_type, "text");
}

TEST(Dependencies, AggregatesAndLimitsMakeEveryRowRelevant) {
  auto agg = extract_dependencies(root(select("orders", nullptr), ir::RootField::Kind::kAggregate));
  EXPECT_TRUE(agg.tables[0].all_rows_relevant);
  EXPECT_TRUE(agg.tables[0].old_image_relevant);
  auto s = select("orders", nullptr);
  s.limit = ir::Param{"l", "integer", false};
  EXPECT_TRUE(extract_dependencies(root(s)).tables[0].all_rows_relevant);
}

TEST(Dependencies, NestedRelationshipsAreLinked) {
  auto users = select("users", nullptr);
  ir::Field f;
  f.kind = ir::Field::Kind::kArrayRel;
  f.join.name = "orders";
  f.join.target = {"public", "orders"};
  f.join.mapping = {{"id", "user_id"}};
  f.select = std::make_shared<ir::Select>(
      select("orders", compare("status", "text", ir::CompareOp::kEq, "s")));
  users.fields.push_back(f);
  auto d = extract_dependencies(root(users));
  ASSERT_EQ(d.tables.size(), 2u);
  EXPECT_EQ(d.tables[1].role, TableRole::kLinked);
  EXPECT_EQ(d.tables[1].link_columns, std::vector<std::string>{"user_id"});
  EXPECT_TRUE(d.tractable);
}

// users ordered by the count of their orders the role may see (orders where agent_id = $a):
// the cohort polls, and every visible order row (new or old image) is a dependency, so a new
// order reorders the result on the next refetch.
TEST(Dependencies, OrderByAnAggregateDependsOnTheAggregatedRows) {
  ir::OrderBy by_count;
  by_count.path = {ir::Join{"orders", {"public", "orders"}, {{"id", "user_id"}}, true}};
  by_count.path_filters = {compare("agent_id", "integer", ir::CompareOp::kEq, "a")};
  by_count.aggregate = "count";
  by_count.desc = true;
  auto s = select("users", nullptr);
  s.order_by = {by_count};
  auto d = extract_dependencies(root(std::move(s)));
  EXPECT_FALSE(d.tractable);
  EXPECT_EQ(d.reason, "order_by on an aggregate of orders of public.users");
  ASSERT_EQ(d.tables.size(), 2u);
  const auto& orders = d.tables[1];
  EXPECT_EQ(orders.table_key, "public.orders");
  EXPECT_EQ(orders.role, TableRole::kFilterOnly);
  EXPECT_TRUE(orders.old_image_relevant);
  EXPECT_TRUE(orders.all_rows_relevant);
  EXPECT_EQ(orders.link_columns, std::vector<std::string>{"user_id"});
  EXPECT_EQ(orders.predicate.kind, Predicate::Kind::kCompare);
  EXPECT_EQ(orders.predicate_columns, std::vector<std::string>{"agent_id"});
  EXPECT_EQ(d.param_keys, std::vector<std::string>{"a"});
}

TEST(Dependencies, IntractableShapesSayWhy) {
  auto pattern = extract_dependencies(
      root(select("orders", compare("note", "text", ir::CompareOp::kIlike, "p"))));
  EXPECT_FALSE(pattern.tractable);
  EXPECT_EQ(pattern.reason, "text pattern _ilike on public.orders.note");
  EXPECT_EQ(pattern.tables[0].predicate.kind, Predicate::Kind::kUnknown);

  auto jsonb = extract_dependencies(
      root(select("orders", compare("meta", "jsonb", ir::CompareOp::kHasKey, "k"))));
  EXPECT_EQ(jsonb.reason, "jsonb operator _has_key on public.orders.meta");

  // order_items where {order: {user_id: {_eq: $uid}}} (a permission through another table)
  auto rel = std::make_shared<BoolExp>();
  rel->kind = BoolExp::Kind::kRelationship;
  rel->join.name = "order";
  rel->join.target = {"public", "orders"};
  rel->join.mapping = {{"order_id", "id"}};
  auto inner_not = std::make_shared<BoolExp>();
  inner_not->kind = BoolExp::Kind::kNot;
  rel->inner = compare("user_id", "integer", ir::CompareOp::kEq, "uid");
  auto d = extract_dependencies(root(select("order_items", rel)));
  EXPECT_FALSE(d.tractable);
  EXPECT_EQ(d.reason, "relationship filter order of public.order_items reaches public.orders");
  ASSERT_EQ(d.tables.size(), 2u);
  EXPECT_EQ(d.tables[0].predicate.kind, Predicate::Kind::kRelationship);
  EXPECT_EQ(d.tables[0].predicate.link_columns, std::vector<std::string>{"order_id"});
  EXPECT_EQ(d.tables[1].role, TableRole::kFilterOnly);
  // Positive: leaving rows are in the keys, or (link columns changed) found by the matcher
  // because the old image lacks the link (matcher_test RelationshipFilterSeesTheRelatedRowMove).
  EXPECT_FALSE(d.tables[1].old_image_relevant);
  EXPECT_EQ(d.tables[1].predicate.kind, Predicate::Kind::kCompare);
  // Negated, the old image of the related row matters.
  inner_not->children = {rel};
  auto negated = extract_dependencies(root(select("order_items", inner_not)));
  EXPECT_TRUE(negated.tables[1].old_image_relevant);

  auto no_pk = select("logs", nullptr);
  no_pk.primary_key.clear();
  auto l = extract_dependencies(root(no_pk));
  EXPECT_FALSE(l.tractable);
  EXPECT_TRUE(l.tables[0].old_image_relevant);

  auto exists = std::make_shared<BoolExp>();
  exists->kind = BoolExp::Kind::kExists;
  exists->table = {"public", "flags"};
  auto e = extract_dependencies(root(select("orders", exists)));
  EXPECT_EQ(e.reason, "_exists on public.flags in a filter of public.orders");
  EXPECT_TRUE(e.tables[1].old_image_relevant);
}

}  // namespace
}  // namespace liveql::deps
