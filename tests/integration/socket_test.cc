// The socket as clients meet it, on the real daemon: bad input, peers without rights, a daemon
// that does not answer, following logs, clients that do not read.
#include <sys/resource.h>

#include "tests/integration/daemon_fixture.h"

namespace tvd::integration {
namespace {

class SocketTest : public DaemonTest {};

// Garbage, truncated JSON, a 10 MiB line, unknown ops, wrong types: each gets an error reply or a
// closed connection, and the daemon keeps serving everyone else.
TEST_F(SocketTest, BadInputOnTheSocketHarmsNobodyElse) {
  start();
  auto send = [&](const std::string& bytes) {
    int fd = connect_raw();
    EXPECT_GE(fd, 0);
    for (size_t done = 0; done < bytes.size();) {
      ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
      reply.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return reply;
  };
  EXPECT_THAT(send("\x01\x02\xff garbage\n"), HasSubstr("\"code\":\"bad_request\""));
  EXPECT_THAT(send("{\"v\":1,\"id\":1,\"op\":\"sta\n"), HasSubstr("not valid JSON"));
  EXPECT_THAT(send(std::string(10 << 20, 'x') + "\n"), HasSubstr("\"code\":\"too_large\""));
  EXPECT_THAT(send("{\"v\":1,\"id\":2,\"op\":\"reboot\"}\n"), HasSubstr("unknown_op"));
  EXPECT_THAT(send("{\"v\":1,\"id\":3,\"op\":\"enqueue\",\"args\":{\"specs\":\"sm89-avx2\"}}\n"),
              HasSubstr("specs\\\" has the wrong type"));
  EXPECT_THAT(send("{\"v\":1,\"id\":4,\"op\":\"show\",\"args\":{\"job\":\"one\"}}\n"),
              HasSubstr("bad_request"));
  EXPECT_THAT(send("{\"v\":1,\"id\":5,\"op\":\"status\"}\n{\"v\":1,\"id\":6,\"op\":\"status\"}\n"),
              HasSubstr("\"id\":6"));
  // Each of these once stopped the daemon (issue 13): a wrong type where a flag was read before
  // the op's own checks, and nesting deep enough to matter.
  EXPECT_THAT(send("{\"v\":1,\"id\":7,\"op\":\"generate\",\"args\":{\"specs\":[\"cpu-avx2\"],"
                   "\"dry_run\":\"yes\"}}\n"),
              HasSubstr("dry_run\\\" has the wrong type"));
  EXPECT_THAT(send("{\"v\":1,\"id\":8,\"op\":\"logs\",\"args\":{\"job\":1,\"follow\":\"yes\"}}\n"),
              HasSubstr("follow\\\" has the wrong type"));
  EXPECT_THAT(send("{\"v\":1,\"id\":9,\"op\":\"status\",\"args\":{\"a\":" +
                   std::string(100000, '[') + std::string(100000, ']') + "}}\n"),
              HasSubstr("nested deeper than 16 levels"));
  // A priority of 1e300 was once taken as some whole number; it is refused, as is one past int.
  EXPECT_THAT(send("{\"v\":1,\"id\":10,\"op\":\"enqueue\",\"args\":{\"specs\":[\"cpu-avx2\"],"
                   "\"priority\":1e300}}\n"),
              HasSubstr("priority\\\" must be a whole number from"));
  EXPECT_THAT(send("{\"v\":1,\"id\":11,\"op\":\"enqueue\",\"args\":{\"specs\":[\"cpu-avx2\"],"
                   "\"priority\":4294967296}}\n"),
              HasSubstr("priority\\\" must be a whole number from"));
  EXPECT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  EXPECT_EQ(settle()["jobs"][0]["state"], "succeeded");
}

TEST_F(SocketTest, AnUnauthorizedPeerMayReadButNotChange) {
  if (!testing::running_as_root()) GTEST_SKIP() << "needs root to become another user";
  start();
  fs::permissions(dir.path(), fs::perms::all);
  fs::permissions(socket.parent_path(), fs::perms::all);
  fs::permissions(socket, fs::perms::all);  // reads are open to anyone who can connect
  auto as_nobody = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                     TVCTL_BIN, "--socket",      socket.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_command(argv);
  };
  auto read = as_nobody({"status"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  auto change = as_nobody({"enqueue", "cpu-avx2"});
  EXPECT_EQ(change.exit_code, 1);
  EXPECT_THAT(change.err, HasSubstr("uid 65534 may read but not enqueue"));
  EXPECT_TRUE(status()["jobs"].empty());
}

// Membership of socket_group is what the caller's credentials carry (SO_PEERGROUPS), as for a
// file, not what /etc/group says now: nobody is in no group there, but a process of nobody's
// with the group among its supplementary groups may change things.
TEST_F(SocketTest, GroupMembershipIsTheCallersCredentialsNotTheGroupDatabase) {
  if (!testing::running_as_root()) GTEST_SKIP() << "needs root to become another user";
  start();
  fs::permissions(dir.path(), fs::perms::all);
  fs::permissions(socket.parent_path(), fs::perms::all);
  // socket_group is "root" (gid 0): nobody, with gid 0 among its groups in this process only.
  auto r = testing::run_command({"setpriv", "--reuid=65534", "--regid=65534", "--groups=0",
                                 TVCTL_BIN, "--socket", socket.string(), "retry", "999"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("no job 999"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("may read but not")));
}

// A daemon that accepts nothing and answers nothing (stuck, or stopped with SIGSTOP): tvctl gives
// up after its timeout with exit 3 and says what to do, instead of waiting forever.
TEST(Tvctl, GivesUpOnADaemonThatDoesNotAnswer) {
  testing::ScratchDir dir;
  const auto path = dir / "stuck.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);  // connections queue, nothing reads them
  auto r = testing::run_command({TVCTL_BIN, "--socket", path.string(), "--timeout", "1", "status"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("the daemon did not answer within 1 s"));
  EXPECT_THAT(r.err, HasSubstr("--timeout SECONDS waits longer"));
  ::close(fd);
}

TEST_F(SocketTest, LogsShowTheLatestAttemptAndFollowItToTheEnd) {
  start();
  behave(cpu, "seconds=2\n");
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "cpu-avx2"}).exit_code, 0);
  for (int i = 0; i < 100 && status()["jobs"][0]["phase"] != "build"; ++i)
    std::this_thread::sleep_for(50ms);
  auto followed = tvctl({"logs", "-f", "1"});  // returns when the build is over
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_THAT(followed.out, HasSubstr("Building " + cpu + "-0.23.0 in Nix expression mode"));
  EXPECT_THAT(followed.out, HasSubstr("[20/20] Building CXX object"));
  EXPECT_THAT(followed.out, HasSubstr("Completed build of " + cpu));
  EXPECT_EQ(status()["jobs"][0]["state"], "succeeded");
  auto tail = tvctl({"logs", "1"});
  EXPECT_THAT(tail.out, HasSubstr("Completed build of " + cpu));
  EXPECT_EQ(tvctl({"logs", "99"}).exit_code, 2);
}

TEST_F(SocketTest, FollowingALogGoesFromTheBuildToThePublishWithoutLosingLines) {
  start();
  behave(cpu, "seconds=2\n");
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  for (int i = 0; i < 100 && status()["jobs"][0]["phase"] != "build"; ++i)
    std::this_thread::sleep_for(50ms);
  auto followed = tvctl({"logs", "-f", "1"});  // returns when the publish is over
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  // The build's log to its last line, then the publish's.
  const auto& out = followed.out;
  auto built = out.find("Completed build of " + cpu);
  auto published = out.find("Package published successfully.");
  ASSERT_NE(built, std::string::npos) << out;
  ASSERT_NE(published, std::string::npos) << out;
  EXPECT_LT(built, published);
  auto marker = out.find("--- attempt 2 (publish) ---");
  ASSERT_NE(marker, std::string::npos) << out;
  EXPECT_GT(marker, built);
  EXPECT_LT(marker, published);
  EXPECT_THAT(out, HasSubstr("[20/20] Building CXX object"));
  EXPECT_EQ(status()["jobs"][0]["state"], "succeeded");
}

// At the log's end a follower waits for the build's next output (or the job's next change), not
// for a poll: a build that prints a line a second for 4 s is followed in about one reply per
// line; polling every 200 ms sent some 15 replies with nothing new in them.
TEST_F(SocketTest, AFollowerAtTheLogsEndIsWokenByTheBuildsOutput) {
  behave(cpu, "seconds=4\ntick=1\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "cpu-avx2"}).exit_code, 0);
  for (int i = 0; i < 100 && status()["jobs"][0]["phase"] != "build"; ++i)
    std::this_thread::sleep_for(50ms);
  int fd = connect_raw();
  ASSERT_GE(fd, 0);
  const std::string ask =
      "{\"v\":1,\"id\":1,\"op\":\"logs\",\"args\":{\"job\":1,\"follow\":true}}\n";
  ASSERT_EQ(::send(fd, ask.data(), ask.size(), MSG_NOSIGNAL), static_cast<ssize_t>(ask.size()));
  std::string pending, text;
  int replies = 0, empty = 0;
  bool more = true;
  char buf[65536];
  while (more) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "the daemon ended the follow early; replies so far: " << replies;
    pending.append(buf, static_cast<size_t>(n));
    for (size_t end; more && (end = pending.find('\n')) != std::string::npos;) {
      const json reply = json::parse(pending.substr(0, end));
      pending.erase(0, end + 1);
      ASSERT_TRUE(reply.value("ok", false)) << reply.dump();
      const std::string slice = reply["result"].value("text", "");
      ++replies;
      empty += slice.empty();
      text += slice;
      more = reply.value("more", false);
    }
  }
  ::close(fd);
  EXPECT_THAT(text, HasSubstr("[4/4] Building CXX object"));
  EXPECT_THAT(text, HasSubstr("Completed build of " + cpu));
  EXPECT_LE(empty, 3) << replies << " replies";
}

// A client that asks and asks but never reads its replies: the daemon holds one reply for it and
// reads nothing more from it (its sends stop), and serves everyone else meanwhile. (One that
// takes nothing for two minutes is cut off.)
TEST_F(SocketTest, AClientThatNeverReadsIsHeldBackAndOthersAreServed) {
  start();
  int fd = connect_raw();
  ASSERT_GE(fd, 0);
  const std::string ask = "{\"v\":1,\"id\":1,\"op\":\"matrix\"}\n";
  // The daemon answers one request at a time and reads no more while the reply waits: the
  // client's own sends fill the socket's buffers and stop (EAGAIN), however many it tries.
  bool held = false;
  int sent = 0;
  for (; sent < 100000 && !held; ++sent) {
    for (size_t done = 0; done < ask.size();) {
      ssize_t n = ::send(fd, ask.data() + done, ask.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        held = true;
        break;
      }
      ASSERT_GT(n, 0) << "the daemon closed the connection";
      done += static_cast<size_t>(n);
    }
  }
  EXPECT_TRUE(held) << "sent " << sent << " requests and was never held back";
  EXPECT_EQ(tvctl({"status"}).exit_code, 0);
  EXPECT_EQ(tvctl({"enqueue", "--no-publish", "cpu-avx2"}).exit_code, 0);
  EXPECT_EQ(settle()["jobs"][0]["state"], "succeeded");
  ::close(fd);
}

// 100 connections of one user who may only read (uid nobody, the socket opened to local users),
// each asking for the matrix and reading nothing: the daemon answers each one reply at a time and
// reads no more from them, so root's status is answered meanwhile and after they close. (Memory
// and latency under this load: scripts/bench-readers.sh, docs/BENCHMARKS.md.)
TEST_F(SocketTest, ManyReadersThatNeverReadDoNotHoldUpOthers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  start();
  ::chmod(socket.parent_path().c_str(), 0755);
  ::chmod(socket.c_str(), 0666);
  for (fs::path p = socket.parent_path(); p != p.root_path(); p = p.parent_path()) {
    if (p == dir.path().parent_path()) break;
    ::chmod(p.c_str(), 0755);
  }
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    std::string ask;
    for (int i = 0; i < 5; ++i)
      ask += "{\"v\":1,\"id\":1,\"op\":\"matrix\"}\n";
    int opened = 0;
    for (int i = 0; i < 100; ++i) {
      int fd = connect_raw();
      if (fd < 0) continue;
      ++opened;
      (void)!::send(fd, ask.data(), ask.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    (void)!::write(ready[1], &opened, sizeof opened);
    char c;
    (void)!::read(done[0], &c, 1);
    ::_exit(0);  // the connections close with the process
  }
  int opened = 0;
  ASSERT_EQ(::read(ready[0], &opened, sizeof opened), static_cast<ssize_t>(sizeof opened));
  EXPECT_GT(opened, 0);
  auto r = tvctl({"--json", "status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tvctl({"enqueue", "--no-publish", "cpu-avx2"}).exit_code, 0);
  EXPECT_EQ(settle()["jobs"][0]["state"], "succeeded");
  (void)!::write(done[1], "x", 1);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(tvctl({"status"}).exit_code, 0);
  for (int fd : {ready[0], ready[1], done[0], done[1]})
    ::close(fd);
}

// SIGTERM with clients connected, one of them following a running build's log: the daemon stops
// cleanly (it once crashed: connections outlived the server that kept their set).
TEST_F(SocketTest, StoppingWithClientsConnectedIsClean) {
  behave("torchvision-python313-cpu-avx2", "seconds=30\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "cpu-avx2"}).exit_code, 0);
  std::vector<int> clients;
  for (int i = 0; i < 4; ++i) {
    int fd = connect_raw();
    ASSERT_GE(fd, 0);
    if (i == 0) {
      const std::string follow =
          "{\"v\":1,\"id\":1,\"op\":\"logs\",\"args\":{\"job\":1,\"follow\":true}}\n";
      ASSERT_EQ(::send(fd, follow.data(), follow.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(follow.size()));
    }
    clients.push_back(fd);
  }
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(stop(SIGTERM), 0) << testing::read_text(dir / "serve.log");
  for (int fd : clients)
    ::close(fd);
}

// Out of descriptors (a low limit and many idle clients): the daemon says so once, does not spin,
// and serves again as soon as clients leave.
// Idle connections cannot use up the daemon's descriptors: under 48 of them the socket keeps 12
// connections at most (3 per user), closing the oldest idle one for each new one, so status is
// answered while 60 idle clients hang on, and the log says so once, not once per connection.
TEST_F(SocketTest, IdleConnectionsNeverUseUpTheDaemonsDescriptors) {
  daemon = testing::spawn_logged(
      {"/usr/bin/prlimit", "--nofile=48:48", TVD_BIN, "serve", "--config", config.string()},
      dir / "serve.log");
  ASSERT_GT(daemon, 0);
  for (int i = 0; i < 200 && tvctl({"status"}).exit_code != 0; ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ(tvctl({"status"}).exit_code, 0) << testing::read_text(dir / "serve.log");
  std::vector<int> idle;
  for (int i = 0; i < 60; ++i) {
    if (int fd = connect_raw(); fd >= 0) idle.push_back(fd);
  }
  std::this_thread::sleep_for(500ms);
  auto served = tvctl({"status"});
  EXPECT_EQ(served.exit_code, 0) << served.err;  // while they are all still connected
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  EXPECT_EQ(settle()["jobs"][0]["state"], "succeeded");
  for (int fd : idle)
    ::close(fd);
  EXPECT_EQ(tvctl({"status"}).exit_code, 0);
  const std::string log = testing::read_text(dir / "serve.log");
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(count("closed the oldest idle one"), 1u) << log.substr(0, 3000);
  EXPECT_LE(count("socket: accept:"), 1u) << log.substr(0, 3000);
}

// 1,100 idle connections, past systemd's default soft limit of 1,024 descriptors: the daemon
// raised its own limit to the hard one at start and keeps its connections below it; status is
// answered and builds finish while they hang on, and its log stays small.
TEST_F(SocketTest, AThousandIdleConnectionsStopNothing) {
  struct rlimit mine {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &mine), 0);
  if (mine.rlim_max < 2048) GTEST_SKIP() << "the hard descriptor limit here is " << mine.rlim_max;
  const struct rlimit before = mine;
  mine.rlim_cur = mine.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &mine), 0);        // this test's own 1,100 ends
  const struct rlimit daemons = {1024, before.rlim_max};  // systemd's default soft limit
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &daemons), 0);
  start();  // inherits 1,024 soft
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &mine), 0);
  behave(cpu, "seconds=0.5\n");
  std::vector<int> idle;
  for (int i = 0; i < 1100; ++i) {
    if (int fd = connect_raw(); fd >= 0) idle.push_back(fd);
  }
  EXPECT_EQ(idle.size(), 1100u);
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  EXPECT_EQ(settle()["jobs"][0]["state"], "succeeded");
  for (int fd : idle)
    ::close(fd);
  EXPECT_EQ(tvctl({"status"}).exit_code, 0);
  ::setrlimit(RLIMIT_NOFILE, &before);
  EXPECT_LT(fs::file_size(dir / "serve.log"), 16u << 10) << testing::read_text(dir / "serve.log");
  EXPECT_EQ(testing::read_text(dir / "serve.log").find("Too many open files"), std::string::npos);
}

}  // namespace
}  // namespace tvd::integration
