// Boolean expressions (JSON, as in `where` after coercion and in permission filters) -> IR,
// with every value lifted into a Param.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "schema/schema.hpp"

namespace liveql::compiler {

// Allocates params "p0", "p1", ... in call order and stores their values in vars.
class ParamSink {
 public:
  explicit ParamSink(boost::json::object& vars) : vars_(vars) {}
  ParamSink(boost::json::object& vars, ParamOrigins* origins) : vars_(vars), origins_(origins) {}
  ir::Param add(boost::json::value value, std::string pg_type, bool is_list = false);
  // Record where an added param's value came from (ParamOrigins), when origins are kept.
  void from_query(const ir::Param& p);
  void from_session(const ir::Param& p, const std::string& name);

 private:
  boost::json::object& vars_;
  size_t next_ = 0;
  ParamOrigins* origins_ = nullptr;
};

struct FilterContext {
  const Schema& schema;
  // User `where`: names are the role's GraphQL names, and every relationship step ANDs in the
  // target table's permission filter. Null: a permission filter (Postgres or GraphQL names, no
  // nested permissions, `_exists` allowed, "X-Hasura-*" strings are session variables).
  const RoleSchema* role = nullptr;
  const Session* session = nullptr;  // null only when checking a permission filter
  ParamSink* params = nullptr;       // null only when checking a permission filter
};

// `value` must be an object (a <table>_bool_exp). Errors name `path`.
Result<ir::BoolExpPtr> bool_exp(const FilterContext& ctx, size_t table,
                                const boost::json::value& value, const std::string& path);

// The role's permission filter on a table, instantiated for a session; null when none applies.
Result<ir::BoolExpPtr> permission_filter(const Schema& schema, const RoleSchema& role, size_t table,
                                         const Session& session, ParamSink& params);

// Checks a permission filter at schema build time (columns, relationships, operators).
Status check_permission_filter(const Schema& schema, size_t table,
                               const boost::json::value& filter);

ir::BoolExpPtr and_exp(ir::BoolExpPtr a, ir::BoolExpPtr b);

// The condition under which an inherited role sees `column` of a row (Permission::
// column_filters), instantiated for a session; null when the column shows in every row.
Result<ir::BoolExpPtr> column_filter(const Schema& schema, const RoleSchema& role, size_t table,
                                     const std::string& column, const Session& session,
                                     ParamSink& params);

// The scalar a `_cast` from `scalar` names (geometry <-> geography, jsonb -> String); empty when
// the scalar has no _cast.
std::string cast_target(const std::string& scalar);

// A session variable's value where a list is expected (`_in`, `_nin`, `_has_keys_*`): PostgreSQL
// array syntax as Hasura reads it (`{1,2}`, `{"a b",c}`, unquoted NULL is null), or a JSON
// array (`[1, 2]`). Elements are strings (null for NULL); the statement casts them.
// std::nullopt when the text is neither.
std::optional<boost::json::array> session_array(std::string_view text);

}  // namespace liveql::compiler
