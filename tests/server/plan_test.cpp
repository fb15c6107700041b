// compiler::Plan (compiler/plan.hpp): what the operation runner and LiveQueries are handed is
// exactly the SQL the compiler's generators build for the operation, so moving SQL generation
// behind the plan changed no statement.
#include "liveql/compiler/plan.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "compiler/schema_fixture.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/compiler/sql_mutation.hpp"

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

// A mutation: one statement per writing root field (update_many: one per update) in request
// order, in one transaction, and the response's members in request order, static ones too.
TEST_F(PlanTest, AMutationIsOneStatementPerWriteInOneTransaction) {
  CompiledOperation op;
  op.type = gql::OperationType::kMutation;
  op.root_field_name = "insert_orders";
  op.vars = json::object{{"p0", 1}};
  ir::MutationField insert;
  insert.kind = ir::MutationField::Kind::kInsert;
  insert.alias = "ins";
  insert.insert.table = {"public", "orders"};
  insert.insert.rows.push_back(ir::InsertRow{{{"id", ir::Param{"p0", "integer"}}}, {}, {}});
  insert.output.push_back({ir::MutationOutputField::Kind::kAffectedRows, "affected_rows", {}, ""});
  ir::MutationField many;
  many.kind = ir::MutationField::Kind::kUpdateMany;
  many.alias = "many";
  for (int i = 0; i < 2; ++i) {
    ir::Update u;
    u.table = {"public", "orders"};
    u.set.push_back({ir::ColumnUpdate::Op::kSet, "id", ir::Param{"p0", "integer"}});
    many.updates.push_back(std::move(u));
  }
  many.output = insert.output;
  ir::MutationField del;
  del.kind = ir::MutationField::Kind::kDeleteByPk;
  del.alias = "del";
  del.del.table = {"public", "orders"};
  del.returning_one.table = {"public", "orders"};
  MutationRoot typename_root;
  typename_root.alias = "t";
  typename_root.static_value = "mutation_root";
  op.mutations.push_back(MutationRoot{"ins", insert, nullptr, "$.selectionSet.ins.args.objects"});
  op.mutations.push_back(typename_root);
  op.mutations.push_back(MutationRoot{"many", many, nullptr, "$"});
  op.mutations.push_back(MutationRoot{"del", del, nullptr, "$"});

  Plan plan = plan_operation(op);
  EXPECT_EQ(plan.type, gql::OperationType::kMutation);
  EXPECT_EQ(plan.root_field_name, "insert_orders");
  EXPECT_TRUE(plan.transaction);
  EXPECT_FALSE(plan.static_data);
  EXPECT_FALSE(plan.live);
  EXPECT_EQ(json::parse(plan.vars_text), json::value(op.vars));
  std::vector<std::string> expected;
  for (const auto* f : {&insert, &many, &del})
    for (auto& sql : sql::mutation_statements(*f)) expected.push_back(sql);
  ASSERT_EQ(plan.statements.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(plan.statements[i].kind, Statement::Kind::kMutation) << i;
    EXPECT_EQ(plan.statements[i].sql, expected[i]) << i;
  }
  EXPECT_EQ(plan.statements[0].error_path, "$.selectionSet.ins.args.objects");
  EXPECT_EQ(plan.statements[1].response_keys, std::vector<std::string>{"many"});
  EXPECT_EQ(plan.statements[3].error_path, "$");
  ASSERT_EQ(plan.response.size(), 4u);
  EXPECT_EQ(plan.response[0].key, "ins");
  EXPECT_EQ(plan.response[0].first_statement, 0u);
  EXPECT_EQ(plan.response[0].statement_count, 1u);
  EXPECT_FALSE(plan.response[0].list);
  EXPECT_EQ(plan.response[1].key, "t");
  EXPECT_EQ(plan.response[1].static_json, R"("mutation_root")");
  EXPECT_EQ(plan.response[2].key, "many");
  EXPECT_EQ(plan.response[2].first_statement, 1u);
  EXPECT_EQ(plan.response[2].statement_count, 2u);
  EXPECT_TRUE(plan.response[2].list);
  EXPECT_EQ(plan.response[3].first_statement, 3u);
  EXPECT_EQ(plan.response[3].statement_count, 1u);
}

TEST_F(PlanTest, ACompiledMutationDocumentPlansItsStatementsAndIsNotExplained) {
  const char* query = R"(mutation { d: delete_orders(where: {id: {_eq: 1}}) { affected_rows }
                                   t: __typename })";
  auto op = compiled(query);
  ASSERT_TRUE(op.ok()) << op.error().message;
  auto plan = planned(query);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_TRUE(plan->transaction);
  ASSERT_EQ(plan->statements.size(), 1u);
  EXPECT_EQ(plan->statements[0].sql, sql::mutation_statements(*op->mutations[0].write).at(0));
  ASSERT_EQ(plan->response.size(), 2u);
  EXPECT_EQ(plan->response[0].key, "d");
  EXPECT_EQ(plan->response[1].static_json, R"("mutation_root")");
  auto explained = compile_explain(*schema_, Request{query, {}, std::nullopt}, Session{});
  ASSERT_FALSE(explained.ok());
  EXPECT_EQ(explained.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(explained.error().message, "only queries can be explained");
}

TEST_F(PlanTest, CompileErrorsComeThrough) {
  auto plan = planned("{ orders { bogus } }");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(plan.error().path, "$.selectionSet.orders.selectionSet.bogus");
  auto mutation = planned("mutation { x }");
  ASSERT_FALSE(mutation.ok());
  EXPECT_EQ(mutation.error().message, "field 'x' not found in type: 'mutation_root'");
}

}  // namespace
}  // namespace liveql::compiler
