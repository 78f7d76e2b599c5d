// Publishing through the git lane: flox's preconditions that tvd can check, a worktree of the
// revision to publish, and flox publish run there, outside the lane.
#include <memory>
#include <system_error>

#include "daemon/flox/git_lane.h"
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
  steps.push_back([this, rel](auto next, auto fail) {
    git({"ls-files", "--error-unmatch", "--", rel}, [rel, next, fail](const exec::RunResult& r) {
      if (!r.succeeded()) {
        fail(refused(rel + " is not tracked by git: it must be committed before publishing"));
        return;
      }
      next();
    });
  });
  auto upstream = std::make_shared<std::string>();
  steps.push_back([this, upstream](auto next, auto fail) {
    git({"rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"},
        [upstream, next, fail](const exec::RunResult& r) {
          if (!r.succeeded()) {
            fail(
                refused("the branch has no upstream: push it once with 'git push -u origin "
                        "BRANCH'"));
            return;
          }
          *upstream = first_lines(r.tail, 1);
          next();
        });
  });
  steps.push_back([this](auto next, auto fail) {
    git({"merge-base", "--is-ancestor", "HEAD", "@{u}"},
        [this, next, fail](const exec::RunResult& r) {
          if (r.succeeded()) {
            next();
            return;
          }
          if (!config_.push) {
            fail(refused("HEAD is not pushed to its upstream: push it, or set publish.push"));
            return;
          }
          push(next, fail);
        });
  });
  // The revision to publish: the one a crash interrupted (so that flox's HEAD-keyed check finds
  // an upload that had finished), else HEAD, which holds this job's recipe and is pushed.
  auto rev = std::make_shared<std::string>(pinned_rev);
  steps.push_back([this, rev](auto next, auto) {
    auto use_head = [this, rev, next] {
      git({"rev-parse", "HEAD"}, [rev, next](const exec::RunResult& r) {
        *rev = first_lines(r.tail, 1);
        next();
      });
    };
    if (rev->empty()) {
      use_head();
      return;
    }
    git({"merge-base", "--is-ancestor", *rev, "@{u}"},
        [use_head, next](const exec::RunResult& r) { r.succeeded() ? next() : use_head(); });
  });
  // A worktree of that revision, on a branch that tracks the upstream (flox publish asks for
  // both): publishing reads a clean checkout that no later commit can change, and the lane is
  // free for other jobs' commits while the upload runs.
  const auto dir = config_.worktrees / package;
  const std::string branch = "tvd-publish/" + package;
  steps.push_back([this, dir](auto next, auto) {
    git({"worktree", "remove", "--force", dir.string()}, [this, next](const exec::RunResult&) {
      git({"worktree", "prune"}, [next](auto&) { next(); });
    });
  });
  steps.push_back([this, dir, branch, rev, upstream](auto next, auto fail) {
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    git({"worktree", "add", "-q", "--force", "-B", branch, dir.string(), *rev},
        [this, branch, upstream, next, fail](const exec::RunResult& r) {
          if (!r.succeeded()) {
            fail(refused("cannot make the publishing worktree: " + flox::telling_line(r.tail), true,
                         flox::Failure::kUnknown));
            return;
          }
          git({"branch", "-q", "--set-upstream-to=" + *upstream, branch},
              [next, fail](const exec::RunResult& u) {
                if (!u.succeeded()) {
                  fail(refused(
                      "cannot set the publishing branch's upstream: " + flox::telling_line(u.tail),
                      true, flox::Failure::kUnknown));
                  return;
                }
                next();
              });
        });
  });
  auto finish = [this, dir, branch, done = std::move(done)](LaneOutcome o) {
    std::vector<Step> cleanup;
    cleanup.push_back([this, dir, branch](auto next, auto) {
      git({"worktree", "remove", "--force", dir.string()}, [this, branch, next](auto&) {
        git({"branch", "-q", "-D", branch}, [next](auto&) { next(); });
      });
    });
    enqueue(std::move(cleanup), [o, done](LaneOutcome) { done(o); });
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

}  // namespace tvd::flox
