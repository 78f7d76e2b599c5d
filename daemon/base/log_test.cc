#include "daemon/base/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

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

// A job event's journal entry, as systemd's native protocol has it: plain fields as KEY=VALUE, a
// value with a newline as KEY, its length in 8 little-endian bytes, and the value.
TEST(Log, AJobEventIsAJournalEntryWithFieldsOfItsOwn) {
  const std::string d = log::journal_datagram({{"TVD_JOB", "12"}, {"TVD_REASON", "a\nb"}});
  EXPECT_EQ(d, std::string("TVD_JOB=12\nTVD_REASON\n\x03\0\0\0\0\0\0\0a\nb\n", 34));

  // Sent to a datagram socket (journald's, in a test: one of its own).
  const auto path =
      std::filesystem::temp_directory_path() / ("tvd-journal-" + std::to_string(::getpid()));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_TRUE(log::send_to_journal(path.string(), d));
  char buf[256];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  std::filesystem::remove(path);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), d);
  EXPECT_FALSE(log::send_to_journal(path.string(), d));  // nobody listens

  const log::JobEvent e{12,
                        "torchvision/torchvision-python313-cpu-avx2",
                        "failed",
                        "failed",
                        "build",
                        "build-error",
                        "builder failed with exit code 2"};
  EXPECT_EQ(log::job_event_text(e),
            "job 12 torchvision/torchvision-python313-cpu-avx2 failed (build, build-error): "
            "builder failed with exit code 2");
  // Not under systemd: a line on stderr.
  ::unsetenv("JOURNAL_STREAM");
  ::testing::internal::CaptureStderr();
  log::job_event(e);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              ::testing::EndsWith(" warning tvd: " + log::job_event_text(e) + "\n"));
}

}  // namespace
}  // namespace tvd
