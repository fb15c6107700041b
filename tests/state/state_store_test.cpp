#include "liveql/state/state_store.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace liveql::state {
namespace {

namespace fs = std::filesystem;

// Raw RocksDB access, to build stores that the public API never writes.
bool raw_put(const std::string& dir, const std::string& key, const std::string& value,
             bool create) {
  rocksdb::Options options;
  options.create_if_missing = create;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(options, dir, &db).ok()) return false;
  std::unique_ptr<rocksdb::DB> owner(db);
  return db->Put(rocksdb::WriteOptions(), key, value).ok();
}

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            fmt_name(std::string("liveql-state-") + info->name() + "-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  static std::string fmt_name(std::string s) {
    for (auto& c : s)
      if (c == '/') c = '_';
    return s;
  }
  std::string dir(const std::string& name = "state") const { return (root_ / name).string(); }

  static void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  static std::string garbage(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
  }

  fs::path root_;
};

SlotRecord sample(const std::string& slot = "liveql") {
  return SlotRecord{slot, "7312345678901234567", 3, "app db\nwith newline", 0x16B374D848ULL};
}

TEST_F(StateStoreTest, CreatesMissingDirectoryAndStartsEmpty) {
  auto store = StateStore::open(dir("a/b/c"));
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto rec = (*store)->load("liveql");
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->has_value());
  auto modes = (*store)->table_modes();
  ASSERT_TRUE(modes.ok());
  EXPECT_TRUE(modes->empty());
}

TEST_F(StateStoreTest, SaveLoadEraseAndReopenPersistence) {
  {
    auto store = StateStore::open(dir());
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE((*store)->save(sample()).ok());
    ASSERT_TRUE((*store)->save(sample("other")).ok());
    auto updated = sample();
    updated.confirmed_lsn += 100;
    ASSERT_TRUE((*store)->save(updated).ok());
    ASSERT_TRUE((*store)->set_table_mode("public.orders", LiveMode::kPoll).ok());
    ASSERT_TRUE((*store)->set_table_mode("public.users", LiveMode::kEvent).ok());
    ASSERT_TRUE((*store)->set_table_mode("x.\"odd.name\"", LiveMode::kEvent).ok());
    ASSERT_TRUE((*store)->clear_table_mode("x.\"odd.name\"").ok());
    ASSERT_TRUE((*store)->erase("other").ok());
    ASSERT_TRUE((*store)->erase("never-saved").ok());
  }
  auto store = StateStore::open(dir());
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto rec = (*store)->load("liveql");
  ASSERT_TRUE(rec.ok());
  ASSERT_TRUE(rec->has_value());
  auto expected = sample();
  expected.confirmed_lsn += 100;
  EXPECT_EQ(**rec, expected);
  auto other = (*store)->load("other");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->has_value());
  auto modes = (*store)->table_modes();
  ASSERT_TRUE(modes.ok());
  std::map<std::string, LiveMode> want{{"public.orders", LiveMode::kPoll},
                                       {"public.users", LiveMode::kEvent}};
  EXPECT_EQ(*modes, want);
}

TEST_F(StateStoreTest, SecondOpenWhileLockedIsAnError) {
  auto first = StateStore::open(dir());
  ASSERT_TRUE(first.ok());
  auto second = StateStore::open(dir());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("another liveql"), std::string::npos)
      << second.error().message;
}

TEST_F(StateStoreTest, ReadOnlyOpenReadsWhileLockedAndNeverWrites) {
  EXPECT_FALSE(StateStore::open_read_only(dir()).ok());  // missing: not created
  EXPECT_FALSE(fs::exists(dir()));
  auto writer = StateStore::open(dir());
  ASSERT_TRUE(writer.ok());
  SlotRecord r{"s1", "7001", 1, "db", 0x16B3748};
  ASSERT_TRUE((*writer)->save(r).ok());
  auto reader = StateStore::open_read_only(dir());  // the writer still holds the lock
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  auto loaded = (*reader)->load("s1");
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->confirmed_lsn, 0x16B3748u);
  EXPECT_FALSE((*reader)->save(SlotRecord{"s2", "7001", 1, "db", 1}).ok());
  EXPECT_FALSE((*(*writer)->load("s2")).has_value());
}

TEST_F(StateStoreTest, DirectoryOfAnotherProgramIsRefused) {
  fs::create_directories(dir());
  write_file(fs::path(dir()) / "notes.txt", "hello");
  write_file(fs::path(dir()) / "data.bin", garbage(4096, 1));
  auto store = StateStore::open(dir());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("not a liveql state directory"), std::string::npos)
      << store.error().message;
  // Nothing was created among the foreign files.
  EXPECT_FALSE(fs::exists(fs::path(dir()) / "CURRENT"));
}

TEST_F(StateStoreTest, PathThatIsAFileIsRefused) {
  write_file(dir("file"), "x");
  auto store = StateStore::open(dir("file"));
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("not a directory"), std::string::npos);
}

TEST_F(StateStoreTest, GarbageCurrentFileIsAnError) {
  { ASSERT_TRUE(StateStore::open(dir()).ok()); }
  write_file(fs::path(dir()) / "CURRENT", garbage(64, 2));
  auto store = StateStore::open(dir());
  ASSERT_FALSE(store.ok());
  EXPECT_FALSE(store.error().message.empty());
}

TEST_F(StateStoreTest, GarbageInEveryStoreFileIsAnErrorNeverACrash) {
  {
    auto store = StateStore::open(dir());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->save(sample()).ok());
  }
  // Overwrite every file RocksDB wrote (except the lock and logs) with garbage, one at a time.
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir())) {
    auto name = e.path().filename().string();
    if (name == "LOCK" || name.rfind("LOG", 0) == 0) continue;
    files.push_back(e.path());
  }
  ASSERT_FALSE(files.empty());
  unsigned seed = 10;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string original((std::istreambuf_iterator<char>(in)), {});
    in.close();
    write_file(f, garbage(std::max<size_t>(original.size(), 64), seed++));
    auto store = StateStore::open(dir());
    if (store.ok()) {
      // Some files (e.g. OPTIONS, an old WAL) may be tolerated; then the data must still be
      // either intact or reported as an error, never a wrong record.
      auto rec = (*store)->load("liveql");
      if (rec.ok() && rec->has_value()) {
        EXPECT_EQ(**rec, sample()) << f;
      }
    } else {
      EXPECT_FALSE(store.error().message.empty()) << f;
    }
    store = Error{};
    write_file(f, original);
  }
}

TEST_F(StateStoreTest, NewerFormatIsRefused) {
  // Emulate a future liveql: create a store, then rewrite its format key.
  { ASSERT_TRUE(StateStore::open(dir()).ok()); }
  ASSERT_TRUE(raw_put(dir(), "liveql/format", "liveql-state 99", false));
  auto store = StateStore::open(dir());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("newer liveql"), std::string::npos) << store.error().message;

  ASSERT_TRUE(raw_put(dir(), "liveql/format", "something else", false));
  store = StateStore::open(dir());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("unrecognised format"), std::string::npos);
}

TEST_F(StateStoreTest, ForeignRocksDbIsRefused) {
  ASSERT_TRUE(raw_put(dir(), "their/key", "their value", true));
  auto store = StateStore::open(dir());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("not written by liveql"), std::string::npos)
      << store.error().message;
}

TEST(LiveMode, NamesRoundTrip) {
  EXPECT_EQ(parse_live_mode("event"), LiveMode::kEvent);
  EXPECT_EQ(parse_live_mode("poll"), LiveMode::kPoll);
  EXPECT_EQ(parse_live_mode("Poll"), std::nullopt);
  EXPECT_STREQ(live_mode_name(LiveMode::kPoll), "poll");
}

}  // namespace
}  // namespace liveql::state
