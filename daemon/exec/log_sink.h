// A run's log file, bounded: up to half the limit is written as it comes (the head); past that,
// the output goes to a ring of the other half on disk (an unnamed file beside the log), and when
// the run ends the ring's bytes are written after the head, oldest first, behind a line that
// says how much was left out. The daemon holds no log in memory: a fixed read buffer, the last
// 64 KiB (for failure reasons), and a 1 MiB copy buffer while finishing. A crash of tvd mid-run
// loses the ring (the kernel frees an unnamed file); the head is on disk.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "daemon/base/result.h"

namespace tvd::exec {

class LogSink {
 public:
  static constexpr size_t kTailForReasons = 64 * 1024;

  static Result<LogSink> open(const std::filesystem::path& path, uint64_t limit);
  LogSink(LogSink&& other) noexcept;
  LogSink& operator=(LogSink&&) = delete;
  LogSink(const LogSink&) = delete;
  ~LogSink();

  void append(std::string_view data);
  // Writes the ring's bytes and the note; the file is complete afterwards, and on disk when
  // `sync` (a build's log outlives a crash of the machine; a git command's need not).
  void finish(bool sync = true);

  uint64_t total() const { return total_; }
  bool truncated() const { return past_head_ > tail_limit_; }
  // The last kTailForReasons bytes of output.
  std::string last_output() const;

 private:
  LogSink(int fd, std::filesystem::path dir, uint64_t limit)
      : fd_(fd), dir_(std::move(dir)), head_limit_(limit / 2), tail_limit_(limit - limit / 2) {}
  // All of `data` to `fd`, at its offset (append when at < 0); best effort: a full disk must not
  // stop the build.
  static void write_fd(int fd, std::string_view data, off_t at = -1);
  void write_ring(std::string_view data);
  void copy_ring(uint64_t from, uint64_t to);  // ring bytes [from, to) to the end of the log

  int fd_ = -1;
  int ring_ = -1;              // the tail's ring: opened once the head is full
  std::filesystem::path dir_;  // where the ring is made
  uint64_t head_limit_;
  uint64_t tail_limit_;
  uint64_t written_ = 0;  // head bytes on disk
  uint64_t total_ = 0;
  uint64_t past_head_ = 0;  // bytes that came after the head (the ring holds the last of them)
  std::string last_;        // the last kTailForReasons bytes (amortized trimming)
  bool finished_ = false;
};

}  // namespace tvd::exec
