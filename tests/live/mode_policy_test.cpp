// The mode policy (live/src/mode_policy.hpp): every reason a cohort polls, in order, and the
// forced-event case, without a database.
#include "mode_policy.hpp"

#include <gtest/gtest.h>

#include "liveql/compiler/dependencies.hpp"

namespace liveql::live {
namespace {

deps::TableDependency table(std::string name, deps::TableRole role = deps::TableRole::kRoot,
                            bool tractable = true, std::vector<std::string> pk = {"id"}) {
  deps::TableDependency t;
  t.table = catalog::QualifiedName{"public", name};
  t.table_key = "public." + name;
  t.role = role;
  t.primary_key = std::move(pk);
  t.tractable = tractable;
  if (!tractable) t.reason = "text pattern _ilike on " + name + ".note";
  return t;
}

struct Policy {
  deps::Dependencies deps;
  std::map<std::string, LiveQueries::TableLive> tables;  // by table name; others not set
  bool available = true;
  LiveMode default_mode = LiveMode::kEvent;
  std::string broken;

  ModeDecision decide(bool with_deps = true) const {
    LiveQueries::TableModes modes = [this](const catalog::QualifiedName& name) {
      auto it = tables.find(name.name);
      return it == tables.end() ? LiveQueries::TableLive{} : it->second;
    };
    return decide_mode({.deps = with_deps ? &deps : nullptr,
                        .broken_reason = broken,
                        .event_available = available,
                        .event_unavailable_reason = "replication not connected",
                        .default_mode = default_mode,
                        .table_modes = &modes});
  }
};

LiveQueries::TableLive mode(std::optional<LiveMode> m, bool full = false) { return {m, full}; }

TEST(ModePolicy, TractableTablesWithKeysAreEvent) {
  Policy p;
  p.deps.tables = {table("orders"), table("users", deps::TableRole::kLinked)};
  auto d = p.decide();
  EXPECT_EQ(d.mode, LiveMode::kEvent);
  EXPECT_EQ(d.reason, "event");
  EXPECT_TRUE(d.forced_tables.empty());
}

TEST(ModePolicy, EachReasonToPollInOrder) {
  Policy p;
  p.deps.tables = {table("orders")};
  EXPECT_EQ(p.decide(false).reason, "dependencies unknown");
  EXPECT_EQ(p.decide(false).mode, LiveMode::kPoll);

  p.broken = "result keys unreadable: x";
  p.available = false;
  EXPECT_EQ(p.decide().reason, "result keys unreadable: x");  // before availability
  p.broken.clear();
  EXPECT_EQ(p.decide().reason, "replication not connected");
  p.available = true;

  p.default_mode = LiveMode::kPoll;
  EXPECT_EQ(p.decide().reason, "table public.orders is in poll mode");
  p.tables["orders"] = mode(LiveMode::kEvent);
  EXPECT_EQ(p.decide().mode, LiveMode::kEvent);  // explicit event beats the default
  p.default_mode = LiveMode::kEvent;
  p.tables["orders"] = mode(LiveMode::kPoll);
  EXPECT_EQ(p.decide().reason, "table public.orders is in poll mode");
}

TEST(ModePolicy, TablesWithoutKeyPollUnlessFullIdentityOrFilterOnly) {
  Policy p;
  p.deps.tables = {table("logs", deps::TableRole::kRoot, true, {})};
  EXPECT_EQ(p.decide().reason, "table public.logs has no primary key");
  p.tables["logs"] = mode(std::nullopt, true);
  EXPECT_EQ(p.decide().mode, LiveMode::kEvent);
  Policy filter;
  filter.deps.tables = {table("tags", deps::TableRole::kFilterOnly, true, {})};
  EXPECT_EQ(filter.decide().mode, LiveMode::kEvent);
}

TEST(ModePolicy, IntractablePollsUnlessItsTableIsExplicitlyEvent) {
  Policy p;
  p.deps.tables = {table("orders"), table("notes", deps::TableRole::kLinked, false)};
  auto polled = p.decide();
  EXPECT_EQ(polled.mode, LiveMode::kPoll);
  EXPECT_EQ(polled.reason, "text pattern _ilike on notes.note");
  EXPECT_TRUE(polled.forced_tables.empty());

  p.tables["notes"] = mode(LiveMode::kEvent);
  auto forced = p.decide();
  EXPECT_EQ(forced.mode, LiveMode::kEvent);
  EXPECT_EQ(forced.forced_tables, std::set<std::string>{"public.notes"});
  EXPECT_EQ(forced.reason,
            "event forced by live_mode on public.notes (text pattern _ilike on notes.note): any "
            "change to it refetches the whole cohort");
}

TEST(ModePolicy, APollTableAfterAForcedOneStillPolls) {
  Policy p;
  p.deps.tables = {table("notes", deps::TableRole::kRoot, false), table("orders")};
  p.tables["notes"] = mode(LiveMode::kEvent);
  p.tables["orders"] = mode(LiveMode::kPoll);
  auto d = p.decide();
  EXPECT_EQ(d.mode, LiveMode::kPoll);
  EXPECT_TRUE(d.forced_tables.empty());
}

TEST(ModePolicy, ATablePolledForItsWriteRatePollsAtTheHeldPeriodUnlessAnotherPollsForGood) {
  Policy p;
  p.deps.tables = {table("orders"), table("users", deps::TableRole::kLinked)};
  p.tables["orders"] = {.write_fallback = true};
  auto d = p.decide();
  EXPECT_EQ(d.mode, LiveMode::kPoll);
  EXPECT_TRUE(d.write_fallback);
  EXPECT_EQ(d.reason,
            "table public.orders is polled for its write rate (GET /v1/live/tables says why)");

  // A table in poll mode, or an intractable one, polls at the interval: no fallback period.
  p.tables["users"] = mode(LiveMode::kPoll);
  EXPECT_FALSE(p.decide().write_fallback);
  EXPECT_EQ(p.decide().reason, "table public.users is in poll mode");
  Policy q;
  q.deps.tables = {table("orders"), table("notes", deps::TableRole::kLinked, false)};
  q.tables["orders"] = {.write_fallback = true};
  EXPECT_FALSE(q.decide().write_fallback);
  EXPECT_EQ(q.decide().reason, "text pattern _ilike on notes.note");
  // Event mode unavailable comes first, as for every table.
  p.available = false;
  EXPECT_EQ(p.decide().reason, "replication not connected");
  EXPECT_FALSE(p.decide().write_fallback);
}

TEST(ModePolicy, NoTableModesMeansDefaultForEveryTable) {
  deps::Dependencies deps;
  deps.tables = {table("orders")};
  LiveQueries::TableModes empty;
  auto d = decide_mode({.deps = &deps, .event_available = true, .table_modes = &empty});
  EXPECT_EQ(d.mode, LiveMode::kEvent);
  d = decide_mode({.deps = &deps,
                   .event_available = true,
                   .default_mode = LiveMode::kPoll,
                   .table_modes = nullptr});
  EXPECT_EQ(d.mode, LiveMode::kPoll);
}

}  // namespace
}  // namespace liveql::live
