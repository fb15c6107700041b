// Matcher throughput: row changes matched per second with 1k .. 1M subscribers of one cohort
// `orders(where: {user_id: {_eq: $uid}})`, each with its own uid and one result key, against
// the brute-force baseline (every subscriber evaluated) on the same changes.
//   cmake -S . -B build/matcher-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIVEQL_BENCH=ON
//   cmake --build build/matcher-rel --target matcher_bench &&
//   build/matcher-rel/tools/bench/matcher/matcher_bench
#include <benchmark/benchmark.h>

#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "liveql/compiler/dependencies.hpp"
#include "liveql/matcher/evaluate.hpp"
#include "liveql/matcher/matcher.hpp"

namespace {

using liveql::ChangeKind;
using liveql::ColumnValue;
using liveql::RowChange;
using liveql::Transaction;
namespace matcher = liveql::matcher;
namespace deps = liveql::deps;

constexpr int64_t kKeyBase = 1'000'000'000;  // order ids in the results: kKeyBase + uid

std::shared_ptr<deps::Dependencies> orders_by_user() {
  auto d = std::make_shared<deps::Dependencies>();
  deps::TableDependency t;
  t.table = {"public", "orders"};
  t.table_key = "public.orders";
  t.primary_key = {"id"};
  t.predicate.kind = deps::Predicate::Kind::kCompare;
  t.predicate.column = "user_id";
  t.predicate.column_type = "integer";
  t.predicate.op = liveql::ir::CompareOp::kEq;
  t.predicate.param = {"uid", "integer", false};
  d->tables.push_back(std::move(t));
  deps::assign_param_slots(*d);
  return d;
}

long rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4096 / (1024 * 1024);
}

// One matcher per size, built once and kept for every benchmark of that size.
matcher::Matcher& registered(int64_t n) {
  static std::map<int64_t, std::unique_ptr<matcher::Matcher>> cache;
  auto& m = cache[n];
  if (!m) {
    cache.clear();  // keep one size in memory at a time
    auto& fresh = cache[n];
    fresh = std::make_unique<matcher::Matcher>();
    auto d = orders_by_user();
    for (int64_t uid = 0; uid < n; ++uid) {
      boost::json::object vars;
      vars["uid"] = uid;
      (void)fresh->add(static_cast<matcher::SubscriberId>(uid), d, vars);
      (void)fresh->set_result_keys(static_cast<matcher::SubscriberId>(uid),
                                   {{"public.orders", {"id"}, {std::to_string(kKeyBase + uid)}}});
    }
    return *fresh;
  }
  return *m;
}

// Shape of the change: an insert of a new order (new image only) whose user_id is a
// subscriber's (affects 1) or nobody's (affects 0), or a DEFAULT-identity update that moves
// an order in someone's result to nobody (found through the result keys, affects 1).
enum Shape { kInsertHit, kInsertMiss, kUpdateLeaving };

Transaction make_change(Shape shape, int64_t n, std::mt19937_64& rng) {
  int64_t uid = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
  RowChange c;
  c.schema = "public";
  c.table = "orders";
  auto col = [](const char* name, int64_t v) {
    return ColumnValue{name, "integer", std::to_string(v)};
  };
  switch (shape) {
    case kInsertHit:
      c.kind = ChangeKind::kInsert;
      c.new_row.columns = {col("id", uid), col("user_id", uid), {"note", "text", "x"}};
      break;
    case kInsertMiss:
      c.kind = ChangeKind::kInsert;
      c.new_row.columns = {col("id", uid), col("user_id", n + uid), {"note", "text", "x"}};
      break;
    case kUpdateLeaving:
      c.kind = ChangeKind::kUpdate;
      c.new_row.columns = {col("id", kKeyBase + uid), col("user_id", n + uid)};
      c.old_row.columns = {col("id", kKeyBase + uid)};
      break;
  }
  Transaction t;
  t.changes.push_back(std::move(c));
  return t;
}

void run(benchmark::State& state, bool brute) {
  const int64_t n = state.range(0);
  const auto shape = static_cast<Shape>(state.range(1));
  matcher::Matcher& m = registered(n);
  std::mt19937_64 rng(42);
  std::vector<Transaction> changes;
  for (int i = 0; i < 256; ++i) changes.push_back(make_change(shape, n, rng));
  size_t i = 0, found = 0;
  for (auto _ : state) {
    const auto& t = changes[i++ % changes.size()];
    auto ids = brute ? m.affected_brute_force(t) : m.affected(t);
    found += ids.size();
    benchmark::DoNotOptimize(ids);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["affected_per_change"] =
      static_cast<double>(found) / static_cast<double>(state.iterations());
  state.counters["rss_MiB"] = static_cast<double>(rss_mib());
}

void BM_MatcherIndexed(benchmark::State& state) { run(state, false); }
void BM_MatcherBruteForce(benchmark::State& state) { run(state, true); }

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {1'000, 10'000, 100'000, 1'000'000})
    for (int64_t shape : {kInsertHit, kInsertMiss, kUpdateLeaving}) b->Args({n, shape});
}

// Ordered by size so each matcher is built once.
BENCHMARK(BM_MatcherIndexed)->Apply(sizes)->ArgNames({"subscribers", "shape"});
BENCHMARK(BM_MatcherBruteForce)->Apply(sizes)->ArgNames({"subscribers", "shape"});

// One range comparison `col >= $p` evaluated on one row image (what a range predicate costs per
// subscriber of a scanned cohort, per change): an integer against a timestamptz (the image's
// ISO text against a variable in another zone). Before timestamps were read, such a comparison
// was unknown and refetched the subscriber instead.
void BM_EvaluateRange(benchmark::State& state) {
  const bool timestamp = state.range(0) == 1;
  deps::Predicate p;
  p.kind = deps::Predicate::Kind::kCompare;
  p.column = "c";
  p.column_type = timestamp ? "timestamp with time zone" : "integer";
  p.op = liveql::ir::CompareOp::kGte;
  p.param = {"p", p.column_type, false};
  p.slot = 0;
  liveql::RowImage row;
  row.columns = {ColumnValue{
      "c", p.column_type,
      timestamp ? std::string("2026-12-03 07:19:19.123456+00") : std::string("1234567")}};
  matcher::ParamValues params{timestamp ? boost::json::value("2026-12-03T12:00:00+05:30")
                                        : boost::json::value(1000000)};
  size_t true_count = 0;
  for (auto _ : state) {
    auto t = matcher::evaluate(p, row, params);
    true_count += t == matcher::Truth::kTrue;
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["true"] =
      static_cast<double>(true_count) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_EvaluateRange)->Arg(0)->Arg(1)->ArgNames({"timestamptz"});

}  // namespace

BENCHMARK_MAIN();
