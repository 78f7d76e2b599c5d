#include "tests/support/ssh_nix_store.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/scratch.h"

namespace tvd::testing {

namespace fs = std::filesystem;

namespace {

// A port nothing listens on now (the kernel's choice for a socket bound to port 0).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// The shell that makes `$0` the namespace's /nix, then runs the rest. Mounts made in a mount
// namespace of its own stay there ("--make-rprivate /" keeps them from the host's); /nix is made
// on the host first when it does not exist (a fresh machine with Debian's nix-bin has none).
const char* kOwnNix = "mount --make-rprivate / && mount --bind \"$0\" /nix && exec \"$@\"";

// A file's text, or empty while it does not exist.
std::string text_of(const fs::path& file) {
  std::error_code ec;
  return fs::exists(file, ec) ? read_text(file) : "";
}

}  // namespace

std::string SshNixStore::unavailable() {
  if (!running_as_root()) return "not root (sshd and the mount namespace need it)";
  if (!fs::exists("/usr/sbin/sshd")) return "no /usr/sbin/sshd (Debian's openssh-server)";
  if (run_command({"nix-store", "--version"}).exit_code != 0) return "no nix-store (nix-bin)";
  // A mount namespace where a bind mount can be made (some sandboxes allow the one, not the other).
  const auto probe = fs::temp_directory_path() / ("tvd-ns-probe-" + std::to_string(::getpid()));
  fs::create_directories(probe);
  std::error_code made;
  fs::create_directories("/nix", made);  // the mount point (a fresh machine with nix-bin has none)
  const auto tried =
      run_command({"unshare", "-m", "/bin/sh", "-c", kOwnNix, probe.string(), "true"});
  std::error_code ec;
  fs::remove(probe, ec);
  if (tried.exit_code != 0) {
    return "no mount namespace with bind mounts here (unshare -m, mount --bind): " + tried.err;
  }
  return "";
}

SshNixStore::SshNixStore(const fs::path& dir, const std::string& host, const std::string& nix_conf)
    : dir_(dir), host_(host) {
  fs::create_directories(dir_ / "nix");
  fs::create_directories(dir_ / "etc-nix");
  fs::create_directories("/run/sshd");  // sshd's privilege separation directory
  std::error_code ec;
  fs::create_directories("/nix", ec);
  for (const char* key : {"host_key", "client_key"}) {
    auto r =
        run_command({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir_ / key).string()});
    if (r.exit_code != 0) {
      error_ = "ssh-keygen failed: " + r.err;
      return;
    }
  }
  fs::copy_file(dir_ / "client_key.pub", dir_ / "authorized_keys");
  // Its own settings: a root build without build users or sandbox, no substituter, and `nix_conf`.
  // Sessions find them through NIX_CONF_DIR (sshd's SetEnv): /etc/nix need not exist on the host
  // to be mounted on.
  write_text(dir_ / "etc-nix" / "nix.conf",
             "build-users-group =\nsandbox = false\nsubstituters =\n" + nix_conf + "\n");
  const int port = free_port();
  const std::string d = dir_.string();
  write_text(dir_ / "sshd_config", "Port " + std::to_string(port) +
                                       "\nListenAddress 127.0.0.1\n"
                                       "HostKey " +
                                       d +
                                       "/host_key\n"
                                       "AuthorizedKeysFile " +
                                       d +
                                       "/authorized_keys\n"
                                       "StrictModes no\n"
                                       "PermitRootLogin prohibit-password\n"
                                       "PasswordAuthentication no\n"
                                       "KbdInteractiveAuthentication no\n"
                                       "UsePAM no\n"
                                       "PidFile " +
                                       d +
                                       "/sshd.pid\n"
                                       "SetEnv NIX_CONF_DIR=" +
                                       d + "/etc-nix\n");
  write_text(ssh_config(), "Host " + host_ + "\n  HostName 127.0.0.1\n  Port " +
                               std::to_string(port) + "\n  User root\n  IdentityFile " + d +
                               "/client_key\n  IdentitiesOnly yes\n"
                               "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
                               "  LogLevel ERROR\n");
  sshd_ = spawn_with_own_nix(
      dir_ / "nix", {"/usr/sbin/sshd", "-D", "-f", d + "/sshd_config", "-E", d + "/sshd.log"},
      dir_ / "sshd.out");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (text_of(dir_ / "sshd.log").find("Server listening") == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline || !process_alive(sshd_)) {
      error_ = "sshd did not start: " + text_of(dir_ / "sshd.log") + text_of(dir_ / "sshd.out");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

SshNixStore::~SshNixStore() {
  if (sshd_ > 0) {
    ::kill(sshd_, SIGTERM);
    ::waitpid(sshd_, nullptr, 0);
  }
}

std::vector<std::string> with_own_nix(const fs::path& nix, const std::vector<std::string>& argv) {
  std::vector<std::string> full = {"/usr/bin/unshare", "-m", "/bin/sh", "-c", kOwnNix,
                                   nix.string()};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

pid_t spawn_with_own_nix(const fs::path& nix, const std::vector<std::string>& argv,
                         const fs::path& log) {
  return spawn_logged(with_own_nix(nix, argv), log);
}

StorePath store_path_in(const fs::path& nix, const std::string& store_path) {
  // The real Nix reads that store where it lies (a store whose root is nix's parent).
  auto r = run_command({"nix", "--extra-experimental-features", "nix-command", "path-info",
                        "--json", "--store", nix.parent_path().string(), store_path});
  StorePath out;
  if (r.exit_code != 0) return out;
  auto info = nlohmann::json::parse(r.out, nullptr, false);
  if (!info.is_array() || info.empty() || !info[0].is_object()) return out;
  out.valid = info[0].value("valid", true);
  out.built_here = info[0].value("ultimate", false);
  return out;
}

}  // namespace tvd::testing
