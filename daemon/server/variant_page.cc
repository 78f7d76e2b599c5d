// A variant's page (its jobs, attempts and chart) and a job's page with its log.
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

namespace {

std::string attempts_table(const std::vector<service::Service::AttemptRecord>& attempts,
                           int64_t now, bool with_job) {
  std::string out = "<table class=\"attempts\"><tr>" + std::string(with_job ? "<th>Job</th>" : "") +
                    "<th>Attempt</th><th>Phase</th><th>Started</th><th>Took</th><th>Outcome</th>"
                    "<th>Peak memory</th><th>Builder</th><th>Reason</th></tr>";
  for (const auto& a : attempts) {
    using proto::AttemptOutcome;
    const std::string outcome = a.outcome ? proto::to_text(*a.outcome) : "running";
    out += "<tr class=\"attempt\">" + (with_job ? "<td>" + job_link(a.job_id) + "</td>" : "") +
           "<td><a href=\"/job/" + std::to_string(a.job_id) +
           "?attempt=" + std::to_string(a.number) + "#log-section\">" + std::to_string(a.number) +
           "</a></td><td>" + proto::to_text(a.phase) + "</td><td>" + html::ago(a.started_at, now) +
           "</td><td>" + html::duration(a.ended_at.value_or(now) - a.started_at) +
           "</td><td class=\"s-" +
           (!a.outcome                                   ? "running"
            : *a.outcome == AttemptOutcome::kInterrupted ? "cancelled"
                                                         : outcome) +
           "\">" + escape(outcome) + "</td><td>" +
           (a.peak_memory ? html::size(*a.peak_memory) : "") + "</td><td class=\"builder\">" +
           escape(a.builder.value_or("")) + "</td><td>" + escape(a.reason) + "</td></tr>";
  }
  return out + "</table>";
}

// A log for reading: flox's login reminder and other warnings dimmed, the first error line
// marked (the page's script scrolls to it).
std::string marked_log(const std::string& text) {
  std::string out;
  bool marked = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end == std::string::npos ? end : end - start);
    const bool warning = line.rfind("! ", 0) == 0 || line.rfind("warning:", 0) == 0;
    const bool error = !marked && (line.find("error:") != std::string::npos ||
                                   line.find("ERROR:") != std::string::npos);
    if (error) {
      out += "<mark id=\"first-error\">" + escape(line) + "</mark>";
      marked = true;
    } else if (warning) {
      out += "<span class=\"dim\">" + escape(line) + "</span>";
    } else {
      out += escape(line);
    }
    if (end == std::string::npos) break;
    out += '\n';
    start = end + 1;
  }
  return out;
}

}  // namespace

HttpResponse variant_page(const HttpRequest& req, service::Service& service,
                          const std::string& package) {
  std::optional<Variant> cell;
  std::vector<std::string> names;
  for (const auto& e : service.setup().environments) {
    for (const auto& v : e.matrix.cells()) {
      names.push_back(v.key().text());
      if (names.back() == package) cell = v;
    }
  }
  auto jobs = service.variant_jobs(VariantKey::from_text(package), 30);
  if (!jobs) return internal(jobs.error());
  if (!cell && jobs->empty()) {
    auto near = nearest(package, names);
    return not_found(
        "No variant " + package + " in the matrix or its history.",
        near.empty() ? "The matrix page lists them: /" : "Did you mean " + join_or(near) + "?");
  }
  const int64_t now = now_s();
  std::string out = "<h1>" + escape(package) + "</h1><table class=\"facts\">";
  if (cell) {
    out += "<tr><th>Python</th><td>" + escape(cell->python->version) + "</td></tr>";
    if (cell->is_gpu()) {
      out += "<tr><th>CUDA</th><td>" + escape(cell->cuda->version) +
             "</td></tr><tr><th>GPU</th><td>" +
             escape(cell->gpu->name + " — " + cell->gpu->description) + "</td></tr>";
    } else {
      out += "<tr><th>GPU</th><td>none (CPU-only)</td></tr>";
    }
    out += "<tr><th>CPU</th><td>" + escape(cell->isa->name + " — " + cell->isa->description) +
           "</td></tr>";
    const EnvironmentSetup* e = service.setup().find(cell->environment->name);
    auto ex = e ? e->matrix.exclusions(*cell) : std::vector<std::string>{};
    if (!ex.empty()) {
      out += "<tr><th>Excluded</th><td class=\"excluded\">" + escape(join(ex, " ")) + "</td></tr>";
    }
  } else {
    out += "<tr><th>Matrix</th><td>no longer in the matrix; its history is kept</td></tr>";
  }
  if (!jobs->empty()) {
    out += "<tr><th>Last result</th><td class=\"s-" + state_class(jobs->front().state) +
           "\" id=\"last\">" + proto::to_text(jobs->front().state) + "</td></tr>";
  }
  out += "</table>";

  // The chart and the attempts: oldest first for the chart, newest first in the table.
  std::vector<ChartPoint> points;
  std::vector<service::Service::AttemptRecord> recent;
  for (auto it = jobs->rbegin(); it != jobs->rend(); ++it) {
    auto attempts = service.attempt_rows(it->id);
    if (!attempts) return internal(attempts.error());
    for (const auto& a : *attempts) {
      using proto::AttemptOutcome;
      if (a.phase == proto::JobPhase::kBuild && a.ended_at && a.outcome &&
          *a.outcome != AttemptOutcome::kInterrupted && *a.outcome != AttemptOutcome::kCancelled) {
        ChartPoint p;
        p.label = day(a.started_at);
        p.seconds = static_cast<double>(*a.ended_at - a.started_at);
        p.failed = *a.outcome == proto::AttemptOutcome::kFailed;
        if (a.peak_memory) p.peak_bytes = static_cast<double>(*a.peak_memory);
        p.title = "job " + std::to_string(a.job_id) + " attempt " + std::to_string(a.number) +
                  ": " + proto::to_text(*a.outcome) + ", " +
                  html::duration(*a.ended_at - a.started_at) +
                  (a.peak_memory ? ", peak " + html::size(*a.peak_memory) : "");
        points.push_back(std::move(p));
      }
      recent.push_back(a);
    }
  }
  out += "<h2>Builds over the last nights</h2>" +
         duration_memory_chart(points, "Build attempts of " + package);
  std::reverse(recent.begin(), recent.end());
  if (recent.size() > 40) recent.resize(40);
  out += "<h2>Jobs</h2>";
  if (jobs->empty()) {
    out += "<p class=\"muted\">Never queued.</p>";
  } else {
    out +=
        "<table class=\"jobs\"><tr><th>Job</th><th>State</th><th>Origin</th><th>Queued</th>"
        "<th>Took</th><th>Tries (build, publish)</th><th>Why</th></tr>";
    for (const auto& j : *jobs) {
      out += "<tr><td>" + job_link(j.id) + "</td><td class=\"s-" + state_class(j.state) + "\">" +
             proto::to_text(j.state) + "</td><td>" + proto::to_text(j.origin) + "</td><td>" +
             html::ago(j.enqueued_at, now) + "</td><td>" +
             (j.started_at ? html::duration(j.finished_at.value_or(now) - *j.started_at) : "") +
             "</td><td>" + std::to_string(j.build_tries) + ", " + std::to_string(j.publish_tries) +
             "</td><td>" + escape(j.error.empty() ? proto::to_text(j.failure) : j.error) +
             "</td></tr>";
    }
    out += "</table><h2>Attempts</h2>" + attempts_table(recent, now, true);
  }
  return respond(req, {package, "", std::move(out), "", 5});
}

HttpResponse job_page(const HttpRequest& req, service::Service& service, int64_t id) {
  auto row = service.job_row(id);
  if (!row) return internal(row.error());
  if (!*row) {
    return not_found("No job " + std::to_string(id) + ".", "The queue page lists jobs: /queue");
  }
  auto attempts = service.attempt_rows(id);
  if (!attempts) return internal(attempts.error());
  const auto& j = **row;
  const int64_t now = now_s();
  std::string out =
      "<h1>Job " + std::to_string(id) + ": " +
      variant_link(VariantKey{j.environment, j.package}.text()) +
      "</h1><table class=\"facts\"><tr><th>State</th><td id=\"state\" class=\"s-" +
      state_class(j.state) + "\">" + proto::to_text(j.state) + " (" + proto::to_text(j.phase) +
      ")</td></tr><tr><th>Origin</th><td>" + proto::to_text(j.origin) +
      (j.batch_id ? " (<a href=\"/nights/" + std::to_string(*j.batch_id) + "\">batch " +
                        std::to_string(*j.batch_id) + "</a>)"
                  : "") +
      "</td></tr><tr><th>Queued</th><td>" + html::ago(j.enqueued_at, now) + "</td></tr>";
  if (j.started_at) {
    out += "<tr><th>Took</th><td>" + html::duration(j.finished_at.value_or(now) - *j.started_at) +
           (j.finished_at ? "" : " so far") + "</td></tr>";
  }
  // A paired job's wait, both ways, while it lasts (the scheduler's; an ended dependent's error
  // names the build it needed).
  const auto& sched = service.engine().scheduler();
  auto jobs = [](const std::map<sched::JobId, std::string>& m) {
    std::vector<std::string> parts;
    for (const auto& [other, variant] : m)
      parts.push_back(job_link(static_cast<int64_t>(other)) + " " + variant_link(variant));
    return join(parts, ", ");
  };
  if (auto w = sched.waits_for(static_cast<sched::JobId>(id)); !w.empty()) {
    out += "<tr><th>Waits for</th><td id=\"waits-for\">" + jobs(w) + " to be built</td></tr>";
  }
  std::map<sched::JobId, std::string> waiting;
  for (auto other : sched.dependents(static_cast<sched::JobId>(id))) {
    if (const auto* o = service.engine().job(other)) waiting[other] = o->key().text();
  }
  if (!waiting.empty()) {
    out += "<tr><th>Waited for by</th><td id=\"waited-for-by\">" + jobs(waiting) + "</td></tr>";
  }
  // Where its latest build ran, or runs now.
  for (auto a = attempts->rbegin(); a != attempts->rend(); ++a) {
    if (!a->builder) continue;
    out += "<tr><th>Builder</th><td id=\"builder\">" + escape(*a->builder) +
           (a->ended_at ? "" : " (building now)") + "</td></tr>";
    break;
  }
  if (!j.error.empty()) out += "<tr><th>Error</th><td>" + escape(j.error) + "</td></tr>";
  if (j.output) {
    out += "<tr><th>Output</th><td id=\"output\"><code>" + escape(*j.output) + "</code></td></tr>";
  }
  if (j.publish_rev) {
    out += "<tr><th>Recipe revision</th><td id=\"revision\"><code>" + escape(*j.publish_rev) +
           "</code></td></tr>";
  }
  if (const auto* e = service.setup().find(j.environment)) {
    const NixpkgsPin* pin = e->matrix.nixpkgs();
    out += "<tr><th>nixpkgs</th><td id=\"nixpkgs\">" +
           (pin ? escape(pin->name) + " (<code>" + escape(pin->commit.substr(0, 12)) + "</code>)"
                : std::string("flox's own")) +
           "</td></tr>";
  }
  out += "</table><h2>Attempts</h2>";
  out += attempts->empty() ? "<p class=\"muted\">No attempt yet.</p>"
                           : attempts_table(*attempts, now, false);

  // The log of the latest attempt; before the first one (the recipe step), an empty log that
  // the page's script fills once the build starts.
  std::string log_section;
  std::optional<int> asked;
  if (auto a = req.query.find("attempt"); a != req.query.end()) {
    auto n = to_int(a->second);
    if (!n || *n < 1 || *n > 1000000) {
      return HttpResponse::text(400, "attempt must be an attempt's number (1 or more)");
    }
    asked = static_cast<int>(*n);
  }
  auto log = service.logs(static_cast<service::JobId>(id), -1, asked);  // its last 64 KiB
  if (log) {
    const bool any = !attempts->empty();
    const int number = log->attempt.value_or(0);
    const auto shown = std::find_if(attempts->begin(), attempts->end(),
                                    [&](const auto& a) { return a.number == number; });
    log_section =
        "<section id=\"log-section\"><h2>Log" +
        (any && shown != attempts->end() ? " of attempt " + std::to_string(shown->number) + " (" +
                                               proto::to_text(shown->phase) + ")"
                                         : std::string()) +
        "</h2><pre id=\"log\" data-job=\"" + std::to_string(id) + "\" data-attempt=\"" +
        std::to_string(number) + "\" data-offset=\"" + std::to_string(log->offset) + "\"" +
        (log->done || (asked && shown != attempts->end() && shown->ended_at) ? " data-done=\"yes\""
                                                                             : "") +
        ">" + marked_log(log->text) + "</pre></section>";
  }
  return respond(req, {"Job " + std::to_string(id), "", std::move(out), std::move(log_section), 5});
}

HttpResponse log_slice(const HttpRequest& req, service::Service& service, int64_t id) {
  int64_t offset = -1;
  if (auto o = req.query.find("offset"); o != req.query.end()) {
    auto n = to_int(o->second);
    if (!n) return HttpResponse::text(400, "offset must be a whole number of bytes");
    offset = *n;
  }
  std::optional<int> attempt;
  if (auto a = req.query.find("attempt"); a != req.query.end()) {
    auto n = to_int(a->second);
    if (!n || *n < 1 || *n > 1000000) {
      return HttpResponse::text(400, "attempt must be a whole number from 1");
    }
    attempt = static_cast<int>(*n);
  }
  auto slice = service.logs(static_cast<service::JobId>(id), offset, attempt);
  if (!slice) return not_found(slice.error().message, slice.error().hint);
  HttpResponse r;
  r.content_type = "application/json";
  r.body = json(*slice).dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace tvd::server::pages
