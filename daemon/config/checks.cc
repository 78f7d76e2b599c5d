#include "daemon/config/checks.h"

#include <grp.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace tvd {
namespace {

bool executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t pos = 0, end; pos <= dirs.size(); pos = end + 1) {
    end = dirs.find(':', pos);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(pos, end - pos) + "/" + name;
    if (end > pos && ::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

// The branch's upstream, by asking git (a start-up check, not a hot path).
bool has_upstream(const std::filesystem::path& repo) {
  std::string cmd = "git -C '" + repo.string() +
                    "' rev-parse --abbrev-ref --symbolic-full-name '@{u}' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

std::vector<HostProblem> check_host(const Config& c) {
  std::vector<HostProblem> out;
  auto problem = [&](std::string m, bool fatal = true) { out.push_back({fatal, std::move(m)}); };
  std::error_code ec;
  const auto& env = c.flox_env;
  if (!std::filesystem::is_directory(env, ec)) {
    problem("flox_env " + env.string() +
            " does not exist: set flox_env to the flox environment's "
            "git checkout");
  } else {
    if (!std::filesystem::is_directory(env / ".flox", ec)) {
      problem("flox_env " + env.string() +
              " has no .flox directory: run 'flox init' there, or "
              "point flox_env at the environment");
    }
    if (!std::filesystem::exists(env / ".git", ec)) {
      problem("flox_env " + env.string() +
              " is not a git checkout: flox builds only recipes git "
              "tracks; clone the environment's repository there");
    } else if ((c.publish.push || c.publish.enabled) && !has_upstream(env)) {
      problem("the branch checked out in " + env.string() + " has no upstream, which " +
              std::string(c.publish.push ? "publish.push" : "flox publish") +
              " needs: run 'git push -u origin BRANCH' there once");
    }
  }
  if (!executable(c.flox)) {
    problem("flox '" + c.flox +
            "' is not an executable (PATH is searched for a bare name): "
            "install flox, or set \"flox\" to its full path");
  }
  if (::getgrnam(c.socket_group.c_str()) == nullptr) {
    problem("socket_group '" + c.socket_group +
            "' does not exist: create it (the Debian package's "
            "sysusers file does), or set socket_group to an existing group");
  }
  auto writable_or_creatable = [&](const std::filesystem::path& p) {
    auto dir = p;
    while (!dir.empty() && !std::filesystem::exists(dir, ec))
      dir = dir.parent_path();
    return !dir.empty() && ::access(dir.c_str(), W_OK) == 0;
  };
  if (!writable_or_creatable(c.state_dir)) {
    problem("state_dir " + c.state_dir.string() +
            " is not writable: give it to tvd's user "
            "(systemd's StateDirectory= does)");
  }
  if (!writable_or_creatable(c.socket.parent_path())) {
    problem("the socket's directory " + c.socket.parent_path().string() +
            " is not writable: "
            "systemd's RuntimeDirectory= makes /run/tvd");
  }
  if (!std::filesystem::is_directory(c.pytorch_env / ".flox" / "pkgs", ec)) {
    problem("pytorch_env " + c.pytorch_env.string() +
                " has no .flox/pkgs: GPU patterns will come "
                "from matrix.json instead of the PyTorch recipes",
            false);
  }
  return out;
}

}  // namespace tvd
