#include "daemon/app/builder_probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tvd {
namespace {

using ::testing::HasSubstr;

// nix.conf(5), trusted-users: names, `*`, and `@group`; root always.
TEST(NixTrust, IsTheUserAGroupOfItsOrEveryone) {
  EXPECT_TRUE(nix_trusts({}, "root", {}));
  EXPECT_FALSE(nix_trusts({"root"}, "tvd", {"tvd"}));
  EXPECT_TRUE(nix_trusts({"root", "tvd"}, "tvd", {}));
  EXPECT_TRUE(nix_trusts({"root", "@nixbuilders"}, "tvd", {"tvd", "nixbuilders"}));
  EXPECT_FALSE(nix_trusts({"root", "@wheel"}, "tvd", {"tvd"}));
  EXPECT_TRUE(nix_trusts({"*"}, "tvd", {}));
  EXPECT_FALSE(nix_trusts({"@"}, "tvd", {""}));
}

TEST(BuilderProbe, TheDerivationIsOfTheSystemAndRequiresTheFeatures) {
  const std::string e = probe_expression("aarch64-linux", {"big-parallel", "cuda"}, "42");
  EXPECT_THAT(e, HasSubstr("system = \"aarch64-linux\";"));
  EXPECT_THAT(e, HasSubstr("requiredSystemFeatures = [ \"big-parallel\" \"cuda\" ];"));
  EXPECT_THAT(e, HasSubstr("nonce = \"42\";"));
  EXPECT_THAT(e, HasSubstr("builder = \"/bin/sh\";"));
}

TEST(BuilderProbe, TheHintFollowsWhatNixSaid) {
  EXPECT_THAT(probe_hint({"local", "aarch64-linux", false, {}, "a 'aarch64-linux' …"}),
              HasSubstr("builders.local.systems"));
  EXPECT_THAT(probe_hint({"ssh-ng://a",
                          "aarch64-linux",
                          false,
                          {},
                          "a 'aarch64-linux' with features {} is required to build 'x', but I am "
                          "a 'x86_64-linux' with features {}"}),
              HasSubstr("the machines file's line must name the machine's systems"));
  EXPECT_THAT(probe_hint({"ssh-ng://a",
                          "aarch64-linux",
                          false,
                          {},
                          "cannot open connection to remote store 'ssh-ng://a'"}),
              HasSubstr("nix store ping --store ssh-ng://a"));
  EXPECT_THAT(probe_hint({"ssh-ng://a",
                          "aarch64-linux",
                          false,
                          {},
                          "Nix ignored tvd's builders setting (you are not a trusted user); x"}),
              HasSubstr("trusted-users"));
}

}  // namespace
}  // namespace tvd
