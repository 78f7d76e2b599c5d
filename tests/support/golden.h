// Golden files: a test compares what the code writes with a file kept in the tree, and
// TVD_ACCEPT=1 writes the file instead (then review the diff). Shared by the protocol's and
// tvctl's golden tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace tvd::testing {

// Compares `text` with `dir`/`name`; with TVD_ACCEPT set, writes it there instead.
inline void expect_golden(const std::string& dir, const std::string& name,
                          const std::string& text) {
  const std::string path = dir + "/" + name;
  if (std::getenv("TVD_ACCEPT")) {
    std::ofstream(path) << text;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << path << " is missing: run the test once with TVD_ACCEPT=1 and review it";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(text, ss.str()) << name << " differs from " << path << " (TVD_ACCEPT=1 rewrites it)";
}

}  // namespace tvd::testing
