// The tvctl command line, as a function of its arguments and streams (tests run it in-process).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tvd::client {

// Exit codes: 0 done, 1 the daemon refused or the job failed, 2 bad usage or bad input (nothing
// was changed), 3 the daemon cannot be reached.
int run_tvctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              bool terminal);

}  // namespace tvd::client
