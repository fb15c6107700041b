// A compiler test suite against a real PostgreSQL: its own database made from Derived::kSetup,
// the catalog read back from it, the schema built from Derived::kMetadata, and helpers that
// compile GraphQL and run the generated statement with libpq (one JSON `data` value). Used as
//   class LtreePgTest : public test::CompiledPgTest<LtreePgTest> {
//    public:
//     static constexpr const char* kDatabase = "liveql_ltree_test";
//     static constexpr const char* kSetup = "...";  // SQL
//     static constexpr const char* kMetadata = "...";  // Hasura v3 metadata, one file
//   };
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/compiler/sql.hpp"
#include "support/test_db.hpp"

namespace liveql::test {

template <typename Derived>
class CompiledPgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = liveql::test::fresh_database(Derived::kDatabase, Derived::kSetup);
    conn_ = PQconnectdb(url_.c_str());
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    auto rows = liveql::test::query(url_, std::string(catalog::catalog_query()));
    auto cat = catalog::parse_catalog(rows.at(0).at(0));
    ASSERT_TRUE(cat.ok()) << cat.error().message;
    auto md = metadata::parse_metadata(Derived::kMetadata);
    ASSERT_TRUE(md.ok()) << md.error().message;
    auto schema = compiler::build_schema(*cat, *md);
    ASSERT_TRUE(schema.ok()) << schema.error().message;
    schema_ = *schema;
  }
  static void TearDownTestSuite() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
  }

  // The operation compiled (a failure is reported, and an empty operation returned).
  static compiler::CompiledOperation compile(std::string_view q, std::string vars = "{}",
                                             const compiler::Session& s = {}) {
    compiler::Request r;
    r.query = q;
    r.variables = boost::json::parse(vars).as_object();
    auto op = compiler::compile(*schema_, r, s);
    EXPECT_TRUE(op.ok()) << (op.ok() ? "" : op.error().message + " at " + op.error().path);
    return op.ok() ? std::move(*op) : compiler::CompiledOperation{};
  }

  // The single row and column of `sql` run with `vars` as $1.
  static boost::json::value exec(const std::string& sql, const boost::json::object& vars) {
    const std::string v = boost::json::serialize(vars);
    const char* params[] = {v.c_str()};
    PGresult* r = PQexecParams(conn_, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
    boost::json::value out;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
      ADD_FAILURE() << PQresultErrorMessage(r) << "\n" << sql;
    } else {
      out = boost::json::parse(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return out;
  }

  // A query's `data`, through sql::single_query.
  static boost::json::value query(std::string_view q, std::string vars = "{}",
                                  const compiler::Session& s = {}) {
    auto op = compile(q, std::move(vars), s);
    return exec(sql::single_query(op.ir), op.vars);
  }

  inline static std::string url_;
  inline static PGconn* conn_ = nullptr;
  inline static std::shared_ptr<const compiler::Schema> schema_;
};

}  // namespace liveql::test
