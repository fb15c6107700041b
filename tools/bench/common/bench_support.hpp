// Helpers shared by the load tools of tools/bench (latency_bench, scale_bench): a blocking libpq
// connection, the throwaway cluster of tools/pg.sh, a liveql child process, /proc CPU times, one
// HTTP GET, the open-file limit and latency summaries. Everything here is blocking and meant for
// a tool's main thread (or one thread per Conn); a setup failure ends the process through die().
#pragma once

#include <libpq-fe.h>
#include <sys/resource.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace liveql::bench {

// The name die() prints before its message ("latency_bench: ...").
void set_program_name(std::string name);
[[noreturn]] void die(const std::string& message);

// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine.
int64_t now_ns();

// The last line `command` prints on stdout; dies when it fails.
std::string last_line_of(const std::string& command);
std::string read_file(const std::string& path);
std::vector<std::string> split(const std::string& s, char separator = ',');

// A blocking libpq connection; rows() and value() die on an error.
class Conn {
 public:
  explicit Conn(const std::string& url);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  std::vector<std::vector<std::string>> rows(const std::string& sql);
  std::string value(const std::string& sql);  // first column of the first row, or ""
  PGconn* pg() const { return pg_; }

 private:
  PGconn* pg_;
};

// Starts (or reuses) the tools/pg.sh cluster in `pg_dir` and returns its URL
// (postgresql://postgres@127.0.0.1:PORT/DB).
std::string start_cluster(const std::string& source_dir, const std::string& pg_dir,
                          const std::string& dbname);
// Drops database `db` (and the inactive replication slots on it), creates it afresh, and creates
// `role` (login superuser replication: liveql's own role, whose statements are counted) if missing.
void fresh_database(Conn& root, const std::string& db, const std::string& role);
// Waits (5 s at most) until nothing streams from `slot`, then drops it.
void drop_slot(Conn& root, const std::string& slot);
// pg_stat_statements `calls` of every statement `role` ran, summed.
double role_statements(Conn& admin, const std::string& role);

// `url` with another user and database.
std::string with_user_and_db(const std::string& url, const std::string& user,
                             const std::string& db);

// utime + stime of a process in seconds (0 when it is gone); with `children`, plus the CPU of
// its waited-for children (cutime + cstime).
double cpu_seconds(int pid, bool children = false);
// CPU seconds of every backend (and walsender) connected as `role`, by pid.
std::vector<std::pair<int, double>> backend_cpu(Conn& admin, const std::string& role);
double backend_cpu_delta(const std::vector<std::pair<int, double>>& before,
                         const std::vector<std::pair<int, double>>& after);

// GET http://host:port/target with x-hasura-admin-secret; the body, or "" when it failed or took
// more than 5 s.
std::string http_get(const std::string& host, uint16_t port, const std::string& target,
                     const std::string& admin_secret);
// POST http://host:port/target with a JSON `body` and x-hasura-admin-secret, on a new
// connection; the response body, or "" when it failed or took more than 5 s.
std::string http_post(const std::string& host, uint16_t port, const std::string& target,
                      const std::string& body, const std::string& admin_secret);
// The sum of the samples of Prometheus metric `name` in `text`.
double metric_value(const std::string& text, const std::string& name);

// A `liveql` child process, started with its stderr in a log file.
struct Server {
  int pid = -1;
  std::string host;
  uint16_t port = 0;
};
// The arguments of `liveql serve` on 127.0.0.1, port 0, with the given live mode, poll interval,
// state directory and slot, logging warnings and worse; a tool appends its own.
struct ServeArgs {
  std::string database_url, metadata, admin_secret, mode, state_dir, slot;
  int refetch_interval_ms = 1000;
};
std::vector<std::string> serve_args(const ServeArgs& a);
// Waits (60 s at most) for "liveql listening on http://HOST:PORT"; dies when liveql exits first.
Server start_server(const std::string& binary, const std::vector<std::string>& args,
                    const std::string& log_path);
void stop_server(const Server& server);  // SIGTERM, SIGKILL after 15 s
bool server_running(const Server& server);

// Raises the soft RLIMIT_NOFILE to the hard limit (children inherit it) and dies when fewer than
// `needed` descriptors fit. Returns the limit.
rlim_t raise_fd_limit(rlim_t needed);

// Order statistics of a sample (in whatever unit the sample is).
struct Summary {
  size_t n = 0;
  double avg = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};
Summary summarize(std::vector<double> v);

}  // namespace liveql::bench
