// Startup steps that need the database: read the catalog through the pool and build the
// GraphQL schema from it and the metadata. Runs on the io_context thread (app.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>

#include "liveql/base/result.hpp"
#include "liveql/compiler/compile.hpp"

namespace liveql::live {
class PgPool;
}

namespace liveql::server {

struct LoadedSchema {
  catalog::Catalog catalog;
  std::shared_ptr<const compiler::Schema> schema;
};

// Errors: kPostgresError "cannot read the database catalog: ..." when the database is
// unreachable; the compiler's errors (prefixed "metadata: ") when metadata and catalog disagree.
boost::asio::awaitable<Result<LoadedSchema>> load_schema(
    live::PgPool& pool, const metadata::Metadata& metadata,
    const compiler::SchemaOptions& options = {});

}  // namespace liveql::server
