// Publishing through the git lane: flox's preconditions that tvd can check, a worktree of the
// revision to publish, and flox publish run there, outside the lane.
#include <memory>
#include <system_error>

#include "daemon/base/lines.h"
#include "daemon/base/log.h"
#include "daemon/flox/git_lane.h"
#include "daemon/flox/git_lane_flows.h"
#include "daemon/flox/git_status.h"
#include "daemon/flox/lane_text.h"

namespace tvd::flox {

using lane::first_lines;
using lane::refused;

asio::awaitable<GitLane::Flows::Prepared> GitLane::Flows::prepare_publish(GitLane& lane,
                                                                          std::string package,
                                                                          std::string pinned_rev,
                                                                          size_t slot) {
  const auto& env_dir = lane.config_.env_dir;
  const std::string rel = ".flox/pkgs/" + package + ".nix";
  // Authentication is flox's own first check: it takes a token from the environment, from
  // flox.toml or from the keyring after `flox auth login`, and only flox can see the keyring, so
  // tvd leaves that check to flox (whose refusal is a permanent "not logged in").
  if (!std::filesystem::exists(env_dir / ".flox/env/manifest.lock")) {
    co_return Prepared{refused(
        ".flox/env/manifest.lock does not exist: lock the environment (flox install/upgrade) and "
        "commit the lock")};
  }
  // Where the recipe and HEAD stand, in one git call: the recipe must be tracked (in the index),
  // the branch must have an upstream that exists, and HEAD must be on it (pushed).
  auto r = co_await git(lane, "status", "--porcelain=v2", "--branch", "--untracked-files=all", "--",
                        rel);
  if (!r.succeeded()) {
    co_return Prepared{
        refused("git status failed: " + flox::telling_line(r.tail), true, flox::Failure::kUnknown)};
  }
  BranchStatus where = branch_status(r.tail);
  const StatusLine* entry = where.find(rel);
  if (entry ? entry->code == "??" : !std::filesystem::exists(env_dir / rel)) {
    co_return Prepared{
        refused(rel + " is not tracked by git: it must be committed before publishing")};
  }
  if (where.upstream.empty()) {
    co_return Prepared{
        refused("the branch has no upstream: push it once with 'git push -u origin BRANCH'")};
  }
  if (!where.has_counts) {
    co_return Prepared{refused("the branch's upstream " + where.upstream +
                               " does not exist (deleted on the remote?): push the branch with "
                               "'git push -u origin BRANCH', or set another upstream")};
  }
  if (where.ahead > 0) {
    if (!lane.config_.publishing.push) {
      co_return Prepared{
          refused("HEAD is not pushed to its upstream: push it, or set publish.push")};
    }
    // A push may rebase tvd's commits onto a moved upstream: HEAD is read again after it.
    if (auto stop = co_await push(lane)) co_return Prepared{std::move(stop)};
    auto head = co_await git(lane, "rev-parse", "HEAD");
    where.head = first_lines(head.tail, 1);
  }
  // The revision to publish: the one a crash interrupted (so that flox's HEAD-keyed check finds
  // an upload that had finished), else HEAD, which holds this job's recipe and is pushed.
  std::string rev = pinned_rev;
  if (rev.empty()) {
    rev = where.head;
  } else if (!(co_await git(lane, "merge-base", "--is-ancestor", rev, "@{u}")).succeeded()) {
    rev = where.head;
  }
  // A worktree of that revision, on a branch that tracks the upstream (flox publish asks for
  // both): publishing reads a clean checkout that no later commit can change, and the lane is
  // free for other jobs' commits while the upload runs.
  if (auto stop = co_await prepare_worktree(lane, slot, rev, where.upstream)) {
    co_return Prepared{std::move(stop)};
  }
  co_return Prepared{std::nullopt, rev};
}

void GitLane::publish(const std::string& package, const std::string& pinned_rev,
                      std::filesystem::path log, std::function<void(LaneOutcome)> done,
                      std::function<void(exec::RunId, const std::string&)> started) {
  const size_t slot = take_worktree();
  auto finish = [this, slot, done = std::move(done)](LaneOutcome o) {
    // A failed flox run may have left anything in it; a check that failed before it, nothing.
    release_worktree(slot, /*remake=*/!o.ok && o.run.has_value());
    done(o);
  };
  Flows::transact<Flows::Prepared>(
      *this,
      [this, package, pinned_rev, slot] {
        task_ = "preparing the publish of " + package;
        return Flows::prepare_publish(*this, package, pinned_rev, slot);
      },
      [this, package, log, slot, started, finish](Flows::Prepared p) {
        if (p.stop) {
          finish(*p.stop);
          return;
        }
        upload(package, log, slot, p.rev, finish, started);
      });
}

void GitLane::upload(const std::string& package, const std::filesystem::path& log, size_t slot,
                     const std::string& rev, std::function<void(LaneOutcome)> finish,
                     const std::function<void(exec::RunId, const std::string& rev)>& started) {
  const auto dir = worktree_dir(slot);
  exec::RunSpec spec;
  const PublishSettings& p = config_.publishing;
  spec.argv = {p.flox, "publish", "-d", dir.string(), "-o", p.org};
  if (!p.signing_key.empty()) {
    // A catalog with its own store needs its uploads signed (flox publish's
    // --signing-private-key; DESIGN.md).
    spec.argv.insert(spec.argv.end(), {"--signing-private-key", p.signing_key.string()});
  }
  spec.argv.push_back(package);
  spec.cwd = dir;
  spec.env = config_.child_env;
  spec.log = log;
  spec.wall_timeout = p.timeout;
  auto id =
      runner_.start(std::move(spec), [dir, finish = std::move(finish)](const exec::RunResult& r) {
        auto v = flox::classify(r, flox::Phase::kPublish);
        LaneOutcome out;
        std::error_code ec;
        if (v.failure == flox::Failure::kNone) {
          out.ok = true;
        } else if (!std::filesystem::exists(dir / ".git", ec)) {
          // Someone (or a cleanup) deleted the worktree under the upload: nothing is wrong with
          // the package; the worktree is made again and the publish tried again.
          out = refused("flox publish: the publishing worktree " + dir.string() +
                            " was deleted while it ran (" + v.reason +
                            "); it is made again for the next try",
                        true, flox::Failure::kUnknown);
        } else {
          out = refused("flox publish: " + v.reason, v.transient, v.failure);
        }
        out.run = r;
        finish(out);
      });
  if (started) started(id, rev);
}

std::filesystem::path GitLane::worktree_dir(size_t slot) const {
  return std::filesystem::absolute(config_.worktrees / std::to_string(slot));
}

size_t GitLane::take_worktree() {
  size_t k = 0;
  while (k < worktrees_.size() && worktrees_[k].busy)
    ++k;
  if (k == worktrees_.size()) worktrees_.emplace_back();
  worktrees_[k].busy = true;
  return k;
}

void GitLane::release_worktree(size_t slot, bool remake) {
  auto& w = worktrees_[slot];
  w.busy = false;
  if (remake) w.ready = false;  // made again from nothing next time
  // flox's result-* links beside .flox/ are garbage collector roots: the outputs they hold are
  // tens of GiB, and they must not live on in a worktree that is kept.
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(worktree_dir(slot), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().rfind("result-", 0) == 0 && it->is_symlink(ec)) {
      std::error_code rm;
      std::filesystem::remove(it->path(), rm);
    }
  }
}

asio::awaitable<void> GitLane::Flows::clean_worktrees(GitLane& lane) {
  std::error_code ec;
  const auto root = std::filesystem::weakly_canonical(lane.config_.worktrees, ec);
  auto under_root = [&](std::string_view path) {
    const auto p = std::filesystem::weakly_canonical(std::filesystem::path(path), ec);
    const auto rel = p.lexically_relative(root);
    return !root.empty() && !rel.empty() && *rel.begin() != "..";
  };
  auto list = co_await git(lane, "worktree", "list", "--porcelain");
  std::vector<std::string> ours;
  for (auto line : list.succeeded() ? lines_of(list.tail) : std::vector<std::string_view>{}) {
    if (line.rfind("worktree ", 0) == 0 && under_root(line.substr(9))) {
      ours.emplace_back(line.substr(9));
    }
  }
  for (const auto& path : ours) {
    auto r = co_await git(lane, "worktree", "remove", "--force", "--force", path);
    if (!r.succeeded()) {
      log::warning("cannot remove the publishing worktree " + path + ": " +
                   flox::telling_line(r.tail));
    }
  }
  co_await git(lane, "worktree", "prune");
  auto refs =
      co_await git(lane, "for-each-ref", "--format=%(refname:short)", "refs/heads/tvd-publish/");
  for (auto line : refs.succeeded() ? lines_of(refs.tail) : std::vector<std::string_view>{}) {
    if (!line.empty()) co_await git(lane, "branch", "-q", "-D", std::string(line));
  }
}

asio::awaitable<Stop> GitLane::Flows::prepare_worktree(GitLane& lane, size_t slot, std::string rev,
                                                       std::string upstream) {
  const auto dir = lane.worktree_dir(slot);
  const std::string branch = "tvd-publish/" + std::to_string(slot);
  auto cannot = [](const std::string& what, const exec::RunResult& r) -> Stop {
    return refused("cannot " + what + ": " + flox::telling_line(r.tail), true,
                   flox::Failure::kUnknown);
  };
  // Kept from an earlier publish: moved to this revision, which rewrites only the files that
  // differ (a new worktree checks out the whole repository) and keeps the branch's upstream.
  bool moved = false;
  if (lane.worktrees_[slot].ready) {
    moved =
        (co_await git_in(lane, dir, "checkout", "-q", "--force", "-B", branch, rev)).succeeded();
  }
  if (!moved) {
    // Made from nothing: whatever a crash left there goes, git forgets worktrees whose
    // directories are gone (one of them would still hold the branch), and a new one is added.
    lane.worktrees_[slot] = {true, false, {}};
    // A git killed during `worktree add` (a stop of tvd, a timeout) leaves the worktree locked
    // "initializing", which prune keeps and which holds the branch: removed with a double force
    // (nothing when the slot was never a worktree).
    co_await git(lane, "worktree", "remove", "--force", "--force", dir.string());
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir.parent_path(), ec);
    co_await git(lane, "worktree", "prune");
    // With absolute paths whatever the user's git config says: Nix's libgit2 cannot open a
    // worktree that links back relatively (NixOS/nix#14987), and flox builds through it.
    auto r = co_await git(lane, "-c", "worktree.useRelativePaths=false", "worktree", "add", "-q",
                          "--force", "-B", branch, dir.string(), rev);
    if (!r.succeeded()) co_return cannot("make the publishing worktree", r);
    lane.worktrees_[slot].ready = true;
  }
  if (lane.worktrees_[slot].upstream != upstream) {
    auto r = co_await git(lane, "branch", "-q", "--set-upstream-to=" + upstream, branch);
    if (!r.succeeded()) co_return cannot("set the publishing branch's upstream", r);
    lane.worktrees_[slot].upstream = upstream;
  }
  co_return std::nullopt;
}

}  // namespace tvd::flox
