#include "tests/support/fake_lane.h"

namespace tvd::testing {

void FakeLane::commit_recipe(const flox::RecipeFile& recipe, std::string /*message*/,
                             std::function<void(flox::LaneOutcome)> done) {
  const std::string package = recipe.package;
  asked_.push_back("commit " + package);
  flox::LaneOutcome o{.ok = true, .committed = true};
  if (auto it = commits_table_.find(package); it != commits_table_.end() && !it->second.empty()) {
    size_t& n = commits_used_[package];
    o = it->second[std::min(n, it->second.size() - 1)];
    ++n;
  }
  ++committing_;
  clock_.call_at(clock_.now() + commit_takes_, [this, o, done = std::move(done)] {
    --committing_;
    done(o);
  });
}

void FakeLane::publish(const std::string& package, const std::string& pinned_rev,
                       std::filesystem::path log, std::function<void(flox::LaneOutcome)> done,
                       std::function<void(exec::RunId, const std::string& rev)> started) {
  const std::string rev = pinned_rev.empty() ? "rev" + std::to_string(++revisions_) : pinned_rev;
  asked_.push_back("publish " + package + "@" + rev);
  exec::RunSpec spec;
  spec.argv = {settings_.flox, "publish", "-o", settings_.org, package};
  spec.log = std::move(log);
  auto id = runner_.start(std::move(spec), [done = std::move(done)](const exec::RunResult& r) {
    auto v = flox::classify(r, flox::Phase::kPublish);
    done({.ok = v.failure == flox::Failure::kNone,
          .transient = v.transient,
          .failure = v.failure,
          .reason = v.reason,
          .run = r});
  });
  if (started) started(id, rev);
}

void FakeLane::recover(std::vector<flox::RecipeFile> /*ours*/,
                       std::function<void(std::vector<std::string>)> done) {
  clock_.call_at(clock_.now(), [done = std::move(done)] { done({}); });
}

}  // namespace tvd::testing
