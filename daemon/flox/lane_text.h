// Small pieces the git lane's files share: a refusal as a LaneOutcome, the first lines of
// a command's output.
#pragma once

#include <string>
#include <string_view>

#include "daemon/flox/git_lane.h"

namespace tvd::flox::lane {

inline LaneOutcome refused(std::string reason, bool transient = false,
                           flox::Failure failure = flox::Failure::kPublishPrecondition) {
  LaneOutcome o;
  o.transient = transient;
  o.failure = failure;
  o.reason = std::move(reason);
  return o;
}

inline std::string first_lines(std::string_view text, size_t n) {
  std::string out;
  size_t pos = 0;
  for (size_t i = 0; i < n && pos < text.size(); ++i) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    out += (out.empty() ? "" : ", ") + std::string(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace tvd::flox::lane
