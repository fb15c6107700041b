// Hasura's (Aeson's) wording for a JSON value of the wrong kind, shared by the value checks that
// answer as Hasura's parsers do (PostGIS GeoJSON, ltree paths).
#pragma once

#include <fmt/format.h>

#include <boost/json/value.hpp>
#include <string>

#include "liveql/base/result.hpp"

namespace liveql::compiler::detail {

// Aeson's name for a JSON value's kind.
inline const char* aeson_kind_name(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "Null";
    case boost::json::kind::bool_:
      return "Boolean";
    case boost::json::kind::string:
      return "String";
    case boost::json::kind::array:
      return "Array";
    case boost::json::kind::object:
      return "Object";
    default:
      return "Number";
  }
}

// kParseFailed "parsing <what> failed, expected <kind>, but encountered <v's kind>" at `path`.
inline Error aeson_expected(const char* what, const char* kind, const boost::json::value& v,
                            const std::string& path) {
  return make_error(ErrorCode::kParseFailed,
                    fmt::format("parsing {} failed, expected {}, but encountered {}", what, kind,
                                aeson_kind_name(v)),
                    path);
}

}  // namespace liveql::compiler::detail
