// compile() of mutation documents: the IR of each root field kind, with the role's insert,
// update and delete permissions applied (columns, presets, filters, checks), nested inserts,
// on_conflict, returning limited by the select permission, and Hasura's errors.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/compile.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;
using MK = ir::MutationField::Kind;
using Op = ir::ColumnUpdate::Op;

const char* kMutationMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: users}
    array_relationships:
    - name: orders
      using:
        foreign_key_constraint_on: {column: user_id, table: {schema: public, name: orders}}
    select_permissions:
    - role: user
      permission:
        columns: [id, name, email]
        filter: {id: {_eq: X-Hasura-User-Id}}
    insert_permissions:
    - role: user
      permission:
        check: {id: {_eq: X-Hasura-User-Id}}
        columns: [id, name, email]
  - table: {schema: public, name: delivery_agents}
    insert_permissions:
    - role: service
      permission:
        check: {}
        columns: [id, name]
        backend_only: true
  - table: {schema: public, name: orders}
    object_relationships:
    - name: user
      using: {foreign_key_constraint_on: user_id}
    array_relationships:
    - name: items
      using:
        foreign_key_constraint_on: {column: order_id, table: {schema: public, name: order_items}}
    select_permissions:
    - role: user
      permission:
        columns: [id, user_id, status, total, notes]
        filter: {user_id: {_eq: X-Hasura-User-Id}}
    - role: agent
      permission:
        columns: [id, status]
        filter: {delivery_agent_id: {_eq: X-Hasura-User-Id}}
    insert_permissions:
    - role: user
      permission:
        check: {user_id: {_eq: X-Hasura-User-Id}}
        columns: [id, status, total, notes]
        set: {user_id: X-Hasura-User-Id, created_at: "2020-01-01T00:00:00Z"}
    update_permissions:
    - role: user
      permission:
        columns: [status, total, notes]
        filter: {user_id: {_eq: X-Hasura-User-Id}}
        check: {total: {_gte: 0}}
        set: {created_at: "2021-01-01T00:00:00Z"}
    delete_permissions:
    - role: user
      permission:
        filter: {status: {_eq: "placed"}}
  - table: {schema: public, name: order_items}
    object_relationships:
    - name: order
      using: {foreign_key_constraint_on: order_id}
    select_permissions:
    - role: user
      permission:
        columns: "*"
        filter: {order: {user_id: {_eq: X-Hasura-User-Id}}}
    insert_permissions:
    - role: user
      permission:
        check: {quantity: {_gt: 0}}
        columns: [id, order_id, name, quantity, price]
)YAML";

class CompileMutationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    catalog::Catalog cat = test::shop_catalog();
    for (auto& t : cat.tables)
      if (!t.primary_key.empty())
        t.unique_constraints.push_back({t.name.name + "_pkey", t.primary_key, true});
    auto md = metadata::parse_metadata(kMutationMetadata);
    ASSERT_TRUE(md.ok()) << md.error().message << " at " << md.error().path;
    auto s = build_schema(cat, *md);
    ASSERT_TRUE(s.ok()) << s.error().message;
    schema_ = *s;
  }
  static Session user(std::optional<std::string> id = "7") {
    Session s;
    s.role = "user";
    s.is_admin = false;
    if (id) s.variables["x-hasura-user-id"] = *id;
    return s;
  }
  Result<CompiledOperation> run(std::string_view q, const Session& s = Session{},
                                std::string vars = "{}") {
    Request r;
    r.query = q;
    r.variables = json::parse(vars).as_object();
    return compile(*schema_, r, s);
  }
  // The one write of a one-field mutation.
  static const ir::MutationField& write(const CompiledOperation& op) {
    EXPECT_EQ(op.mutations.size(), 1u);
    EXPECT_TRUE(op.mutations.at(0).write);
    return *op.mutations.at(0).write;
  }
  static json::value var(const CompiledOperation& op, const ir::Param& p) {
    return op.vars.at(p.key);
  }
  static std::shared_ptr<const Schema> schema_;
};
std::shared_ptr<const Schema> CompileMutationTest::schema_;

TEST_F(CompileMutationTest, AdminInsertRowsWithReturning) {
  auto r = run(R"(mutation { insert_users(objects: [{id: 1, name: "Ann"}, {name: "Ben"}]) {
                   affected_rows returning { id orders { id } } __typename } })");
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  EXPECT_EQ(r->type, gql::OperationType::kMutation);
  EXPECT_TRUE(r->ir.fields.empty());
  EXPECT_FALSE(r->static_data);
  EXPECT_EQ(r->root_field_name, "insert_users");
  EXPECT_EQ(r->mutations[0].error_path, "$.selectionSet.insert_users.args.objects");
  const auto& f = write(*r);
  EXPECT_EQ(f.kind, MK::kInsert);
  EXPECT_EQ(f.alias, "insert_users");
  EXPECT_EQ(f.insert.table.to_string(), "public.users");
  EXPECT_EQ(f.insert.primary_key, std::vector<std::string>{"id"});
  EXPECT_FALSE(f.insert.check);
  EXPECT_FALSE(f.insert.on_conflict);
  ASSERT_EQ(f.insert.rows.size(), 2u);
  ASSERT_EQ(f.insert.rows[0].values.size(), 2u);
  EXPECT_EQ(f.insert.rows[0].values[0].column, "id");
  EXPECT_EQ(f.insert.rows[0].values[0].param.pg_type, "integer");
  EXPECT_EQ(var(*r, f.insert.rows[0].values[0].param), json::value(1));
  EXPECT_EQ(var(*r, f.insert.rows[0].values[1].param), json::value("Ann"));
  EXPECT_EQ(f.insert.rows[1].values.size(), 1u);
  ASSERT_EQ(f.output.size(), 3u);
  EXPECT_EQ(f.output[0].kind, ir::MutationOutputField::Kind::kAffectedRows);
  EXPECT_EQ(f.output[1].kind, ir::MutationOutputField::Kind::kReturning);
  EXPECT_FALSE(f.output[1].returning.where);  // admin: no filter
  ASSERT_EQ(f.output[1].returning.fields.size(), 2u);
  EXPECT_EQ(f.output[1].returning.fields[1].kind, ir::Field::Kind::kArrayRel);
  EXPECT_EQ(f.output[2].kind, ir::MutationOutputField::Kind::kTypename);
  EXPECT_EQ(f.output[2].typename_, "users_mutation_response");
}

// The role's presets win (a session variable and a literal), its check is on the rows, and
// insert_one's row is read with the select permission's columns but not its filter (Hasura's
// returning shows every written row).
TEST_F(CompileMutationTest, InsertOneAppliesPresetsCheckAndSelectColumns) {
  auto r = run(R"(mutation { o: insert_orders_one(object: {id: 5, status: "placed", total: 3}) {
                   id user_id } })",
               user("7"));
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  EXPECT_EQ(r->mutations[0].alias, "o");
  EXPECT_EQ(r->mutations[0].error_path, "$.selectionSet.o.args.object");
  const auto& f = write(*r);
  EXPECT_EQ(f.kind, MK::kInsertOne);
  ASSERT_EQ(f.insert.rows.size(), 1u);
  const auto& values = f.insert.rows[0].values;
  ASSERT_EQ(values.size(), 5u);
  EXPECT_EQ(values[3].column, "user_id");
  EXPECT_EQ(var(*r, values[3].param), json::value("7"));
  EXPECT_EQ(values[3].param.pg_type, "integer");
  EXPECT_EQ(values[4].column, "created_at");
  EXPECT_EQ(var(*r, values[4].param), json::value("2020-01-01T00:00:00Z"));
  ASSERT_TRUE(f.insert.check);
  EXPECT_EQ(f.insert.check->column, "user_id");
  EXPECT_EQ(var(*r, f.insert.check->param), json::value("7"));
  EXPECT_FALSE(f.returning_one.where);
  EXPECT_EQ(f.returning_one.table.to_string(), "public.orders");
  ASSERT_EQ(f.returning_one.fields.size(), 2u);
  EXPECT_TRUE(f.output.empty());
}

TEST_F(CompileMutationTest, NestedInsertsThroughObjectAndArrayRelationships) {
  auto r = run(R"(mutation { insert_orders(objects: [{
                   id: 1, status: "placed", total: 2, created_at: "2020-01-01",
                   user: {data: {id: 7, name: "Ann", email: "a@x"}},
                   items: {data: [{id: 10, name: "pen", quantity: 1, price: 2},
                                  {id: 11, name: "ink", quantity: 2, price: 1}]}}]) {
                   affected_rows } })");
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  const auto& row = write(*r).insert.rows.at(0);
  ASSERT_EQ(row.object_relationships.size(), 1u);
  const auto& parent = row.object_relationships[0];
  EXPECT_EQ(parent.join.name, "user");
  EXPECT_FALSE(parent.join.is_array);
  EXPECT_EQ(parent.insert->table.to_string(), "public.users");
  ASSERT_EQ(parent.insert->rows.size(), 1u);
  EXPECT_EQ(parent.insert->rows[0].values.size(), 3u);
  ASSERT_EQ(row.array_relationships.size(), 1u);
  const auto& children = row.array_relationships[0];
  EXPECT_EQ(children.join.name, "items");
  EXPECT_TRUE(children.join.is_array);
  EXPECT_EQ(children.join.mapping[0], (std::pair<std::string, std::string>{"id", "order_id"}));
  EXPECT_EQ(children.insert->rows.size(), 2u);
  for (const auto& v : row.values) EXPECT_NE(v.column, "user_id");
}

// Each nested level takes the permissions of its own table.
TEST_F(CompileMutationTest, NestedLevelsCarryTheirTablesPermissions) {
  auto r = run(R"(mutation { insert_orders_one(object: {id: 1, status: "placed", total: 2,
                   items: {data: [{id: 10, name: "pen", quantity: 1, price: 2}]}}) { id } })",
               user("7"));
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  const auto& nested = *write(*r).insert.rows.at(0).array_relationships.at(0).insert;
  ASSERT_TRUE(nested.check);
  EXPECT_EQ(nested.check->column, "quantity");
  EXPECT_EQ(nested.check->op, ir::CompareOp::kGt);
}

TEST_F(CompileMutationTest, NestedInsertsRefuseColumnsTheRelationshipDetermines) {
  auto a = run(R"(mutation { insert_orders(objects: [{id: 1, user_id: 3, status: "placed",
                   total: 1, created_at: "2020-01-01", user: {data: {id: 3, name: "x",
                   email: "y"}}}]) { affected_rows } })");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(a.error().message,
            "cannot insert object relationship \"user\" as \"user_id\" column values are already "
            "determined");
  EXPECT_EQ(a.error().path, "$.selectionSet.insert_orders.args.objects[0].user");
  auto b = run(R"(mutation { insert_orders(objects: [{id: 1, user_id: 3, status: "placed",
                   total: 1, created_at: "2020-01-01", items: {data: [{id: 2, order_id: 1,
                   name: "n", quantity: 1, price: 1}]}}]) { affected_rows } })");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message,
            "cannot insert \"order_id\" columns as their values are already being determined by "
            "parent insert");
  EXPECT_EQ(b.error().path, "$.selectionSet.insert_orders.args.objects[0].items.data[0]");
}

// on_conflict: the constraint, the columns the role may update, the user's `where` AND the
// update permission's filter, the update check and the update presets.
TEST_F(CompileMutationTest, OnConflictCarriesTheUpdatePermission) {
  auto r = run(R"(mutation { insert_orders(objects: [{id: 1, status: "placed", total: 2}],
                   on_conflict: {constraint: orders_pkey, update_columns: [status, total],
                                 where: {total: {_lt: 100}}}) { affected_rows } })",
               user("7"));
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  const auto& oc = write(*r).insert.on_conflict;
  ASSERT_TRUE(oc);
  EXPECT_EQ(oc->constraint, "orders_pkey");
  EXPECT_EQ(oc->update_columns, (std::vector<std::string>{"status", "total"}));
  ASSERT_TRUE(oc->where);
  ASSERT_EQ(oc->where->kind, ir::BoolExp::Kind::kAnd);
  EXPECT_EQ(oc->where->children[0]->column, "total");
  EXPECT_EQ(oc->where->children[1]->column, "user_id");
  ASSERT_TRUE(oc->check);
  EXPECT_EQ(oc->check->column, "total");
  ASSERT_EQ(oc->update_presets.size(), 1u);
  EXPECT_EQ(oc->update_presets[0].column, "created_at");

  auto nothing = run(R"(mutation { insert_orders(objects: [{id: 1, status: "placed", total: 2}],
                   on_conflict: {constraint: orders_pkey}) { affected_rows } })",
                     user("7"));
  ASSERT_TRUE(nothing.ok()) << nothing.error().message;
  ASSERT_TRUE(write(*nothing).insert.on_conflict);
  EXPECT_TRUE(write(*nothing).insert.on_conflict->update_columns.empty());
}

TEST_F(CompileMutationTest, UpdateAppliesFilterOperatorsPresetsAndCheck) {
  auto r = run(R"(mutation { update_orders(where: {status: {_eq: "placed"}},
                   _set: {status: "delivered"}, _inc: {total: 2}, _append: {notes: {a: 1}}) {
                   affected_rows returning { id } } })",
               user("7"));
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  const auto& f = write(*r);
  EXPECT_EQ(f.kind, MK::kUpdate);
  EXPECT_EQ(r->mutations[0].error_path, "$");
  ASSERT_EQ(f.updates.size(), 1u);
  const auto& u = f.updates[0];
  ASSERT_TRUE(u.where);
  ASSERT_EQ(u.where->kind, ir::BoolExp::Kind::kAnd);
  EXPECT_EQ(u.where->children[0]->column, "status");
  EXPECT_EQ(u.where->children[1]->column, "user_id");
  ASSERT_EQ(u.set.size(), 4u);
  EXPECT_EQ(u.set[0].op, Op::kSet);
  EXPECT_EQ(u.set[0].column, "status");
  EXPECT_EQ(u.set[1].op, Op::kInc);
  EXPECT_EQ(u.set[1].param.pg_type, "numeric");
  EXPECT_EQ(u.set[2].op, Op::kAppend);
  EXPECT_EQ(u.set[2].param.pg_type, "jsonb");
  EXPECT_EQ(var(*r, u.set[2].param), json::parse(R"({"a": 1})"));
  EXPECT_EQ(u.set[3].op, Op::kSet);  // the preset
  EXPECT_EQ(u.set[3].column, "created_at");
  ASSERT_TRUE(u.check);
  EXPECT_EQ(u.check->column, "total");
  EXPECT_FALSE(f.output.at(1).returning.where);  // not the select permission's filter
}

TEST_F(CompileMutationTest, UpdateByPkAndUpdateMany) {
  auto r = run(R"(mutation {
                   one: update_orders_by_pk(pk_columns: {id: 4}, _set: {total: 1}) { id }
                   many: update_orders_many(updates: [
                     {where: {id: {_eq: 1}}, _set: {total: 1}},
                     {where: {id: {_eq: 2}}, _delete_key: {notes: "a"}}]) { affected_rows } })");
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  ASSERT_EQ(r->mutations.size(), 2u);
  const auto& one = *r->mutations[0].write;
  EXPECT_EQ(one.kind, MK::kUpdateByPk);
  ASSERT_TRUE(one.updates.at(0).where);
  EXPECT_EQ(one.updates[0].where->children.at(0)->column, "id");
  EXPECT_EQ(var(*r, one.updates[0].where->children[0]->param), json::value(4));
  EXPECT_EQ(one.returning_one.fields.size(), 1u);
  const auto& many = *r->mutations[1].write;
  EXPECT_EQ(many.kind, MK::kUpdateMany);
  ASSERT_EQ(many.updates.size(), 2u);
  EXPECT_EQ(many.updates[1].set.at(0).op, Op::kDeleteKey);
  EXPECT_EQ(many.updates[1].set.at(0).param.pg_type, "text");
  EXPECT_EQ(many.output.size(), 1u);
}

// Each item of update_<t>_many is a statement: the items and the other root fields together are
// held to max_root_fields, before any item is built.
TEST_F(CompileMutationTest, UpdateManyItemsCountAgainstTheRootFieldLimit) {
  const char* q = R"(mutation ($u: [orders_updates!]!) {
                       one: update_orders_by_pk(pk_columns: {id: 4}, _set: {total: 1}) { id }
                       many: update_orders_many(updates: $u) { affected_rows } })";
  auto items = [](size_t n) {
    std::string out = R"({"u": [)";
    for (size_t i = 0; i < n; ++i)
      out += std::string(i ? "," : "") + R"({"where": {"id": {"_eq": 1}}, "_set": {"total": 1}})";
    return out + "]}";
  };
  const size_t limit = Limits{}.max_root_fields;
  auto fits = run(q, Session{}, items(limit - 1));  // with update_orders_by_pk: the limit
  ASSERT_TRUE(fits.ok()) << fits.error().message;
  EXPECT_EQ(fits->mutations.at(1).write->updates.size(), limit - 1);
  auto over = run(q, Session{}, items(limit));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(over.error().message,
            "the mutation runs 101 statements, more than the limit of 100 (--max-root-fields)");
  EXPECT_EQ(over.error().path, "$");
  auto huge = run(q, Session{}, items(100'000));
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, ErrorCode::kValidationFailed);
}

TEST_F(CompileMutationTest, AColumnInTwoUpdateOperatorsIsAnError) {
  auto r = run(R"(mutation { update_orders(where: {}, _set: {total: 1, status: "placed"},
                   _inc: {total: 2}) { affected_rows } })");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(r.error().message, "Column found in multiple operators: \"total\".");
  EXPECT_EQ(r.error().path, "$.selectionSet.update_orders.args");
}

// An update with nothing to set writes nothing and answers no row, as Hasura does.
TEST_F(CompileMutationTest, AnUpdateWithNothingToSetMatchesNoRow) {
  auto r = run(R"(mutation { update_users(where: {id: {_eq: 1}}, _set: {}) { affected_rows } })");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& u = write(*r).updates.at(0);
  EXPECT_TRUE(u.set.empty());
  ASSERT_TRUE(u.where);
  EXPECT_EQ(u.where->kind, ir::BoolExp::Kind::kFalse);
}

TEST_F(CompileMutationTest, DeleteAndDeleteByPkApplyTheDeleteFilter) {
  auto r = run(R"(mutation { delete_orders(where: {total: {_gt: 1}}) { affected_rows }
                             delete_orders_by_pk(id: 3) { id } })",
               user("7"));
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  const auto& d = *r->mutations[0].write;
  EXPECT_EQ(d.kind, MK::kDelete);
  ASSERT_TRUE(d.del.where);
  EXPECT_EQ(d.del.where->children.at(0)->column, "total");
  EXPECT_EQ(d.del.where->children.at(1)->column, "status");
  const auto& pk = *r->mutations[1].write;
  EXPECT_EQ(pk.kind, MK::kDeleteByPk);
  ASSERT_TRUE(pk.del.where);
  EXPECT_EQ(pk.del.where->children.at(0)->kind, ir::BoolExp::Kind::kAnd);
  EXPECT_EQ(pk.del.where->children.at(1)->column, "status");
  EXPECT_FALSE(pk.returning_one.where);  // the deleted row, whatever the select filter says
}

TEST_F(CompileMutationTest, StaticRootFieldsKeepTheirPlace) {
  auto r = run(R"(mutation { a: __typename delete_orders(where: {}) { affected_rows }
                             b: __typename })");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->mutations.size(), 3u);
  EXPECT_EQ(r->mutations[0].alias, "a");
  EXPECT_FALSE(r->mutations[0].write);
  EXPECT_EQ(r->mutations[0].static_value, json::value("mutation_root"));
  EXPECT_TRUE(r->mutations[1].write);
  EXPECT_EQ(r->mutations[2].alias, "b");
  auto only = run("mutation { __typename }");
  ASSERT_TRUE(only.ok()) << only.error().message;
  ASSERT_TRUE(only->static_data);
  EXPECT_EQ(json::value(*only->static_data), json::parse(R"({"__typename": "mutation_root"})"));
}

TEST_F(CompileMutationTest, Errors) {
  auto unknown = run(R"(mutation { insert_users(objects: [{bogus: 1}]) { affected_rows } })");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "field 'bogus' not found in type: 'users_insert_input'");
  EXPECT_EQ(unknown.error().path, "$.selectionSet.insert_users.args.objects[0].bogus");

  // user_id is preset for the role, so not in its input type.
  auto preset =
      run(R"(mutation { insert_orders(objects: [{user_id: 1}]) { affected_rows } })", user("7"));
  ASSERT_FALSE(preset.ok());
  EXPECT_EQ(preset.error().message, "field 'user_id' not found in type: 'orders_insert_input'");

  auto missing = run(R"(mutation { insert_orders(objects: [{id: 1}]) { affected_rows } })",
                     user(std::nullopt));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message, "missing session variable: \"x-hasura-user-id\"");
  EXPECT_EQ(missing.error().path, "$");

  Session agent;
  agent.role = "agent";
  agent.is_admin = false;
  auto none = run(R"(mutation { delete_orders(where: {}) { affected_rows } })", agent);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(none.error().message, "no mutations exist");
  EXPECT_EQ(none.error().path, "$");
}

// A backend_only permission is there only for a request that asks for it.
TEST_F(CompileMutationTest, BackendOnlyPermissionsNeedTheSessionFlag) {
  Session service;
  service.role = "service";
  service.is_admin = false;
  const char* q = R"(mutation { insert_delivery_agents(objects: [{id: 1, name: "a"}]) {
                       affected_rows } })";
  auto front = run(q, service);
  ASSERT_FALSE(front.ok());
  EXPECT_EQ(front.error().message, "no mutations exist");
  service.backend_only = true;
  auto back = run(q, service);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(write(*back).kind, MK::kInsert);
}

// A variable carries a whole object of rows as well as a literal does.
TEST_F(CompileMutationTest, RowsFromVariables) {
  auto r = run(R"(mutation($rows: [users_insert_input!]!) { insert_users(objects: $rows) {
                   affected_rows } })",
               Session{}, R"({"rows": [{"id": 1, "name": "A"}, {"id": 2}]})");
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  ASSERT_EQ(write(*r).insert.rows.size(), 2u);
  EXPECT_EQ(write(*r).insert.rows[1].values.size(), 1u);
}

}  // namespace
}  // namespace liveql::compiler
