// Values Hasura's parsers read beyond their GraphQL type: a column value (comparison operand,
// inserted or set value, primary key) takes a string for Int, Float and Boolean, passed to
// PostgreSQL to cast; `offset` takes a 64-bit integer or a string of digits; other Int
// arguments (`limit`) stay strict.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/compile.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;

class StringValuesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { schema_ = test::shop_schema(); }
  Result<CompiledOperation> run(std::string_view q, std::string vars = "{}") {
    Request r;
    r.query = q;
    r.variables = json::parse(vars).as_object();
    return compile(*schema_, r, Session{});
  }
  static std::shared_ptr<const Schema> schema_;
};
std::shared_ptr<const Schema> StringValuesTest::schema_;

TEST_F(StringValuesTest, ColumnValuesTakeStrings) {
  auto op = run(R"({ a: users(where: {id: {_eq: "7"}}) { id }
      b: delivery_agents(where: {active: {_eq: "true"}}) { id }
      c: users_by_pk(id: "3") { id }
      d: users(where: {id: {_in: ["1", 2]}}) { id } })");
  ASSERT_TRUE(op.ok()) << op.error().message << " at " << op.error().path;
  EXPECT_EQ(op->vars.at(op->ir.fields[0].select.where->param.key), "7");
  EXPECT_EQ(op->vars.at(op->ir.fields[1].select.where->param.key), "true");
  EXPECT_EQ(op->vars.at(op->ir.fields[3].select.where->param.key), json::parse(R"(["1", 2])"));

  auto insert = run(R"(mutation { insert_order_items(objects: {order_id: "1", name: "x",
      quantity: "2", price: "3.5"}) { affected_rows } })");
  ASSERT_TRUE(insert.ok()) << insert.error().message << " at " << insert.error().path;

  auto variable = run(R"(mutation ($o: [order_items_insert_input!]!) {
      insert_order_items(objects: $o) { affected_rows } })",
                      R"({"o": [{"order_id": 1, "name": "x", "quantity": "2", "price": 1}]})");
  ASSERT_TRUE(variable.ok()) << variable.error().message << " at " << variable.error().path;

  auto set = run(R"(mutation { update_users(where: {}, _set: {id: "4"}) { affected_rows } })");
  ASSERT_TRUE(set.ok()) << set.error().message << " at " << set.error().path;
}

TEST_F(StringValuesTest, OtherArgumentsStayStrict) {
  auto limit = run(R"({ users(limit: "1") { id } })");
  ASSERT_FALSE(limit.ok());
  EXPECT_EQ(limit.error().message, "expected a 32-bit integer for type 'Int', but found a string");
  EXPECT_EQ(limit.error().path, "$.selectionSet.users.args.limit");

  auto is_null = run(R"({ users(where: {id: {_is_null: "true"}}) { id } })");
  ASSERT_FALSE(is_null.ok());

  auto distinct = run(R"({ orders_aggregate { aggregate { count(distinct: "true") } } })");
  ASSERT_FALSE(distinct.ok());
}

TEST_F(StringValuesTest, OffsetTakesABigIntOrDigits) {
  auto op = run(R"({ a: users(offset: "12", order_by: {id: asc}) { id }
      b: users(offset: 5000000000) { id } })");
  ASSERT_TRUE(op.ok()) << op.error().message << " at " << op.error().path;
  ASSERT_TRUE(op->ir.fields[0].select.offset);
  EXPECT_EQ(op->vars.at(op->ir.fields[0].select.offset->key), "12");
  EXPECT_EQ(op->ir.fields[0].select.offset->pg_type, "bigint");
  EXPECT_EQ(op->vars.at(op->ir.fields[1].select.offset->key), 5000000000);

  for (const char* bad : {R"("-1")", R"("1.5")", R"("x")", R"("")"}) {
    auto r = run(std::string("{ users(offset: ") + bad + ") { id } }");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message,
              "expected a 32-bit integer, or a 64-bit integer represented as a string for type "
              "'Int', but found a string");
  }
  auto negative = run("{ users(offset: -1) { id } }");
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().path, "$.selectionSet.users.args.offset");

  auto variable = run("query ($o: Int) { users(offset: $o) { id } }", R"({"o": 3})");
  ASSERT_TRUE(variable.ok()) << variable.error().message;
}

}  // namespace
}  // namespace liveql::compiler
