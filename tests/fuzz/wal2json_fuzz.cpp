// The wal2json format-version 2 decoder. Input: payloads separated by NUL bytes, fed in order to
// one decoder, as XLogData messages would be; an empty payload (two NULs) is a reconnect and
// resets the decoder.
//
// Checked: no crash, leak or UB; after an error the decoder holds no partial transaction (the
// contract lets the caller resume after a reconnect); committed LSNs print and parse back.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "liveql/base/row_change.hpp"
#include "liveql/replication/wal2json_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liveql;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  replication::Wal2JsonDecoder decoder;
  std::vector<Transaction> committed;
  while (!rest.empty()) {
    std::string_view payload = fuzz::split_first(rest, '\0');
    if (payload.empty()) {
      decoder.reset();
      LIVEQL_FUZZ_CHECK(!decoder.in_transaction(), "reset");
      continue;
    }
    Status s = decoder.feed(payload, committed);
    if (!s) LIVEQL_FUZZ_CHECK(!decoder.in_transaction(), payload);
  }
  for (const auto& t : committed) {
    for (Lsn lsn : {t.commit_lsn, t.end_lsn}) {
      auto back = parse_lsn(format_lsn(lsn));
      LIVEQL_FUZZ_CHECK(back && *back == lsn, format_lsn(lsn));
    }
  }
  return 0;
}
