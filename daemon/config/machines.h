// Nix's remote builders as Nix reads them (libstore/machines.cc): the `builders` setting, by
// default `@/etc/nix/machines`, lines of
//   URI SYSTEMS SSH_KEY MAX_JOBS SPEED_FACTOR SUPPORTED_FEATURES MANDATORY_FEATURES HOST_KEY
// separated by whitespace, `-` or a missing field for the default, `#` to the end of a line a
// comment, `;` a line break, `@FILE` the lines of another file (a missing one is none).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "daemon/base/result.h"

namespace tvd {

struct NixMachine {
  std::string uri;                   // as written: the key of tvd's per-machine config
  std::string store_uri;             // as Nix opens it: ssh:// before a schemeless host
  std::vector<std::string> systems;  // default: the host's own system
  std::string ssh_key;
  unsigned max_jobs = 1;
  unsigned speed_factor = 1;
  std::vector<std::string> supported_features;
  std::vector<std::string> mandatory_features;
  std::string public_host_key;
  std::string origin;  // FILE:LINE, for messages
};

// The machines of `file` (and the files it includes). A missing file has none; a malformed line
// is an error naming it, as Nix refuses it.
Result<std::vector<NixMachine>> read_machines(const std::filesystem::path& file,
                                              const std::string& this_system);

// The machine as one line of Nix's `builders` setting, every field written out.
std::string builders_line(const NixMachine& m);

// This host's Nix system ("x86_64-linux"), from the machine it runs on.
std::string host_system();

// Nix's default system-features on this host: nixos-test, benchmark, big-parallel, and kvm when
// /dev/kvm can be opened (libstore/globals.cc getDefaultSystemFeatures).
std::vector<std::string> default_system_features();

}  // namespace tvd
