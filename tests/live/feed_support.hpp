// Shared by the event-mode tests (change_feed_test, oracle_test): reading fixture files, a push
// sink that records every result, and a fresh single query of a compiled operation.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/live/change_feed.hpp"
#include "liveql/live/live_queries.hpp"

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
    return [this](Result<std::string> r) { got.push_back(std::move(r)); };
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

}  // namespace liveql::live::testing
