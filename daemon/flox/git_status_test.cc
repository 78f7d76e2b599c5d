// git status's porcelain formats as git 2.39 prints them: each case is real git's output in a
// scratch checkout with an upstream.
#include "daemon/flox/git_status.h"

#include <gtest/gtest.h>

#include "tests/support/scratch.h"

namespace tvd::flox {
namespace {

using testing::git;
using testing::ScratchDir;
using testing::write_text;

std::string status_v2(const std::filesystem::path& dir, const std::string& path = ".flox") {
  return git(dir, {"status", "--porcelain=v2", "--branch", "--untracked-files=all", "--", path});
}

TEST(BranchStatus, APushedCheckoutIsTrackedOnItsUpstreamAndNotAhead) {
  ScratchDir d;
  testing::make_git_flox_env(d / "env", d / "up.git");
  write_text(d / "env/.flox/pkgs/a.nix", "{ }\n");
  git(d / "env", {"add", "--", ".flox/pkgs/a.nix"});
  git(d / "env", {"commit", "-q", "-m", "a"});
  git(d / "env", {"push", "-q"});
  auto s = branch_status(status_v2(d / "env"));
  EXPECT_EQ(s.branch, "main");
  EXPECT_EQ(s.upstream, "origin/main");
  EXPECT_EQ(s.head + "\n", git(d / "env", {"rev-parse", "HEAD"}));
  EXPECT_TRUE(s.has_counts);
  EXPECT_EQ(s.ahead, 0);
  EXPECT_EQ(s.behind, 0);
  EXPECT_EQ(s.find(".flox/pkgs/a.nix"), nullptr);  // tracked and clean: nothing said
}

TEST(BranchStatus, UnpushedCommitsUntrackedAndChangedFilesAreSaid) {
  ScratchDir d;
  testing::make_git_flox_env(d / "env", d / "up.git");
  write_text(d / "env/.flox/pkgs/a b.nix", "{ }\n");
  git(d / "env", {"add", "--", ".flox/pkgs/a b.nix"});
  git(d / "env", {"commit", "-q", "-m", "a"});
  write_text(d / "env/.flox/pkgs/a b.nix", "{ x = 1; }\n");
  write_text(d / "env/.flox/pkgs/new.nix", "{ }\n");
  write_text(d / "env/.flox/pkgs/staged.nix", "{ }\n");
  git(d / "env", {"add", "--", ".flox/pkgs/staged.nix"});
  auto s = branch_status(status_v2(d / "env"));
  EXPECT_EQ(s.ahead, 1);
  ASSERT_NE(s.find(".flox/pkgs/a b.nix"), nullptr);
  EXPECT_EQ(s.find(".flox/pkgs/a b.nix")->code, ".M");
  ASSERT_NE(s.find(".flox/pkgs/new.nix"), nullptr);
  EXPECT_EQ(s.find(".flox/pkgs/new.nix")->code, "??");
  ASSERT_NE(s.find(".flox/pkgs/staged.nix"), nullptr);
  EXPECT_EQ(s.find(".flox/pkgs/staged.nix")->code, "A.");
}

TEST(BranchStatus, NoUpstreamAGoneUpstreamAndADetachedHead) {
  ScratchDir d;
  testing::make_git_flox_env(d / "env");
  auto none = branch_status(status_v2(d / "env"));
  EXPECT_EQ(none.upstream, "");
  EXPECT_FALSE(none.has_counts);

  testing::make_git_flox_env(d / "gone", d / "up.git");
  git(d / "gone", {"branch", "-q", "-m", "main", "feature"});
  git(d / "gone", {"config", "branch.feature.merge", "refs/heads/feature"});
  auto gone = branch_status(status_v2(d / "gone"));
  EXPECT_EQ(gone.upstream, "origin/feature");
  EXPECT_FALSE(gone.has_counts);  // set, but not on the remote

  git(d / "gone", {"checkout", "-q", "--detach"});
  auto detached = branch_status(status_v2(d / "gone"));
  EXPECT_EQ(detached.branch, "");
  EXPECT_FALSE(detached.head.empty());
}

TEST(Porcelain, V1LinesAndStrayStderr) {
  auto lines = porcelain("?? .flox/pkgs/a.nix\nA  .flox/pkgs/b.nix\nwarning: x\n M c\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].code, "??");
  EXPECT_EQ(lines[1].path, ".flox/pkgs/b.nix");
  EXPECT_EQ(lines[2].code, " M");
}

}  // namespace
}  // namespace tvd::flox
