// The HTTP endpoints, free of Beast: a request (method, target, lower-cased headers, body) in,
// a response (status, headers, body) out. http_server.cpp does the socket side.
//
// Runs on the session's I/O thread (io_threads.hpp); operations (operation_runner.hpp) and the
// endpoints that read the live core (/healthz, /v1/live/*) hop to the core and back. Errors follow
// Hasura v2: /v1/graphql answers 200 with {"errors":[{"message","extensions":{"path","code"}}]} for
// every GraphQL, JSON and auth error; other endpoints answer {"path","error","code"} with a 4xx
// status.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "app.hpp"
#include "liveql/base/result.hpp"

namespace liveql::server {

using Headers = std::map<std::string, std::string>;  // names lower-cased

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query string
  Headers headers;
  std::string body;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// {"errors":[{"message":..,"extensions":{"path":..,"code":..}}]}
std::string graphql_error_body(const Error& error);
// {"path":..,"error":..,"code":..}
std::string plain_error_body(const Error& error);
// The HTTP status of an error where the status carries it (/v1alpha1/graphql, as Hasura's):
// 401 access-denied, 500 database connection/unexpected failures, 400 otherwise.
unsigned error_http_status(ErrorCode code);

// Routes one request: POST /v1/graphql (and /v1alpha1/graphql), POST /v1/graphql/explain, POST
// /v1/live/explain (admin, live_plan.hpp), GET /healthz, GET /metrics, GET /v1/version, GET
// /v1/live/cohorts (admin), OPTIONS (CORS preflight); with App::console set, GET /console[/file]
// (console.hpp; index.html for /console) and GET / (307 to /console); 404 otherwise.
//
// POST /v1/graphql takes one operation ({query, variables, operationName}) or a batch: a JSON
// array of them, answered with an array holding each operation's own {data} or {errors}, run
// in order. A batch fails as a whole (one error object, as Hasura) when it has more than
// Config::max_batch_size operations (validation-failed), an element is not an operation
// (parse-failed, path "$[i]"), or the credentials are refused. Bodies may nest JSON up to
// kMaxJsonDepth (json_limits.hpp).
// GET /metrics: with Config::metrics_secret set, only with `Authorization: Bearer <secret>`
// (else 401, access-denied).
boost::asio::awaitable<HttpResponse> handle_http(App& app, HttpRequest request);

}  // namespace liveql::server
