#include <gtest/gtest.h>

#include "liveql/base/result.hpp"

namespace liveql {
namespace {

TEST(ResultTest, CarriesValueOrError) {
  Result<int> ok = 3;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  Result<int> bad = make_error(ErrorCode::kParseFailed, "boom");
  ASSERT_FALSE(bad.ok());
  EXPECT_STREQ(error_code_name(bad.error().code), "parse-failed");
}

}  // namespace
}  // namespace liveql
