#include "websocket_session.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth.hpp"
#include "io_threads.hpp"
#include "liveql/base/text.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/server/config.hpp"
#include "operation_runner.hpp"
#include "ws_protocol.hpp"

namespace liveql::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// Send queue bounds. Results of one operation coalesce to the latest, so the queue only grows
// with the number of operations and control messages; past these the client is not reading.
constexpr size_t kMaxQueuedMessages = 1024;
constexpr size_t kMaxQueuedBytes = 64u << 20;
constexpr uint16_t kCloseTooSlow = 1008;  // policy violation
// The direct writer (see WsSession::write_next): messages up to this size are framed by us and
// written with sendmsg, up to kMaxBatch of them per call; a larger one goes through Beast.
constexpr size_t kMaxDirectMessage = 64u << 10;
constexpr size_t kMaxBatch = 64;
// Named, not literal, inside coroutines: GCC 12 miscompiles string literals there.
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

// No data from the peer for half of this: a websocket ping; for all of it: the connection is
// dropped (Beast's suggested server timeout, which we take over: see WsSession::run).
std::chrono::steady_clock::duration idle_timeout() {
  static const auto timeout = [] {
    if (const char* env = std::getenv("LIVEQL_WS_IDLE_TIMEOUT_SECONDS"); env && *env)
      return std::chrono::seconds(std::max(2LL, std::strtoll(env, nullptr, 10)));
    return std::chrono::seconds(300);
  }();
  return timeout;
}

std::chrono::milliseconds init_timeout(const App& app) {
  if (const char* env = std::getenv("LIVEQL_WS_INIT_TIMEOUT_MS"); env && *env)
    return milliseconds(std::strtoll(env, nullptr, 10));
  if (app.config) return app.config->ws_init_timeout;
  return milliseconds(10'000);
}

// One operation of a session that is a subscription. Shared with the core (the push callback
// holds it): `id` and `prefix` are immutable; `core_id` is touched only on the core; `queued`
// only on the session's thread.
struct Subscription {
  Subscription(std::string op_id, WsSubprotocol protocol)
      : id(std::move(op_id)), prefix(ws_data_prefix(protocol, id)) {}
  const std::string id;
  const std::string prefix;        // {"type":"next","id":"…","payload":{"data":
  live::SubscriberId core_id = 0;  // core only
  bool queued = false;             // session thread only: a result of it waits in the queue
  // A streaming subscription: each result is a batch of its own, so results never coalesce
  // (the queue bounds still hold: a client that stops reading is closed).
  bool stream = false;
};

// One message waiting to be written: a result (prefix + shared data + suffix, no copy of the
// data) or a whole message (owned text, or a shared prebuilt one such as the keep-alive), or a
// websocket ping (`ping`: empty payload).
struct Outgoing {
  std::string text;                     // owned message, when `shared` and `sub` null
  const std::string* shared = nullptr;  // prebuilt message (static lifetime)
  std::shared_ptr<Subscription> sub;    // a result of this subscription
  live::LiveQueries::ResultText data;   // ... with this data
  bool ping = false;                    // a websocket ping frame instead of a text message

  std::size_t size() const {
    if (sub) return sub->prefix.size() + data->size() + kWsDataSuffix.size();
    return shared ? shared->size() : text.size();
  }
  std::array<asio::const_buffer, 3> buffers() const {
    if (sub)
      return {asio::buffer(sub->prefix), asio::buffer(*data),
              asio::buffer(kWsDataSuffix.data(), kWsDataSuffix.size())};
    return {shared ? asio::buffer(*shared) : asio::buffer(text), asio::const_buffer(),
            asio::const_buffer()};
  }
};

// The header of an unmasked server frame (FIN set) with `opcode` and `size` bytes of payload:
// RFC 6455 5.2. Returns its length (2, 4 or 10).
std::size_t frame_header(std::array<unsigned char, 10>& h, unsigned char opcode, std::size_t size) {
  h[0] = static_cast<unsigned char>(0x80 | opcode);
  if (size < 126) {
    h[1] = static_cast<unsigned char>(size);
    return 2;
  }
  if (size <= 0xffff) {
    h[1] = 126;
    h[2] = static_cast<unsigned char>(size >> 8);
    h[3] = static_cast<unsigned char>(size);
    return 4;
  }
  h[1] = 127;
  for (int i = 0; i < 8; ++i) h[2 + i] = static_cast<unsigned char>(uint64_t(size) >> (56 - 8 * i));
  return 10;
}

// Messages written directly (WsSession::write_next): the frames of a batch as one iovec list,
// and how much of it the socket took so far. At most kMaxBatch messages, whose storage is
// reserved once: the iovecs point into `messages` and `headers`, which therefore never move, and
// a write allocates nothing.
struct DirectBatch {
  DirectBatch() {
    messages.reserve(kMaxBatch);
    headers.reserve(kMaxBatch);
    iov.reserve(4 * kMaxBatch);
  }
  std::vector<Outgoing> messages;
  std::vector<std::array<unsigned char, 10>> headers;
  std::vector<iovec> iov;
  std::size_t next_iov = 0;  // first iovec not completely written
  std::size_t written = 0;   // bytes written so far

  bool empty() const { return messages.empty(); }
  // Some but not all of the batch is on the wire: a frame is cut.
  bool partial() const { return written > 0 && next_iov < iov.size(); }

  // Only with fewer than kMaxBatch messages.
  void add(Outgoing out) {
    const std::size_t size = out.size();
    auto& header = headers.emplace_back();
    iov.push_back(iovec{header.data(), frame_header(header, out.ping ? 0x9 : 0x1, size)});
    const Outgoing& stored = messages.emplace_back(std::move(out));
    for (const auto& b : stored.buffers())
      if (b.size() > 0) iov.push_back(iovec{const_cast<void*>(b.data()), b.size()});
  }
  // Accounts `n` more bytes written; true when the whole batch is.
  bool advance(std::size_t n) {
    written += n;
    while (next_iov < iov.size() && n >= iov[next_iov].iov_len) n -= iov[next_iov++].iov_len;
    if (next_iov < iov.size()) {
      iov[next_iov].iov_base = static_cast<char*>(iov[next_iov].iov_base) + n;
      iov[next_iov].iov_len -= n;
    }
    return next_iov == iov.size();
  }
  void clear() {
    messages.clear();
    headers.clear();
    iov.clear();
    next_iov = written = 0;
  }
};

// One websocket connection. Runs on its I/O thread (io_threads.hpp): the reader coroutine,
// the writer (completion handlers, one write in flight) and the timers all run there, so no
// state needs a lock. It reaches the live core by posting to App::core; pushes come back through
// the thread's PushInbox (receive_push). Keep-alives come from the thread's KeepaliveTicker.
class WsSession : public std::enable_shared_from_this<WsSession>,
                  public PushReceiver,
                  public KeepaliveTicker::Client {
 public:
  WsSession(App& app, IoThread& io, tcp::socket socket, SubprotocolChoice choice,
            WsErrorFormat errors, bool relay)
      : app_(app),
        io_(io),
        ws_(std::move(socket)),
        protocol_(choice.protocol, errors),
        accept_(std::move(choice.accept)),
        init_timer_(ws_.get_executor()),
        expiry_timer_(ws_.get_executor()),
        relay_(relay) {}

  ~WsSession() override {
    if (registry_id_ != 0) app_.websockets.remove(registry_id_);
  }

  void start(beast::http::request<beast::http::string_body> request) {
    for (const auto& field : request)
      request_headers_[ascii_lower(field.name_string())] = field.value();
    for (const char* h : {"sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol",
                          "sec-websocket-extensions", "upgrade", "connection"})
      request_headers_.erase(h);
    asio::co_spawn(ws_.get_executor(), run(std::move(request)), log_exception);
  }

  // A burst from the PushInbox: results are only queued, then written together.
  void receive_push(const std::shared_ptr<void>& subscription,
                    Result<live::LiveQueries::ResultText> result) override {
    holding_ = true;
    on_push(std::static_pointer_cast<Subscription>(subscription), std::move(result));
  }

  void end_of_pushes() override {
    holding_ = false;
    write_next();
  }

  void on_keepalive() override {
    if (finished_ || close_code_ || protocol_.closed()) return;
    // Beast's idle timeout, done here (see run()): a ping after half of it without data from the
    // peer, the connection dropped after all of it.
    const auto idle = std::chrono::steady_clock::now() - last_read_;
    if (idle >= idle_timeout()) {
      spdlog::info("websocket peer sent nothing for {} s: dropping it",
                   std::chrono::duration_cast<std::chrono::seconds>(idle).count());
      fail_connection();
      return;
    }
    if (idle >= idle_timeout() / 2 && !idle_ping_sent_) {
      idle_ping_sent_ = true;
      Outgoing ping;
      ping.ping = true;
      enqueue(std::move(ping));
    }
    if (!protocol_.acknowledged()) return;
    Outgoing out;
    out.shared = &ws_keepalive_text(protocol_.protocol());
    enqueue(std::move(out));
  }

 private:
  asio::awaitable<void> run(beast::http::request<beast::http::string_body> request) {
    auto self = shared_from_this();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    std::string accept = accept_;
    ws_.set_option(websocket::stream_base::decorator([accept](websocket::response_type& res) {
      if (!accept.empty()) res.set(beast::http::field::sec_websocket_protocol, accept);
      res.set(beast::http::field::server, "liveql");
    }));
    ws_.read_message_max(0);  // no Beast limit: reader() enforces ours
    ws_.text(true);
    auto [ec] = co_await ws_.async_accept(request, kUseTuple);
    if (ec) co_return;
    // Beast's idle pings would be written behind the direct writer's back (write_next): the
    // idle timeout is ours (on_keepalive); Beast keeps the timeout of the closing handshake.
    websocket::stream_base::timeout timeouts =
        websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.control_callback(
        [this](websocket::frame_type kind, beast::string_view) { control_frame(kind); });
    note_read();
    register_session();
    accepted_ = true;

    asio::co_spawn(ws_.get_executor(), init_watchdog(), log_exception);
    if (app_.stopping) go_away(websocket::close_code::going_away, std::string(kGoingAway));
    write_next();
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
        note_read();
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
        auto data = buffer.data();  // a flat_buffer: one contiguous piece, no copy needed
        execute(protocol_.on_text(
            std::string_view(static_cast<const char*>(data.data()), data.size())));
      }
      buffer.consume(buffer.size());
    }
  }

  // The writer: one write in flight, started by enqueue() and continued from its completion;
  // no coroutine, no timer. After the queue drains, a pending close is sent.
  //
  // Direct writes: while the stream is open and the peer has sent no websocket ping, messages of
  // up to kMaxDirectMessage are framed here (unmasked text frames, as Beast would) and written
  // with one non-blocking sendmsg for everything queued (up to kMaxBatch messages): when the
  // socket takes it all, nothing is posted and nothing waits. What it does not take waits for
  // writability (socket async_wait) and is retried. Beast writes by itself only replies: the pong
  // to a peer's ping and the close reply (and the close of a failed connection). Its own idle
  // pings are off (we send them: on_keepalive). So on a peer's ping the session goes to Beast's
  // writes for good (Beast's pong write may still be in flight, unseen); and when a ping or a
  // close arrives while a direct batch is cut mid-frame, the reply would land inside our frame:
  // the connection is dropped instead (control_frame()).
  void write_next() {
    while (!writing_ && !holding_ && accepted_ && !finished_) {
      if (queue_.empty()) {
        if (close_code_ && !close_sent_) {
          close_sent_ = true;
          writing_ = true;
          websocket::close_reason reason(static_cast<websocket::close_code>(*close_code_),
                                         close_reason_);
          ws_.async_close(
              reason, [self = shared_from_this()](beast::error_code) { self->writing_ = false; });
        }
        return;
      }
      if (!direct_ok() || queue_.front().size() > kMaxDirectMessage) {
        write_with_beast();
        return;
      }
      while (!queue_.empty() && batch_.messages.size() < kMaxBatch &&
             queue_.front().size() <= kMaxDirectMessage) {
        Outgoing& out = queue_.front();
        queued_bytes_ -= out.size();
        if (out.sub) out.sub->queued = false;
        batch_.add(std::move(out));
        queue_.pop_front();
      }
      send_batch();
    }
  }

  bool direct_ok() const { return direct_ && ws_.is_open(); }

  // One message through Beast (one write in flight; a ping as Beast's ping).
  void write_with_beast() {
    writing_ = true;
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= in_flight_.size();
    if (in_flight_.sub) in_flight_.sub->queued = false;
    auto done = [self = shared_from_this()](beast::error_code ec, std::size_t = 0) {
      self->on_written(ec);
    };
    if (in_flight_.ping)
      ws_.async_ping({}, [done](beast::error_code ec) mutable { done(ec); });
    else
      ws_.async_write(in_flight_.buffers(), std::move(done));
  }

  // Writes what the socket takes of batch_ now; the rest waits for writability.
  void send_batch() {
    const int fd = ws_.next_layer().native_handle();
    for (;;) {
      msghdr msg{};
      msg.msg_iov = batch_.iov.data() + batch_.next_iov;
      msg.msg_iovlen = batch_.iov.size() - batch_.next_iov;
      const ssize_t n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) {
        if (batch_.advance(static_cast<std::size_t>(n))) {
          batch_.clear();
          return;
        }
        continue;  // the socket took part of it: try once more (usually EAGAIN next)
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      fail_connection();
      return;
    }
    writing_ = true;
    ws_.next_layer().async_wait(tcp::socket::wait_write,
                                [self = shared_from_this()](beast::error_code ec) {
                                  self->writing_ = false;
                                  if (ec || self->finished_) {
                                    self->batch_.clear();
                                    if (ec) self->fail_connection();
                                    return;
                                  }
                                  // Beast writes from now on (a peer's ping meanwhile): give it
                                  // the batch, unless a frame of it is cut (then the stream is
                                  // failing anyway: finish it).
                                  if (!self->direct_ok() && !self->batch_.partial())
                                    self->requeue_batch();
                                  else
                                    self->send_batch();
                                  self->write_next();
                                });
  }

  // Puts a batch none of which was written back at the head of the queue (for Beast's writes).
  // A result superseded by a newer one of its subscription meanwhile is dropped.
  void requeue_batch() {
    for (auto it = batch_.messages.rbegin(); it != batch_.messages.rend(); ++it) {
      if (it->sub) {
        if (it->sub->queued && !it->sub->stream) continue;
        it->sub->queued = true;
      }
      queued_bytes_ += it->size();
      queue_.push_front(std::move(*it));
    }
    batch_.clear();
  }

  // Beast calls this for every ping, pong and close frame of the peer, before it replies.
  void control_frame(websocket::frame_type kind) {
    note_read();
    if (kind == websocket::frame_type::pong) return;
    direct_ = false;  // Beast replies by itself from now on: only its writes, serialized
    if (batch_.partial()) {
      spdlog::info("websocket peer sent a control frame while a frame to it was cut; dropping it");
      fail_connection();
    }
  }

  // Ends the connection at once (write error, idle timeout, a reply that cannot be written): the
  // reader stops too.
  void fail_connection() {
    finished_ = true;
    clear_queue();
    batch_.clear();
    beast::error_code ignored;
    auto& socket = beast::get_lowest_layer(ws_);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.cancel(ignored);
  }

  void note_read() {
    last_read_ = std::chrono::steady_clock::now();
    idle_ping_sent_ = false;
  }

  void on_written(beast::error_code ec) {
    writing_ = false;
    in_flight_ = Outgoing{};
    if (ec) {
      finished_ = true;
      clear_queue();
      // The peer is gone: make the reader stop too.
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).cancel(ignored);
      return;
    }
    write_next();
  }

  void clear_queue() {
    for (auto& q : queue_)
      if (q.sub) q.sub->queued = false;
    queue_.clear();
    queued_bytes_ = 0;
  }

  // Listed in app_.websockets from the accepted handshake until destruction: a stopping server
  // closes every listed session with 1001 (posted to this session's thread).
  void register_session() {
    std::weak_ptr<WsSession> weak = weak_from_this();
    auto ex = ws_.get_executor();
    registry_id_ = app_.websockets.add([weak, ex](std::uint16_t code, const std::string& reason) {
      asio::dispatch(ex, [weak, code, reason] {
        if (auto self = weak.lock()) self->go_away(code, reason);
      });
    });
  }

  // Server shutdown: results already queued are still sent, then the close frame.
  void go_away(std::uint16_t code, const std::string& reason) {
    if (finished_) return;
    protocol_closed_by_us(code, reason);
  }

  void enqueue(Outgoing out) {
    if (finished_ || close_code_) return;
    if (!writing_ && !holding_ && queue_.empty() && accepted_ && direct_ok() &&
        out.size() <= kMaxDirectMessage) {
      // Nothing queued or in flight: one sendmsg, usually the whole message (write_next).
      if (out.sub) out.sub->queued = false;
      batch_.add(std::move(out));
      send_batch();
      return;
    }
    queued_bytes_ += out.size();
    queue_.push_back(std::move(out));
    if (queue_.size() > kMaxQueuedMessages || queued_bytes_ > kMaxQueuedBytes) {
      spdlog::warn("websocket client is not reading: {} messages, {} bytes queued; closing",
                   queue_.size(), queued_bytes_);
      clear_queue();
      protocol_closed_by_us(kCloseTooSlow, "Send queue overflow: the client is not reading");
      return;
    }
    write_next();
  }

  void enqueue_text(std::string text) {
    Outgoing out;
    out.text = std::move(text);
    enqueue(std::move(out));
  }

  // A result replaces a queued, not yet written result of the same subscription (not a stream's:
  // each of its results is a batch of its own).
  void enqueue_result(const std::shared_ptr<Subscription>& sub,
                      live::LiveQueries::ResultText data) {
    if (finished_ || close_code_) return;
    if (sub->queued && !sub->stream) {
      for (auto& q : queue_) {
        if (q.sub == sub) {
          queued_bytes_ = queued_bytes_ - q.data->size() + data->size();
          q.data = std::move(data);
          return;
        }
      }
    }
    Outgoing out;
    out.sub = sub;
    out.data = std::move(data);
    sub->queued = true;
    enqueue(std::move(out));
  }

  void protocol_closed_by_us(uint16_t code, std::string reason) {
    if (close_code_) return;
    close_code_ = code;
    close_reason_ = std::move(reason);
    unsubscribe_all();
    cancel_timers();
    write_next();
  }

  void execute(std::vector<WsAction> actions) {
    for (auto& a : actions) {
      switch (a.kind) {
        case WsAction::Kind::kSend:
          enqueue_text(std::move(a.text));
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
        io_.keepalive().add(std::weak_ptr<KeepaliveTicker::Client>(shared_from_this()));
      }
    } else {
      execute(protocol_.on_authenticated(Status(auth.error())));
    }
  }

  Result<AuthResult> authenticate_request(const std::map<std::string, std::string>& headers) {
    return server::authenticate(headers, *app_.auth, std::chrono::system_clock::now());
  }

  // Compiles and runs one operation: a subscription goes to LiveQueries with the plan's live
  // statement; a query whose answer is static is answered at once, any other runs through the
  // operation runner.
  void start_operation(const std::string& id, const json::object& payload) {
    OperationRequest request;
    request.query = std::string(payload.at("query").get_string());
    if (auto* v = payload.if_contains("variables"); v && v->is_object())
      request.variables = v->get_object();
    if (auto* n = payload.if_contains("operationName"); n && n->is_string())
      request.operation_name = std::string(n->get_string());
    request.relay = relay_;
    auto plan = plan_request(app_, session_, request);
    if (!plan) {
      execute(protocol_.on_error(id, plan.error()));
      return;
    }
    if (plan->type == gql::OperationType::kSubscription) {
      if (!app_.live) {
        execute(protocol_.on_error(
            id, make_error(ErrorCode::kNotSupported, "subscriptions are not available")));
        return;
      }
      subscribe(id, std::move(*plan));
      return;
    }
    if (auto data = static_result(*plan)) {
      execute(protocol_.on_data(id, *data));
      execute(protocol_.on_complete(id));
      return;
    }
    asio::co_spawn(ws_.get_executor(), run_query(id, std::move(*plan)), log_exception);
  }

  // Registers the subscription on the core. The push callback runs on the core: on a session of
  // the core's own thread (--threads 1) it delivers at once, otherwise through this thread's
  // PushInbox. Unsubscribing is posted to the core after this, so it always runs after it.
  void subscribe(const std::string& id, compiler::Plan plan) {
    auto sub = std::make_shared<Subscription>(id, protocol_.protocol());
    sub->stream = plan.live && !plan.live->stream_cursor_key.empty();
    subscriptions_[id] = sub;
    std::weak_ptr<WsSession> weak = weak_from_this();
    PushInbox* inbox = io_.is_core() ? nullptr : &io_.inbox();
    live::LiveQueries::Push push = [weak, sub, inbox](Result<live::LiveQueries::ResultText> r) {
      if (inbox != nullptr) {
        inbox->post(weak, sub, std::move(r));
      } else if (auto self = weak.lock()) {
        self->on_push(sub, std::move(r));
      }
    };
    asio::dispatch(app_.core, [live = app_.live, sub, plan = std::move(plan), role = session_.role,
                               push = std::move(push)]() mutable {
      sub->core_id = subscribe_plan(*live, plan, role, std::move(push));
    });
  }

  // On the core. Dependencies are extracted only for a new cohort (same role and SQL: same
  // dependencies): LivePlan::dependencies() runs when LiveQueries asks.
  static live::SubscriberId subscribe_plan(live::LiveQueries& live, compiler::Plan& plan,
                                           const std::string& role, live::LiveQueries::Push push) {
    if (auto data = static_result(plan))
      return live.subscribe_static(std::move(*data), std::move(push));
    const compiler::LivePlan& statement = *plan.live;
    if (!statement.stream_cursor_key.empty()) {
      return live.subscribe_stream(std::move(plan.live->sql), role, plan.root_field_name, plan.vars,
                                   statement.stream_cursor_key, std::move(push),
                                   [&statement] { return statement.dependencies(); });
    }
    return live.subscribe_tracked(std::move(plan.live->sql), role, plan.root_field_name, plan.vars,
                                  std::move(push),
                                  [&statement] { return statement.dependencies(); });
  }

  asio::awaitable<void> run_query(std::string id, compiler::Plan plan) {
    auto self = shared_from_this();
    auto data = co_await execute_plan(app_, session_, std::move(plan));
    if (!protocol_.active(id)) co_return;  // stopped, or the connection closed meanwhile
    if (!data) {
      execute(protocol_.on_execution_error(id, data.error()));
      co_return;
    }
    execute(protocol_.on_data(id, *data));
    execute(protocol_.on_complete(id));
  }

  void on_push(const std::shared_ptr<Subscription>& sub, Result<live::LiveQueries::ResultText> r) {
    auto it = subscriptions_.find(sub->id);
    if (it == subscriptions_.end() || it->second != sub) return;  // stopped (maybe id reused)
    if (!r) {
      subscriptions_.erase(it);  // the live manager already dropped it
      execute(protocol_.on_error(sub->id, visible_error(r.take_error(), session_)));
      return;
    }
    if (protocol_.closed() || !protocol_.active(sub->id)) return;
    enqueue_result(sub, std::move(*r));
  }

  void unsubscribe_on_core(std::shared_ptr<Subscription> sub) {
    if (!app_.live) return;
    asio::dispatch(app_.core,
                   [live = app_.live, sub = std::move(sub)] { live->unsubscribe(sub->core_id); });
  }

  void stop_operation(const std::string& id) {
    auto it = subscriptions_.find(id);
    if (it == subscriptions_.end()) return;
    unsubscribe_on_core(std::move(it->second));
    subscriptions_.erase(it);
  }

  void unsubscribe_all() {
    for (auto& [id, sub] : subscriptions_) unsubscribe_on_core(std::move(sub));
    subscriptions_.clear();
  }

  asio::awaitable<void> init_watchdog() {
    auto self = shared_from_this();
    init_timer_.expires_after(init_timeout(app_));
    auto [ec] = co_await init_timer_.async_wait(kUseTuple);
    if (ec || finished_) co_return;
    execute(protocol_.on_init_timeout());
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
    expiry_timer_.cancel();
  }

  // The reader ended (peer closed, error, or we closed): release everything at once.
  void shutdown() {
    unsubscribe_all();
    cancel_timers();
    if (!close_code_) {
      finished_ = true;
      clear_queue();
      if (!batch_.empty()) {  // a direct write waits for writability: end the wait
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).cancel(ignored);
      }
    }
    write_next();
  }

  App& app_;
  IoThread& io_;
  websocket::stream<tcp::socket> ws_;
  WsProtocol protocol_;
  std::string accept_;
  std::map<std::string, std::string> request_headers_;
  compiler::Session session_;
  std::map<std::string, std::shared_ptr<Subscription>> subscriptions_;
  std::deque<Outgoing> queue_;
  Outgoing in_flight_;  // the message Beast is writing (its buffers must live until then)
  DirectBatch batch_;   // the messages being written directly (write_next)
  size_t queued_bytes_ = 0;
  bool direct_ = true;  // direct writes allowed: the peer has sent no ping (write_next)
  std::chrono::steady_clock::time_point last_read_;  // data (or a control frame) from the peer
  bool idle_ping_sent_ = false;                      // ... and since then, an idle ping
  std::optional<uint16_t> close_code_;
  std::string close_reason_;
  bool accepted_ = false;
  bool writing_ = false;  // a write (Beast's or a direct batch's rest) or the close is in flight
  bool holding_ = false;  // inside a PushInbox burst: queue, write at end_of_pushes()
  bool close_sent_ = false;
  bool finished_ = false;
  bool keepalive_started_ = false;
  std::uint64_t registry_id_ = 0;  // in app_.websockets; 0 = not listed
  asio::steady_timer init_timer_;
  asio::steady_timer expiry_timer_;
  const bool relay_;  // on /v1beta1/relay: operations use the role's Relay schema
};

}  // namespace

void start_websocket_session(App& app, IoThread& io, beast::tcp_stream stream,
                             beast::http::request<beast::http::string_body> request) {
  auto choice = choose_subprotocol(request[beast::http::field::sec_websocket_protocol]);
  std::string_view target = request.target();
  target = target.substr(0, target.find('?'));
  auto errors = target == "/v1alpha1/graphql" ? WsErrorFormat::kLegacy : WsErrorFormat::kGraphql;
  const bool relay = target == "/v1beta1/relay";
  std::make_shared<WsSession>(app, io, stream.release_socket(), std::move(choice), errors, relay)
      ->start(std::move(request));
}

}  // namespace liveql::server
