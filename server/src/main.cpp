// The `liveql` binary: parses the command line, loads metadata, connects, builds the schema and
// serves HTTP and WebSockets until SIGINT/SIGTERM; or runs the one-shot `slot status` /
// `slot drop` commands (slot_command.hpp). Threads (io_threads.hpp): the core (this thread: the
// live core, the pool, the replication stream, signals, the listener) and --threads I/O
// threads for the sessions (none with --threads 1: then everything runs here).
//
// SIGTERM/SIGINT stop gracefully: stop accepting, close every websocket with 1001 (going away),
// save and acknowledge the replication position (ChangeFeed::stop), answer the HTTP requests in
// flight, then exit 0 — within kShutdownGrace, after which the process exits anyway (still 0,
// with a warning). A second signal during that time exits at once with 1.
//
// Exit codes: 0 after a clean stop, 1 when startup fails (database unreachable, bad metadata,
// bad auth configuration, cannot listen), 2 for command-line errors.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <thread>

#include "app.hpp"
#include "auth.hpp"
#include "console.hpp"
#include "http_server.hpp"
#include "io_threads.hpp"
#include "liveql/live/change_feed.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/server/config.hpp"
#include "liveql/server/metadata_loader.hpp"
#include "liveql/state/state_store.hpp"
#include "slot_command.hpp"
#include "startup.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace liveql;
using namespace liveql::server;

// How long a stopping server waits for websockets to close, HTTP requests to be answered and
// the replication stream to send its final acknowledgement.
constexpr std::chrono::seconds kShutdownGrace{5};
const char* const kGoingAwayReason = "server shutting down";

std::optional<std::string> non_empty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

void register_metrics(live::Metrics& m) {
  m.register_counter("liveql_http_requests_total", "HTTP requests answered, by path and status");
  m.register_histogram("liveql_http_request_duration_seconds",
                       "time from request read to response written, by path");
  m.register_counter("liveql_task_exceptions_total",
                     "exceptions that escaped a coroutine (each one a bug)");
  m.register_gauge("liveql_websocket_connections", "open websocket connections");
  m.set("liveql_websocket_connections", 0);
}

// Binds and listens; returns the bound endpoint (the real port when config.port is 0).
liveql::Result<tcp::endpoint> listen(tcp::acceptor& acceptor, const Config& config) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(config.host, ec);
  if (ec) {
    return make_error(ErrorCode::kBadRequest, "--host: not an IP address: " + config.host);
  }
  tcp::endpoint endpoint(address, config.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kUnexpected, "cannot listen on " + config.host + ":" +
                                                  std::to_string(config.port) + ": " +
                                                  ec.message());
  }
  return acceptor.local_endpoint();
}

int serve(const Config& config) {
  spdlog::set_level(spdlog::level::from_str(config.log_level));

  metadata::Metadata metadata;
  if (!config.metadata_path.empty()) {
    auto loaded = load_metadata_path(config.metadata_path);
    if (!loaded) {
      spdlog::critical("bad metadata: {}", loaded.error().message);
      return 1;
    }
    metadata = std::move(*loaded);
    spdlog::info("metadata: {} tracked tables from {}", metadata.tables.size(),
                 config.metadata_path);
  }
  auto auth = make_auth_config(non_empty(config.admin_secret), non_empty(config.jwt_secret),
                               non_empty(config.unauthorized_role));
  if (!auth) {
    spdlog::critical("{}", auth.error().message);
    return 1;
  }

  std::optional<ConsoleAssets> console;
  if (config.enable_console) {
    std::error_code ec;
    std::string dir = config.console_assets_dir;
    if (dir.empty()) dir = default_console_dir(std::filesystem::read_symlink("/proc/self/exe", ec));
    auto loaded = ConsoleAssets::load(dir);
    if (!loaded) {
      spdlog::critical("--enable-console: {} (--console-assets-dir)", loaded.error().message);
      return 1;
    }
    console = std::move(*loaded);
    spdlog::info("console: {} files from {}", console->size(), dir);
  }

  // Declared before the io_context so that coroutine frames still queued in it, destroyed with
  // it, never outlive what they point at.
  App app;
  app.console = console ? &*console : nullptr;
  live::Metrics metrics;
  register_metrics(metrics);
  app.config = &config;
  app.auth = &*auth;
  app.limits = config.limits;
  app.metrics = &metrics;
  app.websockets.set_gauge(&metrics);
  int exit_code = 0;

  std::size_t threads = config.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  IoThreads io(threads, std::chrono::seconds(config.ws_keepalive_seconds));
  asio::io_context& ioc = io.core();
  app.core = ioc.get_executor();
  std::optional<live::PgPool> pool;
  pool.emplace(ioc.get_executor(), config.database_url, config.pool_size,
               live::PgPoolOptions{.query_timeout = config.query_timeout,
                                   .conn_lifetime = config.conn_lifetime,
                                   .recycle_after = config.conn_recycle_after});
  app.pool = &*pool;
  std::optional<live::LiveQueries> live;
  std::optional<live::ChangeFeed> feed;
  std::unique_ptr<state::StateStore> store;
  catalog::Catalog catalog;
  if (!config.state_dir.empty()) {
    auto opened = state::StateStore::open(config.state_dir);
    if (!opened) {
      spdlog::critical("--state-dir {}: {}", config.state_dir, opened.error().message);
      return 1;
    }
    store = std::move(*opened);
  }
  tcp::acceptor acceptor(ioc);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);

  // Immediate stop: startup failures, a second signal, the end of a graceful stop.
  auto shutdown = [&] {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    if (feed) feed->stop();
    if (live) live->stop();
    pool->close();
    ioc.stop();
    io.stop();
  };
  // Waits (bounded by kShutdownGrace) until every websocket is closed, every HTTP request in
  // flight answered and the replication stream has sent its last acknowledgement.
  auto drain = [&]() -> asio::awaitable<void> {
    const auto deadline = std::chrono::steady_clock::now() + kShutdownGrace;
    asio::steady_timer poll(ioc);
    auto busy = [&] {
      return app.websockets.size() > 0 || app.http_requests_in_flight > 0 ||
             (feed && feed->stream_running());
    };
    while (busy() && std::chrono::steady_clock::now() < deadline) {
      poll.expires_after(std::chrono::milliseconds(10));
      co_await poll.async_wait(asio::use_awaitable);
    }
    if (busy()) {
      spdlog::warn(
          "shutdown: still busy after {} s ({} websockets, {} HTTP requests, replication {}); "
          "exiting anyway",
          kShutdownGrace.count(), app.websockets.size(), app.http_requests_in_flight,
          feed && feed->stream_running() ? "not closed" : "closed");
    } else {
      spdlog::info("shutdown: clean");
    }
    shutdown();
  };
  auto graceful_stop = [&] {
    app.stopping = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    app.websockets.close_all(1001, kGoingAwayReason);  // unsubscribes everyone at once
    if (feed) feed->stop();                            // saves, acknowledges, closes the stream
    asio::co_spawn(ioc, drain(), [&](std::exception_ptr e) {
      if (!e) return;
      log_task_exception(app, "shutdown", e);
      shutdown();
    });
  };
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        if (app.stopping) {
          spdlog::warn("signal {} while stopping: exiting now", signal);
          exit_code = 1;
          shutdown();
          return;
        }
        spdlog::info("signal {}: stopping (grace {} s)", signal, kShutdownGrace.count());
        signals.async_wait(on_signal);
        graceful_stop();
      };
  signals.async_wait(on_signal);

  auto startup = [&]() -> asio::awaitable<void> {
    compiler::SchemaOptions schema_options;
    schema_options.stringify_numeric_types = config.stringify_numeric_types;
    schema_options.infer_function_permissions = config.infer_function_permissions;
    auto loaded = co_await load_schema(*pool, metadata, schema_options);
    if (!loaded) {
      spdlog::critical("{}", loaded.error().message);
      exit_code = 1;
      shutdown();
      co_return;
    }
    if (app.stopping) co_return;  // a signal came while the schema loaded
    catalog = std::move(loaded->catalog);
    app.schema = std::move(loaded->schema);
    for (const auto& o : compiler::inconsistent_objects(*app.schema))
      spdlog::warn("metadata: inconsistent object left out: {}: {}", o.name, o.reason);
    live::LiveQueries::Options options;
    options.batch_size = config.batch_size;
    options.refetch_interval = config.refetch_interval;
    options.live_mode_default = config.live_mode_default;
    live.emplace(ioc.get_executor(), *pool, metrics, options);
    app.live = &*live;

    // Event mode: the replication stream of the tracked tables drives targeted refetches.
    live::ChangeFeed::Config feed_config;
    feed_config.stream.conninfo = config.database_url;
    if (!config.slot_name.empty()) feed_config.stream.slot_name = config.slot_name;
    for (const auto& table : metadata.tables)
      feed_config.stream.tables.push_back({table.table.schema, table.table.name});
    feed_config.store = store.get();
    feed_config.schema = app.schema;
    feed_config.catalog = &catalog;
    feed_config.write_fallback = config.write_fallback;
    feed.emplace(ioc.get_executor(), *live, *pool, metrics, std::move(feed_config));
    if (auto started = feed->start(); !started) {
      spdlog::critical("replication: {}", started.error().message);
      exit_code = 1;
      shutdown();
      co_return;
    }
    app.feed = &*feed;

    auto endpoint = listen(acceptor, config);
    if (!endpoint) {
      spdlog::critical("{}", endpoint.error().message);
      exit_code = 1;
      shutdown();
      co_return;
    }
    spdlog::info("schema ready; listening on {}:{}", endpoint->address().to_string(),
                 endpoint->port());
    std::printf("liveql listening on http://%s:%u\n", endpoint->address().to_string().c_str(),
                static_cast<unsigned>(endpoint->port()));
    std::fflush(stdout);
    asio::co_spawn(ioc, run_listener(app, acceptor, io),
                   [&app](std::exception_ptr e) { log_task_exception(app, "listener", e); });
  };
  asio::co_spawn(ioc, startup(), [&](std::exception_ptr e) {
    if (!e) return;
    log_task_exception(app, "startup", e);
    exit_code = 1;
    shutdown();
  });

  spdlog::info("{} I/O thread{} for sessions{}", threads, threads == 1 ? "" : "s",
               threads == 1 ? " (shared with the live core)" : ", the live core on its own");
  io.start();
  ioc.run();
  io.stop();
  io.join();
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("liveql"));
  auto command = parse_command_line(argc, argv);
  if (!command) {
    std::fprintf(stderr, "liveql: %s\nRun `liveql --help` for usage.\n",
                 command.error().message.c_str());
    return 2;
  }
  switch (command->kind) {
    case CommandKind::kHelp:
      std::fputs(command->output.c_str(), stdout);
      return 0;
    case CommandKind::kVersion:
      std::puts(version_string().c_str());
      return 0;
    case CommandKind::kSlotStatus:
      spdlog::set_level(spdlog::level::warn);
      return run_slot_status(command->config, command->json, std::cout, std::cerr);
    case CommandKind::kSlotDrop:
      spdlog::set_level(spdlog::level::warn);
      return run_slot_drop(command->config, std::cout, std::cerr);
    case CommandKind::kServe:
      return serve(command->config);
  }
  return 2;
}
