// RefetchPacer: keeps an event-mode cohort from costing more than polling would when it falls
// behind. Pure (time is passed in), one per cohort, used by LiveQueries' scheduler.
//
// Free running (the normal state), a matched commit's refetch starts as soon as the batch window
// allows. When a refetch starts for a commit decoded more than a quarter of the refetch interval
// ago, the cohort is behind: the database (or liveql) cannot keep up with refetching on every
// commit, and each extra statement only adds to the load that put it behind. It then refetches in
// paced rounds, as poll mode does: a round starts once nothing of the cohort runs and at least
// refetch_interval after the previous round started, and takes everything queued by then (only
// the subscribers a commit affected, unlike a poll round). A commit then waits at most an
// interval plus the round's statements, as under polling, and the cohort runs at most one round
// per interval, as under polling. Once a round's statements all return within an eighth of the
// interval, the database has room again and the cohort runs free.
#pragma once

#include <chrono>
#include <cstddef>

namespace liveql::live {

class RefetchPacer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RefetchPacer(Clock::duration interval) : interval_(interval) {}

  bool behind() const { return behind_; }
  std::size_t rounds() const { return rounds_; }  // paced rounds started

  // Whether an event refetch may start now, with `running` statements of the cohort running.
  // When it may not, `until` is when to ask again (or Clock::time_point::max(): when a running
  // statement returns).
  bool may_start(Clock::time_point now, std::size_t running, Clock::time_point& until) {
    if (!behind_ || taking_) return true;
    if (running > 0) {
      until = Clock::time_point::max();
      return false;
    }
    if (now < next_round_) {
      until = next_round_;
      return false;
    }
    taking_ = true;  // a new round: everything queued now is in it
    round_started_ = now;
    next_round_ = now + interval_;
    ++rounds_;
    return true;
  }

  // An event refetch started now for a commit decoded at `oldest_change` (the oldest it answers).
  void started(Clock::time_point now, Clock::time_point oldest_change) {
    if (behind_ || now - oldest_change <= interval_ / 4) return;
    behind_ = true;
    // The statement starting now is the first round.
    round_started_ = now;
    next_round_ = now + interval_;
    ++rounds_;
  }

  // The scheduler took what it could for now (end of one pump): the round is closed.
  void taken() { taking_ = false; }

  // The cohort's last running statement returned at `now`.
  void idle(Clock::time_point now) {
    if (behind_ && now - round_started_ <= interval_ / 8) behind_ = false;
  }

  // Poll mode, or the cohort's mode changed: free running from the next event refetch on.
  void reset() {
    behind_ = false;
    taking_ = false;
  }

 private:
  Clock::duration interval_;
  bool behind_ = false;
  bool taking_ = false;
  Clock::time_point round_started_{};
  Clock::time_point next_round_{};
  std::size_t rounds_ = 0;
};

}  // namespace liveql::live
