#include "daemon/base/nearest.h"

#include <gtest/gtest.h>

namespace tvd {
namespace {

TEST(EditDistance, CountsEditsAndTranspositions) {
  EXPECT_EQ(edit_distance("sm89", "sm89"), 0u);
  EXPECT_EQ(edit_distance("avx512vnn", "avx512vnni"), 1u);
  EXPECT_EQ(edit_distance("sm98", "sm89"), 1u);  // transposition
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

TEST(Nearest, SuggestsCloseNamesNearestFirst) {
  std::vector<std::string> names = {"avx512", "avx512vnni", "avx512bf16", "avx2", "armv9"};
  EXPECT_EQ(nearest("avx512vnn", names), (std::vector<std::string>{"avx512vnni"}));
  EXPECT_EQ(nearest("avx51", names), (std::vector<std::string>{"avx512", "avx2"}));
  EXPECT_TRUE(nearest("zzzzzzzz", names).empty());
}

TEST(JoinOr, ReadsLikeASentence) {
  EXPECT_EQ(join_or({"a"}), "a");
  EXPECT_EQ(join_or({"a", "b"}), "a or b");
  EXPECT_EQ(join_or({"a", "b", "c"}), "a, b or c");
}

}  // namespace
}  // namespace tvd
