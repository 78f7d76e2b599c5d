#include "daemon/server/dashboard.h"

#include <algorithm>

#include "daemon/server/html.h"
#include "daemon/server/metrics.h"
#include "daemon/server/pages.h"

namespace tvd::server {

namespace {

using namespace pages;

bool valid_package(std::string_view s) {
  return !s.empty() && s.size() < 200 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

// A variant as pages name it: PACKAGE, or ENVIRONMENT/PACKAGE outside the default environment.
bool valid_variant(std::string_view s) {
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) return valid_package(s);
  return valid_package(s.substr(0, slash)) && valid_package(s.substr(slash + 1));
}

}  // namespace

HttpResponse Dashboard::operator()(const HttpRequest& req) {
  service::Service& service = service_;
  const std::string& p = req.path;
  if (p == "/") return matrix_page(req, service);
  if (p == "/queue") return queue_page(req, service);
  if (p == "/nights") return nights_page(req, service, finished_batches_);
  if (p == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render_metrics(
        service, notifications_ ? notifications_->stats() : std::vector<notify::ReceiverStats>{});
    return r;
  }
  if (p == "/assets/tvd.css" || p == "/assets/tvd.js") {
    HttpResponse r;
    const bool css = p.back() == 's' && p[p.size() - 2] == 's';
    r.content_type = css ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
    r.body = std::string(css ? html::stylesheet() : html::script());
    return r;
  }
  constexpr std::string_view kVariant = "/variant/", kJob = "/job/", kNight = "/nights/";
  if (p.rfind(kNight, 0) == 0) {
    if (auto id = to_int(std::string_view(p).substr(kNight.size())); id && *id > 0) {
      return night_page(req, service, *id);
    }
  }
  if (p.rfind(kVariant, 0) == 0) {
    std::string name = p.substr(kVariant.size());
    if (valid_variant(name)) return variant_page(req, service, name);
  }
  if (p.rfind(kJob, 0) == 0) {
    std::string_view rest = std::string_view(p).substr(kJob.size());
    const bool log = rest.size() > 4 && rest.substr(rest.size() - 4) == "/log";
    if (log) rest.remove_suffix(4);
    if (auto id = to_int(rest); id && *id > 0) {
      return log ? log_slice(req, service, *id) : job_page(req, service, *id);
    }
  }
  return not_found(
      "No page " + p + ".",
      "The pages: / (the matrix), /queue, /nights, /nights/ID, /variant/NAME, /job/ID, "
      "/metrics.");
}

}  // namespace tvd::server
