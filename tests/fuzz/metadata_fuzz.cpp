// Hasura metadata text (metadata::parse_metadata / parse_table: what the server's metadata
// loader hands over once it has read the files and resolved the !includes), JSON or YAML.
// Metadata that parses is built into a schema against the fixture catalog, and each of its
// roles compiles a query over every root field, so permissions reach the IR and the SQL.
//
// Checked: no crash, leak or UB (yaml-cpp's own, too); errors carry a message and a path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "fuzz_schema.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/compiler/sql.hpp"

namespace liveql::fuzz {
namespace {

constexpr std::string_view kQuery = R"({
  users { id name orders(where: {total: {_gt: 1}}) { id items { name } } }
  orders_aggregate { aggregate { count } }
  labels { title }
  __typename
})";

void build_and_compile(const metadata::Metadata& md) {
  static const catalog::Catalog kCatalog = shop_catalog();
  auto schema = compiler::build_schema(kCatalog, md);
  if (!schema) {
    LIVEQL_FUZZ_CHECK(!schema.error().message.empty(), "build_schema");
    return;
  }
  for (const auto& t : md.tables) (void)compiler::table_live_mode(**schema, t.table);
  for (const auto& role : compiler::schema_roles(**schema)) {
    compiler::Request request;
    request.query = kQuery;
    auto op = compiler::compile(**schema, request, role_session(role, "7"));
    if (op && !op->static_data) (void)sql::single_query(op->ir);
  }
}

}  // namespace
}  // namespace liveql::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liveql;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto whole = metadata::parse_metadata(text);
  if (whole) {
    fuzz::build_and_compile(*whole);
  } else {
    LIVEQL_FUZZ_CHECK(!whole.error().message.empty(), text);
    LIVEQL_FUZZ_CHECK(whole.error().path.starts_with("$"), whole.error().path);
  }
  auto table = metadata::parse_table(text);
  if (table) {
    metadata::Metadata one;
    one.tables.push_back(std::move(*table));
    fuzz::build_and_compile(one);
  } else {
    LIVEQL_FUZZ_CHECK(!table.error().message.empty(), text);
  }
  return 0;
}
