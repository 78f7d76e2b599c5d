#include "client/session.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "client/tvctl.h"
#include "tests/support/scratch.h"

namespace tvd::client {
namespace {

TEST(Printable, ControlCharactersFromTheDaemonNeverReachTheTerminal) {
  EXPECT_EQ(printable("torch-2.8.0: builder failed"), "torch-2.8.0: builder failed");
  EXPECT_EQ(printable("\x1b[31mred\x1b[0m\x07"), "\\x1b[31mred\\x1b[0m\\x07");
  EXPECT_EQ(printable("two\nlines\tand a tab, \x7f"), "two\nlines\tand a tab, \\x7f");
  EXPECT_EQ(printable("UTF-8 stays: ✘ ERROR"), "UTF-8 stays: ✘ ERROR");
}

// tvctl finds the daemon's socket as tvd's parser reads it, without that parser: --socket, then
// $TVD_SOCKET, then the config's `socket` (comments allowed, relative to the config's directory).
TEST(SocketPath, FromTheFlagTheEnvironmentOrTheConfigsKey) {
  testing::ScratchDir dir;
  ::unsetenv("TVD_SOCKET");
  const auto config = dir / "tvd.json";
  testing::write_text(config,
                      "{\n  // where tvctl finds tvd\n  \"socket\": \"run/../run/tvd.sock\"\n}\n");
  Global g;
  g.config = config.string();
  EXPECT_EQ(socket_path(g).value(), (dir / "run" / "tvd.sock").string());
  testing::write_text(config, R"({"socket": "/srv/tvd.sock", "state_dir": "x"})");
  EXPECT_EQ(socket_path(g).value(), "/srv/tvd.sock");
  testing::write_text(config, R"({"state_dir": "x"})");
  EXPECT_EQ(socket_path(g).value(), "/run/tvd/tvd.sock");  // the config's default
  ::setenv("TVD_SOCKET", "/tmp/env.sock", 1);
  EXPECT_EQ(socket_path(g).value(), "/tmp/env.sock");
  g.socket = "/tmp/flag.sock";
  EXPECT_EQ(socket_path(g).value(), "/tmp/flag.sock");
  ::unsetenv("TVD_SOCKET");
}

TEST(SocketPath, AConfigThatCannotBeReadSaysSo) {
  testing::ScratchDir dir;
  ::unsetenv("TVD_SOCKET");
  Global g;
  g.config = (dir / "missing.json").string();
  auto missing = socket_path(g);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kBadInput);
  testing::write_text(dir / "bad.json", "{\"socket\": ");
  g.config = (dir / "bad.json").string();
  auto bad = socket_path(g);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not a JSON object"), std::string::npos);
  testing::write_text(dir / "bad.json", R"({"socket": 7})");
  auto wrong = socket_path(g);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("socket: expected a path"), std::string::npos);
}

}  // namespace
}  // namespace tvd::client

namespace tvd::client {
namespace {

TEST(Tvctl, AnUnknownCommandIsNamedAndVersionIsSaid) {
  std::ostringstream out, err;
  EXPECT_EQ(run_tvctl({"--socket", "/nonexistent", "frobnicate"}, out, err, false), 2);
  EXPECT_NE(err.str().find("tvctl: unknown command 'frobnicate'; the commands are enqueue, pause, "
                           "resume, drain, status"),
            std::string::npos)
      << err.str();
  std::ostringstream v, e2;
  EXPECT_EQ(run_tvctl({"--version"}, v, e2, false), 0);
  EXPECT_EQ(v.str().rfind("tvctl ", 0), 0u) << v.str();
}

}  // namespace
}  // namespace tvd::client
