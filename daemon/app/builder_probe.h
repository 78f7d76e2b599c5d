// What `tvd check-config --probe` asks Nix about the builders: does each build what the config
// says it builds (each of its systems, with its features, through the NIX_CONFIG tvd gives a build
// placed on it), and does Nix take tvd's `builders` setting from this user at all.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/app/host_checks.h"
#include "daemon/config/setup.h"

namespace tvd {

// Whether Nix's daemon takes restricted settings (`builders`) from `user`: root always; else a
// trusted-users entry that is the user, `*`, or `@GROUP` for one of `groups` (nix.conf(5)).
bool nix_trusts(const std::vector<std::string>& trusted_users, const std::string& user,
                const std::vector<std::string>& groups);

// A warning when remote builders are configured and this process's user, talking to a Nix
// daemon, is not trusted by it: the daemon would ignore `builders` and every remote build would
// fail with "unable to start any build". Asks `nix show-config` with `env`.
std::optional<HostProblem> check_nix_trust(const Setup& s,
                                           const std::map<std::string, std::string>& env);

// The probe derivation: `system`, requiring `features`, built by /bin/sh (there on every Nix
// builder, in its sandbox too), its `nonce` making each probe a new build.
std::string probe_expression(const std::string& system, const std::vector<std::string>& features,
                             const std::string& nonce);

struct BuilderProbe {
  std::string builder;
  std::string system;
  bool ok = false;
  std::chrono::milliseconds took{0};
  std::string error;  // Nix's, when not ok
};

// What to do about a probe that failed, from what Nix said.
std::string probe_hint(const BuilderProbe& p);

// Builds the probe derivation for every system of every builder (`nix-build` with `env`, placed
// as tvd places a build), at most `parallel` at once, each cut off after `timeout`.
std::vector<BuilderProbe> probe_builders(const Setup& s,
                                         const std::map<std::string, std::string>& env,
                                         std::chrono::seconds timeout, unsigned parallel = 4);

}  // namespace tvd
