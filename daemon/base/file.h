// Every file tvd writes goes through write_file_atomic: the content lands in a temporary file in
// the same directory, is flushed, and is renamed over the target, so a reader (or flox, or git)
// never sees half a recipe and a crash leaves either the old file or the new one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "daemon/base/result.h"

namespace tvd {

// An open file descriptor, closed when it goes.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

enum class Overwrite {
  kNo,   // fail with kConflict if the target exists, even if it appears during the write
  kYes,  // replace the target
};

enum class SyncDir {
  kYes,  // fsync the directory too, so the rename itself survives a crash
  kNo,   // the caller writes several files and calls sync_directory once
};

Status write_file_atomic(const std::filesystem::path& path, std::string_view content,
                         Overwrite overwrite, SyncDir sync_dir = SyncDir::kYes);

// Makes the directory's entries (renames, unlinks) durable.
Status sync_directory(const std::filesystem::path& dir);

// The whole file; kNotFound if it does not exist, kIo for any other failure.
Result<std::string> read_file(const std::filesystem::path& path);
// Its last `bytes` bytes (all of it when shorter); empty when it cannot be read.
std::string read_file_tail(const std::filesystem::path& path, size_t bytes);

// The bytes an unprivileged user may still write on the filesystem that holds `path`.
std::optional<uint64_t> free_disk(const std::filesystem::path& path);

}  // namespace tvd
