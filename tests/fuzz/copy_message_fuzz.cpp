// The replication protocol's CopyData messages. Input: one message as the server sends it.
// A parsed XLogData's payload is then decoded as wal2json, as the stream does.
//
// Checked: no crash, leak or UB; the payload lies inside the message (no read past its end).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_check.hpp"
#include "liveql/replication/copy_message.hpp"
#include "liveql/replication/wal2json_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liveql;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto message = replication::parse_copy_message(bytes);
  if (!message) return 0;
  if (const auto* x = std::get_if<replication::XLogData>(&*message)) {
    LIVEQL_FUZZ_CHECK(x->payload.empty() ||
                          (x->payload.data() >= bytes.data() &&
                           x->payload.data() + x->payload.size() <= bytes.data() + bytes.size()),
                      "XLogData payload outside the message");
    replication::Wal2JsonDecoder decoder;
    std::vector<Transaction> committed;
    (void)decoder.feed(x->payload, committed);
  }
  return 0;
}
