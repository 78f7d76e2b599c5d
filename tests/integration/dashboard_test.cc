// The dashboard and /metrics of the real `tvd serve`, with a scratch history of nights seeded in
// its store: pages loaded in headless Chromium (asserting on the rendered DOM), /metrics checked
// by promtool, and bad requests that must not touch the builds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include <regex>
#include <set>

#include "tests/integration/daemon_fixture.h"
#include "tests/support/browser.h"
#include "tests/support/http_client.h"

namespace tvd::integration {
namespace {

class DashboardTest : public DaemonTest {
 protected:
  static constexpr int kNights = 5;
  const std::string sm80 = "torchvision-python313-cuda12_8-sm80-avx2";
  int port = 0;
  int64_t last_night_start = 0;

  // A first start makes the store and the matrix; then five nights of history go in, the last
  // with sm80 failing for lack of memory, and the daemon starts again on it, with `budget`.
  void start_with_history(const std::string& budget = "8GiB") {
    start();
    ASSERT_EQ(stop(SIGTERM), 0);
    auto store = store::Store::open(dir / "state" / "tvd.db");
    ASSERT_TRUE(store) << store.error().message;
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    int64_t id = store->max_job_id().value() + 1;
    for (int n = 0; n < kNights; ++n) {
      const int64_t begin = now - (kNights - n) * 86400;
      last_night_start = begin;
      const int64_t batch = store->create_batch("nightly", begin).value();
      auto add = [&](const std::string& pkg, bool ok, int64_t seconds, int64_t peak_mib) {
        store::JobRow j;
        j.id = id++;
        j.package = pkg;
        j.state = ok ? proto::JobState::kSucceeded : proto::JobState::kFailed;
        j.phase = proto::JobPhase::kBuild;
        j.origin = proto::Origin::kBatch;
        j.batch_id = batch;
        j.built = ok;
        j.build_tries = 1;
        j.failure = ok ? proto::Failure::kNone : proto::Failure::kOutOfMemory;
        j.error = ok ? "" : "the build ran out of memory";
        j.enqueued_at = begin;
        j.started_at = begin;
        j.finished_at = begin + seconds;
        store::AttemptRow a;
        a.job_id = j.id;
        a.number = 1;
        a.phase = proto::JobPhase::kBuild;
        a.started_at = begin;
        a.ended_at = begin + seconds;
        a.outcome = ok ? proto::AttemptOutcome::kSucceeded : proto::AttemptOutcome::kFailed;
        a.exit_code = ok ? 0 : 1;
        a.failure = j.failure;
        a.reason = j.error;
        a.log_path = (dir / "gone.log").string();
        a.peak_memory = peak_mib << 20;
        ASSERT_TRUE(store->save_job(j, {a}));
      };
      add(sm89, true, 3 * 3600 + n * 600, 1024 + n * 256);
      add(cpu, true, 3600, 512);
      add(sm80, n != kNights - 1, 5 * 3600, 1536);
      ASSERT_TRUE(store->finish_batch_if_done(batch, begin + 5 * 3600 + 60).value());
    }
    ASSERT_TRUE(store->relearn_from_history());  // as if a tvd had run these nights
    std::string text = testing::read_text(config);
    text.replace(text.find("\"8GiB\""), 6, "\"" + budget + "\"");
    testing::write_text(config, text);
    start();
    port = http_port();
  }

  std::string url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }

  // Kept under build/.../artifacts for a person to look at.
  bool keep_screenshot(testing::Browser& b, const std::string& name) {
    std::filesystem::create_directories(TVD_ARTIFACTS);
    return b.screenshot(std::filesystem::path(TVD_ARTIFACTS) / name);
  }

  std::unique_ptr<testing::Browser> browser() {
    std::string error;
    auto b = testing::Browser::start(dir / "browser", error);
    if (!b) ADD_FAILURE() << error;
    return b;
  }
};

TEST_F(DashboardTest, TheMatrixPageColoursEachCellByItsLastResult) {
  // A hand-written sm86 recipe with the seed era's target: its cell says it would fail.
  const std::string sm86 = "torchvision-python313-cuda12_8-sm86-avx2";
  testing::write_text(env_dir / ".flox/pkgs" / (sm86 + ".nix"), "gpuTargets = [ \"sm_86\" ];\n");
  start_with_history();
  auto b = browser();
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->open(url("/"))) << b->last_error();
  // One grid per Python × CUDA: the default matrix has one, 9 GPU rows and a CPU-only row.
  EXPECT_EQ(b->run("return document.querySelectorAll('table.matrix').length"), 1);
  EXPECT_EQ(b->run("return document.querySelectorAll('table.matrix tbody tr').length"), 10);
  EXPECT_EQ(b->run("return document.querySelectorAll('td.cell').length"), 60);
  EXPECT_EQ(b->run("return document.querySelector('tr.cpu th').textContent"), "CPU-only");
  auto state = [&](const std::string& pkg) {
    return b->run("return document.querySelector('td[data-variant=\"" + pkg +
                  "\"]').dataset.state");
  };
  EXPECT_EQ(state(sm89), "succeeded");
  EXPECT_EQ(state(cpu), "succeeded");
  EXPECT_EQ(state(sm80), "failed");
  EXPECT_EQ(state(sm86), "never");
  EXPECT_EQ(b->run("return document.querySelectorAll('td.cell[data-recipe=\"broken\"]').length"),
            1);
  EXPECT_THAT(b->run("return document.querySelector('td[data-variant=\"" + sm86 + "\"]').title")
                  .get<std::string>(),
              ::testing::HasSubstr("recipe would fail: line 1: gpuTargets \"sm_86\""));
  // Cells link to their variant; excluded ones say why on hover.
  EXPECT_EQ(b->run("return document.querySelector('td[data-variant=\"" + sm89 +
                   "\"] a').getAttribute('href')"),
            "/variant/" + sm89);
  auto excluded = b->run(
      "const c = document.querySelector('td.cell[data-state=\"excluded\"]');"
      "return c ? c.title : ''");
  EXPECT_THAT(excluded.get<std::string>(), ::testing::HasSubstr("excluded: "));
  EXPECT_EQ(b->run("return document.querySelector('.count[data-state=\"excluded\"]').textContent"),
            "18 excluded");
  // The stylesheet is the daemon's own and applied: succeeded and failed differ in colour, and
  // nothing was loaded from anywhere else.
  auto colour = [&](const std::string& pkg) {
    return b->run("return getComputedStyle(document.querySelector('td[data-variant=\"" + pkg +
                  "\"]')).backgroundColor");
  };
  EXPECT_NE(colour(sm89), colour(sm80));
  EXPECT_EQ(b->run("return performance.getEntriesByType('resource')"
                   ".every(e => e.name.startsWith(location.origin))"),
            true);
  EXPECT_TRUE(keep_screenshot(*b, "dashboard-matrix.png"));
}

TEST_F(DashboardTest, TheQueueShowsProgressAndWaitingReasonsAndRefreshesWithoutReload) {
  // History: sm89 took 3 h to 3 h 40 min and peaked at 1 to 2 GiB; sm80 ran out of memory at
  // 1.5 GiB. Reservations of about 2 GiB each, so 4 fit in 16 GiB.
  start_with_history("16GiB");
  auto b = browser();  // first: it may take seconds to start on a loaded machine
  ASSERT_TRUE(b);
  for (const auto& arch : {"sm86", "sm89", "sm90", "sm100", "sm120"}) {
    behave(std::string("torchvision-python313-cuda12_8-") + arch + "-avx2", "seconds=6\n");
  }
  // Four slots (max_parallel) and five builds: one waits, and says so.
  auto r = tvctl({"enqueue", "sm86-avx2", "sm89-avx2", "sm90-avx2", "sm100-avx2", "sm120-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(b->open(url("/queue?refresh=1"))) << b->last_error();
  b->run("window.loadedOnce = 42; return true");
  ASSERT_TRUE(
      b->wait_for("return document.querySelectorAll('#running tr[data-job]').length == 4"
                  " && document.querySelectorAll('#waiting tr[data-job]').length == 1"
                  " && !document.querySelector('#waiting td.reason').textContent"
                  ".startsWith('committing')",  // its recipe is committed: it waits for a slot
                  20s))
      << b->run("return document.querySelector('main').innerText");
  EXPECT_EQ(b->run("return document.querySelectorAll('#running td.progress progress').length"), 4);
  EXPECT_TRUE(keep_screenshot(*b, "dashboard-queue.png"));
  EXPECT_THAT(
      b->run("return document.querySelector('#running td.eta').textContent").get<std::string>(),
      ::testing::MatchesRegex("in .*"));
  EXPECT_THAT(
      b->run("return document.querySelector('#waiting td.reason').textContent").get<std::string>(),
      HasSubstr("4 of 4 slots busy"));
  // Memory: each build's reservation comes from its history (sm89: its 2 GiB peak plus the
  // margin its peaks' spread asks, the most, 25 %: they rose by 12-20 % a night; the others: the
  // GPU average), and the bar is their sum against the budget.
  EXPECT_EQ(b->run("return Number(document.getElementById('memory').value) == "
                   "[...document.querySelectorAll('#running tr[data-job]')]"
                   ".reduce((s, r) => s + Number(r.dataset.reserved), 0)"),
            true);
  EXPECT_EQ(b->run("return Number(document.getElementById('memory').max)"), 16.0 * (1 << 30));
  const std::string row = "document.querySelector('#running tr[data-variant=\"" + sm89 + "\"]')";
  EXPECT_NEAR(b->run("return Number(" + row + ".dataset.reserved)").get<double>(),
              2048.0 * 1.25 * (1 << 20), 1 << 20);  // rounded up to a MiB
  // Its ETA: the weighted mean of its five nights (3 h 30 min and more), not the 3 h default.
  const double expected = b->run("return Number(" + row + ".querySelector('progress').max)");
  EXPECT_GT(expected, 12600);
  EXPECT_LT(expected, 12700);
  EXPECT_THAT(b->run("return document.querySelector('#capacity').innerText").get<std::string>(),
              HasSubstr("Free disk"));
  // The page follows the builds to the end by itself, and was never reloaded.
  ASSERT_TRUE(
      b->wait_for("return document.querySelectorAll('#running tr[data-job]').length == 0"
                  " && document.querySelectorAll('#waiting tr[data-job]').length == 0",
                  60s))
      << b->run("return document.querySelector('main').innerText");
  EXPECT_EQ(b->run("return window.loadedOnce"), 42);
  EXPECT_GT(b->run("return Number(document.body.dataset.refreshes)").get<int>(), 1);
  EXPECT_EQ(b->run("return document.querySelectorAll('#finished td.s-succeeded').length >= 5"),
            true);
}

TEST_F(DashboardTest, AVariantPageChartsItsBuildsOverTheNights) {
  start_with_history();
  auto b = browser();
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->open(url("/variant/" + sm89))) << b->last_error();
  EXPECT_EQ(b->run("return document.querySelector('h1').textContent"), sm89);
  EXPECT_EQ(b->run("return document.querySelectorAll('svg.chart rect.duration').length"), kNights);
  EXPECT_EQ(b->run("return document.querySelectorAll('svg.chart circle.peak').length"), kNights);
  // Later nights took longer (3 h + 10 min a night) and peaked higher (20 GiB + 1 a night).
  EXPECT_EQ(b->run("const h = [...document.querySelectorAll('rect.duration')]"
                   ".map(r => Number(r.getAttribute('height')));"
                   "return h.every((v, i) => i == 0 || v > h[i - 1])"),
            true);
  EXPECT_THAT(
      b->run("return document.querySelectorAll('g.point title')[4].textContent").get<std::string>(),
      HasSubstr("peak 2 GiB"));
  EXPECT_EQ(b->run("return document.querySelectorAll('table.jobs tr').length"), kNights + 1);
  EXPECT_EQ(b->run("return document.querySelectorAll('table.attempts tr.attempt').length"),
            kNights);
  EXPECT_EQ(b->run("return document.getElementById('last').textContent"), "succeeded");
  EXPECT_TRUE(keep_screenshot(*b, "dashboard-variant.png"));

  ASSERT_TRUE(b->open(url("/variant/" + sm80)));
  EXPECT_EQ(b->run("return document.getElementById('last').textContent"), "failed");
  EXPECT_THAT(b->run("return document.querySelector('table.jobs').innerText").get<std::string>(),
              HasSubstr("the build ran out of memory"));

  auto missing = testing::http_get(port, "/variant/torchvision-python313-cuda12_8-sm98-avx2");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("Did you mean"));
}

TEST_F(DashboardTest, AJobPageFollowsItsLogLive) {
  start_with_history();
  // The browser first (it may take seconds to start on a loaded machine), then the build.
  auto b = browser();
  ASSERT_TRUE(b);
  behave(sm89, "seconds=6\n");
  ASSERT_EQ(tvctl({"enqueue", "sm89-avx2"}).exit_code, 0);
  // The first job after the history: find its id from status.
  int64_t id = 0;
  for (int i = 0; i < 100 && id == 0; ++i) {
    const json now = status();
    for (const auto& j : now["jobs"]) {
      if (j["state"] == "building") id = j["id"];
    }
    if (id == 0) std::this_thread::sleep_for(50ms);
  }
  ASSERT_GT(id, 0);
  ASSERT_TRUE(b->open(url("/job/" + std::to_string(id) + "?refresh=1")));
  b->run("window.loadedOnce = 42; return true");
  EXPECT_EQ(b->run("return document.getElementById('log').dataset.done === undefined"), true);
  ASSERT_TRUE(b->wait_for("return document.getElementById('log').dataset.done === 'yes'", 60s))
      << b->run("return document.getElementById('log').textContent");
  const std::string log = b->run("return document.getElementById('log').textContent");
  EXPECT_THAT(log, HasSubstr("Building " + sm89));
  EXPECT_THAT(log, HasSubstr("Completed build of " + sm89));
  // Every line once: the follower appended what was new, never the whole log again.
  EXPECT_EQ(std::count(log.begin(), log.end(), 'C') >= 1, true);
  size_t first = log.find("these 2 derivations");
  EXPECT_EQ(log.find("these 2 derivations", first + 1), std::string::npos);
  ASSERT_TRUE(
      b->wait_for("return document.getElementById('state').textContent"
                  ".startsWith('succeeded')",
                  10s));
  EXPECT_EQ(b->run("return window.loadedOnce"), 42);
  EXPECT_TRUE(keep_screenshot(*b, "dashboard-job.png"));
}

// Two environments: a section of grids each, and a variant of the other environment has its page.
TEST_F(DashboardTest, TheMatrixPageShowsEachEnvironment) {
  paired_environments("127.0.0.1:0");
  start();
  port = http_port();
  auto page = testing::http_get(port, "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(page.body, HasSubstr("data-environment=\"pytorch\">pytorch: PyTorch</h2>"));
  EXPECT_THAT(page.body,
              HasSubstr("data-environment=\"torchvision\">torchvision: TorchVision, torch from "
                        "pytorch</h2>"));
  const std::string pt = "pytorch/pytorch-python313-cpu-avx2";
  EXPECT_THAT(page.body, HasSubstr("<a href=\"/variant/" + pt + "\">"));
  auto variant = testing::http_get(port, "/variant/" + pt);
  EXPECT_EQ(variant.status, 200);
  EXPECT_THAT(variant.body, HasSubstr(pt));
  EXPECT_EQ(testing::http_get(port, "/variant/pytorch/../x").status, 404);

  // /metrics counts each environment's jobs, zeros included.
  auto m = testing::http_get(port, "/metrics");
  EXPECT_THAT(m.body, HasSubstr("tvd_jobs{environment=\"pytorch\",state=\"queued\"} 0\n"));
  EXPECT_THAT(m.body, HasSubstr("tvd_jobs{environment=\"torchvision\",state=\"failed\"} 0\n"));
  EXPECT_THAT(m.body, HasSubstr("tvd_running_builds{environment=\"torchvision\"} 0\n"));

  // A TorchVision job's page names the PyTorch job it waits for, and that one's page the jobs
  // that wait for it, while they wait.
  // Long enough that a loaded machine still commits the TorchVision recipe while it builds.
  behave("pytorch-python313-cpu-avx2", "seconds=10\n");
  auto r = tvctl({"--json", "enqueue", "torchvision/cpu-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto queued = nlohmann::json::parse(r.out)["jobs"];
  ASSERT_EQ(queued.size(), 2u) << r.out;
  const std::string torch_job = std::to_string(queued[0]["id"].get<int>());
  const std::string vision_job = std::to_string(queued[1]["id"].get<int>());
  // It waits once its recipe is committed and it is in the scheduler's queue.
  auto vision = testing::http_get(port, "/job/" + vision_job);
  for (int i = 0; i < 180 && vision.body.find("Waits for") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    vision = testing::http_get(port, "/job/" + vision_job);
  }
  EXPECT_THAT(vision.body, HasSubstr("<h1>Job " + vision_job +
                                     ": <a href=\"/variant/torchvision/torchvision-python313-cpu-"
                                     "avx2\">"));
  EXPECT_THAT(vision.body, HasSubstr("<th>Waits for</th><td id=\"waits-for\"><a href=\"/job/" +
                                     torch_job + "\">#" + torch_job + "</a> <a href=\"/variant/" +
                                     pt + "\">" + pt + "</a> to be built</td>"));
  auto torch = testing::http_get(port, "/job/" + torch_job);
  EXPECT_THAT(torch.body, HasSubstr("<th>Waited for by</th><td id=\"waited-for-by\"><a "
                                    "href=\"/job/" +
                                    vision_job + "\">#" + vision_job + "</a>"));
  m = testing::http_get(port, "/metrics");
  EXPECT_THAT(m.body, HasSubstr("tvd_jobs{environment=\"torchvision\",state=\"queued\"} 1\n"));
  settle();
  vision = testing::http_get(port, "/job/" + vision_job);
  EXPECT_EQ(vision.body.find("Waits for"), std::string::npos);
  m = testing::http_get(port, "/metrics");
  EXPECT_THAT(m.body, HasSubstr("tvd_jobs{environment=\"torchvision\",state=\"succeeded\"} 1\n"));
  EXPECT_THAT(m.body, HasSubstr("tvd_jobs{environment=\"pytorch\",state=\"succeeded\"} 1\n"));
}

// Triage in one place: the job page opens its log at the first error, links every attempt,
// and says what was built from what; the pages fit a phone's width. Screenshots of the job,
// night and matrix pages at 1400 and 420 px are kept (build/asan/artifacts) to be looked at.
TEST_F(DashboardTest, TheJobPageOpensAtTheFirstErrorAndThePagesFitAPhone) {
  behave(sm89, "fail_first=1\noutput_mb=1\n");
  start();
  port = http_port();
  auto r = tvctl({"--json", "enqueue", "--batch", "nightly", "sm89-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  settle();
  const std::string page = testing::http_get(port, "/job/1").body;
  EXPECT_THAT(page, HasSubstr("<a href=\"/nights/1\">batch 1</a>"));
  EXPECT_THAT(page, HasSubstr("<td id=\"output\"><code>/nix/store/"));
  EXPECT_THAT(page, HasSubstr("<td id=\"nixpkgs\">pytorch-2.8 (<code>fe5e41d7ffc0</code>)"));
  EXPECT_THAT(page, HasSubstr("<td id=\"revision\"><code>"));
  EXPECT_THAT(page, HasSubstr("<a href=\"/job/1?attempt=1#log-section\">1</a>"));
  // The first attempt (killed for memory) and its error, marked.
  const std::string first = testing::http_get(port, "/job/1?attempt=1").body;
  EXPECT_THAT(first, HasSubstr("Log of attempt 1 (build)"));
  EXPECT_THAT(first, HasSubstr("<mark id=\"first-error\">error: Cannot build "));
  EXPECT_EQ(testing::http_get(port, "/job/1?attempt=x").status, 400);
  // Its failed attempt is drawn in the failure colour.
  EXPECT_THAT(testing::http_get(port, "/variant/" + sm89).body,
              HasSubstr("rect class=\"duration failed\""));

  auto b = browser();
  if (!b) return;
  for (const int width : {1400, 420}) {
    ASSERT_TRUE(b->resize(width, 1000)) << b->last_error();
    for (const auto& [path, name] : std::vector<std::pair<std::string, std::string>>{
             {"/job/1?attempt=1", "job"}, {"/nights/1", "night"}, {"/", "matrix"}}) {
      ASSERT_TRUE(b->open(url(path))) << b->last_error();
      // Nothing wider than the window: the page itself never scrolls sideways.
      EXPECT_LE(b->run("return document.documentElement.scrollWidth").get<int>(),
                b->run("return window.innerWidth").get<int>())
          << name << " at " << width << " px";
      EXPECT_TRUE(keep_screenshot(*b, "page-" + name + "-" + std::to_string(width) + ".png"));
    }
  }
  // The job page opened at the first error: it is in view.
  ASSERT_TRUE(b->open(url("/job/1?attempt=1")));
  EXPECT_TRUE(b->wait_for(
      "const m = document.getElementById('first-error'); const l = document.getElementById('log');"
      "if (!m) return false; const r = m.getBoundingClientRect(), p = l.getBoundingClientRect();"
      "return r.top >= p.top && r.bottom <= p.bottom;",
      std::chrono::seconds(5)));
}

TEST_F(DashboardTest, TheNightsPageShowsEachBatch) {
  start_with_history();
  auto b = browser();
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->open(url("/nights")));
  EXPECT_EQ(b->run("return document.querySelectorAll('table.batches tr[data-batch]').length"),
            kNights);
  EXPECT_EQ(b->run("return document.querySelectorAll('svg.chart rect.duration').length"), kNights);
  EXPECT_THAT(b->run("return document.querySelector('table.batches tr[data-batch]').innerText")
                  .get<std::string>(),
              HasSubstr("2 GiB"));
  EXPECT_TRUE(keep_screenshot(*b, "dashboard-nights.png"));
}

TEST_F(DashboardTest, MetricsPassPromtoolAndCountTheHistory) {
  start_with_history();
  behave(sm89, "result=fail\n");
  ASSERT_EQ(tvctl({"enqueue", "sm89-avx2"}).exit_code, 0);
  settle();
  auto m = testing::http_get(port, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_THAT(m.headers["content-type"], HasSubstr("text/plain; version=0.0.4"));
  testing::write_text(dir / "metrics.txt", m.body);
  auto check = testing::run_command(
      {"sh", "-c", "promtool check metrics < '" + (dir / "metrics.txt").string() + "'"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err << m.body;

  auto value = [&](const std::string& series) -> double {
    std::regex re("^" + std::regex_replace(series, std::regex(R"([{}\[\]().+*?^$|\\])"), R"(\$&)") +
                  " (.*)$");
    std::istringstream in(m.body);
    for (std::string line; std::getline(in, line);) {
      std::smatch match;
      if (std::regex_match(line, match, re)) return std::stod(match[1]);
    }
    ADD_FAILURE() << "no " << series << " in\n" << m.body;
    return -1;
  };
  // The history: 5 nights × 3 jobs, one failed by OOM; then this run's sm89, failed 3 times.
  EXPECT_EQ(value(R"(tvd_jobs{environment="default",state="succeeded"})"), 14);
  EXPECT_EQ(value(R"(tvd_jobs{environment="default",state="failed"})"), 2);
  EXPECT_EQ(value(R"(tvd_failures_total{phase="build",reason="out-of-memory"})"), 1);
  EXPECT_EQ(value(R"(tvd_build_duration_seconds_count{outcome="succeeded"})"), 14);
  EXPECT_EQ(value(R"(tvd_build_duration_seconds_bucket{outcome="succeeded",le="3600"})"), 5);
  EXPECT_GE(value(R"(tvd_build_duration_seconds_count{outcome="failed"})"), 2);
  EXPECT_EQ(value("tvd_nightly_last_start_timestamp_seconds"), last_night_start);
  EXPECT_EQ(value("tvd_nightly_last_end_timestamp_seconds"), last_night_start + 5 * 3600 + 60);
  EXPECT_EQ(value(R"(tvd_nightly_last_jobs{state="failed"})"), 1);
  EXPECT_EQ(value(R"(tvd_nightly_last_jobs{state="succeeded"})"), 2);
  EXPECT_EQ(value("tvd_memory_budget_bytes"), 8.0 * (1 << 30));
  EXPECT_EQ(value(R"(tvd_running_builds{environment="default"})"), 0);
  EXPECT_GE(value("tvd_uptime_seconds"), 0);
  EXPECT_EQ(value(R"(tvd_build_info{version="0.1.0"})"), 1);
  // One truth about green: variants failing now (the history's sm80, this run's sm89), the last
  // nightly with no failed job (the fourth), why the last one skipped what it skipped.
  EXPECT_EQ(value(R"(tvd_variants_failing{environment="default",phase="build"})"), 2);
  EXPECT_EQ(value(R"(tvd_variants_failing{environment="default",phase="publish"})"), 0);
  EXPECT_EQ(value("tvd_nightly_running"), 0);
  EXPECT_GT(value("tvd_nightly_last_success_timestamp_seconds"), last_night_start - 86400);
  EXPECT_LT(value("tvd_nightly_last_success_timestamp_seconds"), last_night_start);
  EXPECT_EQ(value(R"(tvd_nightly_last_skipped{reason="still-failing"})"), 0);
  EXPECT_EQ(value(R"(tvd_failures_total{phase="publish",reason="network"})"), 0);
  EXPECT_EQ(value("tvd_oldest_queued_job_age_seconds"), 0);
}

// Every series the shipped alerts read (config/prometheus/tvd-alerts.yml, tested by promtool in
// the suite) is exported by a daemon that has done nothing yet, zeros included: an alert on an
// absent series would never fire (the first OOM ever, say).
TEST_F(DashboardTest, EveryAlertReadsSeriesExportedFromTheStart) {
  json c = json::parse(testing::read_text(config));
  c["notify"] = json::array({{{"name", "chat"}, {"command", {"/bin/true"}}}});
  testing::write_text(config, c.dump());
  start();
  const std::string m = testing::http_get(http_port(), "/metrics").body;
  const std::string rules = testing::read_text(std::filesystem::path(TVD_SOURCE_DIR) /
                                               "config/prometheus/tvd-alerts.yml");
  std::set<std::string> names;
  const std::regex metric(R"(tvd_[a-z_]+)");
  for (auto it = std::sregex_iterator(rules.begin(), rules.end(), metric);
       it != std::sregex_iterator(); ++it)
    names.insert(it->str());
  EXPECT_GE(names.size(), 8u);
  for (const auto& n : names) {
    EXPECT_TRUE(std::regex_search(m, std::regex("\n" + n + R"((\{[^}]*\})? [0-9])")))
        << n << " is not exported from the start";
  }
  testing::write_text(dir / "metrics.txt", m);
  auto check = testing::run_command(
      {"sh", "-c", "promtool check metrics < '" + (dir / "metrics.txt").string() + "'"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(DashboardTest, BadRequestsGetErrorsOrAreCutOffAndBuildsCarryOn) {
  start();
  port = http_port();
  behave(sm89, "seconds=4\n");
  ASSERT_EQ(tvctl({"enqueue", "sm89-avx2"}).exit_code, 0);

  auto unknown = testing::http_get(port, "/wp-admin");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, HasSubstr("/queue"));
  EXPECT_EQ(testing::http_get(port, "/job/999999").status, 404);
  EXPECT_EQ(testing::http_get(port, "/job/abc").status, 404);
  EXPECT_EQ(testing::http_get(port, "/job/1/log?offset=x").status, 400);
  auto post = testing::http_request(port, "POST", "/queue", "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET, HEAD");
  auto head = testing::http_request(port, "HEAD", "/queue");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_GT(std::stoi(head.headers["content-length"]), 0);

  {  // DNS rebinding: another site's name for 127.0.0.1.
    testing::RawConnection c(port);
    c.send("GET /metrics HTTP/1.1\r\nHost: evil.example:" + std::to_string(port) + "\r\n\r\n");
    auto reply = c.read_until_closed(5s);
    ASSERT_TRUE(reply);
    EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 403"));
    EXPECT_THAT(*reply, HasSubstr("SSH tunnel"));
  }
  {  // A 64 KiB header.
    testing::RawConnection c(port);
    c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
    auto reply = c.read_until_closed(5s);
    ASSERT_TRUE(reply);
    EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 431"));
  }
  {  // A GET with a body.
    testing::RawConnection c(port);
    c.send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    auto reply = c.read_until_closed(5s);
    ASSERT_TRUE(reply);
    EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 413"));
  }
  {  // Not HTTP at all.
    testing::RawConnection c(port);
    c.send("HELLO THERE\r\n\r\n");
    auto reply = c.read_until_closed(5s);
    ASSERT_TRUE(reply);
    EXPECT_THAT(*reply, ::testing::StartsWith("HTTP/1.1 400"));
  }
  // Slowloris: 100 connections (past the cap of 64) each trickle part of a header and stop.
  // Each is closed by the request timeout (2 s here), the builds and tvctl go on meanwhile, and
  // the dashboard answers again afterwards.
  std::vector<std::unique_ptr<testing::RawConnection>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<testing::RawConnection>(port));
    idle.back()->send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  EXPECT_EQ(tvctl({"status"}).exit_code, 0);
  auto started = std::chrono::steady_clock::now();
  for (auto& c : idle) {
    auto rest = c->read_until_closed(8s);
    EXPECT_TRUE(rest.has_value()) << "a slow connection was left open";
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);
  auto s = settle();
  ASSERT_EQ(s["jobs"].size(), 1u);
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded");
  EXPECT_EQ(testing::http_get(port, "/").status, 200);
}

TEST_F(DashboardTest, ATakenPortStopsTheStartWithAClearError) {
  start();
  const int taken = http_port();
  // Another flox environment, state directory and socket: only the port is shared.
  testing::make_git_flox_env(dir / "second-env", dir / "second-upstream.git");
  std::string second = testing::read_text(config);
  for (auto [from, to] :
       {std::pair<std::string, std::string>{"127.0.0.1:0", "127.0.0.1:" + std::to_string(taken)},
        {"\"state\"", "\"state2\""},
        {"\"build-torchvision\"", "\"second-env\""},
        {"run/tvd.sock", "run2/tvd.sock"}}) {
    second.replace(second.find(from), from.size(), to);
  }
  testing::write_text(dir / "second.json", second);
  auto r = testing::run_command({TVD_BIN, "serve", "--config", (dir / "second.json").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(taken)));
  EXPECT_THAT(r.err, HasSubstr("http.listen"));
}

}  // namespace
}  // namespace tvd::integration
