// Decoder tests. The JSON lines are what wal2json 2.5 printed on PostgreSQL 15 for the values
// in each test's comment (captured with pg_logical_slot_peek_changes and the options the stream
// uses); tests/replication/stream_pgtest.cpp checks the same conversions end to end.
#include "liveql/replication/wal2json_decoder.hpp"

#include <gtest/gtest.h>

namespace liveql::replication {
namespace {

const ColumnValue& col(const RowImage& image, std::string_view name) {
  static const ColumnValue kMissing{"<missing>", "", std::nullopt};
  const ColumnValue* c = image.find(name);
  return c ? *c : kMissing;
}

constexpr std::string_view kBegin =
    R"j({"action":"B","xid":731,"timestamp":"2026-11-23 09:29:48.362076+00","lsn":"0/19777C0","nextlsn":"0/19777F0"})j";
constexpr std::string_view kCommit =
    R"j({"action":"C","xid":731,"timestamp":"2026-11-23 09:29:48.362076+00","lsn":"0/19777C0","nextlsn":"0/19777F0"})j";

std::string fmt_line(const char* action, int xid) {
  std::string x = std::to_string(xid);
  return std::string("{\"action\":\"") + action + "\",\"xid\":" + x + ",\"lsn\":\"0/" + x +
         "00\",\"nextlsn\":\"0/" + x + "30\"}";
}

Transaction one(const std::vector<std::string_view>& lines) {
  Wal2JsonDecoder d;
  std::vector<Transaction> out;
  for (auto l : lines) {
    auto st = d.feed(l, out);
    EXPECT_TRUE(st.ok()) << st.error().message << "\n" << l;
  }
  EXPECT_EQ(out.size(), 1u);
  EXPECT_FALSE(d.in_transaction());
  return out.empty() ? Transaction{} : out.front();
}

TEST(Wal2JsonDecoder, InsertWithEveryValueShape) {
  // insert into t1 values (1, true, '{"a": 1, "b":[1,2]}', same::jsonb, '{1,2,NULL}',
  //   '{"a b","c\"d",NULL}', 12345678901234567890.123456789, '2024-01-02 03:04:05.678+02', ...)
  auto txn = one(
      {kBegin,
       R"j({"action":"I","xid":731,"timestamp":"2026-11-23 09:29:48.362076+00","lsn":"0/1977598","schema":"public","table":"t1","columns":[{"name":"id","type":"integer","value":1},{"name":"b","type":"boolean","value":true},{"name":"j","type":"json","value":"{\"a\": 1, \"b\":[1,2]}"},{"name":"jb","type":"jsonb","value":"{\"a\": 1, \"b\": [1, 2]}"},{"name":"arr","type":"integer[]","value":"{1,2,NULL}"},{"name":"tarr","type":"text[]","value":"{\"a b\",\"c\\\"d\",NULL}"},{"name":"n","type":"numeric","value":12345678901234567890.123456789},{"name":"ts","type":"timestamp with time zone","value":"2024-01-02 01:04:05.678+00"},{"name":"by","type":"bytea","value":"00ff"},{"name":"f","type":"double precision","value":1.5e+300},{"name":"r","type":"real","value":null},{"name":"u","type":"uuid","value":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},{"name":"bi","type":"bigint","value":9007199254740993},{"name":"ch","type":"character(3)","value":"ab "},{"name":"vc","type":"character varying(20)","value":"h\u00e9\"llo\\n"},{"name":"mo","type":"money","value":"$12.34"},{"name":"t","type":"text","value":null},{"name":"neg","type":"integer","value":-5},{"name":"small","type":"double precision","value":1e-07},{"name":"b2","type":"boolean","value":false}],"pk":[{"name":"id","type":"integer"}]})j",
       kCommit});
  EXPECT_EQ(txn.xid, 731u);
  EXPECT_EQ(txn.commit_lsn, *parse_lsn("0/19777C0"));
  EXPECT_EQ(txn.end_lsn, *parse_lsn("0/19777F0"));
  EXPECT_EQ(txn.commit_time, "2026-11-23 09:29:48.362076+00");
  ASSERT_EQ(txn.changes.size(), 1u);
  const RowChange& c = txn.changes[0];
  EXPECT_EQ(c.kind, ChangeKind::kInsert);
  EXPECT_EQ(c.schema, "public");
  EXPECT_EQ(c.table, "t1");
  EXPECT_TRUE(c.old_row.empty());
  const RowImage& r = c.new_row;
  EXPECT_EQ(col(r, "id").value, "1");
  EXPECT_EQ(col(r, "id").type, "integer");
  EXPECT_EQ(col(r, "b").value, "true");  // bool::text
  EXPECT_EQ(col(r, "b2").value, "false");
  EXPECT_EQ(col(r, "j").value, R"j({"a": 1, "b":[1,2]})j");     // json keeps its text
  EXPECT_EQ(col(r, "jb").value, R"j({"a": 1, "b": [1, 2]})j");  // jsonb::text
  EXPECT_EQ(col(r, "arr").value, "{1,2,NULL}");
  EXPECT_EQ(col(r, "tarr").value, R"j({"a b","c\"d",NULL})j");
  EXPECT_EQ(col(r, "n").value, "12345678901234567890.123456789");  // no precision lost
  EXPECT_EQ(col(r, "ts").value, "2024-01-02 01:04:05.678+00");
  EXPECT_EQ(col(r, "by").value, "\\x00ff");  // bytea::text
  EXPECT_EQ(col(r, "f").value, "1.5e+300");
  EXPECT_EQ(r.find("r"), nullptr);  // NaN or NULL: unknown
  EXPECT_EQ(col(r, "u").value, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(col(r, "bi").value, "9007199254740993");  // beyond a double's precision
  EXPECT_EQ(col(r, "ch").value, "ab");                // bpchar::text strips the padding
  EXPECT_EQ(col(r, "vc").value, "h\xc3\xa9\"llo\\n");
  EXPECT_EQ(col(r, "mo").value, "$12.34");
  ASSERT_NE(r.find("t"), nullptr);
  EXPECT_EQ(col(r, "t").value, std::nullopt);  // SQL NULL
  EXPECT_EQ(col(r, "neg").value, "-5");
  EXPECT_EQ(col(r, "small").value, "1e-07");
}

TEST(Wal2JsonDecoder, UpdateDefaultIdentityAndUnchangedToast) {
  // update t1 set b = false where id = 1;  `big` is an unchanged TOASTed value: absent.
  auto txn = one(
      {kBegin,
       R"j({"action":"U","xid":731,"schema":"public","table":"t1","columns":[{"name":"id","type":"integer","value":1},{"name":"b","type":"boolean","value":false}],"identity":[{"name":"id","type":"integer","value":1}],"pk":[{"name":"id","type":"integer"}]})j",
       kCommit});
  ASSERT_EQ(txn.changes.size(), 1u);
  const auto& c = txn.changes[0];
  EXPECT_EQ(c.kind, ChangeKind::kUpdate);
  EXPECT_EQ(c.new_row.columns.size(), 2u);
  EXPECT_EQ(c.new_row.find("big"), nullptr);
  ASSERT_EQ(c.old_row.columns.size(), 1u);
  EXPECT_EQ(col(c.old_row, "id").value, "1");
}

TEST(Wal2JsonDecoder, KeyChangeAndFullIdentity) {
  auto txn = one(
      {kBegin,
       R"j({"action":"U","xid":731,"schema":"public","table":"t1","columns":[{"name":"id","type":"integer","value":10}],"identity":[{"name":"id","type":"integer","value":2}]})j",
       R"j({"action":"U","xid":731,"schema":"public","table":"full1","columns":[{"name":"id","type":"integer","value":1},{"name":"v","type":"text","value":"b"}],"identity":[{"name":"id","type":"integer","value":1},{"name":"v","type":"text","value":"a"}]})j",
       R"j({"action":"D","xid":731,"schema":"public","table":"full1","identity":[{"name":"id","type":"integer","value":1},{"name":"v","type":"text","value":"b"}]})j",
       kCommit});
  ASSERT_EQ(txn.changes.size(), 3u);
  EXPECT_EQ(col(txn.changes[0].new_row, "id").value, "10");
  EXPECT_EQ(col(txn.changes[0].old_row, "id").value, "2");
  EXPECT_EQ(col(txn.changes[1].old_row, "v").value, "a");
  EXPECT_EQ(col(txn.changes[1].new_row, "v").value, "b");
  EXPECT_EQ(txn.changes[2].kind, ChangeKind::kDelete);
  EXPECT_TRUE(txn.changes[2].new_row.empty());
  EXPECT_EQ(col(txn.changes[2].old_row, "v").value, "b");
}

TEST(Wal2JsonDecoder, TruncateIsOneChangePerTable) {
  auto txn = one({kBegin, R"j({"action":"T","xid":731,"schema":"public","table":"t1"})j",
                  R"j({"action":"T","xid":731,"schema":"public","table":"full1"})j", kCommit});
  ASSERT_EQ(txn.changes.size(), 2u);
  EXPECT_EQ(txn.changes[0].kind, ChangeKind::kTruncate);
  EXPECT_EQ(txn.changes[0].table, "t1");
  EXPECT_EQ(txn.changes[1].table, "full1");
}

TEST(Wal2JsonDecoder, EmptyTransactionAndMessages) {
  // Updates of a table without a key under DEFAULT identity arrive as empty transactions.
  auto txn = one(
      {kBegin,
       R"j({"action":"M","xid":731,"lsn":"0/1979B60","transactional":true,"prefix":"pfx","content":"hello"})j",
       kCommit});
  EXPECT_TRUE(txn.changes.empty());
  EXPECT_EQ(txn.end_lsn, *parse_lsn("0/19777F0"));
  // A non-transactional message outside B/C is ignored too.
  Wal2JsonDecoder d;
  auto r = d.feed_line(R"j({"action":"M","transactional":false,"prefix":"p","content":"x"})j");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST(Wal2JsonDecoder, SeveralLinesInOnePayloadAndMinimalOptions) {
  Wal2JsonDecoder d;
  std::vector<Transaction> out;
  auto st = d.feed(
      "{\"action\":\"B\"}\n{\"action\":\"I\",\"schema\":\"s\",\"table\":\"t\",\"columns\":[{"
      "\"name\":"
      "\"a\",\"type\":\"integer\",\"value\":1}]}\n{\"action\":\"C\"}\n\n{\"action\":\"B\"}\n{"
      "\"action\":\"C\"}\n",
      out);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].xid, 0u);
  EXPECT_EQ(out[0].end_lsn, 0u);  // the stream fills it from the XLogData header
  EXPECT_EQ(out[0].changes.size(), 1u);
  EXPECT_TRUE(out[1].changes.empty());
}

TEST(Wal2JsonDecoder, TransactionsComeOutInOrderAndStateResets) {
  Wal2JsonDecoder d;
  std::vector<Transaction> out;
  for (int i = 1; i <= 3; ++i) {
    auto b = fmt_line("B", i);
    auto ins = "{\"action\":\"I\",\"xid\":" + std::to_string(i) +
               ",\"schema\":\"public\",\"table\":\"t\",\"columns\":[{\"name\":\"id\","
               "\"type\":\"integer\",\"value\":" +
               std::to_string(i) + "}]}";
    auto c = fmt_line("C", i);
    ASSERT_TRUE(d.feed(b, out).ok());
    EXPECT_TRUE(d.in_transaction());
    ASSERT_TRUE(d.feed(ins, out).ok());
    ASSERT_TRUE(d.feed(c, out).ok());
  }
  ASSERT_EQ(out.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i].xid, static_cast<uint32_t>(i + 1));
    EXPECT_EQ(out[i].end_lsn, static_cast<Lsn>(0x100 * (i + 1) + 0x30));
  }
  ASSERT_TRUE(d.feed(fmt_line("B", 9), out).ok());
  d.reset();
  EXPECT_FALSE(d.in_transaction());
  ASSERT_TRUE(d.feed(fmt_line("B", 10), out).ok());  // no "B inside a transaction"
}

struct BadCase {
  const char* name;
  std::vector<std::string> lines;  // the last one must fail
};

class BadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInput, IsAnErrorAndDropsThePartialTransaction) {
  Wal2JsonDecoder d;
  std::vector<Transaction> out;
  const auto& lines = GetParam().lines;
  for (size_t i = 0; i + 1 < lines.size(); ++i) ASSERT_TRUE(d.feed(lines[i], out).ok()) << i;
  auto st = d.feed(lines.back(), out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("wal2json"), std::string::npos) << st.error().message;
  EXPECT_FALSE(d.in_transaction());
  EXPECT_TRUE(out.empty());
  // The decoder is usable afterwards.
  ASSERT_TRUE(d.feed(std::string(kBegin), out).ok());
  ASSERT_TRUE(d.feed(std::string(kCommit), out).ok());
  EXPECT_EQ(out.size(), 1u);
}

const std::string kB(kBegin);
INSTANTIATE_TEST_SUITE_P(
    Wal2Json, BadInput,
    ::testing::Values(
        BadCase{"NotJson", {kB, "not json"}}, BadCase{"Truncated", {kB, "{\"action\":\"I\",\"sch"}},
        BadCase{"Array", {"[1,2]"}}, BadCase{"NoAction", {R"j({"xid":1})j"}},
        BadCase{"UnknownAction", {R"j({"action":"X"})j"}},
        BadCase{"ActionNotString", {R"j({"action":1})j"}},
        BadCase{"InsertOutsideTxn", {R"j({"action":"I","schema":"s","table":"t","columns":[]})j"}},
        BadCase{"CommitOutsideTxn", {R"j({"action":"C"})j"}}, BadCase{"NestedBegin", {kB, kB}},
        BadCase{"InsertWithoutColumns", {kB, R"j({"action":"I","schema":"s","table":"t"})j"}},
        BadCase{"DeleteWithoutIdentity", {kB, R"j({"action":"D","schema":"s","table":"t"})j"}},
        BadCase{"NoTable", {kB, R"j({"action":"T","schema":"s"})j"}},
        BadCase{"ColumnsNotArray",
                {kB, R"j({"action":"I","schema":"s","table":"t","columns":{}})j"}},
        BadCase{"ColumnNotObject",
                {kB, R"j({"action":"I","schema":"s","table":"t","columns":[1]})j"}},
        BadCase{"ColumnWithoutName",
                {kB, R"j({"action":"I","schema":"s","table":"t","columns":[{"value":1}]})j"}},
        BadCase{"ColumnWithoutValue",
                {kB, R"j({"action":"I","schema":"s","table":"t","columns":[{"name":"a"}]})j"}},
        BadCase{
            "ObjectValue",
            {kB,
             R"j({"action":"I","schema":"s","table":"t","columns":[{"name":"a","value":{}}]})j"}},
        BadCase{
            "BadNumber",
            {kB,
             R"j({"action":"I","schema":"s","table":"t","columns":[{"name":"a","value":-}]})j"}},
        BadCase{"BadLsn", {R"j({"action":"B","lsn":"zz"})j"}},
        BadCase{"XidNotNumber", {R"j({"action":"B","xid":"1"})j"}},
        BadCase{"XidTooLarge", {R"j({"action":"B","xid":99999999999})j"}},
        BadCase{"TrailingGarbage", {R"j({"action":"B"} x)j"}},
        BadCase{"CommitOfOtherXid", {fmt_line("B", 1), fmt_line("C", 2)}}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace liveql::replication
