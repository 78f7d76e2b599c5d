// A runner with no processes, scripted by a table: each row says how the runs whose command line
// contains `match` end (the n-th such run takes the n-th entry, the last one repeats). Runs end on
// the fake clock, write their output to their log and leave the links they are told to, as flox
// build leaves result-PKG. The most specific row (the longest `match`) wins.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/exec/runner.h"
#include "tests/support/fake_clock.h"

namespace tvd::testing {

// How one run ends.
struct FakeRun {
  std::chrono::milliseconds takes{std::chrono::minutes(1)};
  exec::Ending ending = exec::Ending::kExited;
  int exit_code = 0;
  int signal = 0;
  std::string output;  // written to the log; also the tail
  uint64_t peak_group_rss = 0;
  uint64_t host_used_at_start = 0;
  uint64_t host_peak_used = 0;
  // Symlinks it leaves, relative to its working directory, and where they point.
  std::map<std::string, std::string> links;
};

struct Script {
  std::string match;
  std::vector<FakeRun> runs;
};

class FakeRunner : public exec::Runner {
 public:
  struct Call {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;
    service::TimePoint started, ended;
    bool cancelled = false;
    std::string line() const;  // argv joined by spaces
  };

  FakeRunner(FakeClock& clock, std::vector<Script> table = {});

  // Adds a row to the table.
  void script(std::string match, std::vector<FakeRun> runs);

  exec::RunId start(exec::RunSpec spec, std::function<void(const exec::RunResult&)> done) override;
  // Ends the run at once as cancelled, as the real runner does once its group is gone.
  void cancel(exec::RunId id) override;
  std::optional<pid_t> process_group(exec::RunId id) const override;

  const std::vector<Call>& calls() const { return calls_; }
  // Calls whose command line contains `match`.
  size_t count(const std::string& match) const;
  size_t running() const { return live_.size(); }
  // The most runs whose command line contains `match` that ran at one time.
  size_t most_at_once(const std::string& match) const;
  // Command lines no row matched (they ended as "failed to start").
  const std::vector<std::string>& unscripted() const { return unscripted_; }

 private:
  struct Live {
    exec::RunSpec spec;
    FakeRun run;
    size_t call = 0;
    std::function<void(const exec::RunResult&)> done;
  };
  void finish(exec::RunId id, bool cancelled);
  std::optional<size_t> row_for(const std::string& line) const;  // the best row

  FakeClock& clock_;
  std::vector<Script> table_;
  std::vector<size_t> used_;  // runs taken from each row
  std::map<exec::RunId, Live> live_;
  std::vector<Call> calls_;
  std::vector<std::string> unscripted_;
  exec::RunId next_ = 1;
};

}  // namespace tvd::testing
