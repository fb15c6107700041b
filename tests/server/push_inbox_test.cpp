// PushInbox (server/src/io_threads.hpp): pushes posted from another thread arrive on the I/O
// thread in order, and each receiver of a burst gets end_of_pushes() once, after its pushes.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "io_threads.hpp"

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
