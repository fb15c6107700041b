// Event mode's cost bound: a cohort in event mode never costs much more than polling it would.
//
// Poll mode refetches each distinct variable set of a cohort once per refetch interval, in one
// burst: a round of statements of `batch_size` variable sets, back to back. Event mode refetches
// as commits arrive, so under a sustained stream of commits it can refetch the same subscribers
// several times per interval (at 10,000 commits/s on 3,000 subscribers it read each about three
// times a second), or read each once but in a burst per commit (50 commits/s over 5,000
// subscribers: 50 statements and 50 wake-ups of every thread a second where a round has one),
// and cost more CPU than polling (docs/BENCHMARKS.md). The budget counts, per interval, the
// variable sets the cohort's event statements took (rows) and the statements, and compares each
// with an allowance:
//  - rows: more than 1.25 × the cohort's distinct variable sets (a poll round), counted from
//    kMinThrottleRowsPerSecond;
//  - statements: more than 1.25 × kBurstsPerSecond (scaled to the interval), or than the
//    statements those rows need at `statement_rows` each when that is more. A cohort whose
//    commits keep coming is refetched in at most about ten bursts a second, each taking
//    everything queued: fewer, fuller statements than a round runs, and one burst where a
//    commit-at-a-time refetch wakes every thread again.
// Either doubles the throttle period, up to the interval itself, where an event refetch costs
// what a poll round does; both below 0.6 × (or under their minimum) halve it, back down to the
// base.
// While throttled, an event statement starts at most once per throttle period after the last
// one started (the caller keeps that time); full statements wait too (otherwise a backlog larger
// than a statement starts at once). First fetches are never held by it. A cohort refetching less
// often than kBurstsPerSecond is never held back (statements count from half of it, so a cohort
// held at about ten a second stays there), and an idle cohort is never delayed: a period
// left high by a burst decays by one halving per idle interval.
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
  static constexpr std::size_t kBurstsPerSecond = 10;

  // `statement_rows`: the most variable sets one event statement takes.
  RefetchBudget(Clock::duration interval, Clock::duration base_cap, std::size_t statement_rows);

  // An event statement returned at `now` having taken `rows` variable sets; the cohort has
  // `distinct_vars` of them.
  void returned(Clock::time_point now, std::size_t rows, std::size_t distinct_vars);
  // `rows` results written from row images (ARCHITECTURE rule 11) were pushed at `now`: counted
  // with the statements' rows (each subscriber pushed more than about once an interval
  // throttles the cohort: its written results are then pushed once per period), but not as a
  // statement (a flush runs none, and costs little).
  void written(Clock::time_point now, std::size_t rows, std::size_t distinct_vars);

  // How long requests queued now wait for the next statement, given the last one's duration
  // (throttled, event statements also wait a cap after the last one started).
  Clock::duration window(Clock::duration last_statement) const;

  bool throttled() const { return cap_ > base_; }
  Clock::duration cap() const { return cap_; }

 private:
  void count(Clock::time_point now, std::size_t rows, std::size_t statements,
             std::size_t distinct_vars);
  void roll(std::size_t distinct_vars);

  Clock::duration interval_;
  Clock::duration base_;
  Clock::duration cap_;
  std::size_t statement_rows_;
  std::size_t min_rows_;  // kMinThrottleRowsPerSecond over one interval
  std::size_t bursts_;    // kBurstsPerSecond over one interval
  bool started_ = false;
  Clock::time_point interval_start_{};
  std::size_t rows_ = 0;
  std::size_t statements_ = 0;
};

}  // namespace liveql::live
