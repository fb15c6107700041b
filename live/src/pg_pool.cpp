#include "liveql/live/pg_pool.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>

namespace liveql::live {

namespace asio = boost::asio;
using asio::posix::descriptor_base;

int QueryResult::column_index(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr const char* kApplicationName = "liveql";
constexpr std::string_view kConnectionLost = "database connection failed: ";

Error pg_error(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return make_error(ErrorCode::kPostgresError, std::move(message));
}

// One libpq connection. `socket` watches a dup of PQsocket() so that closing it never closes
// libpq's own descriptor (PQfinish does that).
struct Conn {
  PGconn* pg = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> socket;

  ~Conn() {
    socket.reset();
    if (pg != nullptr) PQfinish(pg);
  }
  bool healthy() const {
    return pg != nullptr && socket != nullptr && PQstatus(pg) == CONNECTION_OK &&
           PQtransactionStatus(pg) == PQTRANS_IDLE;
  }
};

// A descriptor on a fresh dup of `fd`. Registering a descriptor reports its current readiness,
// so a wait on a fresh one never misses an edge that happened earlier.
Result<std::unique_ptr<asio::posix::stream_descriptor>> watch(asio::any_io_executor ex, int fd) {
  if (fd < 0) return pg_error("connection has no socket");
  int copy = ::dup(fd);
  if (copy < 0) return pg_error("dup() of the connection socket failed");
  auto sd = std::make_unique<asio::posix::stream_descriptor>(ex);
  boost::system::error_code ec;
  sd->assign(copy, ec);
  if (ec) {
    ::close(copy);
    return pg_error("cannot watch the connection socket: " + ec.message());
  }
  return sd;
}

// Whether `fd` is ready now. Asio's reactor is edge-triggered: bytes libpq left in the kernel
// buffer (PQconsumeInput reads at most its buffer's free space) raise no new edge, and a wait
// for writability on a socket already writable may never complete. So look before waiting.
bool ready_now(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, 0) > 0;
}

// An idle connection has nothing to read: readable means the server sent an error (e.g.
// "terminating connection due to administrator command") and/or closed it. Consuming the input
// tells which; a connection that is still OK (a notice arrived) is kept.
// libpq takes an idle connection's FATAL message as a notice and sees the EOF only on a later
// read, so read while the socket stays readable (a few rounds at most).
bool still_alive(Conn& conn) {
  for (int round = 0; round < 8; ++round) {
    if (PQstatus(conn.pg) != CONNECTION_OK) return false;
    if (!ready_now(PQsocket(conn.pg), POLLIN)) break;
    if (PQconsumeInput(conn.pg) == 0) return false;
  }
  while (PGnotify* n = PQnotifies(conn.pg)) PQfreemem(n);
  return PQstatus(conn.pg) == CONNECTION_OK && PQisBusy(conn.pg) == 0 &&
         PQtransactionStatus(conn.pg) == PQTRANS_IDLE;
}

// The connection itself failed (as opposed to the statement): SQLSTATE class 08 (connection
// exception), 57P01-57P03 (terminated, crash shutdown, cannot connect now).
bool connection_sqlstate(const char* state) {
  if (state == nullptr) return false;
  std::string_view s(state);
  return s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03";
}

Error lost(std::string message) {
  return pg_error(std::string(kConnectionLost) + std::move(message));
}

}  // namespace

bool PgPool::connection_lost(const Error& error) {
  return error.code == ErrorCode::kPostgresError &&
         std::string_view(error.message).starts_with(kConnectionLost);
}

struct PgPool::Impl {
  struct Waiter {
    explicit Waiter(asio::any_io_executor ex) : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    std::unique_ptr<Conn> conn;  // handed over by release()
    bool may_open = false;       // a slot was freed: open a new connection
    bool failed = false;         // the pool closed
  };

  asio::any_io_executor ex;
  std::string conninfo;
  std::size_t size;
  std::vector<std::unique_ptr<Conn>> idle;
  std::size_t open = 0;
  std::size_t in_use = 0;
  std::deque<std::shared_ptr<Waiter>> waiters;
  bool closed = false;

  asio::awaitable<Result<std::unique_ptr<Conn>>> connect();
  asio::awaitable<Result<std::unique_ptr<Conn>>> acquire();
  void release(std::unique_ptr<Conn> conn);
  void slot_freed();
  asio::awaitable<Result<QueryResult>> run(Conn& conn, const std::string& sql,
                                           const std::vector<std::optional<std::string>>& params);
};

asio::awaitable<Result<std::unique_ptr<Conn>>> PgPool::Impl::connect() {
  auto conn = std::make_unique<Conn>();
  // The conninfo's own application_name wins; otherwise operators (and tests) can tell the
  // query pool ("liveql") from the replication connection ("liveql-replication").
  const char* const keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* const values[] = {conninfo.c_str(), kApplicationName, nullptr};
  conn->pg = PQconnectStartParams(keys, values, 1);
  if (conn->pg == nullptr) co_return pg_error("out of memory opening a connection");
  if (PQstatus(conn->pg) == CONNECTION_BAD) co_return lost(PQerrorMessage(conn->pg));
  // PQconnectPoll may switch sockets (several hosts, SSL retry): watch a fresh dup each round.
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) co_return lost(PQerrorMessage(conn->pg));
    auto sd = watch(ex, PQsocket(conn->pg));
    if (!sd.ok()) co_return sd.take_error();
    auto [ec] = co_await (*sd)->async_wait(
        st == PGRES_POLLING_READING ? descriptor_base::wait_read : descriptor_base::wait_write,
        kTuple);
    if (ec) co_return pg_error("waiting for the connection failed: " + ec.message());
    st = PQconnectPoll(conn->pg);
  }
  if (PQsetnonblocking(conn->pg, 1) != 0) co_return pg_error(PQerrorMessage(conn->pg));
  auto sd = watch(ex, PQsocket(conn->pg));
  if (!sd.ok()) co_return sd.take_error();
  conn->socket = std::move(sd).value();
  co_return std::move(conn);
}

asio::awaitable<Result<std::unique_ptr<Conn>>> PgPool::Impl::acquire() {
  if (closed) co_return pg_error("connection pool closed");
  while (!idle.empty()) {
    auto conn = std::move(idle.back());
    idle.pop_back();
    if (!still_alive(*conn)) {  // terminated or the server restarted while it sat idle
      --open;
      continue;
    }
    ++in_use;
    co_return std::move(conn);
  }
  if (open >= size) {
    auto waiter = std::make_shared<Waiter>(ex);
    waiters.push_back(waiter);
    co_await waiter->timer.async_wait(kTuple);
    if (waiter->conn) co_return std::move(waiter->conn);
    if (!waiter->may_open) {
      // Woken without a grant: only close() does that (it removed us from the queue).
      co_return pg_error("connection pool closed");
    }
    // slot_freed() already counted the slot as open and in use for us.
  } else {
    ++open;
    ++in_use;
  }
  auto conn = co_await connect();
  if (!conn.ok()) {
    --open;
    --in_use;
    slot_freed();
  }
  co_return conn;
}

void PgPool::Impl::slot_freed() {
  while (!closed && open < size && !waiters.empty()) {
    auto waiter = std::move(waiters.front());
    waiters.pop_front();
    waiter->may_open = true;
    ++open;
    ++in_use;
    waiter->timer.cancel();
  }
}

void PgPool::Impl::release(std::unique_ptr<Conn> conn) {
  --in_use;
  if (closed || !conn->healthy()) {
    conn.reset();
    --open;
    slot_freed();
    return;
  }
  if (!waiters.empty()) {
    auto waiter = std::move(waiters.front());
    waiters.pop_front();
    waiter->conn = std::move(conn);
    ++in_use;
    waiter->timer.cancel();
    return;
  }
  idle.push_back(std::move(conn));
}

asio::awaitable<Result<QueryResult>> PgPool::Impl::run(
    Conn& conn, const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (PQsendQueryParams(conn.pg, sql.c_str(), static_cast<int>(values.size()), nullptr,
                        values.data(), nullptr, nullptr, 0) == 0) {
    co_return pg_error(PQerrorMessage(conn.pg));
  }
  for (;;) {
    int flushed = PQflush(conn.pg);
    if (flushed < 0) co_return pg_error(PQerrorMessage(conn.pg));
    if (flushed == 0) break;
    if (!ready_now(PQsocket(conn.pg), POLLOUT | POLLIN)) {
      auto [ec] = co_await conn.socket->async_wait(descriptor_base::wait_write, kTuple);
      if (ec) co_return pg_error("connection wait failed: " + ec.message());
    }
    if (PQconsumeInput(conn.pg) == 0) co_return pg_error(PQerrorMessage(conn.pg));
  }

  std::optional<QueryResult> out;
  std::optional<Error> error;
  for (;;) {
    // Read before waiting: bytes (or EOF) that arrived earlier raised no new edge.
    if (PQconsumeInput(conn.pg) == 0) co_return pg_error(PQerrorMessage(conn.pg));
    if (PQisBusy(conn.pg) != 0) {
      if (ready_now(PQsocket(conn.pg), POLLIN)) continue;
      auto [ec] = co_await conn.socket->async_wait(descriptor_base::wait_read, kTuple);
      if (ec) co_return pg_error("connection wait failed: " + ec.message());
      continue;
    }
    PGresult* res = PQgetResult(conn.pg);
    if (res == nullptr) break;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      if (!out && !error) {
        QueryResult qr;
        int ncols = PQnfields(res);
        int nrows = PQntuples(res);
        qr.columns.reserve(ncols);
        for (int c = 0; c < ncols; ++c) qr.columns.emplace_back(PQfname(res, c));
        qr.rows.resize(nrows);
        for (int r = 0; r < nrows; ++r) {
          auto& row = qr.rows[r];
          row.reserve(ncols);
          for (int c = 0; c < ncols; ++c) {
            if (PQgetisnull(res, r, c)) {
              row.emplace_back(std::nullopt);
            } else {
              row.emplace_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
            }
          }
        }
        out = std::move(qr);
      }
    } else if (!error) {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
      std::string message = primary != nullptr ? primary : PQresultErrorMessage(res);
      if (message.empty()) message = PQerrorMessage(conn.pg);
      bool data = state != nullptr && state[0] == '2' && state[1] == '2';
      if (data) {
        error = make_error(ErrorCode::kDataException, message);
      } else {
        error = connection_sqlstate(state) ? lost(message) : pg_error(message);
      }
    }
    PQclear(res);
  }
  if (error) co_return std::move(*error);
  if (!out) co_return pg_error("statement returned no result");
  co_return std::move(*out);
}

PgPool::PgPool(asio::any_io_executor ex, std::string conninfo, std::size_t size)
    : impl_(std::make_shared<Impl>()) {
  impl_->ex = std::move(ex);
  impl_->conninfo = std::move(conninfo);
  impl_->size = size == 0 ? 1 : size;
}

PgPool::~PgPool() { close(); }

asio::awaitable<Result<QueryResult>> PgPool::query(std::string sql,
                                                   std::vector<std::optional<std::string>> params) {
  auto impl = impl_;  // keeps the pool state alive across suspensions
  auto conn = co_await impl->acquire();
  if (!conn.ok()) co_return conn.take_error();
  auto result = co_await impl->run(**conn, sql, params);
  if (!result.ok() && !connection_lost(result.error()) && PQstatus((*conn)->pg) != CONNECTION_OK) {
    result = lost(result.error().message);
  }
  impl->release(std::move(conn).value());
  co_return result;
}

std::size_t PgPool::size() const { return impl_->size; }
std::size_t PgPool::open() const { return impl_->open; }
std::size_t PgPool::in_use() const { return impl_->in_use; }
std::size_t PgPool::waiting() const { return impl_->waiters.size(); }

void PgPool::close() {
  if (impl_->closed) return;
  impl_->closed = true;
  impl_->open -= impl_->idle.size();
  impl_->idle.clear();
  auto waiters = std::move(impl_->waiters);
  impl_->waiters.clear();
  for (auto& w : waiters) {
    w->failed = true;
    w->timer.cancel();
  }
}

}  // namespace liveql::live
