// The nights page: batches, their durations and peak memory over the last nights.
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

HttpResponse nights_page(const HttpRequest& req, service::Service& service,
                         std::map<int64_t, service::Service::BatchBuilds>& finished) {
  auto batches = service.batch_records(30);
  if (!batches) return internal(batches.error());
  const int64_t now = now_s();
  std::vector<ChartPoint> points;
  std::string rows;
  for (auto it = batches->rbegin(); it != batches->rend(); ++it) {
    // A finished batch's builds do not change: read them once (10,000 attempts a night).
    std::optional<service::Service::BatchBuilds> builds;
    if (auto c = finished.find(it->id); c != finished.end()) builds = c->second;
    if (!builds) {
      auto read = service.batch_builds(it->id);
      if (!read) return internal(read.error());
      builds = *read;
      if (it->finished_at) finished.emplace(it->id, *read);
    }
    ChartPoint p;
    p.label = day(it->started_at);
    if (it->finished_at) p.seconds = static_cast<double>(*it->finished_at - it->started_at);
    if (builds->peak_memory) p.peak_bytes = static_cast<double>(*builds->peak_memory);
    p.title = it->name + " " + std::to_string(it->id) + ": " +
              (it->finished_at ? html::duration(*it->finished_at - it->started_at) : "running") +
              (builds->peak_memory ? ", largest build " + html::size(*builds->peak_memory) : "");
    points.push_back(std::move(p));
    std::string counts;
    for (const auto& [state, n] : it->states)
      counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + state;
    rows = "<tr data-batch=\"" + std::to_string(it->id) + "\"><td>" + std::to_string(it->id) +
           "</td><td>" + escape(it->name) + "</td><td>" + html::ago(it->started_at, now) +
           "</td><td>" +
           (it->finished_at ? html::duration(*it->finished_at - it->started_at) : "running") +
           "</td><td>" + std::to_string(builds->builds) + " (" +
           html::duration(builds->build_seconds) + " of building)</td><td>" +
           (builds->peak_memory ? html::size(*builds->peak_memory) : "") + "</td><td>" +
           escape(counts) + "</td></tr>" + rows;
  }
  std::string out = "<h1>Nights</h1>" +
                    duration_memory_chart(points, "Each batch's duration and its largest build");
  out += batches->empty()
             ? "<p class=\"muted\">No batch yet: the nightly timer runs tvctl enqueue --all "
               "--batch nightly.</p>"
             : "<table class=\"batches\"><tr><th>Batch</th><th>Name</th><th>Started</th>"
               "<th>Took</th><th>Build attempts</th><th>Largest peak</th><th>Jobs</th></tr>" +
                   rows + "</table>";
  return respond(req, {"Nights", "nights", std::move(out), "", 30});
}

}  // namespace tvd::server::pages
