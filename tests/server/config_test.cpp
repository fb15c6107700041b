#include "liveql/server/config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace liveql::server {
namespace {

struct Args {
  std::vector<std::string> storage;
  std::vector<const char*> argv;
  explicit Args(std::vector<std::string> a) : storage(std::move(a)) {
    storage.insert(storage.begin(), "liveql");
    for (auto& s : storage) argv.push_back(s.c_str());
  }
};

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Result<Command> parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  Args a(std::move(args));
  return parse_command_line(static_cast<int>(a.argv.size()), a.argv.data(), env_of(env));
}

TEST(Config, ServeDefaults) {
  auto c = parse({"serve", "--database-url", "postgres://x/db"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->kind, CommandKind::kServe);
  EXPECT_EQ(c->config.database_url, "postgres://x/db");
  EXPECT_EQ(c->config.port, 8080);
  EXPECT_EQ(c->config.pool_size, 8u);
  EXPECT_EQ(c->config.batch_size, 100u);
  EXPECT_EQ(c->config.refetch_interval.count(), 1000);
  EXPECT_EQ(c->config.max_body_bytes, 1u << 20);
  EXPECT_EQ(c->config.live_mode_default, LiveMode::kEvent);
  EXPECT_EQ(c->config.ws_init_timeout.count(), 3000);
  EXPECT_EQ(c->config.ws_keepalive_seconds, 5u);
}

TEST(Config, FlagWinsOverEnvAndLiveqlOverHasura) {
  auto c = parse({"serve", "--admin-secret", "flag"},
                 {{"LIVEQL_DATABASE_URL", "liveql-url"},
                  {"HASURA_GRAPHQL_DATABASE_URL", "hasura-url"},
                  {"LIVEQL_ADMIN_SECRET", "env"},
                  {"HASURA_GRAPHQL_ADMIN_SECRET", "hasura"},
                  {"HASURA_GRAPHQL_JWT_SECRET", R"({"type":"HS256","key":"k"})"},
                  {"LIVEQL_PORT", "0"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->config.database_url, "liveql-url");
  EXPECT_EQ(c->config.admin_secret, "flag");
  EXPECT_EQ(c->config.jwt_secret, R"({"type":"HS256","key":"k"})");
  EXPECT_EQ(c->config.port, 0);
}

TEST(Config, HasuraAliasAlone) {
  auto c = parse({"serve"}, {{"HASURA_GRAPHQL_DATABASE_URL", "hasura-url"},
                             {"HASURA_GRAPHQL_UNAUTHORIZED_ROLE", "anonymous"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->config.database_url, "hasura-url");
  EXPECT_EQ(c->config.unauthorized_role, "anonymous");
}

TEST(Config, StringifyNumericTypes) {
  auto off = parse({"serve", "--database-url", "u"});
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->config.stringify_numeric_types);
  auto env =
      parse({"serve", "--database-url", "u"}, {{"HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES", "true"}});
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_TRUE(env->config.stringify_numeric_types);
  auto bare = parse({"serve", "--database-url", "u", "--stringify-numeric-types", "--port", "0"});
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_TRUE(bare->config.stringify_numeric_types);
  EXPECT_EQ(bare->config.port, 0);
  auto flag_off = parse({"serve", "--database-url", "u", "--stringify-numeric-types", "False"},
                        {{"HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES", "true"}});
  ASSERT_TRUE(flag_off) << flag_off.error().message;
  EXPECT_FALSE(flag_off->config.stringify_numeric_types);
  auto bad = parse({"serve", "--database-url", "u"},
                   {{"HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES", "maybe"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES"), std::string::npos);
}

TEST(Config, Console) {
  auto off = parse({"serve", "--database-url", "u"});
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->config.enable_console);
  EXPECT_EQ(off->config.console_assets_dir, "");
  auto env = parse({"serve", "--database-url", "u"},
                   {{"HASURA_GRAPHQL_ENABLE_CONSOLE", "true"},
                    {"HASURA_GRAPHQL_CONSOLE_ASSETS_DIR", "/srv/console"}});
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_TRUE(env->config.enable_console);
  EXPECT_EQ(env->config.console_assets_dir, "/srv/console");
  auto bare = parse({"serve", "--database-url", "u", "--enable-console"},
                    {{"HASURA_GRAPHQL_ENABLE_CONSOLE", "false"}});
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_TRUE(bare->config.enable_console);
  auto bad = parse({"serve", "--database-url", "u"}, {{"LIVEQL_ENABLE_CONSOLE", "sure"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("LIVEQL_ENABLE_CONSOLE"), std::string::npos);
}

TEST(Config, AllFlags) {
  auto c = parse({"serve",
                  "--database-url=u",
                  "--metadata",
                  "/m",
                  "--host",
                  "127.0.0.1",
                  "--port",
                  "9999",
                  "--jwt-secret",
                  "j",
                  "--unauthorized-role",
                  "anon",
                  "--live-mode-default",
                  "poll",
                  "--refetch-interval-ms",
                  "250",
                  "--batch-size",
                  "7",
                  "--state-dir",
                  "/s",
                  "--slot-name",
                  "sl",
                  "--pool-size",
                  "3",
                  "--log-level",
                  "debug",
                  "--max-body-bytes",
                  "10",
                  "--ws-init-timeout-ms",
                  "50",
                  "--max-ws-frame-bytes",
                  "20",
                  "--ws-keepalive-seconds",
                  "30"});
  ASSERT_TRUE(c) << c.error().message;
  const Config& k = c->config;
  EXPECT_EQ(k.metadata_path, "/m");
  EXPECT_EQ(k.host, "127.0.0.1");
  EXPECT_EQ(k.port, 9999);
  EXPECT_EQ(k.jwt_secret, "j");
  EXPECT_EQ(k.unauthorized_role, "anon");
  EXPECT_EQ(k.live_mode_default, LiveMode::kPoll);
  EXPECT_EQ(k.refetch_interval.count(), 250);
  EXPECT_EQ(k.batch_size, 7u);
  EXPECT_EQ(k.state_dir, "/s");
  EXPECT_EQ(k.slot_name, "sl");
  EXPECT_EQ(k.pool_size, 3u);
  EXPECT_EQ(k.log_level, "debug");
  EXPECT_EQ(k.max_body_bytes, 10u);
  EXPECT_EQ(k.ws_init_timeout.count(), 50);
  EXPECT_EQ(k.max_ws_frame_bytes, 20u);
  EXPECT_EQ(k.ws_keepalive_seconds, 30u);
}

TEST(Config, EdgeLimitsDefaults) {
  auto c = parse({"serve", "--database-url", "u"});
  ASSERT_TRUE(c) << c.error().message;
  const Config& k = c->config;
  EXPECT_EQ(k.max_header_bytes, 8192u);
  EXPECT_EQ(k.max_batch_size, 20u);
  EXPECT_EQ(k.metrics_secret, "");
  const compiler::Limits defaults;
  EXPECT_EQ(k.limits.parse.max_document_bytes, defaults.parse.max_document_bytes);
  EXPECT_EQ(k.limits.parse.max_depth, defaults.parse.max_depth);
  EXPECT_EQ(k.limits.max_query_depth, defaults.max_query_depth);
  EXPECT_EQ(k.limits.max_fields, 10000u);
  EXPECT_EQ(k.limits.max_aliases, 100u);
  EXPECT_EQ(k.limits.max_root_fields, 100u);
}

TEST(Config, EdgeLimitsFlags) {
  auto c = parse(
      {"serve", "--database-url",   "u",    "--max-header-bytes",   "16384", "--max-batch-size",
       "5",     "--metrics-secret", "prom", "--max-document-bytes", "4096",  "--max-depth",
       "9",     "--max-fields",     "500",  "--max-aliases",        "7",     "--max-root-fields",
       "3",     "--max-relations",  "12"});
  ASSERT_TRUE(c) << c.error().message;
  const Config& k = c->config;
  EXPECT_EQ(k.max_header_bytes, 16384u);
  EXPECT_EQ(k.max_batch_size, 5u);
  EXPECT_EQ(k.metrics_secret, "prom");
  EXPECT_EQ(k.limits.parse.max_document_bytes, 4096u);
  EXPECT_EQ(k.limits.max_query_depth, 9u);
  EXPECT_EQ(k.limits.max_fields, 500u);
  EXPECT_EQ(k.limits.max_aliases, 7u);
  EXPECT_EQ(k.limits.max_root_fields, 3u);
  EXPECT_EQ(k.limits.max_relations, 12u);
}

TEST(Config, EdgeLimitsEnvAndHasuraAlias) {
  auto c = parse({"serve", "--database-url", "u", "--max-fields", "11"},
                 {{"LIVEQL_MAX_HEADER_BYTES", "2048"},
                  {"LIVEQL_MAX_BATCH_SIZE", "2"},
                  {"HASURA_GRAPHQL_METRICS_SECRET", "from-hasura"},
                  {"LIVEQL_MAX_DOCUMENT_BYTES", "100"},
                  {"LIVEQL_MAX_DEPTH", "4"},
                  {"LIVEQL_MAX_FIELDS", "99"},  // the flag wins
                  {"LIVEQL_MAX_ALIASES", "5"},
                  {"LIVEQL_MAX_ROOT_FIELDS", "6"}});
  ASSERT_TRUE(c) << c.error().message;
  const Config& k = c->config;
  EXPECT_EQ(k.max_header_bytes, 2048u);
  EXPECT_EQ(k.max_batch_size, 2u);
  EXPECT_EQ(k.metrics_secret, "from-hasura");
  EXPECT_EQ(k.limits.parse.max_document_bytes, 100u);
  EXPECT_EQ(k.limits.max_query_depth, 4u);
  EXPECT_EQ(k.limits.max_fields, 11u);
  EXPECT_EQ(k.limits.max_aliases, 5u);
  EXPECT_EQ(k.limits.max_root_fields, 6u);

  auto both =
      parse({"serve", "--database-url", "u"},
            {{"LIVEQL_METRICS_SECRET", "ours"}, {"HASURA_GRAPHQL_METRICS_SECRET", "theirs"}});
  ASSERT_TRUE(both);
  EXPECT_EQ(both->config.metrics_secret, "ours");
}

TEST(Config, EdgeLimitsRefuseNonsense) {
  for (auto [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--max-batch-size", "0"},
           {"--max-header-bytes", "100"},  // not even a request line fits
           {"--max-depth", "0"},
           {"--max-fields", "-1"},
           {"--max-aliases", "x"},
           {"--max-root-fields", ""},
           {"--max-document-bytes", "0"}}) {
    auto c = parse({"serve", "--database-url", "u", flag, value});
    ASSERT_FALSE(c) << flag << " " << value;
    EXPECT_NE(c.error().message.find(flag), std::string::npos) << c.error().message;
  }
}

TEST(Config, ErrorsNameTheSource) {
  auto missing = parse({"serve"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("--database-url"), std::string::npos);

  auto port = parse({"serve", "--database-url", "u", "--port", "70000"});
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().message.find("--port"), std::string::npos);

  auto env_port = parse({"serve", "--database-url", "u"}, {{"LIVEQL_PORT", "abc"}});
  ASSERT_FALSE(env_port);
  EXPECT_NE(env_port.error().message.find("LIVEQL_PORT"), std::string::npos);

  auto mode = parse({"serve", "--database-url", "u", "--live-mode-default", "push"});
  ASSERT_FALSE(mode);
  EXPECT_NE(mode.error().message.find("event or poll"), std::string::npos);

  // The write-rate fallback: on by default; off by flag or environment; a bad value refused.
  auto fallback = parse({"serve", "--database-url", "u"});
  ASSERT_TRUE(fallback);
  EXPECT_TRUE(fallback->config.write_fallback);
  auto no_fallback = parse({"serve", "--database-url", "u", "--write-fallback", "false"});
  ASSERT_TRUE(no_fallback) << no_fallback.error().message;
  EXPECT_FALSE(no_fallback->config.write_fallback);
  auto env_fallback = parse({"serve", "--database-url", "u"}, {{"LIVEQL_WRITE_FALLBACK", "false"}});
  ASSERT_TRUE(env_fallback);
  EXPECT_FALSE(env_fallback->config.write_fallback);
  auto bad_fallback = parse({"serve", "--database-url", "u", "--write-fallback", "maybe"});
  ASSERT_FALSE(bad_fallback);
  EXPECT_NE(bad_fallback.error().message.find("--write-fallback"), std::string::npos);

  auto pool = parse({"serve", "--database-url", "u", "--pool-size", "0"});
  ASSERT_FALSE(pool);

  auto unknown = parse({"serve", "--database-url", "u", "--bogus"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("--bogus"), std::string::npos);
}

TEST(Config, OtherCommands) {
  auto v = parse({"version"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->kind, CommandKind::kVersion);
  EXPECT_NE(version_string().find("liveql "), std::string::npos);

  auto h = parse({"--help"});
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, CommandKind::kHelp);
  EXPECT_NE(h->output.find("serve"), std::string::npos);

  auto none = parse({});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->kind, CommandKind::kHelp);

  auto slot = parse({"slot", "status", "--database-url", "u", "--slot-name", "s1"});
  ASSERT_TRUE(slot) << slot.error().message;
  EXPECT_EQ(slot->kind, CommandKind::kSlotStatus);
  EXPECT_EQ(slot->config.slot_name, "s1");
  EXPECT_FALSE(slot->json);

  auto status =
      parse({"slot", "status", "--database-url", "u", "--state-dir", "/tmp/st", "--json"});
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(status->config.state_dir, "/tmp/st");
  EXPECT_EQ(status->config.slot_name, "liveql");
  EXPECT_TRUE(status->json);

  auto drop = parse({"slot", "drop", "--database-url", "u", "--slot-name", "s2"});
  ASSERT_TRUE(drop) << drop.error().message;
  EXPECT_EQ(drop->kind, CommandKind::kSlotDrop);
  EXPECT_EQ(drop->config.slot_name, "s2");
  EXPECT_EQ(drop->config.state_dir, "liveql-state");

  EXPECT_FALSE(parse({"slot", "drop", "--database-url", "u", "--json"}));  // status only
  EXPECT_FALSE(parse({"slot", "status"}));                                 // no database
  EXPECT_FALSE(parse({"slot"}));                                           // no subcommand
}

TEST(Config, PostgresGuards) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  auto d = parse({"serve", "--database-url", "u"});
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->config.query_timeout, milliseconds(30'000));
  EXPECT_EQ(d->config.conn_lifetime, seconds(600));
  EXPECT_EQ(d->config.conn_recycle_after, milliseconds(500));

  auto flags = parse({"serve", "--database-url", "u", "--query-timeout-ms", "2500",
                      "--conn-lifetime", "60", "--conn-recycle-after-ms", "0"},
                     {{"LIVEQL_QUERY_TIMEOUT_MS", "9"}});
  ASSERT_TRUE(flags) << flags.error().message;
  EXPECT_EQ(flags->config.query_timeout, milliseconds(2500));
  EXPECT_EQ(flags->config.conn_lifetime, seconds(60));
  EXPECT_EQ(flags->config.conn_recycle_after, milliseconds(0));  // 0 = off

  auto env = parse({"serve", "--database-url", "u"}, {{"LIVEQL_QUERY_TIMEOUT_MS", "0"},
                                                      {"HASURA_GRAPHQL_PG_CONN_LIFETIME", "120"},
                                                      {"LIVEQL_CONN_RECYCLE_AFTER_MS", "5000"}});
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(env->config.query_timeout, milliseconds(0));
  EXPECT_EQ(env->config.conn_lifetime, seconds(120));
  EXPECT_EQ(env->config.conn_recycle_after, milliseconds(5000));

  auto liveql_wins =
      parse({"serve", "--database-url", "u"},
            {{"LIVEQL_CONN_LIFETIME", "30"}, {"HASURA_GRAPHQL_PG_CONN_LIFETIME", "120"}});
  ASSERT_TRUE(liveql_wins);
  EXPECT_EQ(liveql_wins->config.conn_lifetime, seconds(30));

  auto negative = parse({"serve", "--database-url", "u", "--query-timeout-ms", "-1"});
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().message.find("--query-timeout-ms"), std::string::npos);
  auto junk = parse({"serve", "--database-url", "u"}, {{"LIVEQL_CONN_LIFETIME", "10s"}});
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message.find("LIVEQL_CONN_LIFETIME"), std::string::npos);
}

}  // namespace
}  // namespace liveql::server
