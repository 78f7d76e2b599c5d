#include "daemon/exec/classify.h"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "daemon/base/units.h"

namespace tvd::exec {

const char* to_string(Failure f) {
  switch (f) {
    case Failure::kNone:
      return "none";
    case Failure::kCancelled:
      return "cancelled";
    case Failure::kTimeout:
      return "timeout";
    case Failure::kSilence:
      return "silence";
    case Failure::kKilled:
      return "killed";
    case Failure::kOutOfMemory:
      return "out-of-memory";
    case Failure::kNetwork:
      return "network";
    case Failure::kCollision:
      return "collision";
    case Failure::kNotTracked:
      return "not-tracked";
    case Failure::kNotLoggedIn:
      return "not-logged-in";
    case Failure::kPublishPrecondition:
      return "publish-precondition";
    case Failure::kEvaluation:
      return "evaluation";
    case Failure::kBuildError:
      return "build-error";
    case Failure::kStartFailure:
      return "start-failure";
    case Failure::kUnknown:
      return "unknown";
  }
  return "?";
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
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < tail.size()) {
    size_t end = tail.find('\n', pos);
    if (end == std::string_view::npos) end = tail.size();
    lines.push_back(tail.substr(pos, end - pos));
    pos = end + 1;
  }
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (lower(*it).find("error") != std::string::npos) return trim(*it);
  }
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (!trim(*it).empty()) return trim(*it);
  }
  return {};
}

Verdict classify(const RunResult& r, Phase phase) {
  if (r.succeeded()) return {Failure::kNone, false, ""};
  switch (r.ending) {
    case Ending::kFailedToStart:
      return {Failure::kStartFailure, false, "could not start: " + r.error};
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

  const std::string text = lower(r.tail);
  const std::string line = telling_line(r.tail);
  auto with = [&](std::string what) { return line.empty() ? what : what + ": " + line; };

  if (has_any(text, {"does not appear to be tracked by git"})) {
    return {Failure::kNotTracked, false,
            with("flox sees the recipe as untracked; it must be committed (git add) first")};
  }
  if (has_any(text,
              {"not logged in", "flox auth login", "floxhub_token", "authentication failed"})) {
    return {Failure::kNotLoggedIn, false,
            with("not logged in to FloxHub: give the service FLOX_FLOXHUB_TOKEN")};
  }
  if (has_any(text, {"out of memory", "cannot allocate memory", "std::bad_alloc",
                     "virtual memory exhausted", "oom-kill", "signal 9 (killed)",
                     "killed by signal 9", "exit code 137"})) {
    return {Failure::kOutOfMemory, true, with("out of memory")};
  }
  if (has_any(text,
              {"could not resolve", "temporary failure in name resolution", "connection refused",
               "connection timed out", "connection reset", "network is unreachable",
               "unable to download", "http error 5", "tls handshake"})) {
    return {Failure::kNetwork, true, with("network trouble")};
  }
  if (has_any(text, {"already running", "is locked by another", "collides with"})) {
    return {Failure::kCollision, true, with("another build of the same package was running")};
  }
  if (phase == Phase::kPublish && has_any(text, {"untracked", "uncommitted", "not pushed",
                                                 "no upstream", "manifest.lock", "dirty"})) {
    return {Failure::kPublishPrecondition, false, with("flox publish refused")};
  }
  if (has_any(text, {"error: undefined variable", "error: attribute", "syntax error",
                     "while evaluating", "cannot coerce", "infinite recursion", "error: function",
                     "called without required argument"})) {
    return {Failure::kEvaluation, false, with("the recipe does not evaluate")};
  }
  if (has_any(text, {"error: builder for", "failed with exit code", "build failed"})) {
    return {Failure::kBuildError, false, with("the build failed")};
  }
  return {Failure::kUnknown, false, with("exit code " + std::to_string(r.exit_code))};
}

}  // namespace tvd::exec
