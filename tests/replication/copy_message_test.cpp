#include "liveql/replication/copy_message.hpp"

#include <gtest/gtest.h>

#include <string>

namespace liveql::replication {
namespace {

std::string be64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[i] = static_cast<char>(v & 0xFF);
  return s;
}

TEST(CopyMessage, XLogData) {
  std::string m =
      "w" + be64(0x16B374D848ULL) + be64(0x16B374D900ULL) + be64(42) + "{\"action\":\"B\"}";
  auto r = parse_copy_message(m);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& w = std::get<XLogData>(*r);
  EXPECT_EQ(w.data_start, 0x16B374D848ULL);
  EXPECT_EQ(w.wal_end, 0x16B374D900ULL);
  EXPECT_EQ(w.send_time, 42);
  EXPECT_EQ(w.payload, "{\"action\":\"B\"}");
  // An empty payload is well-formed.
  auto empty = parse_copy_message(m.substr(0, 25));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(std::get<XLogData>(*empty).payload.empty());
}

TEST(CopyMessage, Keepalive) {
  std::string m = "k" + be64(0xFFFFFFFF00000001ULL) + be64(7) + std::string(1, '\1');
  auto r = parse_copy_message(m);
  ASSERT_TRUE(r.ok());
  const auto& k = std::get<Keepalive>(*r);
  EXPECT_EQ(k.wal_end, 0xFFFFFFFF00000001ULL);
  EXPECT_TRUE(k.reply_requested);
  m.back() = '\0';
  EXPECT_FALSE(std::get<Keepalive>(*parse_copy_message(m)).reply_requested);
}

TEST(CopyMessage, EveryTruncationIsAnError) {
  std::string w = "w" + be64(1) + be64(2) + be64(3);
  for (size_t n = 0; n < w.size(); ++n) EXPECT_FALSE(parse_copy_message(w.substr(0, n)).ok()) << n;
  std::string k = "k" + be64(1) + be64(2) + "\1";
  for (size_t n = 0; n < k.size(); ++n) EXPECT_FALSE(parse_copy_message(k.substr(0, n)).ok()) << n;
}

TEST(CopyMessage, UnknownTypeIsAnError) {
  for (char t : {'r', 'x', '\0', '\xff'}) {
    auto r = parse_copy_message(std::string(1, t) + std::string(40, 'a'));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("unknown CopyData"), std::string::npos);
  }
}

}  // namespace
}  // namespace liveql::replication
