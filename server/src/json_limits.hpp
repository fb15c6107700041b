// JSON read from clients (HTTP bodies, websocket messages) and how deep it may nest.
//
// Boost.JSON's default (32 levels) refuses ordinary Hasura filters passed as variables:
// `{"_and": [{...}]}` costs two levels per step, plus three for the body, `variables` and the
// variable itself, so a 15-step filter was already too deep. kMaxJsonDepth = 512 accepts 254
// list-form or 509 object-form steps (GraphQL documents allow 64, see gql::ParseLimits), and
// memory stays bounded by the body and frame limits: the parser keeps one small frame per
// level on the heap, never on the stack.
//
// Header-only and pure; usable from any thread.
#pragma once

#include <boost/json/error.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "liveql/base/result.hpp"

namespace liveql::server {

inline constexpr std::size_t kMaxJsonDepth = 512;

// Why `text` is not acceptable JSON, in words a client can act on.
inline std::string json_error_reason(const boost::system::error_code& ec) {
  if (ec == boost::json::error::too_deep) {
    return "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
  }
  return ec.message();
}

// Parses client JSON. Error: kInvalidJson, path "$",
// "Error in $: Failed reading: not a valid json value (<reason>)" (Hasura's wording).
[[nodiscard]] inline Result<boost::json::value> parse_client_json(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, options);
  if (ec) {
    return make_error(
        ErrorCode::kInvalidJson,
        "Error in $: Failed reading: not a valid json value (" + json_error_reason(ec) + ")");
  }
  return v;
}

}  // namespace liveql::server
