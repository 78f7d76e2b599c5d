#include "daemon/recipe/template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tvd {
namespace {

using ::testing::HasSubstr;

const std::set<std::string, std::less<>> kKnown = {"A", "B", "OPT"};

Template parse(std::string_view text) {
  auto t = Template::parse("t.nix.in", text, kKnown);
  if (!t) ADD_FAILURE() << t.error().message;
  return std::move(*t);
}

TEST(Template, FillsPlaceholdersAndLeavesNixBracesAlone) {
  auto t = parse("{ {A}\n, lib\n}: ${lib.x} // { y = \"{B}\"; } {a} {A-B} { A }\n");
  EXPECT_EQ(t.render({{"A", "python3Packages"}, {"B", "b"}}).value(),
            "{ python3Packages\n, lib\n}: ${lib.x} // { y = \"b\"; } {a} {A-B} { A }\n");
}

TEST(Template, RefusesAnUnknownPlaceholderNamingItsLine) {
  auto t = Template::parse("t.nix.in", "ok\n  x = {A};\n  y = {STRAY};\n", kKnown);
  ASSERT_FALSE(t);
  EXPECT_THAT(t.error().message, HasSubstr("line 3: unknown placeholder {STRAY}"));
  EXPECT_THAT(t.error().hint, HasSubstr("{OPT}"));
}

TEST(Template, RefusesMissingAndEmptyValues) {
  auto t = parse("{A} {B}\n");
  auto missing = t.render({{"A", "x"}});
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("line 1: {B} has no value"));
  auto empty = t.render({{"A", "x"}, {"B", ""}});
  ASSERT_FALSE(empty);
  EXPECT_THAT(empty.error().message, HasSubstr("{B} is empty"));
}

TEST(Template, DropsALineOfEmptyOptionalPlaceholders) {
  auto t = parse("a\n    {OPT?}\nb {OPT?}\n");
  EXPECT_EQ(t.render({{"OPT", ""}}).value(), "a\nb \n");
  EXPECT_EQ(t.render({{"OPT", "x;"}}).value(), "a\n    x;\nb x;\n");
}

TEST(Template, RefusesAPlaceholderBroughtInByAValue) {
  auto t = parse("x = {A};\n");
  auto r = t.render({{"A", "{GPU_ARCH}"}});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("still holds {GPU_ARCH}"));
}

TEST(Template, KeepsTheLastLineAsItWas) {
  EXPECT_EQ(parse("a\nb").render({}).value(), "a\nb");
  EXPECT_EQ(parse("a\nb\n").render({}).value(), "a\nb\n");
}

}  // namespace
}  // namespace tvd
