// tvd: the build-matrix daemon and its offline commands. Exceptions reaching here are bugs or
// fatal start-up failures; library code reports errors as values.
#include <exception>
#include <iostream>

#include "daemon/cli/tvd_cli.h"

int main(int argc, char** argv) {
  try {
    return tvd::run_tvd(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "tvd: fatal: " << e.what() << '\n';
    return 1;
  }
}
