// Timestamps and dates in the matcher against PostgreSQL itself: for every spelling the
// evaluator reads, the value it reads must be the one PostgreSQL reads, under any session
// TimeZone (a spelling whose meaning depends on the TimeZone must not be read), and what
// PostgreSQL prints (row images) must read back to the same value in every zone.
#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "liveql/compiler/sql.hpp"
#include "liveql/matcher/evaluate.hpp"
#include "support/test_db.hpp"

namespace liveql::matcher {
namespace {

// Zones with odd offsets, daylight saving on either hemisphere, and (before 1900-ish) local
// mean time with offsets in seconds.
const char* const kZones[] = {"UTC",
                              "America/Sao_Paulo",
                              "Asia/Kathmandu",
                              "Europe/Amsterdam",
                              "Pacific/Chatham",
                              "America/St_Johns"};

// The types, as the compiler spells them (format_type), and how PostgreSQL states a value of
// each as one comparable number: microseconds (or days) from 1970, or the infinity's name.
struct Type {
  const char* name;
  const char* number;  // SQL over `v`, a value of the type
};
const Type kTypes[] = {
    {"timestamp with time zone",
     "case when isfinite(v) then (extract(epoch from v) * 1000000)::bigint::text else v::text end"},
    {"timestamp without time zone",
     "case when isfinite(v) then (extract(epoch from v) * 1000000)::bigint::text else v::text end"},
    {"date", "case when isfinite(v) then (v - date '1970-01-01')::text else v::text end"},
};

// Our key for a number PostgreSQL stated (infinities as the int64 ends).
std::string key_of(const std::string& pg) {
  if (pg == "infinity") return std::to_string(INT64_MAX);
  if (pg == "-infinity") return std::to_string(INT64_MIN);
  return pg;
}

class MomentsAgainstPostgres : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = test::fresh_database("liveql_matcher_moments", R"sql(
      -- The value of `s` cast to `t`, stated by `number`, or NULL when the cast fails.
      create function try_number(s text, t text, number text) returns text
      language plpgsql as $$
      declare out text;
      begin
        execute format('select %s from (select $1::%s as v) x', number, t) into out using s;
        return out;
      exception when others then
        return null;
      end $$;
    )sql");
  }

  // PostgreSQL's number for each spelling cast to `type`, in session zone `zone` (nullopt:
  // the cast fails).
  static std::vector<std::optional<std::string>> pg_numbers(const std::vector<std::string>& texts,
                                                            const Type& type, const char* zone) {
    std::string array = "array[";
    for (size_t i = 0; i < texts.size(); ++i)
      array += (i ? "," : "") + sql::quote_literal(texts[i]);
    array += "]::text[]";
    auto rows = test::query(url_, std::string("set datestyle = 'ISO, MDY'; set timezone = ") +
                                      sql::quote_literal(zone) + "; select try_number(s, " +
                                      sql::quote_literal(type.name) + ", " +
                                      sql::quote_literal(type.number) + ") from unnest(" + array +
                                      ") with ordinality u(s, n) " + "order by n");
    std::vector<std::optional<std::string>> out;
    for (const auto& row : rows) {
      if (row[0] == "\\N") {
        out.emplace_back(std::nullopt);
      } else {
        out.emplace_back(row[0]);
      }
    }
    return out;
  }

  static std::string url_;
};
std::string MomentsAgainstPostgres::url_;

// Spellings at the edges, then random ones in every shape the reader knows and some it does not.
std::vector<std::string> spellings() {
  std::vector<std::string> out = {"2024-03-01",
                                  "2024-02-29",
                                  "2023-02-29",
                                  "1900-02-29",
                                  "2000-02-29",
                                  "0001-01-01",
                                  "9999-12-31",
                                  "0000-01-01",
                                  "2024-13-01",
                                  "2024-00-10",
                                  "2024-04-31",
                                  "infinity",
                                  "-infinity",
                                  "Infinity",
                                  " infinity ",
                                  "+infinity",
                                  "epoch",
                                  "now",
                                  "today",
                                  "allballs",
                                  "2024-03-01 12:00",
                                  "2024-03-01T12:00:00",
                                  "2024-03-01 12:00:00.5",
                                  "2024-03-01t12:00:00",
                                  "2024-03-01 12:00:00.123456",
                                  "2024-03-01 12:00:00.1234567",
                                  "2024-03-01 24:00:00",
                                  "2024-03-01 23:59:60",
                                  "2024-03-01 12:00:00Z",
                                  "2024-03-01 12:00:00z",
                                  "2024-03-01 12:00:00+05",
                                  "2024-03-01 12:00:00-05:30",
                                  "2024-03-01 12:00:00+0530",
                                  "2024-03-01 12:00:00+05:30:15",
                                  "2024-03-01 12:00:00+15:59",
                                  "2024-03-01 12:00:00+16",
                                  "2024-03-01 12:00:00 +05",
                                  "2024-03-01 12:00:00 UTC",
                                  "2024-03-01 12:00:00 BC",
                                  "2024-03-01 12:00:00+05 BC",
                                  "1900-01-01 00:00:00",
                                  "1969-12-31 23:59:59.999999+00",
                                  "10000-01-01",
                                  "2024-3-1",
                                  "20240301",
                                  "2024/03/01",
                                  "03/01/2024",
                                  "2024-03-01T",
                                  "2024-03-01 12",
                                  "2024-03-01 12:00:00.",
                                  "  2024-03-01 12:00:00+01  ",
                                  "1582-10-10",
                                  "2024-03-01T12:00:00.000Z"};
  std::mt19937_64 rng(20261203);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  char buf[96];
  for (int i = 0; i < 600; ++i) {
    const int year = pick(3) == 0 ? 1 + pick(9999) : 1850 + pick(250);
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, 1 + pick(12), 1 + pick(31));
    std::string s = buf;
    if (pick(5) != 0) {
      s += pick(2) ? 'T' : ' ';
      std::snprintf(buf, sizeof buf, "%02d:%02d", pick(24), pick(60));
      s += buf;
      if (pick(4) != 0) {
        std::snprintf(buf, sizeof buf, ":%02d", pick(60));
        s += buf;
        if (int digits = pick(8); digits > 0) {
          s += '.';
          for (int d = 0; d < digits; ++d) s += static_cast<char>('0' + pick(10));
        }
      }
      switch (pick(7)) {
        case 0:
          s += 'Z';
          break;
        case 1:
          std::snprintf(buf, sizeof buf, "%c%02d", pick(2) ? '+' : '-', pick(15));
          s += buf;
          break;
        case 2:
          std::snprintf(buf, sizeof buf, "%c%02d:%02d", pick(2) ? '+' : '-', pick(15), pick(60));
          s += buf;
          break;
        case 3:
          std::snprintf(buf, sizeof buf, "%c%02d%02d:%02d", pick(2) ? '+' : '-', pick(15), pick(60),
                        pick(60));
          s += buf;
          break;
        case 4:
          std::snprintf(buf, sizeof buf, "%c%02d:%02d:%02d", pick(2) ? '+' : '-', pick(15),
                        pick(60), pick(60));
          s += buf;
          break;
        default:
          break;  // no zone
      }
    }
    out.push_back(s);
  }
  return out;
}

TEST_F(MomentsAgainstPostgres, ParametersReadAsPostgresReadsThemInEveryZone) {
  const auto texts = spellings();
  for (const auto& type : kTypes) {
    std::vector<std::vector<std::optional<std::string>>> by_zone;
    for (const char* zone : kZones) by_zone.push_back(pg_numbers(texts, type, zone));
    size_t read = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      auto ours = param_key(type.name, boost::json::value(texts[i]));
      if (!ours) continue;  // not read: its comparisons are unknown, which is always safe
      ++read;
      for (size_t z = 0; z < by_zone.size(); ++z) {
        ASSERT_TRUE(by_zone[z][i].has_value())
            << type.name << " '" << texts[i] << "': read as " << *ours
            << " but PostgreSQL rejects it in " << kZones[z];
        EXPECT_EQ(*ours, key_of(*by_zone[z][i]))
            << type.name << " '" << texts[i] << "' in " << kZones[z];
      }
    }
    // The reader must read much of what it is shown, or the test proves little (a date reads
    // only the fifth of the random spellings without a time of day).
    EXPECT_GT(read, texts.size() / 8) << type.name;
  }
}

TEST_F(MomentsAgainstPostgres, WhatPostgresPrintsReadsBackInEveryZone) {
  // Instants from 1850 to 2150 and the infinities, printed by PostgreSQL in each zone as a row
  // image carries them (the type's output function, DateStyle ISO).
  std::vector<std::string> instants = {"infinity", "-infinity", "1970-01-01 00:00:00+00",
                                       "1900-01-01 00:00:00+00", "1850-06-01 12:34:56.789+00"};
  std::mt19937_64 rng(7);
  char buf[64];
  for (int i = 0; i < 300; ++i) {
    const int64_t seconds = -3786825600LL + static_cast<int64_t>(rng() % 9467280000ULL);
    std::snprintf(buf, sizeof buf, "%lld.%06d", static_cast<long long>(seconds),
                  static_cast<int>(rng() % 1000000));
    instants.emplace_back(std::string("@") + buf);
  }
  std::string array = "array[";
  for (size_t i = 0; i < instants.size(); ++i) {
    const std::string& s = instants[i];
    array += (i ? "," : "") + (s[0] == '@' ? "to_timestamp(" + s.substr(1) + ")"
                                           : sql::quote_literal(s) + "::timestamptz");
  }
  array += "]";
  for (const char* zone : kZones) {
    for (const auto& type : kTypes) {
      auto rows = test::query(url_, std::string("set datestyle = 'ISO, MDY'; set timezone = ") +
                                        sql::quote_literal(zone) + "; select v::" + type.name +
                                        "::text, (select " + type.number + " from " +
                                        "(select v::" + type.name + " as v) x) from unnest(" +
                                        array + ") with ordinality u(v, n) order by n");
      ASSERT_EQ(rows.size(), instants.size());
      for (const auto& row : rows) {
        auto ours = value_key(type.name, row[0]);
        ASSERT_TRUE(ours.has_value()) << type.name << " printed '" << row[0] << "' in " << zone;
        EXPECT_EQ(*ours, key_of(row[1])) << type.name << " '" << row[0] << "' in " << zone;
      }
    }
  }
}

}  // namespace
}  // namespace liveql::matcher
