// Scratch directories and small helpers for tests that touch real files and real processes.
#pragma once

#include <sys/types.h>

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

// A flox environment as people have them: a git checkout on branch main with .flox/env's
// manifest.toml and manifest.lock and flox's own .flox/.gitignore committed, and, if `upstream`
// is given, a bare repository there as origin with main pushed and tracked.
void make_git_flox_env(const std::filesystem::path& dir,
                       const std::filesystem::path& upstream = {});

// Runs git in `dir`; throws with git's stderr if it fails.
std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args);

// The fake flox of tests/support, and a plan directory for it (see the script's header).
std::filesystem::path fake_flox();

struct CommandResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out;
  std::string err;
};
// Runs argv (no shell), stdin from /dev/null, and collects its output.
CommandResult run_command(const std::vector<std::string>& argv);

// Starts argv (no shell) in the background, stdout and stderr appended to `log`; its pid, or
// -1 if it could not be started. The caller reaps it.
pid_t spawn_logged(const std::vector<std::string>& argv, const std::filesystem::path& log);

bool running_as_root();

// True while `pid` runs; a zombie, waiting only to be reaped by its new parent, counts as gone.
bool process_alive(pid_t pid);

}  // namespace tvd::testing
