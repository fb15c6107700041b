// The I/O threads' helpers (server/src/io_threads.hpp). PushInbox: pushes posted from another
// thread arrive on the I/O thread in order, and each receiver of a burst gets end_of_pushes()
// once, after its pushes. KeepaliveTicker: one keep-alive per client and period, spread over it.
#include "io_threads.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace liveql::server {
namespace {

using Log = std::vector<std::string>;

class Recorder : public PushReceiver {
 public:
  Recorder(std::string name, Log& log) : name_(std::move(name)), log_(log) {}
  void receive_push(const std::shared_ptr<void>&,
                    Result<live::LiveQueries::ResultText> result) override {
    log_.push_back(name_ + ":" + (result ? **result : std::string("error")));
  }
  void end_of_pushes() override { log_.push_back(name_ + ":end"); }

 private:
  std::string name_;
  Log& log_;
};

live::LiveQueries::ResultText text(const char* s) { return std::make_shared<const std::string>(s); }

TEST(PushInbox, ABurstEndsOncePerReceiverAfterItsPushes) {
  boost::asio::io_context io(1);
  PushInbox inbox(io.get_executor());
  Log log;
  auto a = std::make_shared<Recorder>("a", log);
  auto b = std::make_shared<Recorder>("b", log);
  auto gone = std::make_shared<Recorder>("gone", log);
  std::weak_ptr<PushReceiver> weak_gone = gone;
  gone.reset();  // destroyed before its push is delivered: skipped
  std::thread core([&] {
    inbox.post(a, nullptr, text("1"));
    inbox.post(b, nullptr, text("2"));
    inbox.post(weak_gone, nullptr, text("x"));
    inbox.post(a, nullptr, text("3"));
  });
  core.join();
  io.run();
  EXPECT_EQ(log, (Log{"a:1", "b:2", "a:3", "a:end", "b:end"}));

  // The next burst lists its receivers afresh.
  log.clear();
  io.restart();
  inbox.post(b, nullptr, text("4"));
  io.run();
  EXPECT_EQ(log, (Log{"b:4", "b:end"}));
}

}  // namespace
}  // namespace liveql::server

namespace liveql::server {
namespace {

class Counter : public KeepaliveTicker::Client {
 public:
  void on_keepalive() override {
    if (calls++ == 0) first = std::chrono::steady_clock::now();
  }
  int calls = 0;
  std::chrono::steady_clock::time_point first;
};

// Every client gets its keep-alive once per period, but not all in the same tick: 500 clients'
// first keep-alives spread over most of the period (all at once, pushes queued on the thread
// would wait out the whole burst). A destroyed client drops out.
TEST(KeepaliveTicker, EachClientOncePerPeriodSpreadOverThePeriod) {
  boost::asio::io_context io(1);
  KeepaliveTicker ticker(io.get_executor(), std::chrono::seconds(1));
  std::vector<std::shared_ptr<Counter>> clients;
  for (int i = 0; i < 500; ++i) {
    clients.push_back(std::make_shared<Counter>());
    ticker.add(clients.back());
  }
  auto gone = std::make_shared<Counter>();
  ticker.add(gone);
  gone.reset();
  auto all_called = [&] {
    for (const auto& c : clients)
      if (c->calls == 0) return false;
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!all_called() && std::chrono::steady_clock::now() < deadline) io.run_one();
  ASSERT_TRUE(all_called());
  EXPECT_EQ(ticker.size(), 500u);
  auto [earliest, latest] =
      std::minmax_element(clients.begin(), clients.end(),
                          [](const auto& a, const auto& b) { return a->first < b->first; });
  EXPECT_GE((*latest)->first - (*earliest)->first, std::chrono::milliseconds(500));
  for (const auto& c : clients) EXPECT_LE(c->calls, 2);
}

}  // namespace
}  // namespace liveql::server
