#include "daemon/exec/log_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace tvd::exec {

Result<LogSink> LogSink::open(const std::filesystem::path& path, uint64_t limit) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return fail(ErrorKind::kIo,
                "cannot create the log " + path.string() + ": " + std::strerror(errno),
                "check that the state directory exists and is writable by tvd");
  }
  return LogSink(fd, std::max<uint64_t>(limit, 1024));
}

LogSink::LogSink(LogSink&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      head_limit_(o.head_limit_),
      tail_limit_(o.tail_limit_),
      written_(o.written_),
      total_(o.total_),
      dropped_(o.dropped_),
      tail_(std::move(o.tail_)),
      last_(std::move(o.last_)),
      finished_(o.finished_) {}

LogSink::~LogSink() {
  if (fd_ >= 0) {
    if (!finished_) finish();
    ::close(fd_);
  }
}

void LogSink::write_fd(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk must not stop the build; the log is best effort
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void LogSink::append(std::string_view data) {
  total_ += data.size();
  last_.append(data);
  if (last_.size() > 2 * kTailForReasons) last_.erase(0, last_.size() - kTailForReasons);

  if (written_ < head_limit_) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(head_limit_ - written_, data.size()));
    write_fd(data.substr(0, n));
    written_ += n;
    data.remove_prefix(n);
  }
  if (data.empty()) return;
  tail_.append(data);
  // Trim when the tail is twice its limit, so trimming costs O(1) per byte on average.
  if (tail_.size() > 2 * tail_limit_) {
    size_t cut = tail_.size() - tail_limit_;
    dropped_ += cut;
    tail_.erase(0, cut);
  }
}

void LogSink::finish() {
  if (finished_ || fd_ < 0) return;
  finished_ = true;
  if (tail_.size() > tail_limit_) {
    size_t cut = tail_.size() - tail_limit_;
    dropped_ += cut;
    tail_.erase(0, cut);
  }
  if (dropped_ > 0) {
    std::string note = "\n[tvd: " + std::to_string(dropped_) +
                       " bytes of output were left out here, of " + std::to_string(total_) +
                       "; the log keeps the first " + std::to_string(head_limit_) +
                       " and the last " + std::to_string(tail_limit_) + " bytes]\n";
    write_fd(note);
  }
  write_fd(tail_);
  tail_.clear();
  ::fsync(fd_);
}

std::string LogSink::last_output() const {
  return last_.size() > kTailForReasons ? last_.substr(last_.size() - kTailForReasons) : last_;
}

}  // namespace tvd::exec
