// The server's threads (--threads): the core and the I/O threads.
//
//  - The core: one io_context on its own thread (main's). It owns live::LiveQueries, PgPool,
//    ChangeFeed (and the replication stream), the signal handler, the listener and every
//    statement. Nothing else calls into them: sessions post to App::core.
//  - I/O threads: `threads` io_contexts, one thread each (one dispatcher per thread). An accepted
//    connection is given to one of them (round robin) and its session — read, parse, auth,
//    compile, serialize, write, timers — stays on that thread for its whole life, so a session
//    needs no lock. With threads == 1 there is no I/O thread: sessions run on the core's
//    io_context (everything on one thread, as before).
//
// Crossings: session -> core by asio::post/dispatch to App::core (subscribe, unsubscribe, and
// co_spawn of statements, whose results come back to the session's executor); core -> session
// for pushes through the session thread's PushInbox (one post per burst, not per push).
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/live/live_queries.hpp"

namespace liveql::server {

// A session that receives pushes through a PushInbox (websocket_session.cpp).
class PushReceiver {
 public:
  virtual ~PushReceiver() = default;
  // On the receiver's I/O thread. `subscription` is what the receiver gave with the push. Within
  // one burst the receiver should only queue: end_of_pushes() follows, once per receiver and
  // burst, to write what it queued (several results of one session in one write).
  virtual void receive_push(const std::shared_ptr<void>& subscription,
                            Result<live::LiveQueries::ResultText> result) = 0;
  virtual void end_of_pushes() = 0;

 private:
  friend class PushInbox;
  bool in_burst_ = false;  // I/O thread only: listed in the inbox's current burst
};

// Pushes for the sessions of one I/O thread. post() is called on the core; the pushes are
// delivered on the I/O thread in the order they were posted. A burst of pushes (one refetch
// fanning out to thousands of sessions) costs one wake-up of the I/O thread, not one per push.
class PushInbox {
 public:
  explicit PushInbox(boost::asio::io_context::executor_type ex) : ex_(ex) {}

  // Any thread.
  void post(std::weak_ptr<PushReceiver> receiver, std::shared_ptr<void> subscription,
            Result<live::LiveQueries::ResultText> result);

 private:
  struct Item {
    std::weak_ptr<PushReceiver> receiver;
    std::shared_ptr<void> subscription;
    Result<live::LiveQueries::ResultText> result;
  };
  void drain();  // on the I/O thread

  boost::asio::io_context::executor_type ex_;
  std::mutex mutex_;
  std::vector<Item> items_;                           // guarded by mutex_
  bool wake_posted_ = false;                          // guarded by mutex_
  std::vector<Item> draining_;                        // I/O thread only
  std::vector<std::shared_ptr<PushReceiver>> burst_;  // I/O thread only: receivers of a drain
};

// Sends every registered session its keep-alive once per period, from one timer per I/O
// thread (not one timer and coroutine wake-up per connection). The timer ticks kSlices times
// per period and each tick keeps the next slice of the clients alive (a round-robin cursor):
// at 10,000 sessions a thread writes a few hundred keep-alives at a time, not all of them in one
// burst that every push queued behind it would wait out. I/O thread only. Holds its clients
// weakly: a destroyed client drops out when the cursor reaches it.
class KeepaliveTicker {
 public:
  class Client {
   public:
    virtual ~Client() = default;
    // Queues the keep-alive.
    virtual void on_keepalive() = 0;
  };

  KeepaliveTicker(boost::asio::io_context::executor_type ex, std::chrono::seconds period)
      : timer_(ex), period_(period) {}

  static constexpr int kSlices = 50;

  // A client gets its first keep-alive within one period, then one per period until it is
  // destroyed. The timer runs only while there are clients.
  void add(std::weak_ptr<Client> client);
  std::size_t size() const { return clients_.size(); }

 private:
  void arm();
  void tick();

  boost::asio::steady_timer timer_;
  std::chrono::seconds period_;
  std::vector<std::weak_ptr<Client>> clients_;
  std::size_t cursor_ = 0;  // the next client to keep alive
  bool armed_ = false;
};

// One I/O thread's io_context and the per-thread helpers of its sessions.
class IoThread {
 public:
  IoThread(boost::asio::io_context& context, bool is_core, std::chrono::seconds keepalive)
      : context_(context),
        is_core_(is_core),
        inbox_(context.get_executor()),
        keepalive_(context.get_executor(), keepalive) {}

  boost::asio::io_context& context() { return context_; }
  boost::asio::io_context::executor_type executor() { return context_.get_executor(); }
  // True when this is the core's io_context (--threads 1): pushes are then delivered directly.
  bool is_core() const { return is_core_; }
  PushInbox& inbox() { return inbox_; }
  KeepaliveTicker& keepalive() { return keepalive_; }

 private:
  boost::asio::io_context& context_;
  bool is_core_;
  PushInbox inbox_;
  KeepaliveTicker keepalive_;
};

// The core's io_context and the I/O threads. Owned by main, declared before everything that
// uses an executor. Destruction order (after stop() and join()): the per-thread helpers, then
// the core's io_context (its pending handlers may still hold session objects of I/O threads),
// then the I/O threads' io_contexts.
class IoThreads {
 public:
  // threads == 1: no I/O thread; next() is the core.
  IoThreads(std::size_t threads, std::chrono::seconds keepalive);
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  // The core's io_context: run by main's thread.
  boost::asio::io_context& core() { return *core_; }
  // Starts the I/O threads (none when threads == 1).
  void start();
  // Round robin over the I/O threads (the core with threads == 1). Any thread.
  IoThread& next();
  // Makes every I/O thread's run() return; join() waits for them. Idempotent.
  void stop();
  void join();
  std::size_t size() const { return threads_; }

 private:
  std::size_t threads_;
  std::unique_ptr<boost::asio::io_context> core_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::unique_ptr<IoThread>> io_;
  std::vector<std::thread> running_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace liveql::server
