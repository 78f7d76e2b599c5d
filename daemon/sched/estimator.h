// What a build is expected to need: memory to reserve and time to take, learned from measured
// builds. Pure: measurements come in as values.
//
// Memory: a decaying maximum of the variant's measured peaks (each new build lowers the old
// maximum by `decay` before comparing), plus a margin learned from how much the variant's peaks
// vary: twice the weighted mean of the relative change between its successive peaks, from 2 %
// to 25 %; `margin` until it has two. With no history for the variant, the
// average of its kind's variants; with none for the kind, the configured per-build default.
// Duration: an exponentially weighted mean of the variant's builds, then the kind's average,
// then a per-kind default.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/base/names.h"

namespace tvd::sched {

using Duration = std::chrono::seconds;

enum class BuildKind { kGpu, kCpu };
inline constexpr Names<BuildKind, 2> kBuildKinds{{{
    {BuildKind::kGpu, "gpu"},
    {BuildKind::kCpu, "cpu"},
}}};

struct EstimatorDefaults {
  uint64_t gpu_bytes = 48ull << 30;
  uint64_t cpu_bytes = 16ull << 30;
  Duration gpu_duration = std::chrono::hours(3);
  Duration cpu_duration = std::chrono::hours(2);
  double margin = 0.10;  // added to a learned peak until the variant's spread is known
  double decay = 0.90;   // applied to the old maximum at each new measurement
  double weight = 0.5;   // of the newest duration in the mean
};

struct Estimate {
  uint64_t memory = 0;
  Duration duration{};
  std::string memory_source;    // "measured", "kind average", "default"
  std::string duration_source;  // likewise
};

class Estimator {
 public:
  explicit Estimator(EstimatorDefaults defaults = {}) : defaults_(defaults) {}

  // One finished build. A peak that could not be attributed is nullopt and teaches nothing.
  void record(const std::string& variant, BuildKind kind, std::optional<uint64_t> peak,
              std::optional<Duration> duration);

  Estimate estimate(const std::string& variant, BuildKind kind) const;

  // The one rule by which an ended build teaches: a success its duration and its peak; a build
  // killed for memory that it needs a quarter more than it was seen using; anything else
  // nothing. A peak under 1 GiB never saw the compilers and teaches nothing. The engine applies
  // it as builds end, and the service again to the store's history at start, so reservations
  // survive a restart exactly.
  enum class Ending { kSucceeded, kOutOfMemory, kOther };
  void learn(const std::string& variant, BuildKind kind, Ending ending,
             std::optional<uint64_t> peak, Duration took);

  // What it learned of one variant, as the store keeps it between starts, so that a start reads
  // it instead of replaying every build of the history.
  struct Learned {
    BuildKind kind = BuildKind::kGpu;
    std::optional<double> peak;      // decaying maximum, bytes
    std::optional<double> duration;  // weighted mean, seconds
    // Weighted mean of |peak - previous maximum| / the larger: how much its peaks vary.
    std::optional<double> spread;
  };
  // The margin a variant's reservation carries over its learned peak.
  double margin(const Learned& l) const;
  std::optional<Learned> learned(std::string_view variant) const;
  const std::map<std::string, Learned, std::less<>>& all_learned() const { return variants_; }
  // At start: what an earlier run learned of `variant`.
  void restore(const std::string& variant, Learned l);

  void set_defaults(EstimatorDefaults d) {
    defaults_ = d;
    ++generation_;
  }
  // Changes whenever an estimate may have changed, so callers can cache estimates.
  uint64_t generation() const { return generation_; }
  const EstimatorDefaults& defaults() const { return defaults_; }

 private:
  struct KindSums {
    double peak = 0, duration = 0;
    int peaks = 0, durations = 0;
  };
  EstimatorDefaults defaults_;
  std::map<std::string, Learned, std::less<>> variants_;
  KindSums kinds_[2];  // by BuildKind: the kind averages without a scan
  uint64_t generation_ = 0;
};

}  // namespace tvd::sched
