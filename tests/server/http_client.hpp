// Test support for the e2e HTTP tests: a blocking HTTP/1.1 client over a real socket (Beast),
// and a child `liveql` process whose output is read with deadlines (never fixed sleeps).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace liveql::test {

struct HttpReply {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names
  bool keep_alive = false;
};

// One keep-alive connection to 127.0.0.1:port. Throws std::runtime_error on socket errors.
class HttpClient {
 public:
  explicit HttpClient(unsigned short port);
  ~HttpClient();
  HttpReply request(const std::string& method, const std::string& target,
                    const std::string& body = "",
                    const std::map<std::string, std::string>& headers = {});
  HttpReply post(const std::string& target, const std::string& body,
                 const std::map<std::string, std::string>& headers = {}) {
    return request("POST", target, body, headers);
  }
  // Whether the server closed the connection (reads EOF without blocking long).
  bool closed_by_peer();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A child process with stdout and stderr captured together.
class ChildProcess {
 public:
  ChildProcess(const std::string& exe, const std::vector<std::string>& args);
  ~ChildProcess();  // SIGKILL if still running
  // Reads output until a line contains `needle`; returns that line or nullopt at the deadline
  // or when the process exits first.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);
  // Waits for exit; the exit code, or nullopt at the deadline. Collects remaining output.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  void signal(int sig);
  const std::string& output() const { return output_; }

 private:
  bool read_some(std::chrono::milliseconds timeout);
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;
  size_t scanned_ = 0;
  std::optional<int> exit_code_;
};

// HS256 JWT over `payload_json` with `key`.
std::string sign_hs256(const std::string& payload_json, const std::string& key);

}  // namespace liveql::test
