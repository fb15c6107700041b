// The intermediate representation of one mutation root field, with the role's permissions
// applied: what to write (insert / update / delete), which permission pieces guard it, and what
// to answer (affected_rows, returning, or the single row of _one / _by_pk). Produced by the
// compiler's mutation stage, read by the mutation SQL generator (sql_mutation.hpp).
//
// As in ir.hpp, no value appears as text: every written value, preset, where and check operand
// is an ir::Param, a key into the request's `vars` JSON object.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/ir.hpp"

namespace liveql::ir {

// column := vars[param.key] cast to param.pg_type (the column's type). Request values and the
// permission's `set` presets (literals and session variables alike) are all ColumnValues; the
// compiler lets a preset win over a request value for the same column.
struct ColumnValue {
  std::string column;
  Param param;
};

// on_conflict of one insert level: ON CONFLICT ON CONSTRAINT <constraint>, then DO NOTHING when
// update_columns is empty, else DO UPDATE SET c = EXCLUDED.c for each update column plus the
// update permission's presets, WHERE `where` holds for the existing row.
struct OnConflict {
  std::string constraint;
  std::vector<std::string> update_columns;
  std::vector<ColumnValue> update_presets;
  BoolExpPtr where;  // user `where` AND the update permission's filter; null = true
  BoolExpPtr check;  // the update permission's check on rows the upsert updated; null = true
};

struct Insert;

// Rows of a relationship inserted with their parent row. An object relationship's insert holds
// exactly one row and is written before the parent, which takes the linked columns from it
// (parent.<mapping.first> = child.<mapping.second>); an array relationship's rows are written
// after the parent and take their linked columns from it (child.<second> = parent.<first>).
// The linked columns are not in the nested rows' values.
struct NestedInsert {
  Join join;
  std::shared_ptr<const Insert> insert;
};

struct InsertRow {
  std::vector<ColumnValue> values;  // columns not listed get their DEFAULT
  std::vector<NestedInsert> object_relationships;
  std::vector<NestedInsert> array_relationships;
};

// One table level of an insert (the root field's, or a nested relationship's).
struct Insert {
  catalog::QualifiedName table;
  std::vector<std::string> primary_key;  // empty if the table has none
  std::vector<InsertRow> rows;
  std::optional<OnConflict> on_conflict;
  BoolExpPtr check;  // the insert permission's check on each inserted row; null = true
};

struct ColumnUpdate {
  enum class Op {
    kSet,           // c = v
    kInc,           // c = c + v
    kAppend,        // c = c || v (jsonb)
    kPrepend,       // c = v || c (jsonb)
    kDeleteKey,     // c = c - v (jsonb, v text)
    kDeleteElem,    // c = c - v (jsonb, v integer)
    kDeleteAtPath,  // c = c #- v (jsonb, v text[])
  };
  Op op = Op::kSet;
  std::string column;
  Param param;  // pg_type: the column's type, except text / integer / text[] as noted above
};

// UPDATE table SET .. WHERE where, checking `check` on every updated row. Presets are kSet
// entries. No entries: nothing is written, the matching rows are returned as they are.
struct Update {
  catalog::QualifiedName table;
  std::vector<std::string> primary_key;
  BoolExpPtr where;  // user where (or the key equality of _by_pk) AND the permission filter
  std::vector<ColumnUpdate> set;
  BoolExpPtr check;  // null = true
};

struct Delete {
  catalog::QualifiedName table;
  BoolExpPtr where;  // user where (or the key equality of _by_pk) AND the permission filter
};

// One field of <t>_mutation_response.
struct MutationOutputField {
  enum class Kind { kAffectedRows, kReturning, kTypename };
  Kind kind = Kind::kAffectedRows;
  std::string alias;
  Select returning;  // kReturning: table, the select permission's filter as where, fields
  std::string typename_;
};

struct MutationField {
  enum class Kind {
    kInsert,      // insert: <t>_mutation_response
    kInsertOne,   // insert (one row): the row or null (returning_one)
    kUpdate,      // updates[0]: <t>_mutation_response
    kUpdateByPk,  // updates[0]: the row or null (returning_one)
    kUpdateMany,  // updates: a list of <t>_mutation_response, one per update, run in order
    kDelete,      // del: <t>_mutation_response
    kDeleteByPk,  // del: the row or null (returning_one)
    // function_rows: a VOLATILE function's rows (a list), or the row or null of one returning
    // a single row
    kFunction,
    kFunctionOne,
  };
  Kind kind = Kind::kInsert;
  std::string alias;
  Insert insert;
  std::vector<Update> updates;
  Delete del;
  std::vector<MutationOutputField> output;  // the multi-row kinds' response fields
  Select returning_one;                     // the _one / _by_pk kinds' row (table, where, fields)
  // The function kinds: the rows its call (function_rows.function) returns, with the request's
  // where, order_by, limit, ... and the return table's select permission, as a query's.
  Select function_rows;
};

}  // namespace liveql::ir
