// The monitor's readings and the integer parser under them: bad text from the server is an
// error value, never an exception (which used to end the change feed's monitor for good).
#include "liveql/replication/pg_text.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "liveql/live/change_feed.hpp"

namespace liveql::live {
namespace {

QueryResult one_value(std::optional<std::string> v) {
  QueryResult r;
  r.columns = {"v"};
  r.rows.push_back({std::move(v)});
  return r;
}

TEST(PgText, IntegersParseWholeTextOnly) {
  using replication::parse_pg_integer;
  EXPECT_EQ(*parse_pg_integer<std::uint64_t>("18446744073709551615", "x"),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(*parse_pg_integer<std::int64_t>("-42", "x"), -42);
  EXPECT_EQ(*parse_pg_integer<std::uint32_t>("1", "timeline"), 1u);
  for (const char* bad :
       {"", " 1", "1 ", "1.5", "abc", "-1", "18446744073709551616", "0x10", "1e3", "+1"}) {
    auto r = parse_pg_integer<std::uint64_t>(bad, "xid8");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kUnexpected);
    EXPECT_NE(r.error().message.find("xid8"), std::string::npos);
  }
  EXPECT_FALSE(parse_pg_integer<std::uint32_t>("4294967296", "timeline").ok());
  // Long junk is shown cut short.
  auto long_junk = parse_pg_integer<std::int64_t>(std::string(500, 'z'), "lag");
  ASSERT_FALSE(long_junk.ok());
  EXPECT_LT(long_junk.error().message.size(), 100u);
}

QueryResult reference_row(std::optional<std::string> xid, std::optional<std::string> wal) {
  QueryResult r;
  r.columns = {"xid", "wal"};
  r.rows.push_back({std::move(xid), std::move(wal)});
  return r;
}

TEST(PgText, MonitorReadingsSurviveAnything) {
  auto row = reference_row("4294967301", "16/B374D848");
  auto xid = ChangeFeed::read_xid_reference(row);
  ASSERT_TRUE(xid.ok()) << xid.error().message;
  EXPECT_EQ(*xid, 4294967301u);
  auto wal = ChangeFeed::read_wal_lsn(row);
  ASSERT_TRUE(wal.ok()) << wal.error().message;
  EXPECT_EQ(*wal, parse_lsn("16/B374D848"));
  // A standby has no WAL insert position: no reading, not an error.
  auto standby = ChangeFeed::read_wal_lsn(reference_row("5", std::nullopt));
  ASSERT_TRUE(standby.ok());
  EXPECT_FALSE(standby->has_value());

  EXPECT_FALSE(ChangeFeed::read_xid_reference(one_value("garbage")).ok());
  EXPECT_FALSE(ChangeFeed::read_xid_reference(one_value(std::nullopt)).ok());
  EXPECT_FALSE(ChangeFeed::read_xid_reference(QueryResult{}).ok());
  QueryResult no_columns;
  no_columns.rows.emplace_back();
  EXPECT_FALSE(ChangeFeed::read_xid_reference(no_columns).ok());
  for (const char* bad : {"16", "", "1.5e10", "G/0", "1/2/3"}) {
    auto r = ChangeFeed::read_wal_lsn(reference_row("5", bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kUnexpected);
  }
  EXPECT_FALSE(ChangeFeed::read_wal_lsn(one_value("5")).ok());  // no second column
  auto none = ChangeFeed::read_wal_lsn(QueryResult{});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "no row");
}

}  // namespace
}  // namespace liveql::live
