// A lane with no git: recipe commits end as a table says (by package; the n-th commit takes the
// n-th outcome, the last repeats; by default they succeed), and a publish runs `flox publish`
// through the runner, so that the runner's table scripts it and cancelling works as on a real
// lane; its result is read by flox's own classification.
//
// Where it differs from the git lane (flox/git_lane.h), on purpose:
// - commits do not wait for each other: each takes `commit_takes_` from when it is asked (the git
//   lane runs one transaction at a time). The engine's tests time builds, not the lane's queue;
//   the lane's own order is tested with real git in flox/git_lane_test.cc.
// - a publish does not hold the lane for its checks: busy() is true only while commits run (the
//   git lane is busy while a publish's checks run, and a cancel then waits for them).
// - recover() commits nothing and reports nothing (the git lane commits tvd's own recipes left
//   uncommitted); recovery is tested on the git lane and end to end (tests/integration).
// - cancel_commit() is Lane's no-op: a cancelled job's commit ends when its table says (the git
//   lane stops that commit's git); tested end to end in tests/integration/lane_test.cc.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "daemon/exec/runner.h"
#include "daemon/flox/lane.h"
#include "tests/support/fake_clock.h"

namespace tvd::testing {

class FakeLane : public flox::Lane {
 public:
  FakeLane(FakeClock& clock, exec::Runner& runner) : clock_(clock), runner_(runner) {}

  void script_commit(std::string package, std::vector<flox::LaneOutcome> outcomes) {
    commits_table_[std::move(package)] = std::move(outcomes);
  }
  void set_commit_time(std::chrono::milliseconds t) { commit_takes_ = t; }

  void commit_recipe(const flox::RecipeFile& recipe, std::string message,
                     std::function<void(flox::LaneOutcome)> done) override;
  void publish(const std::string& package, const std::string& pinned_rev, std::filesystem::path log,
               std::function<void(flox::LaneOutcome)> done,
               std::function<void(exec::RunId, const std::string& rev)> started) override;
  void recover(std::vector<flox::RecipeFile> ours,
               std::function<void(std::vector<std::string>)> done) override;
  bool busy() const override { return committing_ > 0; }
  void set_publishing(const flox::PublishSettings& s) override { settings_ = s; }

  // What was asked, in order: "commit PKG", "publish PKG@REV".
  const std::vector<std::string>& asked() const { return asked_; }
  const flox::PublishSettings& settings() const { return settings_; }

 private:
  FakeClock& clock_;
  exec::Runner& runner_;
  std::map<std::string, std::vector<flox::LaneOutcome>> commits_table_;
  std::map<std::string, size_t> commits_used_;
  std::chrono::milliseconds commit_takes_{std::chrono::seconds(2)};
  int committing_ = 0;
  int revisions_ = 0;
  flox::PublishSettings settings_;
  std::vector<std::string> asked_;
};

}  // namespace tvd::testing
