// compiler::Plan (compiler/plan.hpp): what the operation runner and LiveQueries are handed is
// exactly the SQL the compiler's generators build for the operation, so moving SQL generation
// behind the plan changed no statement.
#include "liveql/compiler/plan.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "compiler/schema_fixture.hpp"
#include "liveql/compiler/sql.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;

class PlanTest : public ::testing::Test {
 protected:
  Result<CompiledOperation> compiled(std::string_view query, json::object vars = {}) {
    Request r{query, std::move(vars), std::nullopt};
    return compile(*schema_, r, Session{});
  }
  Result<Plan> planned(std::string_view query, json::object vars = {}) {
    Request r{query, std::move(vars), std::nullopt};
    return compile_plan(*schema_, r, Session{});
  }
  std::shared_ptr<const Schema> schema_ = test::shop_schema();
};

TEST_F(PlanTest, AQueryIsOneStatementOutsideATransaction) {
  const char* query = "query($id: Int) { a: orders(where: {id: {_eq: $id}}) { id } __typename }";
  json::object vars{{"id", 5}};
  auto op = compiled(query, vars);
  ASSERT_TRUE(op.ok()) << op.error().message;
  auto plan = planned(query, vars);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->type, gql::OperationType::kQuery);
  EXPECT_EQ(plan->root_field_name, "orders");
  EXPECT_FALSE(plan->transaction);
  EXPECT_FALSE(plan->static_data);
  EXPECT_FALSE(plan->live);
  ASSERT_EQ(plan->statements.size(), 1u);
  EXPECT_EQ(plan->statements[0].kind, Statement::Kind::kQuery);
  EXPECT_EQ(plan->statements[0].sql, sql::single_query(op->ir));
  EXPECT_EQ(plan->statements[0].response_keys, (std::vector<std::string>{"a", "__typename"}));
  EXPECT_EQ(plan->vars, op->vars);
  EXPECT_EQ(json::parse(plan->vars_text), json::value(op->vars));
}

TEST_F(PlanTest, AStaticOperationHasNoStatement) {
  auto plan = planned("{ __typename t: __typename }");
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_TRUE(plan->static_data);
  EXPECT_EQ(json::value(*plan->static_data),
            json::parse(R"({"__typename": "query_root", "t": "query_root"})"));
  EXPECT_TRUE(plan->statements.empty());
  EXPECT_FALSE(plan->live);
}

TEST_F(PlanTest, ASubscriptionCarriesItsLiveStatementAndDependenciesOnDemand) {
  const char* query = "subscription { orders(where: {status: {_eq: \"new\"}}) { id } }";
  auto op = compiled(query);
  ASSERT_TRUE(op.ok()) << op.error().message;
  auto plan = planned(query);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->type, gql::OperationType::kSubscription);
  EXPECT_TRUE(plan->statements.empty());
  ASSERT_TRUE(plan->live);
  EXPECT_EQ(plan->live->sql, sql::multiplexed_query(op->ir));
  EXPECT_TRUE(plan->live->takes_xid);
  auto deps = plan->live->dependencies();
  ASSERT_NE(deps, nullptr);
  auto expected = deps::extract_dependencies(op->ir);
  ASSERT_EQ(deps->tables.size(), expected.tables.size());
  EXPECT_EQ(deps->tables.at(0).table_key, "public.orders");
  EXPECT_EQ(deps->param_keys, expected.param_keys);
  EXPECT_EQ(plan->live->dependencies(), deps);  // extracted once, then kept
}

TEST_F(PlanTest, ExplainHasOneStatementPerRootFieldAndNoneForStaticOnes) {
  const char* query = "{ orders { id } users { id } __typename }";
  auto op = compiled(query);
  ASSERT_TRUE(op.ok()) << op.error().message;
  auto explained = compile_explain(*schema_, Request{query, {}, std::nullopt}, Session{});
  ASSERT_TRUE(explained.ok()) << explained.error().message;
  ASSERT_EQ(explained->fields.size(), 3u);
  EXPECT_EQ(explained->fields[0].response_key, "orders");
  ir::Operation orders;
  orders.fields.push_back(op->ir.fields[0]);
  EXPECT_EQ(explained->fields[0].sql, sql::single_query(orders));
  EXPECT_NE(explained->fields[1].sql, explained->fields[0].sql);
  EXPECT_EQ(explained->fields[2].response_key, "__typename");
  EXPECT_TRUE(explained->fields[2].sql.empty());
}

TEST_F(PlanTest, CompileErrorsComeThrough) {
  auto plan = planned("{ orders { bogus } }");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(plan.error().path, "$.selectionSet.orders.selectionSet.bogus");
  auto mutation = planned("mutation { x }");
  ASSERT_FALSE(mutation.ok());
  EXPECT_EQ(mutation.error().message, "no mutations exist");
}

}  // namespace
}  // namespace liveql::compiler
