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

Tally AttemptStats::tally(proto::JobPhase phase, proto::AttemptOutcome outcome,
                          proto::Failure failure, int64_t seconds) {
  using proto::AttemptOutcome;
  Tally t{phase, outcome, failure, -1, 1, std::max<int64_t>(0, seconds)};
  const std::vector<double>* bounds = phase == proto::JobPhase::kBuild     ? &kBuildBounds
                                      : phase == proto::JobPhase::kPublish ? &kPublishBounds
                                                                           : nullptr;
  if (bounds && (outcome == AttemptOutcome::kSucceeded || outcome == AttemptOutcome::kFailed)) {
    auto it = std::lower_bound(bounds->begin(), bounds->end(), static_cast<double>(t.seconds));
    t.bucket = static_cast<int>(it - bounds->begin());
  }
  return t;
}

void AttemptStats::add(const Tally& t) {
  if (t.outcome == proto::AttemptOutcome::kFailed) {
    failures_[{t.phase,
               t.failure == proto::Failure::kNone ? proto::Failure::kUnknown : t.failure}] += t.n;
  }
  if (t.bucket < 0) return;
  auto& h = t.phase == proto::JobPhase::kBuild
                ? builds_.try_emplace(t.outcome, kBuildBounds).first->second
                : publishes_.try_emplace(t.outcome, kPublishBounds).first->second;
  if (static_cast<size_t>(t.bucket) >= h.counts.size()) return;  // bounds changed: not ours
  h.counts[static_cast<size_t>(t.bucket)] += t.n;
  h.sum += static_cast<double>(t.seconds);
  h.count += t.n;
}

void AttemptStats::observe(proto::JobPhase phase, proto::AttemptOutcome outcome,
                           proto::Failure failure, int64_t seconds) {
  add(tally(phase, outcome, failure, seconds));
}

}  // namespace tvd::service
