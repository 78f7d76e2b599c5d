// Publishing through the git lane: flox's preconditions that tvd can check, a worktree of the
// revision to publish, and flox publish run there, outside the lane.
#include <memory>
#include <system_error>

#include "daemon/flox/git_lane.h"
#include "daemon/flox/git_status.h"
#include "daemon/flox/lane_text.h"

namespace tvd::flox {

using lane::first_lines;
using lane::refused;

void GitLane::publish(const std::string& package, const std::string& pinned_rev,
                      std::filesystem::path log, std::function<void(LaneOutcome)> done,
                      std::function<void(exec::RunId, const std::string&)> started) {
  const std::string rel = ".flox/pkgs/" + package + ".nix";
  std::vector<Step> steps;
  // Authentication is flox's own first check: it takes a token from the environment, from
  // flox.toml or from the keyring after `flox auth login`, and only flox can see the keyring, so
  // tvd leaves that check to flox (whose refusal is a permanent "not logged in").
  steps.push_back([this](auto next, auto fail) {
    if (!std::filesystem::exists(config_.env_dir / ".flox/env/manifest.lock")) {
      fail(
          refused(".flox/env/manifest.lock does not exist: lock the environment (flox "
                  "install/upgrade) and commit the lock"));
      return;
    }
    next();
  });
  // Where the recipe and HEAD stand, in one git call: the recipe must be tracked (in the index),
  // the branch must have an upstream that exists, and HEAD must be on it (pushed).
  auto where = std::make_shared<BranchStatus>();
  steps.push_back([this, rel, where](auto next, auto fail) {
    git({"status", "--porcelain=v2", "--branch", "--untracked-files=all", "--", rel},
        [this, rel, where, next, fail](const exec::RunResult& r) {
          if (!r.succeeded()) {
            fail(refused("git status failed: " + flox::telling_line(r.tail), true,
                         flox::Failure::kUnknown));
            return;
          }
          *where = branch_status(r.tail);
          const StatusLine* entry = where->find(rel);
          if (entry ? entry->code == "??" : !std::filesystem::exists(config_.env_dir / rel)) {
            fail(refused(rel + " is not tracked by git: it must be committed before publishing"));
            return;
          }
          if (where->upstream.empty()) {
            fail(
                refused("the branch has no upstream: push it once with 'git push -u origin "
                        "BRANCH'"));
            return;
          }
          if (!where->has_counts) {
            fail(refused("the branch's upstream " + where->upstream +
                         " does not exist (deleted on the remote?): push the branch with 'git "
                         "push -u origin BRANCH', or set another upstream"));
            return;
          }
          next();
        });
  });
  steps.push_back([this, where](auto next, auto fail) {
    if (where->ahead == 0) {
      next();
      return;
    }
    if (!config_.push) {
      fail(refused("HEAD is not pushed to its upstream: push it, or set publish.push"));
      return;
    }
    // A push may rebase tvd's commits onto a moved upstream: HEAD is read again after it.
    push(
        [this, where, next] {
          git({"rev-parse", "HEAD"}, [where, next](const exec::RunResult& r) {
            where->head = first_lines(r.tail, 1);
            next();
          });
        },
        fail);
  });
  // The revision to publish: the one a crash interrupted (so that flox's HEAD-keyed check finds
  // an upload that had finished), else HEAD, which holds this job's recipe and is pushed.
  auto rev = std::make_shared<std::string>(pinned_rev);
  steps.push_back([this, rev, where](auto next, auto) {
    if (rev->empty()) {
      *rev = where->head;
      next();
      return;
    }
    git({"merge-base", "--is-ancestor", *rev, "@{u}"},
        [rev, where, next](const exec::RunResult& r) {
          if (!r.succeeded()) *rev = where->head;
          next();
        });
  });
  // A worktree of that revision, on a branch that tracks the upstream (flox publish asks for
  // both): publishing reads a clean checkout that no later commit can change, and the lane is
  // free for other jobs' commits while the upload runs.
  const size_t slot = take_worktree();
  const auto dir = worktree_dir(slot);
  steps.push_back([this, slot, rev, where](auto next, auto fail) {
    prepare_worktree(slot, *rev, where->upstream, next, fail);
  });
  auto finish = [this, slot, done = std::move(done)](LaneOutcome o) {
    // A failed flox run may have left anything in it; a check that failed before it, nothing.
    release_worktree(slot, /*remake=*/!o.ok && o.run.has_value());
    done(o);
  };
  enqueue(std::move(steps), [this, package, log, dir, rev, started, finish](LaneOutcome o) {
    if (!o.ok) {
      finish(o);
      return;
    }
    exec::RunSpec spec;
    spec.argv = {config_.flox, "publish", "-d", dir.string(), "-o", config_.org};
    if (!config_.signing_key.empty()) {
      // A catalog with its own store needs its uploads signed (flox publish's
      // --signing-private-key; DESIGN.md).
      spec.argv.insert(spec.argv.end(), {"--signing-private-key", config_.signing_key.string()});
    }
    spec.argv.push_back(package);
    spec.cwd = dir;
    spec.env = config_.child_env;
    spec.log = log;
    spec.wall_timeout = config_.publish_timeout;
    auto id = runner_.start(std::move(spec), [finish](const exec::RunResult& r) {
      auto v = flox::classify(r, flox::Phase::kPublish);
      LaneOutcome out;
      if (v.failure == flox::Failure::kNone) {
        out.ok = true;
      } else {
        out = refused("flox publish: " + v.reason, v.transient, v.failure);
      }
      out.run = r;
      finish(out);
    });
    if (started) started(id, *rev);
  });
}

std::filesystem::path GitLane::worktree_dir(size_t slot) const {
  return config_.worktrees / std::to_string(slot);
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

void GitLane::prepare_worktree(size_t slot, const std::string& rev, const std::string& upstream,
                               std::function<void()> next, std::function<void(LaneOutcome)> fail) {
  const auto dir = worktree_dir(slot);
  const std::string branch = "tvd-publish/" + std::to_string(slot);
  auto cannot = [fail](const std::string& what, const exec::RunResult& r) {
    fail(refused("cannot " + what + ": " + flox::telling_line(r.tail), true,
                 flox::Failure::kUnknown));
  };
  auto track = [this, slot, branch, upstream, next, cannot] {
    if (worktrees_[slot].upstream == upstream) {
      next();
      return;
    }
    git({"branch", "-q", "--set-upstream-to=" + upstream, branch},
        [this, slot, upstream, next, cannot](const exec::RunResult& r) {
          if (!r.succeeded()) {
            cannot("set the publishing branch's upstream", r);
            return;
          }
          worktrees_[slot].upstream = upstream;
          next();
        });
  };
  // Made from nothing: whatever a crash left there goes, git forgets worktrees whose
  // directories are gone (one of them would still hold the branch), and a new one is added.
  auto make = [this, slot, dir, branch, rev, track, cannot] {
    worktrees_[slot] = {true, false, {}};
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir.parent_path(), ec);
    git({"worktree", "prune"}, [this, slot, dir, branch, rev, track, cannot](auto&) {
      git({"worktree", "add", "-q", "--force", "-B", branch, dir.string(), rev},
          [this, slot, track, cannot](const exec::RunResult& r) {
            if (!r.succeeded()) {
              cannot("make the publishing worktree", r);
              return;
            }
            worktrees_[slot].ready = true;
            track();
          });
    });
  };
  if (!worktrees_[slot].ready) {
    make();
    return;
  }
  // Kept from an earlier publish: moved to this revision, which rewrites only the files that
  // differ (a new worktree checks out the whole repository) and keeps the branch's upstream.
  git_in(dir, {"checkout", "-q", "--force", "-B", branch, rev},
         [track, make](const exec::RunResult& r) { r.succeeded() ? track() : make(); });
}

}  // namespace tvd::flox
