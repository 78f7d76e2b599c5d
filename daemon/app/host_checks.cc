#include "daemon/app/host_checks.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <system_error>

#include "daemon/base/units.h"
#include "daemon/exec/capture.h"
#include "daemon/exec/child_env.h"
#include "daemon/exec/host.h"
#include "daemon/exec/supervisor.h"
#include "daemon/flox/flox_config.h"

extern char** environ;

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

// git's answer in `repo` (a start-up check, not a hot path); nullopt if git failed.
std::optional<std::string> git_says(const std::filesystem::path& repo,
                                    std::vector<std::string> args) {
  args.insert(args.begin(), {"git", "-C", repo.string()});
  // The environment the lane gives git: the children's, without secrets (hooks are repo code).
  const auto env = exec::without_secrets(exec::child_environment(environ));
  auto r = exec::capture_all({args}, env, 1, std::chrono::seconds(30));
  if (!r[0].started || r[0].exit_code != 0) return std::nullopt;
  return r[0].out;
}

bool has_upstream(const std::filesystem::path& repo) {
  return git_says(repo, {"rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"}).has_value();
}

// Signs that a person works in the checkout: it belongs to another user, or has changes nobody
// committed. tvd commits and pushes there, so it should have a clone of its own.
std::optional<std::string> someone_works_in(const std::filesystem::path& repo) {
  struct stat st {};
  if (::stat(repo.c_str(), &st) == 0 && st.st_uid != ::geteuid()) {
    const struct passwd* pw = ::getpwuid(st.st_uid);
    return "belongs to " + (pw ? std::string(pw->pw_name) : "uid " + std::to_string(st.st_uid)) +
           ", not to tvd's user";
  }
  auto status = git_says(repo, {"status", "--porcelain"});
  if (status && !status->empty()) {
    auto line = status->substr(0, status->find('\n'));
    return "has changes nobody committed (git status: " + line + ")";
  }
  return std::nullopt;
}

// "1.14.1" from flox --version's output; nullopt when it says something else.
std::optional<std::pair<int, int>> major_minor(const std::string& text) {
  int major = 0, minor = 0;
  if (std::sscanf(text.c_str(), "%d.%d", &major, &minor) == 2) return std::pair{major, minor};
  auto pos = text.find_first_of("0123456789");
  if (pos != std::string::npos && std::sscanf(text.c_str() + pos, "%d.%d", &major, &minor) == 2)
    return std::pair{major, minor};
  return std::nullopt;
}

std::string first_line(const std::string& s) {
  auto end = s.find('\n');
  return s.substr(0, end);
}

// The upstream remote's URL when it carries a credential ("https://user:token@host/..."), with
// the credential masked; an ssh URL's user is its login, not a secret (as flox main reads it).
struct UrlCredential {
  std::string remote, masked;
};
std::optional<UrlCredential> upstream_url_credential(const std::filesystem::path& repo) {
  auto branch = git_says(repo, {"symbolic-ref", "--short", "-q", "HEAD"});
  if (!branch) return std::nullopt;
  auto remote = git_says(repo, {"config", "branch." + first_line(*branch) + ".remote"});
  if (!remote) return std::nullopt;
  auto url = git_says(repo, {"remote", "get-url", first_line(*remote)});
  if (!url) return std::nullopt;
  const std::string u = first_line(*url);
  const auto scheme_end = u.find("://");
  if (scheme_end == std::string::npos) return std::nullopt;
  const auto host_start = scheme_end + 3;
  const auto at = u.find('@', host_start);
  if (at == std::string::npos || u.find('/', host_start) < at) return std::nullopt;
  std::string scheme = u.substr(0, scheme_end);
  for (auto& ch : scheme)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const std::string userinfo = u.substr(host_start, at - host_start);
  const bool ssh = scheme == "ssh" || scheme == "git+ssh" || scheme == "ssh+git";
  const auto colon = userinfo.find(':');
  if (ssh && colon == std::string::npos) return std::nullopt;
  std::string shown = ssh ? userinfo.substr(0, colon) + ":***" : "***";
  return UrlCredential{first_line(*remote), u.substr(0, host_start) + shown + u.substr(at)};
}

}  // namespace

std::vector<std::string> describe_flox(const Config& c,
                                       const std::map<std::string, std::string>& child_env,
                                       std::vector<HostProblem>& problems) {
  std::vector<std::string> lines;
  auto version = exec::capture_all({{c.flox, "--version"}}, child_env, 1, std::chrono::seconds(30));
  if (!version[0].started || version[0].exit_code != 0) {
    problems.push_back(
        {false, "'" + c.flox + " --version' failed: " +
                    first_line(version[0].started ? version[0].err : version[0].err)});
    return lines;
  }
  const std::string v = first_line(version[0].out);
  auto mm = major_minor(v);
  std::string behaviour = "unknown version: publish behaviour assumed to be 1.12's";
  if (mm && *mm < std::pair{1, 12}) {
    behaviour =
        "before 1.12: flox publish has no 'already published' check, so every publish is "
        "a new catalog entry";
  } else if (mm && v.find("-g") != std::string::npos) {
    behaviour =
        "flox's main after its release: flox publish asks whether a build was published "
        "before building it (\"Package already published.\" at once), keyed on the upstream, "
        "HEAD revision, base catalog and system; a new commit publishes an unchanged package "
        "again, so tvd's own record of what it published decides first";
  } else if (mm) {
    behaviour =
        "1.12 or later: flox publish skips an upload already published from the same upstream, "
        "HEAD revision, base catalog and system (\"Package already published.\"), but only "
        "after building it (1.14.1); a new commit publishes an unchanged package again, so "
        "tvd's own record of what it published decides first";
  }
  lines.push_back("flox:      " + v + " (" + behaviour + ")");
  if (!c.publish.enabled) return lines;
  // flox 1.14.1 sends the upstream's URL to FloxHub as the published package's source exactly as
  // `git remote get-url` gives it (sdk/publish.rs); main drops its credentials (6536dac28).
  for (const auto& e : c.environments) {
    auto cred = upstream_url_credential(e.flox_env);
    if (!cred || v.find("-g") != std::string::npos) continue;
    problems.push_back(
        {false, "the upstream remote '" + cred->remote + "' of " + e.flox_env.string() +
                    " has a credential in its URL (" + cred->masked + "): flox " + v +
                    " sends that URL, credential included, to FloxHub as the source of every "
                    "package it publishes (flox after 1.14.1 drops it); keep the credential in "
                    "a git credential helper instead (git config credential.helper store, or "
                    "gh auth setup-git, as tvd's user) and run 'git remote set-url " +
                    cred->remote + " URL-without-it' there"});
  }
  std::vector<exec::Captured> status;
  if (flox::flox_token_masked(child_env)) {
    problems.push_back(
        {false,
         "FLOX_FLOXHUB_TOKEN is set but empty in the service's environment: flox takes that as "
         "logged out and ignores floxhub_token and its own login, so every publish would fail; "
         "remove it (or give it the token) in /etc/tvd/tvd.env"});
  } else if (auto source = flox::flox_token_source(child_env)) {
    lines.push_back("publish:   FloxHub credentials: " + *source);
  } else if (status = exec::capture_all({{c.flox, "auth", "status"}}, child_env, 1,
                                        std::chrono::seconds(30));
             status[0].started && status[0].exit_code == 0) {
    lines.push_back("publish:   FloxHub credentials: flox's own login (flox auth status: " +
                    first_line(status[0].err.empty() ? status[0].out : status[0].err) + ")");
  } else {
    problems.push_back(
        {false,
         "no FloxHub credentials for flox publish: no FLOX_FLOXHUB_TOKEN for the service, "
         "no floxhub_token in its flox.toml, and 'flox auth status' says it is not logged "
         "in; put FLOX_FLOXHUB_TOKEN in /etc/tvd/tvd.env (mode 0600), or run 'flox auth "
         "login' as tvd's user"});
  }
  if (c.publish.signing_key && ::access(c.publish.signing_key->c_str(), R_OK) != 0) {
    problems.push_back({true, "publish.signing_key " + c.publish.signing_key->string() +
                                  " is not readable: give it to tvd's user (mode 0600)"});
  }
  return lines;
}

// One environment's checkout: a flox environment in git, with an upstream when tvd publishes or
// pushes, and nobody else's work in it.
static void check_checkout(const Config& c, const std::filesystem::path& env,
                           std::vector<HostProblem>& out) {
  auto problem = [&](std::string m, bool fatal = true) { out.push_back({fatal, std::move(m)}); };
  std::error_code ec;
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
    // tvd writes recipes into .flox/pkgs and commits them: through a symlink out of the checkout
    // they would land elsewhere, where git does not track them and flox does not build them.
    const auto pkgs = env / ".flox" / "pkgs";
    if (std::filesystem::is_symlink(pkgs, ec)) {
      const auto target = std::filesystem::weakly_canonical(pkgs, ec);
      const auto rel = target.lexically_relative(std::filesystem::weakly_canonical(env, ec));
      if (rel.empty() || *rel.begin() == "..") {
        problem(pkgs.string() + " is a symlink to " + target.string() +
                ", outside the checkout: tvd would write recipes there, where git does not track "
                "them; make .flox/pkgs a directory of the checkout");
      }
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
    if (auto who = someone_works_in(env)) {
      problem("flox_env " + env.string() + " " + *who +
                  ": tvd commits and pushes in this checkout, and a person's work there can "
                  "stop its jobs; give tvd a clone of its own (git clone URL "
                  "/var/lib/tvd/build-torchvision) and set flox_env to it",
              false);
    }
  }
}

std::vector<HostProblem> check_host(const Config& c) {
  std::vector<HostProblem> out;
  auto problem = [&](std::string m, bool fatal = true) { out.push_back({fatal, std::move(m)}); };
  std::error_code ec;
  for (const auto& e : c.environments)
    check_checkout(c, e.flox_env, out);
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
  if (std::filesystem::is_directory(c.socket, ec)) {
    problem("socket " + c.socket.string() +
            " is a directory: tvd listens on a file of that name; set socket to a path such as " +
            (c.socket / "tvd.sock").string());
  }
  if (c.scheduler.memory_budget) {
    if (auto mem = exec::read_meminfo(); mem && *c.scheduler.memory_budget > mem->total) {
      problem("scheduler.memory_budget " + format_size(*c.scheduler.memory_budget) +
                  " is more than this host's memory (" + format_size(mem->total) +
                  "): builds would be started that the host cannot hold; set it below that, or "
                  "\"auto\"",
              false);
    }
  }
  if (!writable_or_creatable(c.socket.parent_path())) {
    problem("the socket's directory " + c.socket.parent_path().string() +
            " is not writable: "
            "systemd's RuntimeDirectory= makes /run/tvd");
  }
  if (exec::find_supervisor().empty()) {
    problem(
        "tvd-run is not beside this tvd nor in ../lib/tvd: builds will stop whenever tvd "
        "stops, and a restart or an upgrade starts them again from zero; reinstall tvd",
        false);
  }
  if (!c.environments_given &&
      !std::filesystem::is_directory(c.pytorch_env / ".flox" / "pkgs", ec)) {
    problem("pytorch_env " + c.pytorch_env.string() +
                " has no .flox/pkgs: GPU patterns will come "
                "from matrix.json instead of the PyTorch recipes",
            false);
  }
  return out;
}

}  // namespace tvd
