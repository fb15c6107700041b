// Entry point from the HTTP session into a WebSocket session (both GraphQL websocket
// protocols). Kept free of Beast types in other headers: only http_session.cpp includes this.
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "app.hpp"
#include "io_threads.hpp"

namespace liveql::server {

// Takes over the stream after the HTTP session has read an upgrade request for /v1/graphql.
// Chooses the subprotocol from Sec-WebSocket-Protocol (graphql-transport-ws or graphql-ws),
// accepts, and runs the session until close. Returns immediately; the session keeps itself
// alive. Called on `io`'s thread, where the session then runs (io_threads.hpp). A result push
// is written as the subscription's prefix + the shared result text + suffix (no copy), one write
// in flight, queued results of one subscription coalescing to the latest; keep-alives come from
// io's KeepaliveTicker as one prebuilt message. Messages up to 64 KB are framed by the session
// and written directly: one non-blocking sendmsg for everything queued, Beast's writes after the
// peer's first websocket ping. The idle timeout (a websocket ping after 150 s without data from
// the peer, the connection dropped after 300 s; LIVEQL_WS_IDLE_TIMEOUT_SECONDS) runs from the
// KeepaliveTicker too.
void start_websocket_session(App& app, IoThread& io, boost::beast::tcp_stream stream,
                             boost::beast::http::request<boost::beast::http::string_body> request);

}  // namespace liveql::server
