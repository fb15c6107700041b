// The GraphQL lexer and parser: every token kind, escape and production, locations, error
// messages, limits and hostile input.
#include "liveql/compiler/parser.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "liveql/compiler/ast.hpp"

namespace liveql::gql {
namespace {

// The canonical print of a parsed document, or "ERROR: <message>".
std::string doc(std::string_view source, const ParseLimits& limits = {}) {
  auto result = parse(source, limits);
  if (!result.ok()) return "ERROR: " + result.error().message;
  return print(*result);
}

std::string val(std::string_view source, const ParseLimits& limits = {}) {
  auto result = parse_value(source, limits);
  if (!result.ok()) return "ERROR: " + result.error().message;
  return print(*result);
}

// The decoded text of a single string value.
std::string str(std::string_view source) {
  auto result = parse_value(source);
  if (!result.ok()) return "ERROR: " + result.error().message;
  EXPECT_EQ(result->kind, Value::Kind::kString) << source;
  return result->text;
}

std::string doc_error(std::string_view source, const ParseLimits& limits = {}) {
  auto result = parse(source, limits);
  if (result.ok()) return "OK: " + print(*result);
  EXPECT_EQ(result.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(result.error().path, "$.query");
  return result.error().message;
}

constexpr std::string_view kBad = "not a valid graphql query: ";
std::string bad(std::string_view rest) { return std::string(kBad) + std::string(rest); }
std::string bad_value(std::string_view rest) {
  return "ERROR: not a valid graphql value: " + std::string(rest);
}

// ---------------------------------------------------------------- numbers

TEST(ParserValueTest, IntsAndFloats) {
  struct Case {
    std::string_view source;
    Value::Kind kind;
  };
  for (const Case& c :
       {Case{"0", Value::Kind::kInt}, Case{"-0", Value::Kind::kInt}, Case{"123", Value::Kind::kInt},
        Case{"-987654321012", Value::Kind::kInt}, Case{"0.0", Value::Kind::kFloat},
        Case{"1.5", Value::Kind::kFloat}, Case{"-1.5e-3", Value::Kind::kFloat},
        Case{"1e10", Value::Kind::kFloat}, Case{"1E+10", Value::Kind::kFloat},
        Case{"0e0", Value::Kind::kFloat}, Case{"12.34E56", Value::Kind::kFloat}}) {
    auto v = parse_value(c.source);
    ASSERT_TRUE(v.ok()) << c.source << ": " << v.error().message;
    EXPECT_EQ(v->kind, c.kind) << c.source;
    EXPECT_EQ(v->text, c.source);
  }
}

TEST(ParserValueTest, BadNumbers) {
  EXPECT_EQ(val("01"),
            bad_value("line 1, column 2: invalid number, unexpected digit after 0: \"1\""));
  EXPECT_EQ(val("-01"),
            bad_value("line 1, column 3: invalid number, unexpected digit after 0: \"1\""));
  EXPECT_EQ(val("1."), bad_value("line 1, column 3: invalid number, expected a digit but found end "
                                 "of document"));
  EXPECT_EQ(val("1.e1"),
            bad_value("line 1, column 3: invalid number, expected a digit but found \"e\""));
  EXPECT_EQ(val("1a"),
            bad_value("line 1, column 2: invalid number, expected a digit but found \"a\""));
  EXPECT_EQ(val("1_"),
            bad_value("line 1, column 2: invalid number, expected a digit but found \"_\""));
  EXPECT_EQ(val("0x10"),
            bad_value("line 1, column 2: invalid number, expected a digit but found \"x\""));
  EXPECT_EQ(val("1.2.3"),
            bad_value("line 1, column 4: invalid number, expected a digit but found \".\""));
  EXPECT_EQ(val("1e"), bad_value("line 1, column 3: invalid number, expected a digit but found "
                                 "end of document"));
  EXPECT_EQ(val("1e+"), bad_value("line 1, column 4: invalid number, expected a digit but found "
                                  "end of document"));
  EXPECT_EQ(val("-"), bad_value("line 1, column 2: invalid number, expected a digit but found "
                                "end of document"));
  EXPECT_EQ(val("- 1"),
            bad_value("line 1, column 2: invalid number, expected a digit but found \" \""));
  EXPECT_EQ(val(".5"), bad_value("line 1, column 1: unexpected \".\", expected \"...\""));
  EXPECT_EQ(val("1.5e3x"),
            bad_value("line 1, column 6: invalid number, expected a digit but found \"x\""));
}

// ---------------------------------------------------------------- strings

TEST(ParserValueTest, StringsAndEscapes) {
  EXPECT_EQ(str(R"("")"), "");
  EXPECT_EQ(str(R"("abc")"), "abc");
  EXPECT_EQ(str(R"("a\"b\\c\/d")"), "a\"b\\c/d");
  EXPECT_EQ(str(R"("\b\f\n\r\t")"), "\b\f\n\r\t");
  EXPECT_EQ(str(R"("\u0041\u00e9\u00E9")"), "A\xC3\xA9\xC3\xA9");
  EXPECT_EQ(str(R"("\u20AC")"), "\xE2\x82\xAC");
  EXPECT_EQ(str(R"("\uD83D\uDE00")"), "\xF0\x9F\x98\x80");  // U+1F600 from a surrogate pair
  EXPECT_EQ(str(R"("\uDBFF\uDFFF")"), "\xF4\x8F\xBF\xBF");  // U+10FFFF
  EXPECT_EQ(str(R"("\u{1F600}")"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(str(R"("\u{41}\u{0000041}")"), "AA");
  EXPECT_EQ(str(R"("\u0000")"), std::string(1, '\0'));
  EXPECT_EQ(str("\"h\xC3\xA9llo \xF0\x9F\x98\x80\""), "h\xC3\xA9llo \xF0\x9F\x98\x80");
  EXPECT_EQ(str("\"a\tb\""), "a\tb");
  EXPECT_EQ(str(R"("# not a comment, not ignored")"), "# not a comment, not ignored");
}

TEST(ParserValueTest, BadStrings) {
  EXPECT_EQ(val(R"("abc)"), bad_value("line 1, column 5: unterminated string"));
  EXPECT_EQ(val("\"ab\ncd\""), bad_value("line 1, column 4: unterminated string"));
  EXPECT_EQ(val("\"ab\rcd\""), bad_value("line 1, column 4: unterminated string"));
  EXPECT_EQ(val(R"("ab\)"), bad_value("line 1, column 4: unterminated string"));
  EXPECT_EQ(val(std::string_view("\"a\0b\"", 5)),
            bad_value("line 1, column 3: invalid character U+0000 within a string"));
  EXPECT_EQ(val("\"a\x01\""), bad_value("line 1, column 3: invalid character U+0001 within a "
                                        "string"));
  EXPECT_EQ(val(R"("\x")"), bad_value("line 1, column 2: invalid escape sequence \\\"x\""));
  EXPECT_EQ(val(R"("\u12")"), bad_value("line 1, column 2: invalid unicode escape sequence"));
  EXPECT_EQ(val(R"("\u12G4")"), bad_value("line 1, column 2: invalid unicode escape sequence"));
  EXPECT_EQ(val(R"("\uD83D")"),
            bad_value("line 1, column 2: invalid unicode escape sequence: unpaired surrogate"));
  EXPECT_EQ(val(R"("\uD83Dx")"),
            bad_value("line 1, column 2: invalid unicode escape sequence: unpaired surrogate"));
  EXPECT_EQ(val(R"("\uD83D\u0041")"),
            bad_value("line 1, column 2: invalid unicode escape sequence: unpaired surrogate"));
  EXPECT_EQ(val(R"("\uDE00")"),
            bad_value("line 1, column 2: invalid unicode escape sequence: unpaired surrogate"));
  EXPECT_EQ(val(R"("x\u{110000}")"), bad_value("line 1, column 3: invalid unicode escape "
                                               "sequence"));
  EXPECT_EQ(val(R"("\u{D800}")"), bad_value("line 1, column 2: invalid unicode escape sequence"));
  EXPECT_EQ(val(R"("\u{}")"), bad_value("line 1, column 2: invalid unicode escape sequence"));
  EXPECT_EQ(val(R"("\u{41")"), bad_value("line 1, column 2: invalid unicode escape sequence"));
  EXPECT_EQ(val(R"("\u{000000041}")"),
            bad_value("line 1, column 2: invalid unicode escape sequence"));
}

TEST(ParserValueTest, BlockStrings) {
  // The spec's example: common indentation and blank first/last lines go.
  EXPECT_EQ(str("\"\"\"\n    Hello,\n      World!\n\n    Yours,\n      GraphQL.\n  \"\"\""),
            "Hello,\n  World!\n\nYours,\n  GraphQL.");
  EXPECT_EQ(str(R"("""""")"), "");
  EXPECT_EQ(str(R"("""abc""")"), "abc");
  EXPECT_EQ(str(R"("""  first line keeps its indent""")"), "  first line keeps its indent");
  EXPECT_EQ(str("\"\"\"  a\n    b\n   c\"\"\""), "  a\n b\nc");
  EXPECT_EQ(str("\"\"\"\r\n  a\r\n   b\r  c\r\n\"\"\""), "a\n b\nc");
  EXPECT_EQ(str("\"\"\"\n\t\ta\n\t\t\tb\n\"\"\""), "a\n\tb");
  EXPECT_EQ(str("\"\"\"\n  a\n \n  b\n\n\"\"\""), "a\n\nb");  // blank lines inside stay
  EXPECT_EQ(str(R"("""no \n escapes \u0041 here""")"), "no \\n escapes \\u0041 here");
  EXPECT_EQ(str(R"("""a \""" b""")"), "a \"\"\" b");
  EXPECT_EQ(str(R"("""a "" b " c""")"), "a \"\" b \" c");
  EXPECT_EQ(str("\"\"\"h\xC3\xA9\tx\"\"\""), "h\xC3\xA9\tx");
  EXPECT_EQ(val(R"("""abc)"), bad_value("line 1, column 1: unterminated block string"));
  EXPECT_EQ(val("\"\"\"\n\n  abc\"\""), bad_value("line 1, column 1: unterminated block string"));
  EXPECT_EQ(val("\"\"\"a\x02\"\"\""),
            bad_value("line 1, column 5: invalid character U+0002 within a string"));
}

// ---------------------------------------------------------------- other values

TEST(ParserValueTest, NamesListsObjectsVariables) {
  auto v = parse_value("true");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->kind, Value::Kind::kBoolean);
  EXPECT_EQ(v->text, "true");
  v = parse_value("false");
  EXPECT_EQ(v->kind, Value::Kind::kBoolean);
  EXPECT_EQ(v->text, "false");
  v = parse_value("null");
  EXPECT_EQ(v->kind, Value::Kind::kNull);
  v = parse_value("asc_nulls_first");
  EXPECT_EQ(v->kind, Value::Kind::kEnum);
  EXPECT_EQ(v->text, "asc_nulls_first");
  v = parse_value("  $user_id ");
  EXPECT_EQ(v->kind, Value::Kind::kVariable);
  EXPECT_EQ(v->text, "user_id");
  EXPECT_EQ(v->loc.column, 3u);

  v = parse_value(R"({id: {_eq: 3}, tags: ["a" "b",], n: null, e: [] o: {}})");
  ASSERT_TRUE(v.ok()) << v.error().message;
  ASSERT_EQ(v->kind, Value::Kind::kObject);
  ASSERT_EQ(v->fields.size(), 5u);
  EXPECT_EQ(v->fields[0].first, "id");
  EXPECT_EQ(v->fields[0].second.fields[0].first, "_eq");
  EXPECT_EQ(v->fields[0].second.fields[0].second.text, "3");
  EXPECT_EQ(v->fields[1].second.kind, Value::Kind::kList);
  EXPECT_EQ(v->fields[1].second.list.size(), 2u);
  EXPECT_EQ(v->fields[1].second.list[1].text, "b");
  EXPECT_EQ(v->fields[1].second.list[1].loc.column, 27u);
  EXPECT_EQ(v->fields[2].second.kind, Value::Kind::kNull);
  EXPECT_TRUE(v->fields[3].second.list.empty());
  EXPECT_EQ(v->fields[4].second.kind, Value::Kind::kObject);
  EXPECT_EQ(print(*v), R"({id: {_eq: 3}, tags: ["a", "b"], n: null, e: [], o: {}})");

  EXPECT_EQ(val("[[1, [2]], $x, {a: $y}]"), "[[1, [2]], $x, {a: $y}]");
  EXPECT_EQ(val("{a: 1, a: 2}"), "{a: 1, a: 2}");  // uniqueness is the validator's business
}

TEST(ParserValueTest, BadValues) {
  EXPECT_EQ(val(""), bad_value("line 1, column 1: expected a value, found end of document"));
  EXPECT_EQ(val("1 2"),
            bad_value("line 1, column 3: expected end of document, found an int \"2\""));
  EXPECT_EQ(val("{a}"), bad_value("line 1, column 3: expected \":\", found \"}\""));
  EXPECT_EQ(val("{1: 2}"), bad_value("line 1, column 2: expected a name, found an int \"1\""));
  EXPECT_EQ(val("{a: }"), bad_value("line 1, column 5: expected a value, found \"}\""));
  EXPECT_EQ(val("[1"), bad_value("line 1, column 3: expected a value, found end of document"));
  EXPECT_EQ(val("]"), bad_value("line 1, column 1: expected a value, found \"]\""));
  EXPECT_EQ(val("$"), bad_value("line 1, column 2: expected a name, found end of document"));
  EXPECT_EQ(val("$ 1"), bad_value("line 1, column 3: expected a name, found an int \"1\""));
  EXPECT_EQ(val("@"), bad_value("line 1, column 1: expected a value, found \"@\""));
}

// ---------------------------------------------------------------- documents

TEST(ParserDocumentTest, EveryProduction) {
  constexpr std::string_view kSource = R"(
    # a comment, then a query with everything in it
    query Orders($id: Int! = 3, $tags: [String!]! @v, $o: [[order_by]] = [[{id: asc}]]) @op(x: 1) {
      first: orders(where: {id: {_eq: $id}}, limit: 10) @include(if: true) @skip(if: false) {
        id
        ...Item @spread
        ... on order { total }
        ... @include(if: $flag) { note }
        ... { __typename }
      }
    }
    mutation M { insert(o: "x") { affected_rows } }
    subscription { orders { id } }
    fragment Item on order @frag { items(order_by: {id: desc}) { name } }
    { shorthand }
  )";
  auto result = parse(kSource);
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Document& d = *result;
  ASSERT_EQ(d.operations.size(), 4u);
  ASSERT_EQ(d.fragments.size(), 1u);

  const OperationDefinition& q = d.operations[0];
  EXPECT_EQ(q.type, OperationType::kQuery);
  EXPECT_EQ(q.name, "Orders");
  EXPECT_EQ(q.loc.line, 3u);
  EXPECT_EQ(q.loc.column, 5u);
  ASSERT_EQ(q.variables.size(), 3u);
  EXPECT_EQ(q.variables[0].name, "id");
  EXPECT_EQ(q.variables[0].type.kind, TypeRef::Kind::kNonNull);
  EXPECT_EQ(q.variables[0].type.of->kind, TypeRef::Kind::kNamed);
  EXPECT_EQ(q.variables[0].type.of->name, "Int");
  ASSERT_TRUE(q.variables[0].default_value.has_value());
  EXPECT_EQ(q.variables[0].default_value->text, "3");
  EXPECT_EQ(print(q.variables[1].type), "[String!]!");
  EXPECT_EQ(q.variables[1].directives.at(0).name, "v");
  EXPECT_EQ(print(q.variables[2].type), "[[order_by]]");
  EXPECT_EQ(print(*q.variables[2].default_value), "[[{id: asc}]]");
  ASSERT_EQ(q.directives.size(), 1u);
  EXPECT_EQ(q.directives[0].name, "op");
  EXPECT_EQ(q.directives[0].arguments.at(0).name, "x");

  ASSERT_EQ(q.selection_set.size(), 1u);
  const Field& first = std::get<Field>(q.selection_set[0].node);
  EXPECT_EQ(first.alias, "first");
  EXPECT_EQ(first.name, "orders");
  EXPECT_EQ(first.response_key(), "first");
  EXPECT_EQ(first.loc.line, 4u);
  EXPECT_EQ(first.loc.column, 7u);
  ASSERT_EQ(first.arguments.size(), 2u);
  EXPECT_EQ(first.arguments[0].name, "where");
  EXPECT_EQ(first.arguments[0].value.fields[0].second.fields[0].second.kind,
            Value::Kind::kVariable);
  EXPECT_EQ(first.arguments[1].value.text, "10");
  ASSERT_EQ(first.directives.size(), 2u);
  EXPECT_EQ(first.directives[1].name, "skip");
  ASSERT_EQ(first.selection_set.size(), 5u);
  EXPECT_EQ(std::get<Field>(first.selection_set[0].node).name, "id");
  EXPECT_FALSE(std::get<Field>(first.selection_set[0].node).alias.has_value());
  const auto& spread = std::get<FragmentSpread>(first.selection_set[1].node);
  EXPECT_EQ(spread.name, "Item");
  EXPECT_EQ(spread.directives.at(0).name, "spread");
  EXPECT_EQ(spread.loc.line, 6u);
  EXPECT_EQ(spread.loc.column, 9u);
  const auto& typed = std::get<InlineFragment>(first.selection_set[2].node);
  EXPECT_EQ(typed.type_condition, "order");
  EXPECT_EQ(std::get<Field>(typed.selection_set.at(0).node).name, "total");
  const auto& with_directive = std::get<InlineFragment>(first.selection_set[3].node);
  EXPECT_FALSE(with_directive.type_condition.has_value());
  EXPECT_EQ(with_directive.directives.at(0).name, "include");
  const auto& bare = std::get<InlineFragment>(first.selection_set[4].node);
  EXPECT_FALSE(bare.type_condition.has_value());
  EXPECT_TRUE(bare.directives.empty());

  EXPECT_EQ(d.operations[1].type, OperationType::kMutation);
  EXPECT_EQ(d.operations[1].name, "M");
  EXPECT_EQ(d.operations[2].type, OperationType::kSubscription);
  EXPECT_FALSE(d.operations[2].name.has_value());
  EXPECT_EQ(d.operations[3].type, OperationType::kQuery);
  EXPECT_FALSE(d.operations[3].name.has_value());
  EXPECT_EQ(d.operations[3].loc.line, 15u);

  const FragmentDefinition& f = d.fragments[0];
  EXPECT_EQ(f.name, "Item");
  EXPECT_EQ(f.type_condition, "order");
  EXPECT_EQ(f.directives.at(0).name, "frag");
  EXPECT_EQ(f.loc.line, 14u);

  // The canonical print parses back to itself.
  std::string printed = print(d);
  EXPECT_EQ(doc(printed), printed);
}

TEST(ParserDocumentTest, PrintsCanonically) {
  EXPECT_EQ(doc("{a}"), "query { a }");
  EXPECT_EQ(doc("{ a b: c(x: 1, y: \"s\") { d } }"), "query { a b: c(x: 1, y: \"s\") { d } }");
  EXPECT_EQ(doc("query($a:Int=1@d,$b:[X!]!){f(a:$a)}"),
            "query($a: Int = 1 @d, $b: [X!]!) { f(a: $a) }");
  EXPECT_EQ(doc("{...F ...on T{a}...@d{b}}fragment F on T{c}"),
            "query { ...F ... on T { a } ... @d { b } }\nfragment F on T { c }");
  EXPECT_EQ(doc("{ a(s: \"\"\"\n  x \"q\"\n  y\"\"\") }"), "query { a(s: \"x \\\"q\\\"\\ny\") }");
  // Keywords are only keywords where the grammar says so.
  EXPECT_EQ(doc("query query { query: query(query: query) fragment on subscription { on } }"),
            "query query { query: query(query: query) fragment on subscription { on } }");
  EXPECT_EQ(doc("fragment query on on { type }"), "fragment query on on { type }");
}

TEST(ParserDocumentTest, IgnoredTokensAndLocations) {
  // Commas, comments, tabs, a BOM at the start and in the middle, \r\n and \r line ends.
  auto result = parse("\xEF\xBB\xBF{ a,,, # c\r\n\tb \xEF\xBB\xBF\r  c }\n#end");
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(print(*result), "query { a b c }");
  EXPECT_EQ(doc_error("\xEF\xBB\xBF{ a,,, # c\r\n\tb \xEF\xBB\xBF\r  c\n#end"),
            bad("line 4, column 5: expected a field, \"...\" or \"}\", found end of document"));
  const auto& set = result->operations[0].selection_set;
  EXPECT_EQ(result->operations[0].loc.column, 4u);  // columns count bytes, the BOM included
  EXPECT_EQ(std::get<Field>(set[1].node).loc.line, 2u);
  EXPECT_EQ(std::get<Field>(set[1].node).loc.column, 2u);
  EXPECT_EQ(std::get<Field>(set[2].node).loc.line, 3u);
  EXPECT_EQ(std::get<Field>(set[2].node).loc.column, 3u);

  // Lines inside a block string count too.
  result = parse("{ a(x: \"\"\"\n1\r\n2\r3\n\"\"\") b }");
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Field& b = std::get<Field>(result->operations[0].selection_set[1].node);
  EXPECT_EQ(b.loc.line, 5u);
  EXPECT_EQ(b.loc.column, 6u);
  EXPECT_EQ(doc_error("{ a(x: \"\"\"\n\n\"\"\") ? }"),
            bad("line 3, column 6: unexpected character \"?\""));
}

TEST(ParserDocumentTest, SyntaxErrors) {
  struct Case {
    std::string_view source;
    std::string_view message;
  };
  const Case cases[] = {
      {"", "line 1, column 1: expected an operation or a fragment, found end of document"},
      {"  # only a comment\n",
       "line 2, column 1: expected an operation or a fragment, found end of document"},
      {"{}", "line 1, column 2: expected a field, \"...\" or \"}\", found \"}\""},
      {"{ a", "line 1, column 4: expected a field, \"...\" or \"}\", found end of document"},
      {"{ a } }", "line 1, column 7: expected an operation or a fragment, found \"}\""},
      {"{ a } b", "line 1, column 7: expected an operation or a fragment, found a name \"b\""},
      {"query", "line 1, column 6: expected \"{\", found end of document"},
      {"query Q [", "line 1, column 9: expected \"{\", found \"[\""},
      {"query () { a }", "line 1, column 8: expected a variable (\"$\"), found \")\""},
      {"query ($x) { a }", "line 1, column 10: expected \":\", found \")\""},
      {"query ($x: ) { a }", "line 1, column 12: expected a type, found \")\""},
      {"query ($x: Int!!) { a }", "line 1, column 16: expected a variable (\"$\"), found \"!\""},
      {"query ($x: [Int) { a }", "line 1, column 16: expected \"]\", found \")\""},
      {"query ($x: Int = $y) { a }",
       "line 1, column 18: variables are not allowed in a constant value"},
      {"query ($x: Int = [{a: $y}]) { a }",
       "line 1, column 23: variables are not allowed in a constant value"},
      {"query ($x: Int @d(a: $y)) { a }",
       "line 1, column 22: variables are not allowed in a constant value"},
      {"query ($x: Int = ) { a }", "line 1, column 18: expected a value, found \")\""},
      {"{ a() }", "line 1, column 5: expected a name, found \")\""},
      {"{ a(b) }", "line 1, column 6: expected \":\", found \")\""},
      {"{ a(b:) }", "line 1, column 7: expected a value, found \")\""},
      {"{ a: }", "line 1, column 6: expected a name, found \"}\""},
      {"{ a: b: c }", "line 1, column 7: expected a field, \"...\" or \"}\", found \":\""},
      {"{ a @ }", "line 1, column 7: expected a name, found \"}\""},
      {"{ a { } }", "line 1, column 7: expected a field, \"...\" or \"}\", found \"}\""},
      {"{ ... }",
       "line 1, column 7: expected a fragment name, \"on\", \"@\" or \"{\", found \"}\""},
      {"{ ... on }", "line 1, column 10: expected a name, found \"}\""},
      {"{ ... on T }", "line 1, column 12: expected \"{\", found \"}\""},
      {"{ ... @d }", "line 1, column 10: expected \"{\", found \"}\""},
      {"{ .. }", "line 1, column 3: unexpected \".\", expected \"...\""},
      {"{ a ? }", "line 1, column 5: unexpected character \"?\""},
      {"{ a & }", "line 1, column 5: expected a field, \"...\" or \"}\", found \"&\""},
      {"{ a | }", "line 1, column 5: expected a field, \"...\" or \"}\", found \"|\""},
      {"{ a = }", "line 1, column 5: expected a field, \"...\" or \"}\", found \"=\""},
      {"{ a \xC3\xA9 }", "line 1, column 5: unexpected character U+00E9"},
      {"{ a \xF0\x9F\x98\x80 }", "line 1, column 5: unexpected character U+1F600"},
      {std::string_view("{ a \0 }", 7), "line 1, column 5: unexpected character U+0000"},
      {"{ a \x7F }", "line 1, column 5: unexpected character U+007F"},
      {"fragment F T { a }", "line 1, column 12: expected \"on\", found a name \"T\""},
      {"fragment on on T { a }", "line 1, column 10: a fragment cannot be named \"on\""},
      {"fragment F on { a }", "line 1, column 15: expected a name, found \"{\""},
      {"fragment F on T", "line 1, column 16: expected \"{\", found end of document"},
      {"fragment F on T @d", "line 1, column 19: expected \"{\", found end of document"},
      {"type Query { a: Int }",
       "line 1, column 1: type system definitions (\"type\") are not allowed in an executable "
       "document"},
      {"{ a } schema { query: Q }",
       "line 1, column 7: type system definitions (\"schema\") are not allowed in an executable "
       "document"},
      {"extend type Q { a: Int }",
       "line 1, column 1: type system definitions (\"extend\") are not allowed in an executable "
       "document"},
      {"directive @d on FIELD",
       "line 1, column 1: type system definitions (\"directive\") are not allowed in an "
       "executable document"},
      {"\"description\" type Q { a: Int }",
       "line 1, column 1: descriptions and type system definitions are not allowed in an "
       "executable document"},
      {"{ a(x: 1 }", "line 1, column 10: expected a name, found \"}\""},
      {"{ a(x: [1 }", "line 1, column 11: expected a value, found \"}\""},
      {"{ a(x: 0123) }", "line 1, column 9: invalid number, unexpected digit after 0: \"1\""},
      {"{ a(x: \"abc) }", "line 1, column 15: unterminated string"},
      {"\n\n   { a(x: $) }", "line 3, column 12: expected a name, found \")\""},
      {"{ aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: 1 }",
       "line 1, column 57: expected a name, found an int \"1\""},
      {"{ a: 1234567890123456789012345678901234567890123456789 }",
       "line 1, column 6: expected a name, found an int "
       "\"1234567890123456789012345678901234567890...\""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(doc_error(c.source), bad(c.message)) << "source: " << c.source;
  }
}

TEST(ParserDocumentTest, ErrorShape) {
  auto result = parse("{ a");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kValidationFailed);
  EXPECT_STREQ(error_code_name(result.error().code), "validation-failed");
  EXPECT_EQ(result.error().path, "$.query");
  EXPECT_EQ(result.error().message.rfind("not a valid graphql query", 0), 0u);
  auto value = parse_value("{");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(value.error().path, "$");
}

TEST(ParserDocumentTest, DocumentOwnsItsText) {
  auto source = std::make_unique<std::string>("query Q($v: T = \"d\") { a: b(s: \"x\\n\", e: E) }");
  auto result = parse(*source);
  source->assign(source->size(), '#');  // the AST must not point into the source
  source.reset();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(print(*result), "query Q($v: T = \"d\") { a: b(s: \"x\\n\", e: E) }");
}

TEST(ParserDocumentTest, StringsInErrorsAreNamedByKind) {
  EXPECT_EQ(doc_error("{ \"a\" }"),
            bad("line 1, column 3: expected a field, \"...\" or \"}\", found a string"));
  EXPECT_EQ(doc_error("{ \"\"\"a\"\"\" }"),
            bad("line 1, column 3: expected a field, \"...\" or \"}\", found a block string"));
  EXPECT_EQ(doc_error("{ 1.5 }"),
            bad("line 1, column 3: expected a field, \"...\" or \"}\", found a float \"1.5\""));
  ParseLimits none;
  none.max_depth = 0;
  EXPECT_EQ(doc_error("{ a }", none),
            bad("line 1, column 1: the document nests deeper than the limit of 0"));
}

// ---------------------------------------------------------------- UTF-8

TEST(ParserUtf8Test, ValidUtf8Passes) {
  EXPECT_EQ(
      doc("# \xC2\xA2 \xE2\x82\xAC \xED\x9F\xBF \xEE\x80\x80 \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF\n"
          "{ a(s: \"\xEF\xBF\xBF\") }"),
      "query { a(s: \"\xEF\xBF\xBF\") }");
}

TEST(ParserUtf8Test, InvalidUtf8IsAParseError) {
  struct Case {
    std::string_view bytes;
    std::string_view byte;
  };
  const Case cases[] = {
      {"\x80", "0x80"},              // a lone continuation byte
      {"\xBF", "0xBF"},              //
      {"\xC0\xAF", "0xC0"},          // overlong '/'
      {"\xC1\xBF", "0xC1"},          // overlong
      {"\xE0\x80\xAF", "0xE0"},      // overlong, three bytes
      {"\xE0\x9F\xBF", "0xE0"},      // overlong, three bytes
      {"\xF0\x80\x80\xAF", "0xF0"},  // overlong, four bytes
      {"\xF0\x8F\xBF\xBF", "0xF0"},  // overlong, four bytes
      {"\xED\xA0\x80", "0xED"},      // U+D800, a surrogate
      {"\xED\xBF\xBF", "0xED"},      // U+DFFF, a surrogate
      {"\xF4\x90\x80\x80", "0xF4"},  // above U+10FFFF
      {"\xF5\x80\x80\x80", "0xF5"},  //
      {"\xFE", "0xFE"},              //
      {"\xFF", "0xFF"},              //
      {"\xC3", "0xC3"},              // truncated at the end of the document
      {"\xE2\x82", "0xE2"},          //
      {"\xF0\x9F\x98", "0xF0"},      //
      {"\xC3(", "0xC3"},             // truncated by an ASCII byte
      {"\xE2\x82(", "0xE2"},         //
      {"\xF0\x9F\x98(", "0xF0"},     //
  };
  for (const Case& c : cases) {
    for (std::string_view where : {"{ a(s: \"@\") }", "# @\n{ a }", "{ a } @"}) {
      std::string source(where);
      size_t at = source.find('@');
      source.replace(at, 1, c.bytes);
      auto result = parse(source);
      ASSERT_FALSE(result.ok()) << source;
      Location loc{1, static_cast<uint32_t>(at + 1)};
      if (where[0] == '#') loc = Location{1, 3};
      EXPECT_EQ(result.error().message,
                bad("line " + std::to_string(loc.line) + ", column " + std::to_string(loc.column) +
                    ": invalid UTF-8 (byte " + std::string(c.byte) + ")"))
          << source;
    }
  }
  // The location counts lines before the bad byte; the ASCII fast path must not skip it.
  EXPECT_EQ(doc_error("{ aaaaaaaaaaaaaaaaaaaa\n  bbbbbbbbbbbbbbbbbbbbbbb \xC0 }"),
            bad("line 2, column 27: invalid UTF-8 (byte 0xC0)"));
}

// ---------------------------------------------------------------- limits and hostile input

std::string nested_selection(size_t depth) {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += "{a";
  s.append(depth, '}');
  return s;
}

TEST(ParserLimitsTest, SelectionDepth) {
  EXPECT_TRUE(parse(nested_selection(64)).ok());
  auto deep = parse(nested_selection(65));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().message,
            bad("line 1, column 129: the document nests deeper than the limit of 64"));
  ParseLimits tight;
  tight.max_depth = 2;
  EXPECT_TRUE(parse("{ a { b } }", tight).ok());
  EXPECT_EQ(doc_error("{ a { b { c } } }", tight),
            bad("line 1, column 9: the document nests deeper than the limit of 2"));
  // Values inside a selection nest on a counter of their own.
  EXPECT_EQ(doc_error("{ a(x: [[[1]]]) }", tight), "OK: query { a(x: [[[1]]]) }");
  tight.max_value_depth = 2;
  EXPECT_EQ(doc_error("{ a(x: [[1]]) }", tight), "OK: query { a(x: [[1]]) }");
  EXPECT_EQ(doc_error("{ a(x: [[[1]]]) }", tight),
            bad("line 1, column 10: a value nests deeper than the limit of 2"));
  EXPECT_EQ(doc_error("{ ... on T { a { b } } }", tight),
            bad("line 1, column 16: the document nests deeper than the limit of 2"));
}

TEST(ParserLimitsTest, ValueAndTypeDepth) {
  ParseLimits tight;
  tight.max_depth = 3;
  tight.max_value_depth = 3;
  EXPECT_EQ(val("[[[1]]]", tight), "[[[1]]]");
  EXPECT_EQ(val("[[[[1]]]]", tight),
            bad_value("line 1, column 4: a value nests deeper than the limit of 3"));
  EXPECT_EQ(val("{a: {b: {c: 1}}}", tight), "{a: {b: {c: 1}}}");
  EXPECT_EQ(val("{a: {b: {c: {}}}}", tight),
            bad_value("line 1, column 13: a value nests deeper than the limit of 3"));
  EXPECT_EQ(doc("query($x: [[Int]]) { a }", tight), "query($x: [[Int]]) { a }");
  EXPECT_EQ(doc_error("query($x: [[[[Int]]]]) { a }", tight),
            bad("line 1, column 14: the document nests deeper than the limit of 3"));
}

TEST(ParserLimitsTest, HostileNestingFailsCleanly) {
  constexpr size_t kDeep = 100'000;
  ParseLimits big;
  big.max_document_bytes = 1 << 24;
  big.max_tokens = 1 << 22;
  const std::string braces(kDeep, '{');
  EXPECT_EQ(doc_error(braces, big),
            bad("line 1, column 2: expected a field, \"...\" or \"}\", found \"{\""));
  EXPECT_EQ(doc_error(nested_selection(kDeep), big),
            bad("line 1, column 129: the document nests deeper than the limit of 64"));
  const std::string brackets(kDeep, '[');
  EXPECT_EQ(val(brackets, big),
            bad_value("line 1, column 257: a value nests deeper than the limit of 256"));
  EXPECT_EQ(doc_error("{ a(x: " + brackets + ") }", big),
            bad("line 1, column 264: a value nests deeper than the limit of 256"));
  EXPECT_EQ(doc_error("query($x: " + brackets + "Int) { a }", big),
            bad("line 1, column 75: the document nests deeper than the limit of 64"));
  std::string objects;
  for (size_t i = 0; i < kDeep; ++i) objects += "{a:";
  EXPECT_EQ(val(objects, big),
            bad_value("line 1, column 769: a value nests deeper than the limit of 256"));

  // A limit raised past what the stack can take is capped, not obeyed.
  big.max_depth = 1'000'000;
  big.max_value_depth = 1'000'000;
  EXPECT_EQ(doc_error(nested_selection(kDeep), big),
            bad("line 1, column 1001: the document nests deeper than the limit of 500"));
  EXPECT_TRUE(parse(nested_selection(500), big).ok());
  EXPECT_TRUE(parse_value(std::string(500, '[') + std::string(500, ']'), big).ok());
  EXPECT_EQ(val(brackets, big),
            bad_value("line 1, column 501: a value nests deeper than the limit of 500"));
}

TEST(ParserLimitsTest, DocumentBytes) {
  const std::string payload(10 << 20, 'x');
  const std::string source = "{ a(s: \"" + payload + "\") }";
  auto rejected = parse(source);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().message,
            bad("the document is " + std::to_string(source.size()) +
                " bytes, more than the limit of 1048576 (--max-document-bytes)"));
  ParseLimits big;
  big.max_document_bytes = 16 << 20;
  auto accepted = parse(source, big);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  const Field& a = std::get<Field>(accepted->operations.at(0).selection_set.at(0).node);
  EXPECT_EQ(a.arguments.at(0).value.text.size(), payload.size());

  // Exactly at the limit is fine.
  ParseLimits exact;
  exact.max_document_bytes = 5;
  EXPECT_TRUE(parse("{ a }", exact).ok());
  EXPECT_EQ(doc_error("{ a  }", exact),
            bad("the document is 6 bytes, more than the limit of 5 (--max-document-bytes)"));
  // A big block string and a big comment with a raised limit.
  const std::string two_mb(2 << 20, 'y');
  EXPECT_EQ(parse("{ a(s: \"\"\"" + two_mb + "\"\"\") }", big)->operations[0].selection_set.size(),
            1u);
  EXPECT_TRUE(parse("#" + two_mb + "\n{ a }", big).ok());
}

TEST(ParserLimitsTest, TokenCount) {
  ParseLimits tight;
  tight.max_tokens = 5;
  EXPECT_TRUE(parse("{ a b c }", tight).ok());  // five tokens
  EXPECT_EQ(doc_error("{ a b c d }", tight),
            bad("line 1, column 11: the document has more than 5 tokens"));
  // Ignored tokens do not count.
  EXPECT_TRUE(parse("{ a, , , b # comment\n c }", tight).ok());
  const std::string many = "{ " + [] {
    std::string s;
    for (int i = 0; i < 200'000; ++i) s += "a ";
    return s;
  }() + "}";
  EXPECT_EQ(doc_error(many), bad("line 1, column 200001: the document has more than 100000 "
                                 "tokens"));
}

TEST(ParserLimitsTest, LongTokensAndManySiblingsAreLinear) {
  ParseLimits big;
  big.max_document_bytes = 1 << 24;
  big.max_tokens = 1 << 22;
  // A 1 MB name, 384 kB of escapes and 50k sibling fields.
  std::string name(1 << 20, 'n');
  EXPECT_TRUE(parse("{ " + name + " }", big).ok());
  std::string escapes;
  for (int i = 0; i < (1 << 16); ++i) escapes += "\\u00e9";
  auto v = parse_value("\"" + escapes + "\"", big);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->text.size(), size_t{2} << 16);
  std::string siblings = "{";
  for (int i = 0; i < 50'000; ++i) siblings += " f";
  siblings += " }";
  auto d = parse(siblings, big);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->operations[0].selection_set.size(), 50'000u);
}

}  // namespace
}  // namespace liveql::gql
