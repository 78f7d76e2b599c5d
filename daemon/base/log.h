// The daemon's log lines, on stderr. Under systemd (JOURNAL_STREAM set) each line starts with
// its syslog level, <3> error, <4> warning, <6> info, and no timestamp: journald adds its own.
// Elsewhere each line starts with an ISO 8601 UTC timestamp and the level's name.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tvd::log {

void info(std::string_view message);
void warning(std::string_view message);
void error(std::string_view message);

// One change of a job (the store's event), as the journal gets it.
struct JobEvent {
  int64_t job = 0;
  std::string variant;  // ENV/PACKAGE
  std::string kind;     // queued started retrying requeued retried succeeded failed cancelled
  std::string state;    // the state it went to
  std::string phase;
  std::string failure;  // its class, for failed and retrying
  std::string reason;
};
// A line per job event. Under systemd (JOURNAL_STREAM set), a journal entry with fields of its
// own (TVD_JOB=, TVD_VARIANT=, TVD_KIND=, TVD_STATE=, TVD_PHASE=, TVD_FAILURE=, TVD_REASON=),
// sent to journald's native socket, so that `journalctl TVD_VARIANT=…` finds a variant's history;
// elsewhere, or when that socket refuses it, a line on stderr.
void job_event(const JobEvent& e);
// The text of that line: "job 12 torchvision/PKG failed (build, build-error): why".
std::string job_event_text(const JobEvent& e);
// systemd's native journal protocol: one datagram of KEY=VALUE lines; a value holding a newline
// is written as KEY, a newline, its length (64-bit little endian) and the bytes.
std::string journal_datagram(const std::vector<std::pair<std::string, std::string>>& fields);
// Sends it to the socket at `path`; whether it went.
bool send_to_journal(const std::string& path, const std::string& datagram);

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
