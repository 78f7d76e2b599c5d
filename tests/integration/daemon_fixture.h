// A fixture for the real `tvd serve` and `tvctl` binaries against a scratch flox environment (a
// git checkout with a bare upstream) and the project's fake flox. The dashboard listens on a
// port of its own choosing (http_port() reads it from the daemon's log).
#pragma once

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include <sqlite3.h>

#include "daemon/store/store.h"
#include "tests/support/scratch.h"

extern char** environ;

namespace tvd::integration {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The daemon tests' builders: the host builds both platforms (as a host with aarch64 in Nix's
// extra-platforms would), and no machines file (never the test machine's /etc/nix/machines).
inline const std::string kBuilders =
    R"({"local": {"systems": ["x86_64-linux", "aarch64-linux"]}, "machines_file": "no-machines"})";

class DaemonTest : public ::testing::Test {
 protected:
  testing::ScratchDir dir;
  fs::path env_dir = dir / "build-torchvision";
  fs::path plan = dir / "plan";
  fs::path socket = dir / "run" / "tvd.sock";
  fs::path config = dir / "tvd.json";
  pid_t daemon = 0;

  void SetUp() override {
    fs::create_directories(plan);
    testing::make_git_flox_env(env_dir, dir / "upstream.git");
    // The daemon passes children only the variables flox needs, so the plan goes in a wrapper.
    testing::write_text(dir / "flox", "#!/bin/sh\nFAKE_FLOX_PLAN='" + plan.string() + "' exec '" +
                                          testing::fake_flox().string() + "' \"$@\"\n");
    fs::permissions(dir / "flox", fs::perms::owner_all);
    testing::write_text(config, R"({
      "flox_env": "build-torchvision", "state_dir": "state", "socket": "run/tvd.sock",
      "flox": "flox", "socket_group": "root",
      "builders": )" + kBuilders + R"(,
      "publish": {"enabled": true, "org": "acme", "push": true},
      "scheduler": {"max_parallel": 4, "memory_budget": "8GiB",
                    "memory_per_build": {"gpu": "1GiB", "cpu": "512MiB"}},
      "builds": {"backoff": "1s", "timeout": "1min"},
      "http": {"listen": "127.0.0.1:0", "request_timeout": "2s"}
    })");
    testing::write_text(config, testing::read_text(config));
    ::setenv("FLOX_FLOXHUB_TOKEN", "t0ken", 1);
    // The config's "flox" is a bare name: make the wrapper the one on PATH.
    std::string path = dir.path().string() + ":" + std::getenv("PATH");
    ::setenv("PATH", path.c_str(), 1);
  }
  void TearDown() override {
    if (daemon > 0) {
      ::kill(daemon, SIGKILL);
      ::waitpid(daemon, nullptr, 0);
    }
    end_builds_left_running();
  }

  // Builds outlive the daemon (under tvd-run, exec/supervisor.h): the ones this test's daemons
  // left end with the test, as a real stop of the machine would end them.
  void end_builds_left_running() {
    std::error_code ec;
    for (auto it = fs::directory_iterator("/proc", ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name[0] < '0' || name[0] > '9') continue;
      // read(2), not a stream: a process that ends meanwhile fails the read (ESRCH), which a
      // stream would throw.
      std::string cmdline;
      const int fd = ::open((it->path() / "cmdline").c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        cmdline.append(buf, static_cast<size_t>(n));
      ::close(fd);
      if (cmdline.find("tvd-run") == std::string::npos ||
          cmdline.find(dir.path().string()) == std::string::npos) {
        continue;
      }
      ::kill(-std::stoi(name), SIGKILL);
    }
  }

  // A second checkout with its own upstream, build-pytorch, and a config serving both: PyTorch's
  // environment and TorchVision's, paired; the dashboard on `listen`. Returns the PyTorch
  // checkout.
  // `axes`: each environment's "axes" object (JSON), or empty for the whole default matrix.
  fs::path paired_environments(const std::string& listen = "off", const std::string& axes = "") {
    const std::string own_axes = axes.empty() ? "" : R"(, "axes": )" + axes;
    const fs::path pt_dir = dir / "build-pytorch";
    testing::make_git_flox_env(pt_dir, dir / "pt-upstream.git");
    testing::write_text(config, R"({
      "state_dir": "state", "socket": "run/tvd.sock", "flox": "flox", "socket_group": "root",
      "builders": )" + kBuilders + R"(,
      "publish": {"enabled": true, "org": "acme", "push": true},
      "scheduler": {"max_parallel": 4, "memory_budget": "8GiB",
                    "memory_per_build": {"gpu": "1GiB", "cpu": "512MiB"}},
      "builds": {"backoff": "1s", "timeout": "1min"},
      "http": {"listen": ")" + listen +
                                    R"("},
      "environments": [
        {"name": "pytorch", "product": "pytorch", "flox_env": "build-pytorch")" +
                                    own_axes + R"(},
        {"name": "torchvision", "product": "torchvision", "flox_env": "build-torchvision",
         "torch_from": "pytorch")" + own_axes +
                                    R"(}]
    })");
    return pt_dir;
  }

  void start() {
    daemon =
        testing::spawn_logged({TVD_BIN, "serve", "--config", config.string()}, dir / "serve.log");
    ASSERT_GT(daemon, 0);
    for (int i = 0; i < 200; ++i) {
      if (tvctl({"status"}).exit_code == 0) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "tvd serve did not come up:\n" << testing::read_text(dir / "serve.log");
  }
  int stop(int sig) {
    ::kill(daemon, sig);
    int status = 0;
    ::waitpid(daemon, &status, 0);
    daemon = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // A raw connection to the daemon's socket, as a client that speaks for itself; -1 if refused.
  int connect_raw() const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    if (fd >= 0) ::close(fd);
    return -1;
  }
  testing::CommandResult tvctl(std::vector<std::string> args) {
    args.insert(args.begin(), {TVCTL_BIN, "--socket", socket.string()});
    return testing::run_command(args);
  }
  json status() {
    auto r = tvctl({"--json", "status"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }
  // Polls the daemon's log until it holds `text` (at most `limit`); whether it does.
  bool log_says(const std::string& text, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (testing::read_text(dir / "serve.log").find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(50ms);
    }
    return true;
  }
  // Polls until every job is succeeded, failed or cancelled.
  json settle(std::chrono::seconds limit = 60s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    json s;
    while (std::chrono::steady_clock::now() < deadline) {
      s = status();
      bool done = !s["jobs"].empty();
      for (const auto& j : s["jobs"]) {
        done = done &&
               (j["state"] == "succeeded" || j["state"] == "failed" || j["state"] == "cancelled");
      }
      if (done) return s;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "jobs did not settle: " << s.dump();
    return s;
  }
  // Polls until the first job of status is in `state` (up to `limit`); the last status read.
  json first_job_in(const std::string& state, std::chrono::seconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    json s;
    while (std::chrono::steady_clock::now() < deadline) {
      s = status();
      if (!s["jobs"].empty() && s["jobs"][0]["state"] == state) return s;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "the first job never was " << state << ": " << s.dump();
    return s;
  }
  size_t calls(const std::string& prefix) {
    std::ifstream in(plan / "calls");
    size_t n = 0;
    for (std::string l; std::getline(in, l);)
      n += l.rfind(prefix, 0) == 0;
    return n;
  }
  void behave(const std::string& pkg, const std::string& text) {
    testing::write_text(plan / (pkg + ".build"), text);
  }
  const std::string sm89 = "torchvision-python313-cuda12_8-sm89-avx2";
  const std::string cpu = "torchvision-python313-cpu-avx2";
  // The dashboard's port, from the line tvd serve logs when it listens.
  int http_port() {
    const std::string log = testing::read_text(dir / "serve.log");
    const std::string marker = "on http://127.0.0.1:";
    auto at = log.rfind(marker);  // the latest start
    if (at == std::string::npos) {
      ADD_FAILURE() << "tvd serve did not say where the dashboard listens:\n" << log;
      return 0;
    }
    return std::stoi(log.substr(at + marker.size()));
  }
};

}  // namespace tvd::integration
