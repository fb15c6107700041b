// Test helpers: drive an io_context until a condition holds, with a deadline (never a sleep).
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <functional>

namespace liveql::live::testing {

// Runs handlers until `done()` or the deadline; returns done().
inline bool run_until(boost::asio::io_context& ioc, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    auto now = std::chrono::steady_clock::now();
    if (now > deadline) return false;
    if (ioc.stopped()) ioc.restart();
    // Handlers ready within 2 ms run before `done` is asked again: a costly condition (the
    // oracle compares every result) must not run after each of thousands of small handlers.
    if (ioc.run_one_for(std::chrono::milliseconds(10)) == 0) continue;
    auto until = now + std::chrono::milliseconds(2);
    while (std::chrono::steady_clock::now() < until && ioc.poll_one() > 0) {
    }
  }
  return true;
}

// A completion handler for co_spawn that rethrows into the test (surfacing failures).
struct Rethrow {
  void operator()(std::exception_ptr e) const {
    if (e) std::rethrow_exception(e);
  }
};

}  // namespace liveql::live::testing
