// tvd.json: one parser that knows every key of the contract in DESIGN.md, refuses unknown keys,
// and reports every problem at once with the key's path. Comments are allowed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/base/result.h"
#include "daemon/base/units.h"
#include "daemon/matrix/matrix.h"
#include "proto/protocol.h"

namespace tvd {

inline constexpr const char* kDefaultConfigPath = proto::kDefaultConfigPath;

// A config's choice of axes: each list it gives replaces matrix.json's.
struct AxesChoice {
  std::optional<std::vector<std::string>> python, cuda, gpu_archs, cpu_isas;
  std::optional<bool> cpu_only;
};

// A product beyond the built-in ones (builtin_products()): its names, its templates, and the
// product whose recipe of the same cell gives it its torch.
struct ProductConfig {
  std::string name;     // "torchaudio"
  std::string prefix;   // "torchaudio-"
  std::string display;  // "TorchAudio"
  std::string depends_on;
  std::filesystem::path templates;  // gpu.nix.in and cpu.nix.in
};

// One environment: a checkout of a product's repository (one branch), with its own matrix.
struct EnvironmentConfig {
  std::string name;  // the store keys its history on it
  std::string product;
  std::filesystem::path flox_env;
  std::optional<std::filesystem::path> matrix;     // else the config's, else the built-in one
  std::optional<std::filesystem::path> templates;  // else its product's
  std::optional<std::string> nixpkgs;              // else the config's
  AxesChoice axes;                                 // over the config's, key by key
  std::optional<std::string> org;                  // else publish.org
  std::optional<std::string> torch_from;           // the environment whose recipes give its torch
};

struct Config {
  std::string source;  // the file it came from, or "(built-in defaults)"

  std::filesystem::path flox_env = ".";  // the environment's git checkout
  std::filesystem::path pytorch_env;     // default: build-pytorch beside flox_env
  std::filesystem::path state_dir = "/var/lib/tvd";
  std::filesystem::path socket = proto::kDefaultSocket;
  std::string socket_group = "tvd";
  std::string flox = "flox";  // executable: a path, or a name looked up in PATH
  // flox reports usage metrics unless FLOX_DISABLE_METRICS is set; tvd sets it for its children
  // unless this is true.
  bool flox_metrics = false;

  struct Publish {
    bool enabled = false;
    std::string org;
    bool push = false;  // push recipe commits to the upstream
    // flox publish --signing-private-key: catalogs with their own store need signed uploads.
    std::optional<std::filesystem::path> signing_key;
  } publish;

  struct Scheduler {
    std::optional<unsigned> max_parallel;   // nullopt: "auto", max(1, nproc / 32)
    std::optional<uint64_t> memory_budget;  // nullopt: "auto", from MemTotal and cgroup
    uint64_t memory_per_build_gpu = 48ull << 30;
    uint64_t memory_per_build_cpu = 16ull << 30;
    uint64_t min_free_disk = 50ull << 30;
    double max_memory_pressure = 10.0;  // percent, /proc/pressure/memory "full avg10"
  } scheduler;

  // Where builds run: the local host, and the Nix remote builders of a machines file that tvd is
  // given a memory budget for (the machines file has no word for memory).
  struct Builders {
    // Nix's machines file; its `@FILE` includes are followed. A missing file: no remote builder.
    std::filesystem::path machines_file = "/etc/nix/machines";
    bool local = true;  // false: every build goes to a remote builder
    // What the local host builds: default its own system (and extra platforms when listed
    // here, as nix.conf's extra-platforms), and Nix's default system-features.
    std::vector<std::string> local_systems;
    std::vector<std::string> local_features;
    struct Remote {
      uint64_t memory_budget = 0;
    };
    std::map<std::string, Remote> remote;  // by the machine's store URI, as the file writes it
  } builders;

  struct Builds {
    std::chrono::seconds timeout{std::chrono::hours(12)};         // wall clock, one flox build
    std::chrono::seconds silence_timeout{std::chrono::hours(1)};  // no output for this long
    std::chrono::seconds publish_timeout{std::chrono::hours(2)};
    int max_tries = 3;                                      // per phase, the first included
    std::chrono::seconds backoff{std::chrono::minutes(2)};  // before try 2; doubles after
    uint64_t log_limit = 256ull << 20;  // per attempt; past it the head and tail are kept
  } builds;

  struct Logs {
    int keep_attempts = 20;  // per variant: older attempts' logs are deleted
  } logs;

  struct Http {
    std::string listen = "127.0.0.1:8347";  // or "off"
    // Where people reach the dashboard, for links in notifications ("https://tvd.example/");
    // default: http://<listen>/, with this host's name for an address that listens on every one.
    std::string public_url;
    // To read one request; a slower client (or an idle kept-alive one) is disconnected.
    std::chrono::seconds request_timeout{10};
  } http;

  // Who is told what happens (daemon/notify/): each receiver a command that gets one JSON
  // notification on stdin, or a webhook that gets it POSTed; `events` filters by kind
  // (proto/notification.h; empty: every kind).
  struct Notify {
    std::string name;                  // its cursor's key: default the command or the URL
    std::vector<std::string> command;  // argv, no shell
    std::string webhook;               // http://HOST[:PORT]/PATH
    std::vector<std::string> events;
    std::chrono::seconds timeout{10};  // one delivery
    int retries = 3;                   // after the first try, with a growing pause
  };
  std::vector<Notify> notify;

  // `tvd check`: how recipes are evaluated by Nix.
  struct Check {
    std::optional<bool> evaluate;  // nullopt: "auto", when nix_instantiate is found
    std::string nix_instantiate = "nix-instantiate";
    std::optional<std::string> store;   // e.g. "dummy://": drvPaths without writing a store
    std::vector<std::string> nix_path;  // -I entries, "nixpkgs=/path"
    std::map<std::string, std::filesystem::path> nixpkgs_sources;  // commit -> local copy
    unsigned parallel = 2;
    std::chrono::seconds timeout{300};
  } check;

  std::optional<std::filesystem::path> matrix;     // another matrix.json
  std::optional<std::filesystem::path> templates;  // TorchVision's templates, another directory
  std::optional<std::string> nixpkgs;              // a pin of matrix.json, or "flox"
  AxesChoice axes;                                 // over matrix.json's axes, key by key

  std::vector<ProductConfig> products;  // beyond the built-in ones
  // Every environment tvd serves, in the config's order. Without "environments" in the file, one:
  // "default", TorchVision in flox_env (its torch's choices read from pytorch_env).
  std::vector<EnvironmentConfig> environments;
  bool environments_given = false;  // the file listed them
};

// Relative paths are resolved against `base_dir` (the config file's directory).
Result<Config> parse_config(std::string_view json_text, std::string_view origin,
                            const std::filesystem::path& base_dir);

// `path` given: that file, which must exist. Not given: /etc/tvd/tvd.json if it exists, else
// the built-in defaults with flox_env the current directory.
Result<Config> load_config(const std::optional<std::filesystem::path>& path);

// Applies a nixpkgs pin choice and an axes choice over the matrix's own; errors name `where`.
Status apply_axes(const std::optional<std::string>& nixpkgs, const AxesChoice& axes, Matrix& matrix,
                  const std::string& where);

}  // namespace tvd
