// Writing the service's changes to the store when the store may be busy (another process holds a
// write transaction on tvd.db) or full. The daemon's one thread never waits it out: the store's
// busy timeout is short, and a change that cannot be written now waits here, the newest state of
// each job with the event lines in between, and is written by catch-up (every second, and before
// each command). Meanwhile:
// - the engine acts on nothing that is not recorded: each start of a build or a publish is
//   written before it happens (Engine's observer says whether it was), and while changes wait,
//   no start is;
// - a command (enqueue, retry) is one transaction: written whole, or refused whole, with nothing
//   done and an error that says why;
// - status shows the waiting states (not the store's older ones) and says what holds starts
//   back; /metrics counts the failed writes and the waiting changes; the log says it once a
//   minute at most, and again when the store caught up.
// At shutdown the waiting changes get a last, longer chance (flush).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/base/result.h"
#include "daemon/service/clock.h"
#include "daemon/store/store.h"

namespace tvd::service {

// One change of a job, as the store keeps it.
struct Change {
  // A cell outside the configured matrix (any Python and CUDA of the tables may be enqueued):
  // its row, written before its first job, which refers to it.
  std::optional<store::VariantRow> variant;
  store::JobRow job;
  std::vector<store::AttemptRow> attempts;
  std::vector<store::EventRow> events;  // the job's events since the last write, oldest first
  // What its ended attempts add to what the daemon learned (kept as they end; store.h).
  std::vector<store::Store::AttemptCount> counts;
  std::optional<store::Store::LearnedRow> learned;
};

class Recorder {
 public:
  // How long a write may wait for another process before it is left for catch-up.
  static constexpr std::chrono::milliseconds kBusyWait{50};

  Recorder(store::Store& store, Clock& clock);

  // Writes `c` (the job, its attempts, its events and, when it ended, its batch's end) as one
  // transaction. False when it was not written: inside a command, the command fails; otherwise
  // it waits for catch-up. While changes wait, nothing is written ahead of them.
  bool record(Change c);

  // A command's writes as one transaction, after what waits: if the store cannot take them, none
  // is kept and the error names the store's trouble.
  Status command(const std::function<Status()>& body);

  // The newest state of job `id` while it waits to be written, else nullptr.
  const Change* waiting(int64_t id) const;
  const std::map<int64_t, Change>& waiting() const { return waiting_; }

  // Why the store cannot be written now: since when, the error, how many jobs' changes wait.
  struct Trouble {
    TimePoint since;
    std::string error;
    size_t waiting = 0;
  };
  std::optional<Trouble> trouble() const;
  // Writes that failed since the start (each try of catch-up counts).
  uint64_t write_failures() const { return failures_; }

  // Writes what waits, oldest job first; true when nothing is left.
  bool catch_up();
  // At shutdown: one last catch-up, waiting up to `patience` for another process's lock.
  bool flush(std::chrono::milliseconds patience);

 private:
  Status write(const Change& c);
  // Keeps `c` waiting; `failed`: its own write failed (counted in write_failures()).
  void keep(Change c, const Error& why, bool failed = true);
  void arm();

  store::Store& store_;
  Clock& clock_;
  std::map<int64_t, Change> waiting_;  // job id -> its newest change, with every event since
  std::optional<Trouble> trouble_;
  TimePoint last_told_{};
  uint64_t failures_ = 0;
  bool in_command_ = false;
  std::optional<Error> command_error_;
  bool armed_ = false;
};

}  // namespace tvd::service
