#include "graphql_explain.hpp"

#include <boost/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "core_query.hpp"
#include "liveql/compiler/explain.hpp"
#include "liveql/compiler/plan.hpp"
#include "liveql/live/pg_pool.hpp"

namespace liveql::server {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;
using Params = std::vector<std::optional<std::string>>;

// Named, not literal, inside coroutines: GCC 12 miscompiles string literals there.
const char* const kExplain = "EXPLAIN ";
const char* const kNoPool = "no database pool";
const char* const kNoSchema = "schema not loaded";
const char* const kOneId = "{1}";
const char* const kOnlyQueries = "only queries can be explained";

Error unexpected(const char* message) { return make_error(ErrorCode::kUnexpected, message); }

// PostgreSQL's plan lines, as Hasura gives them: the one text column of EXPLAIN's rows.
json::array plan_lines(const live::QueryResult& result) {
  json::array lines;
  for (const auto& row : result.rows)
    if (!row.empty() && row[0]) lines.push_back(json::string(*row[0]));
  return lines;
}

// A one-element json[] literal holding `text`: {"..."} with `"` and `\` escaped.
std::string json_array_literal(const std::string& text) {
  std::string out = "{\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"}";
}

awaitable<Result<std::string>> explain_query(App& app, const compiler::Session& session,
                                             const compiler::CompiledOperation& op) {
  std::string vars_text = json::serialize(op.vars);
  json::array out;
  for (const auto& field : compiler::explain_fields(op)) {
    if (field.sql.empty()) {
      out.push_back(
          json::object{{"field", field.response_key}, {"sql", nullptr}, {"plan", nullptr}});
      continue;
    }
    if (app.pool == nullptr) co_return unexpected(kNoPool);
    Params params;
    params.emplace_back(vars_text);
    auto lines = co_await query_on_core(app, std::string(kExplain) + field.sql, params);
    if (!lines) co_return visible_error(lines.take_error(), session);
    out.push_back(json::object{{"field", field.response_key},
                               {"sql", field.sql},
                               {"plan", plan_lines(*lines)},
                               {"params", json::array{json::string(vars_text)}}});
  }
  co_return json::serialize(out);
}

awaitable<Result<std::string>> explain_subscription(App& app, const compiler::Session& session,
                                                    compiler::SubscriptionExplain ex) {
  json::object out{{"sql", nullptr}, {"plan", nullptr}};
  if (ex.live) {
    if (app.pool == nullptr) co_return unexpected(kNoPool);
    // The statement as a cohort of this one subscriber runs it: row id 1, its vars, and no
    // transaction to wait for.
    Params params;
    params.emplace_back(std::string(kOneId));
    params.emplace_back(json_array_literal(ex.vars_text));
    if (ex.live->takes_xid) params.emplace_back(std::nullopt);
    auto lines = co_await query_on_core(app, std::string(kExplain) + ex.live->sql, params);
    if (!lines) co_return visible_error(lines.take_error(), session);
    out["sql"] = ex.live->sql;
    out["plan"] = plan_lines(*lines);
  }
  out["variables"] = std::move(ex.variables);
  co_return json::serialize(out);
}

}  // namespace

awaitable<Result<std::string>> explain_graphql(App& app, compiler::Session session,
                                               OperationRequest request) {
  if (!app.schema) co_return unexpected(kNoSchema);
  compiler::Request req{request.query, request.variables, request.operation_name};
  req.relay = request.relay;
  auto op = compiler::compile(*app.schema, req, session, app.limits);
  if (!op) co_return op.take_error();
  switch (op->type) {
    case gql::OperationType::kMutation:
      co_return make_error(ErrorCode::kInvalidParams, kOnlyQueries);
    case gql::OperationType::kSubscription:
      co_return co_await explain_subscription(
          app, session, compiler::explain_subscription(std::move(*op), request.variables));
    case gql::OperationType::kQuery:
      break;
  }
  co_return co_await explain_query(app, session, *op);
}

}  // namespace liveql::server
