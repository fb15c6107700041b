#include "liveql/compiler/catalog.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

namespace liveql::catalog {

namespace json = boost::json;

namespace {

// json_agg over an empty set is NULL, hence the coalesce around every aggregate. Views have no
// constraints, so their key and foreign-key arrays come out empty.
constexpr std::string_view kCatalogQuery = R"SQL(
select coalesce(json_agg(t order by t.schema, t.name), '[]'::json)::text
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
