#include "ws_protocol.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cmath>

#include "json_limits.hpp"
#include "liveql/base/text.hpp"

namespace liveql::server {
namespace {

namespace json = boost::json;

constexpr size_t kMaxCloseReason = 123;  // RFC 6455: the reason fits a 125-byte control frame

std::string truncate_reason(std::string reason) {
  if (reason.size() <= kMaxCloseReason) return reason;
  size_t n = kMaxCloseReason;
  // Never cut a UTF-8 sequence in half: clients reject an invalid close reason.
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  reason.resize(n);
  return reason;
}

WsAction send(std::string text) {
  WsAction a;
  a.kind = WsAction::Kind::kSend;
  a.text = std::move(text);
  return a;
}

std::map<std::string, std::string> init_headers(const json::object* payload) {
  std::map<std::string, std::string> headers;
  if (!payload) return headers;
  auto* h = payload->if_contains("headers");
  if (!h || !h->is_object()) return headers;
  for (const auto& kv : h->get_object()) {
    headers[ascii_lower(kv.key())] =
        kv.value().is_string() ? std::string(kv.value().get_string()) : json::serialize(kv.value());
  }
  return headers;
}

// A start/subscribe payload must be an object with a string query.
bool valid_operation_payload(const json::value* p) {
  if (!p || !p->is_object()) return false;
  auto* q = p->get_object().if_contains("query");
  return q && q->is_string();
}

}  // namespace

SubprotocolChoice choose_subprotocol(std::string_view header) {
  SubprotocolChoice choice;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view item = header.substr(pos, comma - pos);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())))
      item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())))
      item.remove_suffix(1);
    if (item == "graphql-transport-ws") {
      return {WsSubprotocol::kGraphqlTransportWs, std::string(item)};
    }
    if (item == "graphql-ws") {
      return {WsSubprotocol::kGraphqlWs, std::string(item)};
    }
    pos = comma + 1;
  }
  return choice;
}

json::object error_object(const Error& error) {
  return json::object{
      {"message", error.message},
      {"extensions", json::object{{"path", error.path}, {"code", error_code_name(error.code)}}}};
}

namespace {

// Whether every number in `v` is finite: a double that overflowed while parsing (`1e999`) would
// be serialized as text no JSON parser reads back. Recursion bounded by the parser's depth limit.
bool finite_numbers(const json::value& v) {
  if (v.is_double()) return std::isfinite(v.get_double());
  if (v.is_array()) {
    for (const auto& e : v.get_array())
      if (!finite_numbers(e)) return false;
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object())
      if (!finite_numbers(kv.value())) return false;
  }
  return true;
}

}  // namespace

std::string ws_message(std::string_view type) {
  return json::serialize(json::object{{"type", type}});
}
std::string ws_message(std::string_view type, const std::string& id) {
  return json::serialize(json::object{{"type", type}, {"id", id}});
}
std::string ws_message(std::string_view type, const std::string& id, const json::value& payload) {
  return json::serialize(json::object{{"type", type}, {"id", id}, {"payload", payload}});
}

std::vector<WsAction> WsProtocol::close(uint16_t code, std::string reason) {
  if (closed_) return {};
  closed_ = true;
  WsAction a;
  a.kind = WsAction::Kind::kClose;
  a.code = code;
  a.reason = truncate_reason(std::move(reason));
  return {std::move(a)};
}

std::vector<WsAction> WsProtocol::bad_message(std::string why) {
  if (protocol_ == WsSubprotocol::kGraphqlTransportWs) return close(4400, std::move(why));
  // Apollo: Hasura answers connection_error and keeps the socket.
  return {send(json::serialize(json::object{{"type", "connection_error"},
                                            {"payload", "parsing ClientMessage failed: " + why}}))};
}

json::object WsProtocol::error_json(const Error& error) const {
  if (errors_ == WsErrorFormat::kGraphql) return error_object(error);
  return json::object{
      {"path", error.path}, {"error", error.message}, {"code", error_code_name(error.code)}};
}

std::vector<WsAction> WsProtocol::start_error(const std::string& id, std::string message) {
  json::object err{{"message", std::move(message)},
                   {"extensions", json::object{{"path", "$"}, {"code", "start-failed"}}}};
  if (errors_ == WsErrorFormat::kLegacy)
    err = json::object{{"path", "$"}, {"error", err.at("message")}, {"code", "start-failed"}};
  return {send(ws_message("error", id, err)), send(ws_message("complete", id))};
}

std::vector<WsAction> WsProtocol::on_text(std::string_view text) {
  if (closed_) return {};
  // The answer to every keep-alive ping (graphql-ws sends exactly this): no parse needed.
  if (protocol_ == WsSubprotocol::kGraphqlTransportWs && text == R"({"type":"pong"})") return {};
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, options);
  if (ec == json::error::too_deep) {
    return bad_message("Invalid message received: " + json_error_reason(ec));
  }
  if (ec || !v.is_object()) return bad_message("Invalid message received");
  auto& o = v.get_object();
  auto* type_v = o.if_contains("type");
  if (!type_v || !type_v->is_string()) return bad_message("Invalid message received");
  std::string_view type = type_v->get_string();
  auto* id_v = o.if_contains("id");
  std::optional<std::string> id;
  if (id_v && id_v->is_string() && !id_v->get_string().empty())
    id = std::string(id_v->get_string());
  auto* payload = o.if_contains("payload");
  const bool gql_ws = protocol_ == WsSubprotocol::kGraphqlTransportWs;

  if (type == "connection_init") {
    if (payload && !payload->is_null() && !payload->is_object())
      return bad_message("Invalid message received");
    // Both protocols: a second init would swap the identity under running operations.
    if (init_received_) return close(4429, "Too many initialisation requests");
    init_received_ = true;
    authenticating_ = true;
    WsAction a;
    a.kind = WsAction::Kind::kAuthenticate;
    a.headers = init_headers(payload && payload->is_object() ? &payload->get_object() : nullptr);
    return {std::move(a)};
  }
  if (gql_ws && (type == "ping" || type == "pong")) {
    if (type == "pong") return {};
    // The ping's payload echoed, unless it holds a number no JSON text can carry back.
    if (payload && !payload->is_null() && finite_numbers(*payload))
      return {send(json::serialize(json::object{{"type", "pong"}, {"payload", *payload}}))};
    return {send(ws_message("pong"))};
  }
  if (type == (gql_ws ? "subscribe" : "start")) {
    if (!id || !valid_operation_payload(payload)) return bad_message("Invalid message received");
    if (gql_ws) {
      if (!acked_) return close(4401, "Unauthorized");
      if (active(*id)) return close(4409, "Subscriber for " + *id + " already exists");
    } else {
      if (active(*id)) return start_error(*id, "an operation already exists with this id: " + *id);
      if (init_error_)
        return start_error(*id, "cannot start as connection_init failed with: " + *init_error_);
      if (!acked_) return start_error(*id, "start received before the connection is initialised");
    }
    return start(std::move(*id), payload->get_object());
  }
  if (type == (gql_ws ? "complete" : "stop")) {
    if (!id) return bad_message("Invalid message received");
    if (active_.erase(*id) == 0) return {};
    WsAction a;
    a.kind = WsAction::Kind::kStop;
    a.id = std::move(*id);
    return {std::move(a)};
  }
  if (!gql_ws && type == "connection_terminate")
    return close(1000, "GQL_CONNECTION_TERMINATE received");
  if (gql_ws) return close(4400, "Unexpected message type: " + std::string(type));
  return bad_message("unexpected type for ClientMessage: " + std::string(type));
}

std::vector<WsAction> WsProtocol::start(std::string id, json::object payload) {
  active_.insert(id);
  WsAction a;
  a.kind = WsAction::Kind::kStart;
  a.id = std::move(id);
  a.payload = std::move(payload);
  return {std::move(a)};
}

std::vector<WsAction> WsProtocol::on_authenticated(const Status& status) {
  if (closed_ || !authenticating_) return {};
  authenticating_ = false;
  if (status.ok()) {
    acked_ = true;
    init_error_.reset();
    std::vector<WsAction> out{send(ws_message("connection_ack"))};
    if (protocol_ == WsSubprotocol::kGraphqlWs) out.push_back(send(ws_message("ka")));
    return out;
  }
  const std::string& message = status.error().message;
  if (protocol_ == WsSubprotocol::kGraphqlTransportWs) return close(4403, "Forbidden: " + message);
  init_error_ = message;
  std::vector<WsAction> out{
      send(json::serialize(json::object{{"type", "connection_error"}, {"payload", message}}))};
  auto c = close(4400, "Connection initialization failed: " + message);
  out.insert(out.end(), c.begin(), c.end());
  return out;
}

std::vector<WsAction> WsProtocol::on_init_timeout() {
  if (closed_ || acked_ || authenticating_) return {};
  return close(4408, "Connection initialisation timeout");
}

const std::string& ws_keepalive_text(WsSubprotocol protocol) {
  static const std::string kApollo = ws_message("ka");
  static const std::string kGraphqlWs = json::serialize(
      json::object{{"type", "ping"}, {"payload", json::object{{"message", "keepalive"}}}});
  return protocol == WsSubprotocol::kGraphqlWs ? kApollo : kGraphqlWs;
}

std::vector<WsAction> WsProtocol::on_keepalive() {
  if (closed_ || !acked_) return {};
  return {send(ws_keepalive_text(protocol_))};
}

std::vector<WsAction> WsProtocol::on_credentials_expired() {
  return close(4403, "Forbidden: JWT expired");
}

std::vector<WsAction> WsProtocol::on_message_too_big(std::size_t limit) {
  return close(1009, "Message too big: the limit is " + std::to_string(limit) + " bytes");
}

std::string ws_data_prefix(WsSubprotocol protocol, const std::string& id) {
  std::string text = R"({"type":")";
  text += protocol == WsSubprotocol::kGraphqlTransportWs ? "next" : "data";
  text += R"(","id":)";
  text += json::serialize(json::value(id));
  text += R"(,"payload":{"data":)";
  return text;
}

std::vector<WsAction> WsProtocol::on_data(const std::string& id, std::string_view data_json) {
  if (closed_ || !active(id)) return {};
  // The data text is already JSON: splice it in rather than re-parsing every push.
  std::string text = ws_data_prefix(protocol_, id);
  text += data_json;
  text += kWsDataSuffix;
  return {send(std::move(text))};
}

std::vector<WsAction> WsProtocol::on_error(const std::string& id, const Error& error) {
  if (closed_ || active_.erase(id) == 0) return {};
  json::array errors{error_json(error)};
  // Hasura follows the error with `complete` in both protocols. graphql-transport-ws ends the
  // operation with the error already; its clients ignore a complete for an ended id.
  if (protocol_ == WsSubprotocol::kGraphqlTransportWs)
    return {send(ws_message("error", id, errors)), send(ws_message("complete", id))};
  return {send(ws_message("error", id, json::object{{"errors", errors}})),
          send(ws_message("complete", id))};
}

std::vector<WsAction> WsProtocol::on_execution_error(const std::string& id, const Error& error) {
  if (protocol_ == WsSubprotocol::kGraphqlTransportWs) return on_error(id, error);
  if (closed_ || active_.erase(id) == 0) return {};
  json::object payload{{"data", nullptr}, {"errors", json::array{error_json(error)}}};
  return {send(ws_message("data", id, payload)), send(ws_message("complete", id))};
}

std::vector<WsAction> WsProtocol::on_complete(const std::string& id) {
  if (closed_ || active_.erase(id) == 0) return {};
  return {send(ws_message("complete", id))};
}

}  // namespace liveql::server
