#include "daemon/service/attempt_stats.h"

#include <algorithm>

namespace tvd::service {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}

void Histogram::observe(double value) {
  auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
  counts[static_cast<size_t>(it - bounds.begin())]++;
  sum += value;
  ++count;
}

namespace {

// Builds take minutes to half a day; publishes seconds to an hour or two.
const std::vector<double> kBuildBounds = {60,    300,   900,   1800,  3600, 7200,
                                          14400, 21600, 28800, 43200, 86400};
const std::vector<double> kPublishBounds = {5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200};

}  // namespace

void AttemptStats::observe(const std::string& phase, const std::string& outcome,
                           const std::string& failure, int64_t seconds) {
  if (outcome == "failed") {
    failures_[{phase, failure.empty() ? "unknown" : failure}]++;
  }
  if (outcome != "succeeded" && outcome != "failed") return;
  const double s = static_cast<double>(std::max<int64_t>(0, seconds));
  if (phase == "build") {
    builds_.try_emplace(outcome, kBuildBounds).first->second.observe(s);
  } else if (phase == "publish") {
    publishes_.try_emplace(outcome, kPublishBounds).first->second.observe(s);
  }
}

}  // namespace tvd::service
