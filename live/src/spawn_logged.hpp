// The completion handler of a detached coroutine of the live core: keeps `owner` alive until the
// coroutine ends; an exception that ends it is logged and counted in liveql_errors_total.
#pragma once

#include <spdlog/spdlog.h>

#include <exception>
#include <memory>

#include "liveql/live/metrics.hpp"

namespace liveql::live {

template <class Owner>
auto log_failure(std::shared_ptr<Owner> owner, Metrics& metrics, const char* what) {
  return [owner = std::move(owner), &metrics, what](std::exception_ptr e) {
    if (!e) return;
    metrics.inc("liveql_errors_total");
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("live: {} failed: {}", what, ex.what());
    } catch (...) {
      spdlog::error("live: {} failed", what);
    }
  };
}

}  // namespace liveql::live
