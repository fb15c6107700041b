#include "live_plan.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <utility>

#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/plan.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/matcher/evaluate.hpp"
#include "liveql/matcher/matcher.hpp"

namespace liveql::server {
namespace {

namespace json = boost::json;
namespace asio = boost::asio;

// Named, not literal, inside coroutines: GCC 12 miscompiles string literals there.
const char* const kNotSubscription = "only subscriptions have a live plan";
const char* const kNoLive = "live queries are not running";

const char* role_name(deps::TableRole role) {
  switch (role) {
    case deps::TableRole::kRoot:
      return "root";
    case deps::TableRole::kLinked:
      return "linked";
    case deps::TableRole::kFilterOnly:
      return "filter_only";
  }
  return "root";
}

json::object index_json(const matcher::IndexUse& use) {
  switch (use.kind) {
    case matcher::IndexUse::Kind::kLink:
      return {{"kind", "link"}};
    case matcher::IndexUse::Kind::kScan:
      return {{"kind", "scan"}};
    case matcher::IndexUse::Kind::kNever:
      return {{"kind", "never"}};
    case matcher::IndexUse::Kind::kColumn:
      break;
  }
  return {{"kind", "column"},
          {"column", use.column},
          {"op", use.op == ir::CompareOp::kIn ? "_in" : "_eq"}};
}

json::array strings(const std::vector<std::string>& list) {
  json::array out;
  for (const auto& s : list) out.emplace_back(s);
  return out;
}

// On the core: LiveQueries and the plan's dependencies are read there.
std::string describe(const live::LiveQueries& live, const compiler::Plan& plan,
                     const std::string& role) {
  json::object out{{"root_field", plan.root_field_name}, {"role", role}};
  if (!plan.live) {
    out["static"] = true;
    return json::serialize(out);
  }
  auto deps = plan.live->dependencies();
  auto preview = live.preview(plan.live->sql, role, deps.get());
  json::object cohort{{"status", preview.cohort ? "joining" : "new"}};
  if (preview.cohort) {
    cohort["id"] = *preview.cohort;
    cohort["subscribers"] = preview.subscribers;
  }
  out["cohort"] = std::move(cohort);
  out["mode"] = live_mode_name(preview.mode);
  out["reason"] = preview.reason;
  out["forced_tables"] = strings(preview.forced_tables);
  out["tractable"] = deps ? deps->tractable : false;
  out["sql"] = plan.live->sql;
  json::array tables;
  if (deps) {
    matcher::ParamValues params = matcher::bind_params(*deps, plan.vars);
    for (const auto& t : deps->tables) {
      tables.push_back(json::object{
          {"table", t.table_key},
          {"role", role_name(t.role)},
          {"primary_key", strings(t.primary_key)},
          {"link_columns", strings(t.link_columns)},
          {"columns", strings(t.predicate_columns)},
          {"tractable", t.tractable},
          {"reason", t.reason},
          {"all_rows_relevant", t.all_rows_relevant},
          {"index", index_json(matcher::index_use(t, params))},
      });
    }
  }
  out["tables"] = std::move(tables);
  return json::serialize(out);
}

asio::awaitable<std::string> describe_on_core(App& app, compiler::Plan plan, std::string role) {
  co_return describe(*app.live, plan, role);
}

Error error_of(ErrorCode code, const char* message) { return make_error(code, message); }

}  // namespace

asio::awaitable<Result<std::string>> explain_live(App& app, compiler::Session session,
                                                  OperationRequest request) {
  auto plan = plan_request(app, session, request);
  if (!plan) co_return plan.take_error();
  if (plan->type != gql::OperationType::kSubscription) {
    co_return error_of(ErrorCode::kValidationFailed, kNotSubscription);
  }
  if (app.live == nullptr) co_return error_of(ErrorCode::kNotSupported, kNoLive);
  // The cohort key is the session's role, as the websocket session subscribes with it.
  std::string role = session.role;
  auto ex = co_await asio::this_coro::executor;
  if (ex == app.core) co_return describe(*app.live, *plan, role);
  co_return co_await asio::co_spawn(
      app.core, describe_on_core(app, std::move(*plan), std::move(role)), asio::use_awaitable);
}

}  // namespace liveql::server
