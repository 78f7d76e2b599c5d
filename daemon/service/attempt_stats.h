// Counts over ended attempts for /metrics: build and publish durations as histograms, failures by
// phase and class. Seeded from the store at start, then fed each attempt as it ends.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

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
  std::string phase, outcome, failure;
  int bucket = -1;  // in the phase's duration histogram; -1 where none applies
  uint64_t n = 0;
  int64_t seconds = 0;  // summed
  friend bool operator==(const Tally&, const Tally&) = default;
};

class AttemptStats {
 public:
  // One attempt as a tally row; observe() is add(tally(...)).
  static Tally tally(const std::string& phase, const std::string& outcome,
                     const std::string& failure, int64_t seconds);
  void add(const Tally& t);
  // `phase` recipe|build|publish, `outcome` succeeded|failed|interrupted, `failure` the class of
  // a failure (oom, timeout, ...; empty otherwise).
  void observe(const std::string& phase, const std::string& outcome, const std::string& failure,
               int64_t seconds);

  // By outcome (succeeded, failed); interrupted attempts are not durations of anything.
  const std::map<std::string, Histogram>& build_durations() const { return builds_; }
  const std::map<std::string, Histogram>& publish_durations() const { return publishes_; }
  // (phase, failure class) -> failed attempts.
  const std::map<std::pair<std::string, std::string>, uint64_t>& failures() const {
    return failures_;
  }

 private:
  std::map<std::string, Histogram> builds_, publishes_;
  std::map<std::pair<std::string, std::string>, uint64_t> failures_;
};

}  // namespace tvd::service
