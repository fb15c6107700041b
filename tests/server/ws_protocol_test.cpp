// Both GraphQL websocket protocols as pure state machines: no sockets.
#include "ws_protocol.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace liveql::server {
namespace {

namespace json = boost::json;
using Kind = WsAction::Kind;

json::value sent_json(const WsAction& a) {
  EXPECT_EQ(a.kind, Kind::kSend);
  return json::parse(a.text);
}

void expect_close(const std::vector<WsAction>& actions, uint16_t code, const std::string& reason) {
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::kClose);
  EXPECT_EQ(actions[0].code, code);
  EXPECT_EQ(actions[0].reason, reason);
}

WsProtocol acked(WsSubprotocol p) {
  WsProtocol w(p);
  auto a =
      w.on_text(R"({"type":"connection_init","payload":{"headers":{"X-Hasura-Role":"user"}}})");
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::kAuthenticate);
  EXPECT_EQ(a[0].headers.at("x-hasura-role"), "user");
  auto ack = w.on_authenticated(Status(Ok{}));
  EXPECT_FALSE(ack.empty());
  EXPECT_EQ(sent_json(ack[0]).at("type").as_string(), "connection_ack");
  return w;
}

const char* kSubscribe =
    R"({"type":"subscribe","id":"1","payload":{"query":"subscription { a }"}})";
const char* kStart = R"({"type":"start","id":"1","payload":{"query":"subscription { a }"}})";

TEST(Subprotocol, Choice) {
  auto t = choose_subprotocol("graphql-transport-ws");
  EXPECT_EQ(t.protocol, WsSubprotocol::kGraphqlTransportWs);
  EXPECT_EQ(t.accept, "graphql-transport-ws");
  auto a = choose_subprotocol("graphql-ws");
  EXPECT_EQ(a.protocol, WsSubprotocol::kGraphqlWs);
  EXPECT_EQ(a.accept, "graphql-ws");
  auto list = choose_subprotocol("foo, graphql-ws , graphql-transport-ws");
  EXPECT_EQ(list.protocol, WsSubprotocol::kGraphqlWs);
  auto none = choose_subprotocol("");
  EXPECT_EQ(none.protocol, WsSubprotocol::kGraphqlWs);  // Hasura defaults to Apollo
  EXPECT_EQ(none.accept, "");
  EXPECT_EQ(choose_subprotocol("bogus").accept, "");
}

TEST(GraphqlTransportWs, HappyPath) {
  auto w = acked(WsSubprotocol::kGraphqlTransportWs);
  auto s = w.on_text(kSubscribe);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].kind, Kind::kStart);
  EXPECT_EQ(s[0].id, "1");
  EXPECT_EQ(s[0].payload.at("query").as_string(), "subscription { a }");
  EXPECT_TRUE(w.active("1"));

  auto d = w.on_data("1", R"({"a":[1]})");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(sent_json(d[0]),
            json::parse(R"({"type":"next","id":"1","payload":{"data":{"a":[1]}}})"));

  auto stop = w.on_text(R"({"type":"complete","id":"1"})");
  ASSERT_EQ(stop.size(), 1u);
  EXPECT_EQ(stop[0].kind, Kind::kStop);
  EXPECT_FALSE(w.active("1"));
  EXPECT_TRUE(w.on_data("1", "{}").empty());  // nothing after complete
  EXPECT_TRUE(w.on_text(R"({"type":"complete","id":"1"})").empty());
}

TEST(GraphqlTransportWs, PingPong) {
  WsProtocol w(WsSubprotocol::kGraphqlTransportWs);
  auto p = w.on_text(R"({"type":"ping","payload":{"x":1}})");  // allowed before init
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(sent_json(p[0]), json::parse(R"({"type":"pong","payload":{"x":1}})"));
  EXPECT_EQ(sent_json(w.on_text(R"({"type":"ping"})")[0]), json::parse(R"({"type":"pong"})"));
  EXPECT_TRUE(w.on_text(R"({"type":"pong"})").empty());
  // A number that overflowed while parsing is not echoed (found by ws_protocol_fuzz): the pong
  // stays JSON.
  auto big = w.on_text(R"({"type":"ping","payload":{"x":11e999}})");
  ASSERT_EQ(big.size(), 1u);
  EXPECT_EQ(sent_json(big[0]), json::parse(R"({"type":"pong"})"));
}

TEST(GraphqlTransportWs, CloseCodes) {
  {
    WsProtocol w(WsSubprotocol::kGraphqlTransportWs);
    expect_close(w.on_text(kSubscribe), 4401, "Unauthorized");
    EXPECT_TRUE(w.closed());
    EXPECT_TRUE(w.on_text(kSubscribe).empty());
  }
  {
    auto w = acked(WsSubprotocol::kGraphqlTransportWs);
    w.on_text(kSubscribe);
    expect_close(w.on_text(kSubscribe), 4409, "Subscriber for 1 already exists");
  }
  {
    auto w = acked(WsSubprotocol::kGraphqlTransportWs);
    expect_close(w.on_text(R"({"type":"connection_init"})"), 4429,
                 "Too many initialisation requests");
  }
  {
    WsProtocol w(WsSubprotocol::kGraphqlTransportWs);
    w.on_text(R"({"type":"connection_init"})");
    auto r = w.on_authenticated(
        Status(make_error(ErrorCode::kInvalidJwt, "Could not verify JWT: JWTExpired")));
    expect_close(r, 4403, "Forbidden: Could not verify JWT: JWTExpired");
  }
  {
    WsProtocol w(WsSubprotocol::kGraphqlTransportWs);
    expect_close(w.on_init_timeout(), 4408, "Connection initialisation timeout");
  }
  {
    auto w = acked(WsSubprotocol::kGraphqlTransportWs);
    EXPECT_TRUE(w.on_init_timeout().empty());  // acknowledged: the timer is moot
  }
  for (const char* bad : {"not json", "[1]", R"({"type":1})", R"({"id":"1"})",
                          R"({"type":"subscribe","payload":{"query":"x"}})",
                          R"({"type":"subscribe","id":"1","payload":{}})",
                          R"({"type":"subscribe","id":"1","payload":"x"})",
                          R"({"type":"connection_init","payload":"x"})"}) {
    auto w = acked(WsSubprotocol::kGraphqlTransportWs);
    auto r = w.on_text(bad);
    ASSERT_EQ(r.size(), 1u) << bad;
    EXPECT_EQ(r[0].kind, Kind::kClose) << bad;
    EXPECT_EQ(r[0].code, 4400) << bad;
  }
  {
    auto w = acked(WsSubprotocol::kGraphqlTransportWs);
    auto r = w.on_text(R"({"type":"start","id":"1","payload":{"query":"x"}})");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].code, 4400);
  }
}

TEST(GraphqlTransportWs, ErrorsAndComplete) {
  auto w = acked(WsSubprotocol::kGraphqlTransportWs);
  w.on_text(kSubscribe);
  auto e = w.on_error(
      "1", make_error(ErrorCode::kValidationFailed, "field 'x' not found", "$.selectionSet.x"));
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(sent_json(e[0]), json::parse(R"({"type":"error","id":"1","payload":[
      {"message":"field 'x' not found",
       "extensions":{"path":"$.selectionSet.x","code":"validation-failed"}}]})"));
  // As Hasura: a complete follows (the protocol's clients ignore it).
  EXPECT_EQ(sent_json(e[1]), json::parse(R"({"type":"complete","id":"1"})"));
  EXPECT_FALSE(w.active("1"));
  // The id can be reused once the operation ended.
  EXPECT_EQ(w.on_text(kSubscribe)[0].kind, Kind::kStart);
  auto c = w.on_complete("1");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(sent_json(c[0]), json::parse(R"({"type":"complete","id":"1"})"));
}

TEST(GraphqlTransportWs, KeepaliveAndExpiry) {
  WsProtocol fresh(WsSubprotocol::kGraphqlTransportWs);
  EXPECT_TRUE(fresh.on_keepalive().empty());
  auto w = acked(WsSubprotocol::kGraphqlTransportWs);
  EXPECT_EQ(sent_json(w.on_keepalive()[0]).at("type").as_string(), "ping");
  expect_close(w.on_credentials_expired(), 4403, "Forbidden: JWT expired");
}

TEST(WsProtocol, OversizedMessageClosesWith1009InBothProtocols) {
  for (auto p : {WsSubprotocol::kGraphqlTransportWs, WsSubprotocol::kGraphqlWs}) {
    auto w = acked(p);
    expect_close(w.on_message_too_big(1024), 1009, "Message too big: the limit is 1024 bytes");
    EXPECT_TRUE(w.closed());
    EXPECT_TRUE(w.on_message_too_big(1024).empty());  // closed once
  }
}

TEST(GraphqlTransportWs, LongReasonsAreTruncated) {
  WsProtocol w(WsSubprotocol::kGraphqlTransportWs);
  w.on_text(R"({"type":"connection_init"})");
  auto r = w.on_authenticated(Status(make_error(ErrorCode::kAccessDenied, std::string(300, 'x'))));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_LE(r[0].reason.size(), 123u);
}

TEST(ApolloGraphqlWs, HappyPath) {
  WsProtocol w(WsSubprotocol::kGraphqlWs);
  w.on_text(R"({"type":"connection_init","payload":{}})");
  auto ack = w.on_authenticated(Status(Ok{}));
  ASSERT_EQ(ack.size(), 2u);
  EXPECT_EQ(sent_json(ack[0]), json::parse(R"({"type":"connection_ack"})"));
  EXPECT_EQ(sent_json(ack[1]), json::parse(R"({"type":"ka"})"));
  auto s = w.on_text(kStart);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].kind, Kind::kStart);
  EXPECT_EQ(sent_json(w.on_data("1", R"({"a":1})")[0]),
            json::parse(R"({"type":"data","id":"1","payload":{"data":{"a":1}}})"));
  auto stop = w.on_text(R"({"type":"stop","id":"1"})");
  ASSERT_EQ(stop.size(), 1u);
  EXPECT_EQ(stop[0].kind, Kind::kStop);
  EXPECT_EQ(sent_json(w.on_keepalive()[0]), json::parse(R"({"type":"ka"})"));
  expect_close(w.on_text(R"({"type":"connection_terminate"})"), 1000,
               "GQL_CONNECTION_TERMINATE received");
}

TEST(ApolloGraphqlWs, StartErrors) {
  WsProtocol w(WsSubprotocol::kGraphqlWs);
  auto early = w.on_text(kStart);
  ASSERT_EQ(early.size(), 2u);
  EXPECT_EQ(sent_json(early[0]), json::parse(R"({"type":"error","id":"1","payload":
      {"message":"start received before the connection is initialised",
       "extensions":{"path":"$","code":"start-failed"}}})"));
  EXPECT_EQ(sent_json(early[1]), json::parse(R"({"type":"complete","id":"1"})"));
  EXPECT_FALSE(w.closed());

  w.on_text(R"({"type":"connection_init"})");
  w.on_authenticated(Status(Ok{}));
  w.on_text(kStart);
  auto dup = w.on_text(kStart);
  ASSERT_EQ(dup.size(), 2u);
  EXPECT_EQ(sent_json(dup[0]).at("payload").at("message").as_string(),
            "an operation already exists with this id: 1");
  EXPECT_TRUE(w.active("1"));  // the first one keeps running

  auto bad = w.on_text("{");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(sent_json(bad[0]).at("type").as_string(), "connection_error");
  EXPECT_FALSE(w.closed());

  auto err = w.on_error("1", make_error(ErrorCode::kPostgresError, "boom"));
  ASSERT_EQ(err.size(), 2u);
  EXPECT_EQ(sent_json(err[0]), json::parse(R"({"type":"error","id":"1","payload":{"errors":[
      {"message":"boom","extensions":{"path":"$","code":"postgres-error"}}]}})"));
  EXPECT_EQ(sent_json(err[1]).at("type").as_string(), "complete");
}

TEST(ApolloGraphqlWs, ExecutionErrorIsDataWithNullDataThenComplete) {
  WsProtocol w(WsSubprotocol::kGraphqlWs);
  w.on_text(R"({"type":"connection_init"})");
  w.on_authenticated(Status(Ok{}));
  w.on_text(kStart);
  auto err = w.on_execution_error("1", make_error(ErrorCode::kConstraintViolation, "dup", "$.x"));
  ASSERT_EQ(err.size(), 2u);
  EXPECT_EQ(sent_json(err[0]), json::parse(R"({"type":"data","id":"1","payload":{"data":null,
      "errors":[{"message":"dup","extensions":{"path":"$.x","code":"constraint-violation"}}]}})"));
  EXPECT_EQ(sent_json(err[1]), json::parse(R"({"type":"complete","id":"1"})"));
  EXPECT_FALSE(w.active("1"));
  EXPECT_TRUE(w.on_execution_error("1", make_error(ErrorCode::kUnexpected, "late")).empty());
}

TEST(GraphqlTransportWs, ExecutionErrorIsAnErrorMessage) {
  WsProtocol w = acked(WsSubprotocol::kGraphqlTransportWs);
  w.on_text(kSubscribe);
  auto err = w.on_execution_error("1", make_error(ErrorCode::kConstraintViolation, "dup"));
  ASSERT_EQ(err.size(), 2u);
  EXPECT_EQ(sent_json(err[1]), json::parse(R"({"type":"complete","id":"1"})"));
  EXPECT_EQ(sent_json(err[0]), json::parse(R"({"type":"error","id":"1","payload":[
      {"message":"dup","extensions":{"path":"$","code":"constraint-violation"}}]})"));
}

TEST(ApolloGraphqlWs, LegacyErrorFormatOfV1Alpha1) {
  WsProtocol w(WsSubprotocol::kGraphqlWs, WsErrorFormat::kLegacy);
  auto early = w.on_text(kStart);
  ASSERT_EQ(early.size(), 2u);
  EXPECT_EQ(sent_json(early[0]), json::parse(R"({"type":"error","id":"1","payload":
      {"path":"$","error":"start received before the connection is initialised",
       "code":"start-failed"}})"));
  w.on_text(R"({"type":"connection_init"})");
  w.on_authenticated(Status(Ok{}));
  w.on_text(kStart);
  auto err = w.on_error("1", make_error(ErrorCode::kValidationFailed, "no", "$.q"));
  ASSERT_EQ(err.size(), 2u);
  EXPECT_EQ(sent_json(err[0]), json::parse(R"({"type":"error","id":"1","payload":{"errors":[
      {"path":"$.q","error":"no","code":"validation-failed"}]}})"));
}

TEST(ApolloGraphqlWs, InitFailure) {
  WsProtocol w(WsSubprotocol::kGraphqlWs);
  w.on_text(R"({"type":"connection_init"})");
  auto r = w.on_authenticated(Status(
      make_error(ErrorCode::kAccessDenied, "invalid x-hasura-admin-secret/x-hasura-access-key")));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(sent_json(r[0]), json::parse(R"({"type":"connection_error",
      "payload":"invalid x-hasura-admin-secret/x-hasura-access-key"})"));
  EXPECT_EQ(r[1].kind, Kind::kClose);
  EXPECT_EQ(r[1].code, 4400);
  EXPECT_TRUE(w.closed());
}

TEST(ApolloGraphqlWs, SecondInitClosesWith4429) {
  // After an acknowledged init: a second one would switch later operations to a new identity.
  auto w = acked(WsSubprotocol::kGraphqlWs);
  w.on_text(kStart);
  expect_close(
      w.on_text(R"({"type":"connection_init","payload":{"headers":{"x-hasura-role":"admin"}}})"),
      4429, "Too many initialisation requests");
  EXPECT_TRUE(w.closed());
  EXPECT_TRUE(w.on_text(kStart).empty());
  // While the first is still being authenticated.
  WsProtocol pending(WsSubprotocol::kGraphqlWs);
  ASSERT_EQ(pending.on_text(R"({"type":"connection_init"})")[0].kind, Kind::kAuthenticate);
  expect_close(pending.on_text(R"({"type":"connection_init"})"), 4429,
               "Too many initialisation requests");
  EXPECT_TRUE(pending.on_authenticated(Status(Ok{})).empty());  // closed: no ack
}

// {"type":"start","id":"1","payload":{"query":"...","variables":{"w": <steps>}}} where each step
// is {"_and":[ ... ]} (two JSON levels) or {"_and": ...} (one).
std::string deep_start(const char* type, size_t steps, bool lists) {
  std::string open, close;
  for (size_t i = 0; i < steps; ++i) {
    open += lists ? R"({"_and":[)" : R"({"_and":)";
    close += lists ? "]}" : "}";
  }
  return std::string(R"({"type":")") + type +
         R"(","id":"1","payload":{"query":"subscription($w: t_bool_exp) { a }","variables":{"w":)" +
         open + R"({"id":{"_eq":1}})" + close + "}}}";
}

TEST(WsProtocol, DeepVariablesAcceptedUpToTheLimit) {
  for (auto p : {WsSubprotocol::kGraphqlTransportWs, WsSubprotocol::kGraphqlWs}) {
    const char* type = p == WsSubprotocol::kGraphqlWs ? "start" : "subscribe";
    for (bool lists : {true, false}) {
      // 64 and 250 steps are accepted (the message itself adds 5 levels, the leaf 2).
      for (size_t steps : {size_t{64}, size_t{250}}) {
        auto w = acked(p);
        auto r = w.on_text(deep_start(type, steps, lists));
        ASSERT_EQ(r.size(), 1u) << steps;
        EXPECT_EQ(r[0].kind, Kind::kStart) << steps;
        const json::value* v = &r[0].payload.at("variables").at("w");
        size_t depth = 0;
        while (v->is_object() && v->as_object().contains("_and")) {
          v = &v->as_object().at("_and");
          if (v->is_array()) v = &v->as_array().at(0);
          ++depth;
        }
        EXPECT_EQ(depth, steps);
      }
    }
  }
}

TEST(WsProtocol, TooDeepMessageIsABadMessageThatSaysWhy) {
  {
    auto w = acked(WsSubprotocol::kGraphqlTransportWs);
    expect_close(w.on_text(deep_start("subscribe", 300, true)), 4400,
                 "Invalid message received: nested deeper than 512 levels");
  }
  {
    // Apollo: connection_error, and the socket stays usable.
    auto w = acked(WsSubprotocol::kGraphqlWs);
    auto r = w.on_text(deep_start("start", 300, true));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(sent_json(r[0]), json::parse(R"({"type":"connection_error","payload":
                  "parsing ClientMessage failed: Invalid message received: nested deeper than 512 levels"})"));
    EXPECT_FALSE(w.closed());
    EXPECT_EQ(w.on_text(deep_start("start", 64, true))[0].kind, Kind::kStart);
  }
  {
    // A bare array nesting: no stack overflow, just the error.
    auto w = acked(WsSubprotocol::kGraphqlTransportWs);
    std::string bomb(100000, '[');
    auto r = w.on_text(bomb);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].code, 4400);
  }
}

TEST(ApolloGraphqlWs, InitTimeout) {
  WsProtocol w(WsSubprotocol::kGraphqlWs);
  expect_close(w.on_init_timeout(), 4408, "Connection initialisation timeout");
}

// A push is written as prefix + shared data + suffix: the pieces must make exactly on_data's
// message, for both protocols and for ids that need escaping.
TEST(WsFrames, DataPrefixAndSuffixMakeOnDataText) {
  for (auto protocol : {WsSubprotocol::kGraphqlTransportWs, WsSubprotocol::kGraphqlWs}) {
    auto w = acked(protocol);
    const std::string start = protocol == WsSubprotocol::kGraphqlTransportWs
                                  ? R"({"type":"subscribe","id":"a\"b\\c\u00e9","payload":)"
                                  : R"({"type":"start","id":"a\"b\\c\u00e9","payload":)";
    ASSERT_EQ(w.on_text(start + R"({"query":"subscription { a }"}})").size(), 1u);
    const std::string id = "a\"b\\c\xc3\xa9";
    ASSERT_TRUE(w.active(id));
    const std::string data = R"({"a":[1,{"b":"x"}]})";
    auto d = w.on_data(id, data);
    ASSERT_EQ(d.size(), 1u);
    const std::string pieces = ws_data_prefix(protocol, id) + data + std::string(kWsDataSuffix);
    EXPECT_EQ(pieces, d[0].text);
    auto parsed = json::parse(pieces).as_object();
    EXPECT_EQ(parsed.at("id").as_string(), id);
    EXPECT_EQ(parsed.at("payload"), json::parse(R"({"data":{"a":[1,{"b":"x"}]}})"));
  }
}

TEST(WsFrames, KeepaliveTextIsOnKeepalives) {
  for (auto protocol : {WsSubprotocol::kGraphqlTransportWs, WsSubprotocol::kGraphqlWs}) {
    auto w = acked(protocol);
    auto k = w.on_keepalive();
    ASSERT_EQ(k.size(), 1u);
    EXPECT_EQ(k[0].text, ws_keepalive_text(protocol));
    EXPECT_EQ(&ws_keepalive_text(protocol), &ws_keepalive_text(protocol));  // built once
  }
}

// The pong fast path answers nothing, like the parsed path does for any pong.
TEST(WsFrames, PongsAreIgnoredWithOrWithoutPayload) {
  auto w = acked(WsSubprotocol::kGraphqlTransportWs);
  EXPECT_TRUE(w.on_text(R"({"type":"pong"})").empty());
  EXPECT_TRUE(w.on_text(R"({ "type" : "pong", "payload": {"x": 1} })").empty());
  EXPECT_FALSE(w.closed());
  // Apollo has no pong: an unknown type is a bad message there (connection_error).
  auto a = acked(WsSubprotocol::kGraphqlWs);
  auto r = a.on_text(R"({"type":"pong"})");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(sent_json(r[0]).at("type").as_string(), "connection_error");
}

}  // namespace
}  // namespace liveql::server
