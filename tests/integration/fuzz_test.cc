// The socket protocol under fuzzing, on the real daemon with the fake flox: frames made from the
// request goldens (proto/golden/request-*.json) with their values, keys, ops and bytes mutated,
// and random bytes, sent in bursts over many connections. Bounded in count and in time, with a
// fixed seed (TVD_FUZZ_SEED picks another; the seed is printed). The daemon must answer every
// frame it reads with one well-formed reply (a stream of them for a followed log), never with an
// internal error, and stay alive and answering.
#include <poll.h>

#include <fstream>

#include "tests/integration/daemon_fixture.h"

namespace tvd::integration {
namespace {

class FuzzTest : public DaemonTest {};

std::vector<json> goldens() {
  std::vector<json> out;
  for (const auto& e : fs::directory_iterator(TVD_GOLDEN_DIR)) {
    const auto name = e.path().filename().string();
    if (name.rfind("request-", 0) == 0) out.push_back(json::parse(testing::read_text(e.path())));
  }
  std::sort(out.begin(), out.end(),
            [](const json& a, const json& b) { return a.dump() < b.dump(); });
  return out;
}

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  std::string frame(const std::vector<json>& seeds) {
    switch (pick(10)) {
      case 0:
        return random_bytes(pick(300));
      case 1:
      case 2:
        return bytes(dump(structural(seeds[pick(seeds.size())])));
      default:
        return dump(structural(seeds[pick(seeds.size())]));
    }
  }

 private:
  // Invalid UTF-8 in a string value reaches the daemon through bytes(), not through dump.
  static std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  size_t pick(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

  json value(int depth = 0) {
    switch (pick(depth > 3 ? 9 : 11)) {
      case 0:
        return nullptr;
      case 1:
        return pick(2) == 0;
      case 2:
        return static_cast<int64_t>(rng_()) - (int64_t{1} << 31);
      case 3:
        return std::vector<double>{1e300, -1e300, 0.5, -0.0, 4294967296.0}[pick(5)];
      case 4:
        return std::numeric_limits<int64_t>::min();
      case 5:
        return std::numeric_limits<uint64_t>::max();
      case 6:
        return std::string(pick(40), "a*?-_/\\\"\n\x1b\xff"[pick(12)]);
      case 7:
        return std::vector<std::string>{"all", "sm89-avx2", "cpu-avx2",    "sm*",
                                        "",    "../..",     "python313-*", "sm120-armv9"}[pick(8)];
      case 8:
        return "";
      case 9: {
        json a = json::array();
        for (size_t i = pick(4); i > 0; --i)
          a.push_back(value(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (size_t i = pick(4); i > 0; --i)
          o[std::string(1, static_cast<char>('a' + pick(26)))] = value(depth + 1);
        return o;
      }
    }
  }

  json structural(json req) {
    static const std::vector<std::string> ops = {
        "status",   "enqueue", "cancel", "retry", "show",   "logs", "matrix",
        "generate", "batches", "batch",  "",      "STATUS", "nope"};
    for (size_t n = 1 + pick(3); n > 0; --n) {
      switch (pick(8)) {
        case 0:
          req["op"] = pick(4) == 0 ? value() : json(ops[pick(ops.size())]);
          break;
        case 1:
          req["v"] = value();
          break;
        case 2:
          req["id"] = value();
          break;
        case 3:
          req["args"] = value();
          break;
        case 4:
          req.erase(std::vector<std::string>{"v", "id", "op", "args"}[pick(4)]);
          break;
        default: {
          if (!req["args"].is_object()) req["args"] = json::object();
          auto& args = req["args"];
          if (!args.empty() && pick(3) != 0) {
            auto it = args.begin();
            std::advance(it, static_cast<long>(pick(args.size())));
            if (pick(4) == 0)
              args.erase(it.key());
            else
              args[it.key()] = value();
          } else {
            static const std::vector<std::string> keys = {
                "specs", "all",   "force",  "dry_run", "priority", "job",       "jobs",
                "id",    "batch", "offset", "attempt", "follow",   "no_publish"};
            args[keys[pick(keys.size())]] = value();
          }
          // Don't ask for every variant often: each is a real (fake) build.
          if (args.contains("all") && args["all"] == true && pick(8) != 0) args["all"] = false;
        }
      }
    }
    return req;
  }

  std::string bytes(std::string s) {
    for (size_t n = 1 + pick(4); n > 0 && !s.empty(); --n) {
      switch (pick(4)) {
        case 0:
          s[pick(s.size())] = static_cast<char>(rng_());
          break;
        case 1:
          s.resize(pick(s.size()));
          break;
        case 2:
          s.insert(pick(s.size() + 1), random_bytes(1 + pick(8)));
          break;
        default:
          s.insert(pick(s.size() + 1), std::string(1 + pick(40), "{[\"\\"[pick(4)]));
          break;
      }
    }
    return s;
  }

  std::string random_bytes(size_t n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng_());
    return s;
  }

  std::mt19937 rng_;
};

TEST_F(FuzzTest, MutatedAndRandomFramesGetWellFormedRepliesAndTheDaemonLives) {
  const char* chosen = std::getenv("TVD_FUZZ_SEED");
  const uint32_t seed = chosen ? static_cast<uint32_t>(std::stoul(chosen)) : 20261130u;
  std::cout << "fuzz seed: " << seed << " (TVD_FUZZ_SEED reruns it)\n";
  RecordProperty("seed", static_cast<int>(seed));
  start();
  const auto seeds = goldens();
  ASSERT_GE(seeds.size(), 8u);
  Mutator mutate(seed);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  size_t sent = 0, replies = 0, internal = 0, bursts = 0;
  std::map<std::string, size_t> codes;
  for (; bursts < 60 && std::chrono::steady_clock::now() < deadline; ++bursts) {
    int fd = connect_raw();
    ASSERT_GE(fd, 0) << "the daemon stopped accepting after " << sent << " frames";
    std::string burst;
    for (int i = 0; i < 50; ++i) {
      std::string f = mutate.frame(seeds);
      std::replace(f.begin(), f.end(), '\n', ' ');  // one frame per line
      burst += f + "\n";
      ++sent;
    }
    (void)!::write(fd, burst.data(), burst.size());
    ::shutdown(fd, SHUT_WR);
    std::string in;
    char buf[65536];
    for (auto until = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < until;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    for (size_t pos = 0, end; (end = in.find('\n', pos)) != std::string::npos; pos = end + 1) {
      const std::string line = in.substr(pos, end - pos);
      auto reply = json::parse(line, nullptr, false);
      ASSERT_FALSE(reply.is_discarded()) << "not JSON: " << line.substr(0, 200);
      ASSERT_TRUE(reply.contains("ok")) << line.substr(0, 200);
      ++replies;
      if (reply["ok"] == false) {
        const std::string code = reply["error"]["code"];
        ++codes[code];
        if (code == "internal") {
          ++internal;
          ADD_FAILURE() << "internal error: " << line.substr(0, 300);
        }
      }
    }
    int st = 0;
    ASSERT_EQ(::waitpid(daemon, &st, WNOHANG), 0) << "the daemon died after " << sent << " frames";
  }
  std::string summary;
  for (const auto& [code, n] : codes)
    summary += " " + code + "=" + std::to_string(n);
  std::cout << "fuzz: " << sent << " frames in " << bursts << " bursts, " << replies
            << " replies; errors:" << summary << "\n";
  RecordProperty("frames", static_cast<int>(sent));
  EXPECT_GT(replies, sent / 2);
  EXPECT_EQ(internal, 0u);
  auto s = tvctl({"status"});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(stop(SIGTERM), 0);
}

}  // namespace
}  // namespace tvd::integration
