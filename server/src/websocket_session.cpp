#include "websocket_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "auth.hpp"
#include "liveql/base/text.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/server/config.hpp"
#include "ws_protocol.hpp"

namespace liveql::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using std::chrono::milliseconds;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// Send queue bounds. Results of one operation coalesce to the latest, so the queue only grows
// with the number of operations and control messages; past these the client is not reading.
constexpr size_t kMaxQueuedMessages = 1024;
constexpr size_t kMaxQueuedBytes = 64u << 20;
constexpr uint16_t kCloseTooSlow = 1008;  // policy violation
// Named, not literal, inside coroutines: GCC 12 miscompiles string literals there.
const char* const kNull = "null";
const char* const kBadShape = "unexpected query result shape";
const char* const kGoingAway = "server shutting down";

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    spdlog::error("websocket session task failed: {}", x.what());
  } catch (...) {
    spdlog::error("websocket session task failed with a non-standard exception");
  }
}

std::chrono::milliseconds init_timeout(const App& app) {
  if (const char* env = std::getenv("LIVEQL_WS_INIT_TIMEOUT_MS"); env && *env)
    return milliseconds(std::strtoll(env, nullptr, 10));
  if (app.config) return app.config->ws_init_timeout;
  return milliseconds(10'000);
}

// What a client sees of a failed statement: database errors only generically unless admin,
// since they can reveal the schema or the generated SQL (as on HTTP).
Error query_error(Error e, const compiler::Session& session) {
  e.path = "$";
  if ((e.code == ErrorCode::kPostgresError || e.code == ErrorCode::kConnectionLost) &&
      !session.is_admin)
    e.message = "database query error";
  return e;
}

// One websocket connection. Runs on the connection's executor (the single io_context thread,
// app.hpp); reader, writer and timers are coroutines on it, so no state needs a lock.
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(App& app, beast::tcp_stream stream, SubprotocolChoice choice)
      : app_(app),
        ws_(std::move(stream)),
        protocol_(choice.protocol),
        accept_(std::move(choice.accept)),
        init_timer_(ws_.get_executor()),
        keepalive_timer_(ws_.get_executor()),
        expiry_timer_(ws_.get_executor()),
        writer_signal_(ws_.get_executor()) {}

  ~WsSession() {
    if (registry_id_ == 0) return;
    app_.websockets.remove(registry_id_);
    update_connections_gauge();
  }

  void start(beast::http::request<beast::http::string_body> request) {
    for (const auto& field : request)
      request_headers_[ascii_lower(field.name_string())] = field.value();
    for (const char* h : {"sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol",
                          "sec-websocket-extensions", "upgrade", "connection"})
      request_headers_.erase(h);
    asio::co_spawn(ws_.get_executor(), run(std::move(request)), log_exception);
  }

 private:
  struct Outgoing {
    std::string text;
    std::string coalesce_id;  // non-empty: a result that a newer one of the same id replaces
  };

  asio::awaitable<void> run(beast::http::request<beast::http::string_body> request) {
    auto self = shared_from_this();
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    std::string accept = accept_;
    ws_.set_option(websocket::stream_base::decorator([accept](websocket::response_type& res) {
      if (!accept.empty()) res.set(beast::http::field::sec_websocket_protocol, accept);
      res.set(beast::http::field::server, "liveql");
    }));
    ws_.read_message_max(0);  // no Beast limit: reader() enforces ours
    auto [ec] = co_await ws_.async_accept(request, kUseTuple);
    if (ec) co_return;
    register_session();

    asio::co_spawn(ws_.get_executor(), writer(), log_exception);
    asio::co_spawn(ws_.get_executor(), init_watchdog(), log_exception);
    if (app_.stopping) go_away(websocket::close_code::going_away, std::string(kGoingAway));
    co_await reader();
    shutdown();
  }

  // Reads whole messages. The frame limit is enforced here rather than by Beast: Beast would
  // close the socket with the rest of the oversized message unread, and the kernel then resets
  // the connection, so the client sees 1006 instead of our 1009. We read and discard the rest
  // (up to kMaxDiscard times the limit) and close cleanly.
  asio::awaitable<void> reader() {
    constexpr std::size_t kChunk = 64 * 1024;
    constexpr std::size_t kMaxDiscard = 64;
    const std::size_t limit = app_.config ? app_.config->max_ws_frame_bytes : (1u << 20);
    beast::flat_buffer buffer;
    while (!protocol_.closed()) {
      std::size_t total = 0;
      bool too_big = false;
      do {
        auto [ec, n] = co_await ws_.async_read_some(buffer, kChunk, kUseTuple);
        if (ec) co_return;
        total += n;
        if (total > limit) {
          too_big = true;
          buffer.consume(buffer.size());
          if (total / kMaxDiscard > limit) break;  // not worth reading: close regardless
        }
      } while (!ws_.is_message_done());
      if (too_big) {
        spdlog::info("websocket message over {} bytes: closing with 1009", limit);
        execute(protocol_.on_message_too_big(limit));
        break;
      }
      if (!ws_.got_text()) {
        execute(protocol_.on_text("\x01binary"));  // not JSON: a bad message either way
      } else {
        execute(protocol_.on_text(beast::buffers_to_string(buffer.data())));
      }
      buffer.consume(buffer.size());
    }
  }

  asio::awaitable<void> writer() {
    auto self = shared_from_this();
    while (true) {
      if (queue_.empty()) {
        if (close_code_) {
          websocket::close_reason reason(static_cast<websocket::close_code>(*close_code_),
                                         close_reason_);
          co_await ws_.async_close(reason, kUseTuple);
          break;
        }
        if (finished_) break;
        writer_signal_.expires_at(asio::steady_timer::time_point::max());
        co_await writer_signal_.async_wait(kUseTuple);
        continue;
      }
      Outgoing out = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= out.text.size();
      ws_.text(true);
      auto [ec, n] = co_await ws_.async_write(asio::buffer(out.text), kUseTuple);
      if (ec) {
        finished_ = true;
        queue_.clear();
        queued_bytes_ = 0;
        // The peer is gone: make the reader stop too.
        beast::get_lowest_layer(ws_).cancel();
        break;
      }
    }
  }

  void wake_writer() { writer_signal_.cancel(); }

  void update_connections_gauge() {
    if (app_.metrics)
      app_.metrics->set("liveql_websocket_connections",
                        static_cast<double>(app_.websockets.size()));
  }

  // Listed in app_.websockets from the accepted handshake until destruction: a stopping server
  // closes every listed session with 1001.
  void register_session() {
    std::weak_ptr<WsSession> weak = weak_from_this();
    registry_id_ = app_.websockets.add([weak](std::uint16_t code, const std::string& reason) {
      if (auto self = weak.lock()) self->go_away(code, reason);
    });
    update_connections_gauge();
  }

  // Server shutdown: results already queued are still sent, then the close frame.
  void go_away(std::uint16_t code, const std::string& reason) {
    if (finished_) return;
    protocol_closed_by_us(code, reason);
  }

  void enqueue(std::string text, std::string coalesce_id = {}) {
    if (finished_ || close_code_) return;
    if (!coalesce_id.empty()) {
      for (auto& q : queue_) {
        if (q.coalesce_id == coalesce_id) {
          queued_bytes_ = queued_bytes_ - q.text.size() + text.size();
          q.text = std::move(text);
          return;
        }
      }
    }
    queued_bytes_ += text.size();
    queue_.push_back(Outgoing{std::move(text), std::move(coalesce_id)});
    if (queue_.size() > kMaxQueuedMessages || queued_bytes_ > kMaxQueuedBytes) {
      spdlog::warn("websocket client is not reading: {} messages, {} bytes queued; closing",
                   queue_.size(), queued_bytes_);
      queue_.clear();
      queued_bytes_ = 0;
      protocol_closed_by_us(kCloseTooSlow, "Send queue overflow: the client is not reading");
      return;
    }
    wake_writer();
  }

  void protocol_closed_by_us(uint16_t code, std::string reason) {
    if (close_code_) return;
    close_code_ = code;
    close_reason_ = std::move(reason);
    unsubscribe_all();
    cancel_timers();
    wake_writer();
  }

  void execute(std::vector<WsAction> actions) {
    for (auto& a : actions) {
      switch (a.kind) {
        case WsAction::Kind::kSend:
          enqueue(std::move(a.text));
          break;
        case WsAction::Kind::kClose:
          protocol_closed_by_us(a.code, std::move(a.reason));
          break;
        case WsAction::Kind::kAuthenticate:
          authenticate(a.headers);
          break;
        case WsAction::Kind::kStart:
          start_operation(a.id, a.payload);
          break;
        case WsAction::Kind::kStop:
          stop_operation(a.id);
          break;
      }
    }
  }

  void authenticate(const std::map<std::string, std::string>& init_headers) {
    // connection_init headers win over the upgrade request's.
    auto headers = request_headers_;
    for (const auto& [k, v] : init_headers) headers[k] = v;
    Result<AuthResult> auth = app_.auth
                                  ? authenticate_request(headers)
                                  : Result<AuthResult>(make_error(ErrorCode::kUnexpected,
                                                                  "authentication not configured"));
    if (auth) {
      session_ = auth->session;
      init_timer_.cancel();
      if (auth->expires_at) start_expiry_timer(*auth->expires_at);
      execute(protocol_.on_authenticated(Status(Ok{})));
      if (!keepalive_started_) {
        keepalive_started_ = true;
        asio::co_spawn(ws_.get_executor(), keepalive(), log_exception);
      }
    } else {
      execute(protocol_.on_authenticated(Status(auth.error())));
    }
  }

  Result<AuthResult> authenticate_request(const std::map<std::string, std::string>& headers) {
    return server::authenticate(headers, *app_.auth, std::chrono::system_clock::now());
  }

  void start_operation(const std::string& id, const json::object& payload) {
    if (!app_.schema) {
      execute(protocol_.on_error(id, make_error(ErrorCode::kUnexpected, "schema not loaded")));
      return;
    }
    compiler::Request req;
    std::string query(payload.at("query").get_string());
    req.query = query;
    if (auto* v = payload.if_contains("variables"); v && v->is_object())
      req.variables = v->get_object();
    if (auto* n = payload.if_contains("operationName"); n && n->is_string())
      req.operation_name = std::string(n->get_string());
    auto op = compiler::compile(*app_.schema, req, session_, app_.limits);
    if (!op) {
      execute(protocol_.on_error(id, op.error()));
      return;
    }
    if (op->type == gql::OperationType::kSubscription) {
      if (!app_.live) {
        execute(protocol_.on_error(
            id, make_error(ErrorCode::kNotSupported, "subscriptions are not available")));
        return;
      }
      std::weak_ptr<WsSession> weak = weak_from_this();
      auto sid = app_.live->subscribe(*op, session_.role,
                                      [weak, id](Result<live::LiveQueries::ResultText> r) {
                                        if (auto self = weak.lock())
                                          self->on_push(id, std::move(r));
                                      });
      subscriptions_[id] = sid;
      return;
    }
    if (op->static_data) {
      execute(protocol_.on_data(id, json::serialize(*op->static_data)));
      execute(protocol_.on_complete(id));
      return;
    }
    if (!app_.pool) {
      execute(protocol_.on_error(id, make_error(ErrorCode::kUnexpected, "no database pool")));
      return;
    }
    asio::co_spawn(ws_.get_executor(),
                   run_query(id, sql::single_query(op->ir), json::serialize(op->vars)),
                   log_exception);
  }

  asio::awaitable<void> run_query(std::string id, std::string sql, std::string vars) {
    auto self = shared_from_this();
    std::vector<std::optional<std::string>> params;
    params.emplace_back(std::move(vars));
    // (A braced list here would put an initializer_list array in the coroutine frame, which
    // GCC 12 rejects.)
    auto result = co_await app_.pool->query(std::move(sql), std::move(params));
    if (!protocol_.active(id)) co_return;  // stopped, or the connection closed meanwhile
    if (!result) {
      execute(protocol_.on_error(id, query_error(result.take_error(), session_)));
      co_return;
    }
    int col = result->column_index("data");
    if (result->rows.size() != 1 || col < 0) {
      execute(protocol_.on_error(id, make_error(ErrorCode::kUnexpected, std::string(kBadShape))));
      co_return;
    }
    const auto& data = result->rows[0][size_t(col)];
    execute(protocol_.on_data(id, data ? std::string_view(*data) : std::string_view(kNull)));
    execute(protocol_.on_complete(id));
  }

  void on_push(const std::string& id, Result<live::LiveQueries::ResultText> r) {
    auto it = subscriptions_.find(id);
    if (it == subscriptions_.end()) return;
    if (!r) {
      subscriptions_.erase(it);  // the live manager already dropped it
      execute(protocol_.on_error(id, query_error(r.take_error(), session_)));
      return;
    }
    for (auto& a : protocol_.on_data(id, **r)) {
      if (a.kind == WsAction::Kind::kSend) enqueue(std::move(a.text), id);
    }
  }

  void stop_operation(const std::string& id) {
    auto it = subscriptions_.find(id);
    if (it == subscriptions_.end()) return;
    if (app_.live) app_.live->unsubscribe(it->second);
    subscriptions_.erase(it);
  }

  void unsubscribe_all() {
    if (app_.live)
      for (const auto& [id, sid] : subscriptions_) app_.live->unsubscribe(sid);
    subscriptions_.clear();
  }

  asio::awaitable<void> init_watchdog() {
    auto self = shared_from_this();
    init_timer_.expires_after(init_timeout(app_));
    auto [ec] = co_await init_timer_.async_wait(kUseTuple);
    if (ec || finished_) co_return;
    execute(protocol_.on_init_timeout());
  }

  asio::awaitable<void> keepalive() {
    auto self = shared_from_this();
    while (!finished_ && !close_code_) {
      keepalive_timer_.expires_after(
          std::chrono::seconds(app_.config ? app_.config->ws_keepalive_seconds : 5));
      auto [ec] = co_await keepalive_timer_.async_wait(kUseTuple);
      if (ec || finished_) co_return;
      execute(protocol_.on_keepalive());
    }
  }

  void start_expiry_timer(std::chrono::system_clock::time_point at) {
    auto left = at - std::chrono::system_clock::now();
    expiry_timer_.expires_after(std::chrono::duration_cast<asio::steady_timer::duration>(left));
    std::weak_ptr<WsSession> weak = weak_from_this();
    expiry_timer_.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->finished_) return;
      self->execute(self->protocol_.on_credentials_expired());
    });
  }

  void cancel_timers() {
    init_timer_.cancel();
    keepalive_timer_.cancel();
    expiry_timer_.cancel();
  }

  // The reader ended (peer closed, error, or we closed): release everything at once.
  void shutdown() {
    unsubscribe_all();
    cancel_timers();
    if (!close_code_) finished_ = true;
    wake_writer();
  }

  App& app_;
  websocket::stream<beast::tcp_stream> ws_;
  WsProtocol protocol_;
  std::string accept_;
  std::map<std::string, std::string> request_headers_;
  compiler::Session session_;
  std::map<std::string, live::SubscriberId> subscriptions_;
  std::deque<Outgoing> queue_;
  size_t queued_bytes_ = 0;
  std::optional<uint16_t> close_code_;
  std::string close_reason_;
  bool finished_ = false;
  bool keepalive_started_ = false;
  std::uint64_t registry_id_ = 0;  // in app_.websockets; 0 = not listed
  asio::steady_timer init_timer_;
  asio::steady_timer keepalive_timer_;
  asio::steady_timer expiry_timer_;
  asio::steady_timer writer_signal_;
};

}  // namespace

void start_websocket_session(App& app, beast::tcp_stream stream,
                             beast::http::request<beast::http::string_body> request) {
  auto choice = choose_subprotocol(request[beast::http::field::sec_websocket_protocol]);
  std::make_shared<WsSession>(app, std::move(stream), std::move(choice))->start(std::move(request));
}

}  // namespace liveql::server
