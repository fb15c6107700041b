// The `path` argument of a json/jsonb column field (`c(path: "$.a.b[0]")`), parsed as Hasura v2
// parses it. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"

namespace liveql::compiler::json_path {

// The keys and indexes of a path, outermost first, as the text elements `#>` takes (an index as
// its decimal digits). Accepted: an optional leading `$`, then elements `name` or `.name` (a
// letter or `_`, then letters, digits, `_`, `-`) and `[42]`, `["key"]`, `['key']` (JSON string
// escapes; a `.` before `[` allowed). "$" alone is the whole value (no elements). Errors are
// `validation-failed` at `path` with Hasura's message.
Result<std::vector<std::string>> parse(std::string_view text, const std::string& path);

}  // namespace liveql::compiler::json_path
