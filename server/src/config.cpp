#include "liveql/server/config.hpp"

#include <CLI/CLI.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <vector>

namespace liveql::server {
namespace {

constexpr const char* kVersion = "0.1.0";

// One setting: its flag, its environment variables in order of preference, and how to store a
// textual value into Config.
struct Setting {
  const char* flag = "";  // without dashes
  std::vector<const char*> env;
  const char* help = "";
  using Apply = std::function<Status(Config&, const std::string&, const std::string& source)>;
  Apply apply;
  std::string raw;  // filled by CLI11 when the flag is given
  CLI::Option* option = nullptr;
  bool is_switch = false;  // the flag may come without a value, meaning "true"
};

Error bad(std::string message) { return make_error(ErrorCode::kBadRequest, std::move(message)); }

template <class T>
Result<T> parse_number(const std::string& text, const std::string& source, T min, T max) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value < min ||
      value > max) {
    return bad(source + ": expected an integer between " + std::to_string(min) + " and " +
               std::to_string(max) + ", got \"" + text + "\"");
  }
  return value;
}

// true/false as Hasura's environment reads them (also 1/0, yes/no, any case).
Result<bool> parse_bool(const std::string& text, const std::string& source) {
  std::string t;
  for (char ch : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (t == "true" || t == "1" || t == "yes") return true;
  if (t == "false" || t == "0" || t == "no") return false;
  return bad(source + ": expected true or false, got \"" + text + "\"");
}

// Builds the serve settings table; each setter validates and stores one value.
std::vector<Setting> serve_settings() {
  auto str = [](std::string Config::*member) {
    return [member](Config& c, const std::string& v, const std::string&) -> Status {
      c.*member = v;
      return Ok{};
    };
  };
  auto size = [](std::size_t Config::*member, std::size_t min) {
    return [member, min](Config& c, const std::string& v, const std::string& src) -> Status {
      auto n = parse_number<std::size_t>(v, src, min, std::numeric_limits<std::size_t>::max());
      if (!n) return n.take_error();
      c.*member = *n;
      return Ok{};
    };
  };
  auto millis = [](std::chrono::milliseconds Config::*member) {
    return [member](Config& c, const std::string& v, const std::string& src) -> Status {
      auto n = parse_number<std::int64_t>(v, src, 1, std::int64_t{1} << 40);
      if (!n) return n.take_error();
      c.*member = std::chrono::milliseconds(*n);
      return Ok{};
    };
  };
  auto boolean = [](bool Config::*member) {
    return [member](Config& c, const std::string& v, const std::string& src) -> Status {
      auto b = parse_bool(v, src);
      if (!b) return b.take_error();
      c.*member = *b;
      return Ok{};
    };
  };
  // A duration where 0 means "off".
  auto duration_or_off = []<class D>(D Config::*member) {
    return [member](Config& c, const std::string& v, const std::string& src) -> Status {
      auto n = parse_number<std::int64_t>(v, src, 0, std::int64_t{1} << 40);
      if (!n) return n.take_error();
      c.*member = D(*n);
      return Ok{};
    };
  };
  std::vector<Setting> s;
  using Apply = Setting::Apply;
  auto add = [&s](const char* flag, std::vector<const char*> env, const char* help, Apply apply) {
    Setting setting;
    setting.flag = flag;
    setting.env = std::move(env);
    setting.help = help;
    setting.apply = std::move(apply);
    s.push_back(std::move(setting));
  };
  add("database-url", {"LIVEQL_DATABASE_URL", "HASURA_GRAPHQL_DATABASE_URL"},
      "PostgreSQL URL or libpq connection string", str(&Config::database_url));
  add("metadata", {"LIVEQL_METADATA", "HASURA_GRAPHQL_METADATA_DIR"},
      "Hasura metadata directory, or one JSON/YAML metadata file", str(&Config::metadata_path));
  add("host", {"LIVEQL_HOST", "HASURA_GRAPHQL_SERVER_HOST"},
      "address to listen on (default 0.0.0.0)", str(&Config::host));
  add("port", {"LIVEQL_PORT", "HASURA_GRAPHQL_SERVER_PORT"},
      "port to listen on (default 8080; 0 picks a free port)",
      [](Config& c, const std::string& v, const std::string& src) -> Status {
        auto n = parse_number<std::uint32_t>(v, src, 0, 65535);
        if (!n) return n.take_error();
        c.port = static_cast<std::uint16_t>(*n);
        return Ok{};
      });
  add("admin-secret", {"LIVEQL_ADMIN_SECRET", "HASURA_GRAPHQL_ADMIN_SECRET"},
      "admin secret (x-hasura-admin-secret)", str(&Config::admin_secret));
  add("jwt-secret", {"LIVEQL_JWT_SECRET", "HASURA_GRAPHQL_JWT_SECRET"},
      "JWT secret in Hasura's JSON form: {\"type\":\"HS256\",\"key\":\"...\"}",
      str(&Config::jwt_secret));
  add("unauthorized-role", {"LIVEQL_UNAUTHORIZED_ROLE", "HASURA_GRAPHQL_UNAUTHORIZED_ROLE"},
      "role for requests without credentials", str(&Config::unauthorized_role));
  add("live-mode-default", {"LIVEQL_LIVE_MODE_DEFAULT"},
      "event|poll: live mode of tables whose metadata does not say (default event)",
      [](Config& c, const std::string& v, const std::string& src) -> Status {
        auto mode = parse_live_mode(v);
        if (!mode) return bad(src + ": expected event or poll, got \"" + v + "\"");
        c.live_mode_default = *mode;
        return Ok{};
      });
  add("write-fallback", {"LIVEQL_WRITE_FALLBACK"},
      "poll an event-mode table, left out of the replication stream, while its writes keep "
      "every live query on it held at the poll interval (true|false, default true)",
      boolean(&Config::write_fallback));
  add("refetch-interval-ms",
      {"LIVEQL_REFETCH_INTERVAL_MS", "HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL"},
      "poll interval in milliseconds (default 1000)", millis(&Config::refetch_interval));
  add("batch-size", {"LIVEQL_BATCH_SIZE", "HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_BATCH_SIZE"},
      "subscribers per refetch statement (default 100)", size(&Config::batch_size, 1));
  add("state-dir", {"LIVEQL_STATE_DIR"},
      "RocksDB directory for replication state (default ./liveql-state)", str(&Config::state_dir));
  add("slot-name", {"LIVEQL_SLOT_NAME"}, "logical replication slot name (default liveql)",
      str(&Config::slot_name));
  add("pool-size", {"LIVEQL_POOL_SIZE", "HASURA_GRAPHQL_PG_CONNECTIONS"},
      "most PostgreSQL connections for queries (default 8)", size(&Config::pool_size, 1));
  add("log-level", {"LIVEQL_LOG_LEVEL", "HASURA_GRAPHQL_LOG_LEVEL"},
      "trace|debug|info|warn|error|critical|off (default info)",
      [](Config& c, const std::string& v, const std::string& src) -> Status {
        static const char* kLevels[] = {"trace", "debug",    "info", "warn",
                                        "error", "critical", "off"};
        for (const char* l : kLevels) {
          if (v == l) {
            c.log_level = v;
            return Ok{};
          }
        }
        return bad(src + ": unknown log level \"" + v + "\"");
      });
  add("max-body-bytes", {"LIVEQL_MAX_BODY_BYTES"}, "largest HTTP request body (default 1048576)",
      size(&Config::max_body_bytes, 1));
  add("max-header-bytes", {"LIVEQL_MAX_HEADER_BYTES"},
      "largest HTTP request line plus headers; larger gets 431 (default 8192)",
      size(&Config::max_header_bytes, 1024));
  add("max-batch-size", {"LIVEQL_MAX_BATCH_SIZE"},
      "most operations in one batched POST /v1/graphql (default 20)",
      size(&Config::max_batch_size, 1));
  add("stringify-numeric-types",
      {"LIVEQL_STRINGIFY_NUMERIC_TYPES", "HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES"},
      "answer bigint, numeric, double precision and money as JSON strings (true|false, "
      "default false)",
      boolean(&Config::stringify_numeric_types));
  s.back().is_switch = true;
  add("infer-function-permissions",
      {"LIVEQL_INFER_FUNCTION_PERMISSIONS", "HASURA_GRAPHQL_INFER_FUNCTION_PERMISSIONS"},
      "a role sees a tracked function when it may select from its return table (true|false, "
      "default true); false: only the roles of the function's permissions",
      boolean(&Config::infer_function_permissions));
  add("metrics-secret", {"LIVEQL_METRICS_SECRET", "HASURA_GRAPHQL_METRICS_SECRET"},
      "bearer token GET /metrics requires (default: none, /metrics is open)",
      str(&Config::metrics_secret));
  auto limit = [](std::size_t compiler::Limits::*member) {
    return [member](Config& c, const std::string& v, const std::string& src) -> Status {
      auto n = parse_number<std::size_t>(v, src, 1, std::numeric_limits<std::size_t>::max());
      if (!n) return n.take_error();
      c.limits.*member = *n;
      return Ok{};
    };
  };
  add("max-document-bytes", {"LIVEQL_MAX_DOCUMENT_BYTES"},
      "largest GraphQL document (default 1048576)",
      [](Config& c, const std::string& v, const std::string& src) -> Status {
        auto n = parse_number<std::size_t>(v, src, 1, std::numeric_limits<std::size_t>::max());
        if (!n) return n.take_error();
        c.limits.parse.max_document_bytes = *n;
        return Ok{};
      });
  add("max-depth", {"LIVEQL_MAX_DEPTH"}, "deepest selection of an operation (default 32)",
      limit(&compiler::Limits::max_query_depth));
  add("max-fields", {"LIVEQL_MAX_FIELDS"},
      "most selected fields in an operation, fragments expanded (default 10000)",
      limit(&compiler::Limits::max_fields));
  add("max-aliases", {"LIVEQL_MAX_ALIASES"},
      "most aliased fields in one selection set (default 100)",
      limit(&compiler::Limits::max_aliases));
  add("max-root-fields", {"LIVEQL_MAX_ROOT_FIELDS"},
      "most root fields in one operation, and statements in one mutation (default 100)",
      limit(&compiler::Limits::max_root_fields));
  add("max-relations", {"LIVEQL_MAX_RELATIONS"},
      "most tables and relationships selected in one operation, each a subquery (default 200)",
      limit(&compiler::Limits::max_relations));
  add("ws-init-timeout-ms", {"LIVEQL_WS_INIT_TIMEOUT_MS"},
      "websocket: time allowed for connection_init (default 3000)",
      millis(&Config::ws_init_timeout));
  add("max-ws-frame-bytes", {"LIVEQL_MAX_WS_FRAME_BYTES"},
      "websocket: largest frame accepted (default 1048576)", size(&Config::max_ws_frame_bytes, 1));
  add("ws-keepalive-seconds", {"LIVEQL_WS_KEEPALIVE_SECONDS", "HASURA_GRAPHQL_WEBSOCKET_KEEPALIVE"},
      "websocket: seconds between keep-alive messages (default 5)",
      size(&Config::ws_keepalive_seconds, 1));
  add("threads", {"LIVEQL_THREADS"},
      "I/O threads running websocket and HTTP sessions; the live core has its own; 1 = "
      "everything on one thread (default: the number of cores)",
      size(&Config::threads, 1));
  add("query-timeout-ms", {"LIVEQL_QUERY_TIMEOUT_MS"},
      "statement_timeout of every query and live-query statement, in milliseconds; 0 = none "
      "(default 30000)",
      duration_or_off(&Config::query_timeout));
  add("conn-lifetime", {"LIVEQL_CONN_LIFETIME", "HASURA_GRAPHQL_PG_CONN_LIFETIME"},
      "seconds after which a pooled PostgreSQL connection is closed and replaced; 0 = never "
      "(default 600)",
      duration_or_off(&Config::conn_lifetime));
  add("conn-recycle-after-ms", {"LIVEQL_CONN_RECYCLE_AFTER_MS"},
      "a pooled connection whose statement ran at least this many milliseconds is closed "
      "afterwards (its backend may hold the memory); 0 = never (default 500)",
      duration_or_off(&Config::conn_recycle_after));
  add("enable-console", {"LIVEQL_ENABLE_CONSOLE", "HASURA_GRAPHQL_ENABLE_CONSOLE"},
      "serve the console (GraphiQL, Analyze, live view) at /console (true|false, default false)",
      boolean(&Config::enable_console));
  s.back().is_switch = true;
  add("console-assets-dir", {"LIVEQL_CONSOLE_ASSETS_DIR", "HASURA_GRAPHQL_CONSOLE_ASSETS_DIR"},
      "directory of the console's files (default: `console` next to the liveql binary)",
      str(&Config::console_assets_dir));
  return s;
}

}  // namespace

std::optional<std::string> process_env(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string version_string() { return std::string("liveql ") + kVersion; }

Result<Command> parse_command_line(int argc, const char* const* argv, const EnvLookup& env) {
  CLI::App app{"liveql: GraphQL live queries for PostgreSQL (Hasura v2 compatible)", "liveql"};
  app.require_subcommand(0, 1);
  CLI::App* serve = app.add_subcommand("serve", "run the GraphQL server");
  CLI::App* version = app.add_subcommand("version", "print the version");
  CLI::App* slot = app.add_subcommand("slot", "replication slot tooling");
  slot->require_subcommand(1);
  CLI::App* slot_status = slot->add_subcommand("status", "show the replication slot");
  CLI::App* slot_drop = slot->add_subcommand("drop", "drop the replication slot");

  // The slot commands need the same connection settings as serve.
  std::vector<Setting> settings = serve_settings();
  for (auto& s : settings) {
    std::string help = s.help;
    help += " [env ";
    for (size_t i = 0; i < s.env.size(); ++i) help += (i ? ", " : "") + std::string(s.env[i]);
    help += "]";
    s.option = serve->add_option(std::string("--") + s.flag, s.raw, help);
    if (s.is_switch) s.option->expected(0, 1);
  }
  std::string slot_url;
  std::string slot_name;
  std::string slot_state_dir;
  for (CLI::App* sub : {slot_status, slot_drop}) {
    sub->add_option("--database-url", slot_url, "PostgreSQL URL [env LIVEQL_DATABASE_URL]");
    sub->add_option("--slot-name", slot_name, "slot name (default liveql) [env LIVEQL_SLOT_NAME]");
    sub->add_option("--state-dir", slot_state_dir,
                    "RocksDB state directory (default ./liveql-state) [env LIVEQL_STATE_DIR]");
  }
  bool slot_json = false;
  slot_status->add_flag("--json", slot_json, "print one JSON object instead of text");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    Command c;
    c.kind = CommandKind::kHelp;
    c.output = app.help();
    return c;
  } catch (const CLI::CallForAllHelp&) {
    Command c;
    c.kind = CommandKind::kHelp;
    c.output = app.help("", CLI::AppFormatMode::All);
    return c;
  } catch (const CLI::ParseError& e) {
    return bad(e.what());
  }

  Command command;
  if (*version) {
    command.kind = CommandKind::kVersion;
    return command;
  }
  if (!*serve && !*slot) {
    command.kind = CommandKind::kHelp;
    command.output = app.help();
    return command;
  }

  // Flags first, then each environment variable in order.
  for (auto& s : settings) {
    std::optional<std::string> value;
    std::string source;
    if (*serve && s.option->count() > 0) {
      value = s.is_switch && s.raw.empty() ? "true" : s.raw;
      source = std::string("--") + s.flag;
    } else {
      for (const char* name : s.env) {
        if (auto v = env(name)) {
          value = std::move(v);
          source = name;
          break;
        }
      }
    }
    if (!value) continue;
    if (auto st = s.apply(command.config, *value, source); !st) return st.take_error();
  }

  if (*slot) {
    if (!slot_url.empty()) command.config.database_url = slot_url;
    if (!slot_name.empty()) command.config.slot_name = slot_name;
    if (!slot_state_dir.empty()) command.config.state_dir = slot_state_dir;
    command.json = slot_json;
    command.kind = *slot_status ? CommandKind::kSlotStatus : CommandKind::kSlotDrop;
  } else {
    command.kind = CommandKind::kServe;
  }
  if (command.config.database_url.empty()) {
    return bad("no database: pass --database-url or set LIVEQL_DATABASE_URL");
  }
  return command;
}

}  // namespace liveql::server
