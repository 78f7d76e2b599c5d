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

TEST(Log, AThrottledWarningIsSaidOncePerPeriodWithHowManyWereNot) {
  ::setenv("JOURNAL_STREAM", "8:12345", 1);
  log::Throttled t(std::chrono::seconds(60));
  const auto t0 = log::Throttled::Clock::time_point{} + std::chrono::hours(1);
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 1000; ++i)
    t.warning("accept: Too many open files", t0 + std::chrono::milliseconds(i));
  t.warning("accept: Too many open files", t0 + std::chrono::seconds(61));
  std::string out = ::testing::internal::GetCapturedStderr();
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_EQ(out,
            "<4>tvd: accept: Too many open files\n"
            "<4>tvd: accept: Too many open files (and 999 more like it since the last)\n");
}

}  // namespace
}  // namespace tvd
