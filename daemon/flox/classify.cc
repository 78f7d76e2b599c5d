#include "daemon/flox/classify.h"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "daemon/base/lines.h"
#include "daemon/base/units.h"

namespace tvd::flox {

using exec::Ending;
using exec::RunResult;

const char* to_string(Failure f) {
  return kFailures.name(f).data();
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has_any(const std::string& text, std::initializer_list<const char*> needles) {
  return std::any_of(needles.begin(), needles.end(),
                     [&](const char* n) { return text.find(n) != std::string::npos; });
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  std::string out(s);
  if (out.size() > 240) out = out.substr(0, 237) + "...";
  return out;
}

}  // namespace

std::string telling_line(std::string_view tail) {
  const auto lines = lines_of(tail);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (lower(*it).find("error") != std::string::npos) return trim(*it);
  }
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (!trim(*it).empty()) return trim(*it);
  }
  return {};
}

FloxOutput read_flox_output(std::string_view tail) {
  FloxOutput out;
  const auto lines = lines_of(tail);
  constexpr std::string_view kFloxError = "✘ ERROR: ";
  constexpr std::string_view kCannotBuild = "error: Cannot build '";
  std::string pending_drv;  // the derivation of the last "Cannot build" line
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string line = trim(lines[i]);
    if (line.rfind("! ", 0) == 0) continue;  // flox's warnings never decide
    out.meaningful += line + "\n";
    const std::string low = lower(line);
    if (line.rfind(kFloxError, 0) == 0) {
      out.flox_error = line.substr(kFloxError.size());
      // flox's own words for a request that failed (the base catalog's), before "Build failed".
      if (out.network_line.empty() && has_any(low, {"error sending request",
                                                    "could not get information about the base "
                                                    "catalog",
                                                    "failed to get the base catalog"})) {
        out.network_line = out.flox_error;
      }
      continue;
    }
    if (line.rfind(kCannotBuild, 0) == 0) {
      // Nix (libstore): "Cannot build '/nix/store/HASH-NAME.drv'." then "Reason: ...".
      std::string drv = line.substr(kCannotBuild.size());
      drv = drv.substr(0, drv.find('\''));
      auto dash = drv.find('-', drv.rfind('/') + 1);
      pending_drv = dash == std::string::npos ? drv : drv.substr(dash + 1);
      if (pending_drv.size() > 4 && pending_drv.compare(pending_drv.size() - 4, 4, ".drv") == 0)
        pending_drv.resize(pending_drv.size() - 4);
      continue;
    }
    if (line.rfind("Reason: ", 0) == 0 && !pending_drv.empty()) {
      std::string why = line.substr(8);
      if (!why.empty() && why.back() == '.') why.pop_back();
      // The first derivation that failed itself; its dependents only say "dependency failed".
      if (out.nix_reason.empty() && why.find("dependency failed") == std::string::npos &&
          why.find("dependencies failed") == std::string::npos) {
        out.nix_reason = pending_drv + ": " + why;
      }
      continue;
    }
    // A compiler's error in the builder's log (nix build -L prefixes "name> ", Nix's summary
    // "> "): the first one is what broke.
    if (out.compiler_error.empty() && low.find("error:") != std::string::npos &&
        (line.rfind("> ", 0) == 0 || line.find("> ") != std::string::npos) &&
        line.rfind("error:", 0) != 0) {
      out.compiler_error = trim(line.substr(line.find("> ") + 2));
    }
    if (out.network_line.empty() &&
        has_any(low, {"unable to download", "couldn't resolve", "could not resolve",
                      "error sending request", "unable to upload", "connection refused"})) {
      out.network_line = line.rfind(kFloxError, 0) == 0 ? line.substr(kFloxError.size()) : line;
    }
    // Older Nix: "error: builder for '/nix/store/HASH-NAME.drv' failed with exit code 2;".
    if (line.rfind("error: builder for '", 0) == 0) {
      if (out.nix_reason.empty()) {
        std::string why = line.substr(7);
        while (!why.empty() && (why.back() == ';' || why.back() == '.'))
          why.pop_back();
        out.nix_reason = why;
      }
      out.last_error = line;
      continue;
    }
    // Nix's evaluation errors: "error: MESSAGE" (possibly after "error:" and "… while ..."
    // frames), then "at FILE:LINE:COL:". The innermost message is the last one.
    if (line.rfind("error: ", 0) == 0 && line.rfind(kCannotBuild, 0) != 0) {
      out.last_error = line;
      std::string where;
      if (i + 1 < lines.size() && trim(lines[i + 1]).rfind("at ", 0) == 0)
        where = " " + trim(lines[i + 1]);
      out.eval_error = line.substr(7) + where;
      if (!where.empty() && where.back() == ':') out.eval_error.pop_back();
    }
  }
  if (!out.nix_reason.empty()) out.eval_error.clear();  // a build ran: not an evaluation error
  return out;
}

Verdict classify(const RunResult& r, Phase phase) {
  if (r.succeeded()) return {Failure::kNone, false, ""};
  switch (r.ending) {
    case Ending::kFailedToStart:
      // The host's trouble, not the recipe's: a full or read-only log disk, too many processes
      // may be gone by the next try; a missing program is not, and fails after its tries.
      return {Failure::kStartFailure, true, "could not start: " + r.error};
    case Ending::kCancelled:
      return {Failure::kCancelled, false, "cancelled"};
    case Ending::kTimedOut:
      return {Failure::kTimeout, true,
              "killed after running for " +
                  format_duration(std::chrono::duration_cast<std::chrono::seconds>(r.duration)) +
                  ", the wall-clock limit"};
    case Ending::kSilent:
      return {Failure::kSilence, true,
              "killed after printing nothing for too long (silence limit)"};
    case Ending::kSignaled: {
      std::string name = ::sigabbrev_np(r.signal) ? std::string("SIG") + ::sigabbrev_np(r.signal)
                                                  : "signal " + std::to_string(r.signal);
      if (r.signal == SIGKILL) {
        return {Failure::kOutOfMemory, true,
                "killed by SIGKILL, not by tvd: most likely the kernel's OOM killer"};
      }
      return {Failure::kKilled, true, "killed by " + name + ", not by tvd"};
    }
    case Ending::kExited:
      break;
  }

  const FloxOutput out = read_flox_output(r.tail);
  const std::string text = lower(out.meaningful);
  auto with = [&](std::string what, const std::string& line) {
    return line.empty() ? what : what + ": " + line;
  };
  const std::string flox_line = out.flox_error.empty() ? "" : "flox: " + out.flox_error;

  if (has_any(text, {"does not appear to be tracked by git"})) {
    return {
        Failure::kNotTracked, false,
        with("flox sees the recipe as untracked; it must be committed (git add) first", flox_line)};
  }
  // Only flox's own error decides this: the warning every command prints without credentials
  // ("! You are not logged in to FloxHub. ...") was dropped with the other warnings.
  if (out.flox_error.rfind("You are not logged in to FloxHub", 0) == 0 ||
      out.flox_error.rfind("Your FloxHub token has expired", 0) == 0) {
    return {Failure::kNotLoggedIn, false,
            "not logged in to FloxHub: " + out.flox_error +
                " (give the service FLOX_FLOXHUB_TOKEN, floxhub_token in flox.toml, or run "
                "'flox auth login' as its user)"};
  }
  // flox publish asks the upstream itself whether HEAD is there (`git fetch --negotiate-only`,
  // flox sdk/publish.rs:1137-1142) and quotes git's failure: git's words decide, as for a push.
  // A repository that is gone or not visible to these credentials is the checkout's to fix; the
  // network is worth another try (below).
  if (phase == Phase::kPublish) {
    constexpr std::string_view kAsked = "Failed to check whether local revision exists on remote";
    if (const auto at = r.tail.find(kAsked); at != std::string::npos) {
      std::string asked = r.tail.substr(at);  // flox quotes git's stderr as "  stderr: ..."
      for (auto pos = asked.find("  stderr: "); pos != std::string::npos;
           pos = asked.find("  stderr: ", pos))
        asked.erase(pos, 10);
      const Verdict git_said = classify_push(asked);
      if (!git_said.transient) {
        return {
            git_said.failure, false,
            "flox publish could not ask the upstream whether HEAD is pushed: " + git_said.reason +
                " (check 'git remote -v' and the branch's upstream in the checkout, then "
                "retry the job)"};
      }
    }
  }
  if (!out.nix_reason.empty() && out.nix_reason.find("signal 9") != std::string::npos) {
    return {Failure::kOutOfMemory, true,
            out.nix_reason + ": killed, most likely by the kernel's OOM killer"};
  }
  if (has_any(text, {"out of memory", "cannot allocate memory", "std::bad_alloc",
                     "virtual memory exhausted", "oom-kill", "killed by signal 9",
                     "signal 9 (killed)", "exit code 137"})) {
    return {Failure::kOutOfMemory, true, with("out of memory", out.last_error)};
  }
  // Every build asks FloxHub's catalog and prefetches nixpkgs: failures there are transient.
  if (has_any(text, {"could not resolve", "couldn't resolve host", "temporary failure in name",
                     "connection refused", "connection timed out", "connection reset",
                     "network is unreachable", "unable to download", "http error 5",
                     "tls handshake", "error sending request", "failed to get the base catalog",
                     "unable to upload", "could not get information about the base catalog",
                     "failed to check whether local revision exists"})) {
    return {Failure::kNetwork, true,
            with("network trouble", out.network_line.empty() ? flox_line : out.network_line)};
  }
  if (has_any(text, {"already running", "is locked by another", "collides with"})) {
    return {Failure::kCollision, true,
            with("another build of the same package was running", flox_line)};
  }
  // The upload reads the signing key (nix copy --to URL?secret-key=PATH), after the build: a key
  // it cannot open is the configuration's fault, not the network's (flox sdk/publish.rs:422-475).
  if (phase == Phase::kPublish && has_any(text, {"failed to upload to cache"}) &&
      has_any(text, {"opening file", "secret-key", "signing key"})) {
    return {Failure::kPublishPrecondition, false,
            with("flox publish could not read the signing key (publish.signing_key must be "
                 "readable by tvd's user; the build ran, the upload did not)",
                 flox_line)};
  }
  // A catalog with its own store takes only signed uploads, and only the catalog says which kind
  // it has, in its answer after the build (flox sdk/publish.rs:785-808).
  if (phase == Phase::kPublish && has_any(text, {"a signing key is required to upload"})) {
    return {Failure::kPublishPrecondition, false,
            with("the catalog keeps its own store and takes only signed uploads: set "
                 "publish.signing_key in tvd's config to the catalog's signing key (the build "
                 "ran, the upload did not)",
                 flox_line)};
  }
  // flox 1.14.1 wraps its repository checks as "The environment is in an unsupported state for
  // publishing: ..." (sdk/publish.rs:67); the untracked recipe's and the lockfile's come without.
  if (phase == Phase::kPublish &&
      has_any(text, {"unsupported state for publishing", "untracked", "uncommitted", "not pushed",
                     "no upstream", "manifest.lock", "dirty", "must be locked",
                     "not tracked by git", "must be clean", "not present on remote",
                     "not found on any remote", "at least one remote"})) {
    return {Failure::kPublishPrecondition, false, with("flox publish refused", flox_line)};
  }
  if (!out.nix_reason.empty()) {
    std::string reason = out.nix_reason;
    if (!out.compiler_error.empty()) reason += " (" + out.compiler_error + ")";
    return {Failure::kBuildError, false, reason};
  }
  if (!out.eval_error.empty()) {
    return {Failure::kEvaluation, false, "the recipe does not evaluate: " + out.eval_error};
  }
  if (has_any(text, {"error: undefined variable", "error: attribute", "syntax error",
                     "invalid nix syntax", "failed to compute the catalog lock",
                     "infinite recursion", "called without required argument"})) {
    return {Failure::kEvaluation, false, with("the recipe does not evaluate", out.last_error)};
  }
  if (has_any(text, {"error: builder for", "failed with exit code"})) {
    return {Failure::kBuildError, false, with("the build failed", out.last_error)};
  }
  const std::string& line = !out.last_error.empty() ? out.last_error : flox_line;
  return {Failure::kUnknown, false, with("exit code " + std::to_string(r.exit_code), line)};
}

std::optional<std::string> lost_builder(std::string_view tail) {
  static constexpr std::string_view kSigns[] = {
      "cannot build on '", "Failed to find a machine for remote build!",
      "unable to start any build; either increase '--max-jobs' or enable remote builds",
      "unexpected end-of-file"};
  size_t start = 0;
  while (start < tail.size()) {
    size_t end = tail.find('\n', start);
    if (end == std::string_view::npos) end = tail.size();
    const std::string_view line = tail.substr(start, end - start);
    for (auto sign : kSigns) {
      if (line.find(sign) != std::string_view::npos) {
        const auto text = line.find_first_not_of(' ');
        return std::string(line.substr(text == std::string_view::npos ? 0 : text));
      }
    }
    start = end + 1;
  }
  return std::nullopt;
}

Verdict classify_push(std::string_view tail) {
  std::vector<std::string> lines;
  for (auto line : lines_of(tail))
    lines.push_back(trim(line));
  auto line_with = [&](std::string_view what) -> std::string {
    for (const auto& l : lines)
      if (l.find(what) != std::string::npos) return l;
    return {};
  };
  // What the remote itself said ("remote: pushes to main need a review").
  std::string remote;
  for (const auto& l : lines) {
    if (l.rfind("remote:", 0) != 0) continue;
    auto said = trim(std::string_view(l).substr(7));
    if (!said.empty()) remote += (remote.empty() ? "" : "; ") + said;
  }
  if (auto l = line_with("[remote rejected]"); !l.empty()) {
    auto open = l.rfind('('), close = l.rfind(')');
    std::string why = open != std::string::npos && close > open
                          ? l.substr(open + 1, close - open - 1)
                          : std::string("rejected");
    return {Failure::kPublishPrecondition, false,
            "the upstream refused the push: " + why + (remote.empty() ? "" : " (" + remote + ")")};
  }
  if (!line_with("[rejected]").empty() || !line_with("non-fast-forward").empty() ||
      !line_with("fetch first").empty()) {
    return {Failure::kCollision, true, "the upstream moved: " + line_with("[rejected]")};
  }
  if (auto l = line_with("does not appear to be a git repository"); !l.empty()) {
    return {Failure::kPublishPrecondition, false, "the upstream does not exist: " + l};
  }
  if (auto l = line_with("fatal: repository '");
      !l.empty() && l.find("not found") != std::string::npos) {
    return {Failure::kPublishPrecondition, false,
            "the upstream does not exist, or these credentials may not see it: " + l};
  }
  if (auto l = line_with("Authentication failed"); !l.empty()) {
    return {Failure::kNotLoggedIn, false, "the upstream refused the credentials: " + l};
  }
  if (auto l = line_with("Permission denied (publickey"); !l.empty()) {
    return {Failure::kNotLoggedIn, false, "the upstream refused the SSH key: " + l};
  }
  if (auto l = line_with("has no upstream branch"); !l.empty()) {
    return {Failure::kPublishPrecondition, false, l};
  }
  // The network, or something git did not explain: worth another try. The line that says what
  // went wrong, not git's closing advice ("and the repository exists.").
  std::string said;
  for (const auto& l : lines) {
    if (l.rfind("fatal:", 0) == 0 || l.rfind("error:", 0) == 0 || l.rfind("ssh:", 0) == 0) {
      said = l;
      break;
    }
  }
  if (said.empty()) said = telling_line(tail);
  return {Failure::kNetwork, true, said};
}

}  // namespace tvd::flox
