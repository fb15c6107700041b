// Relay fields into IR: node(id) as a primary key lookup of the table its global id names, and
// <t>_connection / <rel>_connection as an ir::Connection. Ids and cursors are decoded here, so a
// bad one is a validation error in Hasura's wording and never reaches SQL.
#include <fmt/format.h>

#include <boost/json.hpp>

#include "schema/aeson.hpp"
#include "schema/compile_stages.hpp"

namespace liveql::compiler::detail {

namespace json = boost::json;

namespace {

// Base64 as Hasura decodes it (leniently): characters outside the alphabet and padding are
// skipped, and trailing bits that do not make a byte are dropped.
std::string base64_decode(std::string_view in) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = sextet(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

// Bytes shown as Aeson shows unparsed input: each byte one Latin-1 character, in UTF-8.
std::string latin1_text(std::string_view bytes) {
  std::string out;
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// The decoded JSON of a base64 id or cursor; the error text as Aeson words it.
Result<json::value> decode_json(std::string_view text) {
  std::string bytes = base64_decode(text);
  boost::system::error_code ec;
  json::value v = json::parse(bytes, ec);
  if (ec)
    return make_error(ErrorCode::kValidationFailed,
                      fmt::format("Error in $: Failed reading: not a valid json value at '{}'",
                                  latin1_text(bytes)));
  return v;
}

// Aeson's Scientific text of a version number: 1.0, 2.5.
std::string version_text(const json::value& v) {
  if (v.is_int64()) return fmt::format("{}.0", v.get_int64());
  if (v.is_uint64()) return fmt::format("{}.0", v.get_uint64());
  return fmt::format("{}", v.get_double());
}

// The Aeson type Hasura parses a key column's node id value with, and the JSON kind it wants;
// null when any JSON scalar is passed on to PostgreSQL's cast.
std::pair<const char*, const char*> key_value_parser(const catalog::Column& c) {
  const std::string& u = c.udt_name;
  if (u == "text" || u == "varchar" || u == "bpchar" || u == "citext" || u == "name" || u == "uuid")
    return {"Text", "String"};
  if (u == "int2") return {"Int16", "Number"};
  if (u == "int4") return {"Int32", "Number"};
  if (u == "int8") return {"Int64", "Number"};
  if (u == "bool") return {"Bool", "Boolean"};
  return {nullptr, nullptr};
}

bool kind_matches(const json::value& v, const char* kind) {
  std::string_view k(kind);
  if (k == "String") return v.is_string();
  if (k == "Number") return v.is_number();
  if (k == "Boolean") return v.is_bool();
  return true;
}

}  // namespace

Result<ir::RootField> OperationCompiler::node_field(const json::object& args, const Collected& c) {
  // The selection is on Node: outside fragments on its types, only Node's fields (the
  // selection is then collected in the concrete type the id names, which has them all).
  std::vector<const gql::SelectionSet*> todo(c.sets.begin(), c.sets.end());
  while (!todo.empty()) {
    const gql::SelectionSet* set = todo.back();
    todo.pop_back();
    for (const auto& sel : *set) {
      std::optional<std::string> cond;
      const gql::SelectionSet* inner = nullptr;
      if (const auto* f = std::get_if<gql::Field>(&sel.node)) {
        if (f->name != "id" && f->name != "__typename")
          return invalid(fmt::format("field '{}' not found in type: 'Node'", f->name),
                         c.path + ".selectionSet." + f->response_key());
        continue;
      }
      if (const auto* spread = std::get_if<gql::FragmentSpread>(&sel.node)) {
        auto it = fragments_.by_name.find(spread->name);
        if (it == fragments_.by_name.end()) continue;
        cond = it->second->type_condition;
        inner = &it->second->selection_set;
      } else {
        const auto& inl = std::get<gql::InlineFragment>(sel.node);
        cond = inl.type_condition;
        inner = &inl.selection_set;
      }
      if (!cond || *cond == "Node") todo.push_back(inner);
    }
  }
  const std::string id_path = c.path + ".args.id";
  auto bad = [&](std::string message) {
    return invalid("invalid node id: " + std::move(message), id_path);
  };
  const json::value& arg = args.at("id");
  std::string text = arg.is_string() ? std::string(arg.get_string()) : json::serialize(arg);
  auto decoded = decode_json(text);
  if (!decoded) return bad(decoded.error().message);
  const json::value& id = *decoded;
  if (!id.is_array())
    return bad(fmt::format("Error in $: parsing node id failed, expected Array, but encountered {}",
                           aeson_kind_name(id)));
  const json::array& parts = id.get_array();
  if (parts.empty() || !parts[0].is_number())
    return bad("Error in $: unexpected GUID format, needs to start with a version number");
  if (!(parts[0].is_int64() && parts[0].get_int64() == 1) &&
      !(parts[0].is_uint64() && parts[0].get_uint64() == 1) &&
      !(parts[0].is_double() && parts[0].get_double() == 1.0))
    return bad(fmt::format("Error in $: unsupported GUID version: {}", version_text(parts[0])));
  if (parts.size() < 4 || !parts[1].is_string() || !parts[2].is_string())
    return bad(
        "Error in $: GUID version 1: expecting schema name, table name and at least one column "
        "value");
  catalog::QualifiedName name{std::string(parts[1].get_string()),
                              std::string(parts[2].get_string())};
  std::optional<size_t> table;
  for (size_t i = 0; i < schema_.tables.size(); ++i) {
    const RoleTable* rt = rs_.table(i);
    if (schema_.tables[i].table.name == name && rt && rt->selectable &&
        !schema_.tables[i].table.primary_key.empty())
      table = i;
  }
  if (!table)
    return bad(fmt::format("no such table found: \"{}\"",
                           name.schema == "public" ? name.name : name.to_string()));
  const TrackedTable& tt = schema_.tables[*table];
  const auto& pk = tt.table.primary_key;
  const size_t given = parts.size() - 3;
  if (given < pk.size()) {
    std::vector<std::string> missing;
    for (size_t i = given; i < pk.size(); ++i) missing.push_back("\"" + pk[i] + "\"");
    return bad(fmt::format("primary key columns {} are missing", fmt::join(missing, ", ")));
  }
  if (given > pk.size()) {
    json::array extra(parts.begin() + 3 + static_cast<std::ptrdiff_t>(pk.size()), parts.end());
    return bad(fmt::format("unexpected column values {}", json::serialize(extra)));
  }
  json::object keys;
  for (size_t i = 0; i < pk.size(); ++i) {
    const json::value& v = parts[3 + i];
    auto [parser, kind] = key_value_parser(*tt.table.column(pk[i]));
    if (parser && !kind_matches(v, kind))
      return make_error(ErrorCode::kParseFailed,
                        fmt::format("value of column \"{}\" in node id: parsing {} failed, "
                                    "expected {}, but encountered {}",
                                    pk[i], parser, kind, aeson_kind_name(v)),
                        c.path);
    if (!v.is_string() && !v.is_number() && !v.is_bool())
      return make_error(ErrorCode::kParseFailed,
                        fmt::format("value of column \"{}\" in node id: unexpected {}", pk[i],
                                    aeson_kind_name(v)),
                        c.path);
    keys[*tt.graphql_column(pk[i])] = v;
  }
  ir::RootField rf;
  rf.kind = ir::RootField::Kind::kSelectByPk;
  LQ_TRY(s, rows(*table, keys, c.path, true));
  LQ_TRY(fields, object_fields(*table, c));
  s.fields = std::move(fields);
  rf.select = std::move(s);
  return rf;
}

Result<std::optional<ir::Param>> OperationCompiler::cursor_arg(const ir::Connection& conn,
                                                               const json::object& args,
                                                               const char* name,
                                                               const std::string& path) {
  const json::value* v = args.if_contains(name);
  if (!v || v->is_null()) return std::optional<ir::Param>();
  auto bad = [&] {
    return invalid("the \"after\" or \"before\" cursor is invalid",
                   path + ".args." + std::string(name));
  };
  if (!v->is_string()) return bad();
  auto decoded = decode_json(v->get_string());
  if (!decoded || !decoded->is_object()) return bad();
  // Every ordering value must be there: a cursor of another order is not one of this connection.
  for (const auto& keys : conn.cursor_paths) {
    const json::value* at = &*decoded;
    for (const auto& k : keys) {
      at = at->is_object() ? at->get_object().if_contains(k) : nullptr;
      if (!at) return bad();
    }
    if (at->is_object() || at->is_array()) return bad();
  }
  return std::optional<ir::Param>(params_.add(std::move(*decoded), "json"));
}

Result<ir::Connection> OperationCompiler::connection(size_t table, const json::object& args,
                                                     const Collected& c) {
  auto given = [&](const char* n) {
    const json::value* v = args.if_contains(n);
    return v && !v->is_null();
  };
  if (given("first") && given("last"))
    return invalid("\"first\" and \"last\" are not allowed at once", c.path + ".args");
  if (given("after") && given("before"))
    return invalid("\"after\" and \"before\" are not allowed at once", c.path + ".args");
  ir::Connection conn;
  LQ_TRY(r, rows(table, args, c.path, false));
  conn.rows = std::move(r);
  const TrackedTable& tt = schema_.tables[table];
  // The primary key breaks ties, so that a cursor names one position.
  for (const auto& k : tt.table.primary_key) {
    bool present = false;
    for (const auto& o : conn.rows.order_by)
      if (o.path.empty() && o.column == k) present = true;
    if (present) continue;
    ir::OrderBy ob;
    ob.column = k;
    conn.rows.order_by.push_back(std::move(ob));
  }
  for (const auto& o : conn.rows.order_by) {
    std::vector<std::string> keys;
    size_t at = table;
    for (const auto& j : o.path) {
      const Relationship* rel = schema_.tables[at].relationship(j.name);
      keys.push_back(rel && rel->is_array ? j.name + "_aggregate" : j.name);
      if (rel) at = rel->target;
    }
    const catalog::Table& target = schema_.tables[at].table;
    const catalog::Column* col = o.column.empty() ? nullptr : target.column(o.column);
    if (!o.aggregate.empty()) keys.push_back(o.aggregate == "count" ? "count" : o.aggregate);
    if (col) keys.push_back(*schema_.tables[at].graphql_column(o.column));
    std::string type = "numeric";
    if (o.aggregate == "count") {
      type = "bigint";
    } else if (col && (o.aggregate.empty() || o.aggregate == "max" || o.aggregate == "min")) {
      type = cast_type(*col);
    }
    conn.cursor_paths.push_back(std::move(keys));
    conn.cursor_types.push_back(std::move(type));
  }
  for (const char* n : {"first", "last"}) {
    const json::value* v = args.if_contains(n);
    if (!v || v->is_null()) continue;
    if (v->is_int64() && v->get_int64() < 0)
      return invalid("unexpected negative value", c.path + ".args." + n);
    (std::string_view(n) == "first" ? conn.first : conn.last) = params_.add(*v, "integer");
  }
  LQ_TRY(after, cursor_arg(conn, args, "after", c.path));
  conn.after = after;
  LQ_TRY(before, cursor_arg(conn, args, "before", c.path));
  conn.before = before;

  using Output = ir::Connection::Output;
  const TypeDef& ctype = *rs_.type(tt.gql_name + "Connection");
  LQ_TRY(collected, collect(c.sets, ctype, c.path));
  for (const auto& cf : collected) {
    Output out;
    out.alias = cf.key;
    const std::string& name = cf.field->name;
    if (name == "__typename") {
      out.typename_ = ctype.name;
      conn.outputs.push_back(std::move(out));
      continue;
    }
    const TypeDef& inner = *rs_.type(base_name(ctype.field(name)->type));
    LQ_TRY(sub, collect(cf.sets, inner, cf.path));
    out.kind = name == "edges" ? Output::Kind::kEdges : Output::Kind::kPageInfo;
    for (const auto& sf : sub) {
      Output o;
      o.alias = sf.key;
      const std::string& sn = sf.field->name;
      if (sn == "__typename") {
        o.typename_ = inner.name;
      } else if (sn == "cursor") {
        o.kind = Output::Kind::kCursor;
      } else if (sn == "node") {
        o.kind = Output::Kind::kNode;
        LQ_TRY(fields, object_fields(table, sf));
        o.begin = conn.rows.fields.size();
        for (auto& f : fields) conn.rows.fields.push_back(std::move(f));
        o.end = conn.rows.fields.size();
      } else if (sn == "hasNextPage") {
        o.kind = Output::Kind::kHasNextPage;
      } else if (sn == "hasPreviousPage") {
        o.kind = Output::Kind::kHasPreviousPage;
      } else if (sn == "startCursor") {
        o.kind = Output::Kind::kStartCursor;
      } else {
        o.kind = Output::Kind::kEndCursor;
      }
      out.children.push_back(std::move(o));
    }
    conn.outputs.push_back(std::move(out));
  }
  return conn;
}

}  // namespace liveql::compiler::detail
