// Scratch directories and small helpers for tests that touch real files and real processes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tvd::testing {

// A fresh directory under $TMPDIR, removed with everything in it when the object dies.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

void write_text(const std::filesystem::path& path, const std::string& text);  // makes parents
std::string read_text(const std::filesystem::path& path);

// Every regular file below `dir`, as paths relative to it, sorted.
std::vector<std::string> list_files(const std::filesystem::path& dir);

// A minimal flox environment: <dir>/.flox/env/manifest.toml.
void make_flox_env(const std::filesystem::path& dir);

struct CommandResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out;
  std::string err;
};
// Runs argv (no shell), stdin from /dev/null, and collects its output.
CommandResult run_command(const std::vector<std::string>& argv);

bool running_as_root();

}  // namespace tvd::testing
