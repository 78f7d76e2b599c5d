// What the pages share.
#include "daemon/server/pages.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "daemon/base/nearest.h"
#include "daemon/server/chart.h"
#include "daemon/server/html.h"
#include "daemon/server/metrics.h"
#include "daemon/service/service.h"

namespace tvd::server::pages {

using html::escape;
using nlohmann::json;

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string day(int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%m-%d", &tm);
  return buf;
}

std::optional<int64_t> to_int(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

HttpResponse not_found(const std::string& what, const std::string& hint) {
  return HttpResponse::text(404, what + "\n" + hint);
}

HttpResponse internal(const Error& e) {
  return HttpResponse::text(500, "The store could not be read: " + e.message);
}

std::string paused_banner(const service::Service& service, int64_t now) {
  const auto& p = service.paused();
  if (!p) return "";
  const bool drain = p->mode == "drain";
  return "<p id=\"paused\" class=\"banner s-failed\">" +
         std::string(drain ? "Draining" : "Paused") + " by " + html::escape(p->by) + " " +
         html::ago(p->since, now) + ": no build starts" +
         (drain ? " until tvd restarts or <code>tvctl resume</code>."
                : " until <code>tvctl resume</code>.") +
         " Running builds go on.</p>";
}

HttpResponse respond(const HttpRequest& req, html::Page page) {
  if (auto r = req.query.find("refresh"); r != req.query.end()) {
    if (auto n = to_int(r->second); n && *n >= 1 && *n <= 3600) {
      page.refresh_seconds = static_cast<int>(*n);
    }
  }
  HttpResponse out;
  if (auto p = req.query.find("part"); p != req.query.end() && p->second == "main") {
    out.body = std::move(page.main);
  } else {
    out.body = html::render(page);
  }
  return out;
}

std::string state_class(const std::string& state) {
  const auto known = proto::kJobStates.parse(state);
  if (known == proto::JobState::kBuilding || known == proto::JobState::kPublishing) {
    return "running";
  }
  return state;  // queued succeeded failed cancelled
}

const char* mark(const std::string& cls) {
  if (cls == "succeeded") return "&#10003;";
  if (cls == "failed") return "&#10007;";
  if (cls == "running") return "&#9654;";
  if (cls == "queued") return "&#8230;";
  if (cls == "cancelled") return "&#8856;";
  if (cls == "excluded") return "&#8211;";
  return "";
}

std::string job_link(int64_t id) {
  return "<a href=\"/job/" + std::to_string(id) + "\">#" + std::to_string(id) + "</a>";
}

std::string variant_link(const std::string& package) {
  return "<a href=\"/variant/" + escape(package) + "\">" + escape(package) + "</a>";
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : sep) + p;
  return out;
}

}  // namespace tvd::server::pages
