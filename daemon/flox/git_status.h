// What `git status --porcelain` says, read: the git lane decides from one status call where a
// recipe stands and, with `--porcelain=v2 --branch`, where HEAD stands against its upstream
// (git-status(1), "Porcelain Format Version 1" and "Version 2"; git 2.39).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tvd::flox {

// One changed or untracked path: its two-letter code ("??" untracked, "A " added, " M"
// modified; v2's "1 .M" entries give ".M", and its untracked "? PATH" gives "??").
struct StatusLine {
  std::string code, path;
};

// The lines of `git status --porcelain` (v1). Lines of another shape (stderr shares the output)
// are left out.
std::vector<StatusLine> porcelain(std::string_view out);

// `git status --porcelain=v2 --branch`: the branch headers and the entries.
struct BranchStatus {
  std::string head;         // HEAD's commit; empty before the first commit
  std::string branch;       // empty when HEAD is detached
  std::string upstream;     // its upstream as git names it ("origin/main"); empty when none is set
  bool has_counts = false;  // false when the upstream is set but gone (deleted on the remote)
  long ahead = 0;           // commits on HEAD not on the upstream: 0 means HEAD is pushed
  long behind = 0;
  std::vector<StatusLine> entries;
  // The entry of `path`, or nullptr when git says nothing of it.
  const StatusLine* find(std::string_view path) const;
};
BranchStatus branch_status(std::string_view out);

}  // namespace tvd::flox
