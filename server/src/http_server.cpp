#include "http_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "graphql_http.hpp"
#include "liveql/base/text.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/server/config.hpp"
#include "websocket_session.hpp"

namespace liveql::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using tcp = asio::ip::tcp;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// An idle keep-alive connection, or a client that stalls mid-request, is closed after this.
constexpr std::chrono::seconds kIdleTimeout{60};

http::response<http::string_body> to_beast(HttpResponse r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "liveql");
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers) res.set(k, v);
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

// A request Beast could not read, by why: 431 for headers over the limit, 400 for a malformed
// request line, header or chunk. 0: nothing to answer (the peer closed, reset or stalled).
unsigned rejected_status(const beast::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::header_limit).category()) return 0;
  switch (static_cast<http::error>(ec.value())) {
    case http::error::header_limit:
      return 431;
    case http::error::bad_line_ending:
    case http::error::bad_method:
    case http::error::bad_target:
    case http::error::bad_version:
    case http::error::bad_field:
    case http::error::bad_value:
    case http::error::bad_content_length:
    case http::error::bad_transfer_encoding:
    case http::error::bad_chunk:
    case http::error::bad_chunk_extension:
    case http::error::bad_obs_fold:
    case http::error::multiple_content_length:
    case http::error::unexpected_body:
      return 400;
    default:
      return 0;
  }
}

Error rejection_error(App& app, unsigned status, const beast::error_code& ec) {
  if (status == 413) {
    return make_error(
        ErrorCode::kBadRequest,
        "request body is larger than " + std::to_string(app.config->max_body_bytes) + " bytes");
  }
  if (status == 431) {
    return make_error(ErrorCode::kBadRequest, "request header fields are larger than " +
                                                  std::to_string(app.config->max_header_bytes) +
                                                  " bytes");
  }
  return make_error(ErrorCode::kBadRequest, "malformed HTTP request (" + ec.message() + ")");
}

// After an error answer the rest of the request is unread. Closing now would make the kernel
// reset the connection, and the client could lose the answer with it; so stop sending, then
// read and discard what the client still sends, up to a bound, until it closes.
awaitable<void> linger_and_close(beast::tcp_stream& stream) {
  constexpr std::size_t kMaxDrain = 1 << 20;
  constexpr std::chrono::seconds kMaxLinger{2};
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(kMaxLinger);
  std::array<char, 16 * 1024> sink;
  std::size_t drained = 0;
  while (drained < kMaxDrain) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kUseTuple);
    if (ec) break;
    drained += n;
  }
  stream.socket().close(ignored);
}

void count(App& app, const std::string& path, unsigned status, double seconds) {
  if (app.metrics == nullptr) return;
  app.metrics->inc("liveql_http_requests_total", 1,
                   {{"path", path}, {"status", std::to_string(status)}});
  app.metrics->observe("liveql_http_request_duration_seconds", seconds, {{"path", path}});
}

// Keeps the metric's label set small: known endpoints by name (the console's files as one),
// the rest as "other".
std::string route_label(std::string_view target) {
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  for (std::string_view known : {"/v1/graphql", "/v1alpha1/graphql", "/v1beta1/relay",
                                 "/v1/graphql/explain", "/healthz", "/metrics", "/v1/version",
                                 "/v1/live/cohorts", "/v1/live/tables", "/v1/live/explain", "/"}) {
    if (target == known) return std::string(known);
  }
  if (target == "/console" || target.starts_with("/console/")) return "/console";
  return "other";
}

// Counts a request in App::http_requests_in_flight for its lifetime (a stopping server waits
// for them), also when the coroutine frame is destroyed mid-request.
class InFlight {
 public:
  explicit InFlight(App& app) : app_(app) { ++app_.http_requests_in_flight; }
  ~InFlight() { --app_.http_requests_in_flight; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  App& app_;
};

// Completes when the client closes the connection (end of stream, reset) while its request is
// handled; http_session then cancels the handler, and with it any statement it runs
// (PgPool::query's cancellation slot: PQcancel). Bytes of a pipelined next request are no
// close: it then waits to be cancelled. A client that half-closes after its request looks the
// same as one that left; HTTP/1.1 clients do not do that.
awaitable<void> client_closed(tcp::socket& socket) {
  for (;;) {
    auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, kUseTuple);
    if (ec) co_return;
    char byte = 0;
    auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) co_return;
    if (n > 0) {
      asio::steady_timer never(socket.get_executor(), asio::steady_timer::time_point::max());
      co_await never.async_wait(kUseTuple);
      co_return;
    }
  }
}

awaitable<void> http_session(App& app, IoThread& io, beast::tcp_stream stream) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(app.config->max_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(app.config->max_header_bytes, UINT32_MAX)));
    stream.expires_after(kIdleTimeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kUseTuple);
    if (ec) {
      // Oversized or malformed: answer in Hasura's error shape, then close (the rest of the
      // request is unread, so the connection cannot be reused). Otherwise (end of stream,
      // timeout, reset) there is no one to answer.
      unsigned status = ec == http::error::body_limit ? 413 : rejected_status(ec);
      if (status == 0) break;
      Error e = rejection_error(app, status, ec);
      HttpResponse r{status,
                     "application/json; charset=utf-8",
                     status == 413 ? graphql_error_body(e) : plain_error_body(e),
                     {}};
      auto res = to_beast(std::move(r), parser.get().version(), false);
      count(app, status == 413 ? route_label(parser.get().target()) : "other", status, 0);
      stream.expires_after(kIdleTimeout);
      auto [wec, wn] = co_await http::async_write(stream, res, kUseTuple);
      if (!wec) co_await linger_and_close(stream);
      co_return;
    }

    auto started = std::chrono::steady_clock::now();
    http::request<http::string_body> req = parser.release();
    if (beast::websocket::is_upgrade(req)) {
      if (auto label = route_label(req.target());
          label == "/v1/graphql" || label == "/v1alpha1/graphql" || label == "/v1beta1/relay") {
        stream.expires_never();
        start_websocket_session(app, io, std::move(stream), std::move(req));
        co_return;
      }
      HttpResponse r;
      r.status = 404;
      r.body = plain_error_body(make_error(ErrorCode::kNotFound, "resource does not exist"));
      auto res = to_beast(std::move(r), req.version(), false);
      co_await http::async_write(stream, res, kUseTuple);
      break;
    }

    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    for (const auto& field : req) {
      request.headers[ascii_lower(field.name_string())] = std::string(field.value());
    }
    request.body = std::move(req.body());
    std::string label = route_label(request.target);

    HttpResponse r;
    {
      InFlight counted(app);
      auto ex = co_await asio::this_coro::executor;
      auto [order, handler_error, response, closed_error] =
          co_await asio::experimental::make_parallel_group(
              asio::co_spawn(ex, handle_http(app, std::move(request)), asio::deferred),
              asio::co_spawn(ex, client_closed(stream.socket()), asio::deferred))
              .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
      if (order[0] == 1) break;  // the client left: the handler was cancelled, nobody to answer
      if (handler_error) std::rethrow_exception(handler_error);
      r = std::move(response);
    }
    // A stopping server answers what it has read, then closes the connection.
    bool keep_alive = req.keep_alive() && !app.stopping;
    unsigned status = r.status;
    auto res = to_beast(std::move(r), req.version(), keep_alive);
    stream.expires_after(kIdleTimeout);
    auto [wec, wn] = co_await http::async_write(stream, res, kUseTuple);
    count(app, label, status,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (wec || !keep_alive) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

void log_task_exception(App& app, const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{}: uncaught exception: {}", what, ex.what());
  } catch (...) {
    spdlog::error("{}: uncaught exception", what);
  }
  if (app.metrics) app.metrics->inc("liveql_task_exceptions_total", 1, {{"task", what}});
}

awaitable<void> run_listener(App& app, tcp::acceptor& acceptor, IoThreads& io) {
  for (;;) {
    IoThread& thread = io.next();
    auto [ec, socket] = co_await acceptor.async_accept(thread.context(), kUseTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: keep accepting, the condition is usually transient.
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(thread.executor(),
                   http_session(app, thread, beast::tcp_stream(std::move(socket))),
                   [&app](std::exception_ptr e) { log_task_exception(app, "http session", e); });
  }
}

}  // namespace liveql::server
