#include "refetch_pacer.hpp"

#include <gtest/gtest.h>

namespace liveql::live {
namespace {

using namespace std::chrono_literals;
using Clock = RefetchPacer::Clock;

const Clock::time_point t0 = Clock::time_point() + 1h;
constexpr auto kNever = Clock::time_point::max();

TEST(RefetchPacer, FreeRunningWhileRefetchesStartSoonAfterTheirCommits) {
  RefetchPacer p(1000ms);
  Clock::time_point until{};
  for (int i = 0; i < 100; ++i) {
    auto now = t0 + i * 10ms;
    EXPECT_TRUE(p.may_start(now, 3, until));
    p.started(now, now - 250ms);  // exactly a quarter of the interval: not behind
    p.taken();
    p.idle(now);
  }
  EXPECT_FALSE(p.behind());
  EXPECT_EQ(p.rounds(), 0u);
}

TEST(RefetchPacer, ARefetchForAnOldCommitStartsPacedRounds) {
  RefetchPacer p(1000ms);
  Clock::time_point until{};
  ASSERT_TRUE(p.may_start(t0, 0, until));
  p.started(t0, t0 - 251ms);
  p.taken();
  EXPECT_TRUE(p.behind());
  EXPECT_EQ(p.rounds(), 1u);  // the statement starting now is the first round
  // While the round's statement runs, nothing else starts, whatever is queued.
  EXPECT_FALSE(p.may_start(t0 + 100ms, 1, until));
  EXPECT_EQ(until, kNever);
  // It returned late (the database is busy): still behind; the next round waits for its time.
  p.idle(t0 + 400ms);
  EXPECT_TRUE(p.behind());
  EXPECT_FALSE(p.may_start(t0 + 400ms, 0, until));
  EXPECT_EQ(until, t0 + 1000ms);
  // At its time, a round takes everything queued: several statements in one pump.
  EXPECT_TRUE(p.may_start(t0 + 1000ms, 0, until));
  EXPECT_TRUE(p.may_start(t0 + 1000ms, 1, until));
  EXPECT_TRUE(p.may_start(t0 + 1000ms, 2, until));
  p.taken();
  EXPECT_EQ(p.rounds(), 2u);
  EXPECT_FALSE(p.may_start(t0 + 1001ms, 2, until));
  EXPECT_EQ(until, kNever);
}

TEST(RefetchPacer, ARoundLongerThanTheIntervalIsFollowedAtOnce) {
  RefetchPacer p(1000ms);
  Clock::time_point until{};
  p.started(t0, t0 - 2s);
  p.taken();
  p.idle(t0 + 1500ms);  // the round took longer than an interval
  EXPECT_TRUE(p.may_start(t0 + 1500ms, 0, until));
  p.taken();
  EXPECT_EQ(p.rounds(), 2u);
  EXPECT_FALSE(p.may_start(t0 + 1600ms, 0, until));
  EXPECT_EQ(until, t0 + 2500ms);  // the interval counts from the round's start
}

TEST(RefetchPacer, ARoundFinishedWithinAnEighthOfTheIntervalRunsFreeAgain) {
  RefetchPacer p(800ms);
  Clock::time_point until{};
  p.started(t0, t0 - 300ms);
  p.taken();
  ASSERT_TRUE(p.behind());
  p.idle(t0 + 101ms);  // just over 100 ms: stays behind
  EXPECT_TRUE(p.behind());
  ASSERT_TRUE(p.may_start(t0 + 800ms, 0, until));
  p.taken();
  p.idle(t0 + 900ms);  // within 100 ms of the round's start
  EXPECT_FALSE(p.behind());
  EXPECT_TRUE(p.may_start(t0 + 901ms, 1, until));  // free: the scheduler's own rules apply
}

TEST(RefetchPacer, ResetRunsFree) {
  RefetchPacer p(1000ms);
  Clock::time_point until{};
  p.started(t0, t0 - 5s);
  p.taken();
  ASSERT_TRUE(p.behind());
  p.reset();
  EXPECT_FALSE(p.behind());
  EXPECT_TRUE(p.may_start(t0 + 1ms, 4, until));
}

}  // namespace
}  // namespace liveql::live
