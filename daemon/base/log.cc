#include "daemon/base/log.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
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
