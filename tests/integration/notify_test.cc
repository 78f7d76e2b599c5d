// Notifications end to end: the real daemon, a notifier command and webhook receivers on the
// loopback address. Each kind arrives once, in order, across a restart; a receiver that is down
// gets what it missed after it (the cursor is in the store); one that never answers holds up
// neither the builds nor the other receivers.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <atomic>
#include <mutex>

#include "tests/integration/daemon_fixture.h"
#include "tests/support/http_client.h"

namespace tvd::integration {
namespace {

// A webhook receiver: HTTP/1.1 on 127.0.0.1, each request's body kept; it answers 200, or never.
class Receiver {
 public:
  explicit Receiver(bool answers, int port = 0) : answers_(answers) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "the receiver cannot listen: " << std::strerror(errno);
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() { stop(); }
  void stop() {
    if (fd_ < 0) return;
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    fd_ = -1;
    for (int c : held_)
      ::close(c);
  }
  int port() const { return port_; }
  std::vector<json> bodies() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }

 private:
  void serve() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string in;
      char buf[4096];
      size_t want = std::string::npos;
      while (want == std::string::npos || in.size() < want) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        auto end = in.find("\r\n\r\n");
        if (want == std::string::npos && end != std::string::npos) {
          auto cl = in.find("Content-Length: ");
          want = end + 4 + (cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16)));
        }
      }
      if (want != std::string::npos && in.size() >= want) {
        std::lock_guard<std::mutex> lock(mutex_);
        bodies_.push_back(json::parse(in.substr(in.find("\r\n\r\n") + 4), nullptr, false));
      }
      if (!answers_) {  // it never answers: the connection stays open until the test ends
        held_.push_back(c);
        continue;
      }
      const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  bool answers_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<json> bodies_;
  std::vector<int> held_;
};

std::vector<std::string> kinds(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const auto& e : events)
    out.push_back(e.value("kind", "?"));
  return out;
}

class NotifyTest : public DaemonTest {
 protected:
  fs::path received = dir / "received.ndjson";
  // The notifier command: each notification it is given on stdin, one line of a file.
  void notifier() {
    testing::write_text(dir / "notifier", "#!/bin/sh\necho \"$TVD_NOTIFICATION\" >> '" +
                                              (dir / "kinds").string() + "'\ncat >> '" +
                                              received.string() + "'\n");
    fs::permissions(dir / "notifier", fs::perms::owner_all);
  }
  std::vector<json> commanded() {
    std::vector<json> out;
    if (!fs::exists(received)) return out;
    std::istringstream in(testing::read_text(received));
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) out.push_back(json::parse(l, nullptr, false));
    return out;
  }
  // Polls until `get` returns at least `n` (at most `limit`).
  template <class F>
  std::vector<json> at_least(size_t n, F get, std::chrono::seconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    auto got = get();
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
      got = get();
    }
    return got;
  }
  void configure(int hook_port, int hang_port) {
    json c = json::parse(testing::read_text(config));
    c["notify"] = json::array(
        {{{"name", "cmd"}, {"command", {(dir / "notifier").string()}}},
         {{"name", "hook"},
          {"webhook", "http://127.0.0.1:" + std::to_string(hook_port) + "/tvd"},
          {"retries", 6},
          {"events", {"job_failed", "variant_failing", "variant_fixed", "batch_finished"}}},
         {{"name", "hangs"},
          {"webhook", "http://127.0.0.1:" + std::to_string(hang_port) + "/"},
          {"timeout", "10m"},
          {"retries", 0}}});
    c["http"]["public_url"] = "http://tvd.example:8347";
    testing::write_text(config, c.dump(2));
  }
};

TEST_F(NotifyTest, EachKindArrivesOnceInOrderAcrossARestartAndAHangingReceiverHoldsUpNothing) {
  notifier();
  auto hook = std::make_unique<Receiver>(true);
  const int hook_port = hook->port();
  Receiver hangs(false);
  configure(hook_port, hangs.port());
  behave(cpu, "result=fail\n");
  start();

  // A build that fails: the job failed, and the variant (on its first outcome) is failing.
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  auto s = settle();
  ASSERT_EQ(s["jobs"][0]["state"], "failed");
  const int job = s["jobs"][0]["id"].get<int>();
  auto got = at_least(2, [&] { return commanded(); });
  ASSERT_EQ(kinds(got), (std::vector<std::string>{"job_failed", "variant_failing"}));
  const json& failed = got[0];
  EXPECT_EQ(failed["job"], job);
  EXPECT_EQ(failed["variant"], cpu);  // the one environment of the shorthand config
  EXPECT_EQ(failed["package"], cpu);
  EXPECT_EQ(failed["phase"], "build");
  EXPECT_EQ(failed["failure"], "build-error");
  EXPECT_THAT(failed["reason"].get<std::string>(), HasSubstr("builder failed with exit code 2"));
  EXPECT_THAT(failed["log_tail"].get<std::string>(), HasSubstr("✘ ERROR: Build failed"));
  EXPECT_EQ(failed["links"]["job"], "http://tvd.example:8347/job/" + std::to_string(job));
  EXPECT_EQ(failed["retry"], "tvctl retry " + std::to_string(job));
  EXPECT_EQ(got[1]["before"], nullptr);
  EXPECT_EQ(testing::read_text(dir / "kinds"), "job_failed\nvariant_failing\n");
  EXPECT_EQ(kinds(at_least(2, [&] { return hook->bodies(); })),
            (std::vector<std::string>{"job_failed", "variant_failing"}));

  // The webhook's receiver goes away; the variant is fixed; the daemon restarts before the
  // receiver is back. The command got "fixed" at once; the webhook gets it after the restart.
  hook->stop();
  hook.reset();
  behave(cpu, "result=ok\n");
  ASSERT_EQ(tvctl({"retry", std::to_string(job)}).exit_code, 0);
  s = settle();
  ASSERT_EQ(s["jobs"][0]["state"], "succeeded");
  got = at_least(3, [&] { return commanded(); });
  ASSERT_EQ(kinds(got),
            (std::vector<std::string>{"job_failed", "variant_failing", "variant_fixed"}));
  ASSERT_TRUE(log_says("notify hook: variant_fixed of job " + std::to_string(job) +
                       " not delivered (cannot connect"));
  EXPECT_EQ(stop(SIGTERM), 0);
  hook = std::make_unique<Receiver>(true, hook_port);
  start();
  EXPECT_EQ(kinds(at_least(1, [&] { return hook->bodies(); })),
            (std::vector<std::string>{"variant_fixed"}))
      << testing::read_text(dir / "serve.log");

  // A batch: when its last job ends, its summary.
  ASSERT_EQ(tvctl({"enqueue", "--batch", "nightly", "cpu-avx2", "sm89-avx2"}).exit_code, 0);
  settle();
  got = at_least(4, [&] { return commanded(); });
  ASSERT_EQ(kinds(got), (std::vector<std::string>{"job_failed", "variant_failing", "variant_fixed",
                                                  "batch_finished"}));
  const json& night = got[3];
  EXPECT_EQ(night["name"], "nightly");
  EXPECT_EQ(night["jobs"], json({{"succeeded", 2}}));
  EXPECT_EQ(night["newly_failing"], json::array());
  const auto hooked = at_least(2, [&] { return hook->bodies(); });
  EXPECT_EQ(kinds(hooked), (std::vector<std::string>{"variant_fixed", "batch_finished"}));
  // Nothing came twice, across the restart.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(commanded().size(), 4u);
  EXPECT_EQ(hook->bodies().size(), 2u);  // and the first receiver's 2
  // The receiver that never answers still holds its first notification (the daemon's restart
  // gave it again): everything above went on around it.
  const auto held = hangs.bodies();
  ASSERT_FALSE(held.empty());
  for (const auto& b : held)
    EXPECT_EQ(b["kind"], "job_failed");
  // /metrics counts each receiver's deliveries since this start: the command's batch_finished,
  // the webhook's variant_fixed (after its failed tries before the restart) and batch_finished.
  const std::string metrics = testing::http_get(http_port(), "/metrics").body;
  EXPECT_THAT(metrics,
              HasSubstr("tvd_notifications_total{receiver=\"cmd\",result=\"delivered\"} 1\n"));
  EXPECT_THAT(metrics,
              HasSubstr("tvd_notifications_total{receiver=\"hook\",result=\"delivered\"} 2\n"));
  EXPECT_THAT(metrics,
              HasSubstr("tvd_notifications_total{receiver=\"hook\",result=\"failed\"} 0\n"));
  EXPECT_THAT(metrics, HasSubstr("tvd_notifications_pending{receiver=\"hangs\"} "));
  // Each job event is a line of the log too (journald's fields under systemd).
  EXPECT_TRUE(
      log_says("job " + std::to_string(job) + " " + cpu + " failed (build, build-error): "));
}

// `tvctl enqueue --wait` follows the jobs to their end, through a restart of the daemon, and its
// exit code is theirs: what the nightly unit runs, so that the unit's result is the night's.
TEST_F(NotifyTest, EnqueueWaitEndsWithTheJobsAndFollowsTheDaemonThroughARestart) {
  behave(cpu, "seconds=4\n");
  behave(sm89, "result=fail\n");
  start();
  const pid_t waiting =
      testing::spawn_logged({TVCTL_BIN, "--socket", socket.string(), "enqueue", "--wait", "--batch",
                             "nightly", "cpu-avx2", "sm89-avx2"},
                            dir / "wait.out");
  ASSERT_GT(waiting, 0);
  ASSERT_TRUE(log_says("started", 10s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(stop(SIGTERM), 0);
  std::this_thread::sleep_for(3s);  // tvctl finds nobody answering
  start();
  int status = 0;
  for (int i = 0; i < 600 && ::waitpid(waiting, &status, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(WIFEXITED(status)) << testing::read_text(dir / "wait.out");
  const std::string said = testing::read_text(dir / "wait.out");
  EXPECT_EQ(WEXITSTATUS(status), 1) << said;  // one of the night's jobs failed
  EXPECT_THAT(said, HasSubstr("tvctl: waiting for the daemon to come back"));
  EXPECT_THAT(said, HasSubstr("tvctl: the daemon answers again"));
  EXPECT_THAT(said, HasSubstr(" " + cpu + ": succeeded\n"));
  EXPECT_THAT(said, HasSubstr(" " + sm89 + ": failed (torch-2.8.0: builder failed"));
  EXPECT_THAT(said, HasSubstr("1 succeeded, 1 failed, 0 cancelled\n"));

  // All succeeded: 0.
  behave(sm89, "result=ok\n");
  auto r = tvctl({"enqueue", "--wait", "--force", "sm89-avx2"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("1 succeeded, 0 failed, 0 cancelled\n"));
}

// A daemon that refuses to start says why to its receivers (the unit's failure alone tells nobody).
TEST_F(NotifyTest, ADaemonThatRefusesToStartSaysWhy) {
  notifier();
  json c = json::parse(testing::read_text(config));
  c["flox"] = (dir / "no-such-flox").string();
  c["notify"] =
      json::array({{{"command", {(dir / "notifier").string()}}, {"events", {"daemon_refused"}}}});
  testing::write_text(config, c.dump(2));
  auto r = testing::run_command({TVD_BIN, "serve", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const auto got = commanded();
  ASSERT_EQ(kinds(got), std::vector<std::string>{"daemon_refused"});
  EXPECT_EQ(got[0]["config"], config.string());
  ASSERT_EQ(got[0]["problems"].size(), 1u) << got[0].dump();
  EXPECT_THAT(got[0]["problems"][0].get<std::string>(), HasSubstr("no-such-flox"));
  EXPECT_FALSE(got[0]["host"].get<std::string>().empty());
}

}  // namespace
}  // namespace tvd::integration
