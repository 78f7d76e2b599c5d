#include "daemon/exec/log_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch.h"

#if defined(__SANITIZE_ADDRESS__)
// From ASan's runtime (declared in LLVM's sanitizer/allocator_interface.h; GCC has no header).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

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

// The kept tail is exactly the last half-limit bytes, oldest first, whatever the sizes of the
// pieces the build wrote (single bytes, pieces that wrap the ring, one larger than the ring).
TEST(LogSink, TheTailIsExactlyTheLastBytesWhateverThePieces) {
  std::string all;
  for (int i = 0; all.size() < 9000; ++i)
    all += std::to_string(i) + ",";
  for (size_t piece : {1u, 7u, 333u, 1024u, 3000u}) {
    testing::ScratchDir dir;
    {
      auto sink = LogSink::open(dir / "c.log", 2048).value();  // head 1024, ring 1024
      for (size_t at = 0; at < all.size(); at += piece)
        sink.append(std::string_view(all).substr(at, piece));
    }
    const std::string text = testing::read_text(dir / "c.log");
    EXPECT_THAT(text, StartsWith(all.substr(0, 1024))) << "pieces of " << piece;
    EXPECT_THAT(text, EndsWith("the last 1024 bytes]\n" + all.substr(all.size() - 1024)))
        << "pieces of " << piece;
    EXPECT_THAT(text, HasSubstr("[tvd: " + std::to_string(all.size() - 2048) + " bytes of output"));
    // The ring was an unnamed file: nothing but the log is left.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                            std::filesystem::directory_iterator{}),
              1);
  }
}

// A build that writes far past the head: the daemon holds none of it in memory (before, the
// tail, up to half the limit, was kept in RAM until the build ended).
TEST(LogSink, WritingPastTheHeadHoldsNothingInMemory) {
#if defined(__SANITIZE_ADDRESS__)
  testing::ScratchDir dir;
  auto sink = LogSink::open(dir / "d.log", 64u << 20).value();  // head 32 MiB, ring 32 MiB
  const std::string chunk(64 << 10, 'x');
  const size_t before = __sanitizer_get_current_allocated_bytes();
  size_t most = before;
  for (int i = 0; i < 768; ++i) {  // 48 MiB: 16 MiB past the head
    sink.append(chunk);
    most = std::max(most, __sanitizer_get_current_allocated_bytes());
  }
  EXPECT_LT(most - before, 1u << 20) << "bytes held while writing past the head";
  sink.finish();
  EXPECT_EQ(std::filesystem::file_size(dir / "d.log"), 48u << 20);
#else
  GTEST_SKIP() << "needs the sanitizers' allocator statistics";
#endif
}

}  // namespace
}  // namespace tvd::exec
