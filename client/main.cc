// tvctl: the thin client of tvd.
#include <unistd.h>

#include <exception>
#include <iostream>

#include "client/tvctl.h"

int main(int argc, char** argv) {
  try {
    return tvd::client::run_tvctl(std::vector<std::string>(argv + 1, argv + argc), std::cout,
                                  std::cerr, ::isatty(1) != 0);
  } catch (const std::exception& e) {
    std::cerr << "tvctl: fatal: " << e.what() << '\n';
    return 1;
  }
}
