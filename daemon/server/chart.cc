#include "daemon/server/chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "daemon/server/html.h"

namespace tvd::server {

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// 1, 2 or 5 times a power of ten, at least `v`: an axis that ends on a round number.
double round_up(double v) {
  if (v <= 0) return 1;
  double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= v) return m * p;
  }
  return 10 * p;
}

// An axis label: "2", "0.5".
std::string tick(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v == std::floor(v) ? "%.0f" : "%.1f", v);
  return buf;
}

}  // namespace

std::string duration_memory_chart(const std::vector<ChartPoint>& points,
                                  const std::string& caption) {
  if (points.empty()) {
    return "<p class=\"muted chart-empty\">" + html::escape(caption) +
           ": nothing has finished yet.</p>";
  }
  constexpr double kW = 720, kH = 220, kLeft = 52, kRight = 62, kTop = 16, kBottom = 34;
  const double plot_w = kW - kLeft - kRight, plot_h = kH - kTop - kBottom;
  double max_s = 0, max_b = 0;
  for (const auto& p : points) {
    max_s = std::max(max_s, p.seconds.value_or(0));
    max_b = std::max(max_b, p.peak_bytes.value_or(0));
  }
  // Seconds, minutes or hours on the left; MiB or GiB on the right.
  const double unit_s = max_s >= 2 * 3600 ? 3600 : max_s >= 120 ? 60 : 1;
  const char* unit_s_name = unit_s == 3600 ? " h" : unit_s == 60 ? " min" : " s";
  const double top_s = round_up(max_s / unit_s) * unit_s;
  const double gib = 1024.0 * 1024 * 1024;
  const double unit_b = max_b >= gib ? gib : 1024.0 * 1024;
  const char* unit_b_name = unit_b == gib ? " GiB" : " MiB";
  const double top_b = round_up(max_b / unit_b) * unit_b;
  const double step = plot_w / static_cast<double>(points.size());
  auto x_of = [&](size_t i) { return kLeft + step * (static_cast<double>(i) + 0.5); };
  auto y_s = [&](double s) { return kTop + plot_h * (1 - s / top_s); };
  auto y_b = [&](double b) { return kTop + plot_h * (1 - b / top_b); };

  std::string svg = "<figure><svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    num(kW) + "\" height=\"" + num(kH) + "\" viewBox=\"0 0 " + num(kW) + " " +
                    num(kH) + "\" role=\"img\" aria-label=\"" + html::escape(caption) + "\">";
  // Grid and axes: three ticks on each side.
  for (int t = 0; t <= 2; ++t) {
    const double y = kTop + plot_h * (1 - t / 2.0);
    svg += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kW - kRight) + "\" y1=\"" + num(y) +
           "\" y2=\"" + num(y) + "\" stroke=\"#eceff3\"/>";
    svg += "<text x=\"" + num(kLeft - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
           tick(top_s / unit_s * t / 2.0) + unit_s_name + "</text>";
    if (max_b > 0) {
      svg += "<text x=\"" + num(kW - kRight + 6) + "\" y=\"" + num(y + 4) + "\">" +
             tick(top_b / unit_b * t / 2.0) + unit_b_name + "</text>";
    }
  }
  const size_t label_every = std::max<size_t>(1, points.size() / 12);
  std::string line;
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    const double x = x_of(i);
    svg += "<g class=\"point\"><title>" + html::escape(p.title) + "</title>";
    if (p.seconds) {
      const double y = y_s(*p.seconds);
      const double bar = std::min(28.0, step * 0.6);
      svg += std::string("<rect class=\"duration") + (p.failed ? " failed" : "") + "\" x=\"" +
             num(x - bar / 2) + "\" y=\"" + num(y) + "\" width=\"" + num(bar) + "\" height=\"" +
             num(kTop + plot_h - y) + "\" fill=\"" + (p.failed ? "#d64541" : "#2f7fd8") + "\"/>";
    }
    if (p.peak_bytes && max_b > 0) {
      const double y = y_b(*p.peak_bytes);
      svg += "<circle class=\"peak\" cx=\"" + num(x) + "\" cy=\"" + num(y) +
             "\" r=\"3\" fill=\"#d64541\"/>";
      line += (line.empty() ? "" : " ") + num(x) + "," + num(y);
    }
    svg += "</g>";
    if (i % label_every == 0) {
      svg += "<text x=\"" + num(x) + "\" y=\"" + num(kH - kBottom + 14) +
             "\" text-anchor=\"middle\">" + html::escape(p.label) + "</text>";
    }
  }
  if (!line.empty()) {
    svg +=
        "<polyline points=\"" + line + "\" fill=\"none\" stroke=\"#d64541\" stroke-width=\"1.5\"/>";
  }
  svg += "</svg><figcaption class=\"muted\">" + html::escape(caption) +
         ": <span class=\"key-duration\">&#9632;</span> duration, "
         "<span class=\"key-peak\">&#9679;</span> peak memory</figcaption></figure>";
  return svg;
}

}  // namespace tvd::server
