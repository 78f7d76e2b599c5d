#include "daemon/base/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iterator>

namespace tvd {

Result<uint64_t> parse_size(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorKind::kBadInput, "\"" + std::string(text) + "\" is not a size",
                "write sizes like \"48GiB\", \"512MiB\" or \"2TiB\"");
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return bad();
  double number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || ptr != text.data() + i) return bad();
  std::string unit;
  for (size_t j = i; j < text.size(); ++j) {
    if (text[j] == ' ') continue;
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[j])));
  }
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},
      {"b", 1},
      {"k", 1024.0},
      {"kib", 1024.0},
      {"kb", 1e3},
      {"m", 1048576.0},
      {"mib", 1048576.0},
      {"mb", 1e6},
      {"g", 1073741824.0},
      {"gib", 1073741824.0},
      {"gb", 1e9},
      {"t", 1099511627776.0},
      {"tib", 1099511627776.0},
      {"tb", 1e12},
  };
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      double bytes = std::round(number * factor);
      if (bytes > 1.8e19) return bad();
      return static_cast<uint64_t>(bytes);
    }
  }
  return bad();
}

std::string format_size(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (std::fabs(v - std::round(v)) < 0.05)
    std::snprintf(buf, sizeof buf, "%.0f %s", v, kUnits[u]);
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorKind::kBadInput, "\"" + std::string(text) + "\" is not a duration",
                "write durations like \"90s\", \"30min\", \"6h\" or \"1h30m\"");
  };
  if (text.empty()) return bad();
  long long total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ')
      ++i;
    if (i == text.size()) break;
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
      ++i;
    if (i == start) return bad();
    long long n = 0;
    std::from_chars(text.data() + start, text.data() + i, n);
    size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])))
      ++i;
    std::string unit(text.substr(ustart, i - ustart));
    for (auto& c : unit)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    long long factor = 0;
    if (unit.empty() || unit == "s" || unit == "sec")
      factor = 1;
    else if (unit == "m" || unit == "min")
      factor = 60;
    else if (unit == "h")
      factor = 3600;
    else if (unit == "d")
      factor = 86400;
    else
      return bad();
    total += n * factor;
    any = true;
  }
  if (!any) return bad();
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds d) {
  long long s = d.count();
  if (s < 0) s = 0;
  if (s < 60) return std::to_string(s) + " s";
  if (s < 3600) return std::to_string(s / 60) + " min";
  if (s < 86400) {
    long long h = s / 3600, m = (s % 3600) / 60;
    return std::to_string(h) + " h" + (m ? " " + std::to_string(m) + " min" : "");
  }
  long long days = s / 86400, h = (s % 86400) / 3600;
  return std::to_string(days) + " d" + (h ? " " + std::to_string(h) + " h" : "");
}

std::string format_utc(int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace tvd
