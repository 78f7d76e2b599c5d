#include "tests/support/fake_runner.h"

#include <algorithm>
#include <fstream>
#include <system_error>

namespace tvd::testing {

std::string FakeRunner::Call::line() const {
  std::string out;
  for (const auto& a : argv)
    out += (out.empty() ? "" : " ") + a;
  return out;
}

FakeRunner::FakeRunner(FakeClock& clock, std::vector<Script> table)
    : clock_(clock), table_(std::move(table)), used_(table_.size(), 0) {}

void FakeRunner::script(std::string match, std::vector<FakeRun> runs) {
  table_.push_back({std::move(match), std::move(runs)});
  used_.push_back(0);
}

std::optional<size_t> FakeRunner::row_for(const std::string& line) const {
  std::optional<size_t> best;
  for (size_t i = 0; i < table_.size(); ++i) {
    const auto& row = table_[i];
    if (line.find(row.match) != std::string::npos && !row.runs.empty() &&
        (!best || row.match.size() > table_[*best].match.size())) {
      best = i;
    }
  }
  return best;
}

exec::RunId FakeRunner::start(exec::RunSpec spec,
                              std::function<void(const exec::RunResult&)> done) {
  const exec::RunId id = next_++;
  Call call{spec.argv, spec.env, clock_.now(), {}, false};
  const std::string line = call.line();
  Live live{std::move(spec), {}, calls_.size(), std::move(done)};
  calls_.push_back(std::move(call));
  if (auto row = row_for(line)) {
    const auto& runs = table_[*row].runs;
    live.run = runs[std::min(used_[*row]++, runs.size() - 1)];
  } else {
    unscripted_.push_back(line);
    live.run = FakeRun{.takes = std::chrono::milliseconds(0),
                       .ending = exec::Ending::kFailedToStart,
                       .exit_code = -1,
                       .output = "no script for: " + line};
  }
  const auto takes = live.run.takes;
  live_.emplace(id, std::move(live));
  clock_.call_at(clock_.now() + takes, [this, id] { finish(id, false); });
  return id;
}

void FakeRunner::cancel(exec::RunId id) {
  if (!live_.count(id)) return;
  clock_.call_at(clock_.now(), [this, id] { finish(id, true); });
}

std::optional<pid_t> FakeRunner::process_group(exec::RunId id) const {
  if (!live_.count(id)) return std::nullopt;
  return static_cast<pid_t>(100000 + id);
}

void FakeRunner::finish(exec::RunId id, bool cancelled) {
  auto it = live_.find(id);
  if (it == live_.end()) return;  // already ended (cancelled, then its time came)
  Live live = std::move(it->second);
  live_.erase(it);
  Call& call = calls_[live.call];
  call.ended = clock_.now();
  call.cancelled = cancelled;
  const FakeRun& run = live.run;
  exec::RunResult r;
  r.ending = cancelled ? exec::Ending::kCancelled : run.ending;
  r.exit_code = cancelled ? -1 : run.exit_code;
  r.signal = cancelled ? 15 : run.signal;
  r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(call.ended - call.started);
  r.pid = r.pgid = static_cast<pid_t>(100000 + id);
  r.peak_group_rss = run.peak_group_rss;
  r.host_used_at_start = run.host_used_at_start;
  r.host_peak_used = run.host_peak_used;
  r.output_bytes = run.output.size();
  r.tail = run.output;
  if (run.ending == exec::Ending::kFailedToStart) r.error = run.output;
  std::error_code ec;
  if (!live.spec.log.empty()) {
    std::filesystem::create_directories(live.spec.log.parent_path(), ec);
    std::ofstream(live.spec.log) << run.output;
  }
  if (!cancelled && run.ending == exec::Ending::kExited) {
    for (const auto& [link, target] : run.links) {
      std::filesystem::remove(live.spec.cwd / link, ec);
      std::filesystem::create_symlink(target, live.spec.cwd / link, ec);
    }
  }
  live.done(r);
}

size_t FakeRunner::count(const std::string& match) const {
  size_t n = 0;
  for (const auto& c : calls_)
    n += c.line().find(match) != std::string::npos;
  return n;
}

}  // namespace tvd::testing

namespace tvd::testing {

size_t FakeRunner::most_at_once(const std::string& match) const {
  // +1 at each start, -1 at each end; an end at the same time as a start comes first.
  std::vector<std::pair<service::TimePoint, int>> edges;
  for (const auto& c : calls_) {
    if (c.line().find(match) == std::string::npos) continue;
    edges.emplace_back(c.started, +1);
    if (c.ended != service::TimePoint{}) edges.emplace_back(c.ended, -1);
  }
  std::sort(edges.begin(), edges.end());
  size_t now = 0, most = 0;
  for (const auto& [at, step] : edges) {
    now += step;
    most = std::max(most, now);
  }
  return most;
}

}  // namespace tvd::testing
