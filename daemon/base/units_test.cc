#include "daemon/base/units.h"

#include <gtest/gtest.h>

namespace tvd {
namespace {

using std::chrono::seconds;

TEST(Size, ParsesBinaryAndSiUnits) {
  EXPECT_EQ(parse_size("48GiB").value(), 48ull << 30);
  EXPECT_EQ(parse_size("48gib").value(), 48ull << 30);
  EXPECT_EQ(parse_size("512MiB").value(), 512ull << 20);
  EXPECT_EQ(parse_size("1.5TiB").value(), 3ull << 39);
  EXPECT_EQ(parse_size("100GB").value(), 100'000'000'000ull);
  EXPECT_EQ(parse_size("4096").value(), 4096u);
  EXPECT_EQ(parse_size("8 GiB").value(), 8ull << 30);
  EXPECT_FALSE(parse_size("GiB"));
  EXPECT_FALSE(parse_size("12 parsecs"));
  EXPECT_FALSE(parse_size("-1GiB"));
  EXPECT_EQ(format_size(48ull << 30), "48 GiB");
  EXPECT_EQ(format_size(3ull << 39), "1.5 TiB");
}

TEST(Duration, ParsesAndFormats) {
  EXPECT_EQ(parse_duration("90s").value(), seconds(90));
  EXPECT_EQ(parse_duration("30min").value(), seconds(1800));
  EXPECT_EQ(parse_duration("1h30m").value(), seconds(5400));
  EXPECT_EQ(parse_duration("45").value(), seconds(45));
  EXPECT_FALSE(parse_duration("soon"));
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("5 fortnights"));
  EXPECT_EQ(format_duration(seconds(45)), "45 s");
  EXPECT_EQ(format_duration(seconds(12 * 60 + 5)), "12 min");
  EXPECT_EQ(format_duration(seconds(2 * 3600 + 14 * 60)), "2 h 14 min");
  EXPECT_EQ(format_duration(seconds(3 * 86400 + 2 * 3600)), "3 d 2 h");
}

}  // namespace
}  // namespace tvd
