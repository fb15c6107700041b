// Streaming subscriptions' schema, named and described as Hasura v2 does:
//   <t>_stream(batch_size: Int!, cursor: [<t>_stream_cursor_input]!, where: <t>_bool_exp): [<t>!]!
//   input <t>_stream_cursor_input { initial_value: <t>_stream_cursor_value_input!,
//                                   ordering: cursor_ordering }
//   input <t>_stream_cursor_value_input { <each column the role may select>: <its type> }
//   enum cursor_ordering { ASC DESC }
// on subscription_root only. The arguments are read by compile_stream.cpp.
#include <fmt/format.h>

#include "schema/role_builder.hpp"

namespace liveql::compiler::detail {

std::optional<FieldDef> RoleBuilder::stream_field(const RoleTable& rt) {
  const TrackedTable& tt = schema_.tables[rt.table];
  if (rt.columns.empty()) return std::nullopt;
  const std::string& n = tt.gql_name;

  if (!rs_.types.count("cursor_ordering")) {
    TypeDef ordering{TypeKind::kEnum, "cursor_ordering"};
    ordering.description = "ordering argument of a cursor";
    ordering.enum_values = {"ASC", "DESC"};
    ordering.enum_descriptions = {"ascending ordering of the cursor",
                                  "descending ordering of the cursor"};
    rs_.types.emplace(ordering.name, std::move(ordering));
  }

  const std::string value_name = n + "_stream_cursor_value_input";
  if (!rs_.types.count(value_name)) {
    TypeDef value{TypeKind::kInputObject, value_name};
    value.description = "Initial value of the column from where the streaming should start";
    value.table = rt.table;
    for (const auto& c : rt.columns) value.input_fields.push_back(column_input(tt, c, false));
    sort_fields(value);
    rs_.types.emplace(value.name, std::move(value));
  }

  const std::string cursor_name = n + "_stream_cursor_input";
  if (!rs_.types.count(cursor_name)) {
    TypeDef cursor{TypeKind::kInputObject, cursor_name};
    cursor.description = fmt::format("Streaming cursor of the table \"{}\"", n);
    cursor.table = rt.table;
    cursor.input_fields = {
        input("initial_value", non_null(named_type(value_name)),
              "Stream column input with initial value"),
        input("ordering", named_type("cursor_ordering"), "cursor ordering"),
    };
    rs_.types.emplace(cursor.name, std::move(cursor));
  }

  const metadata::CustomRootFields& custom = tt.meta.custom_root_fields;
  FieldDef f =
      field(custom.select_stream.value_or(n + "_stream"),
            non_null(list_of(non_null(named_type(n)))), FieldRole::kSelectStream,
            fmt::format("fetch data from the table in a streaming manner: \"{}\"", table_text(tt)));
  f.args = {
      input("batch_size", non_null(named_type("Int")),
            "maximum number of rows returned in a single batch"),
      input("cursor", non_null(list_of(named_type(cursor_name))),
            "cursor to stream the results returned by the query"),
      input("where", named_type(n + "_bool_exp"), "filter the rows returned"),
  };
  f.table = rt.table;
  return f;
}

}  // namespace liveql::compiler::detail
