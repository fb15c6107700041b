#include "liveql/replication/copy_message.hpp"

#include <fmt/format.h>

namespace liveql::replication {
namespace {

uint64_t read_be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

Error bad(std::string message) {
  return make_error(ErrorCode::kPostgresError, "replication stream: " + std::move(message));
}

}  // namespace

Result<CopyMessage> parse_copy_message(std::string_view bytes) {
  if (bytes.empty()) return bad("empty CopyData message");
  const char* p = bytes.data();
  switch (p[0]) {
    case 'w': {
      constexpr size_t kHeader = 1 + 8 + 8 + 8;
      if (bytes.size() < kHeader)
        return bad(fmt::format("short XLogData header ({} bytes)", bytes.size()));
      return CopyMessage(XLogData{read_be64(p + 1), read_be64(p + 9),
                                  static_cast<int64_t>(read_be64(p + 17)), bytes.substr(kHeader)});
    }
    case 'k': {
      constexpr size_t kSize = 1 + 8 + 8 + 1;
      if (bytes.size() < kSize) return bad(fmt::format("short keepalive ({} bytes)", bytes.size()));
      return CopyMessage(
          Keepalive{read_be64(p + 1), static_cast<int64_t>(read_be64(p + 9)), p[17] != 0});
    }
    default:
      return bad(fmt::format("unknown CopyData message type {}",
                             static_cast<int>(static_cast<unsigned char>(p[0]))));
  }
}

}  // namespace liveql::replication
