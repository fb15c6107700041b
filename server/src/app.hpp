// What every HTTP and WebSocket session shares. liveql runs one io_context on one thread
// (PostgreSQL gets the other core): sessions, the live-query manager, the replication stream
// and the Postgres pool all run on it, so nothing here needs a lock. Work posted from other
// threads (none today) must go through `executor`.
//
// Owned by main.cpp, which outlives every session. Members are filled in before the listener
// accepts its first connection.
#pragma once

#include <memory>
#include <string>

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
};

}  // namespace liveql::server
