// The lines of a command's output, without their newlines (a last line without one counts), and
// items joined into one line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tvd {

inline std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

inline std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& i : items)
    out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

}  // namespace tvd
