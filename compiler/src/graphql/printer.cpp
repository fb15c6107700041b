#include <fmt/format.h>

#include <string>

#include "liveql/compiler/ast.hpp"

namespace liveql::gql {
namespace {

void append_string_literal(std::string& out, const std::string& text) {
  out.push_back('"');
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out.append(fmt::format("\\u{:04X}", c));
        } else {
          out.push_back(ch);  // UTF-8 passes through: the parser only yields valid UTF-8
        }
    }
  }
  out.push_back('"');
}

void append_value(std::string& out, const Value& value);

void append_arguments(std::string& out, const std::vector<Argument>& args) {
  if (args.empty()) return;
  out.push_back('(');
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) out.append(", ");
    out.append(args[i].name);
    out.append(": ");
    append_value(out, args[i].value);
  }
  out.push_back(')');
}

void append_directives(std::string& out, const std::vector<Directive>& directives) {
  for (const Directive& d : directives) {
    out.append(" @");
    out.append(d.name);
    append_arguments(out, d.arguments);
  }
}

void append_value(std::string& out, const Value& value) {
  switch (value.kind) {
    case Value::Kind::kNull:
      out.append("null");
      break;
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kBoolean:
    case Value::Kind::kEnum:
      out.append(value.text);
      break;
    case Value::Kind::kVariable:
      out.push_back('$');
      out.append(value.text);
      break;
    case Value::Kind::kString:
      append_string_literal(out, value.text);
      break;
    case Value::Kind::kList:
      out.push_back('[');
      for (size_t i = 0; i < value.list.size(); ++i) {
        if (i > 0) out.append(", ");
        append_value(out, value.list[i]);
      }
      out.push_back(']');
      break;
    case Value::Kind::kObject:
      out.push_back('{');
      for (size_t i = 0; i < value.fields.size(); ++i) {
        if (i > 0) out.append(", ");
        out.append(value.fields[i].first);
        out.append(": ");
        append_value(out, value.fields[i].second);
      }
      out.push_back('}');
      break;
  }
}

void append_type(std::string& out, const TypeRef& type) {
  switch (type.kind) {
    case TypeRef::Kind::kNamed:
      out.append(type.name);
      break;
    case TypeRef::Kind::kList:
      out.push_back('[');
      if (type.of) append_type(out, *type.of);
      out.push_back(']');
      break;
    case TypeRef::Kind::kNonNull:
      if (type.of) append_type(out, *type.of);
      out.push_back('!');
      break;
  }
}

void append_selection_set(std::string& out, const SelectionSet& set) {
  out.push_back('{');
  for (const Selection& sel : set) {
    out.push_back(' ');
    if (const auto* field = std::get_if<Field>(&sel.node)) {
      if (field->alias) {
        out.append(*field->alias);
        out.append(": ");
      }
      out.append(field->name);
      append_arguments(out, field->arguments);
      append_directives(out, field->directives);
      if (!field->selection_set.empty()) {
        out.push_back(' ');
        append_selection_set(out, field->selection_set);
      }
    } else if (const auto* spread = std::get_if<FragmentSpread>(&sel.node)) {
      out.append("...");
      out.append(spread->name);
      append_directives(out, spread->directives);
    } else {
      const auto& frag = std::get<InlineFragment>(sel.node);
      out.append("...");
      if (frag.type_condition) {
        out.append(" on ");
        out.append(*frag.type_condition);
      }
      append_directives(out, frag.directives);
      out.push_back(' ');
      append_selection_set(out, frag.selection_set);
    }
  }
  out.append(" }");
}

void append_operation(std::string& out, const OperationDefinition& op) {
  switch (op.type) {
    case OperationType::kQuery:
      out.append("query");
      break;
    case OperationType::kMutation:
      out.append("mutation");
      break;
    case OperationType::kSubscription:
      out.append("subscription");
      break;
  }
  if (op.name) {
    out.push_back(' ');
    out.append(*op.name);
  }
  if (!op.variables.empty()) {
    out.push_back('(');
    for (size_t i = 0; i < op.variables.size(); ++i) {
      const VariableDefinition& var = op.variables[i];
      if (i > 0) out.append(", ");
      out.push_back('$');
      out.append(var.name);
      out.append(": ");
      append_type(out, var.type);
      if (var.default_value) {
        out.append(" = ");
        append_value(out, *var.default_value);
      }
      append_directives(out, var.directives);
    }
    out.push_back(')');
  }
  append_directives(out, op.directives);
  out.push_back(' ');
  append_selection_set(out, op.selection_set);
}

void append_fragment(std::string& out, const FragmentDefinition& frag) {
  out.append("fragment ");
  out.append(frag.name);
  out.append(" on ");
  out.append(frag.type_condition);
  append_directives(out, frag.directives);
  out.push_back(' ');
  append_selection_set(out, frag.selection_set);
}

}  // namespace

std::string print(const Document& doc) {
  std::string out;
  for (const OperationDefinition& op : doc.operations) {
    if (!out.empty()) out.push_back('\n');
    append_operation(out, op);
  }
  for (const FragmentDefinition& frag : doc.fragments) {
    if (!out.empty()) out.push_back('\n');
    append_fragment(out, frag);
  }
  return out;
}

std::string print(const OperationDefinition& op) {
  std::string out;
  append_operation(out, op);
  return out;
}

std::string print(const FragmentDefinition& fragment) {
  std::string out;
  append_fragment(out, fragment);
  return out;
}

std::string print(const SelectionSet& selection_set) {
  std::string out;
  append_selection_set(out, selection_set);
  return out;
}

std::string print(const Value& value) {
  std::string out;
  append_value(out, value);
  return out;
}

std::string print(const TypeRef& type) {
  std::string out;
  append_type(out, type);
  return out;
}

}  // namespace liveql::gql
