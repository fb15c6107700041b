#include "liveql/compiler/row_result.hpp"

#include <string_view>

namespace liveql::deps {
namespace {

using Form = RowResult::Form;

// The JSON form of a column of this PostgreSQL type (format_type spelling), when a change's text
// value gives it exactly; std::nullopt otherwise (floats and numerics have NaN, json/jsonb are
// normalised, bpchar loses its padding in the decoder, time and interval print differently).
std::optional<Form> form_of(std::string_view pg_type, bool pg_enum, bool as_text) {
  if (pg_type == "integer" || pg_type == "bigint" || pg_type == "smallint")
    return as_text ? Form::kString : Form::kNumber;
  if (as_text) return std::nullopt;
  if (pg_type == "boolean") return Form::kBool;
  if (pg_type == "text" || pg_type == "character varying" || pg_type == "uuid" || pg_enum)
    return Form::kString;
  if (pg_type == "date") return Form::kDate;
  if (pg_type == "timestamp without time zone") return Form::kTimestamp;
  if (pg_type == "timestamp with time zone") return Form::kTimestamptz;
  return std::nullopt;
}

bool digits(std::string_view s, std::size_t from, std::size_t n) {
  if (from + n > s.size()) return false;
  for (std::size_t i = from; i < from + n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// A date, timestamp or timestamptz in ISO text (`YYYY-MM-DD`, then ` HH:MM:SS[.f]`, then
// `+HH[:MM[:SS]]`), appended as the JSON string PostgreSQL's json_build_object prints for it
// (XSD style: `T`, the zone always with minutes). False for anything else (another DateStyle,
// a BC or five-digit year): the caller refetches.
bool append_moment(std::string& out, std::string_view text, Form form) {
  const bool infinite = text == "infinity" || text == "-infinity";
  if (!infinite && (!digits(text, 0, 4) || text.size() < 10 || text[4] != '-' ||
                    !digits(text, 5, 2) || text[7] != '-' || !digits(text, 8, 2)))
    return false;
  if (infinite || form == Form::kDate) {  // printed as is
    if (!infinite && text.size() != 10) return false;
    out += '"';
    out += text;
    out += '"';
    return true;
  }
  std::size_t i = 10;
  if (text.size() < 19 || text[10] != ' ' || !digits(text, 11, 2) || text[13] != ':' ||
      !digits(text, 14, 2) || text[16] != ':' || !digits(text, 17, 2))
    return false;
  i = 19;
  if (i < text.size() && text[i] == '.') {
    std::size_t n = 0;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) ++n;
    if (n == 0 || n > 6) return false;
  }
  const std::size_t time_end = i;
  std::string zone;
  if (form == Form::kTimestamptz) {
    if (i + 3 > text.size() || (text[i] != '+' && text[i] != '-') || !digits(text, i + 1, 2))
      return false;
    zone = text.substr(i, 3);
    i += 3;
    for (int part = 0; part < 2 && i < text.size(); ++part) {  // :MM, then :SS
      if (text[i] != ':' || !digits(text, i + 1, 2)) return false;
      zone += text.substr(i, 3);
      i += 3;
    }
    if (zone.size() == 3) zone += ":00";  // JSON's zone always has its minutes
  }
  if (i != text.size()) return false;
  out += '"';
  out += text.substr(0, 10);
  out += 'T';
  out += text.substr(11, time_end - 11);
  out += zone;
  out += '"';
  return true;
}

// A type whose values are equal exactly when their texts are (for the image's text against a
// value's): integers, text, varchar, uuid, enums (a label is its text); and booleans, whose
// texts row_passes() reads as true or false.
bool checkable(std::string_view pg_type, bool is_enum) {
  return pg_type == "integer" || pg_type == "bigint" || pg_type == "smallint" ||
         pg_type == "text" || pg_type == "character varying" || pg_type == "uuid" || is_enum ||
         pg_type == "boolean";
}

// `where` as a conjunction of `column = $param` equalities (and true), into keys and checks;
// false when it is anything else.
bool equalities(const ir::BoolExp* e, RowResult& plan) {
  if (!e) return true;
  if (e->kind == ir::BoolExp::Kind::kTrue) return true;
  if (e->kind == ir::BoolExp::Kind::kAnd) {
    for (const auto& child : e->children)
      if (!equalities(child.get(), plan)) return false;
    return true;
  }
  if (e->kind != ir::BoolExp::Kind::kCompare || e->op != ir::CompareOp::kEq ||
      !e->column_cast.empty() || e->param.is_list || e->computed ||
      !checkable(e->column_type, e->column_is_enum))
    return false;
  if (e->column == plan.key_column) {
    plan.keys.push_back(e->param);
  } else {
    plan.checks.push_back({e->column, e->param, e->column_type == "boolean"});
  }
  return true;
}

std::optional<std::string> text_of(const boost::json::object& vars, const ir::Param& p,
                                   bool boolean = false) {
  const boost::json::value* v = vars.if_contains(p.key);
  if (!v) return std::nullopt;
  if (boolean && v->is_bool()) return std::string(v->get_bool() ? "true" : "false");
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  if (v->is_string()) return std::string(v->get_string());
  return std::nullopt;
}

// PostgreSQL's escape_json: the short escapes, other control characters as \u00xx, nothing else.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    switch (ch) {
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default: {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += ch;
        }
      }
    }
  }
  out += '"';
}

bool is_integer_text(std::string_view s) {
  if (!s.empty() && s.front() == '-') s.remove_prefix(1);
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::optional<RowResult> row_result(const ir::Operation& op) {
  if (op.fields.size() != 1) return std::nullopt;
  const ir::RootField& rf = op.fields[0];
  if (rf.kind != ir::RootField::Kind::kSelect && rf.kind != ir::RootField::Kind::kSelectByPk)
    return std::nullopt;
  const ir::Select& sel = rf.select;
  if (!rf.namespace_alias.empty() || sel.function || sel.primary_key.size() != 1 ||
      !sel.distinct_on.empty() || sel.limit || sel.offset || sel.permission_limit)
    return std::nullopt;
  RowResult plan;
  plan.key_column = sel.primary_key[0];
  if (!equalities(sel.where.get(), plan) || plan.keys.empty()) return std::nullopt;
  plan.table = sel.table;
  plan.root_alias = rf.alias;
  plan.object = rf.kind == ir::RootField::Kind::kSelectByPk;
  for (const ir::Field& f : sel.fields) {
    RowResult::Column c;
    c.alias = f.alias;
    if (f.kind == ir::Field::Kind::kTypename) {
      c.typename_ = f.typename_;
    } else {
      if (f.kind != ir::Field::Kind::kColumn || f.json_path || f.cell_filter) return std::nullopt;
      auto form = form_of(f.pg_type, f.pg_enum, f.as_text);
      if (!form) return std::nullopt;
      c.column = f.column;
      c.form = *form;
      plan.zoned = plan.zoned || c.form == Form::kTimestamptz;
    }
    plan.columns.push_back(std::move(c));
  }
  if (plan.columns.empty()) return std::nullopt;
  return plan;
}

std::optional<RowKey> row_result_key(const RowResult& plan, const boost::json::object& vars) {
  RowKey out;
  for (std::size_t i = 0; i < plan.keys.size(); ++i) {
    auto text = text_of(vars, plan.keys[i]);
    if (!text || (i > 0 && *text != out.key)) return std::nullopt;
    out.key = std::move(*text);
  }
  for (const auto& check : plan.checks) {
    auto text = text_of(vars, check.param, check.boolean);
    if (!text) return std::nullopt;
    out.checks.push_back(std::move(*text));
  }
  return out;
}

bool row_passes(const RowResult& plan, const RowKey& key, const RowImage& row) {
  for (std::size_t i = 0; i < plan.checks.size(); ++i) {
    const ColumnValue* v = row.find(plan.checks[i].column);
    if (!v || !v->value) return false;
    std::string_view text = *v->value;
    // A boolean's text is `true` / `false` from wal2json (PostgreSQL's own `t` / `f` too); a
    // value spelt otherwise (`yes`, `1`) does not match and the row is refetched.
    if (plan.checks[i].boolean && (text == "t" || text == "f"))
      text = text == "t" ? "true" : "false";
    if (text != key.checks[i]) return false;
  }
  return true;
}

std::optional<std::string> write_row_result(const RowResult& plan, const RowImage& row) {
  std::string out = "{";
  append_json_string(out, plan.root_alias);
  out += plan.object ? " : {" : " : [{";
  bool first = true;
  for (const auto& c : plan.columns) {
    if (!first) out += ", ";
    first = false;
    append_json_string(out, c.alias);
    out += " : ";
    if (c.column.empty()) {
      append_json_string(out, c.typename_);
      continue;
    }
    const ColumnValue* v = row.find(c.column);
    if (!v) return std::nullopt;
    if (!v->value) {
      out += "null";
      continue;
    }
    const std::string& text = *v->value;
    switch (c.form) {
      case Form::kNumber:
        if (!is_integer_text(text)) return std::nullopt;
        out += text;
        break;
      case Form::kBool:
        if (text == "true" || text == "t") {
          out += "true";
        } else if (text == "false" || text == "f") {
          out += "false";
        } else {
          return std::nullopt;
        }
        break;
      case Form::kString:
        append_json_string(out, text);
        break;
      case Form::kDate:
      case Form::kTimestamp:
      case Form::kTimestamptz:
        if (!append_moment(out, text, c.form)) return std::nullopt;
        break;
    }
  }
  out += plan.object ? "}}" : "}]}";
  return out;
}

}  // namespace liveql::deps
