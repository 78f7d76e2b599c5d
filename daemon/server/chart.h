// Server-side SVG: build durations as bars and peak memory as a line, over the last nights.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tvd::server {

struct ChartPoint {
  std::string label;                 // "11-24" or "#12"
  std::optional<double> seconds;     // the bar
  std::optional<double> peak_bytes;  // the line
  std::string title;                 // the hover text
  bool failed = false;               // drawn in the failure colour
};

// An inline <svg>; with no points, a sentence saying there is nothing yet.
std::string duration_memory_chart(const std::vector<ChartPoint>& points,
                                  const std::string& caption);

}  // namespace tvd::server
