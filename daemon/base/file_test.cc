#include "daemon/base/file.h"

#include <gtest/gtest.h>

#include "tests/support/scratch.h"

namespace tvd {
namespace {

using testing::list_files;
using testing::read_text;
using testing::ScratchDir;
using testing::write_text;

TEST(WriteFileAtomic, CreatesTheFileAndLeavesNoTemporary) {
  ScratchDir dir;
  ASSERT_TRUE(write_file_atomic(dir / "a.nix", "text\n", Overwrite::kNo));
  EXPECT_EQ(read_text(dir / "a.nix"), "text\n");
  EXPECT_EQ(list_files(dir.path()), std::vector<std::string>{"a.nix"});
}

TEST(WriteFileAtomic, RefusesToReplaceUnlessTold) {
  ScratchDir dir;
  write_text(dir / "a.nix", "by hand\n");
  auto st = write_file_atomic(dir / "a.nix", "generated\n", Overwrite::kNo);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::kConflict);
  EXPECT_NE(st.error().message.find("already exists"), std::string::npos);
  EXPECT_EQ(read_text(dir / "a.nix"), "by hand\n");
  EXPECT_EQ(list_files(dir.path()), std::vector<std::string>{"a.nix"});

  ASSERT_TRUE(write_file_atomic(dir / "a.nix", "generated\n", Overwrite::kYes));
  EXPECT_EQ(read_text(dir / "a.nix"), "generated\n");
}

TEST(WriteFileAtomic, ReportsAMissingDirectory) {
  ScratchDir dir;
  auto st = write_file_atomic(dir / "no" / "a.nix", "x", Overwrite::kNo);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::kIo);
  EXPECT_NE(st.error().message.find((dir / "no").string()), std::string::npos);
  EXPECT_FALSE(st.error().hint.empty());
}

TEST(ReadFile, DistinguishesMissingFromUnreadable) {
  ScratchDir dir;
  auto missing = read_file(dir / "none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  write_text(dir / "x", "abc");
  EXPECT_EQ(read_file(dir / "x").value(), "abc");
}

}  // namespace
}  // namespace tvd
