#include "daemon/app/builder_probe.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "daemon/exec/capture.h"
#include "daemon/flox/commands.h"

namespace tvd {

namespace {

// This process's user and the names of its groups.
std::pair<std::string, std::vector<std::string>> this_user() {
  const passwd* pw = ::getpwuid(::geteuid());
  if (!pw) return {std::to_string(::geteuid()), {}};
  std::vector<gid_t> gids(64);
  int n = static_cast<int>(gids.size());
  if (::getgrouplist(pw->pw_name, pw->pw_gid, gids.data(), &n) < 0) {
    gids.resize(static_cast<size_t>(n));
    ::getgrouplist(pw->pw_name, pw->pw_gid, gids.data(), &n);
  }
  gids.resize(static_cast<size_t>(std::max(n, 0)));
  std::vector<std::string> groups;
  for (gid_t g : gids)
    if (const group* gr = ::getgrgid(g)) groups.emplace_back(gr->gr_name);
  return {pw->pw_name, groups};
}

// Nix's own message, its first error without the layers around it ("error: build of '…' on
// '…' failed: error: …"); the warning that it ignored `builders` first, when it gave one (the
// cause of what follows).
std::string nix_error(const std::string& err) {
  std::string out;
  const std::string ignored = "you are not a trusted user";
  if (err.find(ignored) != std::string::npos)
    out = "Nix ignored tvd's builders setting (" + ignored + "); ";
  auto at = err.find("error:");
  if (at == std::string::npos)
    return out + (err.empty() ? "nix-build failed with no message" : err);
  std::string line = err.substr(at, err.find('\n', at) - at);
  for (;;) {
    if (line.rfind("error: ", 0) == 0) {
      line.erase(0, 7);
    } else if (auto failed = line.find("' failed: ");
               line.rfind("build of '", 0) == 0 && failed != std::string::npos) {
      line.erase(0, failed + 10);
    } else {
      break;
    }
  }
  return out + line;
}

}  // namespace

std::string probe_hint(const BuilderProbe& p) {
  if (p.builder == "local") {
    return "builders.local.systems and features must be what this host's Nix builds (its "
           "system, extra-platforms and system-features)";
  }
  if (p.error.find("but I am a") != std::string::npos) {
    return "the machines file's line must name the machine's systems and features (its Nix's "
           "system, extra-platforms and system-features)";
  }
  if (p.error.find("not a trusted user") != std::string::npos) {
    return "add tvd's user to trusted-users in /etc/nix/nix.conf and restart nix-daemon";
  }
  return "check that the machine answers: nix store ping --store " + p.builder;
}

namespace {

std::string nix_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& i : items)
    out += " " + nlohmann::json(i).dump();
  return out + " ]";
}

}  // namespace

bool nix_trusts(const std::vector<std::string>& trusted_users, const std::string& user,
                const std::vector<std::string>& groups) {
  if (user == "root") return true;
  for (const auto& t : trusted_users) {
    if (t == "*" || t == user) return true;
    if (t.size() > 1 && t[0] == '@' &&
        std::find(groups.begin(), groups.end(), t.substr(1)) != groups.end())
      return true;
  }
  return false;
}

std::optional<HostProblem> check_nix_trust(const Setup& s,
                                           const std::map<std::string, std::string>& env) {
  const bool remote = std::any_of(s.builders.begin(), s.builders.end(),
                                  [](const BuilderSetup& b) { return !b.local; });
  if (!remote || ::geteuid() == 0) return std::nullopt;
  // Without a daemon (a single-user install) Nix applies the setting itself.
  std::error_code ec;
  if (!std::filesystem::exists("/nix/var/nix/daemon-socket/socket", ec)) return std::nullopt;
  auto r = exec::capture_all(
               {{"nix", "--extra-experimental-features", "nix-command", "show-config", "--json"}},
               env, 1, std::chrono::seconds(30))
               .front();
  auto config = nlohmann::json::parse(r.out, nullptr, false);
  if (r.exit_code != 0 || !config.is_object()) {
    return HostProblem{false, "could not ask Nix whether it trusts tvd's user (nix show-config: " +
                                  nix_error(r.err) +
                                  "); remote builds need a trusted user (trusted-users in "
                                  "/etc/nix/nix.conf)"};
  }
  std::vector<std::string> trusted;
  const auto& value = config["trusted-users"]["value"];
  if (value.is_array())
    for (const auto& t : value)
      if (t.is_string()) trusted.push_back(t.get<std::string>());
  auto [user, groups] = this_user();
  if (nix_trusts(trusted, user, groups)) return std::nullopt;
  return HostProblem{false, "Nix does not trust tvd's user " + user +
                                " (trusted-users: " + nix_list(trusted) +
                                "): nix-daemon ignores the builders setting tvd gives each "
                                "build, so remote builds fail with \"unable to start any "
                                "build\". Add `trusted-users = root " +
                                user + "` to /etc/nix/nix.conf and restart nix-daemon"};
}

std::string probe_expression(const std::string& system, const std::vector<std::string>& features,
                             const std::string& nonce) {
  return "derivation { name = \"tvd-probe\"; system = " + nlohmann::json(system).dump() +
         "; builder = \"/bin/sh\"; args = [ \"-c\" \"echo ok > $out\" ]; "
         "requiredSystemFeatures = " +
         nix_list(features) + "; nonce = " + nlohmann::json(nonce).dump() + "; }";
}

std::vector<BuilderProbe> probe_builders(const Setup& s,
                                         const std::map<std::string, std::string>& env,
                                         std::chrono::seconds timeout, unsigned parallel) {
  std::vector<BuilderProbe> probes;
  std::vector<std::vector<std::string>> commands;
  const std::string nonce =
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  // One placement per builder: the probes of a builder share its NIX_CONFIG.
  std::vector<std::map<std::string, std::string>> envs;
  for (const auto& b : s.builders) {
    auto placed = env;
    std::string& nix = placed["NIX_CONFIG"];
    if (!nix.empty() && nix.back() != '\n') nix += '\n';
    nix += flox::builder_settings(b.local ? "" : b.nix_line);
    for (const auto& system : b.systems) {
      probes.push_back({b.name, system});
      // Mandatory features are required too: a machine takes only what requires them.
      commands.push_back({"nix-build", "--no-out-link", "-E",
                          probe_expression(system, b.features, nonce + "-" + b.name)});
      envs.push_back(placed);
    }
  }
  // capture_all takes one environment: run the probes of each builder together.
  size_t i = 0;
  while (i < probes.size()) {
    size_t j = i;
    while (j < probes.size() && probes[j].builder == probes[i].builder)
      ++j;
    std::vector<std::vector<std::string>> batch(commands.begin() + static_cast<long>(i),
                                                commands.begin() + static_cast<long>(j));
    const auto start = std::chrono::steady_clock::now();
    auto results = exec::capture_all(batch, envs[i], parallel, timeout);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    for (size_t k = 0; k < results.size(); ++k) {
      auto& p = probes[i + k];
      p.took = took;
      p.ok = results[k].started && results[k].exit_code == 0;
      if (!p.ok) {
        p.error = !results[k].started ? results[k].err
                  : results[k].exit_code == 128 + 9
                      ? "no answer in " + std::to_string(timeout.count()) + " s"
                      : nix_error(results[k].err);
      }
    }
    i = j;
  }
  return probes;
}

}  // namespace tvd
