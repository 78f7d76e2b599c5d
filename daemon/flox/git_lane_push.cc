// The commits tvd makes and the only ones it pushes: each commit carries a Tvd-Commit trailer
// with a mark written down before it is made, its id is recorded once made
// (GitLaneConfig::made_commits), and a push goes only when every commit ahead of the upstream is
// one of them; when the upstream moved, tvd's commits are rebased onto it and pushed again.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "daemon/base/file.h"
#include "daemon/base/lines.h"
#include "daemon/base/log.h"
#include "daemon/flox/git_lane.h"
#include "daemon/flox/git_lane_flows.h"
#include "daemon/flox/lane_text.h"

namespace tvd::flox {

using lane::first_lines;
using lane::refused;

void GitLane::load_made() {
  if (config_.made_commits.empty()) return;
  auto text = read_file(config_.made_commits);
  if (!text) return;  // none yet
  for (auto line : lines_of(*text)) {
    if (line.size() == 40) made_.insert(std::string(line));
    if (line.rfind("pending ", 0) == 0) pending_.insert(std::string(line.substr(8)));
  }
}

void GitLane::record_made(const std::string& line) {
  if (config_.made_commits.empty()) return;
  // Synced: a commit tvd made and forgot would block every later push until a person pushes it.
  UniqueFd fd(
      ::open(config_.made_commits.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  const std::string text = line + "\n";
  if (fd.get() < 0 ||
      ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::fsync(fd.get()) != 0) {
    log::warning("cannot record tvd's commit (" + line + ") in " + config_.made_commits.string() +
                 ": " + std::strerror(errno) +
                 "; after a restart it is not pushed until a "
                 "person does");
  }
}

void GitLane::remember_made(const std::string& id) {
  if (made_.insert(id).second) record_made(id);
}

std::string GitLane::remember_pending() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string nonce;
  for (int i = 0; i < 16; ++i)
    nonce += kHex[rd() % 16];
  pending_.insert(nonce);
  record_made("pending " + nonce);
  return nonce;
}

void GitLane::forget_made() {
  made_.clear();
  pending_.clear();
  if (config_.made_commits.empty()) return;
  std::error_code ec;
  if (std::filesystem::exists(config_.made_commits, ec)) {
    std::filesystem::resize_file(config_.made_commits, 0, ec);
  }
}

namespace {

// The trailer of each commit tvd makes, with the mark it wrote down before making it.
constexpr std::string_view kCommitTrailer = "Tvd-Commit";

// The id in git commit's summary line, "[BRANCH (root-commit) ID] subject", printed in full with
// core.abbrev=40; empty when there is none (a hook's output pushed it out of the tail).
std::string committed_id(const std::string& output) {
  for (auto line : lines_of(output)) {
    if (line.empty() || line.front() != '[') continue;
    const auto close = line.find("] ");
    if (close == std::string_view::npos || close < 41) continue;
    const auto id = line.substr(close - 40, 40);
    if (line[close - 41] == ' ' &&
        id.find_first_not_of("0123456789abcdef") == std::string_view::npos) {
      return std::string(id);
    }
  }
  return {};
}

}  // namespace

asio::awaitable<exec::RunResult> GitLane::Flows::commit_ours(GitLane& lane, std::string message,
                                                             std::vector<std::string> paths) {
  // Marked before it is made: a crash between the commit and the record of its id leaves the
  // commit's trailer naming a mark tvd wrote down first (unpushed_are_ours()).
  const std::string mark = lane.remember_pending();
  std::vector<std::string> args = {"-c",
                                   "core.abbrev=40",
                                   "commit",
                                   "-m",
                                   message,
                                   "-m",
                                   std::string(kCommitTrailer) + ": " + mark,
                                   "--"};
  args.insert(args.end(), paths.begin(), paths.end());
  auto c = co_await git_argv(lane, std::move(args));
  if (!c.succeeded()) co_return c;
  std::string id = committed_id(c.tail);
  if (id.empty()) {
    auto head = co_await git(lane, "rev-parse", "HEAD");
    if (head.succeeded()) id = std::string(first_lines(head.tail, 1));
    while (!id.empty() && (id.back() == '\n' || id.back() == ' '))
      id.pop_back();
  }
  if (id.size() == 40) lane.remember_made(id);
  co_return c;
}

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

asio::awaitable<Stop> GitLane::Flows::unpushed_are_ours(GitLane& lane) {
  // What a push would send: every commit ahead of the upstream, each tvd's own or none goes.
  auto ahead = co_await git(lane, "log",
                            "--format=%H%x09%(trailers:key=" + std::string(kCommitTrailer) +
                                ",valueonly,separator=%x2C)%x09%s",
                            "@{u}..HEAD");
  if (!ahead.succeeded()) co_return lane.push_refused(flox::classify_push(ahead.tail));
  std::vector<std::string> foreign;
  for (auto line : lines_of(ahead.tail)) {
    const auto tab = line.find('\t');
    const auto tab2 = tab == std::string_view::npos ? tab : line.find('\t', tab + 1);
    if (line.size() < 40 || tab != 40 || tab2 == std::string_view::npos) continue;
    const std::string id(line.substr(0, 40));
    const std::string mark(line.substr(tab + 1, tab2 - tab - 1));
    if (lane.made_.count(id)) continue;
    if (!mark.empty() && lane.pending_.count(mark)) {
      lane.remember_made(id);  // made by tvd; its id was not recorded before a crash
      continue;
    }
    foreign.push_back(id.substr(0, 12) + " \"" + std::string(line.substr(tab2 + 1)) + "\"");
  }
  if (foreign.empty()) co_return std::nullopt;
  std::string list;
  for (size_t i = 0; i < foreign.size() && i < 5; ++i)
    list += (i ? ", " : "") + foreign[i];
  if (foreign.size() > 5) list += " and " + std::to_string(foreign.size() - 5) + " more";
  co_return refused(
      "tvd pushes only the commits it made, and " + lane.config_.env_dir.string() + " has " +
          std::to_string(foreign.size()) + " unpushed commit(s) it did not make: " + list +
          ". Push them yourself if they belong upstream ('git push'), or move them to a branch "
          "of their own ('git branch my-work', then 'git reset --keep @{u}': tvd commits its "
          "recipes again), then retry",
      false, flox::Failure::kPublishPrecondition);
}

asio::awaitable<Stop> GitLane::Flows::push(GitLane& lane) {
  if (auto stop = co_await unpushed_are_ours(lane)) co_return stop;
  auto r = co_await git(lane, "push", "-q");
  if (r.succeeded()) {
    lane.forget_made();
    co_return std::nullopt;
  }
  const auto verdict = flox::classify_push(r.tail);
  if (verdict.failure != flox::Failure::kCollision) co_return lane.push_refused(verdict);
  // The upstream moved (another build host, or a person pushed): fetch it, put tvd's unpushed
  // commits (all of them tvd's, checked above) on top of it, push again.
  auto f = co_await git(lane, "fetch", "-q");
  if (!f.succeeded()) {
    co_return refused("the upstream moved and git fetch failed: " + flox::telling_line(f.tail),
                      true, flox::Failure::kNetwork);
  }
  if (auto stop = co_await unpushed_are_ours(lane)) co_return stop;
  auto rb = co_await git(lane, "rebase", "-q", "@{u}");
  if (rb.succeeded()) {
    // The rebased commits are tvd's under new ids.
    auto moved = co_await git(lane, "log", "--format=%H", "@{u}..HEAD");
    for (auto line : moved.succeeded() ? lines_of(moved.tail) : std::vector<std::string_view>{}) {
      if (line.size() == 40) lane.remember_made(std::string(line));
    }
    auto p = co_await git(lane, "push", "-q");
    if (!p.succeeded()) co_return lane.push_refused(flox::classify_push(p.tail));
    lane.forget_made();
    co_return std::nullopt;
  }
  auto d = co_await git(lane, "diff", "--name-only", "--diff-filter=U");
  std::string paths;
  for (char c : d.tail)
    paths += c == '\n' ? ' ' : c;
  while (!paths.empty() && paths.back() == ' ')
    paths.pop_back();
  co_await git(lane, "rebase", "--abort");
  co_return refused("the upstream moved and changes what tvd's commit changes (conflict in " +
                        (paths.empty() ? std::string("?") : paths) +
                        "): tvd's commit is kept unpushed; in " + lane.config_.env_dir.string() +
                        " run 'git pull --rebase', resolve, push, then retry the job",
                    false, flox::Failure::kPublishPrecondition);
}

}  // namespace tvd::flox
