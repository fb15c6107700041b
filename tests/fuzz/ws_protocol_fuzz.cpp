// Both websocket protocol state machines. Input: lines. The first line is the
// Sec-WebSocket-Protocol header (choose_subprotocol picks the machine); every further line is
// one event: a client text frame, or, when it starts with one of these bytes, what the session
// would feed back:
//   \x01 authentication succeeded      \x02 authentication failed (rest: the message)
//   \x03 init timeout                  \x04 keep-alive tick       \x05 credentials expired
//   \x06 message too big               \x07 data for operation <rest>
//   \x0e error for operation <rest>    \x0f operation <rest> complete
//
// Checked: no crash, leak or UB; every frame sent is JSON; a close comes at most once, with a
// reason of at most 123 bytes of valid UTF-8, and nothing follows it; a started operation is
// active, and a stopped, failed or completed one is not (until the close).
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "ws_protocol.hpp"

namespace liveql::fuzz {
namespace {

using server::WsAction;
using server::WsProtocol;

void check(const WsProtocol& ws, bool& closed, const std::vector<WsAction>& actions,
           std::string_view event) {
  for (const auto& a : actions) {
    LIVEQL_FUZZ_CHECK(!closed, event);
    switch (a.kind) {
      case WsAction::Kind::kSend: {
        boost::system::error_code ec;
        boost::json::parse(a.text, ec);
        LIVEQL_FUZZ_CHECK(!ec, a.text);
        break;
      }
      case WsAction::Kind::kClose:
        closed = true;
        LIVEQL_FUZZ_CHECK(a.reason.size() <= 123, a.reason);
        LIVEQL_FUZZ_CHECK(valid_utf8(a.reason), a.reason);
        LIVEQL_FUZZ_CHECK(a.code >= 1000 && a.code < 5000, a.reason);
        break;
      case WsAction::Kind::kStart:
        LIVEQL_FUZZ_CHECK(ws.active(a.id), a.id);
        break;
      case WsAction::Kind::kStop:
        LIVEQL_FUZZ_CHECK(!ws.active(a.id), a.id);
        break;
      case WsAction::Kind::kAuthenticate:
        break;
    }
  }
  LIVEQL_FUZZ_CHECK(closed == ws.closed(), event);
}

}  // namespace
}  // namespace liveql::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liveql;
  using namespace liveql::server;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  SubprotocolChoice choice = choose_subprotocol(fuzz::split_first(rest, '\n'));
  LIVEQL_FUZZ_CHECK(choice.accept.empty() || choice.accept == "graphql-ws" ||
                        choice.accept == "graphql-transport-ws",
                    choice.accept);
  WsProtocol ws(choice.protocol);
  bool closed = false;
  while (!rest.empty()) {
    std::string_view event = fuzz::split_first(rest, '\n');
    std::string_view arg = event.empty() ? event : event.substr(1);
    std::vector<WsAction> actions;
    switch (event.empty() ? '\0' : event[0]) {
      case '\x01':
        actions = ws.on_authenticated(Status(Ok{}));
        break;
      case '\x02':
        // Auth messages are UTF-8 (they are built from JSON strings and header names).
        actions = ws.on_authenticated(make_error(
            ErrorCode::kInvalidJwt, fuzz::valid_utf8(arg) ? std::string(arg) : "denied"));
        break;
      case '\x03':
        actions = ws.on_init_timeout();
        break;
      case '\x04':
        actions = ws.on_keepalive();
        break;
      case '\x05':
        actions = ws.on_credentials_expired();
        break;
      case '\x06':
        actions = ws.on_message_too_big(arg.size());
        break;
      case '\x07':
        actions = ws.on_data(std::string(arg), R"({"orders":[{"id":1}]})");
        break;
      case '\x0e':
        actions = ws.on_error(std::string(arg),
                              make_error(ErrorCode::kValidationFailed, "bad", "$.query"));
        // Once closed the machine ignores results; the session unsubscribes what is active.
        if (!ws.closed()) LIVEQL_FUZZ_CHECK(!ws.active(std::string(arg)), arg);
        break;
      case '\x0f':
        actions = ws.on_complete(std::string(arg));
        if (!ws.closed()) LIVEQL_FUZZ_CHECK(!ws.active(std::string(arg)), arg);
        break;
      default:
        actions = ws.on_text(event);
        break;
    }
    fuzz::check(ws, closed, actions, event);
  }
  return 0;
}
