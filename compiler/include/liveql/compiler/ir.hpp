// The intermediate representation of a validated operation, with the role's permissions
// applied. Produced by compile() (compile.hpp), read by the SQL generator (sql.hpp) and by the
// dependency extraction for the matcher.
//
// Values never appear in the IR as text: every value (query literal, variable, session
// variable, permission limit) is a Param, a key into the request's `vars` JSON object. Two
// operations that differ only in values therefore have identical IR and identical SQL, which
// is what puts their subscribers into one cohort.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "liveql/compiler/catalog.hpp"

namespace liveql::ir {

// A per-request value: vars[key], cast to pg_type in SQL. When is_list, vars[key] is a JSON
// array whose elements are cast to pg_type (for _in / _nin / _has_keys_*).
// pg_type is a Postgres type name usable in a cast ("integer", "text", "public.status").
struct Param {
  std::string key;
  std::string pg_type;
  bool is_list = false;
};

enum class CompareOp {
  kEq,
  kNeq,
  kGt,
  kLt,
  kGte,
  kLte,
  kIn,
  kNin,
  kIsNull,  // param is a boolean: true => IS NULL, false => IS NOT NULL
  kLike,
  kNlike,
  kIlike,
  kNilike,
  kSimilar,
  kNsimilar,
  kRegex,
  kNregex,
  kIregex,
  kNiregex,
  kContains,
  kContainedIn,
  kHasKey,
  kHasKeysAny,
  kHasKeysAll,  // jsonb
  // PostGIS (param: a GeoJSON object of the compared type; the *DWithin ones an object
  // {distance, from, use_spheroid?} whose `from` is GeoJSON)
  kStContains,
  kStCrosses,
  kStEquals,
  kStIntersects,
  kStOverlaps,
  kStTouches,
  kStWithin,
  kSt3dIntersects,
  kStDWithin,
  kSt3dDWithin,
  // ltree (param: an ltree, lquery or ltxtquery text; the *Any ones a list)
  kAncestor,         // column @> ltree
  kAncestorAny,      // column @> ltree[]
  kDescendant,       // column <@ ltree
  kDescendantAny,    // column <@ ltree[]
  kMatches,          // column ~ lquery
  kMatchesAny,       // column ? lquery[]
  kMatchesFulltext,  // column @ ltxtquery
  // PostGIS raster: ST_Intersects(column, param) with a raster (hex WKB) param; the *Nband ones
  // take an object {geommin (GeoJSON), nband} and pass the band before or after the geometry.
  kStIntersectsRast,
  kStIntersectsGeomNband,
  kStIntersectsNbandGeom,
};

// How a parent row links to the rows of a relationship's target table:
// child.<mapping[i].second> = parent.<mapping[i].first> for every i.
struct Join {
  std::string name;  // relationship name
  catalog::QualifiedName target;
  std::vector<std::pair<std::string, std::string>> mapping;  // parent col -> child col
  bool is_array = false;
};

// A call of a SQL function (a tracked function's rows, a computed field's value or rows):
// schema.name(args...), positional; arguments after the last one given take their defaults.
struct FunctionCall {
  catalog::QualifiedName function;
  struct Arg {
    enum class Kind { kValue, kRow };  // kRow: the row of row_table the call is made for
    Kind kind = Kind::kValue;
    Param param;       // kValue (a session argument is a json Param of the session)
    std::string name;  // set: passed by name (name => value), after an omitted argument
  };
  std::vector<Arg> args;
  catalog::QualifiedName row_table;  // kRow: the table whose row is passed
};
using FunctionCallPtr = std::shared_ptr<const FunctionCall>;

struct BoolExp;
using BoolExpPtr = std::shared_ptr<const BoolExp>;

struct BoolExp {
  enum class Kind {
    kTrue,
    kFalse,
    kAnd,             // children
    kOr,              // children
    kNot,             // children[0]
    kCompare,         // column op param
    kCompareColumns,  // column op other_column (a permission's _ceq, _cgt, ...): op is one of
                      // kEq..kLte; other_column belongs to the table `levels_up` relationship /
                      // _exists levels out (0: this row; Hasura's ["$", col]: the permission's
                      // own table)
    kRelationship,    // EXISTS(row of join.target linked to this row AND inner)
    kExists,          // _exists: EXISTS(row of table AND inner), unrelated to this row
  };
  Kind kind = Kind::kTrue;
  std::vector<BoolExpPtr> children;
  // kCompare
  std::string column;
  std::string column_type;      // Postgres type of the column
  bool column_is_enum = false;  // that type is an enum (values equal exactly when labels are)
  std::string column_cast;      // when set, the column is compared as column::column_cast (_cast)
  CompareOp op = CompareOp::kEq;
  Param param;
  // kCompareColumns
  std::string other_column;
  int levels_up = 0;
  // kRelationship: join (inner already includes the target table's permission filter)
  Join join;
  // kExists
  catalog::QualifiedName table;
  BoolExpPtr inner;
  // A computed field instead of a column: kCompare compares its value (column is empty); a
  // kRelationship with an empty join.mapping reads the rows it returns (join.target).
  FunctionCallPtr computed;
};

struct OrderBy {
  // Relationships to walk, outermost first; empty: own column. Object relationships, except the
  // last one when `aggregate` is set: an array relationship whose rows are aggregated.
  std::vector<Join> path;
  std::string column;  // of the last path target; empty for the aggregate "count"
  bool desc = false;
  bool nulls_first = false;  // Hasura's asc => NULLS LAST, desc => NULLS FIRST by default
  // The role's permission filter on each path[i].target (null or missing: none), applied to the
  // related rows before their value or aggregate is read.
  std::vector<BoolExpPtr> path_filters;
  std::string aggregate;     // empty: the column's value; else count (of rows) or a function over
                             // column (avg max min stddev stddev_pop stddev_samp sum var_pop
                             // var_samp variance) of path.back()'s rows
  FunctionCallPtr computed;  // a scalar computed field of the row instead of column (no path)
};

struct Select;
struct Aggregate;
struct Connection;

struct Field {
  enum class Kind {
    kColumn,      // column, pg_type
    kTypename,    // a constant string: typename
    kObjectRel,   // join + select (at most one row, or null)
    kArrayRel,    // join + select (JSON array)
    kAggregate,   // join + aggregate (an array relationship's <rel>_aggregate)
    kStatic,      // a JSON value from vars[param.key] (introspection inside a query)
    kNodeId,      // Relay: the row's global id (node_table, node_key)
    kConnection,  // Relay: join + connection (an array relationship's <rel>_connection)
    kComputed,    // a scalar computed field: call's value (pg_type, as_text as for a column)
  };
  Kind kind = Kind::kColumn;
  std::string alias;  // the response key
  std::string column;
  std::string pg_type;
  bool pg_enum = false;  // kColumn: pg_type is an enum
  bool as_text = false;  // kColumn: output as a JSON string (stringified numeric types)
  // kColumn of type json/jsonb: the value at this path (#>), a list of text keys and indexes
  std::optional<Param> json_path;
  std::string typename_;
  Join join;
  std::shared_ptr<Select> select;
  std::shared_ptr<Aggregate> aggregate;
  Param param;
  // kNodeId: base64 of the JSON text [1, "schema", "table", <key values>...], Hasura's v1 id.
  catalog::QualifiedName node_table;
  std::vector<std::string> node_key;
  std::shared_ptr<Connection> connection;  // kConnection
  // kComputed; also a kArrayRel whose select reads a table computed field (join.mapping empty,
  // select->function set).
  FunctionCallPtr call;
  // kColumn for an inherited role: the value shows only where this holds, NULL elsewhere.
  BoolExpPtr cell_filter;
};

// Rows of one table: FROM table WHERE where ORDER BY .. LIMIT .. OFFSET .., projected to fields.
struct Select {
  catalog::QualifiedName table;
  std::vector<std::string> primary_key;  // empty if the table has none
  BoolExpPtr where;                      // user `where` AND permission filter; null = true
  std::vector<OrderBy> order_by;
  std::vector<std::string> distinct_on;
  std::optional<Param> limit;  // user limit
  std::optional<Param> offset;
  std::optional<Param> permission_limit;  // the role's limit; effective limit = least of both
  std::vector<Field> fields;
  // The rows come from this call (a tracked function, a table computed field) instead of the
  // table; they are rows of `table` all the same.
  FunctionCallPtr function;
};

struct AggregateField {
  enum class Kind {
    kCount,     // count(*) or count([DISTINCT] columns)
    kFunction,  // function over columns: one JSON object {column_alias: value}
    kTypename,  // __typename inside `aggregate { }`
  };
  Kind kind = Kind::kCount;
  std::string alias;
  std::vector<std::string> count_columns;  // empty: count(*)
  bool count_distinct = false;
  std::string function;  // sum avg min max stddev stddev_pop stddev_samp variance var_pop var_samp
  struct Column {
    std::string alias;
    std::string column;
    std::string pg_type;
    bool as_text = false;  // the function's value as a JSON string (stringified numeric types)
  };
  std::vector<Column> columns;         // kFunction
  std::vector<Field> typename_fields;  // inner __typename of a kFunction object, as kTypename
  std::string typename_;
};

// <table>_aggregate: { aggregate { count sum {..} ... } nodes { .. } __typename }, each of them
// possibly several times under different response keys (and arguments).
struct Aggregate {
  Select rows;  // the aggregated set (where, order_by, limit, offset, distinct_on); rows.fields
                // are the fields of every `nodes` selection, one after another
  std::vector<AggregateField> aggregate_fields;  // of every `aggregate { }`, one after another
  // One field of the aggregate object, in request order.
  struct Output {
    enum class Kind { kAggregate, kNodes, kTypename };
    Kind kind = Kind::kAggregate;
    std::string alias;          // the response key
    size_t begin = 0, end = 0;  // kAggregate: its aggregate_fields; kNodes: its rows.fields
    std::string typename_;      // kTypename
  };
  std::vector<Output> outputs;
  bool has(Output::Kind kind) const {
    for (const auto& o : outputs)
      if (o.kind == kind) return true;
    return false;
  }
};

// Relay's <t>_connection: rows.order_by is the requested order followed by the primary key
// columns it lacks; cursor_paths[i] names rows.order_by[i] in a cursor (["title"],
// ["author", "name"], ["articles_aggregate", "count"]) and cursor_types[i] is the Postgres type
// its cursor value is cast to. A cursor is the base64 of json_build_object's text over those
// values, nested by path (Hasura's). The page: rows after `after` / before `before` (a decoded
// cursor object in vars), the first `first` or last `last` of them; rows.limit is unused.
struct Connection {
  Select rows;
  std::vector<std::vector<std::string>> cursor_paths;
  std::vector<std::string> cursor_types;
  std::optional<Param> first, last, after, before;
  // One field of the connection object, of an edge, or of pageInfo, in request order.
  struct Output {
    enum class Kind {
      kEdges,            // children: the edge's fields
      kPageInfo,         // children: its fields
      kCursor,           // edge
      kNode,             // edge: rows.fields[begin, end)
      kHasNextPage,      // pageInfo
      kHasPreviousPage,  // pageInfo
      kStartCursor,      // pageInfo
      kEndCursor,        // pageInfo
      kTypename,
    };
    Kind kind = Kind::kTypename;
    std::string alias;
    std::string typename_;
    size_t begin = 0, end = 0;
    std::vector<Output> children;
  };
  std::vector<Output> outputs;
};

struct RootField {
  enum class Kind {
    kSelect,      // <table>: JSON array
    kSelectByPk,  // <table>_by_pk: object or null (select.where holds the key equality); also
                  // a function returning one row (select.function)
    kAggregate,   // <table>_aggregate
    kStatic,      // vars[param.key] as is (__typename, __schema, __type)
    kConnection,  // Relay's <table>_connection
    kStream,      // <table>_stream: a streaming subscription's batch (stream_* below)
  };
  Kind kind = Kind::kSelect;
  std::string alias;
  Select select;
  Aggregate aggregate;
  Param param;
  Connection connection;  // kConnection
  // Set under a source's root field namespace (customization): the response key of the
  // namespace field, whose object holds this field under `alias`.
  std::string namespace_alias;
  // kStream: `select` is one batch, the rows past the cursor: select.where includes
  // `stream_column > stream_cursor` (< when stream_desc), select.order_by is stream_column and
  // select.limit the batch size. The multiplexed statement also answers the batch's last cursor
  // value and whether the batch was full (sql.hpp), and the live core moves the subscriber's
  // vars[stream_cursor.key] to that value after each batch.
  std::string stream_column;
  Param stream_cursor;
  bool stream_desc = false;
};

struct Operation {
  std::vector<RootField> fields;
};

}  // namespace liveql::ir
