// The two GraphQL websocket protocols as pure state machines: text frames in, actions out.
// No sockets, no clock: websocket_session.cpp executes the actions and feeds back timer and
// authentication outcomes, so every rule here is unit-tested without I/O.
//
//  graphql-transport-ws (the graphql-ws library, PROTOCOL.md): connection_init -> connection_ack,
//    ping/pong, subscribe -> next* (error + complete, as Hasura | complete), client complete.
//    Violations close the socket: 4400 bad message, 4401 subscribe before ack, 4403 init rejected,
//    4408 init timeout, 4409 "Subscriber for <id> already exists", 4429 "Too many initialisation
//    requests".
//  graphql-ws (Apollo subscriptions-transport-ws): connection_init -> connection_ack + ka (or
//    connection_error and close 4400), start -> data* (error | complete), stop,
//    connection_terminate. Bad messages get connection_error (the socket stays open) and bad
//    starts an `error` + `complete` for that id, as Hasura does. A second connection_init
//    closes with 4429 as in graphql-transport-ws (it would otherwise switch the identity of
//    the operations started after it).
// Messages are parsed with parse_json_message() (json_limits.hpp): nesting up to
// kMaxJsonDepth; deeper is a bad message whose reason says so.
// Without a known subprotocol the server speaks graphql-ws (Apollo), like Hasura.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"

namespace liveql::server {

enum class WsSubprotocol { kGraphqlTransportWs, kGraphqlWs };

struct SubprotocolChoice {
  WsSubprotocol protocol = WsSubprotocol::kGraphqlWs;
  // The value to send back in Sec-WebSocket-Protocol; empty when the client offered none we
  // know (a server must not answer with a protocol the client did not offer).
  std::string accept;
};

// From the Sec-WebSocket-Protocol request header (comma-separated list, in client preference).
SubprotocolChoice choose_subprotocol(std::string_view header);

// What the session must do, in order.
struct WsAction {
  enum class Kind {
    kSend,          // send `text`
    kClose,         // close with `code` and `reason`, then stop reading
    kAuthenticate,  // resolve the session from `headers` (connection_init payload.headers), then
                    // call on_authenticated()
    kStart,         // run operation `id` with `payload` ({query, variables, operationName})
    kStop,          // stop operation `id` (unsubscribe); send nothing
  };
  Kind kind = Kind::kSend;
  std::string text;
  uint16_t code = 0;
  std::string reason;
  std::string id;
  boost::json::object payload;
  std::map<std::string, std::string> headers;  // kAuthenticate: lower-cased names
};

// Error in Hasura's shape: {"message":..., "extensions":{"path":..., "code":...}}.
boost::json::object error_object(const Error& error);

// How errors inside messages look: GraphQL-compliant (/v1/graphql, error_object()) or Hasura's
// legacy {"path":..., "error":..., "code":...} (websockets on /v1alpha1/graphql).
enum class WsErrorFormat { kGraphql, kLegacy };

class WsProtocol {
 public:
  explicit WsProtocol(WsSubprotocol protocol, WsErrorFormat errors = WsErrorFormat::kGraphql)
      : protocol_(protocol), errors_(errors) {}

  WsSubprotocol protocol() const { return protocol_; }

  // A text frame from the client.
  std::vector<WsAction> on_text(std::string_view text);

  // The outcome of a kAuthenticate action.
  std::vector<WsAction> on_authenticated(const Status& status);

  // connection_init did not arrive in time.
  std::vector<WsAction> on_init_timeout();

  // Keep-alive tick: `ka` (Apollo) or a ping (graphql-transport-ws), once acknowledged.
  std::vector<WsAction> on_keepalive();

  // The credentials expired (JWT exp): close; the session unsubscribes everything.
  std::vector<WsAction> on_credentials_expired();

  // A message longer than the frame limit (read and discarded): close 1009, as RFC 6455 says.
  std::vector<WsAction> on_message_too_big(std::size_t limit);

  // Results of operation `id` (ignored, returning nothing, when `id` is no longer active).
  // `data_json` is the `data` object's JSON text.
  std::vector<WsAction> on_data(const std::string& id, std::string_view data_json);
  // An error ends the operation (it is no longer active afterwards): one found before anything
  // ran (parse, validation, permissions), as an `error` message followed, as Hasura does in both
  // protocols, by `complete`.
  std::vector<WsAction> on_error(const std::string& id, const Error& error);
  // A query or mutation that failed while its statements ran (a constraint violation, a failed
  // permission check; the transaction rolled back). graphql-ws (Apollo): as Hasura, a `data`
  // message {"data": null, "errors": [...]} then complete; graphql-transport-ws: on_error().
  std::vector<WsAction> on_execution_error(const std::string& id, const Error& error);
  // A successful end (a query after its single result): sends complete.
  std::vector<WsAction> on_complete(const std::string& id);

  bool acknowledged() const { return acked_; }
  bool closed() const { return closed_; }
  bool active(const std::string& id) const { return active_.count(id) != 0; }
  const std::set<std::string>& active_operations() const { return active_; }

 private:
  std::vector<WsAction> close(uint16_t code, std::string reason);
  std::vector<WsAction> bad_message(std::string why);
  std::vector<WsAction> start(std::string id, boost::json::object payload);
  std::vector<WsAction> start_error(const std::string& id, std::string message);
  boost::json::object error_json(const Error& error) const;

  WsSubprotocol protocol_;
  WsErrorFormat errors_;
  bool init_received_ = false;
  bool authenticating_ = false;
  bool acked_ = false;
  bool closed_ = false;
  std::optional<std::string> init_error_;  // Apollo: why connection_init failed
  std::set<std::string> active_;
};

// The pieces of a result message, so that a push is written as a buffer sequence without
// copying the shared result text: ws_data_prefix(protocol, id) + data + kWsDataSuffix is exactly
// on_data(id, data)'s text. The prefix depends only on the subscription: build it once.
std::string ws_data_prefix(WsSubprotocol protocol, const std::string& id);
inline constexpr std::string_view kWsDataSuffix = "}}";

// The keep-alive message of `protocol` (what on_keepalive() sends): built once, immutable, safe
// to share between sessions and threads.
const std::string& ws_keepalive_text(WsSubprotocol protocol);

// Encoders (exposed for tests).
std::string ws_message(std::string_view type);
std::string ws_message(std::string_view type, const std::string& id);
std::string ws_message(std::string_view type, const std::string& id,
                       const boost::json::value& payload);

}  // namespace liveql::server
