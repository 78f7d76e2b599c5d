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
#include "daemon/flox/git_lane_flows.h"
#include "daemon/flox/git_status.h"
#include "daemon/flox/lane_text.h"

namespace tvd::flox {

using lane::first_lines;
using lane::refused;

GitLane::GitLane(boost::asio::io_context& io, exec::Runner& runner, GitLaneConfig config)
    : io_(io), runner_(runner), config_(std::move(config)) {
  std::error_code ec;
  std::filesystem::create_directories(config_.log_dir, ec);  // a git that cannot log says why
  load_made();
}

void GitLane::start_git(const std::filesystem::path& dir, std::vector<std::string> args,
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
  doing_ = "git";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-c") {
      ++i;  // and its value
    } else if (!args[i].starts_with("-")) {
      doing_ += " " + args[i];
      break;
    }
  }
  doing_since_ = std::chrono::steady_clock::now();
  auto run = runner_.start(std::move(spec),
                           [this, mine, then = std::move(then)](const exec::RunResult& r) {
                             if (marked_ == mine && marker_.get() >= 0) {
                               (void)::ftruncate(marker_.get(), 0);
                             }
                             if (marked_ == mine) {
                               git_run_.reset();
                               doing_.clear();
                             }
                             // A git tvd ended (a cancel, its timeout) may leave its lock, and
                             // every later git here would fail on it.
                             if (r.ending != exec::Ending::kExited) remove_stale_index_lock();
                             then(r);
                           });
  git_run_ = run;
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

void GitLane::enqueue(std::function<void()> start, bool first) {
  if (first) {
    queue_.push_front(std::move(start));
  } else {
    queue_.push_back(std::move(start));
  }
  if (!busy_) run_next();
}

void GitLane::run_next() {
  task_.clear();
  if (queue_.empty()) {
    busy_ = false;
    return;
  }
  busy_ = true;
  auto start = std::move(queue_.front());
  queue_.pop_front();
  start();
}

asio::awaitable<void> GitLane::Flows::check_identity(GitLane& lane) {
  if (lane.identity_checked_) co_return;
  auto r = co_await git(lane, "config", "user.email");
  lane.identity_checked_ = true;
  if (!r.succeeded()) lane.identity_ = {"-c", "user.name=tvd", "-c", "user.email=tvd@localhost"};
}

std::string GitLane::git_failure(const exec::RunResult& r) const {
  if (r.ending == exec::Ending::kTimedOut) {
    return "it ran longer than the lane's limit of " + std::to_string(config_.git_timeout.count()) +
           " s and was stopped (a hook of the repository that hangs? see " +
           (config_.env_dir / ".git" / "hooks").string() + ")";
  }
  std::string line = flox::telling_line(r.tail);
  if (!line.empty()) return line;
  if (r.signal) return "killed by signal " + std::to_string(r.signal);
  return "exit code " + std::to_string(r.exit_code) + ", nothing said";
}

asio::awaitable<Stop> GitLane::Flows::ignore_results(GitLane& lane) {
  // result-* links never belong in git. tvd adds the line only to a .gitignore nobody is
  // editing: its commit must hold tvd's line and nothing of anyone else's.
  const auto path = lane.config_.env_dir / ".gitignore";
  auto read = read_file(path);
  std::string text = read ? *read : "";
  if (text.find("\nresult-*\n") != std::string::npos || text.rfind("result-*\n", 0) == 0) {
    co_return std::nullopt;
  }
  auto st = co_await git(lane, "status", "--porcelain", "--", ".gitignore");
  if (!st.succeeded() || !st.tail.empty()) {
    co_return refused(path.string() +
                          " has changes nobody committed (git status: " + first_lines(st.tail, 1) +
                          "); tvd adds \"result-*\" to it in a commit of its own: commit or "
                          "discard those changes, or add the line yourself, then retry",
                      false, flox::Failure::kPublishPrecondition);
  }
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += "# flox build results\nresult-*\n";
  if (auto w = write_file_atomic(path, text, Overwrite::kYes); !w) {
    co_return refused("cannot update " + path.string() + ": " + w.error().message, false,
                      flox::Failure::kUnknown);
  }
  auto a = co_await git(lane, "add", "--", ".gitignore");
  if (!a.succeeded()) {
    co_return refused("git add .gitignore failed: " + flox::telling_line(a.tail), false,
                      flox::Failure::kUnknown);
  }
  std::vector<std::string> ignore_file;  // not a braced list: GCC 12's coroutine frames
  ignore_file.emplace_back(".gitignore");
  auto c = co_await commit_ours(lane, "Ignore flox build results (result-*)", ignore_file);
  if (!c.succeeded()) {
    // Left as it was: unstaged, and the file without tvd's line, so that nobody's next commit
    // takes it along.
    co_await git(lane, "reset", "-q", "--", ".gitignore");
    if (read) (void)write_file_atomic(path, *read, Overwrite::kYes);
    co_return refused("git commit .gitignore failed: " + lane.git_failure(c), false,
                      flox::Failure::kUnknown);
  }
  co_return std::nullopt;
}

asio::awaitable<LaneOutcome> GitLane::Flows::commit(GitLane& lane, RecipeFile recipe,
                                                    std::string message) {
  const std::string rel = ".flox/pkgs/" + recipe.file.filename().string();
  co_await check_identity(lane);
  if (auto stop = co_await ignore_results(lane)) co_return *stop;

  // Where the recipe stands, in one git call: nothing said and the file there means tracked
  // and committed; "??" untracked; "A " added but never committed (a transaction a crash cut
  // short); anything else has changes nobody committed.
  std::error_code ec;
  std::filesystem::create_directories(recipe.file.parent_path(), ec);
  auto r = co_await git(lane, "status", "--porcelain", "--untracked-files=all", "--", rel);
  if (!r.succeeded()) {
    co_return refused("git status failed: " + flox::telling_line(r.tail), true,
                      flox::Failure::kUnknown);
  }
  std::optional<StatusLine> out;  // the line that names the recipe, if any
  for (auto& line : porcelain(r.tail)) {
    if (line.path == rel) out = std::move(line);
  }
  bool need_add = false, need_commit = false;
  if (!out && !recipe.replaces.empty()) {
    // tvd's own committed recipe, to be replaced (its paired torch changed): only while nobody
    // changed it since.
    auto now = read_file(recipe.file);
    if (now && *now == recipe.replaces) {
      if (auto st = write_file_atomic(recipe.file, recipe.text, Overwrite::kYes); !st) {
        co_return refused(st.error().message, false, flox::Failure::kUnknown);
      }
      need_add = need_commit = true;
    }
  } else if (!out) {
    if (!std::filesystem::exists(recipe.file)) {
      if (auto st = write_file_atomic(recipe.file, recipe.text, Overwrite::kNo); !st) {
        co_return refused(st.error().message, false, flox::Failure::kUnknown);
      }
      need_add = need_commit = true;
    }
  } else if (out->code == "??" && recipe.ours_on_disk) {
    need_add = need_commit = true;  // tvd's own text, left by an interrupted commit
  } else if (out->code == "??") {
    // Someone's own recipe: tvd commits only what it wrote.
    co_return refused(rel +
                          " is untracked and differs from what tvd generates: tvd commits "
                          "only its own recipes; commit it yourself (git add and git "
                          "commit), or delete it to have tvd generate it, then retry",
                      false, flox::Failure::kNotTracked);
  } else if (out->code == "A ") {
    need_commit = true;
  } else {
    co_return refused(rel + " has uncommitted changes (git status: " + out->code + " " + out->path +
                          "): commit or discard them, then retry",
                      false, flox::Failure::kPublishPrecondition);
  }
  if (need_add) {
    auto a = co_await git(lane, "add", "--", rel);
    if (!a.succeeded()) {
      co_return refused("git add " + rel + " failed: " + flox::telling_line(a.tail), false,
                        flox::Failure::kUnknown);
    }
  }
  // Its companions (tvd's copy of a paired torch recipe), in the same commit: written where they
  // differ, staged, and committed when that changed anything.
  std::vector<std::string> paths = {rel};
  for (const auto& [file, text] : recipe.companions) {
    const std::string crel = file.lexically_relative(lane.config_.env_dir).string();
    auto now = read_file(file);
    if (!now || *now != text) {
      std::filesystem::create_directories(file.parent_path(), ec);
      if (auto st = write_file_atomic(file, text, Overwrite::kYes); !st) {
        co_return refused(st.error().message, false, flox::Failure::kUnknown);
      }
    }
    auto a = co_await git(lane, "add", "--", crel);
    if (!a.succeeded()) {
      co_return refused("git add " + crel + " failed: " + flox::telling_line(a.tail), false,
                        flox::Failure::kUnknown);
    }
    auto staged = co_await git(lane, "diff", "--cached", "--quiet", "--", crel);
    if (!staged.succeeded()) need_commit = true;  // exit 1: it has staged changes
    paths.push_back(crel);
  }
  LaneOutcome done;
  done.ok = true;
  if (!need_commit) co_return done;
  auto c = co_await commit_ours(lane, message, paths);
  if (!c.succeeded()) {
    for (const auto& p : paths)  // unstaged again: nobody's commit takes them
      co_await git(lane, "reset", "-q", "--", p);
    co_return refused("git commit failed: " + lane.git_failure(c), false, flox::Failure::kUnknown);
  }
  done.committed = true;
  if (lane.config_.publishing.push) {
    if (auto stop = co_await push(lane)) {
      stop->committed = true;
      co_return *stop;
    }
  }
  co_return done;
}

asio::awaitable<LaneOutcome> GitLane::Flows::commit_job(GitLane& lane, RecipeFile recipe,
                                                        std::string message) {
  if (lane.cancelled_.erase(recipe.package)) {
    co_return refused("cancelled before its commit started", false, flox::Failure::kCancelled);
  }
  lane.committing_ = recipe.package;
  lane.task_ = "committing the recipe of " + recipe.package;
  auto out = co_await commit(lane, recipe, message);
  lane.committing_.clear();
  co_return out;
}

void GitLane::commit_recipe(const RecipeFile& recipe, std::string message,
                            std::function<void(LaneOutcome)> done) {
  cancelled_.erase(recipe.package);
  Flows::transact<LaneOutcome>(
      *this,
      [this, recipe, message = std::move(message)] {
        return Flows::commit_job(*this, recipe, message);
      },
      std::move(done));
}

std::string GitLane::commit_activity(const std::string& package) const {
  std::string running;
  if (!doing_.empty()) {
    const auto for_s = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::steady_clock::now() - doing_since_)
                           .count();
    running = doing_ + " running for " +
              (for_s < 120 ? std::to_string(for_s) + " s" : std::to_string(for_s / 60) + " min");
    if (doing_ == "git commit") {
      // What runs in a commit besides git is the repository's hooks.
      std::error_code ec;
      const auto hooks = config_.env_dir / ".git" / "hooks";
      std::string names;
      for (const char* h : {"pre-commit", "prepare-commit-msg", "commit-msg", "post-commit"}) {
        if (std::filesystem::exists(hooks / h, ec))
          names += std::string(names.empty() ? "" : ", ") + h;
      }
      if (!names.empty()) running += " (the repository's " + names + " hook runs in it)";
    }
  }
  if (committing_ == package) {
    return "committing its recipe" + (running.empty() ? std::string() : ": " + running);
  }
  std::string what = task_.empty() ? std::string("starting") : task_;
  if (!running.empty()) what += ": " + running;
  return "waiting for the git lane to commit its recipe (" + std::to_string(queue_.size()) +
         " transaction(s) wait; now " + what + ")";
}

void GitLane::cancel_commit(const std::string& package) {
  if (committing_ == package) {
    if (git_run_) runner_.cancel(*git_run_);  // the transaction ends with that git's failure
    return;
  }
  cancelled_.insert(package);
}

asio::awaitable<std::vector<std::string>> GitLane::Flows::recover(GitLane& lane,
                                                                  std::vector<RecipeFile> ours) {
  std::vector<std::string> committed;  // packages
  co_await check_identity(lane);
  co_await clean_worktrees(lane);
  auto r = co_await git(lane, "status", "--porcelain", "--untracked-files=all", "--", ".flox/pkgs");
  std::vector<std::string> pending;  // relative paths to commit
  for (const auto& line : r.succeeded() ? porcelain(r.tail) : std::vector<StatusLine>{}) {
    if (line.code != "??" && line.code != "A ") continue;
    for (const auto& o : ours) {
      if (".flox/pkgs/" + o.file.filename().string() == line.path) pending.push_back(line.path);
    }
  }
  for (const auto& rel : pending) {
    const std::string pkg = std::filesystem::path(rel).stem().string();
    auto a = co_await git(lane, "add", "--", rel);
    if (!a.succeeded()) {
      log::warning("recovery: git add " + rel + " failed: " + flox::telling_line(a.tail));
      co_return committed;
    }
    std::vector<std::string> recovered;
    recovered.push_back(rel);
    auto c = co_await commit_ours(lane, "Add " + pkg + " (its commit was interrupted)", recovered);
    if (!c.succeeded()) {
      log::warning("recovery: git commit failed: " + flox::telling_line(c.tail));
      co_return committed;
    }
    committed.push_back(pkg);
  }
  if (lane.config_.publishing.push && !committed.empty()) {
    if (auto stop = co_await push(lane)) {  // a publish pushes again
      log::warning("recovery: the recovered commits are not pushed: " + stop->reason);
    }
  }
  co_return committed;
}

void GitLane::remove_stale_index_lock() {
  const auto lock = config_.env_dir / ".git" / "index.lock";
  std::error_code ec;
  if (std::filesystem::exists(lock, ec) && !exec::held_open(lock)) {
    std::filesystem::remove(lock, ec);
    log::warning(ec ? "cannot remove the stale " + lock.string() + ": " + ec.message()
                    : "removed " + lock.string() + ", left by an interrupted git command");
  }
}

void GitLane::recover(std::vector<RecipeFile> ours,
                      std::function<void(std::vector<std::string>)> done) {
  // A crash of tvd during a git command leaves .git/index.lock, and every later git command
  // fails until it is gone. At start nothing of tvd's runs git here (one daemon per checkout), so
  // a lock that no process holds open is that leftover.
  end_orphans();
  remove_stale_index_lock();
  // Ahead of everything already queued.
  Flows::transact<std::vector<std::string>>(
      *this,
      [this, ours = std::move(ours)] {
        task_ = "finishing what a stop of tvd cut short";
        return Flows::recover(*this, ours);
      },
      std::move(done), /*first=*/true);
}

}  // namespace tvd::flox
