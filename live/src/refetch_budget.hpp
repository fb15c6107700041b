// Event mode's cost bound: a cohort in event mode never costs much more than polling it would.
//
// Poll mode refetches each distinct variable set of a cohort once per refetch interval, in
// statements of `batch_size` variable sets. Event mode refetches as commits arrive, so under a
// sustained stream of commits it can refetch the same subscribers several times per interval (at
// 10,000 commits/s on 3,000 subscribers it read each about three times a second), or read them
// once but in many small statements (50 commits/s on 1,000 subscribers: 50 statements a second
// where a poll round runs 10), and cost more CPU than polling (docs/BENCHMARKS.md). The budget
// counts, per interval, the variable sets the cohort's event statements took (rows) and the
// statements, and compares each with what polling would have run:
//  - rows: more than 1.25 × the cohort's distinct variable sets (a poll round), counted from
//    kMinThrottleRowsPerSecond; statements: more than 1.25 × the statements those rows need at
//    `batch_size` each (at least a poll round's), counted from kMinThrottleStatementsPerSecond
//    (both scaled to the interval). Either doubles the throttle period, up to the interval
//    itself, where an event refetch costs what a poll round does;
//  - both below 0.6 × (or under their minimum): it halves, back down to the base.
// While throttled, an event statement starts at most once per throttle period after the last
// one started (the caller keeps that time); full statements wait too (otherwise a backlog larger
// than a statement starts at once). First fetches are never held by it. Hot rows of a small
// cohort are throttled only down to kMinThrottleStatementsPerSecond (the minimums), and an idle
// cohort is never delayed: a period left high by a burst decays by one halving per idle
// interval.
//
// Pure: the clock is the caller's. Owned by a cohort, used on the live core's thread.
#pragma once

#include <chrono>
#include <cstddef>

namespace liveql::live {

class RefetchBudget {
 public:
  using Clock = std::chrono::steady_clock;

  // The batch window: kWindowFactor × the last statement's duration, at least kMinWindow, at
  // most `base_cap`. Throttled, the throttle period is the cap (up to `interval`).
  static constexpr int kWindowFactor = 4;
  static constexpr std::chrono::milliseconds kMinWindow{10};
  static constexpr std::size_t kMinThrottleRowsPerSecond = 1000;
  static constexpr std::size_t kMinThrottleStatementsPerSecond = 20;

  RefetchBudget(Clock::duration interval, Clock::duration base_cap, std::size_t batch_size);

  // An event statement returned at `now` having taken `rows` variable sets; the cohort has
  // `distinct_vars` of them.
  void returned(Clock::time_point now, std::size_t rows, std::size_t distinct_vars);

  // How long requests queued now wait for the next statement, given the last one's duration
  // (throttled, event statements also wait a cap after the last one started).
  Clock::duration window(Clock::duration last_statement) const;

  bool throttled() const { return cap_ > base_; }
  Clock::duration cap() const { return cap_; }

 private:
  void roll(std::size_t distinct_vars);

  Clock::duration interval_;
  Clock::duration base_;
  Clock::duration cap_;
  std::size_t batch_size_;
  std::size_t min_rows_;        // kMinThrottleRowsPerSecond over one interval
  std::size_t min_statements_;  // kMinThrottleStatementsPerSecond over one interval
  bool started_ = false;
  Clock::time_point interval_start_{};
  std::size_t rows_ = 0;
  std::size_t statements_ = 0;
};

}  // namespace liveql::live
