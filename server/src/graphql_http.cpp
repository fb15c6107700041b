#include "graphql_http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>

#include "auth.hpp"
#include "console.hpp"
#include "graphql_explain.hpp"
#include "json_limits.hpp"
#include "live_plan.hpp"
#include "liveql/base/text.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/live/change_feed.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/server/config.hpp"
#include "liveql/state/state_store.hpp"
#include "operation_runner.hpp"

namespace liveql::server {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;

constexpr const char* kVersion = "0.1.0";

HttpResponse json_response(unsigned status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse graphql_error(const Error& e) { return json_response(200, graphql_error_body(e)); }

// The GraphQL endpoints. /v1alpha1/graphql is Hasura's older address of the same API: the same
// operations and bodies, but an error answers with its HTTP status (400, 401, 500) where
// /v1/graphql answers every GraphQL error with 200.
enum class Endpoint { kV1, kV1Alpha1, kRelay };  // kRelay: /v1beta1/relay, answered as kV1

HttpResponse graphql_error(const Error& e, Endpoint endpoint) {
  HttpResponse r = graphql_error(e);
  if (endpoint == Endpoint::kV1Alpha1) r.status = error_http_status(e.code);
  return r;
}

HttpResponse plain_error(unsigned status, const Error& e) {
  return json_response(status, plain_error_body(e));
}

// Reads {query, variables, operationName} with Hasura's errors for missing or mistyped keys.
Result<OperationRequest> read_graphql_body(const json::value& v, const std::string& path) {
  if (!v.is_object()) {
    return make_error(
        ErrorCode::kParseFailed,
        "expected Object, but encountered " + std::string(v.is_array()    ? "Array"
                                                          : v.is_string() ? "String"
                                                                          : "a scalar"),
        path);
  }
  const auto& o = v.get_object();
  OperationRequest out;
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

bool path_is(const std::string& target, std::string_view path) {
  std::string_view t = target;
  if (auto q = t.find('?'); q != std::string_view::npos) t = t.substr(0, q);
  return t == path;
}

// A whole POST /v1/graphql body: one operation (an object) or a batch (an array of them, as
// Hasura and apollo-link-batch-http send). `answer` is set when the request fails as a whole
// (not JSON, a malformed element, over --max-batch-size, bad credentials): one error object,
// not an array, as Hasura answers. Kept out of the coroutine (GCC 12 miscompiles string
// literals bound to reference parameters inside coroutine bodies).
struct PreparedRequest {
  std::optional<HttpResponse> answer;
  bool batched = false;
  std::vector<OperationRequest> operations;
  compiler::Session session;
};

PreparedRequest prepare_request(App& app, const HttpRequest& request, Endpoint endpoint) {
  PreparedRequest p;
  auto graphql_error = [endpoint](const Error& e) { return server::graphql_error(e, endpoint); };
  auto body = parse_client_json(request.body);
  if (!body) {
    p.answer = graphql_error(body.error());
    return p;
  }
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
      p.operations.push_back(std::move(*gql));
    }
  } else {
    auto gql = read_graphql_body(*body, "$");
    if (!gql) {
      p.answer = graphql_error(gql.error());
      return p;
    }
    p.operations.push_back(std::move(*gql));
  }
  auto session = resolve_session(request.headers, *app.auth);
  if (!session) {
    p.answer = graphql_error(session.error());
    return p;
  }
  p.session = std::move(*session);
  return p;
}

// {"data": <data>} around the runner's `data` text, or its error.
HttpResponse graphql_result(const Result<std::string>& data, Endpoint endpoint) {
  if (!data) return graphql_error(data.error(), endpoint);
  std::string out;
  out.reserve(data->size() + 16);
  out += "{\"data\":";
  out += *data;
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
awaitable<HttpResponse> graphql(App& app, const HttpRequest& request, Endpoint endpoint) {
  PreparedRequest p = prepare_request(app, request, endpoint);
  if (p.answer) co_return std::move(*p.answer);
  std::vector<HttpResponse> parts;
  parts.reserve(p.operations.size());
  for (auto& op : p.operations) {
    op.relay = endpoint == Endpoint::kRelay;
    auto data = co_await run_operation(app, p.session, std::move(op));
    parts.push_back(graphql_result(data, endpoint));
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

// An explain request up to compiling: the operation and the session to explain it for, or the
// answer when it failed early.
struct PreparedExplain {
  std::optional<HttpResponse> answer;
  OperationRequest operation;
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
  p.operation = std::move(*gql);

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
  return p;
}

awaitable<HttpResponse> explain(App& app, const HttpRequest& request) {
  PreparedExplain p = prepare_explain(app, request);
  if (p.answer) co_return std::move(*p.answer);
  auto out = co_await explain_graphql(app, std::move(p.session), std::move(p.operation));
  if (!out) co_return plain_error(400, out.error());
  co_return json_response(200, std::move(*out));
}

awaitable<HttpResponse> explain_subscription(App& app, const HttpRequest& request) {
  PreparedExplain p = prepare_explain(app, request);
  if (p.answer) co_return std::move(*p.answer);
  auto out = co_await explain_live(app, std::move(p.session), std::move(p.operation));
  if (!out) co_return plain_error(400, out.error());
  co_return json_response(200, std::move(*out));
}

// Headers of every console file: the page runs no inline script and talks to this origin only
// (connect-src 'self' covers its websocket in current browsers); nothing may frame it.
void add_console_headers(HttpResponse& r) {
  r.headers = {{"Cache-Control", "no-cache"},
               {"X-Content-Type-Options", "nosniff"},
               {"X-Frame-Options", "DENY"},
               {"Referrer-Policy", "no-referrer"},
               {"Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}};
}

// GET / and GET /console[/file] when the console is enabled (console.hpp); nullopt for every
// other request (a disabled console answers 404 like any unknown path).
std::optional<HttpResponse> console_request(const App& app, const HttpRequest& request) {
  if (app.console == nullptr || request.method != "GET") return std::nullopt;
  std::string_view path = request.target;
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  HttpResponse r;
  if (path == "/") {
    r.status = 307;
    r.content_type.clear();
    r.headers = {{"Location", "/console"}};
    return r;
  }
  constexpr std::string_view kPrefix = "/console";
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view file = path.substr(kPrefix.size());
  if (!file.empty() && file.front() != '/') return std::nullopt;  // "/consoles": not ours
  if (!file.empty()) file.remove_prefix(1);
  if (file.empty()) file = "index.html";
  const ConsoleAssets::File* found = app.console->find(file);
  if (found == nullptr) {
    return plain_error(404, make_error(ErrorCode::kNotFound, "resource does not exist"));
  }
  r.content_type = found->content_type;
  r.body = found->body;
  add_console_headers(r);
  return r;
}

}  // namespace

std::string graphql_error_body(const Error& e) {
  json::object ext{{"path", e.path}, {"code", error_code_name(e.code)}};
  json::object err{{"message", e.message}, {"extensions", std::move(ext)}};
  return json::serialize(json::object{{"errors", json::array{std::move(err)}}});
}

unsigned error_http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kAccessDenied:
      return 401;
    case ErrorCode::kPostgresError:
    case ErrorCode::kConnectionLost:
    case ErrorCode::kQueryTimeout:
    case ErrorCode::kUnexpected:
      return 500;
    default:
      return 400;
  }
}

std::string plain_error_body(const Error& e) {
  return json::serialize(
      json::object{{"path", e.path}, {"error", e.message}, {"code", error_code_name(e.code)}});
}

namespace {

enum class Route { kGraphql, kGraphqlV1Alpha1, kExplain, kLiveExplain, kOther, kRelay };

Route route_of(const HttpRequest& request) {
  if (request.method != "POST") return Route::kOther;
  if (path_is(request.target, "/v1/graphql")) return Route::kGraphql;
  if (path_is(request.target, "/v1alpha1/graphql")) return Route::kGraphqlV1Alpha1;
  if (path_is(request.target, "/v1beta1/relay")) return Route::kRelay;
  if (path_is(request.target, "/v1/graphql/explain")) return Route::kExplain;
  if (path_is(request.target, "/v1/live/explain")) return Route::kLiveExplain;
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
    std::optional<LiveMode> parsed;
    if (mode_text != "default") {
      parsed = parse_live_mode(mode_text);
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
    } else if (app.schema && !compiler::inconsistent_objects(*app.schema).empty()) {
      // Hasura's answer: served, without the inconsistent objects (logged at startup).
      response.body = "WARN: inconsistent objects in schema";
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
  // The console's files are immutable: served on this thread, without CORS (same origin only).
  if (auto console = console_request(app, request)) co_return std::move(*console);
  HttpResponse response;
  switch (route_of(request)) {
    case Route::kGraphql:
      response = co_await graphql(app, request, Endpoint::kV1);
      break;
    case Route::kGraphqlV1Alpha1:
      response = co_await graphql(app, request, Endpoint::kV1Alpha1);
      break;
    case Route::kRelay:
      response = co_await graphql(app, request, Endpoint::kRelay);
      break;
    case Route::kExplain:
      response = co_await explain(app, request);
      break;
    case Route::kLiveExplain:
      response = co_await explain_subscription(app, request);
      break;
    case Route::kOther:
      response = co_await simple_on_core(app, std::move(request));
      break;
  }
  add_cors(response);
  co_return response;
}

}  // namespace liveql::server
