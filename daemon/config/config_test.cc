#include "daemon/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config/machines.h"
#include "daemon/config/setup.h"
#include "daemon/matrix/spec.h"
#include "tests/support/scratch.h"

namespace tvd {
namespace {

using ::testing::HasSubstr;

Result<Config> parse(std::string_view text) {
  return parse_config(text, "tvd.json", "/etc/tvd");
}

std::string problems(std::string_view text) {
  auto c = parse(text);
  EXPECT_FALSE(c);
  if (c) return "";
  EXPECT_EQ(c.error().kind, ErrorKind::kBadInput);
  return c.error().message;
}

TEST(Config, EmptyMeansDefaults) {
  auto c = parse("{}").value();
  EXPECT_EQ(c.flox_env, "/etc/tvd");
  EXPECT_EQ(c.pytorch_env, "/etc/build-pytorch");
  EXPECT_EQ(c.flox, "flox");
  EXPECT_FALSE(c.publish.enabled);
  EXPECT_FALSE(c.scheduler.max_parallel);
  EXPECT_FALSE(c.scheduler.memory_budget);
  EXPECT_EQ(c.scheduler.memory_per_build_gpu, 48ull << 30);
  EXPECT_EQ(c.http.listen, "127.0.0.1:8347");
}

TEST(Config, EveryKeyOfTheContract) {
  auto c = parse(R"({
    // the environment
    "flox_env": "/srv/build-torchvision/",
    "state_dir": "state", "socket": "/run/tvd/tvd.sock", "socket_group": "builders",
    "flox": "bin/flox",
    "publish": { "enabled": true, "org": "acme", "push": true },
    "scheduler": { "max_parallel": 3, "memory_budget": "200GiB",
                   "memory_per_build": { "gpu": "64GiB", "cpu": "24GiB" }, "min_free_disk": "100GB" },
    "http": { "listen": "0.0.0.0:9000" },
    "builds": { "timeout": "6h", "silence_timeout": "30min", "max_tries": 5, "backoff": "1min",
                "log_limit": "64MiB", "publish_timeout": "1h" },
    "matrix": "matrix.json", "templates": "templates",
    "axes": { "python": ["python313", "python312"] }
  })");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->flox_env, "/srv/build-torchvision");
  EXPECT_EQ(c->pytorch_env, "/srv/build-pytorch");
  EXPECT_EQ(c->state_dir, "/etc/tvd/state");
  EXPECT_EQ(c->flox, "/etc/tvd/bin/flox");
  EXPECT_EQ(c->socket_group, "builders");
  EXPECT_TRUE(c->publish.enabled && c->publish.push);
  EXPECT_EQ(c->publish.org, "acme");
  EXPECT_EQ(c->scheduler.max_parallel, 3u);
  EXPECT_EQ(c->scheduler.memory_budget, 200ull << 30);
  EXPECT_EQ(c->scheduler.memory_per_build_cpu, 24ull << 30);
  EXPECT_EQ(c->scheduler.min_free_disk, 100'000'000'000ull);
  EXPECT_EQ(c->http.listen, "0.0.0.0:9000");
  EXPECT_EQ(c->builds.timeout, std::chrono::hours(6));
  EXPECT_EQ(c->builds.silence_timeout, std::chrono::minutes(30));
  EXPECT_EQ(c->builds.max_tries, 5);
  EXPECT_EQ(c->builds.log_limit, 64ull << 20);
  EXPECT_EQ(*c->matrix, "/etc/tvd/matrix.json");
  EXPECT_TRUE(c->axes.python);
  EXPECT_FALSE(c->axes.cuda);
}

TEST(Config, TheShippedExampleParses) {
  auto text = testing::read_text(std::filesystem::path(TVD_SOURCE_DIR) / "config" / "tvd.json");
  auto c = parse_config(text, "config/tvd.json", "/etc/tvd");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->flox_env, "/srv/build-torchvision");
  EXPECT_EQ(c->scheduler.memory_per_build_gpu, 48ull << 30);
}

TEST(Config, UnknownKeysAreRefusedWithTheirPath) {
  auto msg = problems(R"({"scheduler": {"memroy_budget": "1GiB"}, "flox_evn": "/x"})");
  EXPECT_THAT(msg, HasSubstr("2 problems"));
  EXPECT_THAT(
      msg,
      HasSubstr("scheduler.memroy_budget: unknown key (did you mean scheduler.memory_budget?)"));
  EXPECT_THAT(msg, HasSubstr("flox_evn: unknown key (did you mean flox_env?)"));
}

TEST(Config, TheDashboardListensOnAnAddressAndAPortOrNowhere) {
  for (const char* good : {"127.0.0.1:8347", "0.0.0.0:80", "[::1]:8347", "localhost:0", "off"}) {
    auto c = parse_config(std::string(R"({"http": {"listen": ")") + good + "\"}}", "t.json", "/");
    ASSERT_TRUE(c) << good << ": " << c.error().message;
    EXPECT_EQ(c->http.listen, good);
  }
  for (const char* bad : {"8347", "buildhost:8347", "127.0.0.1:", "127.0.0.1:65536",
                          "127.0.0.1:http", "::1:8347", "[::1]", "300.1.1.1:80"}) {
    auto c = parse_config(std::string(R"({"http": {"listen": ")") + bad + "\"}}", "t.json", "/");
    ASSERT_FALSE(c) << bad;
    EXPECT_THAT(c.error().message, HasSubstr("http.listen")) << bad;
  }
  auto t = parse_config(R"({"http": {"request_timeout": "3s"}})", "t.json", "/");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->http.request_timeout, std::chrono::seconds(3));
  EXPECT_FALSE(parse_config(R"({"http": {"request_timeout": "soon"}})", "t.json", "/"));
}

// Notification receivers: a command (argv, no shell) or an http:// webhook, each with the kinds
// it takes, a timeout and its retries; its name keeps its cursor, so names are unique.
TEST(Config, NotifyReceiversAreCommandsOrWebhooks) {
  auto c = parse(R"({"notify": [
      {"command": ["/usr/local/bin/tvd-mail", "--to", "ops@example.org"]},
      {"name": "chat", "webhook": "http://127.0.0.1:9000/tvd", "events": ["job_failed"],
       "timeout": "5s", "retries": 0}],
    "http": {"public_url": "https://tvd.example.org"}})");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->notify.size(), 2u);
  EXPECT_EQ(c->notify[0].name, "/usr/local/bin/tvd-mail --to ops@example.org");
  EXPECT_EQ(c->notify[0].timeout, std::chrono::seconds(10));
  EXPECT_EQ(c->notify[0].retries, 3);
  EXPECT_TRUE(c->notify[0].events.empty());
  EXPECT_EQ(c->notify[1].name, "chat");
  EXPECT_EQ(c->notify[1].webhook, "http://127.0.0.1:9000/tvd");
  EXPECT_EQ(c->notify[1].events, std::vector<std::string>{"job_failed"});
  EXPECT_EQ(c->notify[1].retries, 0);
  EXPECT_EQ(c->http.public_url, "https://tvd.example.org");

  const std::string msg = problems(R"({"notify": [
      {"webhook": "https://hooks.example.org/x"},
      {"command": "/usr/bin/mail ops"},
      {"command": ["a"], "webhook": "http://h/"},
      {},
      {"webhook": "http://h/", "events": ["job_failed", "job_exploded"]},
      {"name": "x", "command": ["a"]}, {"name": "x", "command": ["b"]},
      {"webhook": "http://h/2", "timeout": "1h", "retries": 11}]})");
  EXPECT_THAT(msg, HasSubstr("notify[0].webhook: tvd posts to http:// only; for https use a "
                             "command, such as [\"/usr/bin/curl\""));
  EXPECT_THAT(msg,
              HasSubstr("notify[1].command: expected the program and its arguments, no shell"));
  EXPECT_THAT(msg, HasSubstr("notify[2].command: a receiver is a command or a webhook, not both"));
  EXPECT_THAT(msg,
              HasSubstr("notify[3].command: missing: give each receiver a command or a webhook"));
  EXPECT_THAT(msg, HasSubstr("notify[4].events: unknown kind \"job_exploded\"; the kinds are "
                             "job_failed, variant_failing, variant_fixed, batch_finished, "
                             "daemon_refused"));
  EXPECT_THAT(msg, HasSubstr("notify[6].name: another receiver is also \"x\""));
  EXPECT_THAT(msg, HasSubstr("notify[7].timeout: expected a duration up to 10 minutes"));
  EXPECT_THAT(msg, HasSubstr("notify[7].retries: expected a whole number from 0 to 10"));
  EXPECT_THAT(problems(R"({"notify": {"command": ["a"]}})"),
              HasSubstr("notify: expected a list of receivers"));
  EXPECT_THAT(problems(R"({"http": {"public_url": "tvd.example.org"}})"),
              HasSubstr("http.public_url: expected the dashboard's address as people reach it"));
}

TEST(Config, WrongTypesAndValuesAreReportedTogether) {
  auto msg = problems(R"({
    "publish": {"enabled": "yes"},
    "scheduler": {"max_parallel": 0, "memory_budget": "48 gigs",
                  "memory_per_build": {"gpu": 48}},
    "http": {"listen": "8347"},
    "builds": {"timeout": "forever", "max_tries": 0}
  })");
  EXPECT_THAT(msg, HasSubstr("publish.enabled: expected true or false, found a string"));
  EXPECT_THAT(
      msg,
      HasSubstr("scheduler.max_parallel: expected a whole number from 1 to 1024, or \"auto\""));
  EXPECT_THAT(msg, HasSubstr("scheduler.memory_budget: \"48 gigs\" is not a size"));
  EXPECT_THAT(msg, HasSubstr("scheduler.memory_per_build.gpu: expected a size as a string"));
  EXPECT_THAT(msg, HasSubstr("http.listen: expected an IP address and a port"));
  EXPECT_THAT(msg, HasSubstr("builds.timeout: expected a duration"));
  EXPECT_THAT(msg, HasSubstr("builds.max_tries: expected a whole number from 1 to 20"));
}

TEST(Config, PublishingNeedsAnOrg) {
  EXPECT_THAT(problems(R"({"publish": {"enabled": true}})"), HasSubstr("publish.org: is needed"));
}

TEST(Config, BrokenJsonSaysWhere) {
  EXPECT_THAT(problems("{\"flox_env\": \"/x\",}"), HasSubstr("tvd.json: not valid JSON"));
}

TEST(Config, AutoIsAccepted) {
  auto c = parse(R"({"scheduler": {"max_parallel": "auto", "memory_budget": "auto"}})").value();
  EXPECT_FALSE(c.scheduler.max_parallel);
  EXPECT_FALSE(c.scheduler.memory_budget);
}

TEST(LoadConfig, AnExplicitFileMustExist) {
  testing::ScratchDir dir;
  auto c = load_config(dir / "none.json");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, ErrorKind::kBadInput);
  EXPECT_THAT(c.error().message, HasSubstr("none.json does not exist"));
}

TEST(LoadSetup, AxesFromTheConfigChangeTheMatrix) {
  testing::ScratchDir dir;
  testing::write_text(dir / "tvd.json", R"({"axes": {"cuda": ["12.9"], "gpu_archs": ["sm121"]}})");
  auto s = load_setup(dir / "tvd.json");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->environments.front().matrix.cells().size(), 6u + 6u);
  testing::write_text(dir / "tvd.json", R"({"axes": {"gpu_archs": ["sm999"]}})");
  auto bad = load_setup(dir / "tvd.json");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("axes: gpu_archs: \"sm999\" is not in the table"));
}

TEST(LoadSetup, AMatrixFileReplacesTheBuiltInOne) {
  testing::ScratchDir dir;
  testing::write_text(dir / "tvd.json", R"({"matrix": "m.json"})");
  testing::write_text(dir / "m.json", R"({"schema": 1})");
  auto s = load_setup(dir / "tvd.json");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("m.json has"));
  EXPECT_THAT(s.error().message, HasSubstr("schema: this tvd reads schema 2"));
}

TEST(Config, ASocketPathTooLongAndAnEndlessDurationAreRefused) {
  auto r = parse(R"({"socket": "/run/)" + std::string(120, 'x') +
                 R"(.sock", "builds": {"backoff": "99999999h"}})");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("a Unix socket's path may have at most 107"));
  EXPECT_THAT(r.error().message, HasSubstr("builds.backoff"));
  EXPECT_THAT(r.error().message, HasSubstr("longer than 30 days"));
}

// Several environments: each a product in a checkout of its own, with its own pin, axes and org;
// a TorchVision one takes its torch from a PyTorch one.
TEST(Config, EnvironmentsAreData) {
  auto c = parse(R"({
    "publish": {"enabled": true, "org": "acme"},
    "environments": [
      {"name": "pytorch", "product": "pytorch", "flox_env": "/srv/build-pytorch",
       "nixpkgs": "pytorch-2.9", "axes": {"cuda": ["12.9"]}, "org": "acme-torch"},
      {"name": "torchvision", "product": "torchvision", "flox_env": "/srv/build-torchvision",
       "nixpkgs": "pytorch-2.9", "torch_from": "pytorch"}
    ]})");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->environments.size(), 2u);
  EXPECT_TRUE(c->environments_given);
  EXPECT_EQ(c->environments[0].product, "pytorch");
  EXPECT_EQ(c->environments[0].flox_env, "/srv/build-pytorch");
  EXPECT_EQ(*c->environments[0].axes.cuda, std::vector<std::string>{"12.9"});
  EXPECT_EQ(c->environments[0].org, "acme-torch");
  EXPECT_EQ(c->environments[1].torch_from, "pytorch");
  EXPECT_FALSE(c->environments[1].org);

  // Without "environments": one, "default", TorchVision in flox_env.
  auto one = parse(R"({"flox_env": "/srv/tv"})").value();
  ASSERT_EQ(one.environments.size(), 1u);
  EXPECT_EQ(one.environments[0].name, "default");
  EXPECT_EQ(one.environments[0].product, "torchvision");
  EXPECT_EQ(one.environments[0].flox_env, "/srv/tv");
  EXPECT_FALSE(one.environments_given);
}

TEST(Config, EnvironmentsThatCannotWorkAreRefusedEachWithItsPath) {
  const std::string msg = problems(R"({
    "publish": {"enabled": true},
    "environments": [
      {"name": "pt", "product": "pytorch", "flox_env": "/srv/a"},
      {"name": "Bad Name", "product": "torchaudio", "flox_env": "/srv/b"},
      {"name": "pt", "product": "torchvision", "flox_env": "/srv/a", "torch_from": "nowhere"},
      {"name": "tv", "product": "torchvision", "flox_env": "/srv/c", "torch_from": "tv2"},
      {"name": "tv2", "product": "torchvision", "flox_env": "/srv/d", "org": "x"},
      {"name": "p2", "product": "pytorch", "flox_env": "/srv/e", "torch_from": "pt"},
      {"product": "pytorch", "flocks_env": "/srv/f"}
    ]})");
  EXPECT_THAT(msg, HasSubstr("environments[1].name: 'Bad Name': use lowercase letters"));
  EXPECT_THAT(msg, HasSubstr("environments[1].product: 'torchaudio' is not a product (known: "
                             "pytorch, torchvision; a new one goes in \"products\")"));
  EXPECT_THAT(msg, HasSubstr("environments[2].name: 'pt' is also environments[0]'s"));
  EXPECT_THAT(msg, HasSubstr("environments[2].flox_env: /srv/a is also pt's checkout"));
  EXPECT_THAT(msg, HasSubstr("environments[2].torch_from: 'nowhere' names no environment"));
  EXPECT_THAT(msg, HasSubstr("environments[3].torch_from: 'tv2' builds torchvision, but "
                             "torchvision takes its torch from pytorch"));
  EXPECT_THAT(msg, HasSubstr("environments[5].torch_from: the product 'pytorch' takes its torch "
                             "from no other product"));
  EXPECT_THAT(msg, HasSubstr("environments[6].name: missing"));
  EXPECT_THAT(msg, HasSubstr("environments[6].flocks_env: unknown key"));
  EXPECT_THAT(msg, HasSubstr("environments[0].org: is needed when publish.enabled is true"));
  EXPECT_EQ(msg.find("environments[4].org"), std::string::npos);  // it has its own
}

// A pairing whose pins differ would build torch twice, differently: refused, naming both pins.
TEST(LoadSetup, APairingWithAnotherPinIsRefused) {
  testing::ScratchDir dir;
  testing::write_text(dir / "tvd.json", R"({"environments": [
      {"name": "pytorch", "product": "pytorch", "flox_env": "pt", "nixpkgs": "pytorch-2.9"},
      {"name": "torchvision", "product": "torchvision", "flox_env": "tv",
       "nixpkgs": "pytorch-2.8", "torch_from": "pytorch"}]})");
  auto s = load_setup(dir / "tvd.json");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message,
              HasSubstr("environment 'torchvision' takes its torch from 'pytorch', but imports "
                        "nixpkgs 'pytorch-2.8' ("));
  EXPECT_THAT(s.error().message, HasSubstr("where 'pytorch' imports 'pytorch-2.9' ("));
  EXPECT_THAT(s.error().hint, HasSubstr("the same \"nixpkgs\" pin"));

  testing::write_text(dir / "tvd.json", R"({"nixpkgs": "pytorch-2.9", "environments": [
      {"name": "pytorch", "product": "pytorch", "flox_env": "pt"},
      {"name": "torchvision", "product": "torchvision", "flox_env": "tv", "torch_from": "pytorch"}]})");
  auto ok = load_setup(dir / "tvd.json");
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(ok->environments.size(), 2u);
  const auto& tv = ok->environments[1];
  EXPECT_EQ(tv.product().name, "torchvision");
  EXPECT_EQ(tv.torch, &ok->environments[0]);  // its torch is the PyTorch environment's recipe
  EXPECT_TRUE(tv.pytorch_env.empty());        // and the matrix decides what it says itself
  EXPECT_EQ(tv.matrix.cells().front().package().rfind("torchvision-", 0), 0u);
  EXPECT_EQ(ok->environments[0].matrix.cells().front().package().rfind("pytorch-", 0), 0u);
  EXPECT_EQ(ok->environments[0].templates.origin, "built-in pytorch templates");
}

// A third product is a templates directory and a few lines of configuration.
TEST(LoadSetup, AThirdProductIsTemplatesAndConfiguration) {
  testing::ScratchDir dir;
  for (const char* f : {"gpu.nix.in", "cpu.nix.in"}) {
    testing::write_text(dir / "torchaudio" / f,
                        "# TorchAudio {PYTHON} {CPU_ISA}\n{ pkgs ? import <nixpkgs> { } }: { }\n");
  }
  testing::write_text(dir / "tvd.json", R"({
    "products": [{"name": "torchaudio", "display": "TorchAudio", "templates": "torchaudio",
                  "depends_on": "pytorch"}],
    "environments": [
      {"name": "pytorch", "product": "pytorch", "flox_env": "pt"},
      {"name": "torchaudio", "product": "torchaudio", "flox_env": "ta", "torch_from": "pytorch"}]})");
  auto s = load_setup(dir / "tvd.json");
  ASSERT_TRUE(s) << s.error().message;
  const auto& ta = s->environments[1];
  EXPECT_EQ(ta.product().prefix, "torchaudio-");
  EXPECT_EQ(ta.product().display, "TorchAudio");
  EXPECT_EQ(ta.product().depends_on, "pytorch");
  EXPECT_EQ(ta.templates.origin, (dir / "torchaudio").string());
  auto sel = resolve_specs(s->matrices(), {"torchaudio/cpu-avx2"}, false).value();
  ASSERT_EQ(sel.size(), 1u);
  EXPECT_EQ(sel[0].variant.package(), "torchaudio-python313-cpu-avx2");
  auto text = render_recipe(ta.templates, sel[0].variant, {});
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, "# TorchAudio python313 avx2\n{ pkgs ? import <nixpkgs> { } }: { }\n");
}

// Nix's machines file as Nix reads it (libstore/machines.cc): fields by position, '-' for the
// default, '#' comments, ';' as a line break, @FILE includes, ssh:// before a schemeless host.
TEST(Machines, AreReadAsNixReadsThem) {
  testing::ScratchDir dir;
  testing::write_text(dir / "more", "ssh-ng://arm2 aarch64-linux - 2 1 big-parallel\n");
  testing::write_text(dir / "machines",
                      "# the build farm\n"
                      "arm1 aarch64-linux,armv7l-linux /root/.ssh/id 4 2 big-parallel,kvm - AAAA\n"
                      "ssh://x86 - - - - ; @" +
                          (dir / "more").string() +
                          "  # two on a line\n"
                          "@" +
                          (dir / "absent").string() + "\n");
  auto m = read_machines(dir / "machines", "x86_64-linux");
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->size(), 3u);
  const auto& arm1 = (*m)[0];
  EXPECT_EQ(arm1.uri, "arm1");
  EXPECT_EQ(arm1.store_uri, "ssh://arm1");
  EXPECT_EQ(arm1.systems, (std::vector<std::string>{"aarch64-linux", "armv7l-linux"}));
  EXPECT_EQ(arm1.max_jobs, 4u);
  EXPECT_EQ(arm1.supported_features, (std::vector<std::string>{"big-parallel", "kvm"}));
  EXPECT_EQ(arm1.origin, (dir / "machines").string() + ":2");
  EXPECT_EQ(builders_line(arm1),
            "ssh://arm1 aarch64-linux,armv7l-linux /root/.ssh/id 4 2 big-parallel,kvm - AAAA");
  EXPECT_EQ((*m)[1].systems, std::vector<std::string>{"x86_64-linux"});  // the host's
  EXPECT_EQ((*m)[1].max_jobs, 1u);
  EXPECT_EQ((*m)[2].uri, "ssh-ng://arm2");
  EXPECT_TRUE(read_machines(dir / "none", "x86_64-linux").value().empty());
  testing::write_text(dir / "bad", "arm1 aarch64-linux - many\n");
  auto bad = read_machines(dir / "bad", "x86_64-linux");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr(":1: bad machine specification: column 4 ('many')"));
}

// The builders tvd uses: the local host, and each machine of the file with a memory budget in
// tvd's config; the others are named with what to add.
TEST(LoadSetup, BuildersAreTheLocalHostAndTheMachinesWithABudget) {
  testing::ScratchDir dir;
  testing::write_text(dir / "machines",
                      "ssh-ng://arm aarch64-linux - 2 1 big-parallel\n"
                      "ssh://other x86_64-linux - 8 1 big-parallel\n"
                      "ssh://special aarch64-linux - 1 1 - cuda\n");
  testing::write_text(dir / "tvd.json", R"({"builders": {
      "machines_file": "machines",
      "local": {"systems": ["x86_64-linux"], "features": ["big-parallel"]},
      "remote": {"ssh-ng://arm": {"memory_budget": "200GiB"},
                 "ssh://special": {"memory_budget": "100GiB"},
                 "ssh://gone": {"memory_budget": "1GiB"}}}})");
  auto s = load_setup(dir / "tvd.json");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->builders.size(), 2u);
  EXPECT_EQ(s->builders[0].name, "local");
  EXPECT_TRUE(s->builders[0].local);
  EXPECT_EQ(s->builders[1].name, "ssh-ng://arm");
  EXPECT_EQ(s->builders[1].slots, 2u);
  EXPECT_EQ(s->builders[1].budget, 200ull << 30);
  EXPECT_EQ(s->builders[1].nix_line, "ssh-ng://arm aarch64-linux - 2 1 big-parallel - -");
  EXPECT_EQ(s->builders_for("aarch64-linux"), std::vector<std::string>{"ssh-ng://arm"});
  EXPECT_TRUE(s->builders_for("riscv64-linux").empty());
  ASSERT_EQ(s->builder_notes.size(), 3u);
  EXPECT_THAT(s->builder_notes[0], HasSubstr("ssh://other (" + (dir / "machines").string() +
                                             ":2): not used by tvd: no memory budget"));
  EXPECT_THAT(s->builder_notes[1], HasSubstr("ssh://special"));
  EXPECT_THAT(s->builder_notes[1], HasSubstr("mandatory features"));
  EXPECT_THAT(s->builder_notes[2], HasSubstr("builders.remote names ssh://gone"));

  testing::write_text(dir / "tvd.json",
                      R"({"builders": {"machines_file": "none", "local": false}})");
  auto none = load_setup(dir / "tvd.json");
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message, HasSubstr("no builder: the local host is off"));
  testing::write_text(dir / "tvd.json",
                      R"({"builders": {"remote": {"ssh://a": {}}, "local": {"cores": 3}}})");
  auto bad = load_setup(dir / "tvd.json");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("builders.remote.ssh://a.memory_budget: missing"));
  EXPECT_THAT(bad.error().message, HasSubstr("builders.local.cores: unknown key"));
}

}  // namespace
}  // namespace tvd
