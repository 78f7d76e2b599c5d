#include "daemon/base/log.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace tvd::log {
namespace {

void line(int level, const char* name, std::string_view message) {
  const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  std::string out;
  if (journal) {
    out = "<" + std::to_string(level) + ">";
  } else {
    std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    out = std::string(buf) + name + " ";
  }
  out += "tvd: ";
  out += message;
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

void info(std::string_view message) {
  line(6, "info", message);
}
void warning(std::string_view message) {
  line(4, "warning", message);
}
void error(std::string_view message) {
  line(3, "error", message);
}

std::string job_event_text(const JobEvent& e) {
  std::string out = "job " + std::to_string(e.job) + " " + e.variant + " " + e.kind + " (" +
                    e.phase + (e.failure.empty() ? "" : ", " + e.failure) + ")";
  if (!e.reason.empty()) out += ": " + e.reason;
  return out;
}

std::string journal_datagram(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (value.find('\n') == std::string::npos) {
      out += key + "=" + value + "\n";
      continue;
    }
    out += key + "\n";
    uint64_t n = value.size();
    for (int i = 0; i < 8; ++i)
      out += static_cast<char>((n >> (8 * i)) & 0xff);
    out += value + "\n";
  }
  return out;
}

bool send_to_journal(const std::string& path, const std::string& datagram) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const bool sent = ::sendto(fd, datagram.data(), datagram.size(), MSG_NOSIGNAL,
                             reinterpret_cast<sockaddr*>(&addr),
                             sizeof addr) == static_cast<ssize_t>(datagram.size());
  ::close(fd);
  return sent;
}

void job_event(const JobEvent& e) {
  const std::string text = job_event_text(e);
  const int level = e.kind == "failed" ? 4 : 6;
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    std::vector<std::pair<std::string, std::string>> fields = {
        {"MESSAGE", "tvd: " + text},  {"PRIORITY", std::to_string(level)},
        {"SYSLOG_IDENTIFIER", "tvd"}, {"TVD_JOB", std::to_string(e.job)},
        {"TVD_VARIANT", e.variant},   {"TVD_KIND", e.kind},
        {"TVD_STATE", e.state},       {"TVD_PHASE", e.phase}};
    if (!e.failure.empty()) fields.emplace_back("TVD_FAILURE", e.failure);
    if (!e.reason.empty()) fields.emplace_back("TVD_REASON", e.reason);
    if (send_to_journal("/run/systemd/journal/socket", journal_datagram(fields))) return;
  }
  line(level, level == 4 ? "warning" : "info", text);
}

void Throttled::warning(std::string_view message, Clock::time_point now) {
  if (said_ && now - last_ < every_) {
    ++unsaid_;
    return;
  }
  std::string text(message);
  if (unsaid_ > 0) text += " (and " + std::to_string(unsaid_) + " more like it since the last)";
  said_ = true;
  last_ = now;
  unsaid_ = 0;
  line(4, "warning", text);
}

}  // namespace tvd::log
