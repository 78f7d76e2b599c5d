// The dashboard's pages, each a function from a parsed request (and the service) to a
// response, and what they share: links, marks, dates, the ?part=main and ?refresh= handling.
// dashboard.cc routes to them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/base/result.h"
#include "daemon/server/html.h"
#include "daemon/server/http.h"
#include "daemon/service/service.h"

namespace tvd::server::pages {

HttpResponse matrix_page(const HttpRequest& req, service::Service& service);
HttpResponse queue_page(const HttpRequest& req, service::Service& service);
HttpResponse variant_page(const HttpRequest& req, service::Service& service,
                          const std::string& package);
HttpResponse job_page(const HttpRequest& req, service::Service& service, int64_t id);
HttpResponse log_slice(const HttpRequest& req, service::Service& service, int64_t id);
HttpResponse night_page(const HttpRequest& req, service::Service& service, int64_t id);
HttpResponse nights_page(const HttpRequest& req, service::Service& service,
                         std::map<int64_t, service::Service::BatchBuilds>& finished_batches);

// Shared by the pages.
int64_t now_s();
std::string day(int64_t unix_s);  // "MM-DD", UTC
std::optional<int64_t> to_int(std::string_view s);
HttpResponse not_found(const std::string& what, const std::string& hint);
HttpResponse internal(const Error& e);
// The whole page, or with ?part=main only its <main> (the page's script refreshes with it).
// The banner every page of the queue and the matrix shows while no build starts (tvctl pause or
// drain); "" otherwise.
std::string paused_banner(const service::Service& service, int64_t now);

HttpResponse respond(const HttpRequest& req, html::Page page);
// A job's state as a cell shows it, and the mark for that class.
std::string state_class(const std::string& state);
inline std::string state_class(proto::JobState state) {
  return state_class(proto::to_text(state));
}
const char* mark(const std::string& cls);
std::string job_link(int64_t id);
std::string variant_link(const std::string& package);
std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace tvd::server::pages
