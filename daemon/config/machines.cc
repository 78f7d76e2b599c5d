#include "daemon/config/machines.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <charconv>
#include <set>
#include <sstream>

#include "daemon/base/file.h"

namespace tvd {
namespace {

std::vector<std::string> split(const std::string& text, const std::string& separators) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find_first_of(separators, start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& x : v)
    out += (out.empty() ? "" : sep) + x;
  return out;
}

Status read_into(const std::filesystem::path& file, const std::string& this_system,
                 std::set<std::filesystem::path>& seen, std::vector<NixMachine>& out) {
  if (!seen.insert(file).second) return {};  // an include of itself adds nothing
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return {};  // as Nix: no file, no machines
  TRY_ASSIGN(const std::string text, read_file(file));
  int number = 0;
  for (const auto& raw : split(text, "\n")) {
    ++number;
    for (auto line : split(raw, ";")) {
      line = trim(line.substr(0, line.find('#')));
      if (line.empty()) continue;
      const std::string origin = file.string() + ":" + std::to_string(number);
      if (line[0] == '@') {
        TRY(read_into(trim(line.substr(1)), this_system, seen, out));
        continue;
      }
      const auto t = split(line, " \t");
      auto set = [&](size_t i) { return t.size() > i && t[i] != "-"; };
      auto whole = [&](size_t i, unsigned& v) -> Status {
        if (!set(i)) return {};
        auto [p, e] = std::from_chars(t[i].data(), t[i].data() + t[i].size(), v);
        if (e != std::errc() || p != t[i].data() + t[i].size()) {
          return fail(ErrorKind::kBadInput,
                      origin + ": bad machine specification: column " + std::to_string(i + 1) +
                          " ('" + t[i] + "') is not a whole number",
                      "fields: URI SYSTEMS SSH_KEY MAX_JOBS SPEED_FACTOR SUPPORTED_FEATURES "
                      "MANDATORY_FEATURES HOST_KEY ('-' for the default)");
        }
        return {};
      };
      NixMachine m;
      m.uri = t[0];
      const bool keep = m.uri.find("://") != std::string::npos ||
                        m.uri.find('/') != std::string::npos || m.uri == "auto" ||
                        m.uri == "daemon" || m.uri == "local" || m.uri.rfind("auto?", 0) == 0 ||
                        m.uri.rfind("daemon?", 0) == 0 || m.uri.rfind("local?", 0) == 0 ||
                        m.uri.rfind('?', 0) == 0;
      m.store_uri = keep ? m.uri : "ssh://" + m.uri;
      m.systems = set(1) ? split(t[1], ",") : std::vector<std::string>{this_system};
      if (set(2)) m.ssh_key = t[2];
      TRY(whole(3, m.max_jobs));
      TRY(whole(4, m.speed_factor));
      m.speed_factor = std::max(1u, m.speed_factor);
      if (set(5)) m.supported_features = split(t[5], ",");
      if (set(6)) m.mandatory_features = split(t[6], ",");
      if (set(7)) m.public_host_key = t[7];
      m.origin = origin;
      out.push_back(std::move(m));
    }
  }
  return {};
}

}  // namespace

Result<std::vector<NixMachine>> read_machines(const std::filesystem::path& file,
                                              const std::string& this_system) {
  std::vector<NixMachine> out;
  std::set<std::filesystem::path> seen;
  TRY(read_into(file, this_system, seen, out));
  return out;
}

std::string builders_line(const NixMachine& m) {
  auto field = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  auto list = [&](const std::vector<std::string>& v) { return field(join(v, ",")); };
  return m.store_uri + " " + list(m.systems) + " " + field(m.ssh_key) + " " +
         std::to_string(m.max_jobs) + " " + std::to_string(m.speed_factor) + " " +
         list(m.supported_features) + " " + list(m.mandatory_features) + " " +
         field(m.public_host_key);
}

std::string host_system() {
  utsname u{};
  std::string machine = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (machine == "arm64") machine = "aarch64";
  if (machine == "i686" || machine == "i586" || machine == "i386") machine = "i686";
  return machine + "-linux";
}

std::vector<std::string> default_system_features() {
  std::vector<std::string> out = {"nixos-test", "benchmark", "big-parallel"};
  if (::access("/dev/kvm", R_OK | W_OK) == 0) out.push_back("kvm");
  return out;
}

}  // namespace tvd
