// scale_bench: the seed scenario of Hasura's "scaling live queries" write-up, as a load tool.
//
// N clients (graphql-transport-ws, role `user`, each with its own HS256 JWT whose
// x-hasura-user-id is its index) each subscribe with their own variables to their own row:
//   subscription ($id: Int!) { items(where: {id: {_eq: $id}}) { id value } }
// The clients live in worker processes (this binary re-executed with --worker, at most
// kClientsPerWorker each, one thread each), so N can pass one process's open-file limit. The
// coordinator starts PostgreSQL (tools/pg.sh), writes the metadata, starts liveql on port 0 with
// its own slot, and writes with libpq pipelines paced by CLOCK_MONOTONIC. Every write sets
// `value` to the writer's CLOCK_MONOTONIC ns just before the statement is sent (each statement
// is its own transaction), so a client's latency for an update is its receive time - the value.
//
// Per (N, mode) one liveql runs: the clients connect, then subscribe at once (connect storm: last
// subscribe sent -> every client has its first result), then each write scenario runs for
// --seconds and a drain of --drain-seconds:
//   own-row       every row once per second, in 50 transactions/s of N/50 rows each;
//   commits:R     R single-row commits/s, rows cycling over the N subscribed ones.
// An update is delivered (the client received that value), coalesced (a newer value arrived
// first; latency = arrival of the first value >= it - its commit) or missed (nothing >= it
// arrived by the end of the drain). Per cell: liveql CPU (/proc), PostgreSQL CPU (postmaster and
// its children; separately liveql's backends and walsender), statements liveql ran
// (pg_stat_statements of its role; liveql_refetch_statements_total), the most replication lag of
// liveql's slot sampled each second (bytes, and seconds: pg_stat_replication.write_lag), liveql
// CPU per result received, and liveql's own average
// from a commit's decoding to the push it caused (its liveql_commit_to_push_seconds histogram:
// what the clients' latency spends outside liveql is the difference), the writers' average from
// sending a statement to its commit being acknowledged (their own wait in a busy PostgreSQL, in
// every update's latency whatever the mode) and liveql's paced rounds per second (event cohorts
// that fell behind, liveql_paced_rounds_total). Per N, a third liveql
// (--idle-mode, `--ws-keepalive-seconds 1`) holds N idle subscribers for --idle-seconds: liveql
// CPU per keep-alive ping, statements/s.
//
//   scale_bench [--grid] [--n 1000,5000,10000,max] [--scenarios own-row,commits:3000,commits:10000]
//               [--modes event,poll] [--seconds 30] [--drain-seconds 5] [--idle-seconds 10]
//               [--idle-mode event] [--writers 2] [--liveql PATH] [--pg-dir DIR]
//               [--json PATH] [--server-arg=ARG]...   (--help lists every option)
//
// `max` is the most clients the open-file limit allows liveql (the limit less 1000, in
// thousands). A cell that fails is reported as failed and the grid goes on.
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.hpp"

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
namespace fs = std::filesystem;
using asio::ip::tcp;
using namespace liveql::bench;
using namespace std::chrono_literals;

constexpr const char* kAdminSecret = "bench-admin-secret";
constexpr const char* kDatabase = "liveql_bench_scale";
constexpr const char* kServerRole = "liveql_bench_scale_srv";  // liveql's own role
constexpr int kClientsPerWorker = 5000;
constexpr int kFdReserve = 1000;  // descriptors liveql needs besides its clients
constexpr int kConnecting = 200;  // handshakes in flight per worker
constexpr const char* kSubscription =
    "subscription ($id: Int!) { items(where: {id: {_eq: $id}}) { id value } }";

// A cell that cannot complete (a worker or liveql gone, a deadline passed).
struct CellError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// HS256 JWTs

std::string base64url(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (const size_t rest = in.size() - i; rest > 0) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (rest == 2) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (rest == 2) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string sign_jwt(const std::string& secret, int user_id) {
  const std::string id = std::to_string(user_id);
  const std::string claims =
      R"({"sub":")" + id + R"(","iat":)" + std::to_string(std::time(nullptr)) +
      R"(,"https://hasura.io/jwt/claims":{"x-hasura-allowed-roles":["user"],)"
      R"("x-hasura-default-role":"user","x-hasura-user-id":")" +
      id + R"("}})";
  const std::string signing_input =
      base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &mac_len);
  return signing_input + "." +
         base64url(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

// ---------------------------------------------------------------------------------------------
// Worker process: up to kClientsPerWorker clients on one thread, driven by line commands on
// stdin, one reply line each on stdout:
//   connect                 -> connected ACKED FAILED FIRST_ERROR
//   subscribe DEADLINE_NS   -> subscribed READY FAILED LAST_SUBSCRIBE_NS LAST_FIRST_RESULT_NS
//   begin                   -> ok PINGS FAILED        (start recording arrivals)
//   end PATH|-              -> ok PINGS FAILED        (stop; write them to PATH.FIRST_ID)
//   quit                    -> bye
// PATH gets, per client: int32 id, uint32 count, count x {int64 value, int64 arrival_ns}.

struct Arrival {
  int64_t value;
  int64_t at;
};

struct WsClient {
  int id = 0;
  std::unique_ptr<websocket::stream<beast::tcp_stream>> ws;
  bool acked = false, first = false, failed = false, writing = false;
  std::vector<Arrival> arrivals;
};

// Where the value of "key" starts in a JSON text (after the colon and any spaces), or npos.
// Only the messages liveql sends are read: their keys are unique where they are looked up.
size_t value_start(std::string_view msg, std::string_view key) {
  size_t at = 0;
  while ((at = msg.find(key, at)) != std::string_view::npos) {
    size_t i = at + key.size();
    at = i;
    if (i - key.size() == 0 || msg[i - key.size() - 1] != '"' || i >= msg.size() || msg[i] != '"')
      continue;
    ++i;
    while (i < msg.size() && msg[i] == ' ') ++i;
    if (i >= msg.size() || msg[i] != ':') continue;
    ++i;
    while (i < msg.size() && msg[i] == ' ') ++i;
    return i;
  }
  return std::string_view::npos;
}

// The string value of "key", or "".
std::string_view string_field(std::string_view msg, std::string_view key) {
  const size_t i = value_start(msg, key);
  if (i == std::string_view::npos || i >= msg.size() || msg[i] != '"') return {};
  const size_t end = msg.find('"', i + 1);
  return end == std::string_view::npos ? std::string_view{} : msg.substr(i + 1, end - i - 1);
}

// The integer value of "value" (a JSON number, or a string holding one).
std::optional<int64_t> value_field(std::string_view msg) {
  size_t i = value_start(msg, "value");
  if (i == std::string_view::npos) return std::nullopt;
  if (i < msg.size() && msg[i] == '"') ++i;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(msg.data() + i, msg.data() + msg.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

class Worker {
 public:
  Worker(std::string host, uint16_t port, int first_id, int count, std::string secret)
      : host_(std::move(host)),
        endpoint_(asio::ip::make_address(host_), port),
        first_id_(first_id) {
    for (int i = 0; i < count; ++i) {
      auto c = std::make_unique<WsClient>();
      c->id = first_id + i;
      clients_.push_back(std::move(c));
    }
    secret_ = std::move(secret);
  }

  int run() {
    asio::co_spawn(io_, control(), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "scale_bench worker: %s\n", ex.what());
      }
      std::_Exit(2);
    });
    io_.run();
    return 0;
  }

 private:
  void reply(const std::string& line) {
    const std::string out = line + "\n";
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::write(STDOUT_FILENO, out.data() + done, out.size() - done);
      if (n <= 0) std::_Exit(3);  // the coordinator is gone
      done += static_cast<size_t>(n);
    }
  }

  void fail(WsClient& c, const std::string& why) {
    if (c.failed || closing_) return;
    c.failed = true;
    ++failed_;
    if (first_error_.empty()) first_error_ = why;
  }

  // Waits (polling every 5 ms) until done() or the deadline.
  asio::awaitable<void> wait_until(const std::function<bool()>& done, int64_t deadline_ns) {
    asio::steady_timer timer(io_);
    while (!done() && now_ns() < deadline_ns) {
      timer.expires_after(5ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  template <class Task>
  void spawn(Task task) {
    asio::co_spawn(io_, std::move(task), [this](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        if (first_error_.empty()) first_error_ = ex.what();
      }
    });
  }

  asio::awaitable<void> control() {
    asio::posix::stream_descriptor in(io_, ::dup(STDIN_FILENO));
    std::string buffer;
    while (true) {
      boost::system::error_code ec;
      const size_t n = co_await asio::async_read_until(
          in, asio::dynamic_buffer(buffer), '\n', asio::redirect_error(asio::use_awaitable, ec));
      if (ec) std::_Exit(0);  // the coordinator closed our stdin
      const std::string line = buffer.substr(0, n - 1);
      buffer.erase(0, n);
      const auto words = split(line, ' ');
      const std::string cmd = words.empty() ? "" : words[0];
      if (cmd == "connect") {
        launched_ = 0;
        for (int l = 0; l < kConnecting; ++l) spawn(launcher(static_cast<size_t>(l)));
        co_await wait_until([&] { return launched_ == kConnecting; }, now_ns() + 600'000'000'000);
        std::string why = first_error_.substr(0, 200);
        std::replace(why.begin(), why.end(), '\n', ' ');
        reply("connected " + std::to_string(acked_) + " " + std::to_string(failed_) + " " + why);
      } else if (cmd == "subscribe" && words.size() == 2) {
        const int64_t deadline = std::atoll(words[1].c_str());
        spawn(subscribe_all());
        co_await wait_until(
            [&] { return subscribes_done_ && first_results_ + failed_after_ack() >= acked_; },
            deadline);
        reply("subscribed " + std::to_string(first_results_) + " " + std::to_string(failed_) + " " +
              std::to_string(last_subscribe_ns_) + " " + std::to_string(last_first_ns_));
      } else if (cmd == "begin") {
        for (auto& c : clients_) c->arrivals.clear();
        recording_ = true;
        reply("ok " + std::to_string(pings_) + " " + std::to_string(failed_));
      } else if (cmd == "end" && words.size() == 2) {
        recording_ = false;
        if (words[1] != "-") dump(words[1] + "." + std::to_string(first_id_));
        reply("ok " + std::to_string(pings_) + " " + std::to_string(failed_));
      } else if (cmd == "quit") {
        closing_ = true;
        for (auto& c : clients_) {
          if (!c->ws) continue;
          boost::system::error_code ignored;
          auto& socket = beast::get_lowest_layer(*c->ws).socket();
          socket.set_option(asio::socket_base::linger(true, 0), ignored);  // no TIME_WAIT
          socket.close(ignored);
        }
        reply("bye");
        std::_Exit(0);
      } else {
        reply("error unknown command " + line);
      }
    }
  }

  int failed_after_ack() const {
    int n = 0;
    for (const auto& c : clients_)
      if (c->acked && c->failed && !c->first) ++n;
    return n;
  }

  void dump(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::_Exit(4);
    for (const auto& c : clients_) {
      const int32_t id = c->id;
      const auto count = static_cast<uint32_t>(c->arrivals.size());
      std::fwrite(&id, sizeof id, 1, f);
      std::fwrite(&count, sizeof count, 1, f);
      if (count > 0) std::fwrite(c->arrivals.data(), sizeof(Arrival), count, f);
    }
    std::fclose(f);
  }

  // Connects clients start, start + kConnecting, ... one after the other.
  asio::awaitable<void> launcher(size_t start) {
    for (size_t i = start; i < clients_.size(); i += kConnecting) {
      WsClient& c = *clients_[i];
      if (co_await handshake(c)) spawn(read_loop(c));
    }
    ++launched_;
  }

  asio::awaitable<bool> handshake(WsClient& c) {
    c.ws = std::make_unique<websocket::stream<beast::tcp_stream>>(io_.get_executor());
    auto& ws = *c.ws;
    boost::system::error_code ec;
    beast::get_lowest_layer(ws).expires_after(60s);
    co_await beast::get_lowest_layer(ws).async_connect(
        endpoint_, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      fail(c, "connect: " + ec.message());
      co_return false;
    }
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::sec_websocket_protocol, "graphql-transport-ws");
    }));
    co_await ws.async_handshake(host_ + ":" + std::to_string(endpoint_.port()), "/v1/graphql",
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      fail(c, "websocket handshake: " + ec.message());
      co_return false;
    }
    ws.text(true);
    const std::string init = R"({"type":"connection_init","payload":{"headers":{)"
                             R"("Authorization":"Bearer )" +
                             sign_jwt(secret_, c.id) + R"("}}})";
    co_await ws.async_write(asio::buffer(init), asio::redirect_error(asio::use_awaitable, ec));
    beast::flat_buffer buffer;
    if (!ec) co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      fail(c, "connection_init: " + ec.message());
      co_return false;
    }
    const std::string_view msg(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (string_field(msg, "type") != "connection_ack") {
      fail(c, "connection_init answered " + std::string(msg.substr(0, 200)));
      co_return false;
    }
    beast::get_lowest_layer(ws).expires_never();
    c.acked = true;
    ++acked_;
    co_return true;
  }

  // Sends every acknowledged client's subscribe, one after the other.
  asio::awaitable<void> subscribe_all() {
    for (auto& cp : clients_) {
      WsClient& c = *cp;
      if (!c.acked || c.failed) continue;
      const std::string sub = R"({"id":"1","type":"subscribe","payload":{"query":")" +
                              std::string(kSubscription) + R"(","variables":{"id":)" +
                              std::to_string(c.id) + "}}}";
      // A pong may be in flight on this client (its read loop answers the server's pings): one
      // websocket takes one write at a time, and a second one would never complete (the run
      // lost every client after it: 3,781 of 10,000 without a first result, once).
      if (c.writing) co_await wait_until([&] { return !c.writing; }, now_ns() + 10'000'000'000);
      c.writing = true;
      boost::system::error_code ec;
      co_await c.ws->async_write(asio::buffer(sub), asio::redirect_error(asio::use_awaitable, ec));
      c.writing = false;
      if (ec) fail(c, "subscribe: " + ec.message());
      last_subscribe_ns_ = now_ns();
    }
    subscribes_done_ = true;
  }

  asio::awaitable<void> read_loop(WsClient& c) {
    static const std::string kPong = R"({"type":"pong"})";
    beast::flat_buffer buffer;
    auto& ws = *c.ws;
    while (true) {
      boost::system::error_code ec;
      co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        fail(c, "read: " + ec.message());
        co_return;
      }
      const int64_t at = now_ns();
      const std::string_view msg(static_cast<const char*>(buffer.data().data()), buffer.size());
      const std::string_view type = string_field(msg, "type");
      if (type == "next") {
        if (!c.first) {
          c.first = true;
          ++first_results_;
          last_first_ns_ = std::max(last_first_ns_, at);
        }
        if (recording_)
          if (auto v = value_field(msg)) c.arrivals.push_back({*v, at});
      } else if (type == "ping") {
        ++pings_;
        if (!c.writing) {  // one write in flight; a skipped pong is harmless
          c.writing = true;
          co_await ws.async_write(asio::buffer(kPong),
                                  asio::redirect_error(asio::use_awaitable, ec));
          c.writing = false;
          if (ec) {
            fail(c, "pong: " + ec.message());
            co_return;
          }
        }
      } else if (type != "pong" && type != "ka") {
        fail(c, std::string(msg.substr(0, 300)));
        co_return;
      }
      buffer.consume(buffer.size());
    }
  }

  asio::io_context io_{1};
  std::string host_;
  tcp::endpoint endpoint_;
  int first_id_;
  std::string secret_;
  std::vector<std::unique_ptr<WsClient>> clients_;
  int launched_ = 0, acked_ = 0, failed_ = 0, first_results_ = 0;
  int64_t pings_ = 0, last_subscribe_ns_ = 0, last_first_ns_ = 0;
  bool recording_ = false, closing_ = false, subscribes_done_ = false;
  std::string first_error_;
};

// ---------------------------------------------------------------------------------------------
// The coordinator's handle on one worker process.

class WorkerProcess {
 public:
  WorkerProcess(const std::vector<std::string>& args) {
    int to[2], from[2];
    if (::pipe2(to, O_CLOEXEC) != 0 || ::pipe2(from, O_CLOEXEC) != 0) die("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from[1], STDOUT_FILENO);
    std::vector<char*> argv;
    static std::string self = fs::read_symlink("/proc/self/exe").string();
    argv.push_back(self.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, self.c_str(), &actions, nullptr, argv.data(), environ) != 0)
      die("cannot start a worker");
    posix_spawn_file_actions_destroy(&actions);
    ::close(to[0]);
    ::close(from[1]);
    to_ = to[1];
    from_ = from[0];
  }
  ~WorkerProcess() {
    ::close(to_);  // the worker exits when its stdin closes
    ::close(from_);
    const int64_t deadline = now_ns() + 10'000'000'000;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (now_ns() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);  // waiting for the worker to exit, with a deadline
    }
  }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  void send(const std::string& line) {
    const std::string out = line + "\n";
    if (::write(to_, out.data(), out.size()) != static_cast<ssize_t>(out.size()))
      throw CellError("a worker is gone");
  }

  // The next reply line, split into words.
  std::vector<std::string> reply(int64_t deadline_ns) {
    while (true) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        const std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return split(line, ' ');
      }
      const int64_t left_ms = (deadline_ns - now_ns()) / 1'000'000;
      if (left_ms <= 0) throw CellError("a worker did not answer in time");
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000))) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(from_, buf, sizeof buf);
      if (n <= 0) throw CellError("a worker exited");
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int pid_ = -1, to_ = -1, from_ = -1;
  std::string buffer_;
};

// ---------------------------------------------------------------------------------------------
// Writers: one libpq pipeline each, every statement its own transaction (a Sync after each).

struct Scenario {
  std::string name;  // own-row | commits:R
  int rate = 0;      // commits/s for commits:R; 50 transactions/s for own-row
  bool own_row() const { return name == "own-row"; }
};

struct Write {
  int32_t first_row, last_row;
  int64_t value;
};

struct WriterResult {
  std::vector<Write> log;
  int64_t committed = 0, errors = 0;
  // Send -> commit acknowledged, summed over committed statements: the writer's own wait in
  // PostgreSQL, part of every update's latency whatever liveql does.
  double commit_ms_sum = 0;
  std::string first_error;
};

// Statement k of writer w out of `writers`, for N rows: rows [first, last].
std::pair<int, int> rows_of(const Scenario& s, int n, int w, int writers, int64_t k) {
  if (s.own_row()) {
    // Transaction j = k-th of this writer's chunks: chunk c of 50 goes to writer c % writers.
    const int chunks_mine = (50 - w + writers - 1) / writers;
    const int c = w + static_cast<int>(k % chunks_mine) * writers;
    return {c * n / 50 + 1, (c + 1) * n / 50};
  }
  const int mine = n / writers;  // rows r with (r - 1) % writers == w
  const int row = static_cast<int>(k % mine) * writers + w + 1;
  return {row, row};
}

WriterResult run_writer(PGconn* pg, const Scenario& s, int n, int w, int writers, int64_t t0,
                        int64_t t1) {
  WriterResult out;
  const double per_second = s.own_row() ? static_cast<double>((50 - w + writers - 1) / writers)
                                        : static_cast<double>(s.rate) / writers;
  const double gap_ns = 1e9 / per_second;
  // Own-row chunks of this writer sit at their slot of the 20 ms grid.
  const int64_t offset = s.own_row() ? static_cast<int64_t>(w) * 20'000'000 : 0;
  PQsetnonblocking(pg, 1);
  if (PQenterPipelineMode(pg) != 1) {
    out.first_error = "cannot enter pipeline mode";
    return out;
  }
  constexpr int64_t kMaxOutstanding = 4000;
  int64_t k = 0, outstanding = 0;
  std::deque<int64_t> sent_at;  // of the statements not acknowledged yet, in order
  auto drain_results = [&] {
    int nulls = 0;
    while (outstanding > 0 && !PQisBusy(pg) && nulls < 2) {
      PGresult* r = PQgetResult(pg);
      if (!r) {
        ++nulls;
        continue;
      }
      nulls = 0;
      const auto status = PQresultStatus(r);
      if (status == PGRES_PIPELINE_SYNC) {
        --outstanding;
        ++out.committed;
        if (!sent_at.empty()) {
          out.commit_ms_sum += static_cast<double>(now_ns() - sent_at.front()) / 1e6;
          sent_at.pop_front();
        }
      } else if (status != PGRES_COMMAND_OK) {
        ++out.errors;
        if (out.first_error.empty()) out.first_error = PQresultErrorMessage(r);
      }
      PQclear(r);
    }
  };
  const int64_t give_up = t1 + 10'000'000'000;
  while (true) {
    int64_t now = now_ns();
    if (now >= t1 && outstanding == 0) break;
    if (now >= give_up) {
      out.first_error = "results still outstanding 10 s after the window";
      break;
    }
    int64_t due = t0 + offset + static_cast<int64_t>(static_cast<double>(k) * gap_ns);
    while (due <= now && due < t1 && outstanding < kMaxOutstanding) {
      const auto [first, last] = rows_of(s, n, w, writers, k);
      const int64_t value = now_ns();
      const std::string v = std::to_string(value), a = std::to_string(first),
                        b = std::to_string(last);
      const char* params[3] = {v.c_str(), a.c_str(), b.c_str()};
      if (PQsendQueryPrepared(pg, "scale_write", 3, params, nullptr, nullptr, 0) != 1 ||
          PQpipelineSync(pg) != 1) {
        out.first_error = PQerrorMessage(pg);
        return out;
      }
      out.log.push_back({first, last, value});
      sent_at.push_back(value);
      ++outstanding;
      ++k;
      due = t0 + offset + static_cast<int64_t>(static_cast<double>(k) * gap_ns);
    }
    const bool more_to_send = PQflush(pg) == 1;
    pollfd p{PQsocket(pg), static_cast<short>(POLLIN | (more_to_send ? POLLOUT : 0)), 0};
    const int64_t wait_ns = std::clamp<int64_t>(std::min(due, t1) - now_ns(), 0, 2'000'000);
    timespec ts{0, static_cast<long>(wait_ns)};
    if (::ppoll(&p, 1, &ts, nullptr) > 0 && (p.revents & POLLIN)) {
      if (PQconsumeInput(pg) != 1) {
        out.first_error = PQerrorMessage(pg);
        return out;
      }
    }
    drain_results();
  }
  PQexitPipelineMode(pg);
  PQsetnonblocking(pg, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL CPU: the postmaster (with its reaped children) and its live children.

double cluster_cpu(int postmaster) {
  double total = cpu_seconds(postmaster, true);
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + close + 2, "%c %d", &state, &ppid) != 2) continue;
    if (ppid == postmaster) total += cpu_seconds(std::atoi(name.c_str()));
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Results

struct Cell {
  int n = 0;
  std::string mode, scenario, error;  // error: why the cell failed, "" when it ran
  double target_rate = 0, achieved_rate = 0;
  int64_t writer_errors = 0;
  size_t updates = 0, delivered = 0, coalesced = 0, missed = 0, stale_clients = 0;
  Summary latency_ms;
  double liveql_cores = 0, pg_cores = 0, pg_liveql_cores = 0;
  double statements_per_s = 0, refetch_statements_per_s = 0, max_lag_bytes = 0;
  // pg_stat_replication's write_lag of liveql's walsender, the most sampled: from the WAL being
  // flushed to liveql reporting it received (at its next status update), in seconds.
  double max_lag_s = 0;
  double storm_s = 0, results_in_window = 0, us_per_push = 0;
  double commit_to_push_ms = 0;   // liveql's own histogram: commit decoded -> push handed over
  double writer_commit_ms = 0;    // the writers' send -> commit acknowledged, average
  double paced_rounds_per_s = 0;  // liveql_paced_rounds_total: event cohorts behind
  // PostgreSQL during the cell: checkpoints begun (pg_stat_bgwriter), WAL written and the
  // full-page images in it (pg_stat_wal). After a checkpoint the first change of each page logs
  // the whole page, so a cell that a checkpoint falls into writes (and decodes) more WAL.
  double checkpoints = 0, wal_mb = 0, wal_fpi = 0;
  int ready = 0;
  int repeat = 0;  // which of --repeat's runs, from 0
};

struct IdleCell {
  int n = 0, ready = 0;
  std::string mode, error;
  double seconds = 0, pings = 0, liveql_cpu = 0, us_per_ping = 0, statements_per_s = 0;
  double refetch_statements_per_s = 0, storm_s = 0;
};

struct Options {
  std::string pg_dir = "/tmp/liveql-bench-pg";
  std::string binary = "build/bench/server/liveql";
  std::vector<std::string> ns{"1000", "5000", "10000", "max"};
  std::vector<std::string> scenarios{"own-row", "commits:3000", "commits:10000"};
  std::vector<std::string> modes{"event", "poll"};
  std::vector<std::string> server_args;
  std::string idle_mode = "event";
  std::string json_path = "scale_bench.json";
  int seconds = 30, drain_seconds = 5, idle_seconds = 10, writers = 2;
  int refetch_interval_ms = 1000;
  int repeat = 1;          // runs of every (N, mode), the modes' order reversed every other run
  bool checkpoint = true;  // CHECKPOINT before each cell
};

// One liveql with N connected, subscribed clients.
class Run {
 public:
  Run(const Options& opt, const std::string& url, const fs::path& work, int n,
      const std::string& mode, const std::string& secret, bool idle)
      : n_(n), slot_("liveql_scale_" + mode + (idle ? "_idle" : "")), url_(url) {
    auto args = serve_args({.database_url = with_user_and_db(url, kServerRole, kDatabase),
                            .metadata = (work / "metadata").string(),
                            .admin_secret = kAdminSecret,
                            .mode = mode,
                            .state_dir = (work / ("state-" + slot_)).string(),
                            .slot = slot_,
                            .refetch_interval_ms = opt.refetch_interval_ms});
    args.push_back("--jwt-secret");
    args.push_back(R"({"type":"HS256","key":")" + secret + R"("})");
    if (idle) {
      args.push_back("--ws-keepalive-seconds");
      args.push_back("1");
    }
    for (const auto& a : opt.server_args) args.push_back(a);
    fs::remove_all(work / ("state-" + slot_));
    log_ = (work / ("liveql-" + std::to_string(n) + "-" + slot_ + ".log")).string();
    server_ = start_server(opt.binary, args, log_);
    std::printf("\n[N=%d %s%s] liveql pid %d on %s:%u (log %s)\n", n, mode.c_str(),
                idle ? " idle" : "", server_.pid, server_.host.c_str(), server_.port, log_.c_str());
    std::fflush(stdout);
    for (int first = 1; first <= n; first += kClientsPerWorker)
      workers_.push_back(std::make_unique<WorkerProcess>(std::vector<std::string>{
          "--worker", server_.host, std::to_string(server_.port), std::to_string(first),
          std::to_string(std::min(kClientsPerWorker, n - first + 1)), secret}));
  }

  ~Run() {
    for (auto& w : workers_) {
      try {
        w->send("quit");
      } catch (const CellError&) {
      }
    }
    workers_.clear();
    stop_server(server_);
    Conn root(url_);
    drop_slot(root, slot_);
    if (!kept_log_.empty()) {
      std::error_code ec;
      fs::copy_file(log_, kept_log_, fs::copy_options::overwrite_existing, ec);
    }
  }

  // Connects every client, then subscribes them all at once. Returns the connect storm in
  // seconds: last subscribe sent -> every client has its first result.
  double connect_and_subscribe() {
    const int64_t t = now_ns();
    int acked = 0, failed = 0;
    std::string first_error;
    for (auto& w : workers_) w->send("connect");
    for (auto& w : workers_) {
      auto r = w->reply(now_ns() + 600'000'000'000);
      if (r.size() < 3 || r[0] != "connected") throw CellError("odd worker reply");
      acked += std::atoi(r[1].c_str());
      failed += std::atoi(r[2].c_str());
      if (first_error.empty() && r.size() > 3)
        for (size_t i = 3; i < r.size(); ++i) first_error += r[i] + " ";
    }
    std::printf("  %d of %d clients connected in %.1f s, %d failed%s%s\n", acked, n_,
                static_cast<double>(now_ns() - t) / 1e9, failed, first_error.empty() ? "" : ": ",
                first_error.c_str());
    const int64_t deadline = now_ns() + 60'000'000'000;
    int64_t last_sub = 0, last_first = 0;
    ready_ = 0;
    for (auto& w : workers_) w->send("subscribe " + std::to_string(deadline));
    for (auto& w : workers_) {
      auto r = w->reply(deadline + 30'000'000'000);
      if (r.size() != 5 || r[0] != "subscribed") throw CellError("odd worker reply");
      ready_ += std::atoi(r[1].c_str());
      last_sub = std::max<int64_t>(last_sub, std::atoll(r[3].c_str()));
      last_first = std::max<int64_t>(last_first, std::atoll(r[4].c_str()));
    }
    const double storm = static_cast<double>(last_first - last_sub) / 1e9;
    std::printf("  %d of %d clients have their first result %.2f s after the last subscribe\n",
                ready_, n_, storm);
    if (ready_ < n_) {
      // The work directory goes at the end of the run: keep the log of a cell that lost clients.
      kept_log_ = (fs::temp_directory_path() / fs::path(log_).filename()).string() + "." +
                  std::to_string(::getpid()) + ".kept";
      std::printf("  liveql's log will be kept in %s\n", kept_log_.c_str());
    }
    std::fflush(stdout);
    return storm;
  }

  // "begin" or "end PATH" on every worker; returns the keep-alive pings received so far.
  int64_t command(const std::string& line) {
    int64_t pings = 0;
    for (auto& w : workers_) w->send(line);
    for (auto& w : workers_) {
      auto r = w->reply(now_ns() + 60'000'000'000);
      if (r.size() != 3 || r[0] != "ok") throw CellError("odd worker reply");
      pings += std::atoll(r[1].c_str());
    }
    return pings;
  }

  void check_alive() {
    if (!server_running(server_)) throw CellError("liveql exited (see " + log_ + ")");
  }

  size_t workers() const { return workers_.size(); }
  int ready() const { return ready_; }
  const Server& server() const { return server_; }
  const std::string& slot() const { return slot_; }

 private:
  int n_;
  std::string slot_, url_, log_;
  Server server_;
  std::vector<std::unique_ptr<WorkerProcess>> workers_;
  int ready_ = 0;
  std::string kept_log_;  // where the log is copied at the end, when some clients had no result
};

double liveql_statements(Conn& admin) { return role_statements(admin, kServerRole); }

// liveql_refetch_statements_total, or NaN when /metrics did not answer within 5 s.
double refetch_statements(const Server& s) {
  const std::string body = http_get(s.host, s.port, "/metrics", kAdminSecret);
  return body.empty() ? std::nan("") : metric_value(body, "liveql_refetch_statements_total");
}

// liveql's counters read at both ends of a write window (NaN when /metrics did not answer).
struct ServerCounters {
  double refetch_statements = std::nan(""), push_sum = std::nan(""), push_count = std::nan("");
  double paced_rounds = std::nan("");
};
ServerCounters server_counters(const Server& s) {
  const std::string body = http_get(s.host, s.port, "/metrics", kAdminSecret);
  if (body.empty()) return {};
  return {metric_value(body, "liveql_refetch_statements_total"),
          metric_value(body, "liveql_commit_to_push_seconds_sum"),
          metric_value(body, "liveql_commit_to_push_seconds_count"),
          metric_value(body, "liveql_paced_rounds_total")};
}

// Reads the arrival dumps of a phase and counts delivered / coalesced / missed updates; arrivals
// after `cutoff` (the end of the drain) count as never received.
void tally(Cell& cell, const std::vector<std::vector<int64_t>>& written,
           const std::vector<fs::path>& dumps, int64_t t0, int64_t t1, int64_t cutoff) {
  std::vector<double> latency;
  std::vector<Arrival> got;
  for (const auto& path : dumps) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw CellError("no arrivals file " + path.string());
    int32_t id = 0;
    uint32_t count = 0;
    while (in.read(reinterpret_cast<char*>(&id), sizeof id) &&
           in.read(reinterpret_cast<char*>(&count), sizeof count)) {
      got.resize(count);
      if (count > 0 &&
          !in.read(reinterpret_cast<char*>(got.data()), std::streamsize(count * sizeof(Arrival))))
        throw CellError("short arrivals file " + path.string());
      if (id < 1 || static_cast<size_t>(id) > written.size()) continue;
      const auto& values = written[static_cast<size_t>(id - 1)];
      cell.updates += values.size();
      // Arrivals in order: an arrival whose value passes the highest seen so far covers every
      // written value up to it; the equal one is delivered, the smaller ones coalesced.
      size_t next = 0;
      int64_t highest = INT64_MIN;
      for (const auto& a : got) {
        if (a.at > cutoff) break;
        if (a.at >= t0 && a.at <= t1) ++cell.results_in_window;
        if (a.value <= highest) continue;
        highest = a.value;
        while (next < values.size() && values[next] <= a.value) {
          (values[next] == a.value ? cell.delivered : cell.coalesced) += 1;
          latency.push_back(static_cast<double>(a.at - values[next]) / 1e6);
          ++next;
        }
      }
      cell.missed += values.size() - next;
      if (!values.empty() && highest != values.back()) ++cell.stale_clients;
    }
  }
  cell.latency_ms = summarize(std::move(latency));
}

// One write scenario on a running liveql: writes for opt.seconds, then a drain.
Cell run_phase(const Options& opt, Run& run, Conn& admin, const std::string& admin_url,
               std::vector<std::unique_ptr<Conn>>& writers, int postmaster, const fs::path& work,
               int n, const Scenario& s) {
  Cell cell;
  cell.n = n;
  cell.scenario = s.name;
  cell.target_rate = s.own_row() ? 50 : s.rate;
  cell.ready = run.ready();
  run.check_alive();
  // Every cell starts from the same table: without this, a cell inherits the dead tuples of the
  // cells before it (200,000 updates for commits:10000) and runs slower for its place in the run.
  admin.value("vacuum (analyze) items");
  // And from a fresh checkpoint: one falling into some cells and not others (every 5 minutes or
  // 1 GB of WAL) would make those cells log full pages.
  if (opt.checkpoint) admin.rows("checkpoint");
  const auto pg_wal = [&admin] {
    auto row = admin.rows(
        "select (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter), "
        "wal_bytes, wal_fpi from pg_stat_wal");
    return std::array<double, 3>{std::stod(row.at(0).at(0)), std::stod(row.at(0).at(1)),
                                 std::stod(row.at(0).at(2))};
  };
  const auto wal0 = pg_wal();
  run.command("begin");
  const Server& server = run.server();
  const double cpu0 = cpu_seconds(server.pid), pg0 = cluster_cpu(postmaster);
  const auto backends0 = backend_cpu(admin, kServerRole);
  const double st0 = liveql_statements(admin);
  const ServerCounters counters0 = server_counters(server);

  std::atomic<bool> sampling{true};
  std::atomic<int64_t> max_lag{0};
  std::atomic<double> max_lag_s{0};
  std::thread sampler([&] {
    Conn lag(admin_url);
    const std::string sql =
        "select coalesce(max(pg_current_wal_lsn() - confirmed_flush_lsn), 0)::bigint from "
        "pg_replication_slots where slot_name = '" +
        run.slot() + "'";
    const std::string lag_s_sql =
        "select coalesce(extract(epoch from max(write_lag)), 0) from pg_stat_replication where "
        "pid = (select active_pid from pg_replication_slots where slot_name = '" +
        run.slot() + "')";
    while (sampling) {
      max_lag = std::max<int64_t>(max_lag, std::atoll(lag.value(sql).c_str()));
      max_lag_s = std::max(max_lag_s.load(), std::atof(lag.value(lag_s_sql).c_str()));
      for (int i = 0; i < 20 && sampling; ++i)
        std::this_thread::sleep_for(50ms);  // one sample a second
    }
  });
  const int64_t t0 = now_ns() + 100'000'000;
  const int64_t t1 = t0 + static_cast<int64_t>(opt.seconds) * 1'000'000'000;
  std::vector<WriterResult> results(writers.size());
  {
    std::vector<std::thread> threads;
    for (size_t w = 0; w < writers.size(); ++w)
      threads.emplace_back([&, w] {
        results[w] = run_writer(writers[w]->pg(), s, n, static_cast<int>(w),
                                static_cast<int>(writers.size()), t0, t1);
      });
    for (auto& t : threads) t.join();
  }
  const double window = static_cast<double>(t1 - t0) / 1e9;
  cell.liveql_cores = (cpu_seconds(server.pid) - cpu0) / window;
  cell.pg_cores = (cluster_cpu(postmaster) - pg0) / window;
  cell.pg_liveql_cores = backend_cpu_delta(backends0, backend_cpu(admin, kServerRole)) / window;
  cell.statements_per_s = (liveql_statements(admin) - st0) / window;
  const ServerCounters counters1 = server_counters(server);
  cell.refetch_statements_per_s =
      (counters1.refetch_statements - counters0.refetch_statements) / window;
  cell.commit_to_push_ms = (counters1.push_sum - counters0.push_sum) * 1000.0 /
                           (counters1.push_count - counters0.push_count);
  cell.paced_rounds_per_s = (counters1.paced_rounds - counters0.paced_rounds) / window;
  const auto wal1 = pg_wal();
  cell.checkpoints = wal1[0] - wal0[0];
  cell.wal_mb = (wal1[1] - wal0[1]) / 1e6;
  cell.wal_fpi = wal1[2] - wal0[2];
  sampling = false;
  sampler.join();
  cell.max_lag_bytes = static_cast<double>(max_lag.load());
  cell.max_lag_s = max_lag_s.load();
  int64_t committed = 0;
  double commit_ms_sum = 0;
  for (const auto& r : results) {
    committed += r.committed;
    commit_ms_sum += r.commit_ms_sum;
    cell.writer_errors += r.errors;
    if (!r.first_error.empty())
      std::printf("  writer error: %s\n", r.first_error.substr(0, 300).c_str());
  }
  cell.achieved_rate = static_cast<double>(committed) / window;
  if (committed > 0) cell.writer_commit_ms = commit_ms_sum / static_cast<double>(committed);

  // Results that arrive after the drain do not count, however long the bookkeeping above took.
  const int64_t drain_end = t1 + static_cast<int64_t>(opt.drain_seconds) * 1'000'000'000;
  while (now_ns() < drain_end) {
    run.check_alive();
    std::this_thread::sleep_for(100ms);  // the drain period: late results still count
  }
  const fs::path dump = work / "arrivals";
  run.command("end " + dump.string());
  std::vector<fs::path> dumps;
  for (int first = 1; first <= n; first += kClientsPerWorker)
    dumps.push_back(dump.string() + "." + std::to_string(first));
  std::vector<std::vector<int64_t>> written(static_cast<size_t>(n));
  for (const auto& r : results)
    for (const auto& w : r.log)
      for (int row = w.first_row; row <= w.last_row; ++row)
        written[static_cast<size_t>(row - 1)].push_back(w.value);
  tally(cell, written, dumps, t0, t1, drain_end);
  for (const auto& p : dumps) fs::remove(p);
  if (cell.results_in_window > 0)
    cell.us_per_push = cell.liveql_cores * window * 1e6 / cell.results_in_window;
  return cell;
}

std::string cell_row(const Cell& c) {
  char buf[1024];
  if (!c.error.empty()) {
    std::snprintf(buf, sizeof buf,
                  "| %d | %s | %s | failed: %s | | | | | | | | | | | | | | | | | | | | | | | |",
                  c.n, c.mode.c_str(), c.scenario.c_str(), c.error.c_str());
    return buf;
  }
  const double u = c.updates > 0 ? 100.0 / static_cast<double>(c.updates) : 0;
  const std::string n =
      std::to_string(c.n) + (c.ready < c.n ? " (" + std::to_string(c.ready) + " ready)" : "");
  std::snprintf(buf, sizeof buf,
                "| %s | %s | %s | %.0f (%.0f) | %zu | %.1f %% | %.1f %% | %.1f %% | %zu | %.1f | "
                "%.1f | %.1f | %.0f | %.1f | %.1f | %.2f | %.2f (%.2f) | %.0f | %.0f | %.1f | "
                "%.1f MB | %.2f | %.2f | %.1f | %.0f | %.0f | %.0f |",
                n.c_str(), c.mode.c_str(), c.scenario.c_str(), c.achieved_rate, c.target_rate,
                c.updates, u * static_cast<double>(c.delivered),
                u * static_cast<double>(c.coalesced), u * static_cast<double>(c.missed),
                c.stale_clients, c.latency_ms.avg, c.latency_ms.p50, c.latency_ms.p99,
                c.latency_ms.max, c.writer_commit_ms, c.commit_to_push_ms, c.liveql_cores,
                c.pg_cores, c.pg_liveql_cores, c.statements_per_s, c.refetch_statements_per_s,
                c.paced_rounds_per_s, c.max_lag_bytes / 1e6, c.max_lag_s, c.storm_s, c.us_per_push,
                c.checkpoints, c.wal_mb, c.wal_fpi);
  return buf;
}

constexpr const char* kCellHeader =
    "| N | mode | scenario | commits/s (target) | updates | delivered | coalesced | missed | "
    "stale clients | avg ms | p50 ms | p99 ms | max ms | writer commit avg ms | liveql "
    "commit→push avg ms | liveql cores | PG cores (liveql's backends) | statements/s | refetch "
    "statements/s | paced rounds/s | max slot lag | max write lag s | connect storm s | liveql "
    "µs/result | checkpoints | WAL MB | full-page images |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|-"
    "--|---|---|---|";

std::string idle_row(const IdleCell& c) {
  char buf[512];
  if (!c.error.empty()) {
    std::snprintf(buf, sizeof buf, "| %d | %s | failed: %s | | | | | |", c.n, c.mode.c_str(),
                  c.error.c_str());
    return buf;
  }
  std::snprintf(buf, sizeof buf, "| %d (%d ready) | %s | %.0f | %.0f | %.2f | %.1f | %.2f | %.2f |",
                c.n, c.ready, c.mode.c_str(), c.seconds, c.pings / c.seconds, c.liveql_cpu,
                c.us_per_ping, c.statements_per_s, c.storm_s);
  return buf;
}

constexpr const char* kIdleHeader =
    "| N | mode | idle s | pings/s | liveql CPU s | liveql µs/ping | statements/s | connect storm "
    "s |\n|---|---|---|---|---|---|---|---|";

// A number, or null when it is not one (/metrics did not answer).
json::value finite(double v) { return std::isfinite(v) ? json::value(v) : json::value(nullptr); }

// Event against poll per (N, scenario), over the runs where both modes ran: the differences of
// each run's pair (event − poll), so that a drift of the machine between runs cancels out.
struct Pairs {
  int n = 0;
  std::string scenario;
  std::vector<double> cpu;  // liveql + PostgreSQL cores
  // The same, corrected for the machine's speed at the time (see speed_corrected).
  std::vector<double> corrected;
  std::vector<double> latency;                      // average latency, ms
  std::vector<double> event_latency, poll_latency;  // each mode's average latency, ms
};

// Event − poll in cores, corrected for the machine's speed: this VM's CPU time for the same work
// differs by up to a fifth between cells minutes apart, for every process alike. PostgreSQL's
// processes other than liveql's backends and walsender (the writers' backends, mostly) do the
// same work in both modes, so each cell's cost of following the writes (liveql + its backends)
// is taken per core of theirs, and the difference scaled back at the pair's mean. Not a number
// where they write too little to gauge the speed by (own-row: a few hundredths of a core, each
// /proc tick of 10 ms a few per cent of it).
double speed_corrected(const Cell& e, const Cell& p) {
  constexpr double kLeastReference = 0.1;  // cores
  const double we = e.pg_cores - e.pg_liveql_cores, wp = p.pg_cores - p.pg_liveql_cores;
  if (we < kLeastReference || wp < kLeastReference) return std::nan("");
  const double fe = e.liveql_cores + e.pg_liveql_cores, fp = p.liveql_cores + p.pg_liveql_cores;
  return (fe / we - fp / wp) * (we + wp) / 2;
}

std::vector<Pairs> pair_up(const std::vector<Cell>& cells) {
  std::vector<Pairs> out;
  for (const Cell& e : cells) {
    if (e.mode != "event" || !e.error.empty()) continue;
    for (const Cell& p : cells) {
      if (p.mode != "poll" || !p.error.empty() || p.n != e.n || p.scenario != e.scenario ||
          p.repeat != e.repeat)
        continue;
      auto it = std::find_if(out.begin(), out.end(), [&](const Pairs& x) {
        return x.n == e.n && x.scenario == e.scenario;
      });
      if (it == out.end()) it = out.insert(out.end(), Pairs{.n = e.n, .scenario = e.scenario});
      it->cpu.push_back(e.liveql_cores + e.pg_cores - p.liveql_cores - p.pg_cores);
      if (const double c = speed_corrected(e, p); std::isfinite(c)) it->corrected.push_back(c);
      it->latency.push_back(e.latency_ms.avg - p.latency_ms.avg);
      it->event_latency.push_back(e.latency_ms.avg);
      it->poll_latency.push_back(p.latency_ms.avg);
    }
  }
  return out;
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

std::string pairs_row(const Pairs& p) {
  const auto [lo, hi] = std::minmax_element(p.cpu.begin(), p.cpu.end());
  const auto at_most_0 = [](const std::vector<double>& v) {
    return std::count_if(v.begin(), v.end(), [](double d) { return d <= 0; });
  };
  char corrected[96] = "– | – | –";
  if (!p.corrected.empty()) {
    const auto [clo, chi] = std::minmax_element(p.corrected.begin(), p.corrected.end());
    std::snprintf(corrected, sizeof corrected, "%+.3f | %+.3f .. %+.3f | %td of %zu",
                  mean(p.corrected), *clo, *chi, at_most_0(p.corrected), p.corrected.size());
  }
  char buf[320];
  std::snprintf(
      buf, sizeof buf,
      "| %d | %s | %zu | %.1f / %.1f | %+.1f | %+.3f | %+.3f .. %+.3f | %td of %zu | %s |", p.n,
      p.scenario.c_str(), p.cpu.size(), mean(p.event_latency), mean(p.poll_latency),
      mean(p.latency), mean(p.cpu), *lo, *hi, at_most_0(p.cpu), p.cpu.size(), corrected);
  return buf;
}

constexpr const char* kPairsHeader =
    "| N | scenario | pairs | avg latency event / poll ms | latency event − poll ms | liveql + PG "
    "cores event − poll, mean | min .. max | pairs event ≤ poll | speed-corrected, mean | min .. "
    "max | pairs event ≤ poll |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|";

void write_json(const std::string& path, const Options& opt, int max_n,
                const std::vector<Cell>& cells, const std::vector<IdleCell>& idle) {
  json::array cs, is, ps;
  for (const auto& p : pair_up(cells))
    ps.push_back(
        json::object{{"n", p.n},
                     {"scenario", p.scenario},
                     {"cpu_event_minus_poll", json::value_from(p.cpu)},
                     {"cpu_event_minus_poll_speed_corrected", json::value_from(p.corrected)},
                     {"latency_event_minus_poll_ms", json::value_from(p.latency)},
                     {"event_latency_ms", mean(p.event_latency)},
                     {"poll_latency_ms", mean(p.poll_latency)}});
  for (const auto& c : cells)
    cs.push_back(json::object{{"n", c.n},
                              {"mode", c.mode},
                              {"scenario", c.scenario},
                              {"error", c.error},
                              {"ready", c.ready},
                              {"target_rate", c.target_rate},
                              {"achieved_rate", c.achieved_rate},
                              {"writer_errors", c.writer_errors},
                              {"updates", c.updates},
                              {"delivered", c.delivered},
                              {"coalesced", c.coalesced},
                              {"missed", c.missed},
                              {"stale_clients", c.stale_clients},
                              {"latency_ms",
                               {{"avg", c.latency_ms.avg},
                                {"p50", c.latency_ms.p50},
                                {"p99", c.latency_ms.p99},
                                {"max", c.latency_ms.max}}},
                              {"liveql_commit_to_push_ms", finite(c.commit_to_push_ms)},
                              {"writer_commit_ms", finite(c.writer_commit_ms)},
                              {"paced_rounds_per_s", finite(c.paced_rounds_per_s)},
                              {"liveql_cores", c.liveql_cores},
                              {"pg_cores", c.pg_cores},
                              {"pg_liveql_backend_cores", c.pg_liveql_cores},
                              {"statements_per_s", c.statements_per_s},
                              {"refetch_statements_per_s", finite(c.refetch_statements_per_s)},
                              {"max_slot_lag_bytes", c.max_lag_bytes},
                              {"max_write_lag_s", c.max_lag_s},
                              {"connect_storm_s", c.storm_s},
                              {"results_in_window", c.results_in_window},
                              {"liveql_us_per_result", c.us_per_push},
                              {"checkpoints", c.checkpoints},
                              {"wal_mb", c.wal_mb},
                              {"wal_fpi", c.wal_fpi},
                              {"repeat", c.repeat}});
  for (const auto& c : idle)
    is.push_back(json::object{{"n", c.n},
                              {"mode", c.mode},
                              {"error", c.error},
                              {"ready", c.ready},
                              {"seconds", c.seconds},
                              {"pings", c.pings},
                              {"liveql_cpu_s", c.liveql_cpu},
                              {"liveql_us_per_ping", c.us_per_ping},
                              {"statements_per_s", c.statements_per_s},
                              {"refetch_statements_per_s", finite(c.refetch_statements_per_s)},
                              {"connect_storm_s", c.storm_s}});
  json::object root{
      {"liveql", opt.binary},   {"seconds", opt.seconds}, {"drain_seconds", opt.drain_seconds},
      {"writers", opt.writers}, {"max_n", max_n},         {"cells", std::move(cs)},
      {"idle", std::move(is)},  {"repeat", opt.repeat},   {"pairs", std::move(ps)}};
  std::ofstream(path) << json::serialize(root) << "\n";
}

void write_metadata(const fs::path& dir) {
  fs::create_directories(dir / "databases/default/tables");
  std::ofstream(dir / "version.yaml") << "version: 3\n";
  std::ofstream(dir / "databases/databases.yaml")
      << "- name: default\n  kind: postgres\n  configuration:\n    connection_info:\n"
         "      database_url:\n        from_env: HASURA_GRAPHQL_DATABASE_URL\n"
         "  tables: \"!include default/tables/tables.yaml\"\n";
  std::ofstream(dir / "databases/default/tables/tables.yaml")
      << "- \"!include public_items.yaml\"\n";
  std::ofstream(dir / "databases/default/tables/public_items.yaml")
      << "table:\n  name: items\n  schema: public\nselect_permissions:\n  - role: user\n"
         "    permission:\n      columns:\n        - id\n        - value\n      filter: {}\n";
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    die("RAND_bytes");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : raw) {
    out += kHex[uint8_t(c) >> 4];
    out += kHex[uint8_t(c) & 15];
  }
  return out;
}

int worker_main(char** argv) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  Worker worker(argv[2], static_cast<uint16_t>(std::atoi(argv[3])), std::atoi(argv[4]),
                std::atoi(argv[5]), argv[6]);
  return worker.run();
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc == 7 && std::string(argv[1]) == "--worker") return worker_main(argv);
  set_program_name("scale_bench");
  Options opt;
  bool grid = false;
  CLI::App app{"scale_bench: the seed's scale scenario, event against poll", "scale_bench"};
  app.add_flag("--grid", grid, "every N x scenario x mode (the defaults), overriding the lists");
  app.add_option("--n", opt.ns, "subscriber counts, or max (the open-file limit allows)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--scenarios", opt.scenarios, "own-row or commits:R")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--modes", opt.modes, "live modes, in order")
      ->delimiter(',')
      ->check(CLI::IsMember({"event", "poll"}))
      ->capture_default_str();
  app.add_option("--seconds", opt.seconds, "per cell")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--drain-seconds", opt.drain_seconds, "after the writers stop")
      ->check(CLI::Range(0, 600))
      ->capture_default_str();
  app.add_option("--idle-seconds", opt.idle_seconds, "keep-alive phase (0: none)")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  app.add_option("--idle-mode", opt.idle_mode, "live mode of the keep-alive phase")
      ->check(CLI::IsMember({"event", "poll"}))
      ->capture_default_str();
  app.add_option("--writers", opt.writers, "writer connections")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app.add_option("--repeat", opt.repeat,
                 "runs of every N x mode, the modes' order reversed every other run; the summary "
                 "pairs event with poll per run")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  app.add_option("--refetch-interval-ms", opt.refetch_interval_ms, "liveql's poll interval")
      ->check(CLI::Range(10, 60'000))
      ->capture_default_str();
  app.add_option("--liveql", opt.binary, "the liveql binary")->capture_default_str();
  app.add_option("--pg-dir", opt.pg_dir, "the benchmark's PostgreSQL cluster")
      ->capture_default_str();
  app.add_option("--json", opt.json_path, "where the results go")->capture_default_str();
  bool no_checkpoint = false;
  app.add_flag("--no-checkpoint", no_checkpoint,
               "do not CHECKPOINT before each cell (a checkpoint may then fall into any cell)");
  // Repeatable, and the value may itself start with "--": `--server-arg=--flag`.
  app.add_option("--server-arg", opt.server_args, "an argument for `liveql serve`, repeatable")
      ->allow_extra_args(false);
  CLI11_PARSE(app, argc, argv);
  opt.checkpoint = !no_checkpoint;
  if (grid) {
    opt.ns = Options{}.ns;
    opt.scenarios = Options{}.scenarios;
    opt.modes = Options{}.modes;
  }
  if (!fs::exists(opt.binary)) die("no liveql binary at " + opt.binary);
  opt.binary = fs::absolute(opt.binary).string();
  const rlim_t limit = raise_fd_limit(kClientsPerWorker + 256);
  const int max_n = static_cast<int>((limit - kFdReserve) / 1000) * 1000;
  std::vector<int> ns;
  for (const auto& s : opt.ns) {
    const int n = s == "max" ? max_n : std::atoi(s.c_str());
    if (n < opt.writers * 50 || n > max_n)
      die("--n: each N in " + std::to_string(opt.writers * 50) + ".." + std::to_string(max_n) +
          " (max: the open-file limit " + std::to_string(limit) + " less " +
          std::to_string(kFdReserve) + ")");
    ns.push_back(n);
  }
  std::vector<Scenario> scenarios;
  for (const auto& s : opt.scenarios) {
    if (s == "own-row") {
      scenarios.push_back({s, 50});
    } else if (s.rfind("commits:", 0) == 0 && std::atoi(s.c_str() + 8) > 0) {
      scenarios.push_back({s, std::atoi(s.c_str() + 8)});
    } else {
      die("--scenarios: own-row or commits:R, not " + s);
    }
  }

  // A fresh database: items(id, value) with as many rows as the largest N.
  const int rows = *std::max_element(ns.begin(), ns.end());
  const std::string url = start_cluster(LIVEQL_SOURCE_DIR, opt.pg_dir, "liveql_bench");
  {
    Conn root(url);
    fresh_database(root, kDatabase, kServerRole);
  }
  const std::string admin_url = with_user_and_db(url, "postgres", kDatabase);
  Conn admin(admin_url);
  admin.rows("create extension if not exists pg_stat_statements");
  // No autovacuum or autoanalyze of its own: every cell vacuums and analyzes it before it starts
  // (run_phase), and a worker that the writers' updates woke once a minute fell into some cells
  // and not others (8 autovacuums and 11 autoanalyzes in a 24-cell grid), adding its CPU to
  // whichever mode ran then.
  admin.rows(
      "create table items (id int primary key, value bigint not null) "
      "with (autovacuum_enabled = off)");
  admin.rows("insert into items select g, 0 from generate_series(1, " + std::to_string(rows) +
             ") g");
  admin.rows("analyze items");
  std::ifstream backend_stat("/proc/" + admin.value("select pg_backend_pid()") + "/stat");
  std::string stat;
  std::getline(backend_stat, stat);
  int postmaster = 0;
  char state = 0;
  if (stat.rfind(')') == std::string::npos ||
      std::sscanf(stat.c_str() + stat.rfind(')') + 2, "%c %d", &state, &postmaster) != 2)
    die("cannot find the postmaster's pid");

  std::vector<std::unique_ptr<Conn>> writers;
  for (int w = 0; w < opt.writers; ++w) {
    writers.push_back(std::make_unique<Conn>(admin_url));
    PGresult* r = PQprepare(writers.back()->pg(), "scale_write",
                            "update items set value = $1 where id between $2 and $3", 3, nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQresultErrorMessage(r));
    PQclear(r);
  }

  const fs::path work =
      fs::temp_directory_path() / ("liveql-scale-bench-" + std::to_string(::getpid()));
  fs::remove_all(work);
  write_metadata(work / "metadata");
  const std::string secret = random_hex(32);
  char loadavg[64] = "?";
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (!std::fgets(loadavg, sizeof loadavg, f)) loadavg[0] = 0;
    std::fclose(f);
  }
  std::printf(
      "scale_bench: PostgreSQL %s (fsync=%s), liveql %s, %u cores, open-file limit %llu (max N "
      "%d), %d writer connections, %d s writes + %d s drain per cell, load average %s",
      admin.value("show server_version").c_str(), admin.value("show fsync").c_str(),
      opt.binary.c_str(), std::thread::hardware_concurrency(),
      static_cast<unsigned long long>(limit), max_n, opt.writers, opt.seconds, opt.drain_seconds,
      loadavg);
  std::fflush(stdout);

  const int64_t started = now_ns();
  std::vector<Cell> cells;
  std::vector<IdleCell> idle;
  for (int n : ns) {
    for (int repeat = 0; repeat < opt.repeat; ++repeat) {
      std::vector<std::string> modes = opt.modes;
      if (repeat % 2 == 1) std::reverse(modes.begin(), modes.end());
      if (opt.repeat > 1) std::printf("\n[N=%d run %d of %d]\n", n, repeat + 1, opt.repeat);
      for (const auto& mode : modes) {
        double storm = 0;
        int ready = 0;
        std::string error;
        try {
          Run run(opt, url, work, n, mode, secret, false);
          storm = run.connect_and_subscribe();
          ready = run.ready();
          std::this_thread::sleep_for(2s);  // first fetches settle before the first window
          for (const auto& s : scenarios) {
            Cell cell;
            try {
              cell = run_phase(opt, run, admin, admin_url, writers, postmaster, work, n, s);
            } catch (const CellError& e) {
              cell.n = n;
              cell.scenario = s.name;
              cell.error = e.what();
            }
            cell.mode = mode;
            cell.repeat = repeat;
            cell.storm_s = storm;
            cell.ready = ready;
            std::printf("%s\n", cell_row(cell).c_str());
            std::fflush(stdout);
            cells.push_back(cell);
            write_json(opt.json_path, opt, max_n, cells, idle);
          }
        } catch (const CellError& e) {
          error = e.what();
        }
        if (!error.empty()) {
          for (const auto& s : scenarios) {
            bool done = false;
            for (const auto& c : cells)
              done |= c.n == n && c.mode == mode && c.scenario == s.name && c.repeat == repeat;
            if (done) continue;
            Cell cell;
            cell.n = n;
            cell.mode = mode;
            cell.repeat = repeat;
            cell.scenario = s.name;
            cell.error = error;
            std::printf("%s\n", cell_row(cell).c_str());
            cells.push_back(cell);
          }
          write_json(opt.json_path, opt, max_n, cells, idle);
        }
      }
    }
    if (opt.idle_seconds > 0) {
      IdleCell cell;
      cell.n = n;
      cell.mode = opt.idle_mode;
      try {
        Run run(opt, url, work, n, opt.idle_mode, secret, true);
        cell.storm_s = run.connect_and_subscribe();
        cell.ready = run.ready();
        std::this_thread::sleep_for(2s);  // first fetches settle before the idle window
        const int64_t pings0 = run.command("begin");
        const double cpu0 = cpu_seconds(run.server().pid), st0 = liveql_statements(admin);
        const double rf0 = refetch_statements(run.server());
        const int64_t t0 = now_ns();
        const int64_t end = t0 + static_cast<int64_t>(opt.idle_seconds) * 1'000'000'000;
        while (now_ns() < end) {
          run.check_alive();
          std::this_thread::sleep_for(100ms);  // the idle window
        }
        cell.liveql_cpu = cpu_seconds(run.server().pid) - cpu0;
        cell.pings = static_cast<double>(run.command("end -") - pings0);
        cell.seconds = static_cast<double>(now_ns() - t0) / 1e9;
        cell.statements_per_s = (liveql_statements(admin) - st0) / cell.seconds;
        cell.refetch_statements_per_s = (refetch_statements(run.server()) - rf0) / cell.seconds;
        if (cell.pings > 0) cell.us_per_ping = cell.liveql_cpu * 1e6 / cell.pings;
      } catch (const CellError& e) {
        cell.error = e.what();
      }
      std::printf("%s\n", idle_row(cell).c_str());
      std::fflush(stdout);
      idle.push_back(cell);
      write_json(opt.json_path, opt, max_n, cells, idle);
    }
  }

  std::printf("\n%s\n", kCellHeader);
  for (const auto& c : cells) std::printf("%s\n", cell_row(c).c_str());
  if (!idle.empty()) {
    std::printf("\n%s\n", kIdleHeader);
    for (const auto& c : idle) std::printf("%s\n", idle_row(c).c_str());
  }
  if (const auto pairs = pair_up(cells); !pairs.empty()) {
    std::printf("\n%s\n", kPairsHeader);
    for (const auto& p : pairs) std::printf("%s\n", pairs_row(p).c_str());
  }
  std::printf("\n%.1f minutes; JSON in %s\n", static_cast<double>(now_ns() - started) / 60e9,
              opt.json_path.c_str());
  fs::remove_all(work);
  return 0;
}
