// Event mode's cost bound: a cohort in event mode never costs much more than polling it would.
//
// Poll mode refetches each distinct variable set of a cohort once per refetch interval, in one
// burst: a round of statements of `batch_size` variable sets, back to back. Event mode refetches
// as commits arrive, so under a sustained stream of commits it can refetch the same subscribers
// several times per interval (at 10,000 commits/s on 3,000 subscribers it read each about three
// times a second), or read each once but in a burst per commit (50 commits/s over 5,000
// subscribers: 50 statements and 50 wake-ups of every thread a second where a round has one),
// and cost more CPU than polling (docs/BENCHMARKS.md). The budget counts, per interval:
//  - demand: the results commits asked for, one per subscriber a commit matched (or wrote from
//    its row image), pending ones included: what event mode would read and push unthrottled,
//    whatever the throttle lets through. More than 1.25 per subscriber (each changing more
//    often than a poll round reads it), counted from kMinThrottleRowsPerSecond, throttles; at
//    most 1.1 releases. Counting demand rather than what was pushed keeps the decision off the
//    throttle's own effect: a cohort held at the interval pushes each subscriber about once, as
//    a poll round does, and must stay held while its commits keep coming (counting pushes, a
//    cohort of fewer subscribers than the minimum released itself every other interval, and a
//    large one caught by a burst stayed held at one change a second);
//  - statements: more than 1.25 × kBurstsPerSecond (scaled to the interval), or than the
//    statements the interval's rows need at `statement_rows` each when that is more, throttles;
//    under 0.6 × releases. A cohort whose commits keep coming is refetched in at most about ten
//    bursts a second, each taking everything queued: fewer, fuller statements than a round
//    runs, and one burst where a commit-at-a-time refetch wakes every thread again.
// Demand throttles at once (as soon as an interval's count is over, not at its end) to 0.8 × the
// interval, where each subscriber is pushed (or read) at most 1.25 times an interval, the
// allowance (demand does not fall with the period: nothing to approach), yet an update waits
// less than for a round; statements double the throttle period, up to the interval, where an
// event refetch costs what a poll round does; releasing (both measures low) halves it, back
// down to the base.
// While throttled, an event statement starts at most once per throttle period after the last
// one started (the caller keeps that time); full statements wait too (otherwise a backlog larger
// than a statement starts at once), and written results are pushed once per period. First
// fetches are never held by it. A cohort refetching less often than kBurstsPerSecond is never
// held back (statements count from half of it, so a cohort held at about ten a second stays
// there), and an idle cohort is never delayed: a period left high by a burst decays by one
// halving per idle interval.
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

  // Commits asked for `n` results (subscribers matched, or written from their row images).
  // Counted into the interval the next `returned` or `flushed` closes: no clock read per match.
  void demanded(std::size_t n) { demand_ += n; }
  // An event statement returned at `now` having taken `rows` variable sets; the cohort has
  // `subscribers` members.
  void returned(Clock::time_point now, std::size_t rows, std::size_t subscribers);
  // Results written from row images (ARCHITECTURE rule 11) were pushed at `now`: no statement
  // (a flush runs none, and costs little); their demand was counted as they were written.
  void flushed(Clock::time_point now, std::size_t subscribers);

  // How long requests queued now wait for the next statement, given the last one's duration
  // (throttled, event statements also wait a cap after the last one started).
  Clock::duration window(Clock::duration last_statement) const;

  bool throttled() const { return cap_ > base_; }
  // Throttled to the held period or beyond: its subscribers are read about as a poll round does.
  bool held() const { return cap_ >= held_; }
  Clock::duration cap() const { return cap_; }
  // The period demand holds a cohort at (0.8 × the interval, at least the base).
  Clock::duration held_period() const { return held_; }

 private:
  void count(Clock::time_point now, std::size_t rows, std::size_t statements,
             std::size_t subscribers);
  void roll(std::size_t subscribers);

  Clock::duration interval_;
  Clock::duration base_;
  Clock::duration cap_;
  Clock::duration held_;  // the period demand holds a cohort at: 0.8 × the interval
  std::size_t statement_rows_;
  std::size_t min_rows_;  // kMinThrottleRowsPerSecond over one interval
  std::size_t bursts_;    // kBurstsPerSecond over one interval
  bool started_ = false;
  Clock::time_point interval_start_{};
  std::size_t demand_ = 0;
  std::size_t rows_ = 0;  // variable sets the interval's statements took
  std::size_t statements_ = 0;
};

}  // namespace liveql::live
