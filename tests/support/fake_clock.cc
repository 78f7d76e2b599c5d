#include "tests/support/fake_clock.h"

namespace tvd::testing {

FakeClock::FakeClock()
    : start_(std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000))),
      now_(start_) {}

void FakeClock::call_at(TimePoint when, std::function<void()> fn) {
  due_.emplace(std::make_pair(std::max(when, now_), seq_++), std::move(fn));
}

bool FakeClock::step() {
  if (due_.empty()) return false;
  auto it = due_.begin();
  now_ = it->first.first;
  auto fn = std::move(it->second);
  due_.erase(it);
  fn();
  return true;
}

void FakeClock::run_until(TimePoint until) {
  while (!due_.empty() && due_.begin()->first.first <= until)
    step();
  now_ = std::max(now_, until);
}

bool FakeClock::run_while_not(const std::function<bool()>& done, int max_steps) {
  for (int i = 0; i < max_steps && !done(); ++i) {
    if (!step()) break;
  }
  return done();
}

std::chrono::milliseconds FakeClock::elapsed() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now_ - start_);
}

}  // namespace tvd::testing
