#include "daemon/exec/supervisor.h"

#include <unistd.h>

#include <map>
#include <system_error>

#include "daemon/base/lines.h"

namespace tvd::exec {

std::filesystem::path status_path(const std::filesystem::path& log) {
  return log.string() + ".status";
}

namespace {

constexpr std::string_view kEndings[] = {"exited", "signaled",  "timed-out",
                                         "silent", "cancelled", "failed-to-start"};

std::string_view ending_word(Ending e) {
  return kEndings[static_cast<size_t>(e)];
}

std::optional<uint64_t> number_of(const std::map<std::string, std::string, std::less<>>& kv,
                                  std::string_view key) {
  auto it = kv.find(key);
  if (it == kv.end() || it->second.empty()) return std::nullopt;
  uint64_t n = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

std::string format_status(const RunResult& r) {
  std::string error = r.error;
  for (char& c : error)
    if (c == '\n') c = ' ';
  // "end" last: a status without it was cut short.
  return "ending " + std::string(ending_word(r.ending)) + "\nexit_code " +
         std::to_string(r.exit_code < 0 ? 0 : r.exit_code) + "\nsignal " +
         std::to_string(r.signal) + "\nduration_ms " + std::to_string(r.duration.count()) +
         "\npeak_group_rss " + std::to_string(r.peak_group_rss) + "\nhost_used_at_start " +
         std::to_string(r.host_used_at_start) + "\nhost_peak_used " +
         std::to_string(r.host_peak_used) + "\noutput_bytes " + std::to_string(r.output_bytes) +
         "\nlog_truncated " + (r.log_truncated ? "1" : "0") + "\nerror " + error + "\nend\n";
}

std::optional<RunResult> parse_status(std::string_view text) {
  std::map<std::string, std::string, std::less<>> kv;
  bool ended = false;
  for (auto line : lines_of(text)) {
    if (line == "end") {
      ended = true;
      break;
    }
    auto sp = line.find(' ');
    if (sp == std::string_view::npos) continue;
    kv.emplace(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
  }
  if (!ended) return std::nullopt;
  RunResult r;
  auto ending = kv.find("ending");
  if (ending == kv.end()) return std::nullopt;
  bool known = false;
  for (size_t i = 0; i < std::size(kEndings); ++i) {
    if (ending->second == kEndings[i]) {
      r.ending = static_cast<Ending>(i);
      known = true;
    }
  }
  auto exit_code = number_of(kv, "exit_code");
  auto signal = number_of(kv, "signal");
  auto duration = number_of(kv, "duration_ms");
  if (!known || !exit_code || !signal || !duration) return std::nullopt;
  r.exit_code = r.ending == Ending::kExited ? static_cast<int>(*exit_code) : -1;
  r.signal = static_cast<int>(*signal);
  r.duration = std::chrono::milliseconds(*duration);
  r.peak_group_rss = number_of(kv, "peak_group_rss").value_or(0);
  r.host_used_at_start = number_of(kv, "host_used_at_start").value_or(0);
  r.host_peak_used = number_of(kv, "host_peak_used").value_or(0);
  r.output_bytes = number_of(kv, "output_bytes").value_or(0);
  r.log_truncated = number_of(kv, "log_truncated").value_or(0) != 0;
  if (auto e = kv.find("error"); e != kv.end()) r.error = e->second;
  return r;
}

std::filesystem::path find_supervisor() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const auto& candidate :
       {self.parent_path() / "tvd-run", self.parent_path() / ".." / "lib" / "tvd" / "tvd-run"}) {
    if (::access(candidate.c_str(), X_OK) == 0) {
      return std::filesystem::weakly_canonical(candidate, ec);
    }
  }
  return {};
}

std::vector<std::string> supervisor_argv(const std::filesystem::path& supervisor,
                                         const std::filesystem::path& exe, const RunSpec& spec,
                                         std::chrono::milliseconds grace) {
  std::vector<std::string> argv{supervisor.string(),
                                "--log",
                                spec.log.string(),
                                "--limit",
                                std::to_string(spec.log_limit),
                                "--wall",
                                std::to_string(spec.wall_timeout.count()),
                                "--silence",
                                std::to_string(spec.silence_timeout.count()),
                                "--sample-ms",
                                std::to_string(spec.sample_every.count()),
                                "--grace-ms",
                                std::to_string(grace.count())};
  if (spec.sync_log) argv.push_back("--sync");
  if (!spec.stdin_file.empty()) {
    argv.push_back("--stdin");
    argv.push_back(spec.stdin_file.string());
  }
  argv.push_back("--exe");
  argv.push_back(exe.string());
  argv.push_back("--");
  argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
  return argv;
}

}  // namespace tvd::exec
