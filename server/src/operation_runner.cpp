#include "operation_runner.hpp"

#include <boost/json.hpp>
#include <string_view>
#include <utility>
#include <vector>

#include "core_query.hpp"
#include "liveql/compiler/pg_error.hpp"
#include "liveql/live/pg_pool.hpp"

namespace liveql::server {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;

// Named, not literal, inside coroutines: GCC 12 miscompiles string literals there.
const char* const kNoPool = "no database pool";
const char* const kBadShape = "unexpected query result shape";
const char* const kSubscriptionPlan = "a subscription runs in LiveQueries, not as a statement";
const char* const kHttpSubscription = "subscriptions are not supported over HTTP, use websockets";

// The `data` column of a statement's single row, or kUnexpected.
Result<std::string> data_of(live::QueryResult& result) {
  int col = result.column_index("data");
  if (result.rows.size() != 1 || col < 0) {
    return make_error(ErrorCode::kUnexpected, std::string(kBadShape));
  }
  auto& data = result.rows[0][static_cast<size_t>(col)];
  return data ? std::move(*data) : std::string("null");
}

// The `data` object of several statements, each answering its own response keys: their objects'
// members, in statement order, in one object (no re-serialization: Postgres' text is spliced).
Result<std::string> merged_data(std::vector<live::QueryResult>& results) {
  if (results.size() == 1) return data_of(results[0]);
  std::string out = "{";
  for (auto& result : results) {
    auto data = data_of(result);
    if (!data) return data.take_error();
    std::string_view members = *data;
    auto open = members.find('{');
    auto close = members.rfind('}');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
      return make_error(ErrorCode::kUnexpected, std::string(kBadShape));
    }
    members = members.substr(open + 1, close - open - 1);
    if (members.find_first_not_of(" \t\n") == std::string_view::npos) continue;
    if (out.size() > 1) out += ',';
    out += members;
  }
  out += '}';
  return out;
}

// A mutation's `data` object: each root field's member in request order, from its static JSON
// or its statements' `data` (Postgres' text, spliced).
Result<std::string> mutation_data(const compiler::Plan& plan,
                                  std::vector<live::QueryResult>& results) {
  std::string out = "{";
  const std::string* open_namespace = nullptr;  // the namespace object being written
  for (const auto& field : plan.response) {
    if (open_namespace && *open_namespace != field.namespace_key) {
      out += '}';
      open_namespace = nullptr;
    }
    if (out.size() > 1 && out.back() != '{') out += ',';
    if (!open_namespace && !field.namespace_key.empty()) {
      out += json::serialize(json::string(field.namespace_key));
      out += ":{";
      open_namespace = &field.namespace_key;
    }
    out += json::serialize(json::string(field.key));
    out += ':';
    if (field.static_json) {
      out += *field.static_json;
      continue;
    }
    if (field.first_statement + field.statement_count > results.size()) {
      return make_error(ErrorCode::kUnexpected, std::string(kBadShape));
    }
    if (field.list) out += '[';
    for (size_t i = 0; i < field.statement_count; ++i) {
      auto data = data_of(results[field.first_statement + i]);
      if (!data) return data.take_error();
      if (i > 0) out += ',';
      out += *data;
    }
    if (field.list) out += ']';
  }
  if (open_namespace) out += '}';
  out += '}';
  return out;
}

// (Outside the coroutines: see kNoPool.)
Error unexpected(const char* message) { return make_error(ErrorCode::kUnexpected, message); }

std::vector<std::optional<std::string>> vars_param(std::string vars) {
  std::vector<std::optional<std::string>> params;
  params.emplace_back(std::move(vars));
  return params;
}

}  // namespace

Error mutation_visible_error(Error e, const compiler::Plan& plan,
                             const compiler::Session& session) {
  if (!e.sqlstate.empty()) {
    if (auto mapped = sql::mutation_error(e.sqlstate, e.message)) {
      if (e.statement < plan.statements.size()) {
        mapped->path = plan.statements[e.statement].error_path;
      }
      return std::move(*mapped);
    }
  }
  return visible_error(std::move(e), session);
}

Error visible_error(Error e, const compiler::Session& session) {
  e.path = "$";
  if ((e.code == ErrorCode::kPostgresError || e.code == ErrorCode::kConnectionLost) &&
      !session.is_admin) {
    e.message = "database query error";
  }
  return e;
}

Result<compiler::Plan> plan_request(const App& app, const compiler::Session& session,
                                    const OperationRequest& request) {
  if (!app.schema) return unexpected("schema not loaded");
  compiler::Request req{request.query, request.variables, request.operation_name};
  req.relay = request.relay;
  return compiler::compile_plan(*app.schema, req, session, app.limits);
}

std::optional<std::string> static_result(const compiler::Plan& plan) {
  if (!plan.static_data) return std::nullopt;
  return json::serialize(*plan.static_data);
}

awaitable<Result<std::string>> execute_plan(App& app, compiler::Session session,
                                            compiler::Plan plan) {
  if (auto data = static_result(plan)) co_return std::move(*data);
  if (plan.live) co_return unexpected(kSubscriptionPlan);
  if (app.pool == nullptr) co_return unexpected(kNoPool);
  const bool mutation = plan.type == gql::OperationType::kMutation;
  // One statement is atomic on its own: no BEGIN / COMMIT round trips around it. Prepared: a
  // client sends the same operations again and again, and planning a mutation's statement costs
  // PostgreSQL more than running it (0.3-0.65 ms against 0.2-0.5 ms, docs/BENCHMARKS.md).
  if (plan.statements.size() == 1 && (!plan.transaction || mutation)) {
    auto result = co_await query_on_core(app, plan.statements.front().sql,
                                         vars_param(std::move(plan.vars_text)), true);
    if (!result) {
      if (mutation) co_return mutation_visible_error(result.take_error(), plan, session);
      co_return visible_error(result.take_error(), session);
    }
    if (!mutation) co_return data_of(*result);
    std::vector<live::QueryResult> results;
    results.push_back(std::move(*result));
    co_return mutation_data(plan, results);
  }
  // Otherwise one transaction: the statements of one operation see each other's effects and
  // commit (or roll back) together.
  std::vector<live::PgPool::Statement> statements;
  statements.reserve(plan.statements.size());
  for (auto& s : plan.statements)
    statements.push_back({std::move(s.sql), vars_param(plan.vars_text)});
  auto results = co_await transaction_on_core(app, std::move(statements));
  if (mutation) {
    if (!results) co_return mutation_visible_error(results.take_error(), plan, session);
    co_return mutation_data(plan, *results);
  }
  if (!results) co_return visible_error(results.take_error(), session);
  co_return merged_data(*results);
}

awaitable<Result<std::string>> run_operation(App& app, compiler::Session session,
                                             OperationRequest request) {
  auto plan = plan_request(app, session, request);
  if (!plan) co_return plan.take_error();
  if (plan->type == gql::OperationType::kSubscription) {
    co_return make_error(ErrorCode::kNotSupported, kHttpSubscription);
  }
  co_return co_await execute_plan(app, std::move(session), std::move(*plan));
}

}  // namespace liveql::server
