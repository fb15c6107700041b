// Dependency extraction (compiler stage liveql_deps): which tables an operation reads and, per
// table, which row changes can alter its result, in a form the matcher (matcher/) evaluates
// against row images. Pure; the result is immutable and shared by every subscriber of a cohort.
//
// Roles of a table (DESIGN.md rule 4):
//  - kRoot: a root field's select (or aggregate). Any row of the table may enter the result: a
//    change is relevant when its new row may satisfy `predicate` (the select's where, with the
//    permission filter), or when its key is in the subscriber's result keys.
//  - kLinked: rows of a relationship field (object, array, aggregate). Rows reach the result only
//    through the link: relevant when the row's `link_columns` (new or old image) equal a result
//    key of that shape and the row may satisfy `predicate` (the nested where), or when the row's
//    primary key is in the result keys.
//  - kFilterOnly: tables reached only by relationship filters, `_exists`, or order_by paths.
//    Relevant when the new row (and, when `old_image_relevant` or when the old image lacks
//    `link_columns`, the old row) may satisfy `predicate` (the inner filter), or when a key of
//    the row is in the result keys (the SQL emits the link keys of every relationship used in a
//    where; see sql.hpp). A row also leaves the filter by changing its link columns (an order
//    moving to another user): a key-only old image does not show the old link, so its predicate
//    decides.
//
// Tractability (DESIGN.md rule 6). A table dependency is NOT tractable, and the cohort must poll
// (or, if the operator forced event mode, is matched conservatively), when its predicate holds:
//  - a text pattern (_like _nlike _ilike _nilike _similar _nsimilar _regex _nregex _iregex
//    _niregex): collation and pattern semantics are not reproduced here;
//  - a jsonb operator (_contains _contained_in _has_key _has_keys_any _has_keys_all);
//  - `_exists`: any change of the other table may flip it for every row;
//  - a relationship filter (this includes permissions that reach other tables): a new row of this
//    table cannot be matched without reading the related row. (Tracking it by result keys would
//    miss a row whose related row satisfies the filter but is not linked to the result yet, e.g.
//    the first item of a new order.) The related table itself gets a kFilterOnly dependency;
//  - an order_by through a relationship, or on an array relationship's aggregate (the related
//    table's changes reorder the result): each related table gets a kFilterOnly dependency whose
//    predicate is its permission filter;
//  - or when the table has no primary key (rows that leave the result cannot be identified).
// Comparisons on types the matcher cannot compare (timestamps, enums, ...) are tractable: they
// evaluate to unknown, which costs refetches, not correctness. Whatever the flag says, the
// matcher's answer is conservative for every dependency: nodes it cannot evaluate are unknown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/ir.hpp"
#include "liveql/compiler/row_result.hpp"

namespace liveql::deps {

// A predicate over the columns of one table's row. Operands are ir::Params (bound per
// subscriber); `slot` indexes Dependencies::param_keys (set by assign_param_slots()).
struct Predicate {
  enum class Kind {
    kTrue,
    kFalse,
    kUnknown,       // cannot be evaluated from the row (pattern, jsonb, _exists, ...)
    kAnd,           // children; empty = true
    kOr,            // children; empty = false
    kNot,           // children[0]
    kCompare,       // column op param
    kRelationship,  // EXISTS(related row ...): false when a `link_columns` value is NULL,
                    // otherwise unknown
  };
  Kind kind = Kind::kTrue;
  std::vector<Predicate> children;
  // kCompare
  std::string column;
  // The column's type as the matcher compares it: its PostgreSQL type (format_type), or `enum`
  // for any enum type (values equal exactly when their labels are; their order is not known).
  std::string column_type;
  ir::CompareOp op = ir::CompareOp::kEq;
  ir::Param param;
  int32_t slot = -1;
  // kRelationship: this row's columns the link reads
  std::vector<std::string> link_columns;
};

enum class TableRole { kRoot, kLinked, kFilterOnly };

struct TableDependency {
  catalog::QualifiedName table;
  std::string table_key;  // "schema.table", as result keys name it
  TableRole role = TableRole::kRoot;
  std::vector<std::string> primary_key;
  std::vector<std::string> link_columns;  // kLinked: child-side columns of the join
  Predicate predicate;
  // Aggregates, limit/offset, distinct_on (and filters under them): a row that satisfies the
  // predicate can change the result without being in it.
  bool all_rows_relevant = false;
  // The old image must be checked against the predicate (all_rows_relevant, a negated
  // relationship filter, a table without primary key). Otherwise rows that leave the result are
  // found by the result keys, and the old image is checked only when it holds every column the
  // predicate reads (REPLICA IDENTITY FULL).
  bool old_image_relevant = false;
  std::vector<std::string> predicate_columns;  // every column `predicate` reads, sorted unique
  bool tractable = true;
  std::string reason;  // why not tractable, for operators ("text pattern _ilike on orders.note")
};

struct Dependencies {
  std::vector<TableDependency> tables;  // in operation order; a table may appear several times
  std::vector<std::string> param_keys;  // distinct Param keys the predicates read, slot order
  bool tractable = true;
  std::string reason;  // the first table's reason when not tractable
  // Set when the result is one keyed row an image can write (row_result.hpp).
  std::optional<RowResult> row_result;
};

// Extracts the dependencies of an operation (query or subscription). Never fails: what it
// cannot understand becomes unknown (and not tractable).
Dependencies extract_dependencies(const ir::Operation& op);

// Recomputes param_keys, every kCompare's slot, predicate_columns, and the overall tractable
// flag. extract_dependencies() calls it; call it after building or editing Dependencies by hand.
void assign_param_slots(Dependencies& deps);

}  // namespace liveql::deps
