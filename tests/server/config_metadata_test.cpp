#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "liveql/server/metadata_loader.hpp"
#include "support/test_db.hpp"

namespace liveql::server {
namespace {

namespace fs = std::filesystem;

class MetadataDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("liveql-metadata-test-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  fs::path dir_;
};

TEST_F(MetadataDir, ResolvesHasuraExportLayout) {
  write("metadata/version.yaml", "version: 3\n");
  write("metadata/databases/databases.yaml",
        "- name: default\n  kind: postgres\n  configuration: {}\n"
        "  tables: \"!include default/tables/tables.yaml\"\n");
  write("metadata/databases/default/tables/tables.yaml",
        "- \"!include public_users.yaml\"\n- \"!include public_orders.yaml\"\n"
        "- table: {name: inline_t, schema: public}\n");
  write("metadata/databases/default/tables/public_users.yaml",
        "table:\n  name: users\n  schema: public\nselect_permissions:\n  - role: user\n"
        "    permission:\n      columns: [id]\n      filter: {id: {_eq: X-Hasura-User-Id}}\n");
  write("metadata/databases/default/tables/public_orders.yaml",
        "table: {name: orders, schema: public}\nlive_mode: poll\n"
        "select_permissions: \"!include perms/orders_perms.yaml\"\n");
  write("metadata/databases/default/tables/perms/orders_perms.yaml",
        "- role: user\n  permission: {columns: '*', filter: {}}\n");

  // Both the metadata folder and the project folder above it are accepted.
  for (fs::path root : {dir_ / "metadata", dir_}) {
    auto r = read_metadata_sources(root.string());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->whole.empty());
    ASSERT_EQ(r->tables.size(), 3u);
    EXPECT_NE(r->tables[0].file.find("public_users.yaml"), std::string::npos);
    YAML::Node users = YAML::Load(r->tables[0].text);
    EXPECT_EQ(users["table"]["name"].as<std::string>(), "users");
    EXPECT_EQ(users["select_permissions"][0]["role"].as<std::string>(), "user");

    YAML::Node orders = YAML::Load(r->tables[1].text);
    EXPECT_EQ(orders["live_mode"].as<std::string>(), "poll");
    ASSERT_TRUE(orders["select_permissions"].IsSequence());  // nested include resolved
    EXPECT_EQ(orders["select_permissions"][0]["permission"]["columns"].as<std::string>(), "*");

    EXPECT_NE(r->tables[2].file.find("tables.yaml"), std::string::npos);
    EXPECT_EQ(YAML::Load(r->tables[2].text)["table"]["name"].as<std::string>(), "inline_t");
  }
}

TEST_F(MetadataDir, ReadsTheFunctionsOfADirectory) {
  write("databases/databases.yaml",
        "- name: default\n  kind: postgres\n  tables: []\n"
        "  functions: \"!include default/functions/functions.yaml\"\n");
  write("databases/default/functions/functions.yaml",
        "- function: {schema: public, name: search_notes}\n"
        "  configuration: {session_argument: hasura_session}\n"
        "- \"!include public_mine.yaml\"\n");
  write("databases/default/functions/public_mine.yaml",
        "function: {schema: public, name: mine}\npermissions: [{role: user}]\n");
  auto md = load_metadata_path(dir_.string());
  ASSERT_TRUE(md) << md.error().message;
  ASSERT_EQ(md->functions.size(), 2u);
  EXPECT_EQ(md->functions[0].function.name, "search_notes");
  EXPECT_EQ(md->functions[0].session_argument, "hasura_session");
  EXPECT_EQ(md->functions[1].function.name, "mine");
  EXPECT_EQ(md->functions[1].permissions, std::vector<std::string>{"user"});
}

TEST_F(MetadataDir, DemoMetadata) {
  auto r = read_metadata_sources(test::source_path("tools/demo/metadata"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->tables.size(), 4u);
  EXPECT_EQ(YAML::Load(r->tables[0].text)["table"]["name"].as<std::string>(), "users");
}

TEST_F(MetadataDir, DemoMetadataParses) {
  auto m = load_metadata_path(test::source_path("tools/demo/metadata"));
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->tables.size(), 4u);
  EXPECT_EQ(m->tables[2].table.name, "orders");
  EXPECT_EQ(m->tables[2].live_mode, LiveMode::kEvent);
  ASSERT_EQ(m->tables[2].select_permissions.size(), 2u);
  EXPECT_EQ(m->tables[2].select_permissions[1].limit, 2);
}

TEST_F(MetadataDir, ParseErrorsNameTheTableFile) {
  write("databases/databases.yaml", "- name: default\n  tables: \"!include t.yaml\"\n");
  write("databases/t.yaml", "- \"!include public_x.yaml\"\n");
  write("databases/public_x.yaml", "table: {name: x}\nlive_mode: sometimes\n");
  auto m = load_metadata_path(dir_.string());
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("public_x.yaml"), std::string::npos) << m.error().message;
}

TEST_F(MetadataDir, EmptyTablesAndSingleFile) {
  write("databases/databases.yaml", "- name: default\n  tables: \"!include t.yaml\"\n");
  write("databases/t.yaml", "[]\n");
  auto r = read_metadata_sources(dir_.string());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->tables.empty());

  write("export.json", R"({"version":3,"sources":[]})");
  auto f = read_metadata_sources((dir_ / "export.json").string());
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_EQ(f->whole.size(), 1u);
  EXPECT_EQ(f->whole[0].text, R"({"version":3,"sources":[]})");
}

TEST_F(MetadataDir, ErrorsNameTheFile) {
  auto missing = read_metadata_sources((dir_ / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);

  auto not_hasura = read_metadata_sources(dir_.string());
  ASSERT_FALSE(not_hasura);
  EXPECT_NE(not_hasura.error().message.find("databases.yaml"), std::string::npos);

  write("databases/databases.yaml", "- name: default\n  tables: \"!include t.yaml\"\n");
  write("databases/t.yaml", "- \"!include missing_table.yaml\"\n");
  auto no_include = read_metadata_sources(dir_.string());
  ASSERT_FALSE(no_include);
  EXPECT_NE(no_include.error().message.find("missing_table.yaml"), std::string::npos);

  write("databases/t.yaml", "- \"!include bad.yaml\"\n");
  write("databases/bad.yaml", "table: {name: x\n  oops: [\n");
  auto bad_yaml = read_metadata_sources(dir_.string());
  ASSERT_FALSE(bad_yaml);
  EXPECT_NE(bad_yaml.error().message.find("bad.yaml"), std::string::npos);
  EXPECT_NE(bad_yaml.error().message.find("line"), std::string::npos);

  write("databases/t.yaml", "- \"!include loop.yaml\"\n");
  write("databases/loop.yaml", "a: \"!include loop.yaml\"\n");
  auto loop = read_metadata_sources(dir_.string());
  ASSERT_FALSE(loop);
  EXPECT_NE(loop.error().message.find("loop.yaml"), std::string::npos);

  write("databases/t.yaml", "table: not-a-list\n");
  auto not_list = read_metadata_sources(dir_.string());
  ASSERT_FALSE(not_list);
  EXPECT_NE(not_list.error().message.find("t.yaml"), std::string::npos);
}

}  // namespace
}  // namespace liveql::server
