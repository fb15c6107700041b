// The `liveql` command line: subcommands, flags and environment variables, parsed into a
// Config. Pure apart from reading the environment through an injectable lookup, so tests can
// check precedence without touching the process environment.
//
// Precedence per setting: command-line flag, then LIVEQL_<NAME>, then the Hasura alias
// (HASURA_GRAPHQL_<NAME>) where one exists, then the default.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "liveql/base/live_mode.hpp"
#include "liveql/base/result.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"

namespace liveql::server {

struct Config {
  std::string database_url;   // required for `serve`
  std::string metadata_path;  // "" = no tracked tables
  std::string host = "0.0.0.0";
  std::uint16_t port = 8080;  // 0 = pick a free port
  std::string admin_secret;   // "" = no secret: every request is admin (as Hasura)
  std::string jwt_secret;     // Hasura's JSON form, "" = JWT disabled
  std::string unauthorized_role;
  LiveMode live_mode_default = LiveMode::kEvent;
  // Poll an event table while following its writes costs more than polling (ChangeFeed).
  bool write_fallback = true;
  std::chrono::milliseconds refetch_interval{1000};
  std::size_t batch_size = 100;
  std::string state_dir = "liveql-state";
  std::string slot_name = "liveql";
  std::size_t pool_size = 8;
  std::string log_level = "info";  // trace debug info warn error critical off
  std::size_t max_body_bytes = 1 << 20;
  // The request line plus headers (a larger request gets 431). Beast's default.
  std::size_t max_header_bytes = 8 * 1024;
  // Operations in one batched request (a JSON array on POST /v1/graphql).
  std::size_t max_batch_size = 20;
  // bigint, numeric, double precision and money answered as JSON strings, as Hasura's
  // HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES (compiler::SchemaOptions).
  bool stringify_numeric_types = false;
  bool infer_function_permissions = true;
  // GET /metrics needs `Authorization: Bearer <metrics_secret>` when set; "" = open (as before).
  std::string metrics_secret;
  // The compiler's limits (--max-document-bytes, --max-depth, --max-fields, --max-aliases,
  // --max-root-fields); the defaults are the compiler's.
  compiler::Limits limits;
  // WebSockets: time allowed between the upgrade and connection_init (close 4408 after), and
  // the largest frame accepted (bigger: closed with a bad-message error).
  std::chrono::milliseconds ws_init_timeout{3000};
  std::size_t max_ws_frame_bytes = 1 << 20;
  // Seconds between keep-alives (`ka` / `ping`) on each acknowledged websocket (Hasura: 5).
  std::size_t ws_keepalive_seconds = 5;
  // I/O threads for websocket and HTTP sessions (the live core runs on its own thread); 1 runs
  // everything on one thread. 0 = the number of cores (std::thread::hardware_concurrency).
  std::size_t threads = 0;
  // PostgreSQL guards of the query pool (live::PgPoolOptions; 0 turns one off): the
  // statement_timeout of every query connection; a connection's lifetime (Hasura's
  // --conn-lifetime); and the statement duration after which its connection is closed rather
  // than reused (a backend keeps memory a heavy statement made it allocate).
  std::chrono::milliseconds query_timeout{30'000};
  std::chrono::seconds conn_lifetime{600};
  std::chrono::milliseconds conn_recycle_after{500};
  // The console (GET /console): off by default, as Hasura's HASURA_GRAPHQL_ENABLE_CONSOLE. Its
  // files come from console_assets_dir; "" = the `console` folder next to the binary.
  bool enable_console = false;
  std::string console_assets_dir;
};

enum class CommandKind {
  kServe,
  kVersion,
  kHelp,        // `output` holds the usage text
  kSlotStatus,  // `liveql slot status`: config.database_url, slot_name, state_dir
  kSlotDrop,    // `liveql slot drop`: the same settings
};

struct Command {
  CommandKind kind = CommandKind::kHelp;
  Config config;
  std::string output;  // text to print for kHelp
  bool json = false;   // kSlotStatus: --json
};

// Environment lookup: the value of a variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Reads the process environment (std::getenv).
std::optional<std::string> process_env(std::string_view name);

// Parses argv (argv[0] is the program name). Errors (code kBadRequest) name the flag or
// variable at fault: unknown flags, bad numbers, a missing database URL for `serve`.
Result<Command> parse_command_line(int argc, const char* const* argv,
                                   const EnvLookup& env = process_env);

// "liveql <version>".
std::string version_string();

}  // namespace liveql::server
