// flox through the real runner: what the fake flox (flox 1.14's messages and exit codes) writes
// is read back as the failure it is.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include "daemon/flox/classify.h"
#include "tests/support/runner_fixture.h"

namespace tvd::flox {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using exec::RunResult;
class FloxRunTest : public testing::RunnerFixture {
 protected:
  // `flox publish -d ENV -o acme ARGS... PKG` with a token in the environment.
  exec::RunSpec publish_spec(const std::string& pkg, std::vector<std::string> args = {}) {
    std::vector<std::string> argv = {"publish", "-d", env_dir.string(), "-o", "acme"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(pkg);
    auto s = flox(argv);
    s.env["FLOX_FLOXHUB_TOKEN"] = "t0ken";
    return s;
  }
};

TEST_F(FloxRunTest, TwoBuildsOfOnePackageCollide) {
  recipe("twice");
  behave("twice", "seconds=3\n");
  std::optional<RunResult> first, second;
  runner->start(flox({"build", "-d", env_dir.string(), "twice"}),
                [&](const RunResult& r) { first = r; });
  boost::asio::steady_timer t(io, 500ms);
  t.async_wait([&](auto) {
    runner->start(flox({"build", "-d", env_dir.string(), "twice"}),
                  [&](const RunResult& r) { second = r; });
  });
  io.run_for(30s);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->succeeded());
  EXPECT_EQ(second->exit_code, 1);
  EXPECT_EQ(classify(*second, Phase::kBuild).failure, Failure::kCollision);
}

TEST_F(FloxRunTest, AnUntrackedRecipeIsRefusedByFlox) {
  recipe("new", /*track=*/false);
  auto r = run(flox({"build", "-d", env_dir.string(), "new"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(classify(r, Phase::kBuild).failure, Failure::kNotTracked);
}

TEST_F(FloxRunTest, FailuresAreClassified) {
  const std::pair<const char*, Failure> cases[] = {{"oom", Failure::kOutOfMemory},
                                                   {"fail", Failure::kBuildError},
                                                   {"eval", Failure::kEvaluation},
                                                   {"network", Failure::kNetwork}};
  for (const auto& [result, failure] : cases) {
    std::string pkg = std::string("r-") + result;
    recipe(pkg);
    behave(pkg, std::string("result=") + result + "\n");
    auto r = run(flox({"build", "-d", env_dir.string(), pkg}));
    EXPECT_EQ(r.exit_code, 1) << result;
    EXPECT_EQ(classify(r, Phase::kBuild).failure, failure) << result << ": " << r.tail;
  }
}

// flox publish's preconditions as flox 1.14.1 checks and words them (tests/support/fake-flox
// cites each line of flox's source), and what tvd makes of each: its class, and whether it is
// worth a retry (transient) or fails the job.
TEST_F(FloxRunTest, PublishPreconditionsAsFlox1141SaysThem) {
  recipe("pub");
  testing::git(env_dir, {"push", "-q"});
  auto publish = [&](std::map<std::string, std::string> extra = {}, bool with_org = true) {
    std::vector<std::string> args = {"publish", "-d", env_dir.string()};
    if (with_org) args.insert(args.end(), {"-o", "acme"});
    args.push_back("pub");
    auto s = flox(args);
    for (auto& [k, v] : extra)
      s.env[k] = v;
    return run(s);
  };
  const std::map<std::string, std::string> token = {{"FLOX_FLOXHUB_TOKEN", "t0ken"}};
  struct Seen {
    Failure failure;
    bool transient;
    std::string reason;
  };
  auto refused = [&](const RunResult& r, const std::string& says) -> Seen {
    EXPECT_EQ(r.exit_code, 1) << says;
    EXPECT_THAT(r.tail, HasSubstr(says));
    auto v = classify(r, Phase::kPublish);
    return {v.failure, v.transient, v.reason};
  };
  const std::string unsupported =
      "✘ ERROR: The environment is in an unsupported state for publishing: ";

  auto s = refused(publish(), "✘ ERROR: You are not logged in to FloxHub.");
  EXPECT_EQ(s.failure, Failure::kNotLoggedIn);
  EXPECT_FALSE(s.transient);
  // An exported but empty token is "logged out", whatever flox.toml holds.
  testing::write_text(dir / "cfg/flox.toml", "floxhub_token = \"t0ken\"\n");
  s = refused(publish({{"FLOX_FLOXHUB_TOKEN", ""}, {"FLOX_CONFIG_DIR", (dir / "cfg").string()}}),
              "You are not logged in to FloxHub.");
  EXPECT_EQ(s.failure, Failure::kNotLoggedIn);

  fs::rename(env_dir / ".flox/env/manifest.lock", dir / "lock");
  s = refused(publish(token), unsupported + "Environment must be locked.");
  EXPECT_EQ(s.failure, Failure::kPublishPrecondition);
  EXPECT_FALSE(s.transient);
  fs::rename(dir / "lock", env_dir / ".flox/env/manifest.lock");

  // The recipe itself untracked: flox's message names the file, and is not wrapped.
  testing::write_text(env_dir / ".flox/pkgs/pub.nix", "{ }: { }\n");
  testing::git(env_dir, {"rm", "-q", "--cached", ".flox/pkgs/pub.nix"});
  testing::git(env_dir, {"commit", "-q", "-m", "untrack"});
  auto untracked = publish(token);
  s = refused(untracked, "The Nix expression for 'pub' does not appear to be tracked by git.");
  EXPECT_THAT(untracked.tail, HasSubstr("Nix expression: 'pub' defined in '" +
                                        fs::canonical(env_dir).string() + "/.flox/pkgs/pub.nix'"));
  EXPECT_THAT(untracked.tail, ::testing::Not(HasSubstr("unsupported state")));
  EXPECT_EQ(s.failure, Failure::kNotTracked);
  testing::git(env_dir, {"add", ".flox/pkgs/pub.nix"});
  testing::git(env_dir, {"commit", "-q", "-m", "track again"});
  testing::git(env_dir, {"push", "-q"});

  testing::write_text(env_dir / ".flox/pkgs/stray.nix", "{ }\n");
  s = refused(publish(token), unsupported +
                                  "The following environment files are not tracked by git:\n- "
                                  ".flox/pkgs/stray.nix");
  EXPECT_EQ(s.failure, Failure::kPublishPrecondition);
  testing::git(env_dir, {"add", ".flox/pkgs/stray.nix"});
  s = refused(publish(token), unsupported +
                                  "Build repository must be clean, but has dirty "
                                  "tracked files.");
  EXPECT_EQ(s.failure, Failure::kPublishPrecondition);
  testing::git(env_dir, {"commit", "-q", "-m", "Add stray"});
  // Asked of the upstream's remote for HEAD (git fetch --negotiate-only), not of local refs.
  s = refused(publish(token), unsupported +
                                  "Local revision is not present on remote 'origin/main'.\nPush "
                                  "your commits with 'git push'");
  EXPECT_EQ(s.failure, Failure::kPublishPrecondition);
  EXPECT_FALSE(s.transient);
  EXPECT_THAT(s.reason, HasSubstr("flox publish refused"));
  EXPECT_THAT(s.reason, HasSubstr("Local revision is not present on remote 'origin/main'."));
  testing::git(env_dir, {"push", "-q"});

  // It builds first, as flox build does, and only then asks whether this was published.
  auto ok = publish(token);
  EXPECT_TRUE(ok.succeeded()) << ok.tail;
  EXPECT_THAT(ok.tail, HasSubstr("Building pub-0.23.0 in Nix expression mode"));
  EXPECT_THAT(ok.tail, HasSubstr("Package published successfully."));
  EXPECT_TRUE(fs::is_symlink(env_dir / "result-pub"));
  auto again = publish(token);
  EXPECT_TRUE(again.succeeded());
  const auto built_at = again.tail.find("Completed build of pub-0.23.0 in Nix expression mode");
  const auto dup_at = again.tail.find("Package already published.");
  ASSERT_NE(built_at, std::string::npos) << again.tail;
  ASSERT_NE(dup_at, std::string::npos) << again.tail;
  EXPECT_LT(built_at, dup_at) << "1.14.1 builds a duplicate before it finds it published";
  // Keyed on HEAD: after any new commit the unchanged package is a new catalog entry.
  testing::git(env_dir, {"commit", "-q", "--allow-empty", "-m", "unrelated"});
  testing::git(env_dir, {"push", "-q"});
  EXPECT_THAT(publish(token).tail, HasSubstr("Package published successfully."));
  // Before 1.12 there is no check at all.
  auto old = publish({{"FLOX_FLOXHUB_TOKEN", "t0ken"}, {"FAKE_FLOX_VERSION", "1.11.0"}});
  EXPECT_THAT(old.tail, HasSubstr("Package published successfully."));
  // Without -o flox publishes to the user's own catalog (tvd's config always names one).
  auto own = publish(token, /*with_org=*/false);
  EXPECT_TRUE(own.succeeded()) << own.tail;
  EXPECT_THAT(own.tail, HasSubstr("Use 'flox install fake-user/pub' to install it."));

  testing::git(env_dir, {"branch", "--unset-upstream"});
  s = refused(publish(token), unsupported +
                                  "Current branch 'main' has no upstream remote configured.\nSet "
                                  "one with 'git branch --set-upstream-to=origin/main'");
  EXPECT_EQ(s.failure, Failure::kPublishPrecondition);
  testing::git(env_dir, {"checkout", "-q", "--detach"});
  s = refused(publish(token), unsupported +
                                  "Repository is in detached HEAD state and has no upstream "
                                  "remote configured.");
  EXPECT_EQ(s.failure, Failure::kPublishPrecondition);
}

// The signing key is read by the upload, after the build: a key flox cannot read fails the
// publish hours in, as the configuration's fault (not retried as a network failure).
TEST_F(FloxRunTest, ASigningKeyFloxCannotReadFailsAfterTheBuild) {
  recipe("pub");
  testing::git(env_dir, {"push", "-q"});
  auto r = run(publish_spec("pub", {"--signing-private-key", (dir / "gone.key").string()}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.tail, HasSubstr("Completed build of pub-0.23.0"));
  EXPECT_THAT(r.tail, HasSubstr("✘ ERROR: Failed to publish package: Failed to upload to cache: "
                                "error: opening file '" +
                                (dir / "gone.key").string() + "': No such file or directory"));
  auto v = classify(r, Phase::kPublish);
  EXPECT_EQ(v.failure, Failure::kPublishPrecondition);
  EXPECT_FALSE(v.transient);
  EXPECT_THAT(v.reason, HasSubstr("could not read the signing key"));
}

// The upload's store (an S3 bucket, for FloxHub's catalogs) out of reach: after the build, as the
// network's fault, worth another try.
TEST_F(FloxRunTest, AnUploadThatCannotReachTheStoreIsANetworkFailure) {
  recipe("pub");
  testing::git(env_dir, {"push", "-q"});
  behave("pub", "result=network\n", "publish");
  auto r = run(publish_spec("pub"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.tail, HasSubstr("Completed build of pub-0.23.0"));
  auto v = classify(r, Phase::kPublish);
  EXPECT_EQ(v.failure, Failure::kNetwork);
  EXPECT_TRUE(v.transient);
  EXPECT_THAT(v.reason, HasSubstr("Failed to upload to cache: error: AWS error fetching "
                                  "'nix-cache-info': curlCode: 6, Couldn't resolve host name"));
}

// A catalog with its own store wants signed uploads; flox learns it from the catalog after the
// build. Without a key the publish fails there, as the configuration's fault (not retried); a key
// in flox's own config counts.
TEST_F(FloxRunTest, ACatalogWithItsOwnStoreNeedsASigningKey) {
  recipe("pub");
  testing::git(env_dir, {"push", "-q"});
  auto spec = publish_spec("pub");
  spec.env["FAKE_FLOX_CATALOG_STORE"] = "nixcopy";
  spec.env["FLOX_CONFIG_DIR"] = (dir / "flox-config").string();
  auto r = run(spec);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.tail, HasSubstr("Completed build of pub-0.23.0"));
  EXPECT_THAT(r.tail, HasSubstr("✘ ERROR: Failed to publish package: A signing key is required to "
                                "upload artifacts."));
  auto v = classify(r, Phase::kPublish);
  EXPECT_EQ(v.failure, Failure::kPublishPrecondition);
  EXPECT_FALSE(v.transient);
  EXPECT_THAT(v.reason, HasSubstr("set publish.signing_key in tvd's config"));

  testing::write_text(dir / "key", "secret\n");
  testing::write_text(dir / "flox-config/flox.toml",
                      "[publish]\nsigning_private_key = \"" + (dir / "key").string() + "\"\n");
  EXPECT_TRUE(run(spec).succeeded());
}

// The catalog's "already published" check failing does not stop a publish.
TEST_F(FloxRunTest, ADedupCheckThatFailsIsAWarningAndThePublishGoesOn) {
  recipe("pub");
  testing::git(env_dir, {"push", "-q"});
  behave("pub", "result=dedup-down\n", "publish");
  auto r = run(publish_spec("pub"));
  EXPECT_TRUE(r.succeeded()) << r.tail;
  EXPECT_THAT(r.tail,
              HasSubstr("! Unable to check if already published — continuing with publish."));
  EXPECT_THAT(r.tail, HasSubstr("Package published successfully."));
}

// Every expression build asks for the base catalog first: its failure is the network's, retried.
TEST_F(FloxRunTest, TheBaseCatalogUnreachableFailsTheBuildAsANetworkFailure) {
  recipe("cat");
  behave("cat", "result=catalog\n");
  auto r = run(flox({"build", "-d", env_dir.string(), "cat"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.tail, HasSubstr("✘ ERROR: could not get information about the base catalog: "));
  EXPECT_THAT(r.tail, HasSubstr("✘ ERROR: Build failed"));
  auto v = classify(r, Phase::kBuild);
  EXPECT_EQ(v.failure, Failure::kNetwork);
  EXPECT_TRUE(v.transient);
  EXPECT_THAT(v.reason, HasSubstr("could not get information about the base catalog"));
}

// The lock helper asks the catalog for the recipe's catalog inputs before Nix evaluates it; in
// 1.14.1 also for a recipe without any (tvd's never have any), so the catalog being unreachable
// fails every build: the network's fault, retried. flox's main does not ask for such a recipe.
TEST_F(FloxRunTest, TheCatalogLockLookupUnreachableIsANetworkFailureIn1141Only) {
  recipe("lock");
  behave("lock", "result=lookup\n");
  auto r = run(flox({"build", "-d", env_dir.string(), "lock"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.tail, HasSubstr("✘ ERROR: Communication Error: error sending request for url "
                                "(https://api.flox.dev/api/v1/catalog/build-inputs/lookup)"));
  EXPECT_THAT(r.tail, ::testing::Not(HasSubstr("in Nix expression mode")));  // nothing evaluated
  auto v = classify(r, Phase::kBuild);
  EXPECT_EQ(v.failure, Failure::kNetwork);
  EXPECT_TRUE(v.transient);
  EXPECT_THAT(v.reason, HasSubstr("network trouble: Communication Error: error sending request "
                                  "for url (https://api.flox.dev/api/v1/catalog/build-inputs/"));

  auto on_main = [&](const std::string& pkg) {
    auto s = flox({"build", "-d", env_dir.string(), pkg});
    s.env["FAKE_FLOX_VERSION"] = "1.14.1-g6536dac";
    return run(s);
  };
  auto m = on_main("lock");
  EXPECT_TRUE(m.succeeded()) << m.tail;
  EXPECT_THAT(m.tail, HasSubstr("Completed build of lock-0.23.0 in Nix expression mode"));
  // A recipe that takes packages from a catalog is looked up on main too.
  testing::write_text(env_dir / ".flox/pkgs/withcat.nix", "{ catalogs }: catalogs.acme.torch\n");
  testing::git(env_dir, {"add", ".flox/pkgs/withcat.nix"});
  behave("withcat", "result=lookup\n");
  auto c = on_main("withcat");
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_EQ(classify(c, Phase::kBuild).failure, Failure::kNetwork);
}

// flox's main after 1.14.1 (no release yet; it reports 1.14.1-g6536dac) asks "already published"
// before it builds, and reports a recipe's syntax error through its lock helper.
TEST_F(FloxRunTest, FloxMainAsksBeforeBuildingAndNamesSyntaxErrorsItself) {
  recipe("pub");
  testing::git(env_dir, {"push", "-q"});
  auto publish = [&] {
    auto s = publish_spec("pub");
    s.env["FAKE_FLOX_VERSION"] = "1.14.1-g6536dac";
    return run(s);
  };
  EXPECT_THAT(publish().tail, HasSubstr("Package published successfully."));
  auto again = publish();
  EXPECT_TRUE(again.succeeded());
  EXPECT_THAT(again.tail, HasSubstr("Package already published."));
  EXPECT_THAT(again.tail, ::testing::Not(HasSubstr("in Nix expression mode")));

  recipe("broken");
  behave("broken", "result=syntax\n");
  for (const char* version : {"1.14.1", "1.14.1-g6536dac"}) {
    auto s = flox({"build", "-d", env_dir.string(), "broken"});
    s.env["FAKE_FLOX_VERSION"] = version;
    auto r = run(s);
    EXPECT_EQ(r.exit_code, 1);
    auto v = classify(r, Phase::kBuild);
    EXPECT_EQ(v.failure, Failure::kEvaluation) << version << ": " << r.tail;
    EXPECT_FALSE(v.transient);
    if (std::string(version) == "1.14.1") {
      EXPECT_THAT(r.tail, HasSubstr("error: syntax error, unexpected end of file"));
    } else {
      EXPECT_THAT(r.tail, HasSubstr("✘ ERROR: Invalid Nix syntax at "));
      EXPECT_THAT(r.tail, HasSubstr("✘ ERROR: Failed to compute the catalog lock."));
    }
  }
  // The login reminder: quieted on main by FLOX_AUTH_NOTIFICATIONS=false, never inside an
  // activation.
  auto reminder = [&](std::map<std::string, std::string> extra) {
    auto s = flox({"build", "-d", env_dir.string(), "pub"});
    for (auto& [k, v] : extra)
      s.env[k] = v;
    return run(s).tail.find("! You are not logged in to FloxHub.") != std::string::npos;
  };
  EXPECT_TRUE(reminder({{"FLOX_AUTH_NOTIFICATIONS", "false"}}));
  EXPECT_FALSE(
      reminder({{"FLOX_AUTH_NOTIFICATIONS", "false"}, {"FAKE_FLOX_VERSION", "1.14.1-g6536dac"}}));
  EXPECT_FALSE(reminder({{"_FLOX_ACTIVE_ENVIRONMENTS", "[]"}}));
}

}  // namespace
}  // namespace tvd::flox
