#include "graphql_http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>

#include "auth.hpp"
#include "core_query.hpp"
#include "json_limits.hpp"
#include "liveql/base/text.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/live/change_feed.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/server/config.hpp"
#include "liveql/state/state_store.hpp"

namespace liveql::server {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;

constexpr const char* kVersion = "0.1.0";
constexpr std::string_view kExplainPrefix = "EXPLAIN ";

HttpResponse json_response(unsigned status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse graphql_error(const Error& e) { return json_response(200, graphql_error_body(e)); }

HttpResponse plain_error(unsigned status, const Error& e) {
  return json_response(status, plain_error_body(e));
}

struct GraphqlBody {
  std::string query;
  json::object variables;
  std::optional<std::string> operation_name;
};

// Reads {query, variables, operationName} with Hasura's errors for missing or mistyped keys.
Result<GraphqlBody> read_graphql_body(const json::value& v, const std::string& path) {
  if (!v.is_object()) {
    return make_error(
        ErrorCode::kParseFailed,
        "expected Object, but encountered " + std::string(v.is_array()    ? "Array"
                                                          : v.is_string() ? "String"
                                                                          : "a scalar"),
        path);
  }
  const auto& o = v.get_object();
  GraphqlBody out;
  const json::value* q = o.if_contains("query");
  if (q == nullptr) return make_error(ErrorCode::kParseFailed, "key \"query\" not found", path);
  if (!q->is_string()) {
    return make_error(ErrorCode::kParseFailed, "expected String for \"query\"", path + ".query");
  }
  out.query = std::string(q->get_string());
  if (const json::value* vars = o.if_contains("variables"); vars && !vars->is_null()) {
    if (!vars->is_object()) {
      return make_error(ErrorCode::kParseFailed, "expected Object for \"variables\"",
                        path + ".variables");
    }
    out.variables = vars->get_object();
  }
  if (const json::value* name = o.if_contains("operationName"); name && !name->is_null()) {
    if (!name->is_string()) {
      return make_error(ErrorCode::kParseFailed, "expected String for \"operationName\"",
                        path + ".operationName");
    }
    out.operation_name = std::string(name->get_string());
  }
  return out;
}

// What a client sees of a failed statement: data exceptions (bad input values) verbatim, other
// database errors only as a generic message unless the caller is admin, since they can reveal
// the schema or the generated SQL.
Error query_error(Error e, const compiler::Session& session) {
  e.path = "$";
  if ((e.code == ErrorCode::kPostgresError || e.code == ErrorCode::kConnectionLost) &&
      !session.is_admin) {
    e.message = "database query error";
  }
  return e;
}

bool path_is(const std::string& target, std::string_view path) {
  std::string_view t = target;
  if (auto q = t.find('?'); q != std::string_view::npos) t = t.substr(0, q);
  return t == path;
}

// One /v1/graphql operation up to the point where it needs the database: either the answer, or
// the statement to run. Kept out of the coroutine (GCC 12 miscompiles string literals bound to
// reference parameters inside coroutine bodies).
struct PreparedGraphql {
  std::optional<HttpResponse> answer;
  std::string sql;
  std::string vars;
};

PreparedGraphql prepare_operation(App& app, GraphqlBody gql, const compiler::Session& session) {
  PreparedGraphql p;
  compiler::Request req{gql.query, std::move(gql.variables), gql.operation_name};
  auto op = compiler::compile(*app.schema, req, session, app.limits);
  if (!op) {
    p.answer = graphql_error(op.error());
  } else if (op->type == gql::OperationType::kSubscription) {
    p.answer = graphql_error(make_error(
        ErrorCode::kNotSupported, "subscriptions are not supported over HTTP, use websockets"));
  } else if (op->static_data) {
    p.answer = json_response(200, json::serialize(json::object{{"data", *op->static_data}}));
  } else {
    p.sql = sql::single_query(op->ir);
    p.vars = json::serialize(op->vars);
  }
  return p;
}

// A whole POST /v1/graphql body: one operation (an object) or a batch (an array of them, as
// Hasura and apollo-link-batch-http send). `answer` is set when the request fails as a whole
// (not JSON, a malformed element, over --max-batch-size, bad credentials): one error object,
// not an array, as Hasura answers.
struct PreparedRequest {
  std::optional<HttpResponse> answer;
  bool batched = false;
  std::vector<PreparedGraphql> operations;
  compiler::Session session;
};

PreparedRequest prepare_request(App& app, const HttpRequest& request) {
  PreparedRequest p;
  auto body = parse_client_json(request.body);
  if (!body) {
    p.answer = graphql_error(body.error());
    return p;
  }
  std::vector<GraphqlBody> bodies;
  if (const json::array* batch = body->if_array()) {
    p.batched = true;
    const size_t limit = app.config ? app.config->max_batch_size : 20;
    if (batch->size() > limit) {
      p.answer = graphql_error(make_error(ErrorCode::kValidationFailed,
                                          "the batch has " + std::to_string(batch->size()) +
                                              " operations, more than the limit of " +
                                              std::to_string(limit) + " (--max-batch-size)"));
      return p;
    }
    for (size_t i = 0; i < batch->size(); ++i) {
      auto gql = read_graphql_body((*batch)[i], "$[" + std::to_string(i) + "]");
      if (!gql) {
        p.answer = graphql_error(gql.error());
        return p;
      }
      bodies.push_back(std::move(*gql));
    }
  } else {
    auto gql = read_graphql_body(*body, "$");
    if (!gql) {
      p.answer = graphql_error(gql.error());
      return p;
    }
    bodies.push_back(std::move(*gql));
  }
  auto session = resolve_session(request.headers, *app.auth);
  if (!session) {
    p.answer = graphql_error(session.error());
    return p;
  }
  p.session = std::move(*session);
  for (auto& gql : bodies)
    p.operations.push_back(prepare_operation(app, std::move(gql), p.session));
  return p;
}

HttpResponse graphql_result(Result<live::QueryResult> result, const compiler::Session& session) {
  if (!result) return graphql_error(query_error(result.take_error(), session));
  int data_col = result->column_index("data");
  if (result->rows.size() != 1 || data_col < 0) {
    return graphql_error(make_error(ErrorCode::kUnexpected, "unexpected query result shape"));
  }
  const auto& data = result->rows[0][static_cast<size_t>(data_col)];
  // Postgres already produced the JSON text of `data`: splice it instead of re-serializing.
  std::string out;
  out.reserve((data ? data->size() : 4) + 16);
  out += "{\"data\":";
  out += data ? *data : std::string("null");
  out += '}';
  return json_response(200, std::move(out));
}

// A batch's answer: the elements' bodies (each {"data"} or {"errors"}) as one JSON array.
HttpResponse batch_response(const std::vector<HttpResponse>& parts) {
  std::string out = "[";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += ',';
    out += parts[i].body;
  }
  out += ']';
  return json_response(200, std::move(out));
}

// A batch runs its operations one after another, in order, as Hasura does: a batch never holds
// more than one pool connection (so it cannot starve other clients), and once mutations exist
// a later operation sees the effects of an earlier one.
awaitable<HttpResponse> graphql(App& app, const HttpRequest& request) {
  PreparedRequest p = prepare_request(app, request);
  if (p.answer) co_return std::move(*p.answer);
  std::vector<HttpResponse> parts;
  parts.reserve(p.operations.size());
  for (auto& op : p.operations) {
    if (op.answer) {
      parts.push_back(std::move(*op.answer));
      continue;
    }
    // GCC 12 cannot keep an initializer_list's array in a coroutine frame: no braces here.
    std::vector<std::optional<std::string>> params(1, std::move(op.vars));
    auto result = co_await query_on_core(app, std::move(op.sql), std::move(params));
    parts.push_back(graphql_result(std::move(result), p.session));
  }
  if (!p.batched) co_return std::move(parts.front());
  co_return batch_response(parts);
}

// Whether the request's own credentials make it an admin request.
Result<bool> is_admin_request(App& app, const Headers& headers) {
  auto session = resolve_session(headers, *app.auth);
  if (!session) return session.take_error();
  return session->is_admin;
}

Error admin_only() {
  return make_error(ErrorCode::kAccessDenied, "restricted access : admin only");
}

// An explain request compiled: the statements to EXPLAIN, one per root field (empty sql for
// fields that need none), or the answer when it failed early.
struct PreparedExplain {
  std::optional<HttpResponse> answer;
  std::vector<std::pair<std::string, std::string>> fields;  // (response key, sql)
  std::string vars;
  compiler::Session session;
};

PreparedExplain prepare_explain(App& app, const HttpRequest& request) {
  PreparedExplain p;
  auto fail = [&p](unsigned status, const Error& e) {
    p.answer = plain_error(status, e);
    return std::move(p);
  };
  auto admin = is_admin_request(app, request.headers);
  if (!admin) return fail(400, admin.error());
  if (!*admin) return fail(400, admin_only());

  auto parsed = parse_client_json(request.body);
  if (!parsed) return fail(400, parsed.error());
  const json::value& body = *parsed;
  if (!body.is_object() || !body.get_object().contains("query")) {
    return fail(400, make_error(ErrorCode::kParseFailed, "key \"query\" not found"));
  }
  auto gql = read_graphql_body(body.get_object().at("query"), "$.query");
  if (!gql) return fail(400, gql.error());

  // The session to explain for comes from `user` (trusted: the caller is admin).
  compiler::Session& session = p.session;
  if (const json::value* user = body.get_object().if_contains("user"); user && !user->is_null()) {
    if (!user->is_object()) {
      return fail(400,
                  make_error(ErrorCode::kParseFailed, "expected Object for \"user\"", "$.user"));
    }
    for (const auto& [k, v] : user->get_object()) {
      std::string key = ascii_lower(k);
      if (!v.is_string()) continue;
      std::string value(v.get_string());
      if (key == "x-hasura-role") {
        session.role = value;
        session.is_admin = value == "admin";
      } else if (key.rfind("x-hasura-", 0) == 0) {
        session.variables[key] = value;
      }
    }
  }

  compiler::Request req{gql->query, std::move(gql->variables), gql->operation_name};
  auto op = compiler::compile(*app.schema, req, session, app.limits);
  if (!op) return fail(400, op.error());
  p.vars = json::serialize(op->vars);
  for (const auto& field : op->ir.fields) {
    std::string sql;
    if (field.kind != ir::RootField::Kind::kStatic) {
      ir::Operation one;
      one.fields.push_back(field);
      sql = sql::single_query(one);
    }
    p.fields.emplace_back(field.alias, std::move(sql));
  }
  return p;
}

json::object explain_entry(const std::string& field, const std::string& sql,
                           const std::string& vars, const live::QueryResult* plan) {
  json::array lines;
  if (plan) {
    for (const auto& row : plan->rows) {
      if (!row.empty() && row[0]) lines.push_back(json::string(*row[0]));
    }
  }
  json::array params;
  if (!sql.empty()) params.push_back(json::string(vars));
  return json::object{{"field", field}, {"sql", sql}, {"params", params}, {"plan", lines}};
}

awaitable<HttpResponse> explain(App& app, const HttpRequest& request) {
  PreparedExplain p = prepare_explain(app, request);
  if (p.answer) co_return std::move(*p.answer);
  json::array out;
  for (const auto& [field, sql] : p.fields) {
    if (sql.empty()) {
      out.push_back(explain_entry(field, sql, p.vars, nullptr));
      continue;
    }
    std::vector<std::optional<std::string>> params(1, p.vars);
    auto plan = co_await query_on_core(app, std::string(kExplainPrefix) + sql, std::move(params));
    if (!plan) co_return plain_error(400, query_error(plan.take_error(), p.session));
    out.push_back(explain_entry(field, sql, p.vars, &*plan));
  }
  co_return json_response(200, json::serialize(out));
}

}  // namespace

std::string graphql_error_body(const Error& e) {
  json::object ext{{"path", e.path}, {"code", error_code_name(e.code)}};
  json::object err{{"message", e.message}, {"extensions", std::move(ext)}};
  return json::serialize(json::object{{"errors", json::array{std::move(err)}}});
}

std::string plain_error_body(const Error& e) {
  return json::serialize(
      json::object{{"path", e.path}, {"error", e.message}, {"code", error_code_name(e.code)}});
}

namespace {

enum class Route { kGraphql, kExplain, kOther };

Route route_of(const HttpRequest& request) {
  if (request.method != "POST") return Route::kOther;
  if (path_is(request.target, "/v1/graphql")) return Route::kGraphql;
  if (path_is(request.target, "/v1/graphql/explain")) return Route::kExplain;
  return Route::kOther;
}

// GET /v1/live/tables: every tracked table's live mode (metadata, operator override, effective).
// POST /v1/live/tables {"table": "schema.table", "mode": "event" | "poll" | "default"}: the
// operator's override, saved in the state dir and applied to every cohort at once; "default"
// removes it. Answers with the tables as GET does.
HttpResponse live_tables(App& app, const HttpRequest& request) {
  if (app.feed == nullptr) {
    return plain_error(400, make_error(ErrorCode::kNotSupported, "event mode is not running"));
  }
  if (request.method == "POST") {
    auto bad = [](std::string why) {
      return plain_error(400, make_error(ErrorCode::kBadRequest, std::move(why)));
    };
    auto body = parse_client_json(request.body);
    const json::object* o = body ? body->if_object() : nullptr;
    const json::value* table = o ? o->if_contains("table") : nullptr;
    const json::value* mode = o ? o->if_contains("mode") : nullptr;
    if (!table || !table->is_string() || !mode || !mode->is_string()) {
      return bad(R"(expected {"table": "schema.table", "mode": "event" | "poll" | "default"})");
    }
    std::string_view mode_text = mode->get_string();
    std::optional<state::TableMode> parsed;
    if (mode_text != "default") {
      parsed = state::parse_table_mode(mode_text);
      if (!parsed) return bad("mode must be \"event\", \"poll\" or \"default\"");
    }
    auto set = app.feed->set_table_mode(std::string(table->get_string()), parsed);
    if (!set.ok()) return plain_error(400, set.error());
  }
  HttpResponse response;
  response.body = json::serialize(app.feed->tables_json());
  return response;
}

// Every endpoint that needs no database round trip.
HttpResponse handle_simple(App& app, const HttpRequest& request) {
  const std::string& m = request.method;
  const std::string& t = request.target;
  HttpResponse response;
  if (m == "OPTIONS") {
    response.status = 204;
    response.content_type.clear();
    response.headers = {{"Access-Control-Allow-Methods", "GET,POST,OPTIONS"},
                        {"Access-Control-Allow-Headers", "*"},
                        {"Access-Control-Max-Age", "1728000"}};
  } else if (m == "GET" && path_is(t, "/healthz")) {
    response.content_type = "text/plain; charset=utf-8";
    if (!app.health_message.empty()) {
      response.status = 500;
      response.body = app.health_message;
    } else if (app.feed && !app.feed->health_message().empty()) {
      // Polling still serves every subscription correctly: a warning, not a failure.
      response.body = "WARN: " + app.feed->health_message();
    } else {
      response.body = "OK";
    }
  } else if (m == "GET" && path_is(t, "/metrics")) {
    if (app.config && !app.config->metrics_secret.empty() &&
        !bearer_token_matches(request.headers, app.config->metrics_secret)) {
      response =
          plain_error(401, make_error(ErrorCode::kAccessDenied,
                                      "/metrics requires Authorization: Bearer <metrics secret>"));
      response.headers.emplace_back("WWW-Authenticate", "Bearer");
    } else {
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      if (app.metrics) response.body = app.metrics->render_prometheus();
    }
  } else if (m == "GET" && path_is(t, "/v1/version")) {
    response.body = json::serialize(json::object{{"version", kVersion}});
  } else if ((m == "GET" && path_is(t, "/v1/live/cohorts")) ||
             ((m == "GET" || m == "POST") && path_is(t, "/v1/live/tables"))) {
    auto admin = is_admin_request(app, request.headers);
    if (!admin) {
      response = plain_error(400, admin.error());
    } else if (!*admin) {
      response = plain_error(400, admin_only());
    } else if (path_is(t, "/v1/live/cohorts")) {
      response.body = app.live ? json::serialize(app.live->cohorts_json()) : "[]";
    } else {
      response = live_tables(app, request);
    }
  } else {
    response = plain_error(404, make_error(ErrorCode::kNotFound, "resource does not exist"));
  }
  return response;
}

awaitable<HttpResponse> simple(App& app, HttpRequest request) {
  co_return handle_simple(app, request);
}

// The endpoints without a statement read or change the core's state (LiveQueries, ChangeFeed):
// they run on the core.
awaitable<HttpResponse> simple_on_core(App& app, HttpRequest request) {
  auto ex = co_await boost::asio::this_coro::executor;
  if (ex == app.core) co_return handle_simple(app, request);
  co_return co_await boost::asio::co_spawn(app.core, simple(app, std::move(request)),
                                           boost::asio::use_awaitable);
}

void add_cors(HttpResponse& response) {
  response.headers.emplace_back("Access-Control-Allow-Origin", "*");
}

}  // namespace

awaitable<HttpResponse> handle_http(App& app, HttpRequest request) {
  HttpResponse response;
  switch (route_of(request)) {
    case Route::kGraphql:
      response = co_await graphql(app, request);
      break;
    case Route::kExplain:
      response = co_await explain(app, request);
      break;
    case Route::kOther:
      response = co_await simple_on_core(app, std::move(request));
      break;
  }
  add_cors(response);
  co_return response;
}

}  // namespace liveql::server
