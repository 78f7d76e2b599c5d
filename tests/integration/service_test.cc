// The real `tvd serve` and `tvctl` binaries against a scratch flox environment (a git checkout
// with a bare upstream) and the project's fake flox.
#include <atomic>
#include <sstream>

#include "daemon/matrix/matrix.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/support/http_client.h"

namespace tvd::integration {
namespace {

using ::testing::Not;

class ServiceTest : public DaemonTest {};

TEST_F(ServiceTest, EnqueueGeneratesCommitsBuildsAndPublishes) {
  start();
  auto r = tvctl({"--json", "enqueue", "sm89-avx2", "cpu-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto queued = json::parse(r.out);
  ASSERT_EQ(queued["jobs"].size(), 2u);
  EXPECT_EQ(queued["jobs"][0]["package"], sm89);
  EXPECT_TRUE(queued["jobs"][0]["created"]);

  auto s = settle();
  for (const auto& j : s["jobs"])
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
  EXPECT_THAT(testing::git(env_dir, {"log", "--format=%s"}), HasSubstr("(" + sm89 + ")"));
  EXPECT_EQ(testing::git(env_dir, {"rev-parse", "HEAD"}),
            testing::git(dir / "upstream.git", {"rev-parse", "main"}));
  EXPECT_EQ(calls("publish acme " + sm89), 1u);
  EXPECT_EQ(calls("publish acme " + cpu), 1u);

  auto show = tvctl({"show", std::to_string(queued["jobs"][0]["id"].get<int>())});
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_THAT(show.out, HasSubstr("publish"));
  auto human = tvctl({"status"});
  EXPECT_THAT(human.out, HasSubstr("2 succeeded"));
  EXPECT_EQ(stop(SIGTERM), 0);
  EXPECT_FALSE(fs::exists(socket));

  // The store kept the story: an event per change of state or phase, typed.
  auto store = store::Store::open(dir / "state" / "tvd.db").value();
  std::vector<std::string> story;
  const auto events = store.events_after(0, 100).value();
  for (const auto& e : events) {
    if (e.job_id != 1) continue;
    story.push_back(describe(e.change));
  }
  EXPECT_THAT(story,
              ::testing::ElementsAre("queued ->queued recipe", "started queued>building build",
                                     "started building>publishing publish",
                                     "succeeded publishing>succeeded publish"));
}

// One daemon serving two environments, PyTorch's and TorchVision's (paired), each a checkout with
// its own upstream: a cell of each is committed, pushed, built and published in its own
// repository, and TorchVision's commit carries its copy of the PyTorch recipe it imports.
TEST_F(ServiceTest, TwoEnvironmentsBuildAndPublishEachInItsRepository) {
  const fs::path pt_dir = paired_environments();
  start();
  auto r = tvctl({"--json", "enqueue", "pytorch/cpu-avx2", "torchvision/cpu-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto s = settle();
  ASSERT_EQ(s["jobs"].size(), 2u);
  for (const auto& j : s["jobs"])
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
  const std::string pt = "pytorch-python313-cpu-avx2", tv = "torchvision-python313-cpu-avx2";
  EXPECT_EQ(calls("build " + pt), 1u);
  EXPECT_EQ(calls("publish acme " + pt), 1u);
  EXPECT_EQ(calls("publish acme " + tv), 1u);
  // Each recipe committed and pushed in its own repository.
  EXPECT_EQ(testing::git(pt_dir, {"rev-parse", "HEAD"}),
            testing::git(dir / "pt-upstream.git", {"rev-parse", "main"}));
  EXPECT_THAT(testing::git(dir / "pt-upstream.git", {"show", "--name-only", "--format=%s", "main"}),
              HasSubstr(".flox/pkgs/" + pt + ".nix"));
  const std::string tv_commit =
      testing::git(dir / "upstream.git", {"show", "--name-only", "--format=%s", "main"});
  EXPECT_THAT(tv_commit, HasSubstr("(" + tv + ")"));
  EXPECT_THAT(tv_commit, HasSubstr(".flox/pkgs/" + tv + ".nix"));
  EXPECT_THAT(tv_commit, HasSubstr(".flox/pytorch/" + pt + ".nix"));
  EXPECT_EQ(testing::read_text(env_dir / ".flox/pytorch" / (pt + ".nix")),
            testing::read_text(pt_dir / ".flox/pkgs" / (pt + ".nix")));
  EXPECT_THAT(testing::read_text(env_dir / ".flox/pkgs" / (tv + ".nix")),
              HasSubstr("customPytorch = import ../pytorch/" + pt + ".nix { inherit pkgs; };"));
  // tvctl names each job's variant with its environment.
  const auto human = tvctl({"status"});
  EXPECT_THAT(human.out, HasSubstr("pytorch/" + pt));
  EXPECT_THAT(human.out, HasSubstr("torchvision/" + tv));

  // Someone changes the PyTorch recipe upstream of tvd: the TorchVision cell's next enqueue
  // builds PyTorch again, and tvd replaces its TorchVision recipe's reference and its copy in one
  // commit, then builds it against the new torch.
  const fs::path pt_file = pt_dir / ".flox/pkgs" / (pt + ".nix");
  const std::string tuned = testing::read_text(pt_file) + "# tuned by hand\n";
  testing::write_text(pt_file, tuned);
  testing::git(pt_dir, {"commit", "-q", "-am", "Tune the PyTorch recipe"});
  testing::git(pt_dir, {"push", "-q"});
  const std::string before = testing::read_text(env_dir / ".flox/pkgs" / (tv + ".nix"));
  r = tvctl({"--json", "enqueue", "torchvision/cpu-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["jobs"].size(), 2u) << r.out;  // PyTorch's changed: built first
  s = settle();
  for (const auto& j : s["jobs"])
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
  EXPECT_EQ(calls("build " + pt), 2u);
  EXPECT_EQ(calls("build " + tv), 2u);
  EXPECT_EQ(testing::read_text(env_dir / ".flox/pytorch" / (pt + ".nix")), tuned);
  EXPECT_NE(testing::read_text(env_dir / ".flox/pkgs" / (tv + ".nix")), before);
  const std::string update =
      testing::git(dir / "upstream.git", {"show", "--name-only", "--format=%s", "main"});
  EXPECT_THAT(update, HasSubstr(".flox/pkgs/" + tv + ".nix"));
  EXPECT_THAT(update, HasSubstr(".flox/pytorch/" + pt + ".nix"));
  EXPECT_EQ(testing::git(env_dir, {"status", "--porcelain"}), "");
  EXPECT_EQ(stop(SIGTERM), 0);
}

// A TorchVision cell needs its PyTorch cell's build: enqueueing it enqueues PyTorch first; it
// waits for that build, reserving nothing; a PyTorch failure ends it without building it, naming
// the PyTorch job; a retry of the PyTorch job builds both.
TEST_F(ServiceTest, ATorchVisionCellWaitsForItsPyTorchBuildAndEndsWithItsFailure) {
  const fs::path pt_dir = paired_environments();
  const std::string pt = "pytorch-python313-cpu-avx2", tv = "torchvision-python313-cpu-avx2";
  behave(pt, "seconds=2\nresult=fail\n");
  start();
  auto r = tvctl({"--json", "enqueue", "torchvision/cpu-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json queued = json::parse(r.out);
  ASSERT_EQ(queued["jobs"].size(), 2u) << r.out;  // its PyTorch first
  const int pt_job = queued["jobs"][0]["id"];
  bool saw_wait = false;
  for (int i = 0; i < 100 && !saw_wait; ++i) {
    const json now = status();
    for (const auto& [id, reason] : now["waiting"].items()) {
      saw_wait = saw_wait || reason.get<std::string>().find("waiting for pytorch/" + pt + " (job " +
                                                            std::to_string(pt_job) +
                                                            ") to be built") != std::string::npos;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(saw_wait);
  auto s = settle();
  for (const auto& j : s["jobs"]) {
    EXPECT_EQ(j["state"], "failed") << j.dump();
    if (j["id"] != pt_job) {
      EXPECT_EQ(j["failure"], "dependency") << j.dump();
      EXPECT_THAT(j["error"].get<std::string>(), HasSubstr("its torch, pytorch/" + pt + " (job " +
                                                           std::to_string(pt_job) + "), failed: "));
    }
  }
  EXPECT_EQ(calls("build " + pt), 1u);
  EXPECT_EQ(calls("build " + tv), 0u);  // never built without its torch

  // Fixed, the PyTorch job is retried: both build, PyTorch first, and publish.
  fs::remove(plan / (pt + ".build"));
  ASSERT_EQ(tvctl({"retry", std::to_string(pt_job)}).exit_code, 0);
  s = settle();
  for (const auto& j : s["jobs"])
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
  EXPECT_EQ(calls("build " + tv), 1u);
  EXPECT_EQ(calls("publish acme " + tv), 1u);
  std::ifstream in(plan / "calls");
  std::vector<std::string> builds;
  for (std::string l; std::getline(in, l);)
    if (l.rfind("build ", 0) == 0) builds.push_back(l);
  EXPECT_EQ(builds, (std::vector<std::string>{"build " + pt, "build " + pt, "build " + tv}));
  EXPECT_EQ(stop(SIGTERM), 0);
}

// A nightly over both environments (each reduced to a GPU and a CPU cell): every cell built once,
// each PyTorch build before the TorchVision build that needs it, every one published.
TEST_F(ServiceTest, ANightlyOverBothEnvironments) {
  paired_environments("off", R"({"cuda": ["12.8"], "gpu_archs": ["sm89"], "cpu_isas": ["avx2"]})");
  const std::vector<std::string> cells = {"cuda12_8-sm89-avx2", "cpu-avx2"};
  for (const auto& c : cells)
    behave("pytorch-python313-" + c, "seconds=1\n");
  start();
  auto r = tvctl({"--json", "enqueue", "--all", "--batch", "nightly"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["jobs"].size(), 4u) << r.out;  // each PyTorch cell once
  auto s = settle();
  ASSERT_EQ(s["jobs"].size(), 4u);
  for (const auto& j : s["jobs"])
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
  std::ifstream in(plan / "calls");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);)
    lines.push_back(l);
  auto at = [&](const std::string& call) {
    return std::find(lines.begin(), lines.end(), call) - lines.begin();
  };
  for (const auto& c : cells) {
    const std::string pt = "pytorch-python313-" + c, tv = "torchvision-python313-" + c;
    EXPECT_EQ(calls("build " + pt), 1u) << pt;
    EXPECT_EQ(calls("build " + tv), 1u) << tv;
    EXPECT_EQ(calls("publish acme " + pt), 1u) << pt;
    EXPECT_EQ(calls("publish acme " + tv), 1u) << tv;
    EXPECT_LT(at("build " + pt), at("build " + tv)) << c;  // its torch's build ended first
  }
  EXPECT_EQ(stop(SIGTERM), 0);
}

// Builders: the host builds x86_64, a Nix remote builder of the machines file aarch64. Each build
// runs `flox build --system PLATFORM` with Nix pinned to its builder: the armv9 cell's NIX_CONFIG
// names the aarch64 machine alone (max-jobs 0: nothing on the host), the x86_64 cell's turns
// offloading off. Without that machine the aarch64 cells are never queued to fail: an enqueue of
// one is refused with what to do, a nightly skips them with the reason, and nothing fails.
TEST_F(ServiceTest, EachBuildRunsOnABuilderOfItsPlatformOrIsNotQueued) {
  testing::write_text(dir / "machines",
                      "ssh-ng://arm64.example aarch64-linux - 2 1 big-parallel\n");
  const std::string base = R"(
    "flox_env": "build-torchvision", "state_dir": "state", "socket": "run/tvd.sock", "flox": "flox",
    "socket_group": "root", "http": {"listen": "127.0.0.1:0"},
    "axes": {"cuda": ["12.8"], "gpu_archs": ["sm89"], "cpu_isas": ["avx2", "armv9"]},
    "scheduler": {"max_parallel": 4, "memory_budget": "8GiB",
                  "memory_per_build": {"gpu": "1GiB", "cpu": "512MiB"}, "max_memory_pressure": 100})";
  testing::write_text(config, "{" + base + R"(, "builders": {"machines_file": "machines",
      "local": {"systems": ["x86_64-linux"]},
      "remote": {"ssh-ng://arm64.example": {"memory_budget": "4GiB"}}}})");
  const std::string arm = "torchvision-python313-cuda12_8-sm89-armv9";
  start();
  // Status, the queue page and /metrics show each builder.
  const json st = status();
  ASSERT_EQ(st["builders"].size(), 2u) << st.dump();
  EXPECT_EQ(st["builders"][1]["name"], "ssh-ng://arm64.example");
  EXPECT_EQ(st["builders"][1]["systems"], json::array({"aarch64-linux"}));
  EXPECT_EQ(st["builders"][1]["slots"], 2);
  EXPECT_EQ(st["builders"][1]["budget"], 4ull << 30);
  EXPECT_EQ(st["builders"][1]["reachable"], true);
  EXPECT_THAT(tvctl({"status"}).out,
              HasSubstr("builder ssh-ng://arm64.example (aarch64-linux): 0 of 2 slots, 0 B of "
                        "4 GiB reserved\n"));
  const int port = http_port();
  EXPECT_THAT(testing::http_get(port, "/queue").body,
              HasSubstr("<tr class=\"builder\" data-builder=\"ssh-ng://arm64.example\"><td>"
                        "ssh-ng://arm64.example</td><td>aarch64-linux</td><td>0 of 2</td>"));
  const std::string metrics = testing::http_get(port, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("tvd_builder_slots{builder=\"ssh-ng://arm64.example\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("tvd_builder_reachable{builder=\"local\"} 1\n"));
  auto r = tvctl({"enqueue", "sm89-avx2", "sm89-armv9"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto s = settle();
  for (const auto& j : s["jobs"])
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
  EXPECT_EQ(testing::read_text(plan / (arm + ".build-env")),
            "token=\nsystem=aarch64-linux\nnix_config=builders = ssh-ng://arm64.example "
            "aarch64-linux - 2 1 big-parallel - -|max-jobs = 0|builders-use-substitutes = true\n");
  EXPECT_EQ(testing::read_text(plan / (sm89 + ".build-env")),
            "token=\nsystem=x86_64-linux\nnix_config=builders =\n");
  // Each attempt records where it ran.
  for (const auto& j : s["jobs"]) {
    auto shown = tvctl({"--json", "show", std::to_string(j["id"].get<int>())});
    ASSERT_EQ(shown.exit_code, 0) << shown.err;
    const json detail = json::parse(shown.out);
    EXPECT_EQ(detail["attempts"][0]["builder"],
              j["package"] == arm ? "ssh-ng://arm64.example" : "local")
        << shown.out;
  }
  EXPECT_THAT(tvctl({"show", "2"}).out, HasSubstr("BUILDER"));
  // The job page says where its build ran.
  for (const auto& j : s["jobs"]) {
    EXPECT_THAT(
        testing::http_get(port, "/job/" + std::to_string(j["id"].get<int>())).body,
        HasSubstr(std::string("<tr><th>Builder</th><td id=\"builder\">") +
                  (j["package"] == arm ? "ssh-ng://arm64.example" : "local") + "</td></tr>"));
  }
  EXPECT_EQ(stop(SIGTERM), 0);

  // Without the aarch64 machine.
  testing::write_text(config, "{" + base + R"(, "builders": {"machines_file": "machines",
      "local": {"systems": ["x86_64-linux"]}}})");
  start();
  r = tvctl({"enqueue", "sm89-armv9"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err,
              HasSubstr(arm + ": no aarch64-linux builder: add one to Nix's machines file "
                              "(with its memory budget in builders.remote), or run tvd on an "
                              "aarch64 host. Nothing was queued."));
  r = tvctl({"--json", "enqueue", "--all", "--batch", "nightly"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json night = json::parse(r.out);
  EXPECT_EQ(night["jobs"].size(), 2u) << r.out;  // sm89-avx2 and cpu-avx2
  EXPECT_THAT(night["skipped"][arm].get<std::string>(),
              ::testing::StartsWith("no builder: no aarch64-linux builder"));
  EXPECT_THAT(night["skipped"]["torchvision-python313-cpu-armv9"].get<std::string>(),
              ::testing::StartsWith("no builder: "));
  s = settle();
  for (const auto& j : s["jobs"]) {
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
    if (j["origin"] == "batch") {  // the night's: none of an aarch64 cell
      EXPECT_EQ(j["variant"].get<std::string>().find("armv9"), std::string::npos) << j.dump();
    }
  }
  // --force queues it: it waits, saying why.
  r = tvctl({"--json", "enqueue", "--force", "sm89-armv9"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bool said = false;
  for (int i = 0; i < 100 && !said; ++i) {
    const json now = status();
    for (const auto& [id, reason] : now["waiting"].items())
      said = said ||
             reason == "waiting: no builder serves aarch64-linux with the features of its recipe";
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(said) << status().dump();
  EXPECT_EQ(stop(SIGTERM), 0);
}

TEST_F(ServiceTest, TheMemoryCapHoldsWithSeveralJobs) {
  // 8 GiB budget and 3 GiB per GPU build: two at a time, the third waits for memory. (The
  // pressure gate is off: a loaded test machine's pressure would hold the starts instead.)
  testing::write_text(config, R"({
    "flox_env": "build-torchvision", "state_dir": "state", "socket": "run/tvd.sock", "flox": "flox",
    "socket_group": "root", "builders": )" +
                                  kBuilders + R"(,
    "scheduler": {"max_parallel": 8, "memory_budget": "8GiB", "memory_per_build": {"gpu": "3GiB"},
                  "max_memory_pressure": 100}
  })");
  // Builds of 3 s: the third job waits long enough to be seen waiting on a loaded machine.
  for (const char* isa : {"avx2", "avx512", "armv9", "armv8_2"}) {
    behave(std::string("torchvision-python313-cuda12_8-sm89-") + isa, "seconds=3\n");
  }
  start();
  ASSERT_EQ(tvctl({"enqueue", "sm89-avx2", "sm89-avx512", "sm89-armv9", "sm89-armv8.2"}).exit_code,
            0);
  size_t most = 0;
  bool saw_reason = false;
  for (int i = 0; i < 200; ++i) {
    auto s = status();
    size_t building = 0;
    bool active = false;
    for (const auto& j : s["jobs"]) {
      building += j["state"] == "building";
      active = active || j["state"] == "queued" || j["state"] == "building";
    }
    for (const auto& [id, reason] : s["waiting"].items()) {
      saw_reason = saw_reason || reason.get<std::string>().find(
                                     "waiting for memory: 6 GiB of 8 GiB reserved, needs 3 GiB") !=
                                     std::string::npos;
    }
    EXPECT_LE(s["memory"]["reserved"].get<uint64_t>(), 8ull << 30);
    most = std::max(most, building);
    if (!active) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(most, 2u);
  EXPECT_TRUE(saw_reason);
  const json done = settle();
  for (const auto& j : done["jobs"])
    EXPECT_EQ(j["state"], "succeeded");
}

// Under systemd (Type=notify): READY=1 once the socket listens, STATUS= with the queue summary
// as jobs change, STOPPING=1 on SIGTERM.
TEST_F(ServiceTest, TellsSystemdWhenReadyAndWhatItIsDoing) {
  const std::string path = (dir / "notify.sock").string();
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  start();
  ::unsetenv("NOTIFY_SOCKET");
  std::string all;
  auto drain = [&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
      all += std::string(buf, static_cast<size_t>(n)) + "\n";
  };
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);  // waits for the first one
  ASSERT_GT(n, 0);
  all = std::string(buf, static_cast<size_t>(n)) + "\n";
  EXPECT_THAT(all, HasSubstr("READY=1\nSTATUS=idle, no jobs"));
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "cpu-avx2"}).exit_code, 0);
  settle();
  EXPECT_EQ(stop(SIGTERM), 0);
  drain();
  ::close(fd);
  EXPECT_THAT(all, HasSubstr("STATUS=1 building"));
  EXPECT_THAT(all, HasSubstr("STATUS=1 succeeded"));
  EXPECT_THAT(all, HasSubstr("STOPPING=1"));
}

// Two nights: the second skips what still fails unchanged, says what was already running, and
// compares itself with the first (fixed, newly failing, durations).
TEST_F(ServiceTest, BatchesRecordEachNightAndCompareItWithThePrevious) {
  start();
  behave(cpu, "result=fail\n");
  ASSERT_EQ(
      tvctl({"enqueue", "--no-publish", "--batch", "nightly", "sm89-avx2", "cpu-avx2", "cpu-armv9"})
          .exit_code,
      0);
  settle();
  auto first = json::parse(tvctl({"--json", "show-batch", "1"}).out);
  EXPECT_EQ(first["states"]["succeeded"], 2);
  EXPECT_EQ(first["states"]["failed"], 1);
  EXPECT_FALSE(first["finished_at"].is_null());

  // Night two: cpu-avx2 still fails unchanged (skipped), sm89-avx2 now fails.
  behave(sm89, "result=fail\n");
  ASSERT_EQ(
      tvctl({"enqueue", "--no-publish", "--batch", "nightly", "sm89-avx2", "cpu-avx2", "cpu-armv9"})
          .exit_code,
      0);
  settle();
  auto second = json::parse(tvctl({"--json", "show-batch", "2"}).out);
  EXPECT_THAT(second["skipped"][cpu].get<std::string>(), HasSubstr("still failing"));
  EXPECT_EQ(second["newly_failing"], json::array({sm89}));
  EXPECT_EQ(second["previous"]["id"], 1);
  auto list = json::parse(tvctl({"--json", "batches"}).out);
  ASSERT_EQ(list["batches"].size(), 2u);
  EXPECT_EQ(list["batches"][0]["id"], 2);
  EXPECT_THAT(tvctl({"show-batch", "2"}).out, HasSubstr("newly failing: " + sm89));
  EXPECT_EQ(tvctl({"show-batch", "9"}).exit_code, 2);
}

TEST_F(ServiceTest, ASecondDaemonOnTheSameStateIsRefusedAndHarmsNothing) {
  start();
  behave(sm89, "seconds=2\n");
  ASSERT_EQ(tvctl({"enqueue", "sm89-avx2"}).exit_code, 0);
  auto r = testing::run_command({TVD_BIN, "serve", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("another tvd is running on " + (dir / "state").string()));
  // The first one's build was not taken for a crash's leftover.
  auto s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded");
  EXPECT_EQ(tvctl({"status"}).exit_code, 0);
}

// A second daemon with a state directory of its own but the same flox environment is refused too.
TEST_F(ServiceTest, ASecondDaemonOnTheSameEnvironmentIsRefused) {
  start();
  auto other = dir / "other.json";
  auto text = testing::read_text(config);
  text.replace(text.find("\"state_dir\": \"state\""), 20, "\"state_dir\": \"other\"");
  text.replace(text.find("\"socket\": \"run/tvd.sock\""), 24, "\"socket\": \"run/other.sock\"");
  testing::write_text(other, text);
  auto r = testing::run_command({TVD_BIN, "serve", "--config", other.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("another tvd is serving the flox environment"));
  EXPECT_EQ(tvctl({"status"}).exit_code, 0);
}

TEST_F(ServiceTest, OneBadSpecQueuesNothing) {
  start();
  auto r = tvctl({"enqueue", "sm89-avx2", "sm89-avx512vnn"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("did you mean sm89-avx512vnni?"));
  EXPECT_THAT(r.err, HasSubstr("Nothing was queued."));
  EXPECT_TRUE(status()["jobs"].empty());
  EXPECT_EQ(tvctl({"enqueue"}).exit_code, 2);
  EXPECT_EQ(tvctl({"show", "999"}).exit_code, 2);
  EXPECT_EQ(tvctl({"frobnicate"}).exit_code, 2);
}

// Any cell of the tables may be enqueued, not only the configured axes' (the README's promise):
// cells outside them (another Python, an architecture or ISA the axes leave out) are built and
// published like the others, alone or beside a cell of the axes, and survive a restart. (They
// failed with "FOREIGN KEY constraint failed" before: the store had no row for them.)
TEST_F(ServiceTest, CellsOutsideTheConfiguredAxesAreBuiltToo) {
  start();
  auto r = tvctl({"--json", "enqueue", "sm89-avx2", "sm75-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["jobs"].size(), 2u);
  r = tvctl({"enqueue", "python312-cuda12_8-sm90-avx2", "cpu-avx", "sm61-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto s = settle(120s);
  ASSERT_EQ(s["jobs"].size(), 5u) << s.dump();
  for (const auto& j : s["jobs"])
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
  EXPECT_EQ(calls("publish acme torchvision-python313-cuda12_8-sm75-avx2"), 1u);
  EXPECT_EQ(calls("publish acme torchvision-python312-cuda12_8-sm90-avx2"), 1u);
  EXPECT_EQ(stop(SIGTERM), 0);
  start();
  EXPECT_EQ(tvctl({"show", "2"}).exit_code, 0);
}

TEST_F(ServiceTest, AnUnreachableDaemonExitsThreeAndSaysWhere) {
  auto r = testing::run_command({TVCTL_BIN, "--socket", (dir / "nothing.sock").string(), "status"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("cannot reach tvd at " + (dir / "nothing.sock").string()));
  EXPECT_THAT(r.err, HasSubstr("systemctl start tvd"));
}

TEST_F(ServiceTest, AFailingBuildShowsItsReasonAndRetryFixesIt) {
  start();
  behave(sm89, "result=fail\n");
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "sm89-avx2"}).exit_code, 0);
  auto s = settle();
  ASSERT_EQ(s["jobs"][0]["state"], "failed");
  EXPECT_THAT(s["jobs"][0]["error"].get<std::string>(),
              HasSubstr("torch-2.8.0: builder failed with exit code 2"));
  EXPECT_EQ(s["jobs"][0]["phase"], "build");
  EXPECT_THAT(tvctl({"status"}).out, HasSubstr("torch-2.8.0: builder failed with exit code 2"));
  EXPECT_EQ(tvctl({"show", "1"}).exit_code, 1);

  fs::remove(plan / (sm89 + ".build"));
  ASSERT_EQ(tvctl({"retry", "1"}).exit_code, 0);
  s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded");
}

// A job whose recipe has an error finding fails at enqueue, with the finding as its reason; the
// fake flox is never asked to build it.
TEST_F(ServiceTest, AJobWhoseRecipeWouldFailFailsAtEnqueue) {
  testing::write_text(env_dir / ".flox/pkgs/torchvision-python313-cuda12_8-sm90-avx2.nix",
                      "  gpuArchSM = \"sm_90\";\n  gpuTargets = [ gpuArchSM ];\n");
  start();
  auto r = tvctl({"enqueue", "sm90-avx2"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("0 queued, 0 already queued or running, 0 skipped, 1 failed at once"));
  auto jobs = status()["jobs"];
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["state"], "failed");
  EXPECT_EQ(jobs[0]["phase"], "recipe");
  EXPECT_THAT(jobs[0]["error"].get<std::string>(),
              HasSubstr("torchvision-python313-cuda12_8-sm90-avx2.nix:1: error: gpuTargets "
                        "\"sm_90\": PyTorch's CMake rejects"));
  EXPECT_FALSE(std::filesystem::exists(plan / "calls"));
}

TEST_F(ServiceTest, MatrixAndGenerateGoThroughTheDaemon) {
  start();
  auto m = tvctl({"--json", "matrix"});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_EQ(json::parse(m.out)["summary"]["buildable"], 42);
  EXPECT_THAT(tvctl({"matrix"}).out, HasSubstr("excluded: sm121 needs CUDA >= 12.9"));
  // A recipe that would fail in flox build shows with its first error.
  testing::write_text(env_dir / ".flox/pkgs/torchvision-python313-cuda12_8-sm90-avx2.nix",
                      "x = (python3Packages.pytorch.override { });\n");
  EXPECT_THAT(tvctl({"matrix"}).out,
              HasSubstr("recipe would fail: calls `pytorch`: evaluation fails at once"));
  std::filesystem::remove(env_dir / ".flox/pkgs/torchvision-python313-cuda12_8-sm90-avx2.nix");

  auto dry = tvctl({"--json", "generate", "--dry-run", "sm90-*"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(json::parse(dry.out)["recipes"][0]["outcome"], "would write");
  ASSERT_EQ(tvctl({"generate", "cpu-avx2", "cpu-armv9"}).exit_code, 0);
  // Written and committed, one commit each, so that nothing untracked blocks a publish later.
  std::string log;
  for (int i = 0; i < 100 && log.find("cpu-armv9") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
    log = testing::git(env_dir, {"log", "--format=%s"});
  }
  EXPECT_THAT(log, HasSubstr("(" + cpu + ")"));
  EXPECT_THAT(log, HasSubstr("(torchvision-python313-cpu-armv9)"));
  EXPECT_EQ(testing::git(env_dir, {"status", "--porcelain"}), "");
  EXPECT_EQ(tvctl({"generate", "sm121-avx2"}).exit_code, 2);
}

TEST_F(ServiceTest, StatusGivesRunningBuildsAnEta) {
  start();
  behave(cpu, "seconds=3\n");
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "cpu-avx2"}).exit_code, 0);
  json s;
  for (int i = 0; i < 100; ++i) {
    s = status();
    if (s["jobs"][0]["phase"] == "build" && s["jobs"][0].contains("eta_at")) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(s["jobs"][0].contains("eta_at")) << s.dump();
  EXPECT_EQ(s["jobs"][0]["expected_s"], 7200);  // the CPU default, 2 h: no history yet
  EXPECT_EQ(s["jobs"][0]["expected_from"], "default");
  auto human = tvctl({"status"});
  EXPECT_THAT(human.out, HasSubstr("(a default: no build of it yet)"));
  EXPECT_THAT(human.out, Not(HasSubstr("(from history)")));
  EXPECT_THAT(human.out, ::testing::ContainsRegex("\\[[#.]{20}\\] +[0-9]+% ETA"));
  auto watched = tvctl({"watch", "--count", "2", "--interval", "0.2"});
  EXPECT_EQ(watched.exit_code, 0) << watched.err;
  size_t tables = 0;
  for (size_t at = 0; (at = watched.out.find("JOB  VARIANT", at)) != std::string::npos; ++at)
    ++tables;
  EXPECT_EQ(tables, 2u);
  settle();

  // Built once: the next build's expectation is this variant's own history.
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "cpu-avx2"}).exit_code, 0);
  for (int i = 0; i < 100; ++i) {
    s = status();
    if (s["jobs"][0]["phase"] == "build" && s["jobs"][0].contains("eta_at")) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(s["jobs"][0]["expected_from"], "history") << s.dump();
  EXPECT_LT(s["jobs"][0]["expected_s"].get<int64_t>(), 60);
  EXPECT_THAT(tvctl({"status"}).out, HasSubstr("(from history)"));
  settle();
}

TEST_F(ServiceTest, CancelStopsARunningBuild) {
  start();
  behave(sm89, "result=hang\n");
  ASSERT_EQ(tvctl({"enqueue", "sm89-avx2"}).exit_code, 0);
  for (int i = 0; i < 100 && status()["jobs"][0]["state"] != "building"; ++i)
    std::this_thread::sleep_for(50ms);
  // One command: a list with a job that does not exist cancels nothing.
  auto mixed = tvctl({"cancel", "1", "999"});
  EXPECT_EQ(mixed.exit_code, 2);
  EXPECT_THAT(mixed.err, HasSubstr("no job 999; nothing was cancelled"));
  EXPECT_EQ(status()["jobs"][0]["state"], "building");
  ASSERT_EQ(tvctl({"cancel", "1"}).exit_code, 0);
  auto s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "cancelled");
  EXPECT_EQ(tvctl({"cancel", "1"}).exit_code, 1);  // already cancelled: refused
}

TEST_F(ServiceTest, SighupReloadsAndABrokenConfigIsRefused) {
  start();
  auto before = tvctl({"enqueue", "--no-publish", "python312-*"});
  EXPECT_EQ(before.exit_code, 2);
  EXPECT_THAT(before.err, HasSubstr("matches no variant"));
  const std::string good = testing::read_text(config);
  testing::write_text(config, good.substr(0, good.rfind('}')) +
                                  R"(, "axes": {"python": ["python313", "python312"],
                                   "gpu_archs": ["sm89"], "cpu_isas": ["avx2"]}})");
  ::kill(daemon, SIGHUP);
  const bool reloaded = log_says("reloaded");
  ASSERT_TRUE(reloaded) << testing::read_text(dir / "serve.log");
  auto after = tvctl({"--json", "enqueue", "--no-publish", "python312-*"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(json::parse(after.out)["jobs"].size(), 2u);  // sm89-avx2 and cpu-avx2 on 3.12

  testing::write_text(config, "{ \"flox_env\": \"build-torchvision\", \"schedulr\": {} }");
  ::kill(daemon, SIGHUP);
  const bool refused = log_says("refused");
  EXPECT_TRUE(refused);
  EXPECT_THAT(testing::read_text(dir / "serve.log"), HasSubstr("schedulr: unknown key"));
  EXPECT_EQ(settle()["jobs"].size(), 2u);  // still serving, on the old config

  // A flox that does not exist is refused as at start (it was taken before).
  std::string no_flox = good;
  no_flox.replace(no_flox.find("\"flox\": \"flox\""), 14, "\"flox\": \"/nonexistent/flox\"");
  testing::write_text(config, no_flox);
  ::kill(daemon, SIGHUP);
  const bool said = log_says("'/nonexistent/flox' is not an executable");
  EXPECT_TRUE(said) << testing::read_text(dir / "serve.log");
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "sm89-avx2"}).exit_code, 0);
  auto s = settle();
  ASSERT_EQ(s["jobs"].size(), 3u);
  for (const auto& j : s["jobs"]) {
    EXPECT_EQ(j["state"], "succeeded") << j.dump();  // built with the old, working flox
  }
}

// Each SIGHUP used to keep the old matrix and templates for good (about 64 KiB a reload): jobs
// now take their variants from the new matrix, and the old setup goes at the next reload. 200
// reloads with a job running: the daemon's memory stays where 20 reloads left it.
TEST_F(ServiceTest, ReloadsDoNotGrowTheDaemonsMemory) {
  // ASan keeps freed memory in quarantine; without it, freed memory is used again as it would be.
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string saved = asan ? asan : "";
  ::setenv("ASAN_OPTIONS", (saved + (saved.empty() ? "" : ":") + "quarantine_size_mb=0").c_str(),
           1);
  behave(cpu, "seconds=60\n");
  start();
  ::setenv("ASAN_OPTIONS", saved.c_str(), 1);
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  auto rss_kib = [&] {
    std::istringstream in(testing::read_text("/proc/" + std::to_string(daemon) + "/status"));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1L;
  };
  auto reload = [&](int times) {
    for (int i = 0; i < times; ++i) {
      ::kill(daemon, SIGHUP);
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(tvctl({"status"}).exit_code, 0);  // the signals were handled
  };
  // The first reloads warm the allocator up (on a loaded machine, 2-3 MiB of it after the 20th:
  // once, not per reload); a leak shows as growth between the 220th and the 420th.
  reload(220);
  const long early = rss_kib();
  reload(200);
  const long late = rss_kib();
  RecordProperty("rss_kib_after_220_reloads", static_cast<int>(early));
  RecordProperty("rss_kib_after_420_reloads", static_cast<int>(late));
  EXPECT_LT(late - early, 2048) << early << " KiB after 220 reloads, " << late << " after 420";
  EXPECT_EQ(status()["jobs"][0]["state"], "building");  // the job lived through every reload
}

// Two nightlies over the same 42 recipes, with a restart and an unrelated commit between them:
// flox 1.12+'s own check, keyed on HEAD, would publish all 42 again; tvd knows each output was
// published and publishes nothing the second night.
TEST_F(ServiceTest, TwoNightliesOverUnchangedRecipesPublishEachOutputOnce) {
  // A matrix of 6 cells (GPU and CPU-only, two ISAs): enough for "each once", and quick.
  const std::string whole = testing::read_text(config);
  testing::write_text(config, whole.substr(0, whole.rfind('}')) +
                                  R"(, "axes": {"python": ["python313"], "cuda": ["12.8"],
                                   "gpu_archs": ["sm89", "sm90"], "cpu_isas": ["avx2", "avx512"],
                                   "cpu_only": true}})");
  start();
  ASSERT_EQ(tvctl({"enqueue", "--all", "--batch", "nightly"}).exit_code, 0);
  auto first = settle(180s);
  ASSERT_EQ(first["jobs"].size(), 6u) << first.dump();
  for (const auto& j : first["jobs"])
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
  EXPECT_EQ(calls("publish acme "), 6u);
  ASSERT_EQ(stop(SIGTERM), 0);

  // Someone commits elsewhere in the checkout and pushes: HEAD moves.
  testing::write_text(env_dir / "NOTES.md", "build notes\n");
  testing::git(env_dir, {"add", "NOTES.md"});
  testing::git(env_dir, {"commit", "-q", "-m", "Notes"});
  testing::git(env_dir, {"push", "-q"});
  start();
  auto r = tvctl({"--json", "enqueue", "--all", "--batch", "nightly"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  settle(180s);
  EXPECT_EQ(calls("build "), 12u);        // built again, as the nightly asks
  EXPECT_EQ(calls("publish acme "), 6u);  // but nothing published twice
  auto events = tvctl({"show", std::to_string(json::parse(r.out)["jobs"][0]["id"].get<int>())});
  EXPECT_THAT(events.out, HasSubstr("already published: /nix/store/"));
}

// Before: a job building when a reload turned publishing off published all the same.
TEST_F(ServiceTest, AReloadThatTurnsPublishingOffStopsPublishesNotYetStarted) {
  behave(cpu, "seconds=2\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  first_job_in("building");
  std::string off = testing::read_text(config);
  off.replace(off.find("\"enabled\": true"), 15, "\"enabled\": false");
  testing::write_text(config, off);
  ::kill(daemon, SIGHUP);
  const bool reloaded = log_says("reloaded");
  ASSERT_TRUE(reloaded) << testing::read_text(dir / "serve.log");
  auto s = settle();
  ASSERT_EQ(s["jobs"][0]["state"], "succeeded") << s.dump();
  EXPECT_THAT(s["jobs"][0]["note"].get<std::string>(),
              HasSubstr("built, not published: publishing was turned off"));
  EXPECT_EQ(calls("build " + cpu), 1u);
  EXPECT_EQ(calls("publish"), 0u);
}

// Before: 50 timers (or people) enqueuing the nightly at once made 50 batch records, 49 of them
// empty, and the nights' pages and /metrics read the last, empty one.
TEST_F(ServiceTest, FiftyConcurrentEnqueuesOfTheNightlyMakeOneBatch) {
  // Builds long enough that the batch still runs when the last enqueue comes.
  behave(cpu, "seconds=8\n");
  behave(sm89, "seconds=8\n");
  start();
  std::vector<std::thread> clients;
  std::atomic<int> failed{0};
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back([&] {
      if (tvctl({"enqueue", "--no-publish", "--batch", "nightly", "cpu-avx2", "sm89-avx2"})
              .exit_code != 0) {
        ++failed;
      }
    });
  }
  for (auto& c : clients)
    c.join();
  EXPECT_EQ(failed, 0);
  auto s = settle();
  EXPECT_EQ(s["jobs"].size(), 2u) << s.dump();
  auto batches = tvctl({"--json", "batches"});
  ASSERT_EQ(batches.exit_code, 0) << batches.err;
  auto b = json::parse(batches.out);
  ASSERT_EQ(b["batches"].size(), 1u) << b.dump();
  EXPECT_EQ(b["batches"][0]["name"], "nightly");
  // No skip recorded for its own jobs ("already queued or running as job 1").
  auto one = tvctl({"--json", "show-batch", std::to_string(b["batches"][0]["id"].get<int>())});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_TRUE(json::parse(one.out)["skipped"].empty()) << one.out;
  // A later nightly, once this one is over, is a batch of its own.
  auto later = tvctl({"enqueue", "--no-publish", "--batch", "nightly", "cpu-avx2"});
  ASSERT_EQ(later.exit_code, 0);
  EXPECT_THAT(later.out, HasSubstr("batch 2: 'tvctl show-batch 2' follows it"));
}

}  // namespace
}  // namespace tvd::integration
