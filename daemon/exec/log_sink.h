// A run's log file, bounded: up to half the limit is written as it comes (the head); past that,
// only the last half is kept (the tail), and written after the head when the run ends, behind a
// line that says how much was left out. A crash of tvd mid-run loses the unwritten tail; the
// head is on disk.
#pragma once

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
  // Writes the kept tail and the note; the file is complete afterwards.
  void finish();

  uint64_t total() const { return total_; }
  bool truncated() const { return dropped_ > 0; }
  // The last kTailForReasons bytes of output.
  std::string last_output() const;

 private:
  LogSink(int fd, uint64_t limit)
      : fd_(fd), head_limit_(limit / 2), tail_limit_(limit - limit / 2) {}
  void write_fd(std::string_view data);

  int fd_ = -1;
  uint64_t head_limit_;
  uint64_t tail_limit_;
  uint64_t written_ = 0;  // head bytes on disk
  uint64_t total_ = 0;
  uint64_t dropped_ = 0;
  std::string tail_;  // kept past the head, at most tail_limit_ (amortized trimming)
  std::string last_;  // the last kTailForReasons bytes
  bool finished_ = false;
};

}  // namespace tvd::exec
