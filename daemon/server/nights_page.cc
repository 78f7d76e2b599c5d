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

// Every variant of a night by outcome: "58 succeeded, 1 failed, 1 still-failing".
std::string outcome_counts(const proto::BatchView& b) {
  std::string out;
  for (const auto& [outcome, n] : b.variants_by_outcome)
    out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + outcome;
  return out;
}

HttpResponse night_page(const HttpRequest& req, service::Service& service, int64_t id) {
  auto d = service.show_batch(id);
  if (!d) {
    if (d.error().kind == ErrorKind::kNotFound) {
      return not_found("No batch " + std::to_string(id) + ".", "/nights lists them.");
    }
    return internal(d.error());
  }
  const int64_t now = now_s();
  const auto& b = d->batch;
  std::string out = "<h1>Night " + std::to_string(b.id) + ": " + escape(b.name) +
                    "</h1><table class=\"facts\"><tr><th>Started</th><td>" +
                    html::ago(b.started_at, now) + "</td></tr><tr><th>Took</th><td>" +
                    (b.duration_s ? html::duration(*b.duration_s) : std::string("running")) +
                    "</td></tr><tr><th>Variants</th><td id=\"outcomes\">" +
                    escape(outcome_counts(b)) + "</td></tr>";
  if (d->previous) {
    out += "<tr><th>Previous</th><td><a href=\"/nights/" + std::to_string(d->previous->id) +
           "\">night " + std::to_string(d->previous->id) + "</a>" +
           (d->previous->duration_s ? ", which took " + html::duration(*d->previous->duration_s)
                                    : std::string()) +
           "</td></tr>";
  }
  out += "</table>";
  auto list = [&](const char* id_attr, const std::string& title,
                  const std::vector<std::string>& variants) {
    std::string section = "<section id=\"" + std::string(id_attr) + "\"><h2>" + title + " (" +
                          std::to_string(variants.size()) + ")</h2>";
    if (variants.empty()) return section + "<p class=\"muted\">None.</p></section>";
    section += "<ul>";
    for (const auto& v : variants)
      section += "<li>" + variant_link(v) + "</li>";
    return section + "</ul></section>";
  };
  std::vector<std::string> still;
  for (const auto& [v, why] : d->skip_reasons)
    if (why == "still-failing") still.push_back(v);
  if (d->previous) {
    out += list("newly-failing", "Newly failing", d->newly_failing);
    out += list("fixed", "Fixed", d->fixed);
  }
  out += list("still-failing", "Still failing (not rebuilt: unchanged since it failed)", still);
  // Every variant: its job's state, or why it was not queued.
  std::string rows;
  for (const auto& [v, state] : d->variants) {
    rows += "<tr class=\"s-" + state_class(state) + "\" data-variant=\"" + escape(v) + "\"><td>" +
            variant_link(v) + "</td><td>" + escape(state) + "</td><td></td></tr>";
  }
  for (const auto& [v, why] : d->skipped) {
    auto cls = d->skip_reasons.find(v);
    rows += "<tr data-variant=\"" + escape(v) + "\"><td>" + variant_link(v) + "</td><td>" +
            escape(cls != d->skip_reasons.end() ? cls->second : "skipped") + "</td><td>" +
            escape(why) + "</td></tr>";
  }
  out +=
      "<section id=\"variants\"><h2>Every variant</h2><table class=\"night\"><tr>"
      "<th>Variant</th><th>Outcome</th><th>Why</th></tr>" +
      rows + "</table></section>";
  return respond(req, {"Night " + std::to_string(b.id), "nights", std::move(out), "", 30});
}

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
    std::string variants;
    if (auto d = service.show_batch(it->id)) variants = outcome_counts(d->batch);
    const std::string link = "<a href=\"/nights/" + std::to_string(it->id) + "\">";
    rows = "<tr data-batch=\"" + std::to_string(it->id) + "\"><td>" + link +
           std::to_string(it->id) + "</a></td><td>" + link + escape(it->name) + "</a></td><td>" +
           html::ago(it->started_at, now) + "</td><td>" +
           (it->finished_at ? html::duration(*it->finished_at - it->started_at) : "running") +
           "</td><td>" + std::to_string(builds->builds) + " (" +
           html::duration(builds->build_seconds) + " of building)</td><td>" +
           (builds->peak_memory ? html::size(*builds->peak_memory) : "") + "</td><td>" +
           escape(variants) + "</td><td>" + escape(counts) + "</td></tr>" + rows;
  }
  std::string out = "<h1>Nights</h1>" +
                    duration_memory_chart(points, "Each batch's duration and its largest build");
  out += batches->empty()
             ? "<p class=\"muted\">No batch yet: the nightly timer runs tvctl enqueue --all "
               "--batch nightly.</p>"
             : "<table class=\"batches\"><tr><th>Batch</th><th>Name</th><th>Started</th>"
               "<th>Took</th><th>Build attempts</th><th>Largest peak</th><th>Variants</th>"
               "<th>Jobs</th></tr>" +
                   rows + "</table>";
  return respond(req, {"Nights", "nights", std::move(out), "", 30});
}

}  // namespace tvd::server::pages
