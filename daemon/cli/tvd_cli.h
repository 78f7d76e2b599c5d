// The tvd command line (generate, matrix, check-config), as a function of its arguments and two
// streams, so that tests run it in-process as well as through the binary.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tvd {

// args excludes the program name. Returns the exit code: 0 done, 1 failed, 2 bad usage or bad
// input (nothing was changed).
int run_tvd(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tvd
