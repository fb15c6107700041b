#include "stream_batch.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace liveql::live {

StreamColumns::StreamColumns(const QueryResult& result)
    : result_(result),
      cursor_(result.column_index("stream_cursor")),
      full_(result.column_index("stream_full")) {}

std::optional<std::string_view> StreamColumns::cursor(std::size_t row) const {
  if (cursor_ < 0) return std::nullopt;
  const auto& cell = result_.rows[row][static_cast<std::size_t>(cursor_)];
  if (!cell) return std::nullopt;
  return std::string_view(*cell);
}

bool StreamColumns::full(std::size_t row) const {
  if (full_ < 0) return false;
  const auto& cell = result_.rows[row][static_cast<std::size_t>(full_)];
  return cell && *cell == "t";
}

Result<AdvancedVars> advance_cursor(std::string_view vars, const std::string& cursor_key,
                                    std::string_view cursor) {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(vars, ec);
  if (ec || !parsed.is_object() || !parsed.get_object().contains(cursor_key)) {
    return make_error(ErrorCode::kUnexpected,
                      "streaming subscription: the variables hold no cursor " + cursor_key);
  }
  AdvancedVars out;
  out.vars = std::move(parsed.get_object());
  out.vars[cursor_key] = boost::json::string(cursor);
  out.text = boost::json::serialize(out.vars);
  return out;
}

}  // namespace liveql::live
