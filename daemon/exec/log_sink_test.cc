#include "daemon/exec/log_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch.h"

namespace tvd::exec {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(LogSink, KeepsEverythingUnderTheLimit) {
  testing::ScratchDir dir;
  {
    auto sink = LogSink::open(dir / "a.log", 4096).value();
    sink.append("hello\n");
    sink.append(std::string(3000, 'x'));
    EXPECT_FALSE(sink.truncated());
  }
  EXPECT_EQ(testing::read_text(dir / "a.log"), "hello\n" + std::string(3000, 'x'));
}

TEST(LogSink, KeepsTheHeadAndTheTailAndSaysSo) {
  testing::ScratchDir dir;
  auto sink = LogSink::open(dir / "b.log", 2048).value();
  sink.append("BEGIN\n");
  for (int i = 0; i < 1000; ++i)
    sink.append("line " + std::to_string(i) + " of the build\n");
  sink.append("END\n");
  sink.finish();
  EXPECT_TRUE(sink.truncated());
  std::string text = testing::read_text(dir / "b.log");
  EXPECT_THAT(text, StartsWith("BEGIN\nline 0 of the build"));
  EXPECT_THAT(text, EndsWith("line 999 of the build\nEND\n"));
  EXPECT_THAT(text,
              HasSubstr("bytes of output were left out here, of " + std::to_string(sink.total())));
  EXPECT_LT(text.size(), 2048u + 200);
  EXPECT_THAT(sink.last_output(), EndsWith("END\n"));
}

TEST(LogSink, AnUnwritableLogIsAClearError) {
  auto r = LogSink::open("/nonexistent-dir/x.log", 1024);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("/nonexistent-dir/x.log"));
}

}  // namespace
}  // namespace tvd::exec
