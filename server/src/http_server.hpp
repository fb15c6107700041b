// The socket side of HTTP: accepts connections and runs one session coroutine per connection
// (keep-alive, one request at a time). Requests go to handle_http() (graphql_http.hpp);
// WebSocket upgrades on /v1/graphql and /v1alpha1/graphql go to start_websocket_session()
// (websocket_session.hpp). Requests that cannot be read are answered, then the connection is
// closed: 413 for a body over Config::max_body_bytes, 431 for a request line plus headers over
// Config::max_header_bytes, 400 for a malformed request line, header (bad characters, NUL) or
// chunk; with a JSON error body ({"path","error","code"}; 413 in the GraphQL error shape).
//
// The listener runs on the core; each accepted connection is handed to an I/O thread
// (IoThreads::next(), io_threads.hpp) and its session runs there. Every spawned coroutine's
// completion handler logs and counts an escaped exception (metric liveql_task_exceptions_total).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "app.hpp"
#include "io_threads.hpp"

namespace liveql::server {

// Accepts on `acceptor` until it is closed or the coroutine is destroyed. `app`, `acceptor` and
// `io` must outlive it.
boost::asio::awaitable<void> run_listener(App& app, boost::asio::ip::tcp::acceptor& acceptor,
                                          IoThreads& io);

// The completion handler for co_spawn: logs `what` with the exception and counts it.
void log_task_exception(App& app, const char* what, std::exception_ptr e);

}  // namespace liveql::server
