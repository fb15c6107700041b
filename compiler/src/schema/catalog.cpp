#include "liveql/compiler/catalog.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

namespace liveql::catalog {

namespace json = boost::json;

namespace {

// json_agg over an empty set is NULL, hence the coalesce around every aggregate. Views have no
// constraints, so their key and foreign-key arrays come out empty.
constexpr std::string_view kCatalogQuery = R"SQL(
select coalesce(json_agg(u.j order by u.is_function, u.schema, u.name), '[]'::json)::text
from (
select to_json(t) as j, false as is_function, t.schema, t.name
from (
  select n.nspname as schema,
         c.relname as name,
         c.relkind::text as kind,
         c.relreplident::text as replica_identity,
         coalesce(obj_description(c.oid, 'pg_class'), '') as comment,
         (select coalesce(json_agg(json_build_object(
                    'name', a.attname,
                    'type', format_type(a.atttypid, null),
                    'udt', ty.typname,
                    'type_schema', tn.nspname,
                    'is_array', ty.typcategory = 'A',
                    'nullable', not a.attnotnull,
                    'has_default', a.atthasdef or a.attidentity <> '' or a.attgenerated <> '',
                    'enum_values', (select coalesce(json_agg(e.enumlabel order by e.enumsortorder),
                                                    '[]'::json)
                                    from pg_enum e where e.enumtypid = a.atttypid),
                    'comment', coalesce(col_description(c.oid, a.attnum), ''),
                    'generated_always', a.attidentity = 'a' or a.attgenerated <> '')
                  order by a.attnum), '[]'::json)
          from pg_attribute a
          join pg_type ty on ty.oid = a.atttypid
          join pg_namespace tn on tn.oid = ty.typnamespace
          where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
         (select coalesce(json_agg(a.attname order by k.ord), '[]'::json)
          from pg_constraint con
          cross join lateral unnest(con.conkey) with ordinality as k(attnum, ord)
          join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
          where con.conrelid = c.oid and con.contype = 'p') as primary_key,
         (select coalesce(json_agg(json_build_object(
                    'name', con.conname,
                    'columns', (select json_agg(a.attname order by k.ord)
                                from unnest(con.conkey) with ordinality as k(attnum, ord)
                                join pg_attribute a
                                  on a.attrelid = con.conrelid and a.attnum = k.attnum),
                    'ref_schema', rn.nspname,
                    'ref_table', rc.relname,
                    'ref_columns', (select json_agg(a.attname order by k.ord)
                                    from unnest(con.confkey) with ordinality as k(attnum, ord)
                                    join pg_attribute a
                                      on a.attrelid = con.confrelid and a.attnum = k.attnum))
                  order by con.conname), '[]'::json)
          from pg_constraint con
          join pg_class rc on rc.oid = con.confrelid
          join pg_namespace rn on rn.oid = rc.relnamespace
          where con.conrelid = c.oid and con.contype = 'f') as foreign_keys,
         (select coalesce(json_agg(json_build_object(
                    'name', con.conname,
                    'primary_key', con.contype = 'p',
                    'columns', (select json_agg(a.attname order by k.ord)
                                from unnest(con.conkey) with ordinality as k(attnum, ord)
                                join pg_attribute a
                                  on a.attrelid = con.conrelid and a.attnum = k.attnum))
                  order by con.contype = 'p' desc, con.conname), '[]'::json)
          from pg_constraint con
          where con.conrelid = c.oid and con.contype in ('p', 'u')) as unique_constraints,
         (pg_relation_is_updatable(c.oid, true) & 8) = 8 as insertable,
         (pg_relation_is_updatable(c.oid, true) & 4) = 4 as updatable,
         (pg_relation_is_updatable(c.oid, true) & 16) = 16 as deletable
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'v', 'm', 'p')
    and n.nspname not in ('pg_catalog', 'information_schema')
    and n.nspname not like 'pg\_toast%'
    and n.nspname not like 'pg\_temp%'
) t
union all
select to_json(f), true, f.schema, f.name
from (
  select n.nspname as schema,
         p.proname as name,
         'function' as kind,
         p.provolatile::text as volatility,
         p.proretset as returns_set,
         format_type(p.prorettype, null) as return_type,
         rt.typname as return_udt,
         rtn.nspname as return_type_schema,
         rt.typtype::text as return_kind,
         p.proallargtypes is not null as has_out_arguments,
         p.provariadic <> 0 as variadic,
         (select count(*) from pg_proc o
          where o.pronamespace = p.pronamespace and o.proname = p.proname) as overloads,
         coalesce(obj_description(p.oid, 'pg_proc'), '') as comment,
         (select coalesce(json_agg(json_build_object(
                    'name', case when p.proallargtypes is null
                                 then coalesce(p.proargnames[k.ord], '') else '' end,
                    'type', format_type(k.t, null),
                    'udt', ty.typname,
                    'type_schema', tn.nspname,
                    'is_array', ty.typcategory = 'A',
                    'has_default', k.ord > p.pronargs - p.pronargdefaults)
                  order by k.ord), '[]'::json)
          from unnest(p.proargtypes::oid[]) with ordinality as k(t, ord)
          join pg_type ty on ty.oid = k.t
          join pg_namespace tn on tn.oid = ty.typnamespace) as arguments
  from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace
  join pg_type rt on rt.oid = p.prorettype
  join pg_namespace rtn on rtn.oid = rt.typnamespace
  where p.prokind = 'f'
    and n.nspname not in ('pg_catalog', 'information_schema')
    and n.nspname not like 'pg\_toast%'
    and n.nspname not like 'pg\_temp%'
    and not exists (select 1 from pg_depend d
                    where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
) f
) u
)SQL";

Error bad(std::string message, std::string path) {
  return make_error(ErrorCode::kUnexpected, "invalid catalog: " + std::move(message),
                    std::move(path));
}

// Reads field `key` of `obj` as a string; absent or null reads as "".
Result<std::string> get_string(const json::object& obj, std::string_view key,
                               const std::string& path) {
  const json::value* v = obj.if_contains(key);
  if (!v || v->is_null()) return std::string();
  if (!v->is_string()) return bad("expected a string", path + "." + std::string(key));
  return std::string(v->get_string());
}

Result<bool> get_bool(const json::object& obj, std::string_view key, const std::string& path,
                      bool absent = false) {
  const json::value* v = obj.if_contains(key);
  if (!v || v->is_null()) return absent;
  if (!v->is_bool()) return bad("expected a boolean", path + "." + std::string(key));
  return v->get_bool();
}

Result<std::vector<std::string>> get_strings(const json::object& obj, std::string_view key,
                                             const std::string& path) {
  std::vector<std::string> out;
  const json::value* v = obj.if_contains(key);
  if (!v || v->is_null()) return out;
  if (!v->is_array()) return bad("expected an array", path + "." + std::string(key));
  for (const auto& e : v->get_array()) {
    if (!e.is_string()) return bad("expected an array of strings", path + "." + std::string(key));
    out.emplace_back(e.get_string());
  }
  return out;
}

// A type as the catalog describes it: {type, udt, type_schema, is_array} under `prefix`.
Result<Column> type_of(const json::object& o, const std::string& prefix, const std::string& path) {
  Column c;
  auto type = get_string(o, prefix + "type", path);
  if (!type) return type.take_error();
  c.pg_type = *type;
  auto udt = get_string(o, prefix + "udt", path);
  if (!udt) return udt.take_error();
  c.udt_name = *udt;
  auto ts = get_string(o, prefix + "type_schema", path);
  if (!ts) return ts.take_error();
  if (!ts->empty()) c.type_schema = *ts;
  auto is_array = get_bool(o, "is_array", path);
  if (!is_array) return is_array.take_error();
  c.is_array = prefix.empty() && *is_array;
  if (c.pg_type.empty()) return bad("type without a name", path);
  return c;
}

Result<Function> parse_function(const json::object& o, const std::string& path) {
  Function f;
  auto schema = get_string(o, "schema", path);
  if (!schema) return schema.take_error();
  auto name = get_string(o, "name", path);
  if (!name) return name.take_error();
  if (name->empty()) return bad("function without a name", path);
  f.name = QualifiedName{*schema, *name};
  auto volatility = get_string(o, "volatility", path);
  if (!volatility) return volatility.take_error();
  if (!volatility->empty()) f.volatility = (*volatility)[0];
  auto set = get_bool(o, "returns_set", path);
  if (!set) return set.take_error();
  f.returns_set = *set;
  auto ret = type_of(o, "return_", path);
  if (!ret) return ret.take_error();
  f.return_type = std::move(*ret);
  f.return_type.is_array = f.return_type.udt_name.starts_with('_');
  auto kind = get_string(o, "return_kind", path);
  if (!kind) return kind.take_error();
  if (!kind->empty()) f.return_kind = (*kind)[0];
  auto out_args = get_bool(o, "has_out_arguments", path);
  if (!out_args) return out_args.take_error();
  f.has_out_arguments = *out_args;
  auto variadic = get_bool(o, "variadic", path);
  if (!variadic) return variadic.take_error();
  f.variadic = *variadic;
  if (const json::value* n = o.if_contains("overloads"); n && n->is_int64())
    f.overloads = static_cast<size_t>(std::max<int64_t>(1, n->get_int64()));
  auto comment = get_string(o, "comment", path);
  if (!comment) return comment.take_error();
  f.comment = *comment;
  if (const json::value* args = o.if_contains("arguments"); args && !args->is_null()) {
    if (!args->is_array()) return bad("expected an array", path + ".arguments");
    size_t j = 0;
    for (const auto& av : args->get_array()) {
      std::string apath = fmt::format("{}.arguments[{}]", path, j++);
      if (!av.is_object()) return bad("expected an object", apath);
      Function::Argument a;
      auto t = type_of(av.get_object(), "", apath);
      if (!t) return t.take_error();
      a.type = std::move(*t);
      auto aname = get_string(av.get_object(), "name", apath);
      if (!aname) return aname.take_error();
      a.name = *aname;
      a.type.name = a.name;
      auto def = get_bool(av.get_object(), "has_default", apath);
      if (!def) return def.take_error();
      a.has_default = *def;
      f.arguments.push_back(std::move(a));
    }
  }
  return f;
}

}  // namespace

std::string_view catalog_query() { return kCatalogQuery; }

Result<Catalog> parse_catalog(std::string_view json_text) {
  boost::system::error_code ec;
  json::value doc = json::parse(json_text, ec);
  if (ec) return bad("not JSON: " + ec.message(), "$");
  if (!doc.is_array()) return bad("expected an array of tables", "$");
  Catalog out;
  size_t i = 0;
  for (const auto& tv : doc.get_array()) {
    std::string path = fmt::format("$[{}]", i++);
    if (!tv.is_object()) return bad("expected an object", path);
    const auto& to = tv.get_object();
    if (const json::value* k = to.if_contains("kind");
        k && k->is_string() && k->get_string() == "function") {
      auto f = parse_function(to, path);
      if (!f) return f.take_error();
      out.functions.push_back(std::move(*f));
      continue;
    }
    Table t;
    auto schema = get_string(to, "schema", path);
    if (!schema) return schema.take_error();
    auto name = get_string(to, "name", path);
    if (!name) return name.take_error();
    if (name->empty()) return bad("table without a name", path);
    t.name = QualifiedName{*schema, *name};
    auto kind = get_string(to, "kind", path);
    if (!kind) return kind.take_error();
    t.is_view = *kind == "v" || *kind == "m";
    auto ident = get_string(to, "replica_identity", path);
    if (!ident) return ident.take_error();
    if (!ident->empty()) t.replica_identity = (*ident)[0];
    auto comment = get_string(to, "comment", path);
    if (!comment) return comment.take_error();
    t.comment = *comment;
    auto pk = get_strings(to, "primary_key", path);
    if (!pk) return pk.take_error();
    t.primary_key = std::move(*pk);
    // Absent (a catalog document from before these keys) reads as a table's answer: all allowed.
    auto insertable = get_bool(to, "insertable", path, true);
    if (!insertable) return insertable.take_error();
    t.insertable = *insertable;
    auto updatable = get_bool(to, "updatable", path, true);
    if (!updatable) return updatable.take_error();
    t.updatable = *updatable;
    auto deletable = get_bool(to, "deletable", path, true);
    if (!deletable) return deletable.take_error();
    t.deletable = *deletable;

    if (const json::value* cols = to.if_contains("columns"); cols && !cols->is_null()) {
      if (!cols->is_array()) return bad("expected an array", path + ".columns");
      size_t j = 0;
      for (const auto& cv : cols->get_array()) {
        std::string cpath = fmt::format("{}.columns[{}]", path, j++);
        if (!cv.is_object()) return bad("expected an object", cpath);
        const auto& co = cv.get_object();
        Column c;
        auto cname = get_string(co, "name", cpath);
        if (!cname) return cname.take_error();
        c.name = *cname;
        auto type = get_string(co, "type", cpath);
        if (!type) return type.take_error();
        c.pg_type = *type;
        auto udt = get_string(co, "udt", cpath);
        if (!udt) return udt.take_error();
        c.udt_name = *udt;
        auto ts = get_string(co, "type_schema", cpath);
        if (!ts) return ts.take_error();
        if (!ts->empty()) c.type_schema = *ts;
        auto is_array = get_bool(co, "is_array", cpath);
        if (!is_array) return is_array.take_error();
        c.is_array = *is_array;
        auto nullable = get_bool(co, "nullable", cpath);
        if (!nullable) return nullable.take_error();
        c.nullable = *nullable;
        auto has_default = get_bool(co, "has_default", cpath);
        if (!has_default) return has_default.take_error();
        c.has_default = *has_default;
        auto enums = get_strings(co, "enum_values", cpath);
        if (!enums) return enums.take_error();
        c.enum_values = std::move(*enums);
        auto ccomment = get_string(co, "comment", cpath);
        if (!ccomment) return ccomment.take_error();
        c.comment = *ccomment;
        auto generated = get_bool(co, "generated_always", cpath);
        if (!generated) return generated.take_error();
        c.generated_always = *generated;
        if (c.name.empty() || c.pg_type.empty()) return bad("column without name or type", cpath);
        t.columns.push_back(std::move(c));
      }
    }

    if (const json::value* fks = to.if_contains("foreign_keys"); fks && !fks->is_null()) {
      if (!fks->is_array()) return bad("expected an array", path + ".foreign_keys");
      size_t j = 0;
      for (const auto& fv : fks->get_array()) {
        std::string fpath = fmt::format("{}.foreign_keys[{}]", path, j++);
        if (!fv.is_object()) return bad("expected an object", fpath);
        const auto& fo = fv.get_object();
        ForeignKey fk;
        auto fname = get_string(fo, "name", fpath);
        if (!fname) return fname.take_error();
        fk.name = *fname;
        auto fcols = get_strings(fo, "columns", fpath);
        if (!fcols) return fcols.take_error();
        fk.columns = std::move(*fcols);
        auto rs = get_string(fo, "ref_schema", fpath);
        if (!rs) return rs.take_error();
        auto rt = get_string(fo, "ref_table", fpath);
        if (!rt) return rt.take_error();
        fk.ref_table = QualifiedName{*rs, *rt};
        auto rcols = get_strings(fo, "ref_columns", fpath);
        if (!rcols) return rcols.take_error();
        fk.ref_columns = std::move(*rcols);
        if (fk.columns.empty() || fk.columns.size() != fk.ref_columns.size())
          return bad("foreign key columns do not match", fpath);
        t.foreign_keys.push_back(std::move(fk));
      }
    }

    if (const json::value* ucs = to.if_contains("unique_constraints"); ucs && !ucs->is_null()) {
      if (!ucs->is_array()) return bad("expected an array", path + ".unique_constraints");
      size_t j = 0;
      for (const auto& uv : ucs->get_array()) {
        std::string upath = fmt::format("{}.unique_constraints[{}]", path, j++);
        if (!uv.is_object()) return bad("expected an object", upath);
        const auto& uo = uv.get_object();
        UniqueConstraint uc;
        auto uname = get_string(uo, "name", upath);
        if (!uname) return uname.take_error();
        uc.name = *uname;
        auto ucols = get_strings(uo, "columns", upath);
        if (!ucols) return ucols.take_error();
        uc.columns = std::move(*ucols);
        auto primary = get_bool(uo, "primary_key", upath);
        if (!primary) return primary.take_error();
        uc.primary_key = *primary;
        if (uc.name.empty() || uc.columns.empty())
          return bad("unique constraint without name or columns", upath);
        t.unique_constraints.push_back(std::move(uc));
      }
    }
    out.tables.push_back(std::move(t));
  }
  return out;
}

}  // namespace liveql::catalog
