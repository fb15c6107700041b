// /v1/graphql/explain's pure half (compiler/explain.hpp): the cohort variables of a subscription
// in Hasura's shape, and the text form of their values.
#include "liveql/compiler/explain.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "compiler/schema_fixture.hpp"
#include "liveql/compiler/sql.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;

class ExplainTest : public ::testing::Test {
 protected:
  SubscriptionExplain explained(std::string_view query, json::object vars, Session session) {
    Request r{query, vars, std::nullopt};
    auto op = compile(*schema_, r, session);
    EXPECT_TRUE(op.ok()) << op.error().message;
    if (!op) return {};
    return explain_subscription(std::move(*op), vars);
  }
  static Session user(std::string role, std::string id) {
    Session s;
    s.role = std::move(role);
    s.is_admin = false;
    s.variables = {{"x-hasura-role", s.role},
                   {"x-hasura-user-id", std::move(id)},
                   {"x-hasura-allowed-ids", "{1,3,4}"}};
    return s;
  }
  std::shared_ptr<const Schema> schema_ = test::shop_schema();
};

TEST_F(ExplainTest, ValuesPrintAsPostgresText) {
  EXPECT_EQ(cohort_text(json::value(1)), json::value("1"));
  EXPECT_EQ(cohort_text(json::value(2.5)), json::value("2.5"));
  EXPECT_EQ(cohort_text(json::value(true)), json::value("true"));
  EXPECT_EQ(cohort_text(json::value("a b")), json::value("a b"));
  EXPECT_EQ(cohort_text(json::value(nullptr)), json::value(nullptr));
  EXPECT_EQ(cohort_text(json::parse("[1,2,3]")), json::value("{1,2,3}"));
  EXPECT_EQ(cohort_text(json::parse(R"(["a","b c","","x\"y",null,"NULL"])")),
            json::value(R"({a,"b c","","x\"y",NULL,"NULL"})"));
  EXPECT_EQ(cohort_text(json::parse(R"({"k":[1]})")), json::value(R"({"k":[1]})"));
}

TEST_F(ExplainTest, SessionHoldsOnlyTheVariablesTheStatementReads) {
  // The user's filter reads x-hasura-user-id; x-hasura-allowed-ids and the role are extraneous.
  auto ex = explained("subscription { orders { id } }", {}, user("user", "1"));
  ASSERT_TRUE(ex.live);
  EXPECT_EQ(json::value(ex.variables), json::parse(R"({"session": {"x-hasura-user-id": "1"},
      "query": {}, "synthetic": [], "cursor": {}})"));
  // Admin reads no session variable at all.
  Session admin;
  admin.variables = {{"x-hasura-user-id", "1"}};
  auto as_admin = explained("subscription { orders { id } }", {}, admin);
  EXPECT_EQ(as_admin.variables.at("session"), json::object());
}

TEST_F(ExplainTest, LiteralsAndVariablesAreLiftedIntoSynthetic) {
  auto simple = explained("subscription ($id: Int!) { orders(where: {id: {_eq: $id}}) { id } }",
                          json::object{{"id", 1}}, Session{});
  EXPECT_EQ(simple.variables.at("synthetic"), json::parse(R"(["1"])"));
  EXPECT_EQ(simple.variables.at("query"), json::parse(R"({"id": "1"})"));
  auto list = explained("subscription ($ids: [Int!]) { orders(where: {id: {_in: $ids}}) { id } }",
                        json::object{{"ids", json::array{1, 2, 3}}}, Session{});
  EXPECT_EQ(list.variables.at("synthetic"), json::parse(R"(["{1,2,3}"])"));
  // Literals too, in the order the query holds them; limit is not a cohort value.
  auto literals = explained(
      R"(subscription { orders(where: {status: {_eq: "new"}, total: {_gt: 5}}, limit: 3) { id } })",
      {}, Session{});
  EXPECT_EQ(literals.variables.at("synthetic"), json::parse(R"(["new", "5"])"));
  // The statement is the cohort's multiplexed one, with these vars as its one subscriber's.
  ASSERT_TRUE(literals.live);
  EXPECT_NE(literals.live->sql.find("unnest"), std::string::npos);
  EXPECT_NE(literals.vars_text.find("\"new\""), std::string::npos);
}

TEST_F(ExplainTest, AStaticSubscriptionHasNoStatement) {
  auto ex = explained("subscription { __typename }", {}, Session{});
  EXPECT_FALSE(ex.live);
  EXPECT_EQ(ex.variables.at("synthetic"), json::array());
}

}  // namespace
}  // namespace liveql::compiler
