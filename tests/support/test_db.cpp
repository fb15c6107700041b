#include "support/test_db.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace liveql::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string s;
  std::getline(in, s);
  return s;
}

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

Conn connect(const std::string& url) {
  Conn c(PQconnectdb(url.c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error(fmt::format("connect {}: {}", url, PQerrorMessage(c.get())));
  return c;
}

std::string replace_dbname(const std::string& url, const std::string& name) {
  auto slash = url.rfind('/');
  auto q = url.find('?', slash);
  return url.substr(0, slash + 1) + name + (q == std::string::npos ? "" : url.substr(q));
}

}  // namespace

std::string cluster_url() {
  if (const char* u = std::getenv("LIVEQL_TEST_DATABASE_URL")) return u;
  const char* dir = std::getenv("LIVEQL_TEST_PGDIR");
  if (!dir) throw std::runtime_error("LIVEQL_TEST_PGDIR is not set: run the test through ctest");
  return read_file(std::string(dir) + "/url");
}

std::string database_url(const std::string& name) { return replace_dbname(cluster_url(), name); }

void exec(const std::string& url, const std::string& sql) {
  auto c = connect(url);
  PGresult* r = PQexec(c.get(), sql.c_str());
  auto st = PQresultStatus(r);
  std::string err = PQresultErrorMessage(r);
  PQclear(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
    throw std::runtime_error(fmt::format("sql failed: {}\n{}", err, sql));
}

std::vector<std::vector<std::string>> query(const std::string& url, const std::string& sql) {
  auto c = connect(url);
  PGresult* r = PQexec(c.get(), sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error(fmt::format("query failed: {}\n{}", err, sql));
  }
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < PQntuples(r); ++i) {
    std::vector<std::string> row;
    for (int j = 0; j < PQnfields(r); ++j)
      row.push_back(PQgetisnull(r, i, j) ? "\\N" : PQgetvalue(r, i, j));
    rows.push_back(std::move(row));
  }
  PQclear(r);
  return rows;
}

std::string fresh_database(const std::string& name, const std::string& setup_sql) {
  const std::string admin = database_url("postgres");
  exec(admin,
       fmt::format("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                   "where database = '{0}' and not active; "
                   "select pg_terminate_backend(pid) from pg_stat_activity where datname = '{0}' "
                   "and pid <> pg_backend_pid();",
                   name));
  exec(admin, fmt::format("drop database if exists \"{}\" with (force)", name));
  exec(admin, fmt::format("create database \"{}\"", name));
  std::string url = database_url(name);
  if (!setup_sql.empty()) exec(url, setup_sql);
  return url;
}

std::string source_path(const std::string& relative) {
  return std::string(LIVEQL_SOURCE_DIR) + "/" + relative;
}

}  // namespace liveql::test
