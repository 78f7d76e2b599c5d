// The dashboard's pure pieces: HTML escaping, query strings, Prometheus label values, the chart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/server/chart.h"
#include "daemon/server/html.h"
#include "daemon/server/http.h"
#include "daemon/server/metrics.h"

namespace tvd::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

TEST(Html, EscapesWhatCouldOpenATagOrCloseAnAttribute) {
  EXPECT_EQ(html::escape(R"(<script>alert("x") & 'y'</script>)"),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;");
  EXPECT_EQ(html::escape("sm89-avx2"), "sm89-avx2");
}

TEST(Html, ThePageLoadsOnlyItsOwnAssets) {
  std::string page = html::render({"Matrix", "matrix", "<p>x</p>", "", 7});
  EXPECT_THAT(page, HasSubstr("href=\"/assets/tvd.css\""));
  EXPECT_THAT(page, HasSubstr("src=\"/assets/tvd.js\""));
  EXPECT_THAT(page, HasSubstr("data-refresh=\"7\""));
  EXPECT_THAT(page, HasSubstr("<main><p>x</p></main>"));
  EXPECT_THAT(page, HasSubstr("class=\"current\" aria-current=\"page\">Matrix"));
  EXPECT_THAT(page, Not(HasSubstr("http")));  // no CDN, no other origin
  EXPECT_THAT(std::string(html::stylesheet()), Not(HasSubstr("url(")));
}

TEST(Http, QueryStringsAreSplitAndDecoded) {
  auto q = parse_query("part=main&refresh=2&name=a%20b+c&flag&&bad=%zz");
  EXPECT_EQ(q["part"], "main");
  EXPECT_EQ(q["refresh"], "2");
  EXPECT_EQ(q["name"], "a b c");
  EXPECT_EQ(q["flag"], "");
  EXPECT_EQ(q["bad"], "%zz");  // not an escape: kept as it is
  EXPECT_EQ(q.size(), 5u);
  EXPECT_TRUE(parse_query("").empty());
}

TEST(Http, OnLoopbackOnlyLoopbackNamesAreAnswered) {
  for (const char* ok : {"", "localhost", "localhost:8347", "127.0.0.1", "127.0.0.1:8347",
                         "127.1.2.3:80", "[::1]:8347", "[::1]"}) {
    EXPECT_TRUE(loopback_host(ok)) << ok;
  }
  for (const char* no : {"evil.example:8347", "10.0.0.1:8347", "localhost.evil.example",
                         "[::2]:8347", "[::1", "0.0.0.0:8347"}) {
    EXPECT_FALSE(loopback_host(no)) << no;
  }
}

TEST(Metrics, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(label_value("/nix/store"), "/nix/store");
}

TEST(Chart, DrawsABarAndAPointPerNightAndSaysWhenThereIsNothing) {
  std::vector<ChartPoint> points;
  for (int i = 0; i < 4; ++i) {
    points.push_back({"11-2" + std::to_string(i), 3600.0 * (i + 1), (20.0 + i) * (1 << 30),
                      "night <" + std::to_string(i) + ">"});
  }
  points.push_back({"11-24", std::nullopt, std::nullopt, "still running"});
  std::string svg = duration_memory_chart(points, "Builds of sm89");
  EXPECT_EQ(count(svg, "<rect class=\"duration\""), 4u);
  EXPECT_EQ(count(svg, "<circle class=\"peak\""), 4u);
  EXPECT_EQ(count(svg, "<g class=\"point\">"), 5u);
  EXPECT_THAT(svg, HasSubstr("night &lt;3&gt;"));  // hover text escaped
  EXPECT_THAT(svg, HasSubstr(" h</text>"));        // 4 h: the axis is in hours
  EXPECT_THAT(svg, HasSubstr(" GiB</text>"));
  EXPECT_THAT(svg, HasSubstr("<polyline"));
  // Taller bars for longer builds.
  std::vector<double> heights;
  for (size_t at = svg.find("class=\"duration\""); at != std::string::npos;
       at = svg.find("class=\"duration\"", at + 1)) {
    auto h = svg.find("height=\"", at);
    heights.push_back(std::stod(svg.substr(h + 8)));
  }
  ASSERT_EQ(heights.size(), 4u);
  EXPECT_LT(heights[0], heights[3]);

  std::string minutes = duration_memory_chart({{"a", 90.0, 100.0 * (1 << 20), ""}}, "x");
  EXPECT_THAT(minutes, HasSubstr(" s</text>"));
  EXPECT_THAT(minutes, HasSubstr(" MiB</text>"));

  std::string empty = duration_memory_chart({}, "Builds of sm89");
  EXPECT_THAT(empty, HasSubstr("nothing has finished yet"));
  EXPECT_THAT(empty, Not(HasSubstr("<svg")));
}

}  // namespace
}  // namespace tvd::server
