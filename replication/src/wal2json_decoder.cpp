#include "liveql/replication/wal2json_decoder.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <string>

namespace liveql::replication {
namespace {

namespace od = simdjson::ondemand;

Error decode_error(std::string message) {
  return make_error(ErrorCode::kUnexpected, "wal2json: " + std::move(message), "$");
}

Error json_error(std::string_view where, simdjson::error_code ec) {
  return decode_error(fmt::format("{}: {}", where, simdjson::error_message(ec)));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t'))
    s.remove_prefix(1);
  return s;
}

// JSON number grammar, so that a raw token is only passed on when it is one.
bool is_json_number(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digits()) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

bool is_bpchar(std::string_view type) {
  return type == "character" || type == "bpchar" || type.starts_with("character(");
}

// Types whose NaN / Infinity wal2json prints as JSON null.
bool null_may_be_special_float(std::string_view type) {
  return type == "real" || type == "double precision" || type == "numeric" ||
         type.starts_with("numeric(");
}

struct Line {
  std::string action;
  uint32_t xid = 0;
  std::string timestamp;
  std::optional<Lsn> lsn;
  std::optional<Lsn> nextlsn;
  std::string schema;
  std::string table;
  bool has_columns = false;
  bool has_identity = false;
  RowImage columns;
  RowImage identity;
};

Result<std::string> get_string(od::value v, std::string_view where) {
  std::string_view s;
  if (auto ec = v.get_string().get(s)) return json_error(where, ec);
  return std::string(s);
}

Result<Lsn> get_lsn(od::value v, std::string_view where) {
  auto s = get_string(v, where);
  if (!s.ok()) return s.take_error();
  auto lsn = parse_lsn(*s);
  if (!lsn) return decode_error(fmt::format("{}: '{}' is not an LSN", where, *s));
  return *lsn;
}

// One element of `columns` / `identity`: {"name":..,"type":..,"value":..}.
Status parse_column(od::object obj, RowImage& image, std::string_view where) {
  ColumnValue col;
  bool has_name = false, has_value = false;
  std::optional<std::string> value;
  // The value is read after the loop's end only if it was seen; keep its converted form here.
  enum class Kind { kNull, kText, kNumber, kBool } kind = Kind::kNull;
  for (auto field : obj) {
    std::string_view key;
    if (auto ec = field.unescaped_key().get(key)) return json_error(where, ec);
    od::value v;
    if (auto ec = field.value().get(v)) return json_error(where, ec);
    if (key == "name") {
      auto s = get_string(v, where);
      if (!s.ok()) return s.take_error();
      col.name = std::move(*s);
      has_name = true;
    } else if (key == "type") {
      auto s = get_string(v, where);
      if (!s.ok()) return s.take_error();
      col.type = std::move(*s);
    } else if (key == "value") {
      has_value = true;
      od::json_type type;
      if (auto ec = v.type().get(type)) return json_error(where, ec);
      switch (type) {
        case od::json_type::null: {
          bool is_null = false;
          if (auto ec = v.is_null().get(is_null); ec || !is_null)
            return decode_error(fmt::format("{}: malformed null", where));
          kind = Kind::kNull;
          break;
        }
        case od::json_type::string: {
          auto s = get_string(v, where);
          if (!s.ok()) return s.take_error();
          value = std::move(*s);
          kind = Kind::kText;
          break;
        }
        case od::json_type::number: {
          auto token = trim(v.raw_json_token());
          if (!is_json_number(token))
            return decode_error(fmt::format("{}: malformed number '{}'", where, token));
          value = std::string(token);
          kind = Kind::kNumber;
          break;
        }
        case od::json_type::boolean: {
          bool b = false;
          if (auto ec = v.get_bool().get(b)) return json_error(where, ec);
          value = b ? "true" : "false";
          kind = Kind::kBool;
          break;
        }
        default:
          return decode_error(fmt::format("{}: a column value must be a scalar", where));
      }
    }
    // Other keys (e.g. "typeoid", "optional") carry nothing liveql needs.
  }
  if (!has_name) return decode_error(fmt::format("{}: column without a name", where));
  if (!has_value)
    return decode_error(fmt::format("{}: column {} without a value", where, col.name));
  if (kind == Kind::kNull && null_may_be_special_float(col.type)) return Ok{};  // unknown
  if (kind == Kind::kText && col.type == "bytea") value->insert(0, "\\x");
  if (kind == Kind::kText && is_bpchar(col.type)) {
    while (!value->empty() && value->back() == ' ') value->pop_back();
  }
  col.value = std::move(value);
  image.columns.push_back(std::move(col));
  return Ok{};
}

Status parse_columns(od::value v, RowImage& image, std::string_view where) {
  od::array arr;
  if (auto ec = v.get_array().get(arr)) return json_error(where, ec);
  for (auto element : arr) {
    od::object obj;
    if (auto ec = element.get_object().get(obj)) return json_error(where, ec);
    if (auto st = parse_column(obj, image, where); !st.ok()) return st;
  }
  return Ok{};
}

}  // namespace

struct Wal2JsonDecoder::Impl {
  od::parser parser;
  std::string buffer;  // the line, with simdjson's padding
  bool in_txn = false;
  Transaction txn;

  Result<Line> parse(std::string_view text) {
    buffer.assign(text);
    buffer.resize(text.size() + simdjson::SIMDJSON_PADDING, '\0');
    od::document doc;
    if (auto ec = parser.iterate(buffer.data(), text.size(), buffer.size()).get(doc))
      return json_error("line", ec);
    od::object obj;
    if (auto ec = doc.get_object().get(obj)) return json_error("line", ec);
    Line line;
    bool has_action = false;
    for (auto field : obj) {
      std::string_view key;
      if (auto ec = field.unescaped_key().get(key)) return json_error("line", ec);
      od::value v;
      if (auto ec = field.value().get(v)) return json_error(key, ec);
      if (key == "action") {
        auto s = get_string(v, "action");
        if (!s.ok()) return s.take_error();
        line.action = std::move(*s);
        has_action = true;
      } else if (key == "xid") {
        uint64_t xid = 0;
        if (auto ec = v.get_uint64().get(xid)) return json_error("xid", ec);
        if (xid > UINT32_MAX) return decode_error("xid: out of range");
        line.xid = static_cast<uint32_t>(xid);
      } else if (key == "timestamp") {
        auto s = get_string(v, "timestamp");
        if (!s.ok()) return s.take_error();
        line.timestamp = std::move(*s);
      } else if (key == "lsn") {
        auto lsn = get_lsn(v, "lsn");
        if (!lsn.ok()) return lsn.take_error();
        line.lsn = *lsn;
      } else if (key == "nextlsn") {
        auto lsn = get_lsn(v, "nextlsn");
        if (!lsn.ok()) return lsn.take_error();
        line.nextlsn = *lsn;
      } else if (key == "schema") {
        auto s = get_string(v, "schema");
        if (!s.ok()) return s.take_error();
        line.schema = std::move(*s);
      } else if (key == "table") {
        auto s = get_string(v, "table");
        if (!s.ok()) return s.take_error();
        line.table = std::move(*s);
      } else if (key == "columns") {
        if (auto st = parse_columns(v, line.columns, "columns"); !st.ok()) return st.take_error();
        line.has_columns = true;
      } else if (key == "identity") {
        if (auto st = parse_columns(v, line.identity, "identity"); !st.ok()) return st.take_error();
        line.has_identity = true;
      }
      // "pk", "transactional", "prefix", "content": not needed.
    }
    const char* rest = nullptr;
    if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS)
      return decode_error("trailing content after the JSON object");
    if (!has_action) return decode_error("line without an action");
    return line;
  }

  Status fail(Error e) {
    in_txn = false;
    txn = Transaction{};
    return e;
  }

  Result<std::optional<Transaction>> apply(Line&& line) {
    const std::string& a = line.action;
    if (a == "B") {
      if (in_txn) return fail(decode_error("B inside a transaction")).take_error();
      in_txn = true;
      txn = Transaction{};
      txn.xid = line.xid;
      txn.commit_time = std::move(line.timestamp);
      return std::optional<Transaction>();
    }
    if (a == "C") {
      if (!in_txn) return fail(decode_error("C outside a transaction")).take_error();
      if (line.xid != 0 && txn.xid != 0 && line.xid != txn.xid)
        return fail(decode_error(fmt::format("C of xid {} inside xid {}", line.xid, txn.xid)))
            .take_error();
      if (line.xid != 0) txn.xid = line.xid;
      if (line.lsn) txn.commit_lsn = *line.lsn;
      if (line.nextlsn) txn.end_lsn = *line.nextlsn;
      if (!line.timestamp.empty()) txn.commit_time = std::move(line.timestamp);
      in_txn = false;
      return std::optional<Transaction>(std::exchange(txn, Transaction{}));
    }
    if (a == "M") return std::optional<Transaction>();  // logical messages are not row changes
    if (a != "I" && a != "U" && a != "D" && a != "T")
      return fail(decode_error(fmt::format("unknown action '{}'", a))).take_error();
    if (!in_txn)
      return fail(decode_error(fmt::format("action {} outside a transaction", a))).take_error();
    if (line.schema.empty() || line.table.empty())
      return fail(decode_error(fmt::format("action {} without schema and table", a))).take_error();
    RowChange change;
    change.schema = std::move(line.schema);
    change.table = std::move(line.table);
    if (a == "I") {
      if (!line.has_columns) return fail(decode_error("I without columns")).take_error();
      change.kind = ChangeKind::kInsert;
      change.new_row = std::move(line.columns);
    } else if (a == "U") {
      if (!line.has_columns) return fail(decode_error("U without columns")).take_error();
      change.kind = ChangeKind::kUpdate;
      change.new_row = std::move(line.columns);
      change.old_row = std::move(line.identity);
    } else if (a == "D") {
      if (!line.has_identity) return fail(decode_error("D without identity")).take_error();
      change.kind = ChangeKind::kDelete;
      change.old_row = std::move(line.identity);
    } else {
      change.kind = ChangeKind::kTruncate;
    }
    txn.changes.push_back(std::move(change));
    return std::optional<Transaction>();
  }
};

Wal2JsonDecoder::Wal2JsonDecoder() : impl_(std::make_unique<Impl>()) {}
Wal2JsonDecoder::~Wal2JsonDecoder() = default;
Wal2JsonDecoder::Wal2JsonDecoder(Wal2JsonDecoder&&) noexcept = default;
Wal2JsonDecoder& Wal2JsonDecoder::operator=(Wal2JsonDecoder&&) noexcept = default;

Result<std::optional<Transaction>> Wal2JsonDecoder::feed_line(std::string_view line) {
  auto parsed = impl_->parse(line);
  if (!parsed.ok()) return impl_->fail(parsed.take_error()).take_error();
  return impl_->apply(std::move(*parsed));
}

Status Wal2JsonDecoder::feed(std::string_view payload, std::vector<Transaction>& committed) {
  while (!payload.empty()) {
    auto nl = payload.find('\n');
    auto line = trim(payload.substr(0, nl));
    payload.remove_prefix(nl == std::string_view::npos ? payload.size() : nl + 1);
    if (line.empty()) continue;
    auto r = feed_line(line);
    if (!r.ok()) return r.take_error();
    if (r->has_value()) committed.push_back(std::move(**r));
  }
  return Ok{};
}

bool Wal2JsonDecoder::in_transaction() const { return impl_->in_txn; }

void Wal2JsonDecoder::reset() {
  impl_->in_txn = false;
  impl_->txn = Transaction{};
}

}  // namespace liveql::replication
