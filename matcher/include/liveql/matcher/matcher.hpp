// Matcher: which subscribers a committed transaction may affect (DESIGN.md rules 3-5).
//
// Not thread-safe: one Matcher lives on the decode -> match -> schedule strand and every call
// is made there. Pure: no I/O, no clock.
//
// A subscriber is registered with its cohort's Dependencies (shared, never copied) and its own
// vars; only the parameter values its predicates read are stored per subscriber. After each
// refetch the caller replaces its result keys. affected() is conservative: it may name a
// subscriber whose result does not change, never miss one whose result may change, given
// result keys of the subscriber's latest result. (A transaction decoded while a refetch is in
// flight is matched against the previous keys; the caller must treat a subscriber with a
// refetch in flight accordingly, e.g. queue another refetch if any of its tables changed.)
//
// What affects a subscriber, per change of a table T it reads (DESIGN.md rule 4):
//  - truncate of T;
//  - root and filter-only tables: a new row (insert, update) whose predicate may be TRUE; an
//    old row that may satisfy it when the dependency is old_image_relevant, or when the old
//    image holds every column the predicate reads (REPLICA IDENTITY FULL);
//  - a row whose columns (new or old image) equal one of the subscriber's result keys: its
//    primary key, or the link columns of a relationship; a row reached only through a link of
//    a linked table must also satisfy that table's nested where;
//  - linked tables under aggregates/limit: an old image without the link columns (DEFAULT
//    identity) cannot be placed, so it affects every such subscriber.
//
// Cost (rule 5): per change, one hash lookup per indexed (column, type) of T and per result-key
// shape of T, plus the subscribers found and those without an indexable conjunct on T. An
// indexable conjunct is a top-level `col _eq $p` or `col _in $list` of a comparable type.
// Truncates, and images that lack an indexed column, fall back to scanning.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/base/row_change.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/matcher/evaluate.hpp"
#include "liveql/matcher/result_keys.hpp"

namespace liveql::matcher {

using SubscriberId = uint64_t;

// How add() files one table dependency of a subscriber (rule 5), for operator views: kLink for
// a linked table (found by its link columns and result keys); for root and filter-only tables,
// kColumn under a top-level `column _eq/_in $param` whose value has a canonical key, kScan when
// there is none (tried against every change of the table), kNever when a conjunct is false.
struct IndexUse {
  enum class Kind { kLink, kColumn, kScan, kNever };
  Kind kind = Kind::kScan;
  std::string column;  // kColumn
  ir::CompareOp op = ir::CompareOp::kEq;
};
IndexUse index_use(const deps::TableDependency& dependency, const ParamValues& params);

class Matcher {
 public:
  Matcher();
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  // Registers a subscriber with no result keys yet. Errors (kUnexpected) when the id is already
  // registered or deps is null. deps must have its param slots assigned (extract_dependencies
  // does it); unassigned slots evaluate to unknown.
  Status add(SubscriberId id, std::shared_ptr<const deps::Dependencies> deps,
             const boost::json::object& vars);

  // Forgets a subscriber; false when it was not registered.
  bool remove(SubscriberId id);

  // Replaces the subscriber's result keys (those of its latest result). Errors (kUnexpected)
  // for an unknown id.
  Status set_result_keys(SubscriberId id, const ResultKeys& keys);

  // The subscribers the transaction may affect, sorted, without duplicates.
  std::vector<SubscriberId> affected(const Transaction& txn) const;
  std::vector<SubscriberId> affected(const RowChange& change) const;

  // The same answer computed by evaluating every subscriber against every change, with no
  // index: the reference for tests and benchmarks. Always equal to affected(txn).
  std::vector<SubscriberId> affected_brute_force(const Transaction& txn) const;

  size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace liveql::matcher
