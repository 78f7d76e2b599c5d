#include "proto/protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/golden.h"

namespace tvd::proto {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

void golden(const std::string& name, const std::string& text) {
  testing::expect_golden(TVD_GOLDEN_DIR, name, text);
}

// The request goldens are written by tvctl's own code (client/requests_test.cc).

TEST(Golden, Replies) {
  golden("reply-success.json",
         encode(Reply::success(2, {{"jobs",
                                    {{{"id", 12},
                                      {"package", "torchvision-python313-cuda12_8-sm89-avx512vnni"},
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
