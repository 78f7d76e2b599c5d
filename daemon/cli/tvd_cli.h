// The tvd command line (generate, matrix, check-config), as a function of its arguments and two
// streams, so that tests run it in-process as well as through the binary.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "daemon/base/result.h"

namespace tvd {

// "tvd: error: MESSAGE" and its hint; returns the exit code for the error's kind.
int report_error(const Error& e, std::ostream& err);

struct CheckArgs {
  std::optional<std::filesystem::path> config;
  std::vector<std::string> specs;  // none: every cell of the configured matrix
  bool json = false;
  bool no_eval = false;
};
// `tvd check` (check_command.cc): 0 no error finding, 1 some, 2 bad input.
int cmd_check(const CheckArgs& a, std::ostream& out, std::ostream& err);

// `tvd simulate` (simulate_command.cc): a night on a virtual clock, from the configured matrix
// or a profile.
struct SimulateArgs {
  std::string memory = "256GiB";
  unsigned cores = 64;
  std::string max_parallel = "auto";
  std::string budget = "auto";
  std::string profile;
  // Farms to compare (each a JSON list of builders): the night on each, tvd's policy alone.
  std::vector<std::string> builders;
};
int cmd_simulate(const std::optional<std::filesystem::path>& config, bool as_json,
                 const SimulateArgs& a, std::ostream& out, std::ostream& err);

// `tvd check-config` (check_config_command.cc): 0 when tvd serve would start, 2 otherwise.
int cmd_check_config(const std::optional<std::filesystem::path>& config, bool probe,
                     std::ostream& out, std::ostream& err);

// args excludes the program name. Returns the exit code: 0 done, 1 failed, 2 bad usage or bad
// input (nothing was changed).
int run_tvd(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tvd
