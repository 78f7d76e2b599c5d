// Delivers notifications (notification.h) to the config's receivers: each receiver reads the
// store's job events from its own cursor, kept in the store, so that what a restart interrupts is
// delivered after it (at least once) and nothing the receiver took is sent again. Deliveries run
// on the daemon's io_context one at a time per receiver, each cut off after its timeout and tried
// again with growing pauses; a receiver that is slow, down or failing holds up nothing else (not
// the builds, not the other receivers). Every job event is also one journal line (log::job_event).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/exec/runner.h"
#include "daemon/notify/notification.h"

namespace boost::asio {
class io_context;
}

namespace tvd::notify {

struct ReceiverStats {
  std::string name;
  uint64_t delivered = 0;  // notifications it took
  uint64_t failed = 0;     // given up on after every try
  uint64_t retries = 0;    // tries after a failed one
  uint64_t pending = 0;    // read from the store, not yet delivered
  int64_t cursor = 0;      // the last event it has been given
  std::string last_error;
};

class Dispatcher {
 public:
  // Commands run through `runner` with `child_env` (their output in `spool_dir`/NAME.log, their
  // input a file there); webhooks are posted on `io`. `base_url`: the dashboard, for links.
  Dispatcher(boost::asio::io_context& io, service::Service& service, exec::Runner& runner,
             std::map<std::string, std::string> child_env, std::filesystem::path spool_dir,
             std::string base_url);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // The receivers, at start and on reload: one that stays keeps its place; a new one starts at
  // the newest event (nothing from before it was configured).
  void configure(const std::vector<Config::Notify>& receivers);
  // The store may hold new events (called on every change, and every few seconds).
  void poke();
  // Starts nothing more (the daemon is stopping); what runs ends on its own.
  void stop();
  std::vector<ReceiverStats> stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// `n` to every receiver that takes its kind, once each, waiting for them at most their timeouts:
// for the daemon refusing to start, when no store or service runs. Failures are logged.
void deliver_now(const std::vector<Config::Notify>& receivers, const Notification& n,
                 const std::map<std::string, std::string>& child_env,
                 const std::filesystem::path& spool_dir);

}  // namespace tvd::notify
