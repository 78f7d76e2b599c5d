// Counts over ended attempts for /metrics: build and publish durations as histograms, failures by
// phase and class. Seeded from the store at start, then fed each attempt as it ends.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "proto/job.h"

namespace tvd::service {

struct Histogram {
  std::vector<double> bounds;    // upper bounds, ascending; +Inf is implied
  std::vector<uint64_t> counts;  // per bucket, not cumulative; one more than bounds
  double sum = 0;
  uint64_t count = 0;

  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
};

// One or more ended attempts in one bucket, as the store keeps them (attempt_counts): a start
// reads these rows instead of every attempt of the history.
struct Tally {
  proto::JobPhase phase = proto::JobPhase::kBuild;
  proto::AttemptOutcome outcome = proto::AttemptOutcome::kSucceeded;
  proto::Failure failure = proto::Failure::kNone;  // a failed attempt's class
  int bucket = -1;  // in the phase's duration histogram; -1 where none applies
  uint64_t n = 0;
  int64_t seconds = 0;  // summed
  friend bool operator==(const Tally&, const Tally&) = default;
};

class AttemptStats {
 public:
  // One attempt as a tally row; observe() is add(tally(...)).
  static Tally tally(proto::JobPhase phase, proto::AttemptOutcome outcome, proto::Failure failure,
                     int64_t seconds);
  void add(const Tally& t);
  // `failure` is the class of a failed attempt (kNone otherwise; a failed one without a class
  // counts as unknown).
  void observe(proto::JobPhase phase, proto::AttemptOutcome outcome, proto::Failure failure,
               int64_t seconds);

  // By outcome (succeeded, failed); cancelled and interrupted attempts are not durations of
  // anything.
  const std::map<proto::AttemptOutcome, Histogram>& build_durations() const { return builds_; }
  const std::map<proto::AttemptOutcome, Histogram>& publish_durations() const { return publishes_; }
  // (phase, failure class) -> failed attempts.
  const std::map<std::pair<proto::JobPhase, proto::Failure>, uint64_t>& failures() const {
    return failures_;
  }

 private:
  std::map<proto::AttemptOutcome, Histogram> builds_, publishes_;
  std::map<std::pair<proto::JobPhase, proto::Failure>, uint64_t> failures_;
};

}  // namespace tvd::service
