// What the server runs for one operation: the compiler's output turned into statements, so that
// no caller builds SQL itself. Pure: no I/O; a Plan is a value (movable, shared by nobody).
//
// Shapes (params are always the plan's `vars` as one JSON text, `$1::json`):
//  - query: one Statement (Kind::kQuery) answering every root field in one row, column `data`,
//    the JSON object of root fields in request order; `transaction` false;
//  - any operation whose every root field is static (__typename, introspection): no statement,
//    `static_data` is the whole `data` object;
//  - subscription: `live` holds the multiplexed statement for LiveQueries and its dependencies;
//    `statements` is empty (the first result comes from the live statement too);
//  - mutation: one Statement (Kind::kMutation) per root field that writes, update_many one per
//    update, run in order in one transaction (`transaction` true); `response` says how their
//    `data` and the static fields (__typename) make the `data` object, in request order.
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/compiler/ast.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/ir.hpp"

namespace liveql::compiler {

struct Statement {
  enum class Kind {
    kQuery,     // one row, one text column `data`: the JSON object of `response_keys`
    kMutation,  // one row, one text column `data`: the JSON value of one root field (or of one
                // update of update_many); Plan::response places it
  };
  Kind kind = Kind::kQuery;
  std::string sql;                         // parameter $1::json: Plan::vars
  std::vector<std::string> response_keys;  // the root fields (aliases) it answers, in order
  // kMutation: the path a database error of this statement is reported at (Hasura's: the rows
  // argument of an insert, "$.selectionSet.<alias>.args.objects", else "$").
  std::string error_path = "$";
};

// One member of a mutation's `data` object: a static JSON value, or the `data` of the
// statements [first_statement, first_statement + statement_count) of Plan::statements: that
// one statement's, or when `list` a JSON array of theirs (update_many: one element per update).
struct ResponseField {
  std::string key;
  std::optional<std::string> static_json;
  size_t first_statement = 0;
  size_t statement_count = 0;
  bool list = false;
  // Under a source's root field namespace: the namespace's response key. Consecutive fields
  // with the same namespace_key form one object under that key, in the `data` object.
  std::string namespace_key;
};

// A subscription's statement for LiveQueries (sql.hpp: multiplexed_query). Parameters
// $1::bigint[] ids, $2::json[] vars[, $3::xid8[] when takes_xid]; rows id, data, keys[, visible].
class LivePlan {
 public:
  LivePlan() = default;
  LivePlan(std::string sql, bool takes_xid, std::shared_ptr<const ir::Operation> ir)
      : sql(std::move(sql)), takes_xid(takes_xid), ir_(std::move(ir)) {}

  std::string sql;
  bool takes_xid = false;  // the statement checks the visibility of the xids in $3 (rule 8)

  // The operation's dependencies (dependencies.hpp), extracted on the first call and kept: the
  // live core asks only when the subscription starts a new cohort. Not thread-safe: call it on
  // one thread (the live core's).
  std::shared_ptr<const deps::Dependencies> dependencies() const;

  // A streaming subscription: the vars key of its cursor (ir::RootField::stream_cursor), which
  // the live core advances after every batch; empty for a live query.
  std::string stream_cursor_key;

 private:
  std::shared_ptr<const ir::Operation> ir_;
  mutable std::shared_ptr<const deps::Dependencies> dependencies_;
};

struct Plan {
  gql::OperationType type = gql::OperationType::kQuery;
  std::string root_field_name;  // name (not alias) of the first root field, for operator views
  boost::json::object vars;     // the request's values, keyed by ir::Param keys
  std::string vars_text;        // `vars` serialized: the statements' $1
  // Set when no SQL is needed (only __typename / introspection): the whole `data` object.
  std::optional<boost::json::object> static_data;
  std::vector<Statement> statements;  // run in order; each answers its own response keys
  bool transaction = false;           // run `statements` in one transaction (BEGIN ... COMMIT)
  std::optional<LivePlan> live;       // subscriptions (without static_data) only
  // Mutations (without static_data): the `data` object's members in request order.
  std::vector<ResponseField> response;
};

// The plan of a compiled operation. Never fails.
Plan plan_operation(CompiledOperation op);

// compile() then plan_operation(): the server's front door.
Result<Plan> compile_plan(const Schema& schema, const Request& request, const Session& session,
                          const Limits& limits = {});

// For /v1/graphql/explain: one entry per root field, in request order, with the statement that
// answers that field alone (empty sql for a static field). Parameters as Plan::vars_text.
// response_key is "<namespace>.<alias>" under a source's root field namespace, as Hasura's.
// Mutations are not explained (compile_explain refuses them, as Hasura does).
struct ExplainedField {
  std::string response_key;
  std::string sql;
};
std::vector<ExplainedField> explain_fields(const CompiledOperation& op);

// compile() then explain_fields(), with the vars the statements take. A mutation is
// kInvalidParams "only queries can be explained" (Hasura's answer).
struct ExplainPlan {
  std::vector<ExplainedField> fields;
  std::string vars_text;
};
Result<ExplainPlan> compile_explain(const Schema& schema, const Request& request,
                                    const Session& session, const Limits& limits = {});

}  // namespace liveql::compiler
