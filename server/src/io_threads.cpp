#include "io_threads.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <utility>

namespace liveql::server {

namespace asio = boost::asio;

void PushInbox::post(std::weak_ptr<PushReceiver> receiver, std::shared_ptr<void> subscription,
                     Result<live::LiveQueries::ResultText> result) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    items_.push_back(Item{std::move(receiver), std::move(subscription), std::move(result)});
    if (!wake_posted_) wake = wake_posted_ = true;
  }
  if (wake) asio::post(ex_, [this] { drain(); });
}

void PushInbox::drain() {
  {
    std::lock_guard lock(mutex_);
    draining_.swap(items_);
    wake_posted_ = false;
  }
  for (auto& item : draining_) {
    auto receiver = item.receiver.lock();
    if (!receiver) continue;
    receiver->receive_push(item.subscription, std::move(item.result));
    if (!receiver->in_burst_) {
      receiver->in_burst_ = true;
      burst_.push_back(std::move(receiver));
    }
  }
  draining_.clear();  // keeps its capacity: the next burst allocates nothing
  for (auto& receiver : burst_) {
    receiver->in_burst_ = false;
    receiver->end_of_pushes();
  }
  burst_.clear();
}

void KeepaliveTicker::add(std::weak_ptr<Client> client) {
  clients_.push_back(std::move(client));
  if (!armed_) arm();
}

void KeepaliveTicker::arm() {
  armed_ = true;
  // Ticks keep their period however long a tick's writes take (no drift), but never pile up.
  const auto tick_period =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(period_) / kSlices;
  const auto now = boost::asio::steady_timer::clock_type::now();
  const auto due = timer_.expiry() + tick_period;
  timer_.expires_at(due > now ? due : now + tick_period);
  timer_.async_wait([this](boost::system::error_code ec) {
    armed_ = false;
    if (!ec) tick();
  });
}

void KeepaliveTicker::tick() {
  // A slice: every client once per kSlices ticks. A dead client is replaced by the last one,
  // which is then kept alive now (at worst one extra keep-alive for it this period).
  const std::size_t slice = (clients_.size() + kSlices - 1) / kSlices;
  for (std::size_t done = 0; done < slice && !clients_.empty();) {
    if (cursor_ >= clients_.size()) cursor_ = 0;
    auto client = clients_[cursor_].lock();
    if (!client) {
      clients_[cursor_] = std::move(clients_.back());
      clients_.pop_back();
      continue;
    }
    client->on_keepalive();
    ++cursor_;
    ++done;
  }
  if (!clients_.empty() && !armed_) arm();
}

IoThreads::IoThreads(std::size_t threads, std::chrono::seconds keepalive)
    : threads_(threads == 0 ? 1 : threads), core_(std::make_unique<asio::io_context>(1)) {
  if (threads_ == 1) {
    io_.push_back(std::make_unique<IoThread>(*core_, true, keepalive));
    return;
  }
  for (std::size_t i = 0; i < threads_; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    io_.push_back(std::make_unique<IoThread>(*contexts_.back(), false, keepalive));
  }
}

IoThreads::~IoThreads() {
  stop();
  join();
  io_.clear();
  core_.reset();
  contexts_.clear();
}

void IoThreads::start() {
  if (threads_ == 1) return;
  for (auto& context : contexts_) {
    work_.emplace_back(context->get_executor());
    running_.emplace_back([c = context.get()] {
      try {
        c->run();
      } catch (const std::exception& e) {
        // Handlers never throw (every coroutine's completion handler catches); a bug if so.
        spdlog::critical("I/O thread: uncaught exception: {}", e.what());
        std::abort();
      }
    });
  }
}

IoThread& IoThreads::next() {
  return *io_[next_.fetch_add(1, std::memory_order_relaxed) % io_.size()];
}

void IoThreads::stop() {
  for (auto& context : contexts_) context->stop();
}

void IoThreads::join() {
  for (auto& t : running_)
    if (t.joinable()) t.join();
  running_.clear();
  work_.clear();
}

}  // namespace liveql::server
