// Client JSON: nesting accepted up to kMaxJsonDepth, deeper refused with a clear error.
#include "json_limits.hpp"

#include <gtest/gtest.h>

#include <string>

namespace liveql::server {
namespace {

std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

std::string nested_objects(size_t depth) {
  std::string out;
  for (size_t i = 0; i < depth; ++i) out += R"({"_and":)";
  out += "1";
  out += std::string(depth, '}');
  return out;
}

TEST(ClientJson, AcceptsUpToTheLimit) {
  EXPECT_GE(kMaxJsonDepth, 256u);
  for (size_t depth : {size_t{1}, size_t{32}, size_t{33}, size_t{256}, kMaxJsonDepth}) {
    EXPECT_TRUE(parse_client_json(nested_arrays(depth)).ok()) << depth;
    EXPECT_TRUE(parse_client_json(nested_objects(depth)).ok()) << depth;
  }
}

TEST(ClientJson, DeeperIsInvalidJsonThatSaysWhy) {
  for (const std::string& text : {nested_arrays(kMaxJsonDepth + 1),
                                  nested_objects(kMaxJsonDepth + 1), std::string(1 << 20, '[')}) {
    auto r = parse_client_json(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidJson);
    EXPECT_EQ(r.error().path, "$");
    EXPECT_EQ(r.error().message,
              "Error in $: Failed reading: not a valid json value (nested deeper than 512 levels)");
  }
}

TEST(ClientJson, OtherErrorsKeepTheirReason) {
  auto r = parse_client_json("{\"a\":");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidJson);
  EXPECT_EQ(r.error().message.rfind("Error in $: Failed reading: not a valid json value (", 0), 0u);
  EXPECT_EQ(r.error().message.find("nested deeper"), std::string::npos);
}

}  // namespace
}  // namespace liveql::server
