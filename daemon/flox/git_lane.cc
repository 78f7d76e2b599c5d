#include "daemon/flox/git_lane.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <memory>
#include <thread>

#include "daemon/base/file.h"
#include "daemon/base/lines.h"
#include "daemon/base/log.h"
#include "daemon/exec/child_env.h"
#include "daemon/exec/host.h"
#include "daemon/flox/git_status.h"
#include "daemon/flox/lane_text.h"

namespace tvd::flox {

using lane::first_lines;
using lane::refused;

void GitLane::git_in(const std::filesystem::path& dir, std::vector<std::string> args,
                     std::function<void(const exec::RunResult&)> then) {
  exec::RunSpec spec;
  spec.argv = {"git", "-C", dir.string()};
  spec.argv.insert(spec.argv.end(), identity_.begin(), identity_.end());
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.cwd = dir;
  spec.env = exec::without_secrets(config_.child_env);  // git hooks are the repository's code
  spec.env["GIT_TERMINAL_PROMPT"] = "0";  // never wait for a password nobody will type
  spec.log = config_.log_dir / ("git-" + std::to_string(n_++ % 8) + ".log");
  spec.log_limit = 1 << 20;
  spec.sync_log = false;  // diagnostics of one command; the job's own outcome says what happened
  spec.wall_timeout = config_.git_timeout;
  // The lane runs one git at a time: while it runs, the marker holds its process group and
  // start, so that the next start can end a git that a crash of tvd left running (recover()).
  // Rewritten in place, not created and removed, so that a git costs no new file.
  const uint64_t mine = ++marked_;
  auto run = runner_.start(std::move(spec),
                           [this, mine, then = std::move(then)](const exec::RunResult& r) {
                             if (marked_ == mine && marker_.get() >= 0) {
                               (void)::ftruncate(marker_.get(), 0);
                             }
                             then(r);
                           });
  const auto pgid = runner_.process_group(run);
  if (!pgid) return;
  if (marker_.get() < 0) {
    std::error_code ec;
    std::filesystem::create_directories(config_.log_dir, ec);
    marker_ = UniqueFd(
        ::open((config_.log_dir / "running-git").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  }
  if (marker_.get() < 0) return;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  // Not synced: it only has to outlive tvd's process, not the machine (a reboot ends the git).
  const std::string text = std::to_string(*pgid) + " " + std::to_string(now) + "\n";
  if (::pwrite(marker_.get(), text.data(), text.size(), 0) == static_cast<ssize_t>(text.size())) {
    (void)::ftruncate(marker_.get(), static_cast<off_t>(text.size()));
  }
}

void GitLane::end_orphans() {
  std::vector<pid_t> killed;
  const auto marker = config_.log_dir / "running-git";
  auto text = read_file(marker);
  pid_t pgid = 0;
  int64_t started = 0;
  if (text) {
    const char* p = text->data();
    const char* end = p + text->size();
    p = std::from_chars(p, end, pgid).ptr;
    if (p < end && *p == ' ') std::from_chars(p + 1, end, started);
  }
  std::error_code ec;
  std::filesystem::resize_file(marker, 0, ec);
  if (pgid > 1 && started > 0 && exec::may_be_our_run(pgid, started, {"git"})) {
    ::kill(-pgid, SIGKILL);
    killed.push_back(pgid);
    log::warning("killed git left running by tvd's last run (process group " +
                 std::to_string(pgid) + ")");
  }
  // Until they are gone: the index.lock check after this must not see them holding it.
  for (int i = 0; i < 100 && !killed.empty(); ++i) {
    std::erase_if(killed, [](pid_t g) { return ::kill(-g, 0) != 0; });
    if (!killed.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void GitLane::enqueue(std::vector<Step> steps, std::function<void(LaneOutcome)> done) {
  queue_.push_back({std::move(steps), std::move(done)});
  if (!busy_) run_next();
}

void GitLane::run_next() {
  if (queue_.empty()) {
    busy_ = false;
    return;
  }
  busy_ = true;
  auto t = std::make_shared<Active>(Active{std::move(queue_.front()), 0});
  queue_.pop_front();
  advance(t);
}

void GitLane::advance(const std::shared_ptr<Active>& t) {
  if (t->next_step == t->transaction.steps.size()) {
    LaneOutcome ok;
    ok.ok = true;
    finish(t, ok);
    return;
  }
  auto& step = t->transaction.steps[t->next_step++];
  step([this, t] { advance(t); }, [this, t](LaneOutcome o) { finish(t, std::move(o)); });
}

void GitLane::finish(const std::shared_ptr<Active>& t, LaneOutcome o) {
  auto done = std::move(t->transaction.done);
  done(std::move(o));
  run_next();
}

void GitLane::check_identity(std::function<void()> next) {
  if (identity_checked_) {
    next();
    return;
  }
  git({"config", "user.email"}, [this, next](const exec::RunResult& r) {
    identity_checked_ = true;
    if (!r.succeeded()) identity_ = {"-c", "user.name=tvd", "-c", "user.email=tvd@localhost"};
    next();
  });
}

namespace {

// Subjects of the commits tvd makes: a rebase moves only these (see push()).
bool is_ours(const std::string& subject) {
  return (subject.rfind("Add ", 0) == 0 && subject.size() > 2 && subject.back() == ')') ||
         subject == "Ignore flox build results (result-*)";
}

}  // namespace

LaneOutcome GitLane::push_refused(const flox::Verdict& v) const {
  if (v.transient) {
    return refused(
        "git push failed: " + v.reason + "; the commit is kept and will be pushed on the next try",
        true, v.failure);
  }
  std::string what = "check the credentials tvd's user has for the remote";
  if (v.failure == flox::Failure::kPublishPrecondition) {
    what = "check 'git remote -v' and the branch's upstream in " + config_.env_dir.string() +
           " (and, if the remote refused it, what it allows)";
  }
  return refused("git push failed: " + v.reason + "; tvd's commit is kept unpushed: " + what +
                     ", then retry the job",
                 false, v.failure);
}

void GitLane::push(std::function<void()> next, std::function<void(LaneOutcome)> fail) {
  git({"push", "-q"}, [this, next, fail](const exec::RunResult& r) {
    if (r.succeeded()) {
      next();
      return;
    }
    const auto verdict = flox::classify_push(r.tail);
    if (verdict.failure != flox::Failure::kCollision) {
      fail(push_refused(verdict));
      return;
    }
    // The upstream moved (another build host, or a person pushed): fetch it, put tvd's own
    // unpushed commits on top of it, push again. Anyone else's unpushed commit stays untouched.
    git({"fetch", "-q"}, [this, next, fail](const exec::RunResult& f) {
      if (!f.succeeded()) {
        fail(refused("the upstream moved and git fetch failed: " + flox::telling_line(f.tail), true,
                     flox::Failure::kNetwork));
        return;
      }
      git({"log", "--format=%s", "@{u}..HEAD"}, [this, next, fail](const exec::RunResult& l) {
        std::vector<std::string> foreign;
        for (auto line : l.succeeded() ? lines_of(l.tail) : std::vector<std::string_view>{}) {
          std::string subject(line);
          if (!subject.empty() && !is_ours(subject)) foreign.push_back(subject);
        }
        if (!l.succeeded() || !foreign.empty()) {
          fail(
              refused("the upstream moved, and the checkout has unpushed commits that are not "
                      "tvd's (\"" +
                          (foreign.empty() ? std::string("?") : foreign.front()) +
                          "\"): tvd rebases only its own; push or rebase them in " +
                          config_.env_dir.string() + ", then retry",
                      false, flox::Failure::kPublishPrecondition));
          return;
        }
        git({"rebase", "-q", "@{u}"}, [this, next, fail](const exec::RunResult& rb) {
          if (rb.succeeded()) {
            git({"push", "-q"}, [this, next, fail](const exec::RunResult& p) {
              if (!p.succeeded()) {
                fail(push_refused(flox::classify_push(p.tail)));
                return;
              }
              next();
            });
            return;
          }
          git({"diff", "--name-only", "--diff-filter=U"}, [this, fail](const exec::RunResult& d) {
            std::string paths;
            for (char c : d.tail)
              paths += c == '\n' ? ' ' : c;
            while (!paths.empty() && paths.back() == ' ')
              paths.pop_back();
            git({"rebase", "--abort"}, [this, fail, paths](const exec::RunResult&) {
              fail(
                  refused("the upstream moved and changes what tvd's commit changes (conflict in " +
                              (paths.empty() ? std::string("?") : paths) +
                              "): tvd's commit is kept unpushed; in " + config_.env_dir.string() +
                              " run 'git pull --rebase', resolve, push, then retry the job",
                          false, flox::Failure::kPublishPrecondition));
            });
          });
        });
      });
    });
  });
}

void GitLane::add_ignore(const std::filesystem::path& path, std::string text,
                         std::function<void()> next, std::function<void(LaneOutcome)> fail) {
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += "# flox build results\nresult-*\n";
  if (auto st = write_file_atomic(path, text, Overwrite::kYes); !st) {
    fail(refused("cannot update " + path.string() + ": " + st.error().message, false,
                 flox::Failure::kUnknown));
    return;
  }
  git({"add", "--", ".gitignore"}, [this, next, fail](const exec::RunResult& r) {
    if (!r.succeeded()) {
      fail(refused("git add .gitignore failed: " + flox::telling_line(r.tail), false,
                   flox::Failure::kUnknown));
      return;
    }
    git({"commit", "-q", "-m", "Ignore flox build results (result-*)", "--", ".gitignore"},
        [next, fail](const exec::RunResult& c) {
          if (!c.succeeded()) {
            fail(refused("git commit .gitignore failed: " + flox::telling_line(c.tail), false,
                         flox::Failure::kUnknown));
            return;
          }
          next();
        });
  });
}

void GitLane::commit_recipe(const RecipeReport& recipe, std::string message,
                            std::function<void(LaneOutcome)> done) {
  const std::string rel = ".flox/pkgs/" + recipe.file.filename().string();
  auto committed = std::make_shared<bool>(false);
  auto need_add = std::make_shared<bool>(false);
  auto need_commit = std::make_shared<bool>(false);
  std::vector<Step> steps;

  // Who commits: the checkout's own identity, or tvd's when it has none (asked once).
  steps.push_back([this](auto next, auto) { check_identity(next); });

  // result-* links never belong in git. tvd adds the line only to a .gitignore nobody is
  // editing: its commit must hold tvd's line and nothing of anyone else's.
  steps.push_back([this](auto next, auto fail) {
    auto path = config_.env_dir / ".gitignore";
    auto text = read_file(path);
    std::string current = text ? *text : "";
    if (current.find("\nresult-*\n") != std::string::npos || current.rfind("result-*\n", 0) == 0) {
      next();
      return;
    }
    git({"status", "--porcelain", "--", ".gitignore"}, [this, path, current, next,
                                                        fail](const exec::RunResult& st) {
      if (!st.succeeded() || !st.tail.empty()) {
        fail(refused(path.string() +
                         " has changes nobody committed (git status: " + first_lines(st.tail, 1) +
                         "); tvd adds \"result-*\" to it in a commit of its own: commit or "
                         "discard those changes, or add the line yourself, then retry",
                     false, flox::Failure::kPublishPrecondition));
        return;
      }
      add_ignore(path, current, next, fail);
    });
  });

  // Where the recipe stands, in one git call: nothing said and the file there means tracked
  // and committed; "??" untracked; "A " added but never committed (a transaction a crash cut
  // short); anything else has changes nobody committed.
  steps.push_back([this, rel, recipe, need_add, need_commit](auto next, auto fail) {
    std::error_code ec;
    std::filesystem::create_directories(recipe.file.parent_path(), ec);
    git({"status", "--porcelain", "--untracked-files=all", "--", rel},
        [rel, recipe, need_add, need_commit, next, fail](const exec::RunResult& r) {
          if (!r.succeeded()) {
            fail(refused("git status failed: " + flox::telling_line(r.tail), true,
                         flox::Failure::kUnknown));
            return;
          }
          // The line that names the recipe, if any.
          std::optional<StatusLine> out;
          for (auto& line : porcelain(r.tail)) {
            if (line.path == rel) out = std::move(line);
          }
          if (!out) {
            if (std::filesystem::exists(recipe.file)) {
              next();
              return;
            }
            auto st = write_file_atomic(recipe.file, recipe.text, Overwrite::kNo);
            if (!st) {
              fail(refused(st.error().message, false, flox::Failure::kUnknown));
              return;
            }
            *need_add = *need_commit = true;
          } else if (out->code == "??" && recipe.state != FileState::kDiffers) {
            *need_add = *need_commit = true;  // tvd's own text, left by an interrupted commit
          } else if (out->code == "??") {
            // Someone's own recipe: tvd commits only what it wrote.
            fail(refused(rel + " is untracked and differs from what tvd generates: tvd commits "
                               "only its own recipes; commit it yourself (git add and git "
                               "commit), or delete it to have tvd generate it, then retry",
                         false, flox::Failure::kNotTracked));
            return;
          } else if (out->code == "A ") {
            *need_commit = true;
          } else {
            fail(refused(rel + " has uncommitted changes (git status: " + out->code + " " +
                             out->path + "): commit or discard them, then retry",
                         false, flox::Failure::kPublishPrecondition));
            return;
          }
          next();
        });
  });
  steps.push_back([this, rel, need_add](auto next, auto fail) {
    if (!*need_add) {
      next();
      return;
    }
    git({"add", "--", rel}, [rel, next, fail](const exec::RunResult& r) {
      if (!r.succeeded()) {
        fail(refused("git add " + rel + " failed: " + flox::telling_line(r.tail), false,
                     flox::Failure::kUnknown));
        return;
      }
      next();
    });
  });
  steps.push_back([this, rel, need_commit, committed, message](auto next, auto fail) {
    if (!*need_commit) {
      next();
      return;
    }
    git({"commit", "-q", "-m", message, "--", rel},
        [committed, next, fail](const exec::RunResult& c) {
          if (!c.succeeded()) {
            fail(refused("git commit failed: " + flox::telling_line(c.tail), false,
                         flox::Failure::kUnknown));
            return;
          }
          *committed = true;
          next();
        });
  });
  if (config_.push) {
    steps.push_back([this, committed](auto next, auto fail) {
      if (!*committed) {
        next();
        return;
      }
      push(next, fail);
    });
  }
  enqueue(std::move(steps), [committed, done = std::move(done)](LaneOutcome o) {
    o.committed = *committed;
    done(std::move(o));
  });
}

void GitLane::recover(std::vector<RecipeReport> ours,
                      std::function<void(std::vector<std::string>)> done) {
  struct State {
    std::vector<RecipeReport> ours;
    std::vector<std::string> pending;    // relative paths to commit
    std::vector<std::string> committed;  // packages
    std::shared_ptr<std::function<void(size_t)>> walker;
  };
  // A crash of tvd during a git command leaves .git/index.lock, and every later git command
  // fails until it is gone. At start nothing of tvd's runs git here (one daemon per checkout), so
  // a lock that no process holds open is that leftover.
  end_orphans();
  const auto lock = config_.env_dir / ".git" / "index.lock";
  std::error_code ec;
  if (std::filesystem::exists(lock, ec) && !exec::held_open(lock)) {
    std::filesystem::remove(lock, ec);
    log::warning(ec ? "cannot remove the stale " + lock.string() + ": " + ec.message()
                    : "removed " + lock.string() + ", left by an interrupted git command");
  }
  auto st = std::make_shared<State>();
  st->ours = std::move(ours);
  std::vector<Step> steps;
  steps.push_back([this](auto next, auto) { check_identity(next); });
  steps.push_back([this, st](auto next, auto) {
    git({"status", "--porcelain", "--untracked-files=all", "--", ".flox/pkgs"},
        [st, next](const exec::RunResult& r) {
          for (const auto& line : r.succeeded() ? porcelain(r.tail) : std::vector<StatusLine>{}) {
            if (line.code != "??" && line.code != "A ") continue;
            for (const auto& o : st->ours) {
              if (".flox/pkgs/" + o.file.filename().string() == line.path) {
                st->pending.push_back(line.path);
              }
            }
          }
          next();
        });
  });
  // One step per pending file would need the list up front; instead one step walks it.
  steps.push_back([this, st](auto next, auto fail) {
    auto walk = std::make_shared<std::function<void(size_t)>>();
    *walk = [this, st, next, fail,
             weak = std::weak_ptr<std::function<void(size_t)>>(walk)](size_t i) {
      if (i == st->pending.size()) {
        next();
        return;
      }
      const std::string rel = st->pending[i];
      const std::string pkg = std::filesystem::path(rel).stem().string();
      git({"add", "--", rel}, [this, st, rel, pkg, i, fail, weak](const exec::RunResult& a) {
        if (!a.succeeded()) {
          fail(refused("recovery: git add " + rel + " failed: " + flox::telling_line(a.tail)));
          return;
        }
        git({"commit", "-q", "-m", "Add " + pkg + " (its commit was interrupted)", "--", rel},
            [st, pkg, i, fail, weak](const exec::RunResult& c) {
              if (!c.succeeded()) {
                fail(refused("recovery: git commit failed: " + flox::telling_line(c.tail)));
                return;
              }
              st->committed.push_back(pkg);
              if (auto w = weak.lock()) (*w)(i + 1);
            });
      });
    };
    st->walker = walk;  // kept alive by the state until the transaction ends
    (*walk)(0);
  });
  if (config_.push) {
    steps.push_back([this, st](auto next, auto) {
      if (st->committed.empty()) {
        next();
        return;
      }
      git({"push", "-q"}, [next](const exec::RunResult&) { next(); });  // publish pushes again
    });
  }
  // Ahead of everything already queued.
  queue_.push_front({std::move(steps), [st, done = std::move(done)](LaneOutcome) {
                       auto committed = std::move(st->committed);
                       st->walker.reset();
                       done(std::move(committed));
                     }});
  if (!busy_) run_next();
}

}  // namespace tvd::flox
