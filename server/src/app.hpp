// What every HTTP and WebSocket session shares, and which thread may touch what (io_threads.hpp
// describes the threads: the core, and the I/O threads that run sessions).
//
// Owned by main.cpp, which outlives every session. The plain members (config, auth, schema,
// limits, pool, live, metrics, feed, health_message, core) are written on the core during
// startup, before the listener accepts its first connection, and only read afterwards: any
// thread may read them. pool, live and feed are core-only objects: reach them by posting to
// `core` (or co_spawn on it). metrics is thread-safe. stopping, websockets and
// http_requests_in_flight are thread-safe (atomics, a mutex).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "liveql/compiler/compile.hpp"
#include "liveql/server/config.hpp"

namespace liveql::live {
class PgPool;
class LiveQueries;
class Metrics;
class ChangeFeed;
}  // namespace liveql::live

namespace liveql::server {

struct AuthConfig;    // auth.hpp
class ConsoleAssets;  // console.hpp

// The open websocket sessions, so that a stopping server can close each one with 1001 (going
// away) and /metrics can count them (liveql_websocket_connections). A session adds itself once
// its handshake is accepted and removes itself when it is destroyed. Thread-safe: sessions of
// every I/O thread use it; close_all() runs the callbacks outside the lock, on the caller's
// thread (each callback posts to its session's thread).
class WebSocketRegistry {
 public:
  // Closes the session with `code` and `reason` (after the results already queued for it).
  using GoAway = std::function<void(std::uint16_t code, const std::string& reason)>;

  // The gauge liveql_websocket_connections is set under the registry's lock, so that sessions
  // of different threads never leave a stale count behind.
  void set_gauge(live::Metrics* metrics) { metrics_ = metrics; }

  std::uint64_t add(GoAway go_away) {
    std::lock_guard lock(mutex_);
    sessions_.emplace(next_, std::move(go_away));
    update_gauge();
    return next_++;
  }
  void remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
    update_gauge();
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }
  void close_all(std::uint16_t code, const std::string& reason) {
    std::vector<GoAway> all;  // a callback may add or remove sessions
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, go_away] : sessions_) all.push_back(go_away);
    }
    for (const auto& go_away : all) go_away(code, reason);
  }

 private:
  void update_gauge();  // with mutex_ held (app.cpp)

  live::Metrics* metrics_ = nullptr;  // set before the first session
  mutable std::mutex mutex_;
  std::uint64_t next_ = 1;                    // guarded by mutex_
  std::map<std::uint64_t, GoAway> sessions_;  // guarded by mutex_
};

struct App {
  const Config* config = nullptr;
  const AuthConfig* auth = nullptr;
  std::shared_ptr<const compiler::Schema> schema;
  compiler::Limits limits;
  live::PgPool* pool = nullptr;
  live::LiveQueries* live = nullptr;
  live::Metrics* metrics = nullptr;
  live::ChangeFeed* feed = nullptr;        // null when event mode is off for the whole server
  std::string health_message;              // "" when healthy; otherwise why the server cannot serve
  const ConsoleAssets* console = nullptr;  // set when --enable-console: GET /console serves it
  // The core's executor: where pool, live and feed live (io_threads.hpp).
  boost::asio::any_io_executor core;

  // Shutdown (SIGTERM/SIGINT, main.cpp): once `stopping` is set, HTTP responses close their
  // connection and new websocket sessions are closed with 1001 right after the handshake.
  std::atomic<bool> stopping = false;
  WebSocketRegistry websockets;
  std::atomic<std::size_t> http_requests_in_flight = 0;  // requests read and not yet answered
};

}  // namespace liveql::server
