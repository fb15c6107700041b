#include "liveql/matcher/evaluate.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace liveql::matcher {
namespace {

using namespace test;  // NOLINT
using Op = ir::CompareOp;
constexpr Truth T = Truth::kTrue;
constexpr Truth F = Truth::kFalse;
constexpr Truth U = Truth::kUnknown;

// Leaves for the truth tables: TRUE, FALSE, SQL NULL (a comparison with a NULL column), and
// "cannot know".
Predicate leaf(char c) {
  switch (c) {
    case 'T':
      return p_true();
    case 'F':
      return p_false();
    case 'N':
      return cmp("n", "integer", Op::kEq, "one");
    default:
      return p_unknown();
  }
}
const RowImage kNullRow = row({{"n", std::nullopt}});
constexpr const char* kVars = R"({"one": 1})";
constexpr char kLeaves[] = {'T', 'F', 'N', 'U'};

Truth run(Predicate p) { return eval(std::move(p), kNullRow, kVars); }

TEST(EvaluateTruthTable, Leaves) {
  EXPECT_EQ(run(leaf('T')), T);
  EXPECT_EQ(run(leaf('F')), F);
  EXPECT_EQ(run(leaf('N')), F);  // NULL is not selected
  EXPECT_EQ(run(leaf('U')), U);
  EXPECT_EQ(run(p_not(leaf('T'))), F);
  EXPECT_EQ(run(p_not(leaf('F'))), T);
  EXPECT_EQ(run(p_not(leaf('N'))), F);  // NOT NULL is NULL: still not selected
  EXPECT_EQ(run(p_not(leaf('U'))), U);
  EXPECT_EQ(run(p_not(p_not(leaf('N')))), F);
  EXPECT_EQ(run(p_and({})), T);
  EXPECT_EQ(run(p_or({})), F);
}

TEST(EvaluateTruthTable, And) {
  const Truth expected[4][4] = {{T, F, F, U}, {F, F, F, F}, {F, F, F, F}, {U, F, F, U}};
  const Truth negated[4][4] = {{F, T, F, U}, {T, T, T, T}, {F, T, F, U}, {U, T, U, U}};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      SCOPED_TRACE(std::string(1, kLeaves[i]) + " AND " + kLeaves[j]);
      EXPECT_EQ(run(p_and({leaf(kLeaves[i]), leaf(kLeaves[j])})), expected[i][j]);
      EXPECT_EQ(run(p_not(p_and({leaf(kLeaves[i]), leaf(kLeaves[j])}))), negated[i][j]);
    }
  }
}

TEST(EvaluateTruthTable, Or) {
  const Truth expected[4][4] = {{T, T, T, T}, {T, F, F, U}, {T, F, F, U}, {T, U, U, U}};
  const Truth negated[4][4] = {{F, F, F, F}, {F, T, F, U}, {F, F, F, F}, {F, U, F, U}};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      SCOPED_TRACE(std::string(1, kLeaves[i]) + " OR " + kLeaves[j]);
      EXPECT_EQ(run(p_or({leaf(kLeaves[i]), leaf(kLeaves[j])})), expected[i][j]);
      EXPECT_EQ(run(p_not(p_or({leaf(kLeaves[i]), leaf(kLeaves[j])}))), negated[i][j]);
    }
  }
}

Truth int_op(Op op, const char* value, const char* vars) {
  return eval(cmp("a", "integer", op, "p"), row({{"a", value}}), vars);
}

TEST(EvaluateOps, IntegerComparisons) {
  EXPECT_EQ(int_op(Op::kEq, "5", R"({"p":5})"), T);
  EXPECT_EQ(int_op(Op::kEq, "5", R"({"p":6})"), F);
  EXPECT_EQ(int_op(Op::kEq, "5", R"({"p":"5"})"), T);
  EXPECT_EQ(int_op(Op::kEq, "5", R"({"p":" 05 "})"), T);
  EXPECT_EQ(int_op(Op::kEq, "-5", R"({"p":-5})"), T);
  EXPECT_EQ(int_op(Op::kNeq, "5", R"({"p":6})"), T);
  EXPECT_EQ(int_op(Op::kNeq, "5", R"({"p":5})"), F);
  EXPECT_EQ(int_op(Op::kGt, "10", R"({"p":9})"), T);
  EXPECT_EQ(int_op(Op::kGt, "9", R"({"p":10})"), F);
  EXPECT_EQ(int_op(Op::kGt, "-10", R"({"p":-9})"), F);
  EXPECT_EQ(int_op(Op::kLt, "-10", R"({"p":-9})"), T);
  EXPECT_EQ(int_op(Op::kGte, "9", R"({"p":9})"), T);
  EXPECT_EQ(int_op(Op::kLte, "9", R"({"p":9})"), T);
  EXPECT_EQ(int_op(Op::kLte, "10", R"({"p":9})"), F);
  EXPECT_EQ(int_op(Op::kGt, "9223372036854775807", R"({"p":9223372036854775806})"), T);
  // A fraction cannot be cast to integer: the query errors, we cannot say.
  EXPECT_EQ(int_op(Op::kEq, "5", R"({"p":5.5})"), U);
  EXPECT_EQ(int_op(Op::kEq, "5", R"({"p":"5.0"})"), U);
  EXPECT_EQ(int_op(Op::kEq, "garbage", R"({"p":5})"), U);
}

TEST(EvaluateOps, NullsAndMissing) {
  EXPECT_EQ(int_op(Op::kEq, nullptr, R"({"p":5})"), F);
  EXPECT_EQ(
      eval(p_not(cmp("a", "integer", Op::kEq, "p")), row({{"a", std::nullopt}}), R"({"p":5})"), F);
  EXPECT_EQ(int_op(Op::kNeq, nullptr, R"({"p":5})"), F);
  EXPECT_EQ(int_op(Op::kGt, nullptr, R"({"p":5})"), F);
  // A NULL or missing parameter: Hasura may collapse the comparison to true.
  EXPECT_EQ(int_op(Op::kEq, "5", R"({"p":null})"), U);
  EXPECT_EQ(int_op(Op::kEq, "5", R"({})"), U);
  // An absent column (old image under DEFAULT identity) is unknown.
  EXPECT_EQ(eval(cmp("a", "integer", Op::kEq, "p"), row({{"b", "1"}}), R"({"p":5})"), U);
  EXPECT_EQ(eval(cmp("a", "integer", Op::kIsNull, "p"), row({{"b", "1"}}), R"({"p":true})"), U);
}

TEST(EvaluateOps, IsNull) {
  auto is_null = [](const char* value, const char* vars) {
    return eval(cmp("a", "integer", Op::kIsNull, "p"), row({{"a", value}}), vars);
  };
  EXPECT_EQ(is_null(nullptr, R"({"p":true})"), T);
  EXPECT_EQ(is_null("1", R"({"p":true})"), F);
  EXPECT_EQ(is_null(nullptr, R"({"p":false})"), F);
  EXPECT_EQ(is_null("1", R"({"p":false})"), T);
  EXPECT_EQ(is_null("1", R"({"p":"yes"})"), U);
  EXPECT_EQ(
      eval(p_not(cmp("a", "integer", Op::kIsNull, "p")), row({{"a", nullptr}}), R"({"p":true})"),
      F);
}

TEST(EvaluateOps, InAndNin) {
  auto in = [](Op op, const char* value, const char* vars) {
    return eval(cmp("a", "integer", op, "p", true), row({{"a", value}}), vars);
  };
  EXPECT_EQ(in(Op::kIn, "2", R"({"p":[1,2,3]})"), T);
  EXPECT_EQ(in(Op::kIn, "4", R"({"p":[1,2,3]})"), F);
  EXPECT_EQ(in(Op::kIn, "4", R"({"p":["4"]})"), T);
  EXPECT_EQ(in(Op::kIn, "4", R"({"p":[]})"), F);
  EXPECT_EQ(in(Op::kIn, "4", R"({"p":[1,null]})"), F);  // NULL
  EXPECT_EQ(in(Op::kIn, "1", R"({"p":[1,null]})"), T);
  EXPECT_EQ(in(Op::kIn, nullptr, R"({"p":[1]})"), F);
  EXPECT_EQ(in(Op::kIn, "1", R"({"p":[1.5, 1]})"), T);
  EXPECT_EQ(in(Op::kIn, "2", R"({"p":[1.5, 1]})"), U);
  EXPECT_EQ(in(Op::kIn, "2", R"({"p":5})"), U);
  EXPECT_EQ(in(Op::kNin, "2", R"({"p":[1,2,3]})"), F);
  EXPECT_EQ(in(Op::kNin, "4", R"({"p":[1,2,3]})"), T);
  EXPECT_EQ(in(Op::kNin, "4", R"({"p":[]})"), T);
  EXPECT_EQ(in(Op::kNin, "4", R"({"p":[1,null]})"), F);  // 4 <> ALL({1,NULL}) is NULL
  EXPECT_EQ(in(Op::kNin, nullptr, R"({"p":[1]})"), F);
  EXPECT_EQ(in(Op::kNin, nullptr, R"({"p":[]})"), T);
  // No non-NULL element: the row does not matter, even when the column is absent.
  auto absent = [](Op op, const char* vars) {
    return eval(cmp("a", "integer", op, "p", true), row({{"b", "1"}}), vars);
  };
  EXPECT_EQ(absent(Op::kIn, R"({"p":[]})"), F);
  EXPECT_EQ(absent(Op::kIn, R"({"p":[null]})"), F);
  EXPECT_EQ(absent(Op::kNin, R"({"p":[]})"), T);
  EXPECT_EQ(absent(Op::kNin, R"({"p":[null]})"), F);
  EXPECT_EQ(absent(Op::kIn, R"({"p":[1]})"), U);
}

TEST(EvaluateTypes, Numeric) {
  auto num = [](Op op, const char* value, const char* vars) {
    return eval(cmp("a", "numeric", op, "p"), row({{"a", value}}), vars);
  };
  EXPECT_EQ(num(Op::kEq, "5.10", R"({"p":5.1})"), T);
  EXPECT_EQ(num(Op::kEq, "5.10", R"({"p":"5.1000"})"), T);
  EXPECT_EQ(num(Op::kEq, "1500", R"({"p":"1.5e3"})"), T);
  EXPECT_EQ(num(Op::kEq, "0.001", R"({"p":"1E-3"})"), T);
  EXPECT_EQ(num(Op::kEq, "0", R"({"p":"-0.00"})"), T);
  EXPECT_EQ(num(Op::kGt, "0.1", R"({"p":"0.09999999999999999999999"})"), T);
  EXPECT_EQ(num(Op::kLt, "-0.5", R"({"p":"-0.49"})"), T);
  EXPECT_EQ(num(Op::kGt, "12345678901234567890.5", R"({"p":"12345678901234567890.4"})"), T);
  EXPECT_EQ(num(Op::kEq, "NaN", R"({"p":"NaN"})"), T);
  EXPECT_EQ(num(Op::kGt, "NaN", R"({"p":1})"), U);
}

TEST(EvaluateTypes, Floats) {
  auto fl = [](const char* type, Op op, const char* value, const char* vars) {
    return eval(cmp("a", type, op, "p"), row({{"a", value}}), vars);
  };
  EXPECT_EQ(fl("double precision", Op::kEq, "0.1", R"({"p":0.1})"), T);
  EXPECT_EQ(fl("double precision", Op::kEq, "0.1", R"({"p":0.1000000001})"), F);
  // real rounds the parameter to single precision before comparing.
  EXPECT_EQ(fl("real", Op::kEq, "0.1", R"({"p":0.1000000001})"), T);
  EXPECT_EQ(fl("real", Op::kGt, "1e+20", R"({"p":1e19})"), T);
  EXPECT_EQ(fl("double precision", Op::kEq, "-0", R"({"p":0})"), T);
  EXPECT_EQ(fl("double precision", Op::kGt, "NaN", R"({"p":"Infinity"})"), T);
  EXPECT_EQ(fl("double precision", Op::kEq, "NaN", R"({"p":"NaN"})"), T);
  EXPECT_EQ(fl("double precision", Op::kLt, "-Infinity", R"({"p":-1e308})"), T);
}

TEST(EvaluateTypes, BooleanTextUuidOther) {
  EXPECT_EQ(eval(cmp("a", "boolean", Op::kEq, "p"), row({{"a", "true"}}), R"({"p":true})"), T);
  EXPECT_EQ(eval(cmp("a", "boolean", Op::kEq, "p"), row({{"a", "t"}}), R"({"p":false})"), F);
  EXPECT_EQ(eval(cmp("a", "boolean", Op::kGt, "p"), row({{"a", "t"}}), R"({"p":false})"), T);
  EXPECT_EQ(eval(cmp("a", "boolean", Op::kEq, "p"), row({{"a", "t"}}), R"({"p":"yes"})"), T);
  EXPECT_EQ(eval(cmp("a", "text", Op::kEq, "p"), row({{"a", "Ab"}}), R"({"p":"Ab"})"), T);
  EXPECT_EQ(eval(cmp("a", "text", Op::kEq, "p"), row({{"a", "Ab"}}), R"({"p":"ab"})"), F);
  EXPECT_EQ(eval(cmp("a", "text", Op::kEq, "p"), row({{"a", "Ab "}}), R"({"p":"Ab"})"), F);
  EXPECT_EQ(
      eval(cmp("a", "character varying(20)", Op::kNeq, "p"), row({{"a", "x"}}), R"({"p":"y"})"), T);
  // Text order depends on the collation.
  EXPECT_EQ(eval(cmp("a", "text", Op::kGt, "p"), row({{"a", "b"}}), R"({"p":"a"})"), U);
  // A number for a text column: the SQL sees its JSON spelling, which we do not reproduce.
  EXPECT_EQ(eval(cmp("a", "text", Op::kEq, "p"), row({{"a", "5"}}), R"({"p":5})"), U);
  const char* uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
  EXPECT_EQ(eval(cmp("a", "uuid", Op::kEq, "p"), row({{"a", uuid}}),
                 R"({"p":"{A0EEBC999C0B4EF8BB6D6BB9BD380A11}"})"),
            T);
  EXPECT_EQ(eval(cmp("a", "uuid", Op::kEq, "p"), row({{"a", uuid}}),
                 R"({"p":"b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"})"),
            F);
  EXPECT_EQ(eval(cmp("a", "time without time zone", Op::kEq, "p"), row({{"a", "10:00:00"}}),
                 R"({"p":"10:00:00"})"),
            U);
  EXPECT_EQ(eval(cmp("a", "character", Op::kEq, "p"), row({{"a", "a  "}}), R"({"p":"a"})"), U);
  EXPECT_EQ(eval(cmp("a", "public.status", Op::kEq, "p"), row({{"a", "x"}}), R"({"p":"y"})"), U);
}

// `a <op> $p` on a row whose column a of `type` holds `image`, with p the JSON string `param`.
Truth eval_string(const char* type, Op op, const char* image, const char* param) {
  return eval(cmp("a", type, op, "p"), row({{"a", image}}),
              (std::string(R"({"p":")") + param + "\"}").c_str());
}

TEST(EvaluateTypes, Timestamptz) {
  const char* tz = "timestamp with time zone";
  auto at = [&](Op op, const char* image, const char* param) {
    return eval_string(tz, op, image, param);
  };
  // An instant, whatever zone the image and the parameter are written in.
  EXPECT_EQ(at(Op::kEq, "2024-03-01 12:00:00+00", "2024-03-01T12:00:00Z"), T);
  EXPECT_EQ(at(Op::kEq, "2024-03-01 17:30:00+05:30", "2024-03-01T12:00:00.000Z"), T);
  EXPECT_EQ(at(Op::kEq, "2024-03-01 07:00:00-05", "2024-03-01 12:00:00+0000"), T);
  EXPECT_EQ(at(Op::kEq, "1900-01-01 00:19:32+00:19:32", "1900-01-01T00:00:00+00:00"), T);
  EXPECT_EQ(at(Op::kGt, "2024-03-01 12:00:00.000001+00", "2024-03-01T12:00:00Z"), T);
  EXPECT_EQ(at(Op::kGt, "2024-03-01 12:00:00+00", "2024-03-01T12:00:00Z"), F);
  EXPECT_EQ(at(Op::kGte, "2024-03-01 12:00:00+00", "2024-03-01T12:00:00Z"), T);
  EXPECT_EQ(at(Op::kLt, "2024-02-29 23:59:59.99+00", "2024-03-01T00:00:00Z"), T);
  EXPECT_EQ(at(Op::kLt, "2024-03-01 00:00:00+01", "2024-02-29T23:30:00Z"), T);
  EXPECT_EQ(at(Op::kNeq, "1969-12-31 23:59:59.5+00", "1970-01-01T00:00:00Z"), T);
  EXPECT_EQ(at(Op::kLt, "1969-12-31 23:59:59.5+00", "1970-01-01T00:00:00Z"), T);
  // Infinities are the ends.
  EXPECT_EQ(at(Op::kGt, "infinity", "9999-12-31T23:59:59Z"), T);
  EXPECT_EQ(at(Op::kLt, "-infinity", "0001-01-01T00:00:00Z"), T);
  EXPECT_EQ(at(Op::kEq, "infinity", "Infinity"), T);
  // A parameter without a zone is read in the session's TimeZone: unknown. So are spellings
  // we do not read.
  EXPECT_EQ(at(Op::kGt, "2024-03-01 12:00:00+00", "2024-03-01T11:00:00"), U);
  EXPECT_EQ(at(Op::kGt, "2024-03-01 12:00:00+00", "2024-03-01"), U);
  EXPECT_EQ(at(Op::kGt, "2024-03-01 12:00:00+00", "now"), U);
  EXPECT_EQ(at(Op::kGt, "2024-03-01 12:00:00+00", "2024-03-01 11:00:00 UTC"), U);
  EXPECT_EQ(at(Op::kGt, "2024-03-01 12:00:00+00", "2024-03-01T11:00:00.1234567Z"), U);
  EXPECT_EQ(at(Op::kGt, "0044-03-15 12:00:00+00 BC", "2024-03-01T11:00:00Z"), U);
  EXPECT_EQ(at(Op::kGt, "Fri Mar 01 12:00:00 2024 UTC", "2024-03-01T11:00:00Z"), U);
  EXPECT_EQ(at(Op::kGt, "2024-02-30 12:00:00+00", "2024-03-01T11:00:00Z"), U);
  EXPECT_EQ(at(Op::kGt, "2024-03-01 24:00:00+00", "2024-03-01T11:00:00Z"), U);
  EXPECT_EQ(at(Op::kGt, "2024-03-01 12:00:60+00", "2024-03-01T11:00:00Z"), U);
  // A number is not a timestamp (the cast fails).
  EXPECT_EQ(eval(cmp("a", tz, Op::kGt, "p"), row({{"a", "2024-03-01 12:00:00+00"}}),
                 R"({"p":1700000000})"),
            U);
  // timestamp(3) casts the parameter to its precision first: not reproduced.
  EXPECT_EQ(eval(cmp("a", "timestamp(3) with time zone", Op::kEq, "p"),
                 row({{"a", "2024-03-01 12:00:00+00"}}), R"({"p":"2024-03-01T12:00:00Z"})"),
            U);
}

TEST(EvaluateTypes, TimestampAndDate) {
  auto ts = [&](Op op, const char* image, const char* param) {
    return eval_string("timestamp without time zone", op, image, param);
  };
  EXPECT_EQ(ts(Op::kEq, "2024-03-01 12:00:00", "2024-03-01T12:00:00"), T);
  EXPECT_EQ(ts(Op::kEq, "2024-03-01 00:00:00", "2024-03-01"), T);
  // A zone in a timestamp's input is ignored, as PostgreSQL does.
  EXPECT_EQ(ts(Op::kEq, "2024-03-01 12:00:00", "2024-03-01T12:00:00+05:00"), T);
  EXPECT_EQ(ts(Op::kEq, "2024-03-01 12:00:00", "2024-03-01T12:00:00Z"), T);
  EXPECT_EQ(ts(Op::kGt, "2024-03-01 12:00:00.5", "2024-03-01 12:00"), T);
  EXPECT_EQ(ts(Op::kLte, "2000-02-29 23:59:59.999999", "2000-03-01"), T);
  EXPECT_EQ(ts(Op::kGt, "2024-03-01 12:00:00", "tomorrow"), U);
  auto date = [&](Op op, const char* image, const char* param) {
    return eval_string("date", op, image, param);
  };
  EXPECT_EQ(date(Op::kEq, "2024-03-01", "2024-03-01"), T);
  EXPECT_EQ(date(Op::kLt, "2024-02-29", "2024-03-01"), T);
  EXPECT_EQ(date(Op::kGt, "1900-03-01", "1900-02-28"), T);
  EXPECT_EQ(date(Op::kGt, "infinity", "9999-12-31"), T);
  EXPECT_EQ(date(Op::kLt, "-infinity", "0001-01-01"), T);
  // 1900 was not a leap year; 2000 was.
  EXPECT_EQ(date(Op::kEq, "1900-02-29", "1900-02-29"), U);
  EXPECT_EQ(date(Op::kEq, "2000-02-29", "2000-02-29"), T);
  // A date with a time of day: PostgreSQL drops the time; not read.
  EXPECT_EQ(date(Op::kEq, "2024-03-01", "2024-03-01T10:00:00"), U);
  // _in with timestamps uses the same keys.
  EXPECT_EQ(eval(cmp("a", "timestamp with time zone", Op::kIn, "p"),
                 row({{"a", "2024-03-01 13:00:00+01"}}),
                 R"({"p":["2024-01-01T00:00:00Z","2024-03-01T12:00:00Z"]})"),
            T);
}

TEST(EvaluateTypes, EnumLabels) {
  auto en = [&](Op op, const char* image, const char* vars) {
    return eval(cmp("a", "enum", op, "p", op == Op::kIn || op == Op::kNin), row({{"a", image}}),
                vars);
  };
  EXPECT_EQ(en(Op::kEq, "placed", R"({"p":"placed"})"), T);
  EXPECT_EQ(en(Op::kEq, "placed", R"({"p":"delivered"})"), F);
  // A label is exact: case and spaces count (another spelling fails the cast, as no label).
  EXPECT_EQ(en(Op::kEq, "placed", R"({"p":"Placed"})"), F);
  EXPECT_EQ(en(Op::kNeq, "placed", R"({"p":"placed "})"), T);
  EXPECT_EQ(en(Op::kIn, "placed", R"({"p":["delivered","placed"]})"), T);
  EXPECT_EQ(en(Op::kNin, "placed", R"({"p":["delivered"]})"), T);
  // The declared order of the labels is not in the image.
  EXPECT_EQ(en(Op::kGt, "placed", R"({"p":"delivered"})"), U);
  EXPECT_EQ(en(Op::kEq, "placed", R"({"p":1})"), U);
  EXPECT_EQ(value_key("enum", "placed"), param_key("enum", boost::json::value("placed")));
}

TEST(EvaluateNodes, UnknownAndRelationship) {
  EXPECT_EQ(eval(p_and({p_unknown(), cmp("a", "integer", Op::kEq, "p")}), row({{"a", "1"}}),
                 R"({"p":2})"),
            F);
  Predicate rel;
  rel.kind = Predicate::Kind::kRelationship;
  rel.link_columns = {"order_id"};
  EXPECT_EQ(eval(rel, row({{"order_id", std::nullopt}})), F);
  EXPECT_EQ(eval(rel, row({{"order_id", "3"}})), U);
  EXPECT_EQ(eval(rel, row({{"id", "3"}})), U);
}

TEST(EvaluateKeys, CanonicalKeys) {
  EXPECT_EQ(value_key("numeric", "5.10"), param_key("numeric", boost::json::value(5.1)));
  EXPECT_EQ(value_key("integer", "007"), param_key("integer", boost::json::value("7")));
  EXPECT_EQ(value_key("bigint", "-0"), std::optional<std::string>("0"));
  EXPECT_EQ(value_key("boolean", "true"), param_key("boolean", boost::json::value(true)));
  EXPECT_EQ(value_key("timestamp", "x"), std::nullopt);
  EXPECT_EQ(value_key("timestamp with time zone", "2024-03-01 13:00:00+01"),
            param_key("timestamp with time zone", boost::json::value("2024-03-01T12:00:00Z")));
  EXPECT_EQ(value_key("date", "2024-03-01"), param_key("date", boost::json::value("2024-03-01")));
  EXPECT_EQ(value_key("time", "10:00:00"), std::nullopt);
  EXPECT_EQ(param_key("integer", boost::json::value(nullptr)), std::nullopt);
}

}  // namespace
}  // namespace liveql::matcher
