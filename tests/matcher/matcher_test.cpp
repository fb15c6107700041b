#include "liveql/matcher/matcher.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace liveql::matcher {
namespace {

using namespace test;  // NOLINT
using Op = ir::CompareOp;
using Ids = std::vector<SubscriberId>;

RowChange change(ChangeKind kind, std::string table, RowImage new_row, RowImage old_row = {}) {
  RowChange c;
  c.schema = "public";
  c.table = std::move(table);
  c.kind = kind;
  c.new_row = std::move(new_row);
  c.old_row = std::move(old_row);
  return c;
}

Transaction txn(std::vector<RowChange> changes) {
  Transaction t;
  t.changes = std::move(changes);
  return t;
}

ResultKeys keys(const char* json) {
  auto r = parse_result_keys(json);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : ResultKeys{};
}

// orders where user_id = $uid
std::shared_ptr<deps::Dependencies> orders_by_user() {
  return make_deps(
      {table_dep("orders", deps::TableRole::kRoot, cmp("user_id", "integer", Op::kEq, "uid"))});
}

class MatcherTest : public ::testing::Test {
 protected:
  Ids affected(std::vector<RowChange> changes) {
    Transaction t = txn(std::move(changes));
    Ids indexed = m_.affected(t);
    EXPECT_EQ(indexed, m_.affected_brute_force(t));
    return indexed;
  }
  Matcher m_;
};

TEST_F(MatcherTest, InsertMatchesByIndexedEquality) {
  auto d = orders_by_user();
  for (int i = 1; i <= 100; ++i)
    ASSERT_TRUE(m_.add(i, d, vars(("{\"uid\":" + std::to_string(i) + "}").c_str())).ok());
  EXPECT_EQ(affected({change(ChangeKind::kInsert, "orders", row({{"id", "1"}, {"user_id", "7"}}))}),
            Ids{7});
  EXPECT_EQ(
      affected({change(ChangeKind::kInsert, "orders", row({{"id", "1"}, {"user_id", "700"}}))}),
      Ids{});
  EXPECT_EQ(affected({change(ChangeKind::kInsert, "orders", row({{"id", "1"}, {"user_id", {}}}))}),
            Ids{});
  EXPECT_EQ(affected({change(ChangeKind::kInsert, "other", row({{"user_id", "7"}}))}), Ids{});
  // An absent indexed column cannot be placed: every subscriber of that column.
  EXPECT_EQ(affected({change(ChangeKind::kInsert, "orders", row({{"id", "1"}}))}).size(), 100u);
}

TEST_F(MatcherTest, DuplicateAddAndUnknownIdsAreErrors) {
  ASSERT_TRUE(m_.add(1, orders_by_user(), vars(R"({"uid":1})")).ok());
  EXPECT_FALSE(m_.add(1, orders_by_user(), vars(R"({"uid":1})")).ok());
  EXPECT_FALSE(m_.add(2, nullptr, vars("{}")).ok());
  EXPECT_FALSE(m_.set_result_keys(9, {}).ok());
  EXPECT_TRUE(m_.remove(1));
  EXPECT_FALSE(m_.remove(1));
  EXPECT_EQ(m_.size(), 0u);
}

TEST_F(MatcherTest, RowLeavingIsFoundByResultKeys) {
  auto d = orders_by_user();
  ASSERT_TRUE(m_.add(1, d, vars(R"({"uid":1})")).ok());
  ASSERT_TRUE(m_.add(2, d, vars(R"({"uid":2})")).ok());
  ASSERT_TRUE(m_.set_result_keys(1, keys(R"([["public.orders",["id"],["10"]]])")).ok());
  // DEFAULT identity: the old image holds only the key; the new row belongs to user 2 now.
  auto moved = change(ChangeKind::kUpdate, "orders", row({{"id", "10"}, {"user_id", "2"}}),
                      row({{"id", "10"}}));
  EXPECT_EQ(affected({moved}), (Ids{1, 2}));
  EXPECT_EQ(affected({change(ChangeKind::kDelete, "orders", {}, row({{"id", "10"}}))}), Ids{1});
  EXPECT_EQ(affected({change(ChangeKind::kDelete, "orders", {}, row({{"id", "11"}}))}), Ids{});
  // New keys replace the old ones.
  ASSERT_TRUE(m_.set_result_keys(1, keys(R"([["public.orders",["id"],["11"]]])")).ok());
  EXPECT_EQ(affected({change(ChangeKind::kDelete, "orders", {}, row({{"id", "10"}}))}), Ids{});
  EXPECT_EQ(affected({change(ChangeKind::kDelete, "orders", {}, row({{"id", "11"}}))}), Ids{1});
  // A key change: the old key in the identity, the new one in the columns.
  EXPECT_EQ(affected({change(ChangeKind::kUpdate, "orders", row({{"id", "12"}, {"user_id", "3"}}),
                             row({{"id", "11"}}))}),
            Ids{1});
}

// The seed scenario's shape: `items(where: {id: {_eq: $id}})` with its own row as result key. The
// key is not filed (the predicate's own entry finds every change that would hit it); every way
// the row can change, leave or come back still affects exactly that subscriber.
TEST_F(MatcherTest, AResultKeyItsOwnEqualityCoversIsFoundThroughThePredicate) {
  auto d =
      make_deps({table_dep("items", deps::TableRole::kRoot, cmp("id", "bigint", Op::kEq, "id"))});
  for (int i = 1; i <= 3; ++i) {
    const std::string id = std::to_string(i);
    ASSERT_TRUE(m_.add(i, d, vars(("{\"id\":" + id + "}").c_str())).ok());
    ASSERT_TRUE(
        m_.set_result_keys(i, keys(("[[\"public.items\",[\"id\"],[\"" + id + "\"]]]").c_str()))
            .ok());
  }
  auto update = [](const char* id_new, const char* id_old) {
    return change(ChangeKind::kUpdate, "items", row({{"id", id_new}, {"value", "x"}}),
                  row({{"id", id_old}}));
  };
  EXPECT_EQ(affected({update("2", "2")}), Ids{2});  // its value changed
  EXPECT_EQ(affected({update("9", "2")}), Ids{2});  // its row left (the key changed)
  EXPECT_EQ(affected({update("3", "9")}), Ids{3});  // another row became its row
  EXPECT_EQ(affected({change(ChangeKind::kDelete, "items", {}, row({{"id", "1"}}))}), Ids{1});
  EXPECT_EQ(affected({change(ChangeKind::kInsert, "items", row({{"id", "1"}}))}), Ids{1});
  EXPECT_EQ(affected({update("9", "8")}), Ids{});
  // A key the predicate does not cover (another value) is still filed and found.
  ASSERT_TRUE(m_.set_result_keys(1, keys(R"([["public.items",["id"],["7"]]])")).ok());
  EXPECT_EQ(affected({change(ChangeKind::kDelete, "items", {}, row({{"id", "7"}}))}), Ids{1});
}

// Result keys may repeat an entry (the SQL does not deduplicate them): it is indexed once, and
// replacing the keys retires it once.
TEST_F(MatcherTest, RepeatedKeyEntriesCountOnce) {
  auto d = orders_by_user();
  ASSERT_TRUE(m_.add(1, d, vars(R"({"uid":1})")).ok());
  ASSERT_TRUE(m_.set_result_keys(1, keys(R"([["public.orders",["id"],["10"]],
                                            ["public.orders",["id"],["10"]],
                                            ["public.orders",["id"],["11"]]])"))
                  .ok());
  auto gone = [](const char* id) {
    return change(ChangeKind::kDelete, "orders", {}, row({{"id", id}}));
  };
  EXPECT_EQ(affected({gone("10")}), Ids{1});
  EXPECT_EQ(affected({gone("11")}), Ids{1});
  ASSERT_TRUE(m_.set_result_keys(1, keys(R"([["public.orders",["id"],["11"]],
                                            ["public.orders",["id"],["11"]]])"))
                  .ok());
  EXPECT_EQ(affected({gone("10")}), Ids{});
  EXPECT_EQ(affected({gone("11")}), Ids{1});
}

// users where {orders: {total: {_gt: $t}}} (an array relationship filter), as extracted. User 1
// is in the result through order 10; the order moves to user 2 and drops below $t in one update.
// With DEFAULT identity the old image holds only the order's key and the new link (user 2) is in
// no result keys: only the old image's predicate (unknown: total is absent) finds subscriber 1.
TEST_F(MatcherTest, RelationshipFilterSeesTheRelatedRowMoveAway) {
  auto rel = std::make_shared<ir::BoolExp>();
  rel->kind = ir::BoolExp::Kind::kRelationship;
  rel->join.name = "orders";
  rel->join.target = {"public", "orders"};
  rel->join.mapping = {{"id", "user_id"}};
  rel->join.is_array = true;
  auto inner = std::make_shared<ir::BoolExp>();
  inner->kind = ir::BoolExp::Kind::kCompare;
  inner->column = "total";
  inner->column_type = "integer";
  inner->op = Op::kGt;
  inner->param = ir::Param{"t", "integer", false};
  rel->inner = inner;
  ir::Operation op;
  ir::RootField f;
  f.select.table = {"public", "users"};
  f.select.primary_key = {"id"};
  f.select.where = rel;
  op.fields.push_back(std::move(f));
  auto d = std::make_shared<deps::Dependencies>(deps::extract_dependencies(op));
  ASSERT_TRUE(m_.add(1, d, vars(R"({"t":100})")).ok());
  ASSERT_TRUE(m_.set_result_keys(1, keys(R"([["public.users",["id"],["1"]],
                                              ["public.orders",["user_id"],["1"]]])"))
                  .ok());
  auto moved = change(ChangeKind::kUpdate, "orders",
                      row({{"id", "10"}, {"user_id", "2"}, {"total", "50"}}), row({{"id", "10"}}));
  EXPECT_EQ(affected({moved}), Ids{1});
  // A complete (FULL) old image that never satisfied the filter is not relevant.
  auto full =
      change(ChangeKind::kUpdate, "orders", row({{"id", "10"}, {"user_id", "2"}, {"total", "50"}}),
             row({{"id", "10"}, {"user_id", "3"}, {"total", "60"}}));
  EXPECT_EQ(affected({full}), Ids{});
}

// order_items where {order: {user_id: {_eq: $uid}}}: the related orders row links by its key,
// which every old image holds, so an update of an order of another user (old image key-only)
// affects nobody: the index is not scanned.
TEST_F(MatcherTest, ObjectRelationshipFilterLinkedByKeyStaysIndexed) {
  auto items =
      table_dep("order_items", deps::TableRole::kRoot, node(deps::Predicate::Kind::kRelationship));
  items.predicate.link_columns = {"order_id"};
  auto orders =
      table_dep("orders", deps::TableRole::kFilterOnly, cmp("user_id", "integer", Op::kEq, "uid"));
  orders.link_columns = {"id"};
  auto d = make_deps({items, orders});
  for (int i = 1; i <= 50; ++i)
    ASSERT_TRUE(m_.add(i, d, vars(("{\"uid\":" + std::to_string(i) + "}").c_str())).ok());
  auto update = change(ChangeKind::kUpdate, "orders", row({{"id", "7"}, {"user_id", "3"}}),
                       row({{"id", "7"}}));
  EXPECT_EQ(affected({update}), Ids{3});
}

TEST_F(MatcherTest, FullIdentityOldImageIsChecked) {
  ASSERT_TRUE(m_.add(1, orders_by_user(), vars(R"({"uid":1})")).ok());
  // No result keys (e.g. the refetch has not landed yet), but the FULL old image matched.
  EXPECT_EQ(affected({change(ChangeKind::kUpdate, "orders", row({{"id", "5"}, {"user_id", "2"}}),
                             row({{"id", "5"}, {"user_id", "1"}}))}),
            Ids{1});
  EXPECT_EQ(
      affected({change(ChangeKind::kDelete, "orders", {}, row({{"id", "5"}, {"user_id", "2"}}))}),
      Ids{});
}

TEST_F(MatcherTest, TruncateAffectsEveryReader) {
  ASSERT_TRUE(m_.add(1, orders_by_user(), vars(R"({"uid":1})")).ok());
  auto never = make_deps({table_dep("orders", deps::TableRole::kRoot, p_false())});
  ASSERT_TRUE(m_.add(2, never, vars("{}")).ok());
  ASSERT_TRUE(
      m_.add(3, make_deps({table_dep("users", deps::TableRole::kRoot, p_true())}), vars("{}"))
          .ok());
  EXPECT_EQ(affected({change(ChangeKind::kTruncate, "orders", {})}), (Ids{1, 2}));
  EXPECT_EQ(affected({change(ChangeKind::kInsert, "orders", row({{"id", "1"}, {"user_id", "1"}}))}),
            Ids{1});
}

TEST_F(MatcherTest, InListIsIndexedAndScanListIsEvaluated) {
  auto in = make_deps({table_dep(
      "orders", deps::TableRole::kRoot,
      p_and({cmp("status", "text", Op::kIn, "s", true), cmp("total", "numeric", Op::kGt, "t")}))});
  ASSERT_TRUE(m_.add(1, in, vars(R"({"s":["new","paid"],"t":10})")).ok());
  ASSERT_TRUE(m_.add(2, in, vars(R"({"s":["shipped"],"t":0})")).ok());
  auto scan = make_deps(
      {table_dep("orders", deps::TableRole::kRoot, cmp("total", "numeric", Op::kLt, "t"))});
  ASSERT_TRUE(m_.add(3, scan, vars(R"({"t":5})")).ok());
  auto ins = [](const char* status, const char* total) {
    return change(ChangeKind::kInsert, "orders",
                  row({{"id", "1"}, {"status", status}, {"total", total}}));
  };
  EXPECT_EQ(affected({ins("paid", "11")}), Ids{1});
  EXPECT_EQ(affected({ins("paid", "9")}), Ids{});
  EXPECT_EQ(affected({ins("shipped", "1.5")}), (Ids{2, 3}));
  EXPECT_EQ(affected({ins("x", "4.99")}), Ids{3});
}

TEST(IndexUseTest, SaysHowEachDependencyIsFiled) {
  auto in = make_deps({table_dep(
      "orders", deps::TableRole::kRoot,
      p_and({cmp("total", "numeric", Op::kGt, "t"), cmp("status", "text", Op::kIn, "s", true)}))});
  auto use = index_use(in->tables[0], bind_params(*in, vars(R"({"s":["new"],"t":1})")));
  EXPECT_EQ(use.kind, IndexUse::Kind::kColumn);
  EXPECT_EQ(use.column, "status");
  EXPECT_EQ(use.op, Op::kIn);
  // The value decides too: a list the type cannot key is scanned.
  EXPECT_EQ(index_use(in->tables[0], bind_params(*in, vars(R"({"s":[{}],"t":1})"))).kind,
            IndexUse::Kind::kScan);
  auto eq = orders_by_user();
  use = index_use(eq->tables[0], bind_params(*eq, vars(R"({"uid":7})")));
  EXPECT_EQ(use.kind, IndexUse::Kind::kColumn);
  EXPECT_EQ(use.column, "user_id");
  EXPECT_EQ(use.op, Op::kEq);
  auto never = make_deps({table_dep("orders", deps::TableRole::kRoot, p_false())});
  EXPECT_EQ(index_use(never->tables[0], {}).kind, IndexUse::Kind::kNever);
  auto linked = table_dep("orders", deps::TableRole::kLinked, p_true());
  EXPECT_EQ(index_use(linked, {}).kind, IndexUse::Kind::kLink);
}

TEST_F(MatcherTest, LinkedRowsMatchThroughLinkKeysAndNestedWhere) {
  // users { orders(where: {status: {_eq: $s}}) }
  auto users = table_dep("users", deps::TableRole::kRoot, cmp("id", "integer", Op::kEq, "uid"));
  auto orders = table_dep("orders", deps::TableRole::kLinked, cmp("status", "text", Op::kEq, "s"));
  orders.link_columns = {"user_id"};
  auto d = make_deps({users, orders});
  ASSERT_TRUE(m_.add(1, d, vars(R"({"uid":5,"s":"open"})")).ok());
  ASSERT_TRUE(m_.set_result_keys(1, keys(R"([["public.users",["id"],["5"]],
      ["public.orders",["user_id"],["5"]], ["public.orders",["id"],["100"]]])"))
                  .ok());
  auto ins = [](const char* user, const char* status) {
    return change(ChangeKind::kInsert, "orders",
                  row({{"id", "200"}, {"user_id", user}, {"status", status}}));
  };
  EXPECT_EQ(affected({ins("5", "open")}), Ids{1});
  EXPECT_EQ(affected({ins("5", "closed")}), Ids{});  // the nested where rules it out
  EXPECT_EQ(affected({ins("6", "open")}), Ids{});    // not linked to the result
  // A row in the result leaving (update to closed): found by its primary key.
  EXPECT_EQ(affected({change(ChangeKind::kUpdate, "orders",
                             row({{"id", "100"}, {"user_id", "5"}, {"status", "closed"}}),
                             row({{"id", "100"}}))}),
            Ids{1});
  EXPECT_EQ(affected({change(ChangeKind::kUpdate, "users", row({{"id", "5"}, {"name", "x"}}),
                             row({{"id", "5"}}))}),
            Ids{1});
}

TEST_F(MatcherTest, AllRowsRelevantChecksOldImage) {
  // orders_aggregate(where: user_id = $uid) { count }
  auto dep = table_dep("orders", deps::TableRole::kRoot, cmp("user_id", "integer", Op::kEq, "u"));
  dep.all_rows_relevant = true;
  dep.old_image_relevant = true;
  auto d = make_deps({dep});
  ASSERT_TRUE(m_.add(1, d, vars(R"({"u":1})")).ok());
  ASSERT_TRUE(m_.add(2, d, vars(R"({"u":2})")).ok());
  // DEFAULT identity delete: the user is unknown, so both may have lost a counted row.
  EXPECT_EQ(affected({change(ChangeKind::kDelete, "orders", {}, row({{"id", "9"}}))}), (Ids{1, 2}));
  // FULL identity: only the owner.
  EXPECT_EQ(
      affected({change(ChangeKind::kDelete, "orders", {}, row({{"id", "9"}, {"user_id", "2"}}))}),
      Ids{2});
}

TEST_F(MatcherTest, LinkedAggregateWithoutLinkColumnsInOldImage) {
  auto users = table_dep("users", deps::TableRole::kRoot, p_true());
  auto orders = table_dep("orders", deps::TableRole::kLinked, p_true());
  orders.link_columns = {"user_id"};
  orders.all_rows_relevant = true;
  orders.old_image_relevant = true;
  ASSERT_TRUE(m_.add(1, make_deps({users, orders}), vars("{}")).ok());
  EXPECT_EQ(affected({change(ChangeKind::kDelete, "orders", {}, row({{"id", "9"}}))}), Ids{1});
  EXPECT_EQ(
      affected({change(ChangeKind::kDelete, "orders", {}, row({{"id", "9"}, {"user_id", "3"}}))}),
      Ids{});
}

TEST_F(MatcherTest, RemoveAndChurnKeepAnswersRight) {
  auto d = orders_by_user();
  for (SubscriberId i = 0; i < 20000; ++i)
    ASSERT_TRUE(m_.add(i, d, vars(("{\"uid\":" + std::to_string(i % 100) + "}").c_str())).ok());
  for (SubscriberId i = 0; i < 20000; ++i) {
    if (i % 100 != 7 || i % 3 == 0) {
      ASSERT_TRUE(m_.remove(i));  // forces index rebuilds
    }
  }
  auto t = txn({change(ChangeKind::kInsert, "orders", row({{"id", "1"}, {"user_id", "7"}}))});
  Ids got = m_.affected(t);
  EXPECT_EQ(got, m_.affected_brute_force(t));
  for (auto id : got) EXPECT_TRUE(id % 100 == 7 && id % 3 != 0);
  EXPECT_EQ(got.size(), m_.size());
  ASSERT_TRUE(m_.add(0, d, vars(R"({"uid":7})")).ok());  // re-add a removed id
  EXPECT_EQ(m_.affected(t).size(), got.size() + 1);
}

TEST(ResultKeysTest, ParsesAndRejects) {
  auto k = parse_result_keys(R"([["public.orders",["id","x"],["1",null]]])");
  ASSERT_TRUE(k.ok());
  ASSERT_EQ(k->size(), 1u);
  EXPECT_EQ((*k)[0].table, "public.orders");
  EXPECT_EQ((*k)[0].values[1], std::nullopt);
  EXPECT_TRUE(parse_result_keys("[]").ok());
  EXPECT_FALSE(parse_result_keys("{").ok());
  EXPECT_FALSE(parse_result_keys("{}").ok());
  EXPECT_FALSE(parse_result_keys(R"([["t",["a"],["1","2"]]])").ok());
  EXPECT_FALSE(parse_result_keys(R"([["t",["a"],[1]]])").ok());
  EXPECT_FALSE(parse_result_keys(R"([["t",["a"]]])").ok());
}

}  // namespace
}  // namespace liveql::matcher
