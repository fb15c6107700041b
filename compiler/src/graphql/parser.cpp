#include "liveql/compiler/parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "graphql/lexer.hpp"

namespace liveql::gql {
namespace {

using detail::Lexer;
using detail::Token;
using detail::TokenKind;

constexpr std::string_view kTypeSystemKeywords[] = {
    "schema", "scalar", "type", "interface", "union", "enum", "input", "directive", "extend",
};

// Recursive descent over the executable-document grammar. Every production returns false on
// the first error, which sticks in error_; nothing after it runs. One token of lookahead
// (tok_) is all the grammar needs.
class Parser {
 public:
  Parser(std::string_view source, const ParseLimits& limits, std::string_view what,
         std::string path)
      : source_(source),
        limits_(limits),
        max_depth_(std::min(limits.max_depth, kMaxSupportedDepth)),
        max_value_depth_(std::min(limits.max_value_depth, kMaxSupportedDepth)),
        what_(what),
        path_(std::move(path)),
        lexer_(source, limits.max_tokens) {}

  bool start() {
    if (source_.size() > limits_.max_document_bytes) {
      error_ = make_error(ErrorCode::kValidationFailed,
                          fmt::format("{}: the document is {} bytes, more than the limit of {} "
                                      "(--max-document-bytes)",
                                      prefix(), source_.size(), limits_.max_document_bytes),
                          path_);
      return false;
    }
    if (auto bad = detail::find_invalid_utf8(source_)) {
      return fail(
          detail::location_of(source_, *bad),
          fmt::format("invalid UTF-8 (byte 0x{:02X})", static_cast<unsigned char>(source_[*bad])));
    }
    return advance();
  }

  bool document(Document& doc) {
    if (tok_.kind == TokenKind::kEof) return fail_expected("an operation or a fragment");
    while (tok_.kind != TokenKind::kEof) {
      if (!definition(doc)) return false;
    }
    return true;
  }

  bool single_value(Value& out) {
    if (!value(out, /*is_const=*/false)) return false;
    if (tok_.kind != TokenKind::kEof) return fail_expected("end of document");
    return true;
  }

  Error take_error() { return std::move(error_); }

 private:
  std::string_view prefix() const { return what_; }

  bool fail(Location loc, std::string_view message) {
    error_ = make_error(
        ErrorCode::kValidationFailed,
        fmt::format("{}: line {}, column {}: {}", prefix(), loc.line, loc.column, message), path_);
    return false;
  }

  std::string describe_current() const {
    switch (tok_.kind) {
      case TokenKind::kName:
      case TokenKind::kInt:
      case TokenKind::kFloat: {
        // Names and numbers are ASCII, so a cut cannot split a UTF-8 sequence.
        constexpr size_t kMaxShown = 40;
        std::string_view text = tok_.text.substr(0, kMaxShown);
        return fmt::format("{} \"{}{}\"", detail::token_kind_name(tok_.kind), text,
                           tok_.text.size() > kMaxShown ? "..." : "");
      }
      default:
        return std::string(detail::token_kind_name(tok_.kind));
    }
  }

  bool fail_expected(std::string_view expected) {
    return fail(tok_.loc, fmt::format("expected {}, found {}", expected, describe_current()));
  }

  bool advance() {
    if (lexer_.next(tok_)) return true;
    return fail(lexer_.error().loc, lexer_.error().message);
  }

  bool at(TokenKind kind) const { return tok_.kind == kind; }
  bool at_name(std::string_view name) const {
    return tok_.kind == TokenKind::kName && tok_.text == name;
  }

  bool expect(TokenKind kind) {
    if (tok_.kind != kind) return fail_expected(detail::token_kind_name(kind));
    return advance();
  }

  bool name(std::string& out) {
    if (tok_.kind != TokenKind::kName) return fail_expected("a name");
    out.assign(tok_.text);
    return advance();
  }

  // FragmentName: a Name other than `on`.
  bool fragment_name(std::string& out) {
    if (at_name("on")) return fail(tok_.loc, "a fragment cannot be named \"on\"");
    return name(out);
  }

  // Entered before every recursive production, so hostile nesting fails here, never on the
  // stack.
  bool enter() {
    if (depth_ >= max_depth_) {
      return fail(tok_.loc,
                  fmt::format("the document nests deeper than the limit of {}", max_depth_));
    }
    ++depth_;
    return true;
  }
  void leave() { --depth_; }

  // Values nest on a counter of their own, so deep filters do not eat the selection depth.
  bool enter_value() {
    if (value_depth_ >= max_value_depth_) {
      return fail(tok_.loc,
                  fmt::format("a value nests deeper than the limit of {}", max_value_depth_));
    }
    ++value_depth_;
    return true;
  }
  void leave_value() { --value_depth_; }

  bool definition(Document& doc) {
    if (at(TokenKind::kBraceL)) {
      OperationDefinition op;
      op.loc = tok_.loc;
      if (!selection_set(op.selection_set)) return false;
      doc.operations.push_back(std::move(op));
      return true;
    }
    if (at(TokenKind::kName)) {
      if (tok_.text == "query" || tok_.text == "mutation" || tok_.text == "subscription") {
        doc.operations.emplace_back();
        return operation(doc.operations.back());
      }
      if (tok_.text == "fragment") {
        doc.fragments.emplace_back();
        return fragment_definition(doc.fragments.back());
      }
      if (std::find(std::begin(kTypeSystemKeywords), std::end(kTypeSystemKeywords), tok_.text) !=
          std::end(kTypeSystemKeywords)) {
        return fail(tok_.loc, fmt::format("type system definitions (\"{}\") are not allowed in "
                                          "an executable document",
                                          tok_.text));
      }
    }
    if (at(TokenKind::kString) || at(TokenKind::kBlockString)) {
      return fail(tok_.loc,
                  "descriptions and type system definitions are not allowed in an executable "
                  "document");
    }
    return fail_expected("an operation or a fragment");
  }

  bool operation(OperationDefinition& op) {
    op.loc = tok_.loc;
    if (tok_.text == "mutation") {
      op.type = OperationType::kMutation;
    } else if (tok_.text == "subscription") {
      op.type = OperationType::kSubscription;
    } else {
      op.type = OperationType::kQuery;
    }
    if (!advance()) return false;
    if (at(TokenKind::kName)) {
      op.name.emplace();
      if (!name(*op.name)) return false;
    }
    if (at(TokenKind::kParenL)) {
      if (!advance()) return false;
      do {
        op.variables.emplace_back();
        if (!variable_definition(op.variables.back())) return false;
      } while (!at(TokenKind::kParenR));
      if (!advance()) return false;
    }
    if (!directives(op.directives, /*is_const=*/false)) return false;
    return selection_set(op.selection_set);
  }

  bool variable_definition(VariableDefinition& var) {
    var.loc = tok_.loc;
    if (!at(TokenKind::kDollar)) return fail_expected("a variable (\"$\")");
    if (!advance() || !name(var.name) || !expect(TokenKind::kColon) || !type(var.type)) {
      return false;
    }
    if (at(TokenKind::kEquals)) {
      if (!advance()) return false;
      var.default_value.emplace();
      if (!value(*var.default_value, /*is_const=*/true)) return false;
    }
    return directives(var.directives, /*is_const=*/true);
  }

  bool type(TypeRef& out) {
    out.loc = tok_.loc;
    if (at(TokenKind::kBracketL)) {
      if (!enter() || !advance()) return false;
      out.kind = TypeRef::Kind::kList;
      out.of = std::make_shared<TypeRef>();
      if (!type(*out.of) || !expect(TokenKind::kBracketR)) return false;
      leave();
    } else if (at(TokenKind::kName)) {
      out.kind = TypeRef::Kind::kNamed;
      if (!name(out.name)) return false;
    } else {
      return fail_expected("a type");
    }
    if (at(TokenKind::kBang)) {
      auto inner = std::make_shared<TypeRef>(std::move(out));
      out = TypeRef{};
      out.kind = TypeRef::Kind::kNonNull;
      out.loc = inner->loc;
      out.of = std::move(inner);
      return advance();
    }
    return true;
  }

  bool directives(std::vector<Directive>& out, bool is_const) {
    while (at(TokenKind::kAt)) {
      out.emplace_back();
      Directive& d = out.back();
      d.loc = tok_.loc;
      if (!advance() || !name(d.name) || !arguments(d.arguments, is_const)) return false;
    }
    return true;
  }

  bool arguments(std::vector<Argument>& out, bool is_const) {
    if (!at(TokenKind::kParenL)) return true;
    if (!advance()) return false;
    do {
      out.emplace_back();
      Argument& arg = out.back();
      arg.loc = tok_.loc;
      if (!name(arg.name) || !expect(TokenKind::kColon) || !value(arg.value, is_const)) {
        return false;
      }
    } while (!at(TokenKind::kParenR));
    return advance();
  }

  bool selection_set(SelectionSet& out) {
    if (!at(TokenKind::kBraceL)) return fail_expected("\"{\"");
    if (!enter() || !advance()) return false;
    do {
      if (!selection(out)) return false;
    } while (!at(TokenKind::kBraceR));
    leave();
    return advance();
  }

  bool selection(SelectionSet& out) {
    if (at(TokenKind::kSpread)) {
      const Location loc = tok_.loc;
      if (!advance()) return false;
      if (at(TokenKind::kName) && tok_.text != "on") {
        auto& spread = std::get<FragmentSpread>(out.emplace_back(Selection{FragmentSpread{}}).node);
        spread.loc = loc;
        return name(spread.name) && directives(spread.directives, /*is_const=*/false);
      }
      auto& frag = std::get<InlineFragment>(out.emplace_back(Selection{InlineFragment{}}).node);
      frag.loc = loc;
      if (at_name("on")) {
        frag.type_condition.emplace();
        if (!advance() || !name(*frag.type_condition)) return false;
      } else if (!at(TokenKind::kAt) && !at(TokenKind::kBraceL)) {
        return fail_expected("a fragment name, \"on\", \"@\" or \"{\"");
      }
      return directives(frag.directives, /*is_const=*/false) && selection_set(frag.selection_set);
    }
    if (!at(TokenKind::kName)) return fail_expected("a field, \"...\" or \"}\"");
    auto& field = std::get<Field>(out.emplace_back(Selection{Field{}}).node);
    field.loc = tok_.loc;
    if (!name(field.name)) return false;
    if (at(TokenKind::kColon)) {
      field.alias = std::move(field.name);
      field.name.clear();
      if (!advance() || !name(field.name)) return false;
    }
    if (!arguments(field.arguments, /*is_const=*/false) ||
        !directives(field.directives, /*is_const=*/false)) {
      return false;
    }
    if (at(TokenKind::kBraceL)) return selection_set(field.selection_set);
    return true;
  }

  bool fragment_definition(FragmentDefinition& frag) {
    frag.loc = tok_.loc;
    if (!advance() || !fragment_name(frag.name)) return false;
    if (!at_name("on")) return fail_expected("\"on\"");
    return advance() && name(frag.type_condition) &&
           directives(frag.directives, /*is_const=*/false) && selection_set(frag.selection_set);
  }

  bool value(Value& out, bool is_const) {
    out.loc = tok_.loc;
    switch (tok_.kind) {
      case TokenKind::kDollar:
        if (is_const) return fail(tok_.loc, "variables are not allowed in a constant value");
        out.kind = Value::Kind::kVariable;
        return advance() && name(out.text);
      case TokenKind::kInt:
      case TokenKind::kFloat:
        out.kind = at(TokenKind::kInt) ? Value::Kind::kInt : Value::Kind::kFloat;
        out.text.assign(tok_.text);
        return advance();
      case TokenKind::kString:
      case TokenKind::kBlockString:
        out.kind = Value::Kind::kString;
        out.text = std::move(lexer_.string_value());
        return advance();
      case TokenKind::kName:
        if (tok_.text == "true" || tok_.text == "false") {
          out.kind = Value::Kind::kBoolean;
        } else if (tok_.text == "null") {
          out.kind = Value::Kind::kNull;
          return advance();
        } else {
          out.kind = Value::Kind::kEnum;
        }
        out.text.assign(tok_.text);
        return advance();
      case TokenKind::kBracketL:
        out.kind = Value::Kind::kList;
        if (!enter_value() || !advance()) return false;
        while (!at(TokenKind::kBracketR)) {
          if (!value(out.list.emplace_back(), is_const)) return false;
        }
        leave_value();
        return advance();
      case TokenKind::kBraceL:
        out.kind = Value::Kind::kObject;
        if (!enter_value() || !advance()) return false;
        while (!at(TokenKind::kBraceR)) {
          auto& [field_name, field_value] = out.fields.emplace_back();
          if (!name(field_name) || !expect(TokenKind::kColon) || !value(field_value, is_const)) {
            return false;
          }
        }
        leave_value();
        return advance();
      default:
        return fail_expected("a value");
    }
  }

  std::string_view source_;
  const ParseLimits& limits_;
  size_t max_depth_;
  size_t max_value_depth_;
  std::string_view what_;
  std::string path_;
  Lexer lexer_;
  Token tok_;
  size_t depth_ = 0;
  size_t value_depth_ = 0;
  Error error_;
};

}  // namespace

Result<Document> parse(std::string_view source, const ParseLimits& limits) {
  Parser parser(source, limits, "not a valid graphql query", "$.query");
  Document doc;
  if (!parser.start() || !parser.document(doc)) return parser.take_error();
  return doc;
}

Result<Value> parse_value(std::string_view source, const ParseLimits& limits) {
  Parser parser(source, limits, "not a valid graphql value", "$");
  Value value;
  if (!parser.start() || !parser.single_value(value)) return parser.take_error();
  return value;
}

}  // namespace liveql::gql
