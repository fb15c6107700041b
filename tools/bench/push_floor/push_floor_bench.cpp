// push_floor_bench: the floor of liveql's push path (issue 9: "per push <= 10 us of liveql CPU; a
// keep-alive ping <= 2 us"). In one run it measures what the bare minimum costs on this machine
// and then liveql itself under the same load, and prints the ratios.
//
// Floor: this process accepts N loopback TCP connections made by reader processes (at most
// --per-reader connections each: one process's descriptor limit), which drain their sockets
// (and, in the pong phase, answer every ping with a masked client text frame). One writer thread
// (this process's main thread) then sends, for --seconds, one message per connection per second
// (the scale scenario's rate), paced in --slot-ms slots (the messages due in a slot go out in one
// burst, as liveql writes a refetch's fan-out or a keep-alive tick). Its CPU is
// CLOCK_THREAD_CPUTIME_ID over the phase (pacing wake-ups included) and inside the bursts only.
// Phases, each over the same connections:
//   push      a pre-built unmasked websocket text frame the size of a liveql push of the scale
//             scenario ({"type":"next","id":"1","payload":{"data":{"items":[...]}}}), one
//             non-blocking send() per message;
//   ping      graphql-transport-ws keep-alive text frame ({"type":"ping",...}), one send each;
//   ping+pong the same, the readers answer {"type":"pong"} (masked, as a client must) and the
//             writer reads the answers through epoll (what liveql does with its pongs);
//   writev2   two push frames per writev() on every other connection, the same message rate
//             (per message: what batching buys when a socket has two messages queued).
// liveql: runs tools/bench/latency/latency_bench (event mode, LIVEQL_WS_KEEPALIVE_SECONDS=1) with
// --subscribers N and --idle N, and reads its tables: liveql CPU per result received (the
// refetches included, as the scale grid counts it) and per keep-alive ping received (the pong
// read included).
//
//   push_floor_bench [--n 1000,10000] [--seconds 5] [--slot-ms 10] [--per-reader 9000]
//   [--no-liveql]
//                    [--updates 10] [--idle-seconds 10] [--pg-dir DIR] [--latency-bench PATH]
//                    [--liveql PATH]
//
// Everything runs on 127.0.0.1, with bounded counts and deadlines, and stops by itself.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace {

using liveql::bench::die;
using liveql::bench::now_ns;
using liveql::bench::split;

struct Options {
  std::vector<int> n{1000, 10000};
  int seconds = 5;
  int slot_ms = 10;
  int per_reader = 9000;
  bool liveql = true;
  int updates = 10;
  int idle_seconds = 10;
  std::string pg_dir = "/tmp/liveql-bench-pg";
  std::string latency_bench = LIVEQL_LATENCY_BENCH;
  std::string liveql_binary;
};

// Shared with the reader processes (MAP_SHARED): whether they answer pings.
struct Shared {
  std::atomic<int> reply_pings{0};
};

// An unmasked server -> client text frame.
std::string server_frame(const std::string& payload) {
  std::string f;
  f += static_cast<char>(0x81);
  if (payload.size() < 126) {
    f += static_cast<char>(payload.size());
  } else {
    f += static_cast<char>(126);
    f += static_cast<char>((payload.size() >> 8) & 0xff);
    f += static_cast<char>(payload.size() & 0xff);
  }
  return f + payload;
}

// A masked client -> server text frame (payload < 126 bytes).
std::string client_frame(const std::string& payload) {
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  std::string f;
  f += static_cast<char>(0x81);
  f += static_cast<char>(0x80 | payload.size());
  for (unsigned char k : key) f += static_cast<char>(k);
  for (size_t i = 0; i < payload.size(); ++i)
    f += static_cast<char>(static_cast<unsigned char>(payload[i]) ^ key[i % 4]);
  return f;
}

const std::string kPingText = R"({"type":"ping","payload":{"message":"keepalive"}})";

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// A reader process: connects `count` sockets to `port`, then drains them until every one is
// closed by the writer, answering pings with a pong while shared->reply_pings is set.
[[noreturn]] void reader_process(uint16_t port, int count, Shared* shared) {
  const std::string pong = client_frame(R"({"type":"pong"})");
  const int ep = epoll_create1(0);
  std::vector<std::string> pending(static_cast<size_t>(count) + 1);
  std::vector<int> fds;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < count; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr, "push_floor_bench reader: connect: %s\n", std::strerror(errno));
      _exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_nonblocking(fd);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
  }
  int open = count;
  std::vector<epoll_event> events(256);
  std::vector<char> buf(1 << 16);
  const int64_t deadline = now_ns() + 3600LL * 1000000000;
  while (open > 0 && now_ns() < deadline) {
    const int k = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    for (int e = 0; e < k; ++e) {
      const auto i = static_cast<size_t>(events[static_cast<size_t>(e)].data.u64);
      const int fd = fds[i];
      for (;;) {
        const ssize_t r = read(fd, buf.data(), buf.size());
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
          close(fd);
          --open;
          break;
        }
        if (r < 0) break;
        if (!shared->reply_pings.load(std::memory_order_relaxed)) {
          pending[i].clear();
          continue;
        }
        // Frames of the pong phase: 0x81, len < 126, payload. Answer each ping.
        auto& p = pending[i];
        p.append(buf.data(), static_cast<size_t>(r));
        size_t at = 0;
        while (p.size() - at >= 2) {
          const size_t len = static_cast<unsigned char>(p[at + 1]) & 0x7f;
          if (len >= 126 || p.size() - at < 2 + len) break;
          if (p.compare(at + 2, 14, R"({"type":"ping")") == 0)
            (void)!write(fd, pong.data(), pong.size());
          at += 2 + len;
        }
        p.erase(0, at);
      }
    }
  }
  _exit(0);
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Phase {
  std::string name;
  double cpu = 0;        // writer thread CPU s, the whole phase (pacing wake-ups included)
  double send_cpu = 0;   // ... inside the bursts of sends (and pong reads) only
  int64_t messages = 0;  // frames written
  int64_t syscalls = 0;  // send/writev calls
  int64_t would_block = 0;
  int64_t replies = 0;  // pongs read
  double us_per_message() const { return messages ? cpu * 1e6 / static_cast<double>(messages) : 0; }
  double send_us_per_message() const {
    return messages ? send_cpu * 1e6 / static_cast<double>(messages) : 0;
  }
};

enum class Kind { kPush, kPing, kPingPong, kWritev2 };

// One phase over `fds`: every connection gets one message per second for `seconds`, paced in
// `slot_ms` slots (for kWritev2: every other connection gets two frames in one writev once per
// second, so the message rate is the same).
Phase run_phase(Kind kind, const std::vector<int>& fds, int seconds, int slot_ms,
                const std::string& push, const std::string& ping, int ep) {
  Phase ph;
  ph.name = kind == Kind::kPush       ? "push"
            : kind == Kind::kPing     ? "ping"
            : kind == Kind::kPingPong ? "ping+pong"
                                      : "writev2";
  const std::string& frame = kind == Kind::kPush || kind == Kind::kWritev2 ? push : ping;
  std::vector<char> buf(1 << 16);
  std::vector<epoll_event> events(256);
  // Reads every pong that has arrived, waiting at most timeout_ms for the first.
  auto read_replies = [&](int timeout_ms) {
    const int k = epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int e = 0; e < k; ++e) {
      const int fd = events[static_cast<size_t>(e)].data.fd;
      for (;;) {
        const ssize_t r = read(fd, buf.data(), buf.size());
        if (r <= 0) break;
        ph.replies += r;
      }
    }
  };
  const size_t n = fds.size();
  const int64_t slot_ns = static_cast<int64_t>(slot_ms) * 1000000;
  const int64_t slots = static_cast<int64_t>(seconds) * 1000 / slot_ms;
  const bool pairs = kind == Kind::kWritev2;
  // Sends (units) per second: one per connection, or one pair per every other connection.
  const int64_t per_second = pairs ? static_cast<int64_t>(n) / 2 : static_cast<int64_t>(n);
  size_t next = 0;  // next connection (round robin)
  int64_t sent_units = 0;
  const double cpu0 = thread_cpu_seconds();
  const int64_t t0 = now_ns();
  for (int64_t s = 0; s < slots; ++s) {
    const int64_t due_units = (s + 1) * slot_ms * per_second / 1000;
    const double burst0 = thread_cpu_seconds();
    while (sent_units < due_units) {
      const int fd = fds[next];
      next = pairs ? (next + 2) % (n - n % 2) : (next + 1) % n;
      ssize_t w;
      if (pairs) {
        iovec iov[2] = {{const_cast<char*>(frame.data()), frame.size()},
                        {const_cast<char*>(frame.data()), frame.size()}};
        w = writev(fd, iov, 2);
        ph.messages += 2;
      } else {
        w = send(fd, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        ph.messages += 1;
      }
      ++ph.syscalls;
      if (w < 0) ++ph.would_block;
      ++sent_units;
    }
    if (kind == Kind::kPingPong) read_replies(0);
    ph.send_cpu += thread_cpu_seconds() - burst0;
    // Sleep to the start of the next slot (sleeping costs no CPU).
    const int64_t wake = t0 + (s + 1) * slot_ns;
    timespec ts{static_cast<time_t>(wake / 1000000000), static_cast<long>(wake % 1000000000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
  }
  if (kind == Kind::kPingPong) {  // the last answers
    const int64_t end = now_ns() + 200000000;
    while (now_ns() < end) read_replies(20);
  }
  ph.cpu = thread_cpu_seconds() - cpu0;
  return ph;
}

struct FloorRow {
  int n = 0;
  std::vector<Phase> phases;
};

FloorRow measure_floor(int n, const Options& opt, Shared* shared) {
  FloorRow row;
  row.n = n;
  const int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 4096) != 0 ||
      getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    die(std::string("listen: ") + std::strerror(errno));
  const uint16_t port = ntohs(addr.sin_port);
  shared->reply_pings.store(0);
  std::vector<pid_t> readers;
  for (int left = n; left > 0; left -= opt.per_reader) {
    const int count = std::min(left, opt.per_reader);
    const pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
      close(lfd);
      reader_process(port, count, shared);
    }
    readers.push_back(pid);
  }
  std::vector<int> fds;
  const int ep = epoll_create1(0);
  const int64_t deadline = now_ns() + 120LL * 1000000000;
  while (static_cast<int>(fds.size()) < n) {
    if (now_ns() > deadline) die("accepting the readers' connections took over 120 s");
    const int fd = accept(lfd, nullptr, nullptr);
    if (fd < 0) die(std::string("accept: ") + std::strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as Beast's sessions: no Nagle
    set_nonblocking(fd);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
  }
  close(lfd);
  const std::string push = server_frame(
      R"({"type":"next","id":"1","payload":{"data":{"items":[{"id":123,"value":"value-123-000042"}]}}})");
  const std::string ping = server_frame(kPingText);
  row.phases.push_back(run_phase(Kind::kPush, fds, opt.seconds, opt.slot_ms, push, ping, ep));
  row.phases.push_back(run_phase(Kind::kPing, fds, opt.seconds, opt.slot_ms, push, ping, ep));
  shared->reply_pings.store(1);
  row.phases.push_back(run_phase(Kind::kPingPong, fds, opt.seconds, opt.slot_ms, push, ping, ep));
  shared->reply_pings.store(0);
  row.phases.push_back(run_phase(Kind::kWritev2, fds, opt.seconds, opt.slot_ms, push, ping, ep));
  for (int fd : fds) close(fd);
  close(ep);
  for (pid_t pid : readers) {
    int status = 0;
    waitpid(pid, &status, 0);
  }
  std::printf("floor N=%d (push frame %zu bytes, ping frame %zu bytes):\n", n, push.size(),
              ping.size());
  for (const auto& ph : row.phases)
    std::printf(
        "  %-9s %8lld messages, %8lld syscalls, %lld would block; writer CPU %.3f s = %.2f us per "
        "message, %.2f us in the send bursts%s\n",
        ph.name.c_str(), static_cast<long long>(ph.messages), static_cast<long long>(ph.syscalls),
        static_cast<long long>(ph.would_block), ph.cpu, ph.us_per_message(),
        ph.send_us_per_message(),
        ph.replies ? (", " + std::to_string(ph.replies) + " reply bytes read").c_str() : "");
  std::fflush(stdout);
  return row;
}

// liveql's figures from latency_bench's summary tables.
struct LiveqlRow {
  int n = 0;
  bool ok = false;
  double push_cpu = 0, results = 0;      // latency table: liveql CPU s, samples
  double missing = 0;                    // ... updates a client never saw (coalesced or lost)
  double idle_cpu_pct = 0, pings_s = 0;  // idle table
  double us_per_push() const { return results > 0 ? push_cpu * 1e6 / results : 0; }
  double us_per_ping() const { return pings_s > 0 ? idle_cpu_pct / 100 * 1e6 / pings_s : 0; }
};

std::vector<std::string> table_cells(const std::string& line) {
  std::vector<std::string> cells;
  for (auto& c : split(line, '|')) {
    size_t b = c.find_first_not_of(' '), e = c.find_last_not_of(' ');
    cells.push_back(b == std::string::npos ? "" : c.substr(b, e - b + 1));
  }
  return cells;
}

LiveqlRow measure_liveql(int n, const Options& opt) {
  LiveqlRow row;
  row.n = n;
  std::string cmd = "LIVEQL_WS_KEEPALIVE_SECONDS=1 '" + opt.latency_bench + "' --pg-dir '" +
                    opt.pg_dir + "' --modes event --subscribers " + std::to_string(n) +
                    " --updates " + std::to_string(opt.updates) + " --interval-ms 1000 --idle " +
                    std::to_string(n) + " --idle-seconds " + std::to_string(opt.idle_seconds);
  if (!opt.liveql_binary.empty()) cmd += " --liveql '" + opt.liveql_binary + "'";
  std::printf("liveql N=%d: %s\n", n, cmd.c_str());
  std::fflush(stdout);
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) die("popen latency_bench failed");
  char line[8192];
  bool latency_seen = false, idle_seen = false;
  while (std::fgets(line, sizeof line, p)) {
    std::string s(line);
    // | mode | cohorts | N | K | p50 | p90 | p99 | max | samples | missing | liveql CPU s | ...
    // | mode | cohorts | idle (of) | open s | seconds | st/s | refetch/s | liveql CPU % | DB |
    // pings/s
    if (s.rfind("| event |", 0) == 0) {
      auto c = table_cells(s);
      if (c.size() >= 16 && !latency_seen) {
        row.results = std::atof(c[9].c_str());
        row.missing = std::atof(c[10].c_str());
        row.push_cpu = std::atof(c[11].c_str());
        latency_seen = true;
      } else if (c.size() >= 11 && c.size() < 16) {
        row.idle_cpu_pct = std::atof(c[8].c_str());
        row.pings_s = std::atof(c[10].c_str());
        idle_seen = true;
      }
    }
    if (s.find("first client per") != std::string::npos || s.find("idle ") != std::string::npos ||
        s.find("ready") != std::string::npos)
      std::fputs(("  " + s).c_str(), stdout);
  }
  const int status = pclose(p);
  row.ok = latency_seen && idle_seen && status == 0;
  std::printf(
      "  liveql N=%d: %.2f s CPU / %.0f results (%.0f missing) = %.1f us per push; idle %.1f %% "
      "CPU / %.0f pings/s = %.1f us per ping%s\n",
      n, row.push_cpu, row.results, row.missing, row.us_per_push(), row.idle_cpu_pct, row.pings_s,
      row.us_per_ping(), row.ok ? "" : " (latency_bench failed: figures incomplete)");
  std::fflush(stdout);
  return row;
}

Options parse(int argc, char** argv) {
  Options opt;
  bool no_liveql = false;
  CLI::App app{"push_floor_bench: the CPU of one websocket message on this machine, and liveql's",
               "push_floor_bench"};
  app.add_option("--n", opt.n, "connection counts")
      ->delimiter(',')
      ->check(CLI::Range(2, 100'000))
      ->capture_default_str();
  app.add_option("--seconds", opt.seconds, "per measurement")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--slot-ms", opt.slot_ms, "writer pacing slot")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--per-reader", opt.per_reader, "connections per reader process")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--no-liveql", no_liveql, "measure the floor only");
  app.add_option("--updates", opt.updates, "liveql run: updates")->capture_default_str();
  app.add_option("--idle-seconds", opt.idle_seconds, "liveql run: keep-alive phase")
      ->capture_default_str();
  app.add_option("--pg-dir", opt.pg_dir, "the benchmark's PostgreSQL cluster")
      ->capture_default_str();
  app.add_option("--latency-bench", opt.latency_bench, "the latency_bench binary")
      ->capture_default_str();
  app.add_option("--liveql", opt.liveql_binary, "the liveql binary (latency_bench's default)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  opt.liveql = !no_liveql;
  return opt;
}

}  // namespace

int main(int argc, char** argv) {
  liveql::bench::set_program_name("push_floor_bench");
  signal(SIGPIPE, SIG_IGN);
  const Options opt = parse(argc, argv);
  int most = 0;
  for (int n : opt.n) most = std::max(most, n);
  liveql::bench::raise_fd_limit(static_cast<rlim_t>(most) + 100);
  void* mem =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap failed");
  auto* shared = new (mem) Shared;

  std::vector<FloorRow> floors;
  std::vector<LiveqlRow> liveqls;
  for (int n : opt.n) {
    floors.push_back(measure_floor(n, opt, shared));
    if (opt.liveql) liveqls.push_back(measure_liveql(n, opt));
  }

  std::printf(
      "\n| N | floor push us | floor writev2 us/msg | floor ping us | floor ping+pong us | liveql "
      "us/push | liveql us/ping | push liveql/floor | ping liveql/floor(ping+pong) |\n"
      "|---|---|---|---|---|---|---|---|---|\n");
  for (size_t i = 0; i < floors.size(); ++i) {
    const auto& f = floors[i];
    const double push = f.phases[0].us_per_message(), ping = f.phases[1].us_per_message();
    const double pong = f.phases[2].us_per_message(), v2 = f.phases[3].us_per_message();
    if (i < liveqls.size() && liveqls[i].ok) {
      const auto& l = liveqls[i];
      std::printf("| %d | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | x%.1f | x%.1f |\n", f.n, push,
                  v2, ping, pong, l.us_per_push(), l.us_per_ping(),
                  push > 0 ? l.us_per_push() / push : 0, pong > 0 ? l.us_per_ping() / pong : 0);
    } else {
      std::printf("| %d | %.2f | %.2f | %.2f | %.2f | - | - | - | - |\n", f.n, push, v2, ping,
                  pong);
    }
  }
  return 0;
}
