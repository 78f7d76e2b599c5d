#include "client/session.h"

#include <gtest/gtest.h>

namespace tvd::client {
namespace {

TEST(Printable, ControlCharactersFromTheDaemonNeverReachTheTerminal) {
  EXPECT_EQ(printable("torch-2.8.0: builder failed"), "torch-2.8.0: builder failed");
  EXPECT_EQ(printable("\x1b[31mred\x1b[0m\x07"), "\\x1b[31mred\\x1b[0m\\x07");
  EXPECT_EQ(printable("two\nlines\tand a tab, \x7f"), "two\nlines\tand a tab, \\x7f");
  EXPECT_EQ(printable("UTF-8 stays: ✘ ERROR"), "UTF-8 stays: ✘ ERROR");
}

}  // namespace
}  // namespace tvd::client
