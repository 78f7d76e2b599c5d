#include "daemon/exec/log_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

namespace tvd::exec {

Result<LogSink> LogSink::open(const std::filesystem::path& path, uint64_t limit) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return fail(ErrorKind::kIo,
                "cannot create the log " + path.string() + ": " + std::strerror(errno),
                "check that the state directory exists and is writable by tvd");
  }
  return LogSink(fd, path.parent_path(), std::max<uint64_t>(limit, 1024));
}

LogSink::LogSink(LogSink&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      ring_(std::exchange(o.ring_, -1)),
      dir_(std::move(o.dir_)),
      head_limit_(o.head_limit_),
      tail_limit_(o.tail_limit_),
      written_(o.written_),
      total_(o.total_),
      past_head_(o.past_head_),
      last_(std::move(o.last_)),
      finished_(o.finished_) {}

LogSink::~LogSink() {
  if (fd_ >= 0) {
    if (!finished_) finish();
    ::close(fd_);
  }
  if (ring_ >= 0) ::close(ring_);
}

void LogSink::write_fd(int fd, std::string_view data, off_t at) {
  while (!data.empty()) {
    ssize_t n =
        at < 0 ? ::write(fd, data.data(), data.size()) : ::pwrite(fd, data.data(), data.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
    if (at >= 0) at += n;
  }
}

void LogSink::write_ring(std::string_view data) {
  if (ring_ < 0) {
    // Unnamed, so that nothing is left behind by a crash; a named one, unlinked at once, where
    // the file system has no O_TMPFILE.
    ring_ = ::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (ring_ < 0) {
      auto name = dir_ / (".tail-" + std::to_string(::getpid()) + "-" + std::to_string(fd_));
      ring_ = ::open(name.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (ring_ >= 0) ::unlink(name.c_str());
    }
    if (ring_ < 0) return;  // best effort, as the head
  }
  // Only the last tail_limit_ bytes of `data` can survive.
  if (data.size() > tail_limit_) {
    const uint64_t skip = data.size() - tail_limit_;
    past_head_ += skip;
    data.remove_prefix(static_cast<size_t>(skip));
  }
  while (!data.empty()) {
    const uint64_t at = past_head_ % tail_limit_;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), tail_limit_ - at));
    write_fd(ring_, data.substr(0, n), static_cast<off_t>(at));
    past_head_ += n;
    data.remove_prefix(n);
  }
}

void LogSink::append(std::string_view data) {
  total_ += data.size();
  last_.append(data);
  if (last_.size() > 2 * kTailForReasons) last_.erase(0, last_.size() - kTailForReasons);

  if (written_ < head_limit_) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(head_limit_ - written_, data.size()));
    write_fd(fd_, data.substr(0, n));
    written_ += n;
    data.remove_prefix(n);
  }
  if (!data.empty()) write_ring(data);
}

void LogSink::copy_ring(uint64_t from, uint64_t to) {
  constexpr size_t kBuffer = 1 << 20;
  auto buf = std::make_unique<char[]>(kBuffer);
  while (from < to) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kBuffer, to - from));
    ssize_t n = ::pread(ring_, buf.get(), want, static_cast<off_t>(from));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    write_fd(fd_, std::string_view(buf.get(), static_cast<size_t>(n)));
    from += static_cast<uint64_t>(n);
  }
}

void LogSink::finish(bool sync) {
  if (finished_ || fd_ < 0) return;
  finished_ = true;
  if (past_head_ > 0 && ring_ >= 0) {
    if (past_head_ > tail_limit_) {
      const uint64_t dropped = past_head_ - tail_limit_;
      std::string note = "\n[tvd: " + std::to_string(dropped) +
                         " bytes of output were left out here, of " + std::to_string(total_) +
                         "; the log keeps the first " + std::to_string(head_limit_) +
                         " and the last " + std::to_string(tail_limit_) + " bytes]\n";
      write_fd(fd_, note);
      const uint64_t oldest = past_head_ % tail_limit_;  // the ring's oldest byte
      copy_ring(oldest, tail_limit_);
      copy_ring(0, oldest);
    } else {
      copy_ring(0, past_head_);
    }
    ::close(ring_);
    ring_ = -1;
  }
  if (sync) ::fsync(fd_);
}

std::string LogSink::last_output() const {
  return last_.size() > kTailForReasons ? last_.substr(last_.size() - kTailForReasons) : last_;
}

}  // namespace tvd::exec
