#include "liveql/matcher/result_keys.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace liveql::matcher {

Result<ResultKeys> parse_result_keys(std::string_view json_text) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(json_text, ec);
  if (ec) return make_error(ErrorCode::kUnexpected, "result keys are not JSON: " + ec.message());
  if (!doc.is_array()) return make_error(ErrorCode::kUnexpected, "result keys: expected an array");
  ResultKeys keys;
  const auto& entries = doc.get_array();
  keys.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string path = "$[" + std::to_string(i) + "]";
    const auto* entry = entries[i].if_array();
    if (!entry || entry->size() != 3 || !(*entry)[0].is_string() || !(*entry)[1].is_array() ||
        !(*entry)[2].is_array())
      return make_error(ErrorCode::kUnexpected,
                        "result keys: expected [\"schema.table\", [columns], [values]]", path);
    const auto& cols = (*entry)[1].get_array();
    const auto& vals = (*entry)[2].get_array();
    if (cols.size() != vals.size() || cols.empty())
      return make_error(ErrorCode::kUnexpected, "result keys: columns and values differ in length",
                        path);
    ResultKey key;
    key.table = std::string((*entry)[0].get_string());
    for (const auto& c : cols) {
      if (!c.is_string())
        return make_error(ErrorCode::kUnexpected, "result keys: column names must be strings",
                          path);
      key.columns.emplace_back(c.get_string());
    }
    for (const auto& v : vals) {
      if (v.is_null()) {
        key.values.emplace_back(std::nullopt);
      } else if (v.is_string()) {
        key.values.emplace_back(std::string(v.get_string()));
      } else {
        return make_error(ErrorCode::kUnexpected, "result keys: values must be strings or null",
                          path);
      }
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace liveql::matcher
