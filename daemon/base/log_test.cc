#include "daemon/base/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace tvd {
namespace {

using ::testing::MatchesRegex;

TEST(Log, UnderSystemdLinesCarryTheSyslogLevelAndNoTimestamp) {
  ::setenv("JOURNAL_STREAM", "8:12345", 1);
  ::testing::internal::CaptureStderr();
  log::error("cannot record job 7");
  log::warning("recovered a commit");
  log::info("listening");
  std::string out = ::testing::internal::GetCapturedStderr();
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_EQ(out, "<3>tvd: cannot record job 7\n<4>tvd: recovered a commit\n<6>tvd: listening\n");
}

TEST(Log, ElsewhereLinesCarryATimestampAndTheLevel) {
  ::unsetenv("JOURNAL_STREAM");
  ::testing::internal::CaptureStderr();
  log::error("oops");
  std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(out, MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z error tvd: oops\n"));
}

}  // namespace
}  // namespace tvd
