#include "daemon/notify/webhook.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "daemon/exec/process_runner.h"

namespace tvd::notify {
namespace {

using ::testing::HasSubstr;

TEST(Webhook, UrlsAreHttpWithAHostAndAPort) {
  auto u = parse_http_url("http://127.0.0.1:9000/tvd/events");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "9000");
  EXPECT_EQ(u->target, "/tvd/events");
  u = parse_http_url("http://hooks.example.org");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");
  u = parse_http_url("http://[::1]:8080/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "8080");
  for (const char* bad : {"https://h/", "http://:80/", "http://h:http/", "http://h:70000/", "h"})
    EXPECT_FALSE(parse_http_url(bad)) << bad;
}

// A listening socket that never accepts: a receiver that takes the connection and never answers.
struct Silent {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  Silent() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 8);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Silent() { ::close(fd); }
};

// Every delivery ends within its timeout, by address or by name, even when a child process is
// started while the name is being resolved (Asio's resolver thread stops for every fork).
TEST(Webhook, EveryDeliveryEndsWithinItsTimeout) {
  Silent silent;
  boost::asio::io_context io;
  auto runner = exec::make_process_runner(io);
  std::vector<std::string> errors;
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    post_json(io, "http://" + host + ":" + std::to_string(silent.port) + "/", "{}",
              std::chrono::seconds(1), [&](const std::string& e) { errors.push_back(e); });
  }
  exec::RunSpec child;
  child.argv = {"/bin/true"};
  child.env = {{"PATH", "/usr/bin:/bin"}};
  child.log = std::filesystem::temp_directory_path() /
              ("tvd-webhook-test-" + std::to_string(::getpid()) + ".log");
  runner->start(child, [](const exec::RunResult&) {});
  // Both deliveries end within their timeout. (Not io.run() until it returns: a resolve that the
  // fork held up stays queued in Asio's resolver until the next resolve starts its thread again,
  // which the daemon's next delivery does; the delivery itself ended at its deadline.)
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (errors.size() < 2 && std::chrono::steady_clock::now() < limit) {
    io.restart();
    io.run_for(std::chrono::milliseconds(50));
  }
  std::filesystem::remove(child.log);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors)
    EXPECT_THAT(e, ::testing::AnyOf(HasSubstr("no answer"), HasSubstr("timeout"))) << e;
}

TEST(Webhook, ARefusedConnectionIsSaid) {
  int port;
  {
    Silent gone;
    port = gone.port;
  }
  boost::asio::io_context io;
  std::string error = "not called";
  post_json(io, "http://127.0.0.1:" + std::to_string(port) + "/", "{}", std::chrono::seconds(5),
            [&](const std::string& e) { error = e; });
  io.run();
  EXPECT_EQ(error, "cannot connect: Connection refused");
}

}  // namespace
}  // namespace tvd::notify
