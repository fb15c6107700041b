// Shared by the event-mode tests (change_feed_test, oracle_test): reading fixture files, a push
// sink that records every result, a fresh single query of a compiled operation, and the fixture
// that owns the pool, LiveQueries, StateStore and ChangeFeed of a test.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/live/change_feed.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/state/state_store.hpp"
#include "loop.hpp"

namespace liveql::live::testing {

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Records every push.
struct Sink {
  std::vector<Result<std::string>> got;
  LiveQueries::Push push() {
    return [this](Result<LiveQueries::ResultText> r) {
      got.push_back(r ? Result<std::string>(**r) : Result<std::string>(r.take_error()));
    };
  }
  boost::json::value last() const { return boost::json::parse(got.back().value()); }
  bool last_has(std::string_view text) const {
    return !got.empty() && got.back().ok() && got.back().value().find(text) != std::string::npos;
  }
};

// A ChangeFeed configuration with the short intervals tests want (status every 200 ms, lag and
// retry every 100 ms), on slot `slot`.
inline ChangeFeed::Config fast_feed_config(const std::string& url, const std::string& slot,
                                           state::StateStore* store,
                                           std::shared_ptr<const compiler::Schema> schema,
                                           const catalog::Catalog* catalog) {
  ChangeFeed::Config config;
  config.stream.conninfo = url;
  config.stream.slot_name = slot;
  config.stream.status_interval = std::chrono::milliseconds(200);
  config.store = store;
  config.schema = std::move(schema);
  config.catalog = catalog;
  config.lag_interval = std::chrono::milliseconds(100);
  config.retry_interval = std::chrono::milliseconds(100);
  return config;
}

// The result of `op` as one fresh single (non-multiplexed) query on `conn`.
inline boost::json::value fresh_result(PGconn* conn, const compiler::CompiledOperation& op) {
  std::string sql = sql::single_query(op.ir);
  std::string vars = boost::json::serialize(op.vars);
  const char* params[1] = {vars.c_str()};
  PGresult* r = PQexecParams(conn, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
  boost::json::value out;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
    out = boost::json::parse(PQgetvalue(r, 0, 0));
  } else {
    ADD_FAILURE() << PQerrorMessage(conn) << "\n" << sql;
  }
  PQclear(r);
  return out;
}

// The fixture of event-mode tests: the subclass's SetUp names the slot (name_slot) and fills
// url_, catalog_ and schema_; tests build pool_ and live_, then start_feed(). TearDown stops
// everything in order and removes the state dir.
class FeedFixture : public ::testing::Test {
 protected:
  // The running test's name, lower case, at most 40 characters (database and slot names).
  static std::string test_name() {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return name.substr(0, 40);
  }
  // slot_ = prefix + test name, and an empty state dir for it.
  void name_slot(const std::string& prefix) {
    slot_ = prefix + test_name();
    state_dir_ = std::filesystem::temp_directory_path() /
                 ("liveql_" + slot_ + "_" + std::to_string(getpid()));
    std::filesystem::remove_all(state_dir_);
  }
  // Starts a ChangeFeed (opening the StateStore if not yet open); waits for event mode.
  void start_feed(bool wait = true) {
    if (!store_) {
      auto s = state::StateStore::open(state_dir_.string());
      ASSERT_TRUE(s.ok()) << s.error().message;
      store_ = std::move(s.value());
    }
    auto config = fast_feed_config(url_, slot_, store_.get(), schema_, &catalog_);
    if (adjust_config_) adjust_config_(config);
    feed_ = std::make_unique<ChangeFeed>(ioc_.get_executor(), *live_, *pool_, metrics_,
                                         std::move(config));
    ASSERT_TRUE(feed_->start().ok());
    if (wait) {
      ASSERT_TRUE(run_until(ioc_, [&] { return live_->event_source_available(); }));
    }
  }
  void TearDown() override {
    if (feed_) feed_->stop();
    if (live_) live_->stop();
    if (pool_) pool_->close();
    ioc_.run_for(std::chrono::milliseconds(50));
    feed_.reset();
    live_.reset();
    store_.reset();
    std::filesystem::remove_all(state_dir_);
  }

  std::string url_, slot_;
  catalog::Catalog catalog_;
  std::shared_ptr<const compiler::Schema> schema_;
  std::filesystem::path state_dir_;
  boost::asio::io_context ioc_;
  Metrics metrics_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<LiveQueries> live_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<ChangeFeed> feed_;
  std::function<void(ChangeFeed::Config&)> adjust_config_;  // applied by start_feed()
};

}  // namespace liveql::live::testing
