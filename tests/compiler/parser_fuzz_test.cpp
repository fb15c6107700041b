// Deterministic fuzzing of the GraphQL parser: random bytes, mutated documents and generated
// documents must never crash (the sanitizers catch memory errors), every failure must be a
// well-formed parse error, and every success must print to text that parses back to itself.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/compiler/ast.hpp"
#include "liveql/compiler/parser.hpp"

namespace liveql::gql {
namespace {

std::string fmt_hex(uint32_t v, int width) {
  char buf[16];
  std::snprintf(buf, sizeof buf, (v & 1) ? "%0*X" : "%0*x", width, v);
  return buf;
}

constexpr std::string_view kCorpus[] = {
    "{ a }",
    "query Q($id: Int! = 3, $t: [String!]!) @d(x: 1) { a: b(c: $id, d: [1, 2.5e3, \"s\", "
    "true, null, ASC, {e: {f: $t}}]) @include(if: true) { ...F ... on T { g } ... { h } } }",
    "fragment F on T @x { a(s: \"\"\"\n  block \\\"\"\" \n   text\n\"\"\") }",
    "subscription S { orders(where: {id: {_in: [1, 2, 3]}}, order_by: {id: desc}) { id "
    "items_aggregate { aggregate { count } } } }",
    "mutation { insert(objects: [{name: \"\\u00e9\\uD83D\\uDE00\\n\"}]) { affected_rows } }",
    "# comment\r\n{\ta,b,,c\r d }\n",
    "\xEF\xBB\xBF{ a(x: -0.0E+1) }",
    "query($v: [[Int]] = [[1], [2]] @d) { a(v: $v) @skip(if: $no) }",
};

constexpr std::string_view kDictionary[] = {
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "!",
    "=",
    "@",
    "$",
    "|",
    "&",
    "...",
    ".",
    "..",
    "\"",
    "\"\"\"",
    "\\",
    "\\u",
    "\\uD83D",
    "\\u{",
    "#",
    "\n",
    "\r",
    "\r\n",
    ",",
    " ",
    "\t",
    "0",
    "-",
    "1e",
    "1.",
    "00",
    "on",
    "query",
    "fragment",
    "type",
    "true",
    "null",
    "a",
    "_b9",
    "\0",
    "\x01",
    "\x7F",
    "\xC0\xAF",
    "\xED\xA0\x80",
    "\xF4\x90\x80\x80",
    "\xC3",
    "\xE2\x82",
    "\xEF\xBB\xBF",
    "\xC3\xA9",
    "\xF0\x9F\x98\x80",
};

class Fuzzer {
 public:
  explicit Fuzzer(uint32_t seed) : rng_(seed) {}

  size_t below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  std::string random_bytes(size_t max_len) {
    std::string s(below(max_len + 1), '\0');
    for (char& c : s) c = static_cast<char>(below(256));
    return s;
  }

  std::string random_tokens(size_t max_count) {
    std::string s;
    size_t n = below(max_count + 1);
    for (size_t i = 0; i < n; ++i) s += kDictionary[below(std::size(kDictionary))];
    return s;
  }

  std::string mutate(std::string s) {
    size_t rounds = 1 + below(4);
    for (size_t r = 0; r < rounds; ++r) {
      size_t at = below(s.size() + 1);
      switch (below(6)) {
        case 0:  // flip a byte
          if (!s.empty()) s[below(s.size())] = static_cast<char>(below(256));
          break;
        case 1:  // insert a dictionary token
          s.insert(at, kDictionary[below(std::size(kDictionary))]);
          break;
        case 2:  // delete a range
          s.erase(at, below(8));
          break;
        case 3: {  // duplicate a range
          std::string piece = s.substr(at, below(16));
          s.insert(below(s.size() + 1), piece);
          break;
        }
        case 4:  // truncate
          s.resize(at);
          break;
        default:  // swap two bytes
          if (s.size() > 1) std::swap(s[below(s.size())], s[below(s.size())]);
      }
    }
    return s;
  }

  // ---- a generator of valid documents, with random ignored tokens between tokens.

  std::string ws() {
    switch (below(8)) {
      case 0:
        return ",";
      case 1:
        return "\n";
      case 2:
        return " # note\r\n";
      case 3:
        return "\t";
      default:
        return " ";
    }
  }

  std::string name() {
    static constexpr std::string_view kNames[] = {"a",     "id",     "on",        "query",
                                                  "true_", "_x9",    "Type",      "fragment",
                                                  "null_", "orders", "__typename"};
    return std::string(kNames[below(std::size(kNames))]);
  }

  std::string string_literal() {
    static constexpr std::string_view kPieces[] = {
        "a",          " ",        "\\n", "\\\"", "\\\\", "\\/",       "\\u0041", "\\uD83D\\uDE00",
        "\\u{1F600}", "\xC3\xA9", "\t",  "#",    "\\t",  "\\b\\f\\r", "\\u0000"};
    std::string s = "\"";
    size_t n = below(6);
    for (size_t i = 0; i < n; ++i) s += kPieces[below(std::size(kPieces))];
    return s + "\"";
  }

  std::string block_string() {
    static constexpr std::string_view kPieces[] = {"a",        " ",   "\n",  "  ", "\r\n",
                                                   "\\\"\"\"", "\" ", "\\n", "\t", "\xC3\xA9"};
    std::string s = "\"\"\"";
    size_t n = below(8);
    for (size_t i = 0; i < n; ++i) s += kPieces[below(std::size(kPieces))];
    return s + "\"\"\"";
  }

  std::string value(int depth, bool is_const) {
    size_t pick = below(depth > 0 ? 11 : 9);
    switch (pick) {
      case 0:
        return is_const ? "1" : "$" + name();
      case 1:
        return std::to_string(static_cast<int64_t>(below(2000)) - 1000);
      case 2:
        return chance(0.5) ? "-0.5e-3" : "12.25";
      case 3:
        return string_literal();
      case 4:
        return block_string();
      case 5:
        return chance(0.5) ? "true" : "false";
      case 6:
        return "null";
      case 7:
        return "ASC";
      case 8:
        return name() + "_enum";
      case 9: {
        std::string s = "[";
        size_t n = below(4);
        for (size_t i = 0; i < n; ++i) s += ws() + value(depth - 1, is_const);
        return s + ws() + "]";
      }
      default: {
        std::string s = "{";
        size_t n = below(4);
        for (size_t i = 0; i < n; ++i) s += ws() + name() + ":" + ws() + value(depth - 1, is_const);
        return s + ws() + "}";
      }
    }
  }

  std::string arguments(bool is_const) {
    if (chance(0.5)) return "";
    std::string s = "(";
    size_t n = 1 + below(3);
    for (size_t i = 0; i < n; ++i) s += ws() + name() + ":" + ws() + value(3, is_const);
    return s + ")";
  }

  std::string directives(bool is_const) {
    std::string s;
    while (chance(0.2)) s += ws() + "@" + name() + arguments(is_const);
    return s;
  }

  std::string type(int depth) {
    std::string s = depth > 0 && chance(0.3) ? "[" + type(depth - 1) + "]" : name();
    return chance(0.4) ? s + "!" : s;
  }

  std::string selection_set(int depth) {
    std::string s = "{";
    size_t n = 1 + below(4);
    for (size_t i = 0; i < n; ++i) {
      s += ws();
      size_t kind = below(10);
      if (kind == 0) {
        std::string spread = name();
        if (spread == "on") spread = "F";
        s += "..." + ws() + spread + directives(false);
      } else if (kind == 1 && depth > 0) {
        s += "..." + (chance(0.5) ? ws() + "on " + name() : "") + directives(false) + ws() +
             selection_set(depth - 1);
      } else {
        if (chance(0.3)) s += name() + ws() + ":" + ws();
        s += name() + arguments(false) + directives(false);
        if (depth > 0 && chance(0.4)) s += ws() + selection_set(depth - 1);
      }
    }
    return s + ws() + "}";
  }

  std::string document() {
    std::string s;
    size_t n = 1 + below(3);
    for (size_t i = 0; i < n; ++i) {
      s += ws();
      size_t kind = below(5);
      if (kind == 0) {
        s += selection_set(3);
      } else if (kind == 1) {
        std::string frag = name();
        if (frag == "on") frag = "F";
        s += "fragment " + frag + " on " + name() + directives(false) + ws() + selection_set(3);
      } else {
        static constexpr std::string_view kOps[] = {"query", "mutation", "subscription"};
        s += std::string(kOps[below(3)]);
        if (chance(0.5)) s += " " + name();
        if (chance(0.5)) {
          s += "(";
          size_t vars = 1 + below(3);
          for (size_t v = 0; v < vars; ++v) {
            s += ws() + "$" + name() + ":" + ws() + type(2);
            if (chance(0.3)) s += ws() + "=" + ws() + value(2, true);
            s += directives(true);
          }
          s += ")";
        }
        s += directives(false) + ws() + selection_set(3);
      }
    }
    return s + ws();
  }

 private:
  std::mt19937 rng_;
};

// Every outcome must be either a document that prints to a fixed point, or a parse error in
// the house shape.
void check_document(std::string_view source, const ParseLimits& limits = {}) {
  auto result = parse(source, limits);
  if (!result.ok()) {
    const Error& e = result.error();
    ASSERT_EQ(e.code, ErrorCode::kValidationFailed);
    ASSERT_EQ(e.path, "$.query");
    ASSERT_EQ(e.message.rfind("not a valid graphql query: ", 0), 0u) << e.message;
    return;
  }
  const std::string printed = print(*result);
  ParseLimits roomy;
  roomy.max_document_bytes = printed.size() + 1;
  auto again = parse(printed, roomy);
  ASSERT_TRUE(again.ok()) << "source: " << source << "\nprinted: " << printed
                          << "\nerror: " << again.error().message;
  ASSERT_EQ(print(*again), printed);
}

void check_value(std::string_view source) {
  auto result = parse_value(source);
  if (!result.ok()) {
    ASSERT_EQ(result.error().code, ErrorCode::kValidationFailed);
    ASSERT_EQ(result.error().message.rfind("not a valid graphql value: ", 0), 0u);
    return;
  }
  const std::string printed = print(*result);
  auto again = parse_value(printed);
  ASSERT_TRUE(again.ok()) << printed;
  ASSERT_EQ(print(*again), printed);
}

TEST(ParserFuzzTest, RandomBytesNeverCrash) {
  Fuzzer f(20240601);
  for (int i = 0; i < 1500; ++i) {
    std::string s = f.random_bytes(160);
    ASSERT_NO_FATAL_FAILURE(check_document(s)) << i;
    ASSERT_NO_FATAL_FAILURE(check_value(s)) << i;
  }
  for (int i = 0; i < 1500; ++i) {
    std::string s = f.random_tokens(40);
    ASSERT_NO_FATAL_FAILURE(check_document(s)) << i;
    ASSERT_NO_FATAL_FAILURE(check_value(s)) << i;
  }
}

TEST(ParserFuzzTest, MutatedDocumentsNeverCrash) {
  Fuzzer f(7);
  ParseLimits tight;
  tight.max_depth = 3;
  tight.max_tokens = 30;
  tight.max_document_bytes = 200;
  int parsed = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string s = f.mutate(std::string(kCorpus[f.below(std::size(kCorpus))]));
    ASSERT_NO_FATAL_FAILURE(check_document(s)) << i;
    ASSERT_NO_FATAL_FAILURE(check_document(s, tight)) << i;
    parsed += parse(s).ok() ? 1 : 0;
  }
  // The mutations must leave enough valid documents for the round trip to be exercised.
  EXPECT_GT(parsed, 200);
}

TEST(ParserFuzzTest, CorpusParses) {
  for (std::string_view source : kCorpus) {
    auto result = parse(source);
    ASSERT_TRUE(result.ok()) << source << "\n" << result.error().message;
    ASSERT_NO_FATAL_FAILURE(check_document(source));
  }
}

TEST(ParserFuzzTest, GeneratedDocumentsParseAndRoundTrip) {
  Fuzzer f(42);
  for (int i = 0; i < 500; ++i) {
    std::string s = f.document();
    auto result = parse(s);
    ASSERT_TRUE(result.ok()) << s << "\n" << result.error().message;
    ASSERT_NO_FATAL_FAILURE(check_document(s));
    // Mutations of valid documents, too.
    ASSERT_NO_FATAL_FAILURE(check_document(f.mutate(s))) << i;
  }
}

// Any sequence of code points, escaped in any of the ways the spec allows, decodes back to
// itself.
TEST(ParserFuzzTest, StringEscapesRoundTrip) {
  Fuzzer f(99);
  for (int i = 0; i < 2000; ++i) {
    std::string expected;
    std::string literal = "\"";
    size_t n = f.below(12);
    for (size_t k = 0; k < n; ++k) {
      uint32_t cp;
      do {
        switch (f.below(4)) {
          case 0:
            cp = static_cast<uint32_t>(f.below(0x80));
            break;
          case 1:
            cp = static_cast<uint32_t>(f.below(0x800));
            break;
          case 2:
            cp = static_cast<uint32_t>(f.below(0x10000));
            break;
          default:
            cp = static_cast<uint32_t>(0x10000 + f.below(0x100000));
        }
      } while (cp >= 0xD800 && cp <= 0xDFFF);
      std::string utf8;
      if (cp < 0x80) {
        utf8 += static_cast<char>(cp);
      } else if (cp < 0x800) {
        utf8 += static_cast<char>(0xC0 | (cp >> 6));
        utf8 += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        utf8 += static_cast<char>(0xE0 | (cp >> 12));
        utf8 += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        utf8 += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        utf8 += static_cast<char>(0xF0 | (cp >> 18));
        utf8 += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        utf8 += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        utf8 += static_cast<char>(0x80 | (cp & 0x3F));
      }
      expected += utf8;
      const bool must_escape = cp < 0x20 || cp == '"' || cp == '\\';
      const size_t how = must_escape ? 1 + f.below(2) : f.below(3);
      if (how == 0) {
        literal += utf8;
      } else if (how == 2) {
        literal += "\\u{" + fmt_hex(cp, 1) + "}";
      } else if (cp < 0x10000) {
        literal += "\\u" + fmt_hex(cp, 4);
      } else {
        uint32_t v = cp - 0x10000;
        literal +=
            "\\u" + fmt_hex(0xD800 + (v >> 10), 4) + "\\u" + fmt_hex(0xDC00 + (v & 0x3FF), 4);
      }
    }
    literal += "\"";
    auto result = parse_value(literal);
    ASSERT_TRUE(result.ok()) << literal << "\n" << result.error().message;
    ASSERT_EQ(result->text, expected) << literal;
    // And the printer's escaping reads back the same.
    auto again = parse_value(print(*result));
    ASSERT_TRUE(again.ok());
    ASSERT_EQ(again->text, expected);
  }
}

}  // namespace
}  // namespace liveql::gql
