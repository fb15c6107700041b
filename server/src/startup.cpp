#include "startup.hpp"

#include "liveql/compiler/enum_tables.hpp"
#include "liveql/live/pg_pool.hpp"

namespace liveql::server {

boost::asio::awaitable<Result<LoadedSchema>> load_schema(live::PgPool& pool,
                                                         const metadata::Metadata& metadata,
                                                         const compiler::SchemaOptions& options) {
  auto rows = co_await pool.query(std::string(catalog::catalog_query()),
                                  std::vector<std::optional<std::string>>());
  if (!rows) {
    Error e = rows.take_error();
    e.message = "cannot read the database catalog: " + e.message;
    co_return e;
  }
  if (rows->rows.size() != 1 || rows->rows[0].empty() || !rows->rows[0][0]) {
    co_return make_error(ErrorCode::kUnexpected, "the catalog query returned no document");
  }
  auto catalog = catalog::parse_catalog(*rows->rows[0][0]);
  if (!catalog) {
    Error e = catalog.take_error();
    e.message = "cannot parse the database catalog: " + e.message;
    co_return e;
  }
  // Enum tables' rows are part of the schema: read once here, so a change needs a restart.
  if (std::string enums = compiler::enum_values_query(*catalog, metadata); !enums.empty()) {
    auto values = co_await pool.query(enums, std::vector<std::optional<std::string>>());
    if (!values) {
      Error e = values.take_error();
      e.message = "cannot read the enum tables: " + e.message;
      co_return e;
    }
    if (values->rows.size() != 1 || values->rows[0].empty() || !values->rows[0][0])
      co_return make_error(ErrorCode::kUnexpected, "the enum tables query returned no document");
    if (auto s = compiler::add_enum_values(*values->rows[0][0], metadata, *catalog); !s) {
      co_return s.take_error();
    }
  }
  auto schema = compiler::build_schema(*catalog, metadata, options);
  if (!schema) {
    Error e = schema.take_error();
    e.message = "metadata: " + e.message;
    co_return e;
  }
  co_return LoadedSchema{std::move(*catalog), std::move(*schema)};
}

}  // namespace liveql::server
