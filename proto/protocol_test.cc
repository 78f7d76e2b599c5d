#include "proto/protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tvd::proto {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// Compares `text` with golden/<name>; TVD_ACCEPT=1 writes it instead (review the diff!).
void golden(const std::string& name, const std::string& text) {
  const std::string path = std::string(TVD_GOLDEN_DIR) + "/" + name;
  if (std::getenv("TVD_ACCEPT")) {
    std::ofstream(path) << text;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << path << " is missing: run the test once with TVD_ACCEPT=1 and review it";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(text, ss.str()) << "golden/" << name << " differs (TVD_ACCEPT=1 rewrites it)";
}

TEST(Golden, Requests) {
  golden("request-status.json", encode(Request{1, "status", json::object()}));
  golden("request-enqueue.json", encode(Request{2,
                                                "enqueue",
                                                {{"specs", {"sm89-avx512vnni", "cpu-avx2"}},
                                                 {"priority", 5},
                                                 {"force", false},
                                                 {"no_publish", true}}}));
  golden("request-cancel.json", encode(Request{3, "cancel", {{"jobs", {12, 13}}}}));
  golden("request-show.json", encode(Request{4, "show", {{"job", 12}}}));
  golden("request-retry.json", encode(Request{5, "retry", {{"job", 12}}}));
  golden("request-logs.json",
         encode(Request{6, "logs", {{"job", 12}, {"follow", true}, {"offset", 4096}}}));
  golden("request-matrix.json", encode(Request{7, "matrix", json::object()}));
  golden(
      "request-generate.json",
      encode(Request{8, "generate", {{"specs", {"sm90-*"}}, {"dry_run", true}, {"force", false}}}));
}

TEST(Golden, Replies) {
  golden("reply-success.json",
         encode(Reply::success(2, {{"jobs",
                                    {{{"id", 12},
                                      {"variant", "torchvision-python313-cuda12_8-sm89-avx512vnni"},
                                      {"state", "queued"},
                                      {"phase", "recipe"},
                                      {"created", true}}}},
                                   {"skipped", json::object()}})));
  golden("reply-error.json",
         encode(Reply::failure(2, Code::kBadInput,
                               "unknown CPU ISA 'avx512vnn' in 'sm89-avx512vnn': did you mean "
                               "sm89-avx512vnni?",
                               "nothing was queued")));
  Reply more = Reply::success(9, {{"text", "[12/40] Building CXX object\n"}});
  more.more = true;
  golden("reply-stream.json", encode(more));
}

TEST(Protocol, RoundTrips) {
  Request r{42, "enqueue", {{"all", true}, {"batch", "nightly"}}};
  auto back = decode_request(encode(r)).value();
  EXPECT_EQ(back.id, 42);
  EXPECT_EQ(back.op, "enqueue");
  EXPECT_EQ(back.args["batch"], "nightly");
  auto reply =
      decode_reply(encode(Reply::failure(42, Code::kForbidden, "no", "join the group"))).value();
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error->code, Code::kForbidden);
  EXPECT_EQ(reply.error->hint, "join the group");
  EXPECT_EQ(exit_code(Code::kBadInput), 2);
  EXPECT_EQ(exit_code(Code::kConflict), 1);
}

TEST(Protocol, BadRequestsSayWhatIsWrong) {
  auto msg = [](std::string_view line) {
    auto r = decode_request(line);
    EXPECT_FALSE(r) << line;
    return r ? std::string() : std::string(to_string(r.error().code)) + ": " + r.error().message;
  };
  EXPECT_THAT(msg("\x01\x02garbage"), HasSubstr("bad_request: not valid JSON"));
  EXPECT_THAT(msg("{\"v\": 1, \"id\": 1, \"op\""), HasSubstr("not valid JSON"));
  EXPECT_THAT(msg("[1, 2]"), HasSubstr("a request is a JSON object"));
  EXPECT_THAT(msg("{\"v\": 2, \"id\": 1, \"op\": \"status\"}"), HasSubstr("unsupported_version"));
  EXPECT_THAT(msg("{\"v\": 1, \"id\": \"x\", \"op\": \"status\"}"), HasSubstr("\"id\""));
  EXPECT_THAT(msg("{\"v\": 1, \"id\": 1, \"op\": 5}"), HasSubstr("\"op\""));
  EXPECT_THAT(msg("{\"v\": 1, \"id\": 1, \"op\": \"status\", \"args\": []}"),
              HasSubstr("\"args\""));
  const std::string deep = std::string(17, '[') + std::string(17, ']');
  EXPECT_THAT(msg("{\"v\": 1, \"id\": 1, \"op\": \"status\", \"args\": {\"a\": " + deep + "}}"),
              HasSubstr("nested deeper than 16 levels"));
  // Brackets inside strings do not count.
  EXPECT_TRUE(decode_request("{\"v\": 1, \"id\": 1, \"op\": \"status\", \"args\": {\"a\": \"" +
                             std::string(100, '[') + "\"}}"));
}

TEST(LineFramer, CutsLinesAcrossReads) {
  LineFramer f;
  EXPECT_TRUE(f.feed("{\"a\":").empty());
  auto lines = f.feed("1}\n{\"b\":2}\n{\"c\"");
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
  EXPECT_EQ(f.feed(":3}\n"), std::vector<std::string>{"{\"c\":3}"});
}

TEST(LineFramer, RefusesALineOverTheLimit) {
  LineFramer f(1024);
  EXPECT_TRUE(f.feed(std::string(1024, 'x')).empty());
  EXPECT_FALSE(f.overflowed());
  f.feed("y");
  EXPECT_TRUE(f.overflowed());
  LineFramer g;
  g.feed(std::string(10 << 20, 'z') + "\n");  // a 10 MiB line
  EXPECT_TRUE(g.overflowed());
}

}  // namespace
}  // namespace tvd::proto
