#include "liveql/matcher/evaluate.hpp"

#include <boost/json/serialize.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace liveql::matcher {
namespace {

enum class Family {
  kInteger,
  kNumeric,
  kFloat4,
  kFloat8,
  kBool,
  kText,
  kUuid,
  kTimestamptz,
  kTimestamp,
  kDate,
  kEnum,
  kOther
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Family family_of_spelling(std::string_view pg_type) {
  std::string t = lower(trim(pg_type));
  if (t.rfind("pg_catalog.", 0) == 0) t.erase(0, 11);
  // Without a precision only: a parameter cast to timestamp(3) is rounded first.
  if (t == "timestamp with time zone" || t == "timestamptz") return Family::kTimestamptz;
  if (t == "timestamp without time zone" || t == "timestamp") return Family::kTimestamp;
  if (t == "date") return Family::kDate;
  if (t == "enum") return Family::kEnum;  // deps::Predicate's spelling for every enum type
  if (auto paren = t.find('('); paren != std::string::npos) {
    t.erase(paren);
    while (!t.empty() && t.back() == ' ') t.pop_back();
  }
  if (t == "smallint" || t == "integer" || t == "bigint" || t == "int" || t == "int2" ||
      t == "int4" || t == "int8" || t == "smallserial" || t == "serial" || t == "bigserial")
    return Family::kInteger;
  if (t == "numeric" || t == "decimal") return Family::kNumeric;
  if (t == "real" || t == "float4") return Family::kFloat4;
  if (t == "double precision" || t == "float8" || t == "float") return Family::kFloat8;
  if (t == "boolean" || t == "bool") return Family::kBool;
  if (t == "text" || t == "character varying" || t == "varchar" || t == "name")
    return Family::kText;
  if (t == "uuid") return Family::kUuid;
  return Family::kOther;
}

// Runs per evaluated comparison and per indexed lookup: the spellings the schema reader gives
// (lower case, unqualified) are answered without normalising a copy first.
Family family_of(std::string_view pg_type) {
  if (pg_type == "bigint" || pg_type == "integer" || pg_type == "smallint") return Family::kInteger;
  if (pg_type == "text") return Family::kText;
  return family_of_spelling(pg_type);
}

// An exact decimal: sign, integer digits without leading zeros, fraction without trailing
// zeros. Zero is {false, "", ""}.
struct Decimal {
  bool negative = false;
  std::string integer;
  std::string fraction;
  bool nan = false;
};

std::optional<Decimal> parse_decimal(std::string_view text, bool allow_fraction) {
  text = trim(text);
  Decimal d;
  if (allow_fraction && lower(text) == "nan") {
    d.nan = true;
    return d;
  }
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) d.negative = text[i++] == '-';
  std::string digits;
  long point = -1;
  size_t start = i;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c == '.' && allow_fraction && point < 0) {
      point = static_cast<long>(digits.size());
    } else {
      break;
    }
  }
  if (digits.empty() || i == start) return std::nullopt;
  if (point < 0) point = static_cast<long>(digits.size());
  if (i < text.size()) {
    if (!allow_fraction || (text[i] != 'e' && text[i] != 'E')) return std::nullopt;
    ++i;
    bool exp_negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) exp_negative = text[i++] == '-';
    if (i >= text.size()) return std::nullopt;
    long exponent = 0;
    for (; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      exponent = exponent * 10 + (text[i] - '0');
      if (exponent > 100000) return std::nullopt;
    }
    point += exp_negative ? -exponent : exponent;
  }
  if (point < 0) {
    digits.insert(0, static_cast<size_t>(-point), '0');
    point = 0;
  }
  if (point > static_cast<long>(digits.size())) digits.append(point - digits.size(), '0');
  d.integer = digits.substr(0, static_cast<size_t>(point));
  d.fraction = digits.substr(static_cast<size_t>(point));
  d.integer.erase(0, d.integer.find_first_not_of('0') == std::string::npos
                         ? d.integer.size()
                         : d.integer.find_first_not_of('0'));
  while (!d.fraction.empty() && d.fraction.back() == '0') d.fraction.pop_back();
  if (d.integer.empty() && d.fraction.empty()) d.negative = false;
  return d;
}

int compare_magnitude(const Decimal& a, const Decimal& b) {
  if (a.integer.size() != b.integer.size()) return a.integer.size() < b.integer.size() ? -1 : 1;
  if (int c = a.integer.compare(b.integer); c != 0) return c < 0 ? -1 : 1;
  int c = a.fraction.compare(b.fraction);  // no trailing zeros: lexicographic is numeric
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

int compare_decimal(const Decimal& a, const Decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  int m = compare_magnitude(a, b);
  return a.negative ? -m : m;
}

std::optional<double> parse_float(std::string_view text, bool single) {
  std::string s(trim(text));
  if (s.empty()) return std::nullopt;
  const char* begin = s.c_str();
  char* end = nullptr;
  double v = single ? static_cast<double>(std::strtof(begin, &end)) : std::strtod(begin, &end);
  if (end != begin + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string t = lower(trim(text));
  if (t == "t" || t == "true" || t == "y" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "f" || t == "false" || t == "n" || t == "no" || t == "off" || t == "0") return false;
  return std::nullopt;
}

std::optional<std::string> parse_uuid(std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}')
    text = text.substr(1, text.size() - 2);
  std::string hex;
  for (char c : text) {
    if (c == '-') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (hex.size() != 32) return std::nullopt;
  return hex;
}

// A date or timestamp in the ISO 8601 spellings PostgreSQL prints (DateStyle ISO) and reads:
// `YYYY-MM-DD`, then optionally ` ` or `T`, `HH:MM[:SS[.ffffff]]`, then optionally a zone, `Z`
// or `+HH[[:]MM[:SS]]` / `-...`; or `infinity` / `-infinity`. Anything else (other DateStyles,
// BC or five-digit years, leap seconds, 24:00, more than six fraction digits, zone names,
// `now`/`today`/`epoch`) is not read: its comparisons stay unknown.
struct Moment {
  int64_t wall = 0;    // microseconds from 1970-01-01 00:00 to the reading, zone left aside
  int64_t offset = 0;  // the zone's offset east of UTC, in seconds
  bool has_time = false;
  bool has_zone = false;
  bool infinite = false;
};

// Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse, by eras of
// 400 years).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(y - era * 400);
  const unsigned day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<int64_t>(day_of_era) - 719468;
}

std::optional<Moment> parse_moment(std::string_view text) {
  text = trim(text);
  Moment m;
  if (text.size() <= 9) {
    std::string t = lower(text);
    if (t == "infinity" || t == "-infinity") {
      m.infinite = m.has_time = m.has_zone = true;
      m.wall = t[0] == '-' ? INT64_MIN : INT64_MAX;
      return m;
    }
  }
  size_t i = 0;
  // `n` digits at i as a number, or -1.
  auto digits = [&](size_t n) -> int {
    if (i + n > text.size()) return -1;
    int v = 0;
    for (size_t k = 0; k < n; ++k) {
      char c = text[i + k];
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    i += n;
    return v;
  };
  auto accept = [&](char c) {
    if (i < text.size() && text[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  const int year = digits(4);
  if (year < 1 || !accept('-')) return std::nullopt;
  const int month = digits(2);
  if (month < 1 || month > 12 || !accept('-')) return std::nullopt;
  const int day = digits(2);
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day < 1 || day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) return std::nullopt;
  int64_t seconds =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400;
  int64_t fraction = 0;
  if (i < text.size()) {
    if (!accept(' ') && !accept('T')) return std::nullopt;
    const int hour = digits(2);
    if (hour < 0 || hour > 23 || !accept(':')) return std::nullopt;
    const int minute = digits(2);
    if (minute < 0 || minute > 59) return std::nullopt;
    int second = 0;
    if (accept(':')) {
      second = digits(2);
      if (second < 0 || second > 59) return std::nullopt;
      if (accept('.')) {
        size_t n = 0;
        for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++n) {
          if (n == 6) return std::nullopt;  // PostgreSQL rounds a seventh digit
          fraction = fraction * 10 + (text[i] - '0');
        }
        if (n == 0) return std::nullopt;
        for (; n < 6; ++n) fraction *= 10;
      }
    }
    seconds += hour * 3600 + minute * 60 + second;
    m.has_time = true;
    if (accept('Z')) {
      m.has_zone = true;
    } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      const int sign = text[i++] == '-' ? -1 : 1;
      const int zh = digits(2);
      if (zh < 0 || zh > 15) return std::nullopt;
      int zm = 0, zs = 0;
      if (i < text.size()) {
        const bool colon = accept(':');
        zm = digits(2);
        if (zm < 0 || zm > 59) return std::nullopt;
        if (colon && accept(':')) {
          zs = digits(2);
          if (zs < 0 || zs > 59) return std::nullopt;
        }
      }
      m.offset = sign * (zh * 3600 + zm * 60 + zs);
      m.has_zone = true;
    }
  }
  if (i != text.size()) return std::nullopt;
  m.wall = seconds * 1000000 + fraction;
  return m;
}

// A moment of `f` as PostgreSQL reads it for that type: a timestamptz is an instant and needs
// a zone (without one it depends on the session's TimeZone); a timestamp is the reading, any
// zone ignored; a date is a day (a time of day would be dropped: not read).
std::optional<int64_t> moment_of(Family f, std::string_view text) {
  auto m = parse_moment(text);
  if (!m) return std::nullopt;
  if (m->infinite) return m->wall;
  switch (f) {
    case Family::kTimestamptz:
      if (!m->has_zone) return std::nullopt;
      return m->wall - m->offset * 1000000;
    case Family::kTimestamp:
      return m->wall;
    case Family::kDate:
      if (m->has_time) return std::nullopt;
      return m->wall / 86400000000;
    default:
      return std::nullopt;
  }
}

// A value of one family, parsed; `key` is its canonical equality key.
struct Parsed {
  std::string key;
  Decimal decimal;
  double number = 0;
  bool boolean = false;
  int64_t moment = 0;  // timestamps: microseconds; dates: days (infinities at the ends)
};

std::optional<Parsed> parse_text(Family f, std::string_view text) {
  Parsed p;
  switch (f) {
    case Family::kInteger:
    case Family::kNumeric: {
      if (f == Family::kInteger) {
        // The common case, a plain integer as PostgreSQL prints it: no decimal arithmetic.
        std::string_view digits = text.substr(!text.empty() && text[0] == '-' ? 1 : 0);
        if (!digits.empty() && digits.size() <= 19 && (digits[0] != '0' || digits.size() == 1) &&
            digits.find_first_not_of("0123456789") == std::string_view::npos) {
          const bool zero = digits == "0";
          p.decimal.negative = !zero && digits.size() != text.size();
          if (!zero) p.decimal.integer = std::string(digits);
          p.key = zero ? std::string("0") : std::string(text);
          return p;
        }
      }
      auto d = parse_decimal(text, f == Family::kNumeric);
      if (!d) return std::nullopt;
      p.decimal = *d;
      if (d->nan) {
        p.key = "NaN";
      } else {
        p.key = (d->negative ? "-" : "") + (d->integer.empty() ? "0" : d->integer) +
                (d->fraction.empty() ? "" : "." + d->fraction);
      }
      return p;
    }
    case Family::kFloat4:
    case Family::kFloat8: {
      auto v = parse_float(text, f == Family::kFloat4);
      if (!v) return std::nullopt;
      p.number = *v == 0 ? 0.0 : *v;  // -0 = 0 in Postgres
      if (std::isnan(p.number)) {
        p.key = "NaN";
      } else {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", p.number);
        p.key = buf;
      }
      return p;
    }
    case Family::kBool: {
      auto b = parse_bool(text);
      if (!b) return std::nullopt;
      p.boolean = *b;
      p.key = *b ? "t" : "f";
      return p;
    }
    case Family::kText:
    case Family::kEnum:  // an enum's input is exactly one of its labels, its output the label
      p.key = std::string(text);
      return p;
    case Family::kUuid: {
      auto u = parse_uuid(text);
      if (!u) return std::nullopt;
      p.key = std::move(*u);
      return p;
    }
    case Family::kTimestamptz:
    case Family::kTimestamp:
    case Family::kDate: {
      auto moment = moment_of(f, text);
      if (!moment) return std::nullopt;
      p.moment = *moment;
      p.key = std::to_string(*moment);
      return p;
    }
    case Family::kOther:
      break;
  }
  return std::nullopt;
}

std::optional<Parsed> parse_param(Family f, const boost::json::value& v) {
  if (v.is_string()) return parse_text(f, std::string_view(v.get_string()));
  if (v.is_bool()) {
    if (f != Family::kBool) return std::nullopt;
    return parse_text(f, v.get_bool() ? "t" : "f");
  }
  if (v.is_int64() || v.is_uint64()) {
    if (f != Family::kInteger && f != Family::kNumeric && f != Family::kFloat4 &&
        f != Family::kFloat8)
      return std::nullopt;
    char buf[24];
    auto end = v.is_int64() ? std::to_chars(buf, buf + sizeof buf, v.get_int64()).ptr
                            : std::to_chars(buf, buf + sizeof buf, v.get_uint64()).ptr;
    return parse_text(f, std::string_view(buf, static_cast<std::size_t>(end - buf)));
  }
  if (v.is_double()) {
    // Integer columns reject a JSON number with a fraction or exponent; the cast fails.
    if (f != Family::kNumeric && f != Family::kFloat4 && f != Family::kFloat8) return std::nullopt;
    return parse_text(f, boost::json::serialize(v));
  }
  return std::nullopt;
}

// -1, 0, 1, or nullopt when the family has no order we reproduce.
std::optional<int> compare(Family f, const Parsed& a, const Parsed& b) {
  switch (f) {
    case Family::kInteger:
    case Family::kNumeric:
      if (a.decimal.nan || b.decimal.nan) return std::nullopt;
      return compare_decimal(a.decimal, b.decimal);
    case Family::kFloat4:
    case Family::kFloat8: {
      bool an = std::isnan(a.number), bn = std::isnan(b.number);
      if (an || bn) return an == bn ? 0 : (an ? 1 : -1);  // NaN is greatest, and equals NaN
      return a.number < b.number ? -1 : (a.number > b.number ? 1 : 0);
    }
    case Family::kBool:
      return static_cast<int>(a.boolean) - static_cast<int>(b.boolean);
    case Family::kUuid: {
      int c = a.key.compare(b.key);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case Family::kTimestamptz:
    case Family::kTimestamp:
    case Family::kDate:
      return a.moment < b.moment ? -1 : (a.moment > b.moment ? 1 : 0);
    case Family::kText:
    case Family::kEnum:  // the labels' declared order is not in the row image
    case Family::kOther:
      break;
  }
  return std::nullopt;
}

// The set of SQL truth values the predicate may take: a bit per value.
using Mask = unsigned;
constexpr Mask kT = 1, kF = 2, kN = 4, kAll = kT | kF | kN;

Mask and3(Mask a, Mask b) {
  Mask out = 0;
  for (Mask x : {kT, kF, kN})
    for (Mask y : {kT, kF, kN})
      if ((a & x) && (b & y)) out |= (x == kF || y == kF) ? kF : (x == kN || y == kN) ? kN : kT;
  return out;
}

Mask or3(Mask a, Mask b) {
  Mask out = 0;
  for (Mask x : {kT, kF, kN})
    for (Mask y : {kT, kF, kN})
      if ((a & x) && (b & y)) out |= (x == kT || y == kT) ? kT : (x == kN || y == kN) ? kN : kF;
  return out;
}

Mask not3(Mask a) { return ((a & kT) ? kF : 0) | ((a & kF) ? kT : 0) | (a & kN); }

Mask equals(Family f, const Parsed& row, const boost::json::value& element) {
  if (element.is_null()) return kN;
  auto p = parse_param(f, element);
  if (!p) return kAll;
  return row.key == p->key ? kT : kF;
}

Mask compare_node(const deps::Predicate& n, const RowImage& row, const ParamValues& params) {
  using Op = ir::CompareOp;
  if (n.slot < 0 || static_cast<size_t>(n.slot) >= params.size()) return kAll;
  const boost::json::value& param = params[static_cast<size_t>(n.slot)];
  if ((n.op == Op::kIn || n.op == Op::kNin) && param.is_array()) {
    // Without a non-NULL element the answer does not depend on the row (even an absent one):
    // x IN () is false, x IN (NULL) is NULL, and _nin negates.
    bool any_value = false;
    for (const auto& element : param.get_array()) any_value = any_value || !element.is_null();
    if (!any_value) {
      Mask in = param.get_array().empty() ? kF : kN;
      return n.op == Op::kIn ? in : not3(in);
    }
  }
  const ColumnValue* col = row.find(n.column);
  if (!col) return kAll;
  if (n.op == Op::kIsNull) {
    if (!param.is_bool()) return kAll;
    return (col->value.has_value() != param.get_bool()) ? kT : kF;
  }
  if (param.is_null()) return kAll;  // Hasura may drop a null comparison instead of NULL
  bool list = n.op == Op::kIn || n.op == Op::kNin;
  if (list && !param.is_array()) return kAll;
  if (!list && (param.is_array() || param.is_object())) return kAll;
  Family f = family_of(n.column_type);
  if (f == Family::kOther) return kAll;
  if (!col->value) return kN;
  auto value = parse_text(f, *col->value);
  if (!value) return kAll;
  if (list) {
    Mask any = kF;
    for (const auto& element : param.get_array()) any = or3(any, equals(f, *value, element));
    return n.op == Op::kIn ? any : not3(any);
  }
  auto p = parse_param(f, param);
  if (!p) return kAll;
  if (n.op == Op::kEq) return value->key == p->key ? kT : kF;
  if (n.op == Op::kNeq) return value->key != p->key ? kT : kF;
  auto c = compare(f, *value, *p);
  if (!c) return kAll;
  switch (n.op) {
    case Op::kGt:
      return *c > 0 ? kT : kF;
    case Op::kLt:
      return *c < 0 ? kT : kF;
    case Op::kGte:
      return *c >= 0 ? kT : kF;
    case Op::kLte:
      return *c <= 0 ? kT : kF;
    default:
      return kAll;
  }
}

Mask eval(const deps::Predicate& n, const RowImage& row, const ParamValues& params) {
  using K = deps::Predicate::Kind;
  switch (n.kind) {
    case K::kTrue:
      return kT;
    case K::kFalse:
      return kF;
    case K::kUnknown:
      return kAll;
    case K::kAnd: {
      Mask acc = kT;
      for (const auto& c : n.children) {
        acc = and3(acc, eval(c, row, params));
        if (acc == kF) break;
      }
      return acc;
    }
    case K::kOr: {
      Mask acc = kF;
      for (const auto& c : n.children) {
        acc = or3(acc, eval(c, row, params));
        if (acc == kT) break;
      }
      return acc;
    }
    case K::kNot:
      return n.children.empty() ? kAll : not3(eval(n.children[0], row, params));
    case K::kCompare:
      return compare_node(n, row, params);
    case K::kRelationship: {
      // A NULL link value joins no row, so EXISTS is false; otherwise it depends on the other
      // table, which the row does not tell.
      for (const auto& name : n.link_columns) {
        const ColumnValue* col = row.find(name);
        if (col && !col->value) return kF;
      }
      return kAll;
    }
  }
  return kAll;
}

}  // namespace

ParamValues bind_params(const deps::Dependencies& deps, const boost::json::object& vars) {
  ParamValues values;
  values.reserve(deps.param_keys.size());
  for (const auto& key : deps.param_keys) {
    auto it = vars.find(key);
    values.push_back(it == vars.end() ? boost::json::value() : it->value());
  }
  return values;
}

Truth evaluate(const deps::Predicate& predicate, const RowImage& row, const ParamValues& params) {
  Mask m = eval(predicate, row, params);
  if (m == kT) return Truth::kTrue;
  if (!(m & kT)) return Truth::kFalse;
  return Truth::kUnknown;
}

std::optional<std::string> value_key(std::string_view pg_type, std::string_view text) {
  auto p = parse_text(family_of(pg_type), text);
  if (!p) return std::nullopt;
  return std::move(p->key);
}

std::optional<std::string> param_key(std::string_view pg_type, const boost::json::value& param) {
  auto p = parse_param(family_of(pg_type), param);
  if (!p) return std::nullopt;
  return std::move(p->key);
}

}  // namespace liveql::matcher
