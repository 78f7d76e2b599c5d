#include "daemon/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config/setup.h"
#include "tests/support/scratch.h"

namespace tvd {
namespace {

using ::testing::HasSubstr;

Result<Config> parse(std::string_view text) {
  return parse_config(text, "tvd.json", "/etc/tvd");
}

std::string problems(std::string_view text) {
  auto c = parse(text);
  EXPECT_FALSE(c);
  if (c) return "";
  EXPECT_EQ(c.error().kind, ErrorKind::kBadInput);
  return c.error().message;
}

TEST(Config, EmptyMeansDefaults) {
  auto c = parse("{}").value();
  EXPECT_EQ(c.flox_env, "/etc/tvd");
  EXPECT_EQ(c.pytorch_env, "/etc/build-pytorch");
  EXPECT_EQ(c.flox, "flox");
  EXPECT_FALSE(c.publish.enabled);
  EXPECT_FALSE(c.scheduler.max_parallel);
  EXPECT_FALSE(c.scheduler.memory_budget);
  EXPECT_EQ(c.scheduler.memory_per_build_gpu, 48ull << 30);
  EXPECT_EQ(c.http.listen, "127.0.0.1:8347");
}

TEST(Config, EveryKeyOfTheContract) {
  auto c = parse(R"({
    // the environment
    "flox_env": "/srv/build-torchvision/",
    "state_dir": "state", "socket": "/run/tvd/tvd.sock", "socket_group": "builders",
    "flox": "bin/flox",
    "publish": { "enabled": true, "org": "acme", "push": true },
    "scheduler": { "max_parallel": 3, "memory_budget": "200GiB",
                   "memory_per_build": { "gpu": "64GiB", "cpu": "24GiB" }, "min_free_disk": "100GB" },
    "http": { "listen": "0.0.0.0:9000" },
    "builds": { "timeout": "6h", "silence_timeout": "30min", "max_tries": 5, "backoff": "1min",
                "log_limit": "64MiB", "publish_timeout": "1h" },
    "matrix": "matrix.json", "templates": "templates",
    "axes": { "python": ["python313", "python312"] }
  })");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->flox_env, "/srv/build-torchvision");
  EXPECT_EQ(c->pytorch_env, "/srv/build-pytorch");
  EXPECT_EQ(c->state_dir, "/etc/tvd/state");
  EXPECT_EQ(c->flox, "/etc/tvd/bin/flox");
  EXPECT_EQ(c->socket_group, "builders");
  EXPECT_TRUE(c->publish.enabled && c->publish.push);
  EXPECT_EQ(c->publish.org, "acme");
  EXPECT_EQ(c->scheduler.max_parallel, 3u);
  EXPECT_EQ(c->scheduler.memory_budget, 200ull << 30);
  EXPECT_EQ(c->scheduler.memory_per_build_cpu, 24ull << 30);
  EXPECT_EQ(c->scheduler.min_free_disk, 100'000'000'000ull);
  EXPECT_EQ(c->http.listen, "0.0.0.0:9000");
  EXPECT_EQ(c->builds.timeout, std::chrono::hours(6));
  EXPECT_EQ(c->builds.silence_timeout, std::chrono::minutes(30));
  EXPECT_EQ(c->builds.max_tries, 5);
  EXPECT_EQ(c->builds.log_limit, 64ull << 20);
  EXPECT_EQ(*c->matrix, "/etc/tvd/matrix.json");
  EXPECT_TRUE(c->axes_python);
  EXPECT_FALSE(c->axes_cuda);
}

TEST(Config, TheShippedExampleParses) {
  auto text = testing::read_text(std::filesystem::path(TVD_SOURCE_DIR) / "config" / "tvd.json");
  auto c = parse_config(text, "config/tvd.json", "/etc/tvd");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->flox_env, "/srv/build-torchvision");
  EXPECT_EQ(c->scheduler.memory_per_build_gpu, 48ull << 30);
}

TEST(Config, UnknownKeysAreRefusedWithTheirPath) {
  auto msg = problems(R"({"scheduler": {"memroy_budget": "1GiB"}, "flox_evn": "/x"})");
  EXPECT_THAT(msg, HasSubstr("2 problems"));
  EXPECT_THAT(
      msg,
      HasSubstr("scheduler.memroy_budget: unknown key (did you mean scheduler.memory_budget?)"));
  EXPECT_THAT(msg, HasSubstr("flox_evn: unknown key (did you mean flox_env?)"));
}

TEST(Config, TheDashboardListensOnAnAddressAndAPortOrNowhere) {
  for (const char* good : {"127.0.0.1:8347", "0.0.0.0:80", "[::1]:8347", "localhost:0", "off"}) {
    auto c = parse_config(std::string(R"({"http": {"listen": ")") + good + "\"}}", "t.json", "/");
    ASSERT_TRUE(c) << good << ": " << c.error().message;
    EXPECT_EQ(c->http.listen, good);
  }
  for (const char* bad : {"8347", "buildhost:8347", "127.0.0.1:", "127.0.0.1:65536",
                          "127.0.0.1:http", "::1:8347", "[::1]", "300.1.1.1:80"}) {
    auto c = parse_config(std::string(R"({"http": {"listen": ")") + bad + "\"}}", "t.json", "/");
    ASSERT_FALSE(c) << bad;
    EXPECT_THAT(c.error().message, HasSubstr("http.listen")) << bad;
  }
  auto t = parse_config(R"({"http": {"request_timeout": "3s"}})", "t.json", "/");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->http.request_timeout, std::chrono::seconds(3));
  EXPECT_FALSE(parse_config(R"({"http": {"request_timeout": "soon"}})", "t.json", "/"));
}

TEST(Config, WrongTypesAndValuesAreReportedTogether) {
  auto msg = problems(R"({
    "publish": {"enabled": "yes"},
    "scheduler": {"max_parallel": 0, "memory_budget": "48 gigs",
                  "memory_per_build": {"gpu": 48}},
    "http": {"listen": "8347"},
    "builds": {"timeout": "forever", "max_tries": 0}
  })");
  EXPECT_THAT(msg, HasSubstr("publish.enabled: expected true or false, found a string"));
  EXPECT_THAT(
      msg,
      HasSubstr("scheduler.max_parallel: expected a whole number from 1 to 1024, or \"auto\""));
  EXPECT_THAT(msg, HasSubstr("scheduler.memory_budget: \"48 gigs\" is not a size"));
  EXPECT_THAT(msg, HasSubstr("scheduler.memory_per_build.gpu: expected a size as a string"));
  EXPECT_THAT(msg, HasSubstr("http.listen: expected an IP address and a port"));
  EXPECT_THAT(msg, HasSubstr("builds.timeout: expected a duration"));
  EXPECT_THAT(msg, HasSubstr("builds.max_tries: expected a whole number from 1 to 20"));
}

TEST(Config, PublishingNeedsAnOrg) {
  EXPECT_THAT(problems(R"({"publish": {"enabled": true}})"), HasSubstr("publish.org: is needed"));
}

TEST(Config, BrokenJsonSaysWhere) {
  EXPECT_THAT(problems("{\"flox_env\": \"/x\",}"), HasSubstr("tvd.json: not valid JSON"));
}

TEST(Config, AutoIsAccepted) {
  auto c = parse(R"({"scheduler": {"max_parallel": "auto", "memory_budget": "auto"}})").value();
  EXPECT_FALSE(c.scheduler.max_parallel);
  EXPECT_FALSE(c.scheduler.memory_budget);
}

TEST(LoadConfig, AnExplicitFileMustExist) {
  testing::ScratchDir dir;
  auto c = load_config(dir / "none.json");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, ErrorKind::kBadInput);
  EXPECT_THAT(c.error().message, HasSubstr("none.json does not exist"));
}

TEST(LoadSetup, AxesFromTheConfigChangeTheMatrix) {
  testing::ScratchDir dir;
  testing::write_text(dir / "tvd.json", R"({"axes": {"cuda": ["12.9"], "gpu_archs": ["sm121"]}})");
  auto s = load_setup(dir / "tvd.json");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->matrix.cells().size(), 6u + 6u);
  testing::write_text(dir / "tvd.json", R"({"axes": {"gpu_archs": ["sm999"]}})");
  auto bad = load_setup(dir / "tvd.json");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("axes: gpu_archs: \"sm999\" is not in the table"));
}

TEST(LoadSetup, AMatrixFileReplacesTheBuiltInOne) {
  testing::ScratchDir dir;
  testing::write_text(dir / "tvd.json", R"({"matrix": "m.json"})");
  testing::write_text(dir / "m.json", R"({"schema": 1})");
  auto s = load_setup(dir / "tvd.json");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("m.json has"));
  EXPECT_THAT(s.error().message, HasSubstr("schema: this tvd reads schema 2"));
}

TEST(Config, ASocketPathTooLongAndAnEndlessDurationAreRefused) {
  auto r = parse(R"({"socket": "/run/)" + std::string(120, 'x') +
                 R"(.sock", "builds": {"backoff": "99999999h"}})");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("a Unix socket's path may have at most 107"));
  EXPECT_THAT(r.error().message, HasSubstr("builds.backoff"));
  EXPECT_THAT(r.error().message, HasSubstr("longer than 30 days"));
}

}  // namespace
}  // namespace tvd
