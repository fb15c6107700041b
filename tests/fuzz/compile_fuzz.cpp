// GraphQL front end: lexer, parser, validation, permissions, IR, then SQL and dependencies for
// every operation that compiles. Input: a document, optionally followed by a NUL byte and the
// variables JSON, optionally followed by a NUL byte and the operation name. Each input is
// compiled for an admin, a `user` and an `agent` session against the fixture schema.
//
// Checked: no crash, leak or UB; an error has a message; the generated SQL has balanced
// parentheses and closed quotes (a name that escaped quoting would break that); every parameter
// the dependencies read is a key of the request's vars.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "fuzz_schema.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/sql.hpp"

namespace liveql::fuzz {
namespace {

// Parentheses balance outside quoted text; '...' (with '' and, after E, backslash escapes) and
// "..." (with "") are closed.
void check_sql_shape(const std::string& sql) {
  long depth = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      LIVEQL_FUZZ_CHECK(--depth >= 0, sql);
    } else if (c == '\'' || c == '"') {
      bool escapes = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e');
      size_t j = i + 1;
      for (;; ++j) {
        LIVEQL_FUZZ_CHECK(j < sql.size(), sql);
        if (escapes && sql[j] == '\\') {
          ++j;
        } else if (sql[j] == c) {
          if (j + 1 < sql.size() && sql[j + 1] == c) {
            ++j;
          } else {
            break;
          }
        }
      }
      i = j;
    }
  }
  LIVEQL_FUZZ_CHECK(depth == 0, sql);
}

void run(const compiler::Schema& schema, const compiler::Request& request,
         const compiler::Session& session) {
  auto compiled = compiler::compile(schema, request, session);
  if (!compiled) {
    LIVEQL_FUZZ_CHECK(!compiled.error().message.empty(), request.query);
    return;
  }
  if (compiled->static_data) return;
  if (compiled->type == gql::OperationType::kMutation) return;
  check_sql_shape(sql::single_query(compiled->ir));
  check_sql_shape(sql::multiplexed_query(compiled->ir));
  deps::Dependencies d = deps::extract_dependencies(compiled->ir);
  for (const auto& key : d.param_keys) LIVEQL_FUZZ_CHECK(compiled->vars.contains(key), key);
  for (const auto& t : d.tables) LIVEQL_FUZZ_CHECK(!t.table_key.empty(), request.query);
}

}  // namespace
}  // namespace liveql::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liveql;
  const compiler::Schema& schema = fuzz::shop_schema();
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  compiler::Request request;
  request.query = fuzz::split_first(rest, '\0');
  if (size > request.query.size()) {  // a separator follows the document
    std::string_view vars = fuzz::split_first(rest, '\0');
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(vars, ec);
    if (!ec && v.is_object()) request.variables = std::move(v.get_object());
    if (!rest.empty()) request.operation_name = std::string(rest);
  }
  static const compiler::Session kAdmin = fuzz::role_session("admin", "");
  static const compiler::Session kUser = fuzz::role_session("user", "7");
  static const compiler::Session kAgent = fuzz::role_session("agent", "3");
  fuzz::run(schema, request, kAdmin);
  fuzz::run(schema, request, kUser);
  fuzz::run(schema, request, kAgent);
  return 0;
}
