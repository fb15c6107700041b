#include "write_fallback.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace liveql::live {
namespace {

using namespace std::chrono_literals;
using Clock = WriteFallback::Clock;
using Load = WriteFallback::TableLoad;

constexpr const char* kTable = "public.items";

// One table read by `cohorts` event cohorts of which `held` are held, `subscribers` in all.
// A tick-by-tick driver: row changes accumulate at `rate` a second; stats are filled only for
// the tables the policy asks for, as the change feed does.
struct Driver {
  WriteFallback policy;
  Clock::time_point now = Clock::time_point{} + 1h;
  std::uint64_t changes = 1000;
  std::optional<std::uint64_t> restart_bytes;
  std::size_t reads = 0;  // ticks that needed a statement

  explicit Driver(WriteFallback::Options o = {}) : policy(o) {}

  std::vector<WriteFallback::Switch> tick(Load load, double rate) {
    now += 1s;
    changes += static_cast<std::uint64_t>(rate);
    std::map<std::string, Load> loads{{kTable, load}};
    auto watched = policy.watched(loads);
    if (!watched.empty()) ++reads;
    WriteFallback::RowChanges read;
    for (const auto& name : watched) read[name] = changes;
    return policy.tick(now, loads, read, restart_bytes);
  }
  // Ticks `n` times; returns the switches of all of them.
  std::vector<WriteFallback::Switch> run(int n, Load load, double rate) {
    std::vector<WriteFallback::Switch> all;
    for (int i = 0; i < n; ++i) {
      for (auto& s : tick(load, rate)) all.push_back(std::move(s));
    }
    return all;
  }
};

const Load kHeld{.event_cohorts = 1, .held_cohorts = 1, .subscribers = 1000};
const Load kFree{.event_cohorts = 1, .held_cohorts = 0, .subscribers = 1000};
const Load kPolled{.event_cohorts = 0, .held_cohorts = 0, .subscribers = 1000};

// Falls back after `hold` (the default 5 s) of 10,000 changes/s; returns the tick it did.
int fall_back(Driver& d, Load load = kHeld, double rate = 10000) {
  for (int i = 1; i <= 60; ++i) {
    auto s = d.tick(load, rate);
    if (!s.empty()) {
      EXPECT_EQ(s.size(), 1u);
      EXPECT_TRUE(s[0].fallback);
      EXPECT_FALSE(s[0].postponed);
      return i;
    }
  }
  ADD_FAILURE() << "never fell back";
  return -1;
}

TEST(WriteFallbackTest, AnUnheldTableNeedsNoStatementAndNeverFallsBack) {
  Driver d;
  EXPECT_TRUE(d.run(120, kFree, 10000).empty());
  EXPECT_TRUE(d.run(120, kPolled, 10000).empty());
  EXPECT_EQ(d.reads, 0u);
  EXPECT_FALSE(d.policy.in_fallback(kTable));
}

TEST(WriteFallbackTest, FallsBackOnceEveryEventCohortIsHeldForTheHoldTime) {
  Driver d;
  int at = fall_back(d);
  // Held from the first tick; the rate is known once the readings span the 5 s window.
  EXPECT_EQ(at, 6);
  EXPECT_TRUE(d.policy.in_fallback(kTable));
  EXPECT_NE(d.policy.reason(kTable).find("10000 row changes/s for 1000 subscribers"),
            std::string::npos)
      << d.policy.reason(kTable);
  // Its cohorts now poll: nothing more happens while the writes keep up.
  EXPECT_TRUE(d.run(600, kPolled, 10000).empty());
  EXPECT_TRUE(d.policy.in_fallback(kTable));
}

TEST(WriteFallbackTest, AHoldThatLetsGoStartsTheHoldTimeOver) {
  Driver d;
  EXPECT_TRUE(d.run(4, kHeld, 10000).empty());
  EXPECT_TRUE(d.run(1, kFree, 10000).empty());
  EXPECT_TRUE(d.run(4, kHeld, 10000).empty());
  EXPECT_FALSE(d.policy.in_fallback(kTable));
  EXPECT_EQ(fall_back(d), 2);  // 5 s after the hold began again (4 + 2 ticks)
}

TEST(WriteFallbackTest, OneCohortNotHeldKeepsTheTableStreamed) {
  Driver d;
  EXPECT_TRUE(
      d.run(60, {.event_cohorts = 2, .held_cohorts = 1, .subscribers = 1000}, 10000).empty());
  EXPECT_EQ(d.reads, 0u);
}

TEST(WriteFallbackTest, NoRateNoWritesOrNoSubscribersNoFallback) {
  {
    Driver d;  // held, but the table's statistics never arrive
    std::map<std::string, Load> loads{{kTable, kHeld}};
    for (int i = 0; i < 30; ++i) {
      d.now += 1s;
      EXPECT_TRUE(d.policy.tick(d.now, loads, {}, std::nullopt).empty());
    }
  }
  {
    Driver d;  // held with no row changes (demand from elsewhere): nothing to save
    EXPECT_TRUE(d.run(30, kHeld, 0).empty());
  }
  {
    Driver d;
    EXPECT_TRUE(d.run(30, {.event_cohorts = 1, .held_cohorts = 1, .subscribers = 0}, 1000).empty());
  }
}

TEST(WriteFallbackTest, RejoinsAfterTheDwellWhenTheRatePerSubscriberHalves) {
  Driver d;
  fall_back(d);
  // Writes drop to a third at once: the rate window catches up in 5 s, the dwell is 30 s.
  auto early = d.run(29, kPolled, 3000);
  EXPECT_TRUE(early.empty());
  auto s = d.tick(kPolled, 3000);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_FALSE(s[0].fallback);
  EXPECT_NE(s[0].reason.find("3000 row changes/s for 1000 subscribers"), std::string::npos)
      << s[0].reason;
  EXPECT_FALSE(d.policy.in_fallback(kTable));
  EXPECT_TRUE(d.policy.reason(kTable).empty());
}

TEST(WriteFallbackTest, StaysWhileTheRateIsAboveHalf) {
  Driver d;
  fall_back(d);
  EXPECT_TRUE(d.run(300, kPolled, 5001).empty());
  EXPECT_TRUE(d.policy.in_fallback(kTable));
  EXPECT_EQ(d.run(10, kPolled, 4900).size(), 1u);  // under half: back once the window shows it
}

TEST(WriteFallbackTest, MoreSubscribersAtTheSameRateRejoin) {
  // Own-row writes: each subscriber's share of 10,000 changes/s halves when they double.
  Driver d;
  fall_back(d);
  EXPECT_TRUE(d.run(40, kPolled, 10000).empty());
  auto s = d.run(1, {.event_cohorts = 0, .held_cohorts = 0, .subscribers = 2001}, 10000);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_FALSE(s[0].fallback);
}

TEST(WriteFallbackTest, NobodyReadingItRejoinsAfterTheDwell) {
  Driver d;
  fall_back(d);
  WriteFallback& p = d.policy;
  // The table's last cohort left: it no longer appears among the loads.
  for (int i = 0; i < 29; ++i) {
    d.now += 1s;
    EXPECT_TRUE(p.tick(d.now, {}, {}, std::nullopt).empty());
  }
  d.now += 1s;
  auto s = p.tick(d.now, {}, {}, std::nullopt);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_FALSE(s[0].fallback);
  EXPECT_EQ(s[0].reason, "no subscriber reads it");
}

TEST(WriteFallbackTest, FallingBackSoonAfterRejoiningDoublesTheDwellUpToTheMaximum) {
  WriteFallback::Options o;
  o.max_dwell = 100s;
  Driver d(o);
  std::vector<int> dwells;
  for (int round = 0; round < 4; ++round) {
    fall_back(d);
    int ticks = 0;
    while (d.tick(kPolled, 1000).empty()) ++ticks;  // the rate drops: rejoin after the dwell
    dwells.push_back(ticks + 1);
  }
  EXPECT_EQ(dwells, (std::vector<int>{30, 60, 100, 100}));
  // Away for longer than twice the last dwell: back to the base dwell.
  d.run(201, kFree, 1000);
  fall_back(d);
  int ticks = 0;
  while (d.tick(kPolled, 1000).empty()) ++ticks;
  EXPECT_EQ(ticks + 1, 30);
}

TEST(WriteFallbackTest, ASwitchWaitsWhileTheSlotWouldDecodeTooMuchAgain) {
  Driver d;
  d.restart_bytes = std::uint64_t{1} << 30;
  auto s = d.run(10, kHeld, 10000);
  ASSERT_FALSE(s.empty());
  for (const auto& x : s) EXPECT_TRUE(x.postponed);
  EXPECT_FALSE(d.policy.in_fallback(kTable));
  d.restart_bytes = std::uint64_t{1} << 20;
  auto now = d.tick(kHeld, 10000);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_FALSE(now[0].postponed);
  EXPECT_TRUE(d.policy.in_fallback(kTable));
  // The way back waits the same way.
  d.run(40, kPolled, 10000);
  d.restart_bytes = std::uint64_t{1} << 30;
  auto back = d.run(10, kPolled, 100);
  ASSERT_FALSE(back.empty());
  for (const auto& x : back) EXPECT_TRUE(x.postponed && !x.fallback);
  EXPECT_TRUE(d.policy.in_fallback(kTable));
}

TEST(WriteFallbackTest, StatisticsResetStartTheRateOver) {
  Driver d;
  fall_back(d);
  d.run(40, kPolled, 10000);
  d.changes = 0;  // pg_stat_reset(): the counters restart lower
  // Not rejoined on a negative or partial rate: the window must fill again first.
  EXPECT_TRUE(d.run(4, kPolled, 10000).empty());
  EXPECT_TRUE(d.run(30, kPolled, 10000).empty());
  EXPECT_TRUE(d.policy.in_fallback(kTable));
}

}  // namespace
}  // namespace liveql::live
