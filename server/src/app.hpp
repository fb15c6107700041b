// What every HTTP and WebSocket session shares. liveql runs one io_context on one thread
// (PostgreSQL gets the other core): sessions, the live-query manager, the replication stream
// and the Postgres pool all run on it, so nothing here needs a lock. Work posted from other
// threads (none today) must go through `executor`.
//
// Owned by main.cpp, which outlives every session. Members are filled in before the listener
// accepts its first connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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

struct AuthConfig;  // auth.hpp

// The open websocket sessions, so that a stopping server can close each one with 1001 (going
// away) and /metrics can count them (liveql_websocket_connections). A session adds itself once
// its handshake is accepted and removes itself when it is destroyed.
class WebSocketRegistry {
 public:
  // Closes the session with `code` and `reason` (after the results already queued for it).
  using GoAway = std::function<void(std::uint16_t code, const std::string& reason)>;

  std::uint64_t add(GoAway go_away) {
    sessions_.emplace(next_, std::move(go_away));
    return next_++;
  }
  void remove(std::uint64_t id) { sessions_.erase(id); }
  std::size_t size() const { return sessions_.size(); }
  void close_all(std::uint16_t code, const std::string& reason) {
    std::vector<GoAway> all;  // a callback may add or remove sessions
    for (const auto& [id, go_away] : sessions_) all.push_back(go_away);
    for (const auto& go_away : all) go_away(code, reason);
  }

 private:
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, GoAway> sessions_;
};

struct App {
  const Config* config = nullptr;
  const AuthConfig* auth = nullptr;
  std::shared_ptr<const compiler::Schema> schema;
  compiler::Limits limits;
  live::PgPool* pool = nullptr;
  live::LiveQueries* live = nullptr;
  live::Metrics* metrics = nullptr;
  live::ChangeFeed* feed = nullptr;  // null when event mode is off for the whole server
  std::string health_message;        // "" when healthy; otherwise why the server cannot serve

  // Shutdown (SIGTERM/SIGINT, main.cpp): once `stopping` is set, HTTP responses close their
  // connection and new websocket sessions are closed with 1001 right after the handshake.
  bool stopping = false;
  WebSocketRegistry websockets;
  std::size_t http_requests_in_flight = 0;  // requests read and not yet answered
};

}  // namespace liveql::server
