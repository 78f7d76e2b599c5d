// A second Nix store on this machine, reached over ssh-ng:// on the loopback address, for tests
// of Nix remote builders (DESIGN.md, "Testing against the real world"): Debian's sshd, started as
// root in a mount namespace of its own where `dir/nix` is /nix, with a nix.conf of its own. Needs
// root, /usr/sbin/sshd (openssh-server), unshare and Nix.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace tvd::testing {

class SshNixStore {
 public:
  // Why this machine cannot run one, or empty when it can.
  static std::string unavailable();

  // Starts sshd under `dir` (keys, configs, its /nix): `host` is the name ssh_config() gives the
  // loopback address, `nix_conf` the lines of its nix.conf beyond a root build without sandbox.
  SshNixStore(const std::filesystem::path& dir, const std::string& host,
              const std::string& nix_conf);
  ~SshNixStore();
  SshNixStore(const SshNixStore&) = delete;
  SshNixStore& operator=(const SshNixStore&) = delete;

  // Empty once sshd listens; otherwise what went wrong (and its log).
  const std::string& error() const { return error_; }
  std::string uri() const { return "ssh-ng://" + host_; }
  // An ssh config naming the port, the key and the user: NIX_SSHOPTS="-F <this>".
  std::filesystem::path ssh_config() const { return dir_ / "ssh_config"; }
  // Its /nix, seen from outside the namespace.
  std::filesystem::path nix() const { return dir_ / "nix"; }

 private:
  std::filesystem::path dir_;
  std::string host_;
  pid_t sshd_ = -1;
  std::string error_;
};

// argv run in a mount namespace of its own where `nix` is /nix.
std::vector<std::string> with_own_nix(const std::filesystem::path& nix,
                                      const std::vector<std::string>& argv);
// Starts argv in a mount namespace of its own where `nix` is /nix (a Nix store of the process's
// own, at the path every store has), output appended to `log`; its pid, or -1.
pid_t spawn_with_own_nix(const std::filesystem::path& nix, const std::vector<std::string>& argv,
                         const std::filesystem::path& log);

// Whether the Nix store under `nix` (a /nix seen from outside) holds `store_path`, and whether it
// built it itself (Nix's `ultimate`, which a path copied from another store lacks).
struct StorePath {
  bool valid = false;
  bool built_here = false;
};
StorePath store_path_in(const std::filesystem::path& nix, const std::string& store_path);

}  // namespace tvd::testing
