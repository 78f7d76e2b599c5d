#include "tests/support/scratch.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace tvd::testing {

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/tvd-test-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  // Tests may leave read-only directories behind; make them writable so removal works.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) {
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ec);
    }
  }
  std::filesystem::remove_all(path_, ec);
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> list_files(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(std::filesystem::relative(it->path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void make_flox_env(const std::filesystem::path& dir) {
  write_text(dir / ".flox" / "env" / "manifest.toml", "version = 1\n");
}

std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git",
                                   "-C",
                                   dir.string(),
                                   "-c",
                                   "user.name=tvd-test",
                                   "-c",
                                   "user.email=tvd-test@example.invalid"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_command(argv);
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : args)
      cmd += " " + a;
    throw std::runtime_error("git" + cmd + " failed: " + r.err);
  }
  return r.out;
}

void make_git_flox_env(const std::filesystem::path& dir, const std::filesystem::path& upstream) {
  make_flox_env(dir);
  write_text(dir / ".flox" / "env" / "manifest.lock", "{\"lockfile-version\": 1}\n");
  // What flox itself ignores inside .flox.
  write_text(dir / ".flox" / ".gitignore", "run/\ncache/\nlib/\nlog/\n!env/\n");
  git(dir.parent_path(), {"init", "-q", "-b", "main", dir.string()});
  git(dir, {"add", ".flox"});
  git(dir, {"commit", "-q", "-m", "Initial environment"});
  if (!upstream.empty()) {
    git(upstream.parent_path(), {"init", "-q", "--bare", "-b", "main", upstream.string()});
    git(dir, {"remote", "add", "origin", upstream.string()});
    git(dir, {"push", "-q", "-u", "origin", "main"});
  }
}

std::filesystem::path fake_flox() {
  return std::filesystem::path(TVD_SUPPORT_DIR) / "fake-flox";
}

namespace {

std::string drain(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<size_t>(n));
  return out;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv) {
  // Output goes to files rather than pipes, so a chatty child can never block on a full pipe.
  char out_name[] = "/tmp/tvd-cmd-out-XXXXXX";
  char err_name[] = "/tmp/tvd-cmd-err-XXXXXX";
  int out_fd = ::mkstemp(out_name), err_fd = ::mkstemp(err_name);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  CommandResult r;
  int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else {
    r.err = "cannot run " + argv[0];
  }
  ::lseek(out_fd, 0, SEEK_SET);
  ::lseek(err_fd, 0, SEEK_SET);
  r.out = drain(out_fd);
  r.err += drain(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  ::unlink(out_name);
  ::unlink(err_name);
  return r;
}

bool running_as_root() {
  return ::geteuid() == 0;
}

}  // namespace tvd::testing

namespace tvd::testing {

bool process_alive(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(st, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && line.substr(close + 2, 1) != "Z";
}

pid_t spawn_logged(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& a : copy)
    args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string file = log.string();
  posix_spawn_file_actions_addopen(&fa, 1, file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  if (::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

}  // namespace tvd::testing
