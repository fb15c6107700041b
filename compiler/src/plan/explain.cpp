#include "liveql/compiler/explain.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <utility>

namespace liveql::compiler {

namespace json = boost::json;

namespace {

// An element of a PostgreSQL array literal, quoted as array_out quotes it: when empty, NULL-like,
// or holding a space, a delimiter, a brace, a quote or a backslash.
std::string array_element(const std::string& text) {
  bool quote = text.empty() || text == "NULL" || text == "null";
  for (char c : text)
    if (c == ' ' || c == ',' || c == '{' || c == '}' || c == '"' || c == '\\' || c == '\t' ||
        c == '\n')
      quote = true;
  if (!quote) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

std::string scalar_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_double()) return fmt::format("{}", v.get_double());  // 2.5, not JSON's 2.5E0
  return json::serialize(v);
}

}  // namespace

json::value cohort_text(const json::value& value) {
  if (value.is_null()) return nullptr;
  if (value.is_array()) {
    std::string out = "{";
    bool first = true;
    for (const auto& e : value.get_array()) {
      if (!first) out += ',';
      first = false;
      out += e.is_null() ? std::string("NULL") : array_element(scalar_text(e));
    }
    return json::string(out + "}");
  }
  return json::string(scalar_text(value));
}

json::object cohort_variables(const CompiledOperation& op, const json::object& request_variables) {
  json::object session;
  for (const auto& [key, name] : op.origins.session)
    if (const json::value* v = op.vars.if_contains(key)) session[name] = cohort_text(*v);
  json::array synthetic;
  for (const auto& key : op.origins.query)
    if (const json::value* v = op.vars.if_contains(key)) synthetic.push_back(cohort_text(*v));
  json::object query;
  for (const auto& [name, value] : request_variables) query[name] = cohort_text(value);
  return json::object{{"session", std::move(session)},
                      {"query", std::move(query)},
                      {"synthetic", std::move(synthetic)},
                      {"cursor", json::object()}};
}

SubscriptionExplain explain_subscription(CompiledOperation op,
                                         const json::object& request_variables) {
  SubscriptionExplain out;
  out.variables = cohort_variables(op, request_variables);
  Plan plan = plan_operation(std::move(op));
  out.live = std::move(plan.live);
  out.vars_text = std::move(plan.vars_text);
  return out;
}

}  // namespace liveql::compiler
