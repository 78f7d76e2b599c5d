// The request goldens (proto/golden/request-*.json) are what tvctl's own code sends: each test
// runs tvctl's command line against a stand-in daemon on a Unix socket that records the request
// line and answers with an error, so a drift between tvctl and the goldens (which the fuzz test
// and the daemon's tests read) fails here. TVD_ACCEPT=1 rewrites them (review the diff!).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "client/tvctl.h"
#include "proto/protocol.h"
#include "proto/requests.h"
#include "tests/support/golden.h"
#include "tests/support/scratch.h"

namespace tvd::client {
namespace {

// One connection: the first line it gets, answered with a "conflict" error reply (exit 1).
class StandInDaemon {
 public:
  explicit StandInDaemon(const std::filesystem::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char ch;
      while (::read(c, &ch, 1) == 1 && ch != '\n')
        line_ += ch;
      auto req = nlohmann::json::parse(line_, nullptr, false);
      const int64_t id = req.is_object() && req.contains("id") ? req["id"].get<int64_t>() : 0;
      const std::string reply =
          proto::encode(proto::Reply::failure(id, proto::Code::kConflict, "stand-in", ""));
      (void)!::write(c, reply.data(), reply.size());
      ::close(c);
    });
  }
  ~StandInDaemon() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  // The request line, once tvctl has been answered.
  std::string line() {
    if (thread_.joinable()) thread_.join();
    return line_;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::thread thread_;
  std::string line_;
};

void golden(const std::string& name, const std::string& text) {
  testing::expect_golden(TVD_GOLDEN_DIR, name, text);
}

// What tvctl sends for `args`, recorded by a stand-in daemon.
std::string sent(std::vector<std::string> args) {
  testing::ScratchDir dir;
  const auto socket = dir / "tvd.sock";
  StandInDaemon daemon(socket);
  args.insert(args.begin(), {"--socket", socket.string()});
  std::ostringstream out, err;
  EXPECT_EQ(run_tvctl(args, out, err, false), 1) << err.str();  // the stand-in's error
  EXPECT_THAT(err.str(), ::testing::HasSubstr("stand-in"));
  return daemon.line() + "\n";
}

TEST(RequestGoldens, AreWhatTvctlSends) {
  golden("request-status.json", sent({"status"}));
  golden("request-enqueue.json", sent({"enqueue", "--priority", "5", "--no-publish", "--batch",
                                       "nightly", "sm89-avx512vnni", "cpu-avx2"}));
  golden("request-cancel.json", sent({"cancel", "12", "13"}));
  golden("request-show.json", sent({"show", "12"}));
  golden("request-retry.json", sent({"retry", "12"}));
  golden("request-logs.json", sent({"logs", "-f", "12"}));
  golden("request-matrix.json", sent({"matrix"}));
  golden("request-generate.json", sent({"generate", "--dry-run", "sm90-*"}));
  golden("request-batches.json", sent({"batches"}));
  golden("request-show-batch.json", sent({"show-batch", "3"}));
  golden("request-pause.json", sent({"drain"}));
  golden("request-cancel-batch.json", sent({"cancel", "--batch", "7"}));
  golden("request-retry-failed.json", sent({"retry", "--failed", "--batch", "7"}));
}

// What tvctl writes, the daemon reads back field for field: the one field list both use.
TEST(RequestGoldens, ReadBackByTheRequestsOwnFields) {
  auto line = sent({"enqueue", "--priority", "5", "--batch", "nightly", "sm89-avx2"});
  auto req = proto::decode_request(line.substr(0, line.size() - 1));
  ASSERT_TRUE(req);
  auto r = proto::from_args<proto::EnqueueRequest>(req->args);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->specs, std::vector<std::string>{"sm89-avx2"});
  EXPECT_EQ(r->priority, 5);
  EXPECT_EQ(r->batch, "nightly");
  EXPECT_FALSE(r->no_publish);
  auto wrong = proto::from_args<proto::EnqueueRequest>({{"priority", 1e300}});
  ASSERT_FALSE(wrong);
  EXPECT_THAT(wrong.error().message, ::testing::HasSubstr("\"priority\" must be a whole number"));
  auto type = proto::from_args<proto::EnqueueRequest>({{"specs", "sm89-avx2"}});
  ASSERT_FALSE(type);
  EXPECT_THAT(type.error().message, ::testing::HasSubstr("\"specs\" has the wrong type"));
}

}  // namespace
}  // namespace tvd::client
