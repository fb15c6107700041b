// Entry point from the HTTP session into a WebSocket session (both GraphQL websocket
// protocols). Kept free of Beast types in other headers: only http_session.cpp includes this.
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "app.hpp"

namespace liveql::server {

// Takes over the stream after the HTTP session has read an upgrade request for /v1/graphql.
// Chooses the subprotocol from Sec-WebSocket-Protocol (graphql-transport-ws or graphql-ws),
// accepts, and runs the session until close. Returns immediately; the session keeps itself
// alive.
void start_websocket_session(App& app, boost::beast::tcp_stream stream,
                             boost::beast::http::request<boost::beast::http::string_body> request);

}  // namespace liveql::server
