#include "daemon/service/host_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/exec/host.h"

extern char** environ;

namespace tvd::service {
namespace {

constexpr uint64_t GiB = 1ull << 30;

TEST(HostConfig, ExplicitSettingsAreKept) {
  auto c = parse_config(R"({"scheduler": {"max_parallel": 3, "memory_budget": "200GiB",
                                          "max_memory_pressure": 25}})",
                        "t", "/")
               .value();
  auto l = limits_for(c);
  EXPECT_EQ(l.max_parallel, 3u);
  EXPECT_EQ(l.memory_budget, 200 * GiB);
  EXPECT_DOUBLE_EQ(l.max_memory_pressure, 25.0);
}

TEST(HostConfig, AutoFollowsThisHost) {
  auto c = parse_config("{}", "t", "/").value();
  auto l = limits_for(c);
  auto mem = exec::read_meminfo().value();
  EXPECT_LT(l.memory_budget, mem.total);
  EXPECT_GT(l.memory_budget, mem.total / 2);
  EXPECT_EQ(l.max_parallel, std::max(1u, exec::online_cores() / 32));
}

TEST(HostConfig, MeasuresTheStoreAndTheStateDirectory) {
  auto c = parse_config(R"({"state_dir": "/tmp"})", "t", "/").value();
  auto m = measure_host(c);
  ASSERT_EQ(m.disks.size(), 2u);
  EXPECT_EQ(m.disks[0].path, "/nix/store");
  EXPECT_EQ(m.disks[1].path, "/tmp");
  EXPECT_TRUE(m.disks[1].free_bytes);
  EXPECT_TRUE(m.mem_available);
}

TEST(HostConfig, TheEngineGetsTheConfigAndAFilteredEnvironment) {
  ::setenv("TVD_UNRELATED", "x", 1);
  ::setenv("NIX_REMOTE", "daemon", 1);
  auto c = parse_config(R"({"pytorch_env": "/srv/pt", "builds": {"timeout": "3h", "max_tries": 4},
                            "publish": {"enabled": true, "org": "acme"}})",
                        "t", "/")
               .value();
  auto e = engine_config(c, environ);
  EXPECT_EQ(e.log_dir, "/var/lib/tvd/logs");
  EXPECT_EQ(e.build_timeout, std::chrono::hours(3));
  EXPECT_EQ(e.max_tries, 4);
  EXPECT_TRUE(e.publish);
  EXPECT_EQ(e.child_env.count("TVD_UNRELATED"), 0u);
  EXPECT_EQ(e.child_env.at("NIX_REMOTE"), "daemon");
  EXPECT_TRUE(e.child_env.count("PATH"));
  // flox reports no usage metrics from a build farm unless asked (FLOX_<OPTION>, flox-config.md).
  EXPECT_EQ(e.child_env.at("FLOX_DISABLE_METRICS"), "true");
  EXPECT_TRUE(e.publishing.signing_key.empty());

  auto metrics = parse_config(R"({"flox_metrics": true, "publish": {"enabled": true, "org": "a",
                                  "signing_key": "keys/catalog.key"}})",
                              "t", "/etc/tvd")
                     .value();
  auto m = engine_config(metrics, environ);
  EXPECT_EQ(m.child_env.count("FLOX_DISABLE_METRICS"), 0u);
  EXPECT_EQ(m.publishing.signing_key, "/etc/tvd/keys/catalog.key");
}

// Each environment's git lane works in its own checkout; outside the default environment its
// logs and publishing worktrees are named for the environment, so that two lanes never share
// them (a worktree's branch, tvd-publish/N, is per checkout).
TEST(HostConfig, EachEnvironmentsLaneHasItsCheckoutLogsAndWorktrees) {
  auto c = parse_config(R"({"state_dir": "/var/lib/tvd", "publish": {"enabled": true,
                            "org": "acme", "push": true}})",
                        "t", "/")
               .value();
  auto e = engine_config(c, environ);
  auto here = lane_config(e, Environment{"default", "/srv/build-torchvision"});
  EXPECT_EQ(here.env_dir, "/srv/build-torchvision");
  EXPECT_EQ(here.log_dir, "/var/lib/tvd/logs/git");
  EXPECT_EQ(here.worktrees, "/var/lib/tvd/publish");
  EXPECT_EQ(here.publishing.org, "acme");
  EXPECT_TRUE(here.publishing.push);
  auto there = lane_config(e, Environment{"pytorch-2.9", "/srv/build-torchvision-2.9"});
  EXPECT_EQ(there.env_dir, "/srv/build-torchvision-2.9");
  EXPECT_EQ(there.log_dir, "/var/lib/tvd/logs/git-pytorch-2.9");
  EXPECT_EQ(there.worktrees, "/var/lib/tvd/publish-pytorch-2.9");
}

}  // namespace
}  // namespace tvd::service
