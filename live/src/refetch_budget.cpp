#include "refetch_budget.hpp"

#include <algorithm>

namespace liveql::live {
namespace {

constexpr long kIdleIntervalsDecay = 8;  // halvings applied at most for idle intervals
constexpr double kAllowance = 1.25;      // results a subscriber may ask for per interval, held

// `per_second` over one interval, at least 1.
std::size_t per_interval(std::size_t per_second, RefetchBudget::Clock::duration interval) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(interval).count();
  return std::max<std::size_t>(1, static_cast<std::size_t>(per_second * ms / 1000));
}

// How far `used` is over `allowed` (1.0 = as much), 0 under `minimum`.
double pressure(std::size_t used, std::size_t allowed, std::size_t minimum) {
  if (used < minimum) return 0;
  return static_cast<double>(used) / static_cast<double>(std::max<std::size_t>(allowed, 1));
}

}  // namespace

RefetchBudget::RefetchBudget(Clock::duration interval, Clock::duration base_cap,
                             std::size_t statement_rows)
    : interval_(std::max(interval, Clock::duration(kMinWindow))),
      base_(std::clamp(base_cap, Clock::duration(kMinWindow), interval_)),
      cap_(base_),
      held_(std::max(base_, interval_ * 4 / 5)),
      statement_rows_(std::max<std::size_t>(statement_rows, 1)),
      min_rows_(per_interval(kMinThrottleRowsPerSecond, interval_)),
      bursts_(per_interval(kBurstsPerSecond, interval_)) {}

void RefetchBudget::returned(Clock::time_point now, std::size_t rows, std::size_t subscribers) {
  count(now, rows, 1, subscribers);
}

void RefetchBudget::flushed(Clock::time_point now, std::size_t subscribers) {
  count(now, 0, 0, subscribers);
}

void RefetchBudget::count(Clock::time_point now, std::size_t rows, std::size_t statements,
                          std::size_t subscribers) {
  if (!started_) {
    started_ = true;
    interval_start_ = now;
  }
  if (now - interval_start_ >= interval_) {
    roll(subscribers);
    // Intervals without any statement since: each halves the cap once more.
    auto idle = (now - interval_start_) / interval_ - 1;
    for (long i = 0; i < std::min<long>(idle, kIdleIntervalsDecay) && cap_ > base_; ++i)
      cap_ = std::max(base_, cap_ / 2);
    interval_start_ = now;
  } else if (pressure(demand_, subscribers, min_rows_) > kAllowance) {
    // The interval's demand is over the allowance already: held now, not when the interval ends
    // (at 10,000 commits/s on 1,000 subscribers, an eighth of a second instead of a second of
    // pushing every commit).
    cap_ = std::max(cap_, held_);
  }
  rows_ += rows;
  statements_ += statements;
}

void RefetchBudget::roll(std::size_t subscribers) {
  const std::size_t allowed_statements =
      std::max(bursts_, (rows_ + statement_rows_ - 1) / statement_rows_);
  const double demand = pressure(demand_, subscribers, min_rows_);
  // Counted from half: a cohort held at the allowance stays there.
  const double statements = pressure(statements_, allowed_statements, bursts_ / 2);
  if (demand > kAllowance) {
    // Held at the allowance at once: each subscriber pushed (or read) at most 1.25 times an
    // interval. Demand is not the throttle's own effect, so there is nothing to approach (a
    // doubling an interval took five seconds to get there); and a period under the interval
    // keeps event mode's latency under a round's, which waits for the stream's decoding too.
    cap_ = std::max(cap_, held_);
  } else if (statements > 1.25) {
    cap_ = std::min(interval_, cap_ * 2);
  } else if (demand <= 1.1 && statements < 0.6) {
    cap_ = std::max(base_, cap_ / 2);
  }
  demand_ = 0;
  rows_ = 0;
  statements_ = 0;
}

RefetchBudget::Clock::duration RefetchBudget::window(Clock::duration last_statement) const {
  return std::min(std::max(kWindowFactor * last_statement, Clock::duration(kMinWindow)), base_);
}

}  // namespace liveql::live
