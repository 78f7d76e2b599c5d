// What tvctl's commands that wait share (enqueue --wait, watch, logs -f, drain): a SIGINT that
// ends the wait, and calls that wait for the daemon through a restart of it.
#pragma once

#include <chrono>
#include <csignal>
#include <optional>
#include <ostream>
#include <sstream>

#include "client/session.h"

namespace tvd::client {

// Set by the SIGINT handler a waiting command installs.
extern volatile std::sig_atomic_t interrupted;

// Sleeps `seconds` in small steps; false when interrupted (SIGINT).
bool pause_for(double seconds);

// One request as `call` makes it, but a daemon that does not answer (a restart, an upgrade) is
// waited for, saying so once, for up to an hour; nullopt with `code` set otherwise.
template <class Request>
std::optional<nlohmann::json> call_through_restarts(const Global& g, const Request& r,
                                                    std::ostream& err, int& code, bool& away) {
  const auto since = std::chrono::steady_clock::now();
  for (;;) {
    std::ostringstream said;
    auto reply = call(g, r, said, code);
    if (reply) {
      if (away) err << "tvctl: the daemon answers again\n";
      away = false;
      return reply;
    }
    if (code != 3) {
      err << said.str();
      return std::nullopt;
    }
    if (!away) {
      std::string first = said.str();
      first = first.substr(0, first.find('\n'));
      err << first << "\ntvctl: waiting for the daemon to come back (a restart loses no job)\n";
    }
    away = true;
    if (std::chrono::steady_clock::now() - since > std::chrono::hours(1)) return std::nullopt;
    if (!pause_for(2)) {
      code = 130;
      return std::nullopt;
    }
  }
}

}  // namespace tvd::client
