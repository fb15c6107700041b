#include "multiplexed_statement.hpp"

#include <algorithm>
#include <charconv>

namespace liveql::live {

std::string quoted_array_literal(const std::vector<std::string>& elements) {
  std::size_t size = 2;
  for (const auto& e : elements) size += e.size() + 3;
  std::string out;
  out.reserve(size);
  out += '{';
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char ch : elements[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::size_t statement_capacity(std::size_t queued, std::size_t batch_size) {
  batch_size = std::max<std::size_t>(batch_size, 1);
  return std::clamp(queued, batch_size, batch_size * kMaxStatementGrowth);
}

StatementParams statement_params(const std::vector<std::string>& vars, bool takes_xid,
                                 const std::vector<std::uint64_t>& xids) {
  std::string ids = "{";
  for (std::size_t i = 0; i < vars.size(); ++i) {
    if (i > 0) ids += ',';
    ids += std::to_string(i + 1);
  }
  ids += '}';
  StatementParams params{std::move(ids), quoted_array_literal(vars)};
  if (takes_xid) {
    if (xids.empty()) {
      params.emplace_back(std::nullopt);
    } else {
      std::string list = "{";
      for (std::size_t i = 0; i < xids.size(); ++i) {
        if (i > 0) list += ',';
        list += std::to_string(xids[i]);
      }
      params.emplace_back(list + '}');
    }
  }
  return params;
}

StatementRows::StatementRows(const QueryResult& result)
    : result_(result),
      id_(result.column_index("id")),
      data_(result.column_index("data")),
      keys_(result.column_index("keys")),
      visible_(result.column_index("visible")) {}

std::size_t StatementRows::index(std::size_t row, std::size_t n) const {
  if (id_ < 0 || data_ < 0) return 0;
  const auto& cell = result_.rows[row][static_cast<std::size_t>(id_)];
  if (!cell) return 0;
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(cell->data(), cell->data() + cell->size(), value);
  if (ec != std::errc() || end != cell->data() + cell->size() || value < 1 || value > n) return 0;
  return value;
}

std::string_view StatementRows::data(std::size_t row) const {
  if (data_ < 0) return "null";
  const auto& cell = result_.rows[row][static_cast<std::size_t>(data_)];
  return cell ? std::string_view(*cell) : std::string_view("null");
}

std::optional<std::string_view> StatementRows::keys(std::size_t row) const {
  if (keys_ < 0) return std::nullopt;
  const auto& cell = result_.rows[row][static_cast<std::size_t>(keys_)];
  return cell ? std::string_view(*cell) : std::string_view("[]");
}

bool StatementRows::all_visible() const {
  if (visible_ < 0) return true;
  for (const auto& row : result_.rows) {
    const auto& cell = row[static_cast<std::size_t>(visible_)];
    if (cell && *cell == "f") return false;
  }
  return true;
}

}  // namespace liveql::live
