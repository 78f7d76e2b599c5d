#include "daemon/sched/estimator.h"

#include <algorithm>
#include <cmath>

namespace tvd::sched {

void Estimator::record(const std::string& variant, BuildKind kind, std::optional<uint64_t> peak,
                       std::optional<Duration> duration) {
  Learned& l = variants_[variant];
  // Take the variant out of its kind's sums, update it, put it back.
  auto sums = [&](int sign) {
    KindSums& k = kinds_[static_cast<int>(l.kind)];
    if (l.peak) k.peak += sign * *l.peak, k.peaks += sign;
    if (l.duration) k.duration += sign * *l.duration, k.durations += sign;
  };
  sums(-1);
  l.kind = kind;
  if (peak && *peak > 0) {
    double p = static_cast<double>(*peak);
    if (l.peak) {
      const double change = std::abs(p - *l.peak) / std::max(p, *l.peak);
      l.spread = l.spread ? defaults_.weight * change + (1 - defaults_.weight) * *l.spread : change;
    }
    l.peak = l.peak ? std::max(p, *l.peak * defaults_.decay) : p;
  }
  if (duration && duration->count() > 0) {
    double d = static_cast<double>(duration->count());
    l.duration = l.duration ? defaults_.weight * d + (1 - defaults_.weight) * *l.duration : d;
  }
  sums(+1);
  ++generation_;
}

std::optional<Estimator::Learned> Estimator::learned(std::string_view variant) const {
  auto it = variants_.find(variant);
  if (it == variants_.end()) return std::nullopt;
  return it->second;
}

void Estimator::restore(const std::string& variant, Learned l) {
  Learned& here = variants_[variant];
  KindSums& old = kinds_[static_cast<int>(here.kind)];
  if (here.peak) old.peak -= *here.peak, --old.peaks;
  if (here.duration) old.duration -= *here.duration, --old.durations;
  here = l;
  KindSums& k = kinds_[static_cast<int>(here.kind)];
  if (here.peak) k.peak += *here.peak, ++k.peaks;
  if (here.duration) k.duration += *here.duration, ++k.durations;
  ++generation_;
}

void Estimator::learn(const std::string& variant, BuildKind kind, Ending ending,
                      std::optional<uint64_t> peak, Duration took) {
  constexpr uint64_t kGiB = 1ull << 30;
  if (peak && *peak < kGiB) peak.reset();
  switch (ending) {
    case Ending::kSucceeded:
      record(variant, kind, peak, took);
      break;
    case Ending::kOutOfMemory:
      if (peak) record(variant, kind, *peak + *peak / 4, std::nullopt);
      break;
    case Ending::kOther:
      break;
  }
}

double Estimator::margin(const Learned& l) const {
  if (!l.spread) return defaults_.margin;
  return std::clamp(2 * *l.spread, 0.02, 0.25);
}

Estimate Estimator::estimate(const std::string& variant, BuildKind kind) const {
  Estimate e;
  auto with_margin = [&](double bytes, double margin) {
    // Round up to a MiB so that figures read cleanly.
    double b = bytes * (1 + margin);
    return static_cast<uint64_t>(std::ceil(b / (1 << 20))) << 20;
  };
  auto it = variants_.find(variant);
  if (it != variants_.end() && it->second.peak) {
    e.memory = with_margin(*it->second.peak, margin(it->second));
    e.memory_source = "measured";
  }
  if (it != variants_.end() && it->second.duration) {
    e.duration = Duration(static_cast<long long>(*it->second.duration));
    e.duration_source = "measured";
  }
  if (e.memory_source.empty() || e.duration_source.empty()) {
    const KindSums& k = kinds_[static_cast<int>(kind)];
    if (e.memory_source.empty() && k.peaks > 0) {
      e.memory = with_margin(k.peak / k.peaks, defaults_.margin);
      e.memory_source = "kind average";
    }
    if (e.duration_source.empty() && k.durations > 0) {
      e.duration = Duration(static_cast<long long>(k.duration / k.durations));
      e.duration_source = "kind average";
    }
  }
  if (e.memory_source.empty()) {
    e.memory = kind == BuildKind::kGpu ? defaults_.gpu_bytes : defaults_.cpu_bytes;
    e.memory_source = "default";
  }
  if (e.duration_source.empty()) {
    e.duration = kind == BuildKind::kGpu ? defaults_.gpu_duration : defaults_.cpu_duration;
    e.duration_source = "default";
  }
  return e;
}

}  // namespace tvd::sched
