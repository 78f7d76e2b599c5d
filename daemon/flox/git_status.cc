#include "daemon/flox/git_status.h"

#include <charconv>

#include "daemon/base/lines.h"

namespace tvd::flox {

namespace {

// The text after the first `n` space-separated fields, or nullopt-like empty when too short.
std::string_view after_fields(std::string_view line, int n) {
  size_t pos = 0;
  for (int i = 0; i < n; ++i) {
    pos = line.find(' ', pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  return line.substr(pos);
}

long number(std::string_view s) {
  long v = 0;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

bool starts(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::vector<StatusLine> porcelain(std::string_view out) {
  std::vector<StatusLine> lines;
  for (auto line : lines_of(out)) {
    if (line.size() > 3 && line[2] == ' ') {
      lines.push_back({std::string(line.substr(0, 2)), std::string(line.substr(3))});
    }
  }
  return lines;
}

const StatusLine* BranchStatus::find(std::string_view path) const {
  for (const auto& e : entries) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

BranchStatus branch_status(std::string_view out) {
  BranchStatus s;
  for (auto line : lines_of(out)) {
    if (starts(line, "# branch.oid ")) {
      auto oid = line.substr(13);
      if (oid != "(initial)") s.head = std::string(oid);
    } else if (starts(line, "# branch.head ")) {
      auto head = line.substr(14);
      if (head != "(detached)") s.branch = std::string(head);
    } else if (starts(line, "# branch.upstream ")) {
      s.upstream = std::string(line.substr(18));
    } else if (starts(line, "# branch.ab ")) {
      auto ab = line.substr(12);
      const size_t space = ab.find(' ');
      if (space == std::string_view::npos) continue;
      s.has_counts = true;
      s.ahead = number(ab.substr(0, space));
      s.behind = number(ab.substr(space + 1));
    } else if (starts(line, "? ")) {
      s.entries.push_back({"??", std::string(line.substr(2))});
    } else if (line.size() > 4 && (line[0] == '1' || line[0] == '2' || line[0] == 'u') &&
               line[1] == ' ') {
      // "1 XY sub mH mI mW hH hI PATH", "2 XY ... X<score> PATH\tORIG", "u XY ... PATH".
      auto path = after_fields(line, line[0] == '1' ? 8 : line[0] == '2' ? 9 : 10);
      if (line[0] == '2') path = path.substr(0, path.find('\t'));
      if (!path.empty()) s.entries.push_back({std::string(line.substr(2, 2)), std::string(path)});
    }
  }
  return s;
}

}  // namespace tvd::flox
