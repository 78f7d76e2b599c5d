#include "daemon/base/names.h"

#include <gtest/gtest.h>

namespace tvd {
namespace {

enum class Colour { kRed, kGreen, kBlue };
constexpr Names<Colour, 2> kColours{{{{Colour::kRed, "red"}, {Colour::kGreen, "green"}}}};

TEST(Names, GoBothWaysThroughOneTable) {
  EXPECT_EQ(kColours.name(Colour::kGreen), "green");
  EXPECT_EQ(kColours.parse("red"), Colour::kRed);
  EXPECT_EQ(kColours.parse("Red"), std::nullopt);
  EXPECT_EQ(kColours.parse(""), std::nullopt);
  // A value the table lacks shows as "?", which the tables' own tests catch.
  EXPECT_EQ(kColours.name(Colour::kBlue), "?");
  static_assert(kColours.name(Colour::kRed) == "red");
}

}  // namespace
}  // namespace tvd
