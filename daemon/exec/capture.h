// Short commands whose stdout and stderr are read separately and whole (nix-instantiate for
// `tvd check`), several at a time. Not for builds: those go through the Runner, with a bounded
// log, timeouts and process groups.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace tvd::exec {

struct Captured {
  bool started = false;
  int exit_code = -1;  // the native status decoded: 128 + signal when killed
  std::string out;
  std::string err;  // or why it could not start
};

// Runs every command (argv[0] a path or a name found in the environment's PATH; the child gets
// `env` as its whole environment), at most `parallel` at once, each cut off after `timeout`.
// Output past `limit` bytes a stream is dropped. Results are in the commands' order.
std::vector<Captured> capture_all(const std::vector<std::vector<std::string>>& commands,
                                  const std::map<std::string, std::string>& env, unsigned parallel,
                                  std::chrono::seconds timeout, size_t limit = 16u << 20);

}  // namespace tvd::exec
