// GraphQL executable documents (October 2021 spec): what the parser produces and the validator
// and IR builder read. Plain values; a Document owns everything it refers to.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace liveql::gql {

struct Location {
  uint32_t line = 0;    // 1-based
  uint32_t column = 0;  // 1-based, in bytes
};

struct Value {
  enum class Kind { kNull, kInt, kFloat, kString, kBoolean, kEnum, kVariable, kList, kObject };
  Kind kind = Kind::kNull;
  // kInt/kFloat: the literal text; kString: the decoded string (UTF-8); kBoolean: "true"/"false";
  // kEnum: the enum value name; kVariable: the variable name without '$'.
  std::string text;
  std::vector<Value> list;                            // kList
  std::vector<std::pair<std::string, Value>> fields;  // kObject, in source order
  Location loc;

  // Declared here, defaulted below: with implicit members, clang (14, with libstdc++ 12) needs
  // std::pair<std::string, Value> complete while instantiating that very pair and rejects the
  // header (the fuzz targets are built with clang).
  Value();
  Value(const Value&);
  Value(Value&&) noexcept;
  Value& operator=(const Value&);
  Value& operator=(Value&&) noexcept;
  ~Value();
};
inline Value::Value() = default;
inline Value::Value(const Value&) = default;
inline Value::Value(Value&&) noexcept = default;
inline Value& Value::operator=(const Value&) = default;
inline Value& Value::operator=(Value&&) noexcept = default;
inline Value::~Value() = default;

struct Argument {
  std::string name;
  Value value;
  Location loc;
};

struct Directive {
  std::string name;
  std::vector<Argument> arguments;
  Location loc;
};

struct TypeRef {
  enum class Kind { kNamed, kList, kNonNull };
  Kind kind = Kind::kNamed;
  std::string name;             // kNamed
  std::shared_ptr<TypeRef> of;  // kList, kNonNull
  Location loc;
};

struct VariableDefinition {
  std::string name;  // without '$'
  TypeRef type;
  std::optional<Value> default_value;
  std::vector<Directive> directives;
  Location loc;
};

struct Selection;
using SelectionSet = std::vector<Selection>;

struct Field {
  std::optional<std::string> alias;
  std::string name;
  std::vector<Argument> arguments;
  std::vector<Directive> directives;
  SelectionSet selection_set;  // empty for leaf fields
  Location loc;
  const std::string& response_key() const { return alias ? *alias : name; }
};

struct FragmentSpread {
  std::string name;
  std::vector<Directive> directives;
  Location loc;
};

struct InlineFragment {
  std::optional<std::string> type_condition;
  std::vector<Directive> directives;
  SelectionSet selection_set;
  Location loc;
};

struct Selection {
  std::variant<Field, FragmentSpread, InlineFragment> node;
};

enum class OperationType { kQuery, kMutation, kSubscription };

struct OperationDefinition {
  OperationType type = OperationType::kQuery;
  std::optional<std::string> name;
  std::vector<VariableDefinition> variables;
  std::vector<Directive> directives;
  SelectionSet selection_set;
  Location loc;
};

struct FragmentDefinition {
  std::string name;
  std::string type_condition;
  std::vector<Directive> directives;
  SelectionSet selection_set;
  Location loc;
};

struct Document {
  std::vector<OperationDefinition> operations;
  std::vector<FragmentDefinition> fragments;
};

// Canonical GraphQL text of an AST: tokens separated by single spaces, strings re-escaped,
// operations before fragments, one definition per line. Printing is deterministic and
// parse(print(x)) yields x again (locations aside), so the text can serve as a normalised
// form of a document (for logs, caches, or to compare two documents).
std::string print(const Document& doc);
std::string print(const OperationDefinition& op);
std::string print(const FragmentDefinition& fragment);
std::string print(const SelectionSet& selection_set);
std::string print(const Value& value);
std::string print(const TypeRef& type);  // e.g. "[Int!]!"

}  // namespace liveql::gql
