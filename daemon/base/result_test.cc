#include "daemon/base/result.h"

#include <gtest/gtest.h>

#include <memory>

namespace tvd {
namespace {

Result<int> parse(bool ok) {
  if (!ok) return fail(ErrorKind::kBadInput, "not a number", "give one");
  return 42;
}

Status check(bool ok) {
  if (!ok) return fail(ErrorKind::kConflict, "refused");
  return {};
}

Result<int> twice(bool ok) {
  TRY_ASSIGN(int n, parse(ok));
  return 2 * n;
}

Status both(bool first, bool second) {
  TRY(check(first));
  TRY(parse(second));
  return {};
}

Result<std::unique_ptr<int>> owned(bool ok) {
  if (!ok) return fail(ErrorKind::kIo, "cannot");
  return std::make_unique<int>(7);
}

Result<int> moved(bool ok) {
  TRY_ASSIGN(auto p, owned(ok));  // a move-only value is moved out
  TRY_ASSIGN(int n, parse(true));
  return *p + n;
}

TEST(Try, PassesTheValueOnAndTheErrorUpUnchanged) {
  EXPECT_EQ(twice(true).value(), 84);
  auto e = twice(false);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, ErrorKind::kBadInput);
  EXPECT_EQ(e.error().message, "not a number");
  EXPECT_EQ(e.error().hint, "give one");
}

TEST(Try, StopsAtTheFirstFailure) {
  EXPECT_TRUE(both(true, true));
  EXPECT_EQ(both(false, false).error().message, "refused");
  EXPECT_EQ(both(true, false).error().message, "not a number");
}

TEST(Try, MovesMoveOnlyValuesOut) {
  EXPECT_EQ(moved(true).value(), 49);
  EXPECT_EQ(moved(false).error().kind, ErrorKind::kIo);
}

}  // namespace
}  // namespace tvd
