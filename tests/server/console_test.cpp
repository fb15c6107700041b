#include "console.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace liveql::server {
namespace {

namespace fs = std::filesystem;

class ConsoleAssetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/liveql-console-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& body) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << body;
  }

  fs::path dir_;
};

TEST_F(ConsoleAssetsTest, LoadsKnownTypesAndFindsThemByName) {
  write("index.html", "<!doctype html>");
  write("console.js", "1");
  write("vendor/graphiql.min.css", "a{}");
  write("notes.md", "not served");
  auto assets = ConsoleAssets::load(dir_.string());
  ASSERT_TRUE(assets) << assets.error().message;
  EXPECT_EQ(assets->size(), 3u);
  ASSERT_NE(assets->find("index.html"), nullptr);
  EXPECT_EQ(assets->find("index.html")->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(assets->find("index.html")->body, "<!doctype html>");
  EXPECT_EQ(assets->find("console.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(assets->find("vendor/graphiql.min.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(assets->find("notes.md"), nullptr);
}

TEST_F(ConsoleAssetsTest, NamesThatLeaveTheFolderFindNothing) {
  write("index.html", "x");
  write("vendor/a.js", "x");
  auto assets = ConsoleAssets::load(dir_.string());
  ASSERT_TRUE(assets) << assets.error().message;
  for (const char* name : {"../index.html", "vendor/../index.html", "/index.html", "./index.html",
                           "vendor//a.js", "..", "", "/etc/passwd", "%2e%2e/index.html"}) {
    EXPECT_EQ(assets->find(name), nullptr) << name;
  }
}

TEST_F(ConsoleAssetsTest, SkipsSymbolicLinks) {
  write("index.html", "x");
  fs::path outside = dir_.string() + "-outside.js";
  std::ofstream(outside) << "secret";
  fs::create_symlink(outside, dir_ / "link.js");
  auto assets = ConsoleAssets::load(dir_.string());
  fs::remove(outside);
  ASSERT_TRUE(assets) << assets.error().message;
  EXPECT_EQ(assets->find("link.js"), nullptr);
}

TEST_F(ConsoleAssetsTest, RefusesAMissingDirectoryOrIndex) {
  auto missing = ConsoleAssets::load((dir_ / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  write("console.js", "1");
  auto no_index = ConsoleAssets::load(dir_.string());
  ASSERT_FALSE(no_index);
  EXPECT_NE(no_index.error().message.find("index.html"), std::string::npos);
}

TEST_F(ConsoleAssetsTest, RefusesAFileOverTheBound) {
  write("index.html", "x");
  write("big.js", std::string(ConsoleAssets::kMaxFileBytes + 1, 'a'));
  auto assets = ConsoleAssets::load(dir_.string());
  ASSERT_FALSE(assets);
  EXPECT_NE(assets.error().message.find("larger than"), std::string::npos);
}

TEST(ConsoleDefaults, DirectoryNextToTheBinary) {
  EXPECT_EQ(default_console_dir("/opt/liveql/bin/liveql"), "/opt/liveql/share/liveql/console");
  EXPECT_EQ(console_content_type("a.woff2"), "font/woff2");
  EXPECT_EQ(console_content_type("a.exe"), std::nullopt);
}

}  // namespace
}  // namespace liveql::server
