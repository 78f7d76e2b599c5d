// HTML for the dashboard: escaping, the page around each view, and the embedded stylesheet and
// script (no external assets: the dashboard works on a host without Internet access).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tvd::server::html {

// Text for an element or an attribute value.
std::string escape(std::string_view text);

struct Page {
  std::string title;
  std::string nav;         // which tab is current: matrix, queue, nights, or empty
  std::string main;        // the part that refreshes itself
  std::string after_main;  // stays put across refreshes (the followed log)
  int refresh_seconds = 5;
};
std::string render(const Page& p);

// "3 h 5 min ago", from Unix seconds against `now`.
std::string ago(int64_t then, int64_t now);
std::string duration(int64_t seconds);
std::string size(int64_t bytes);

// The stylesheet and the script, served under /assets/.
std::string_view stylesheet();
std::string_view script();

}  // namespace tvd::server::html
