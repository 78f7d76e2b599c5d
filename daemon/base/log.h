// The daemon's log lines, on stderr. Under systemd (JOURNAL_STREAM set) each line starts with
// its syslog level, <3> error, <4> warning, <6> info, and no timestamp: journald adds its own.
// Elsewhere each line starts with an ISO 8601 UTC timestamp and the level's name.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace tvd::log {

void info(std::string_view message);
void warning(std::string_view message);
void error(std::string_view message);

// A warning that may repeat fast (a client flood, out of descriptors): said at most once per
// `every`, the next time with how many were left unsaid ("… (and 3,400 more like it)").
class Throttled {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Throttled(std::chrono::seconds every = std::chrono::seconds(60)) : every_(every) {}
  void warning(std::string_view message, Clock::time_point now = Clock::now());
  uint64_t unsaid() const { return unsaid_; }

 private:
  std::chrono::seconds every_;
  Clock::time_point last_{};
  bool said_ = false;
  uint64_t unsaid_ = 0;
};

}  // namespace tvd::log
