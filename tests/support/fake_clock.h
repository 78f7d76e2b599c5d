// A clock the test moves: callbacks run in time order, and "now" jumps to each one's time, so
// hours of backoff and builds take no time at all.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "daemon/service/clock.h"

namespace tvd::testing {

class FakeClock : public service::Clock {
 public:
  using TimePoint = service::TimePoint;

  // Starts at an arbitrary fixed date, so that figures in a test are the same every run.
  FakeClock();

  TimePoint now() const override { return now_; }
  void call_at(TimePoint when, std::function<void()> fn) override;

  // Runs every callback due at or before `until`, in time order (ties in the order they were
  // asked for), moving now to each one's time; then now is `until`.
  void run_until(TimePoint until);
  void advance(std::chrono::milliseconds by) { run_until(now_ + by); }
  // Runs callbacks in time order until `done()` holds or none is left; whether it holds.
  bool run_while_not(const std::function<bool()>& done, int max_steps = 100000);
  size_t pending() const { return due_.size(); }
  // Time since the clock was made.
  std::chrono::milliseconds elapsed() const;

 private:
  bool step();  // runs the next callback; false when none is left

  TimePoint start_, now_;
  uint64_t seq_ = 0;
  std::map<std::pair<TimePoint, uint64_t>, std::function<void()>> due_;
};

}  // namespace tvd::testing
