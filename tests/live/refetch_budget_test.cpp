#include "refetch_budget.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace liveql::live {
namespace {

using namespace std::chrono_literals;
using Clock = RefetchBudget::Clock;

constexpr auto kInterval = 1000ms;
constexpr auto kBase = 50ms;
constexpr std::size_t kBatch = 100;  // poll's variable sets per statement
constexpr auto kHeld = 800ms;        // 0.8 × the interval: 1.25 pushes an interval at most

// Feeds `statements` statements per interval for `intervals` intervals to a cohort of
// `subscribers`, taking `rows_per_interval` variable sets between them, each asked for by
// `demand_per_interval` / `statements` matches; starts at `t`, returns the time after.
Clock::time_point feed(RefetchBudget& b, Clock::time_point t, int intervals,
                       std::size_t rows_per_interval, int statements, std::size_t subscribers,
                       std::size_t demand_per_interval) {
  for (int i = 0; i < intervals; ++i) {
    for (int s = 0; s < statements; ++s) {
      b.returned(t, rows_per_interval / statements, subscribers);
      b.demanded(demand_per_interval / statements);  // counted into the interval it ends in
      t += kInterval / statements;
    }
  }
  return t;
}

// Results written from row images (rule 11): `demand_per_interval` results written, pushed in
// `flushes` flushes an interval; no statement.
Clock::time_point write(RefetchBudget& b, Clock::time_point t, int intervals,
                        std::size_t demand_per_interval, int flushes, std::size_t subscribers) {
  for (int i = 0; i < intervals; ++i) {
    for (int f = 0; f < flushes; ++f) {
      b.flushed(t, subscribers);
      b.demanded(demand_per_interval / flushes);
      t += kInterval / flushes;
    }
  }
  return t;
}

TEST(RefetchBudgetTest, UnthrottledWindowIsFourStatementsBetweenTheMinimumAndTheBase) {
  RefetchBudget b(kInterval, kBase, kBatch);
  EXPECT_FALSE(b.throttled());
  EXPECT_EQ(b.window(1ms), RefetchBudget::kMinWindow);
  EXPECT_EQ(b.window(5ms), 20ms);
  EXPECT_EQ(b.window(30ms), kBase);
}

TEST(RefetchBudgetTest, ABaseAboveTheIntervalIsClampedToIt) {
  RefetchBudget b(100ms, 500ms, kBatch);
  EXPECT_EQ(b.window(1s), 100ms);
}

TEST(RefetchBudgetTest, TheSeedScenarioIsHeldAtAboutTenBurstsASecond) {
  // 19,000 subscribers, each row changed once a second by 50 commits: a burst per commit, where
  // a poll round makes one a second. Throttled to a tenth of the interval...
  RefetchBudget b(kInterval, kBase, 10 * kBatch);
  auto t = feed(b, Clock::time_point{}, 1, 19'000, 50, 19'000, 19'000);
  b.returned(t, 0, 19'000);  // the interval rolls
  EXPECT_TRUE(b.throttled());
  EXPECT_EQ(b.cap(), 100ms);
  // ... where ten bursts of two full statements each (19 needed at 1,000 rows) keep it.
  feed(b, t, 10, 19'000, 20, 19'000, 19'000);
  EXPECT_EQ(b.cap(), 100ms);
}

TEST(RefetchBudgetTest, FewBurstsOfFullStatementsAreNeverThrottled) {
  // 30,000 rows a second, each subscriber once, in 30 full statements over 10 bursts.
  RefetchBudget b(kInterval, kBase, 10 * kBatch);
  feed(b, Clock::time_point{}, 30, 30'000, 30, 30'000, 30'000);
  EXPECT_FALSE(b.throttled());
}

TEST(RefetchBudgetTest, HotRowsOfASmallCohortInFewStatementsAreNeverThrottled) {
  // 100 subscribers, each changed ten times a second (1,000 matches... minus one) in fewer
  // statements than the minimum.
  RefetchBudget b(kInterval, kBase, kBatch);
  feed(b, Clock::time_point{}, 30, 999, 10, 100, 999);
  EXPECT_FALSE(b.throttled());
  EXPECT_EQ(b.window(1s), kBase);
}

TEST(RefetchBudgetTest, ManySmallStatementsAreHeldAtAboutTenASecond) {
  // The same hot rows in 100 statements a second, where a poll round runs one: throttled...
  RefetchBudget b(kInterval, kBase, kBatch);
  auto t = feed(b, Clock::time_point{}, 1, 999, 100, 100, 999);
  b.returned(t, 0, 100);
  EXPECT_TRUE(b.throttled());
  EXPECT_EQ(b.cap(), 100ms);
  // ... held there while its commits keep coming (ten statements a second at that period) ...
  t = feed(b, t, 3, 999, 10, 100, 999);
  EXPECT_EQ(b.cap(), 100ms);
  // ... and released when they slow down to fewer than half of that.
  t = feed(b, t, 1, 400, 4, 100, 400);
  b.returned(t, 0, 100);
  EXPECT_FALSE(b.throttled());
}

TEST(RefetchBudgetTest, OneRowPerSubscriberInSmallStatementsThrottlesToAboutPollsStatements) {
  // 1,000 subscribers each changed once a second by 50 commits: 50 statements where a poll
  // round runs 10. Throttled while over 1.25 x ten a second; at ten a second it stays.
  RefetchBudget b(kInterval, kBase, kBatch);
  auto t = feed(b, Clock::time_point{}, 2, 1'000, 50, 1'000, 1'000);
  b.returned(t, 0, 1'000);  // the second interval rolls
  EXPECT_EQ(b.cap(), 200ms);
  t = feed(b, t, 5, 1'000, 10, 1'000, 1'000);
  EXPECT_EQ(b.cap(), 200ms);
}

TEST(RefetchBudgetTest, SubscribersAskedForSeveralTimesAnIntervalAreHeldAtTheAllowanceAtOnce) {
  // 3,000 subscribers and 10,000 commits/s: ~3.2 matches per subscriber a second, refetched in
  // 20 statements a second of ~480 variable sets (within the statement allowance).
  RefetchBudget b(kInterval, kBase, kBatch);
  auto t = feed(b, Clock::time_point{}, 1, 9'600, 20, 3'000, 9'600);
  b.returned(t, 0, 3'000);  // the interval rolls: held at once, each pushed 1.25 times at most
  EXPECT_TRUE(b.throttled());
  EXPECT_EQ(b.cap(), kHeld);
  EXPECT_EQ(b.window(1ms), RefetchBudget::kMinWindow);  // the period is the caller's, not a window
  // Held, one statement per period reads each subscriber about once, as a poll round does;
  // the commits still ask for each ~3 times: it stays there.
  t = feed(b, t, 10, 2'900, 1, 3'000, 9'600);
  EXPECT_EQ(b.cap(), kHeld);
}

TEST(RefetchBudgetTest, FlushesOfWrittenResultsAreNotStatements) {
  // The seed scenario written from row images: each of 19,000 subscribers pushed once a second
  // in 200 flushes. Never throttled (a statement count would be at 16 times the allowance).
  RefetchBudget b(kInterval, kBase, 10 * kBatch);
  auto t = write(b, Clock::time_point{}, 10, 19'000, 200, 19'000);
  b.flushed(t, 19'000);
  EXPECT_FALSE(b.throttled());
}

TEST(RefetchBudgetTest, PushingEachSubscriberSeveralTimesAnIntervalIsHeldAtTheAllowance) {
  // 1,000 subscribers and 10,000 commits/s, each written from its image: ten results a second
  // each, where a poll round pushes one. Held...
  RefetchBudget b(kInterval, kBase, 10 * kBatch);
  auto t = write(b, Clock::time_point{}, 1, 10'000, 200, 1'000);
  b.flushed(t, 1'000);
  EXPECT_EQ(b.cap(), kHeld);
  // ... and stays while the commits keep coming, though it now pushes each subscriber about
  // once a period: fewer pushes than the minimum, which counting pushes read as idle.
  t = write(b, t, 10, 10'000, 1, 1'000);
  EXPECT_EQ(b.cap(), kHeld);
}

TEST(RefetchBudgetTest, DemandOverTheAllowanceHoldsBeforeTheIntervalEnds) {
  // 1,000 subscribers and 10,000 commits/s, flushed every 20 ms: held at the first flush after
  // more than 1,250 results were asked for, 140 ms in, not when the interval ends.
  RefetchBudget early(kInterval, kBase, 10 * kBatch);
  Clock::time_point at{};
  int flushes = 0;
  while (!early.throttled() && flushes < 50) {
    early.flushed(at, 1'000);
    early.demanded(200);
    at += 20ms;
    ++flushes;
  }
  EXPECT_TRUE(early.throttled());
  EXPECT_EQ(early.cap(), kHeld);
  EXPECT_EQ(flushes, 8);  // 1,400 asked for when the eighth flush counts them
  // Under the minimum (999 asked for, 100 subscribers), nothing is held within the interval.
  RefetchBudget small(kInterval, kBase, 10 * kBatch);
  small.flushed(Clock::time_point{}, 100);
  small.demanded(999);
  small.flushed(Clock::time_point{} + 500ms, 100);
  EXPECT_FALSE(small.throttled());
}

TEST(RefetchBudgetTest, ABurstDoesNotHoldACohortWhoseSubscribersChangeOnceAnInterval) {
  // The seed scenario after a burst left it held: each subscriber changes once a second, as
  // unthrottled: released back to the base.
  RefetchBudget b(kInterval, kBase, 10 * kBatch);
  auto t = write(b, Clock::time_point{}, 10, 60'000, 200, 19'000);
  ASSERT_EQ(b.cap(), kHeld);
  t = write(b, t, 6, 19'000, 1, 19'000);
  EXPECT_FALSE(b.throttled());
}

TEST(RefetchBudgetTest, BetweenTheThresholdsTheCapStays) {
  // Held by its statements (50 a second, each subscriber asked for once)...
  RefetchBudget b(kInterval, kBase, kBatch);
  auto t = feed(b, Clock::time_point{}, 2, 1'000, 50, 1'000, 1'000);
  b.returned(t, 0, 1'000);
  ASSERT_EQ(b.cap(), 200ms);
  // ... then four statements a second (few enough to release it), 1.2 results asked per
  // subscriber: neither over 1.25 nor at most 1.1 ...
  t = feed(b, t, 10, 1'000, 4, 1'000, 1'200);
  EXPECT_EQ(b.cap(), 200ms);
  // ... and at one per subscriber, released.
  t = feed(b, t, 3, 1'000, 4, 1'000, 1'000);
  EXPECT_FALSE(b.throttled());
}

TEST(RefetchBudgetTest, ALighterLoadHalvesTheCapBackToTheBase) {
  RefetchBudget b(kInterval, kBase, kBatch);
  auto t = feed(b, Clock::time_point{}, 10, 9'600, 20, 3'000, 9'600);
  ASSERT_EQ(b.cap(), kHeld);
  t = feed(b, t, 1, 3'000, 4, 3'000, 3'000);  // each subscriber asked for once: at most 1.1 ×
  b.returned(t, 0, 3'000);
  EXPECT_EQ(b.cap(), 400ms);
  t = feed(b, t, 8, 300, 4, 3'000, 300);
  EXPECT_FALSE(b.throttled());
  EXPECT_EQ(b.window(5ms), 20ms);
}

TEST(RefetchBudgetTest, IdleIntervalsDecayTheCap) {
  RefetchBudget b(kInterval, kBase, kBatch);
  auto t = feed(b, Clock::time_point{}, 10, 9'600, 20, 3'000, 9'600);
  ASSERT_EQ(b.cap(), kHeld);
  // Nothing for a minute, then one statement: the burst's cap is gone.
  b.returned(t + 60s, 1, 3'000);
  EXPECT_FALSE(b.throttled());
}

}  // namespace
}  // namespace liveql::live
