// LiveQueries: the live-query manager. Subscribers with the same (role, multiplexed SQL text)
// share a Cohort; one refetch of a cohort runs ceil(distinct vars / batch_size) statements,
// subscribers with identical vars sharing one row. Results are hashed and pushed only when they
// change (the first result always).
//
// Strand: everything runs on the executor given to the constructor (the single io_context
// thread); no method may be called from another thread. Push callbacks are invoked on that
// executor, never from inside subscribe()/unsubscribe().
//
// Modes: each cohort is in exactly one mode. kPoll: refetched every refetch_interval. kEvent:
// refetched only through refetch(ids, xid8) / refetch_all() (driven by the matcher).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "liveql/base/result.hpp"

namespace liveql::compiler {
struct CompiledOperation;
}

namespace liveql::live {

class PgPool;
class Metrics;

using SubscriberId = std::uint64_t;

enum class CohortMode { kPoll, kEvent };

class LiveQueries {
 public:
  struct Options {
    std::size_t batch_size = 100;
    std::chrono::milliseconds refetch_interval{1000};
    // Visibility guard (targeted refetch with an xid8): a statement whose `visible` column is
    // false is re-run after this delay, at most visibility_retries times (then pushed as is).
    std::chrono::milliseconds visibility_retry_delay{2};
    int visibility_retries = 50;
  };

  // Called with each changed result (the `data` object as JSON text) or an error (after which
  // the subscriber is gone: no further calls).
  using Push = std::function<void(Result<std::string>)>;

  // `pool` and `metrics` must outlive this object.
  LiveQueries(boost::asio::any_io_executor ex, PgPool& pool, Metrics& metrics, Options options);
  ~LiveQueries();  // stop()s
  LiveQueries(const LiveQueries&) = delete;
  LiveQueries& operator=(const LiveQueries&) = delete;

  // Registers a subscriber (cohort key = role + multiplexed SQL text) and fetches its first
  // result at once with a one-subscriber statement: if that fails, the subscriber gets the error
  // and never joins the cohort. An operation with static_data runs no SQL: pushed once.
  // New cohorts start in poll mode.
  SubscriberId subscribe(const compiler::CompiledOperation& op, const std::string& role, Push push);

  // Same, from given multiplexed SQL (params $1::bigint[] ids, $2::json[] vars, optionally
  // $3::xid8; rows id, data, keys[, visible]). For tests and tools, and what subscribe() uses.
  SubscriberId subscribe_sql(std::string sql, const std::string& role, std::string root_field,
                             const boost::json::object& vars, Push push);

  // A subscriber whose result needs no SQL: `data` is pushed once (on the executor); it stays
  // registered, with nothing more to push, until unsubscribe().
  SubscriberId subscribe_static(std::string data, Push push);

  // After it returns, push is never called again for `id`. Unknown ids are ignored.
  void unsubscribe(SubscriberId id);

  // Targeted refetch of these subscribers (event mode): coalesced, at most one refetch in
  // flight plus one queued per subscriber. With xid8, the statement also checks that the
  // transaction is visible to its snapshot and re-runs when not.
  void refetch(const std::vector<SubscriberId>& ids, std::optional<std::uint64_t> xid8);

  // A full refetch of every cohort (after a replication gap).
  void refetch_all();

  // Switches the cohort of `id` (every subscriber sharing it) to `mode`, with a reason shown in
  // cohorts_json(). Poll mode (re)starts its timer; event mode cancels it.
  void set_mode(SubscriberId id, CohortMode mode, std::string reason);

  // The subscriber's last result keys (JSON text, see sql.hpp), or nullptr if unknown or not
  // yet fetched. Valid until the next call into this object.
  const std::string* last_keys(SubscriberId id) const;

  std::size_t subscriber_count() const;
  std::size_t cohort_count() const;

  // [{id, role, root_field, mode, mode_reason, subscribers, distinct_variables, refetches,
  //   statements, last_refetch_ms, p99_refetch_ms}]
  boost::json::value cohorts_json() const;

  // Cancels timers and drops every subscriber without pushing. Idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with coroutines in flight
};

}  // namespace liveql::live
