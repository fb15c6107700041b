// Event mode's cost bound: a cohort in event mode never costs much more than polling it would.
//
// Poll mode refetches each distinct variable set of a cohort once per refetch interval. Event
// mode refetches as commits arrive, so under a sustained stream of commits it can refetch the
// same subscribers several times per interval: at 10,000 commits/s on 3,000 subscribers it read
// each about three times a second, and cost more CPU than polling (docs/BENCHMARKS.md). The
// budget counts, per interval, the variable sets the cohort's event statements took (rows):
//  - more than 1.25 × the cohort's distinct variable sets (what a poll round takes) and at least
//    kMinThrottleRowsPerSecond (scaled to the interval): the batch window's cap doubles, up to the
//    interval itself, where an event refetch costs what a poll round does (each subscriber read at
//    most about once per interval);
//  - fewer than 0.6 × (at a window of the interval that means each subscriber changed less than
//    about once per interval, where event mode unthrottled costs less than polling): it halves,
//    back down to the base.
// While the cap is above the base the cohort is throttled: the window is the cap, and full
// statements wait it out too (otherwise a backlog larger than a statement starts at once,
// whatever the window). Hot rows of a small cohort are never throttled (the minimum), and an
// idle cohort is never delayed: the window only runs while requests queue behind returning
// statements, and a cap left high by a burst decays by one halving per idle interval.
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
  // most `base_cap`; throttled, the cap (up to `interval`).
  static constexpr int kWindowFactor = 4;
  static constexpr std::chrono::milliseconds kMinWindow{10};
  static constexpr std::size_t kMinThrottleRowsPerSecond = 1000;

  RefetchBudget(Clock::duration interval, Clock::duration base_cap);

  // An event statement returned at `now` having taken `rows` variable sets; the cohort has
  // `distinct_vars` of them.
  void returned(Clock::time_point now, std::size_t rows, std::size_t distinct_vars);

  // How long requests queued now wait for the next statement, given the last one's duration.
  Clock::duration window(Clock::duration last_statement) const;

  bool throttled() const { return cap_ > base_; }
  Clock::duration cap() const { return cap_; }

 private:
  void roll(std::size_t distinct_vars);

  Clock::duration interval_;
  Clock::duration base_;
  Clock::duration cap_;
  std::size_t min_rows_;  // kMinThrottleRowsPerSecond over one interval
  bool started_ = false;
  Clock::time_point interval_start_{};
  std::size_t rows_ = 0;
};

}  // namespace liveql::live
