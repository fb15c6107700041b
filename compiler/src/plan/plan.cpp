#include "liveql/compiler/plan.hpp"

#include <boost/json/serialize.hpp>

#include "liveql/compiler/sql.hpp"
#include "liveql/compiler/sql_mutation.hpp"

namespace liveql::compiler {

std::shared_ptr<const deps::Dependencies> LivePlan::dependencies() const {
  if (!dependencies_ && ir_) {
    dependencies_ = std::make_shared<const deps::Dependencies>(deps::extract_dependencies(*ir_));
  }
  return dependencies_;
}

Plan plan_operation(CompiledOperation op) {
  Plan plan;
  plan.type = op.type;
  plan.root_field_name = std::move(op.root_field_name);
  plan.vars_text = boost::json::serialize(op.vars);
  plan.vars = std::move(op.vars);
  if (op.static_data) {
    plan.static_data = std::move(op.static_data);
    return plan;
  }
  if (op.type == gql::OperationType::kMutation) {
    plan.transaction = true;
    for (auto& m : op.mutations) {
      ResponseField field;
      field.key = m.alias;
      field.namespace_key = m.namespace_alias;
      if (!m.write) {
        field.static_json = boost::json::serialize(m.static_value);
        plan.response.push_back(std::move(field));
        continue;
      }
      field.first_statement = plan.statements.size();
      field.list = m.write->kind == ir::MutationField::Kind::kUpdateMany;
      for (auto& sql : sql::mutation_statements(*m.write)) {
        Statement statement;
        statement.kind = Statement::Kind::kMutation;
        statement.sql = std::move(sql);
        statement.response_keys.push_back(m.alias);
        statement.error_path = m.error_path;
        plan.statements.push_back(std::move(statement));
      }
      field.statement_count = plan.statements.size() - field.first_statement;
      plan.response.push_back(std::move(field));
    }
    return plan;
  }
  if (op.type == gql::OperationType::kSubscription) {
    // The multiplexed statement always reads $3 (NULL when no transaction must be visible).
    std::string sql = sql::multiplexed_query(op.ir);
    std::string cursor_key;
    for (const auto& field : op.ir.fields)
      if (field.kind == ir::RootField::Kind::kStream) cursor_key = field.stream_cursor.key;
    plan.live.emplace(std::move(sql), true,
                      std::make_shared<const ir::Operation>(std::move(op.ir)));
    plan.live->stream_cursor_key = std::move(cursor_key);
    return plan;
  }
  Statement statement;
  statement.sql = sql::single_query(op.ir);
  for (const auto& field : op.ir.fields) statement.response_keys.push_back(field.alias);
  plan.statements.push_back(std::move(statement));
  return plan;
}

Result<Plan> compile_plan(const Schema& schema, const Request& request, const Session& session,
                          const Limits& limits) {
  auto op = compile(schema, request, session, limits);
  if (!op) return op.take_error();
  return plan_operation(std::move(*op));
}

std::vector<ExplainedField> explain_fields(const CompiledOperation& op) {
  std::vector<ExplainedField> out;
  out.reserve(op.ir.fields.size());
  for (const auto& field : op.ir.fields) {
    ExplainedField e;
    // Under a source's namespace, Hasura names the field "<namespace>.<alias>".
    e.response_key =
        field.namespace_alias.empty() ? field.alias : field.namespace_alias + "." + field.alias;
    if (field.kind != ir::RootField::Kind::kStatic) {
      ir::Operation one;
      one.fields.push_back(field);
      e.sql = sql::single_query(one);
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<ExplainPlan> compile_explain(const Schema& schema, const Request& request,
                                    const Session& session, const Limits& limits) {
  auto op = compile(schema, request, session, limits);
  if (!op) return op.take_error();
  if (op->type == gql::OperationType::kMutation)
    return make_error(ErrorCode::kInvalidParams, "only queries can be explained");
  ExplainPlan plan;
  plan.fields = explain_fields(*op);
  plan.vars_text = boost::json::serialize(op->vars);
  return plan;
}

}  // namespace liveql::compiler
