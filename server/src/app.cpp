#include "app.hpp"

#include "liveql/live/metrics.hpp"

namespace liveql::server {

void WebSocketRegistry::update_gauge() {
  if (metrics_)
    metrics_->set("liveql_websocket_connections", static_cast<double>(sessions_.size()));
}

}  // namespace liveql::server
