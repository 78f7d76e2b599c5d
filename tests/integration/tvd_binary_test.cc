// The tvd binary as scripts see it: exit codes (0 done, 1 failed, 2 bad input), errors on stderr,
// results on stdout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/scratch.h"

namespace tvd {
namespace {

using ::testing::HasSubstr;
using testing::run_command;

class TvdBinary : public ::testing::Test {
 protected:
  testing::ScratchDir root;
  std::string config = (root / "tvd.json").string();
  void SetUp() override {
    testing::make_flox_env(root / "env");
    testing::write_text(config, "// comments are allowed\n{ \"flox_env\": \"env\" }\n");
  }
  testing::CommandResult tvd(std::vector<std::string> args) {
    args.insert(args.begin(), TVD_BIN);
    return run_command(args);
  }
};

// check-config says when tvd-run, the supervisor its builds outlive it under, is missing: beside
// the binary (the build tree) it is found; a tvd copied alone is warned about.
TEST_F(TvdBinary, CheckConfigSaysWhenTheSupervisorOfBuildsIsMissing) {
  const auto found = tvd({"check-config", "--config", config});
  EXPECT_EQ((found.out + found.err).find("tvd-run is not"), std::string::npos)
      << found.out << found.err;
  const auto alone = root / "bin" / "tvd";
  std::filesystem::create_directories(alone.parent_path());
  std::filesystem::copy_file(TVD_BIN, alone);
  const auto missing = run_command({alone.string(), "check-config", "--config", config});
  EXPECT_THAT(missing.out,
              HasSubstr("warning:   tvd-run is not beside this tvd nor in ../lib/tvd: builds will "
                        "stop whenever tvd stops"));
}

TEST_F(TvdBinary, HelpAndUsage) {
  auto help = tvd({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("generate"));
  EXPECT_THAT(help.out, HasSubstr("check-config"));
  auto none = tvd({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("tvd --help"));
}

TEST_F(TvdBinary, ResultsOnStdoutErrorsOnStderr) {
  auto ok = tvd({"generate", "--config", config, "cpu-armv8.2"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("written  torchvision-python313-cpu-armv8_2"));
  EXPECT_TRUE(ok.err.empty());

  auto bad = tvd({"generate", "--config", config, "sm89-avx512vnn"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(bad.out.empty());
  EXPECT_THAT(bad.err, HasSubstr("tvd: error: unknown CPU ISA 'avx512vnn'"));
  EXPECT_THAT(bad.err, HasSubstr("did you mean sm89-avx512vnni?"));
}

TEST_F(TvdBinary, AMissingConfigIsBadInput) {
  auto r = tvd({"matrix", "--config", (root / "nope.json").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("nope.json does not exist"));
}

TEST_F(TvdBinary, AFailedWriteExitsOne) {
  testing::write_text(root / "env" / ".flox" / "pkgs", "");
  auto r = tvd({"generate", "--config", config, "cpu-avx2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("is not a directory"));
}

TEST_F(TvdBinary, MatrixJsonIsOneDocument) {
  auto r = tvd({"matrix", "--json", "--config", config});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["cells"].size(), 60u);
  EXPECT_EQ(j["cells"][0]["package"], "torchvision-python313-cuda12_8-sm121-avx512bf16");
  EXPECT_EQ(j["cells"][0]["buildable"], false);
}

}  // namespace
}  // namespace tvd
