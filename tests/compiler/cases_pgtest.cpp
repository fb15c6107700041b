// Data-driven compiler cases (STYLE.md rule 15): GraphQL + variables + session in, the
// response out, through compile() and single_query() against a real PostgreSQL loaded with
// tools/demo/schema.sql, tools/demo/seed.sql and the metadata of tools/demo/metadata.
//
// Files: tests/compiler/cases/*.test. Format (one file holds many cases):
//
//   # a comment (outside the query and expect blocks)
//   === name of the case
//   role: user                        (optional; default admin)
//   session: {"x-hasura-user-id": "1"} (optional; JSON object of session variables)
//   variables: {"id": 1}              (optional; JSON object)
//   operation: Name                   (optional; operationName)
//   --- query
//   query { users { id } }            (GraphQL, any number of lines)
//   --- expect
//   {"data": {...}}                   (JSON: the response, or {"errors": [...]}; up to the
//                                      next === or the end of the file)
//
// A response is {"data": ...} or {"errors": [{"message", "extensions": {"code", "path"}}]} as
// Hasura sends it; JSON values compare as parsed JSON (numbers by value, object keys in any order).
// The session's timezone is UTC so timestamps read the same everywhere.
//
// LIVEQL_UPDATE_CASES=1 prints every actual response and rewrites the expect blocks with it
// (review the diff before committing).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/sql.hpp"
#include "support/test_db.hpp"

namespace liveql {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

struct Case {
  std::string name;
  int line = 0;  // of the === line
  std::string role = "admin";
  json::object session;
  json::object variables;
  std::optional<std::string> operation;
  std::string query;
  std::string expect;
  size_t expect_begin = 0, expect_end = 0;  // line range [begin, end) of the expect body
  std::string parse_error;
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) lines.push_back(line);
  return lines;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

bool starts_with(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

std::vector<Case> parse_cases(const std::vector<std::string>& lines) {
  enum class In { kNothing, kHeader, kQuery, kExpect } in = In::kNothing;
  std::vector<Case> cases;
  auto end_expect = [&](size_t i) {
    if (in != In::kExpect) return;
    Case& c = cases.back();
    size_t end = i;
    while (end > c.expect_begin && trim(lines[end - 1]).empty()) --end;
    c.expect_end = end;
    for (size_t j = c.expect_begin; j < end; ++j) c.expect += lines[j] + "\n";
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (starts_with(line, "===")) {
      end_expect(i);
      Case c;
      c.name = trim(line.substr(3));
      c.line = static_cast<int>(i + 1);
      cases.push_back(std::move(c));
      in = In::kHeader;
      continue;
    }
    if (in == In::kNothing) continue;
    Case& c = cases.back();
    if (in != In::kExpect && trim(line) == "--- query") {
      in = In::kQuery;
      continue;
    }
    if (in != In::kExpect && trim(line) == "--- expect") {
      in = In::kExpect;
      c.expect_begin = c.expect_end = i + 1;
      continue;
    }
    if (in == In::kQuery) {
      c.query += line + "\n";
    } else if (in == In::kHeader) {
      std::string t = trim(line);
      if (t.empty() || t[0] == '#') continue;
      auto colon = t.find(':');
      if (colon == std::string::npos) {
        c.parse_error = "bad header line: " + t;
        continue;
      }
      std::string key = t.substr(0, colon), value = trim(t.substr(colon + 1));
      boost::system::error_code ec;
      if (key == "role") {
        c.role = value;
      } else if (key == "operation") {
        c.operation = value;
      } else if (key == "session" || key == "variables") {
        json::parse_options deep;  // as deep as compile() accepts (deep_values.test)
        deep.max_depth = 1024;
        json::value v = json::parse(value, ec, {}, deep);
        if (ec || !v.is_object()) {
          c.parse_error = key + " is not a JSON object";
          continue;
        }
        (key == "session" ? c.session : c.variables) = v.as_object();
      } else {
        c.parse_error = "unknown header " + key;
      }
    }
  }
  end_expect(lines.size());
  return cases;
}

// Compact JSON; doubles in their shortest round-trip form ("23.5", not "2.35E1").
void compact(const json::value& v, std::string& out) {
  if (v.is_double()) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v.get_double());
    out.append(buf, r.ptr);
  } else if (v.is_array()) {
    out += '[';
    bool first = true;
    for (const auto& e : v.get_array()) {
      if (!first) out += ", ";
      first = false;
      compact(e, out);
    }
    out += ']';
  } else if (v.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& kv : v.get_object()) {
      if (!first) out += ", ";
      first = false;
      out += json::serialize(json::value(kv.key())) + ": ";
      compact(kv.value(), out);
    }
    out += '}';
  } else {
    out += json::serialize(v);
  }
}

// Indented JSON with short arrays and objects on one line, so expectations stay readable.
void pretty(const json::value& v, std::string& out, int indent) {
  std::string flat;
  compact(v, flat);
  if (flat.size() + indent <= 96 || (!v.is_object() && !v.is_array())) {
    out += flat;
    return;
  }
  const std::string pad(indent + 2, ' ');
  if (v.is_array()) {
    out += "[\n";
    const auto& a = v.as_array();
    for (size_t i = 0; i < a.size(); ++i) {
      out += pad;
      pretty(a[i], out, indent + 2);
      out += i + 1 < a.size() ? ",\n" : "\n";
    }
    out += std::string(indent, ' ') + "]";
    return;
  }
  out += "{\n";
  const auto& o = v.as_object();
  size_t i = 0;
  for (const auto& kv : o) {
    out += pad + json::serialize(json::value(kv.key())) + ": ";
    pretty(kv.value(), out, indent + 2);
    out += ++i < o.size() ? ",\n" : "\n";
  }
  out += std::string(indent, ' ') + "}";
}

// JSON equality with numbers compared by value: 8, 8.0 and 8.00 are one number.
bool same_json(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (!a.is_double() && !b.is_double()) return a == b;
    return a.to_number<double>() == b.to_number<double>();
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!same_json(x[i], y[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      const json::value* other = y.if_contains(kv.key());
      if (!other || !same_json(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

json::value error_response(const Error& e) {
  return json::object{
      {"errors",
       json::array{json::object{
           {"message", e.message},
           {"extensions", json::object{{"code", error_code_name(e.code)}, {"path", e.path}}}}}}};
}

class CasesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string setup = read_text(test::source_path("tools/demo/schema.sql")) + "\n" +
                        read_text(test::source_path("tools/demo/seed.sql"));
    url_ = test::fresh_database("liveql_sqlgen_cases", setup);
    conn_ = PQconnectdb(url_.c_str());
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    PQclear(PQexec(conn_, "SET TimeZone = 'UTC'"));

    auto rows = test::query(url_, std::string(catalog::catalog_query()));
    auto cat = catalog::parse_catalog(rows.at(0).at(0));
    ASSERT_TRUE(cat.ok()) << cat.error().message;

    // The directory layout of Hasura's metadata: tables.yaml lists one !include per table.
    const fs::path dir = test::source_path("tools/demo/metadata/databases/default/tables");
    metadata::Metadata meta;
    for (const auto& line : split_lines(read_text(dir / "tables.yaml"))) {
      auto at = line.find("!include ");
      if (at == std::string::npos) continue;
      std::string file = trim(line.substr(at + 9));
      file.erase(std::remove(file.begin(), file.end(), '"'), file.end());
      file.erase(std::remove(file.begin(), file.end(), '\''), file.end());
      auto table = metadata::parse_table(read_text(dir / file));
      ASSERT_TRUE(table.ok()) << file << ": " << table.error().message;
      meta.tables.push_back(std::move(table.value()));
    }
    auto schema = compiler::build_schema(cat.value(), meta);
    ASSERT_TRUE(schema.ok()) << schema.error().message;
    schema_ = schema.value();
  }
  static void TearDownTestSuite() {
    PQfinish(conn_);
    conn_ = nullptr;
    schema_.reset();
  }

  static json::value respond(const Case& c) {
    compiler::Session session;
    session.role = c.role;
    session.is_admin = c.role == "admin";
    for (const auto& kv : c.session) {
      std::string key(kv.key());
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char ch) { return std::tolower(ch); });
      session.variables[key] = kv.value().is_string() ? std::string(kv.value().as_string())
                                                      : json::serialize(kv.value());
    }
    compiler::Request request{c.query, c.variables, c.operation};
    auto compiled = compiler::compile(*schema_, request, session);
    if (!compiled.ok()) return error_response(compiled.error());
    if (compiled->static_data) return json::object{{"data", *compiled->static_data}};
    const std::string sql = sql::single_query(compiled->ir);
    const std::string vars = json::serialize(compiled->vars);
    const char* params[] = {vars.c_str()};
    PGresult* r = PQexecParams(conn_, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
    json::value out;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      out = error_response(make_error(ErrorCode::kDataException, PQresultErrorMessage(r)));
    } else {
      out = json::object{{"data", json::parse(PQgetvalue(r, 0, 0))}};
    }
    PQclear(r);
    return out;
  }

  static std::string url_;
  static PGconn* conn_;
  static std::shared_ptr<const compiler::Schema> schema_;
};
std::string CasesTest::url_;
PGconn* CasesTest::conn_ = nullptr;
std::shared_ptr<const compiler::Schema> CasesTest::schema_;

TEST_F(CasesTest, AllCaseFiles) {
  const fs::path dir = test::source_path("tests/compiler/cases");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".test") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  const bool update = std::getenv("LIVEQL_UPDATE_CASES") != nullptr;
  size_t total = 0;
  for (const auto& file : files) {
    auto lines = split_lines(read_text(file));
    auto cases = parse_cases(lines);
    EXPECT_FALSE(cases.empty()) << file;
    std::vector<std::string> actual_texts;
    for (const auto& c : cases) {
      ++total;
      const std::string where =
          file.filename().string() + ":" + std::to_string(c.line) + " " + c.name;
      EXPECT_TRUE(c.parse_error.empty()) << where << ": " << c.parse_error;
      json::value actual = respond(c);
      std::string text;
      pretty(actual, text, 0);
      actual_texts.push_back(text);
      if (update) {
        std::cout << "=== " << where << "\n" << text << "\n";
        continue;
      }
      boost::system::error_code ec;
      json::value expected = json::parse(c.expect, ec);
      if (ec) {
        ADD_FAILURE() << where << ": expect block is not JSON; actual:\n" << text;
        continue;
      }
      std::string expected_text;
      pretty(expected, expected_text, 0);
      EXPECT_TRUE(same_json(actual, expected)) << where << "\nexpected:\n"
                                               << expected_text << "\nactual:\n"
                                               << text;
    }
    if (update) {
      // Replace the expect bodies from the last case up, so earlier line ranges stay valid.
      for (size_t i = cases.size(); i-- > 0;) {
        const Case& c = cases[i];
        if (c.expect_begin == 0) continue;
        auto body = split_lines(actual_texts[i]);
        lines.erase(lines.begin() + c.expect_begin, lines.begin() + c.expect_end);
        lines.insert(lines.begin() + c.expect_begin, body.begin(), body.end());
      }
      std::ofstream out(file);
      for (const auto& l : lines) out << l << "\n";
    }
  }
  std::cout << total << " cases\n";
}

}  // namespace
}  // namespace liveql
