#include "daemon/base/file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace tvd {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

Status write_all(int fd, std::string_view content) {
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorKind::kIo, "write failed: " + errno_text(errno));
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

// Renames without replacing: the kernel refuses if the target exists, so a file that appeared
// after our check is never clobbered. Falls back to link+unlink on file systems without
// RENAME_NOREPLACE.
int rename_noreplace(const char* from, const char* to) {
  if (::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  if (::link(from, to) != 0) return -1;
  ::unlink(from);
  return 0;
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status sync_directory(const std::filesystem::path& dir) {
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) {
    return fail(ErrorKind::kIo, "cannot sync " + dir.string() + ": " + errno_text(errno));
  }
  return {};
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view content,
                         Overwrite overwrite, SyncDir sync_dir) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".tvd-XXXXXX")).string();
  UniqueFd fd(::mkstemp(tmpl.data()));
  if (fd.get() < 0) {
    return fail(ErrorKind::kIo,
                "cannot create a file in " + dir.string() + ": " + errno_text(errno),
                "check that the directory exists and that tvd's user may write to it");
  }
  auto cleanup = [&] { ::unlink(tmpl.c_str()); };
  if (auto st = write_all(fd.get(), content); !st) {
    cleanup();
    return fail(ErrorKind::kIo, path.string() + ": " + st.error().message);
  }
  if (::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0) {
    int err = errno;
    cleanup();
    return fail(ErrorKind::kIo, path.string() + ": " + errno_text(err));
  }
  ::close(fd.release());

  int rc = overwrite == Overwrite::kYes ? ::rename(tmpl.c_str(), path.c_str())
                                        : rename_noreplace(tmpl.c_str(), path.c_str());
  if (rc != 0) {
    int err = errno;
    cleanup();
    if (err == EEXIST) {
      return fail(ErrorKind::kConflict, path.string() + " already exists",
                  "it was left as it is; pass --overwrite to replace it");
    }
    return fail(ErrorKind::kIo, "cannot write " + path.string() + ": " + errno_text(err));
  }
  // The rename is durable only once the directory entry is.
  if (sync_dir == SyncDir::kYes) return sync_directory(dir);
  return {};
}

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return fail(ErrorKind::kNotFound, path.string() + " does not exist");
    return fail(ErrorKind::kIo, "cannot read " + path.string() + ": " + errno_text(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(ErrorKind::kIo, "cannot read " + path.string());
  return ss.str();
}

std::string read_file_tail(const std::filesystem::path& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  const auto size = static_cast<size_t>(in.tellg());
  const size_t from = size > bytes ? size - bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string text(size - from, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

std::optional<uint64_t> free_disk(const std::filesystem::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace tvd
