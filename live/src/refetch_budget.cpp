#include "refetch_budget.hpp"

#include <algorithm>

namespace liveql::live {
namespace {

constexpr long kIdleIntervalsDecay = 8;  // halvings applied at most for idle intervals

}  // namespace

RefetchBudget::RefetchBudget(Clock::duration interval, Clock::duration base_cap)
    : interval_(std::max(interval, Clock::duration(kMinWindow))),
      base_(std::clamp(base_cap, Clock::duration(kMinWindow), interval_)),
      cap_(base_),
      min_rows_(std::max<std::size_t>(
          1,
          static_cast<std::size_t>(
              kMinThrottleRowsPerSecond *
              std::chrono::duration_cast<std::chrono::milliseconds>(interval_).count() / 1000))) {}

void RefetchBudget::returned(Clock::time_point now, std::size_t rows, std::size_t distinct_vars) {
  if (!started_) {
    started_ = true;
    interval_start_ = now;
  }
  if (now - interval_start_ >= interval_) {
    roll(distinct_vars);
    // Intervals without any statement since: each halves the cap once more.
    auto idle = (now - interval_start_) / interval_ - 1;
    for (long i = 0; i < std::min<long>(idle, kIdleIntervalsDecay) && cap_ > base_; ++i)
      cap_ = std::max(base_, cap_ / 2);
    interval_start_ = now;
  }
  rows_ += rows;
}

void RefetchBudget::roll(std::size_t distinct_vars) {
  const std::size_t poll_rows = std::max<std::size_t>(distinct_vars, 1);
  if (rows_ >= min_rows_ && rows_ * 4 > poll_rows * 5) {
    cap_ = std::min(interval_, cap_ * 2);
  } else if (rows_ * 5 < poll_rows * 3) {
    cap_ = std::max(base_, cap_ / 2);
  }
  rows_ = 0;
}

RefetchBudget::Clock::duration RefetchBudget::window(Clock::duration last_statement) const {
  if (throttled()) return cap_;
  return std::min(std::max(kWindowFactor * last_statement, Clock::duration(kMinWindow)), base_);
}

}  // namespace liveql::live
