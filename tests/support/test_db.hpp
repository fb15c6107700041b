// Test support: the throwaway PostgreSQL started by the `pg` ctest fixture (tools/pg.sh), and a
// fresh database per test suite. Blocking libpq is fine here: tests are not the event loop.
#pragma once

#include <string>
#include <vector>

namespace liveql::test {

// URL of the fixture's cluster (database liveql_test). Skips nothing: fails loudly when the
// fixture is not running. LIVEQL_TEST_DATABASE_URL overrides.
std::string cluster_url();

// URL of `name` on the fixture's cluster.
std::string database_url(const std::string& name);

// Drops (terminating its connections and replication slots) and recreates database `name`,
// then runs `setup_sql` in it. Returns its URL.
std::string fresh_database(const std::string& name, const std::string& setup_sql = "");

// Runs SQL (possibly several statements) on a database URL; throws std::runtime_error on error.
void exec(const std::string& url, const std::string& sql);

// Runs one query and returns rows of text values (NULL as "\\N").
std::vector<std::vector<std::string>> query(const std::string& url, const std::string& sql);

// Path of a file under the source tree.
std::string source_path(const std::string& relative);

}  // namespace liveql::test
