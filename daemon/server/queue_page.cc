// The queue page: running builds with progress and ETA, waiting jobs with their reasons.
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

HttpResponse queue_page(const HttpRequest& req, service::Service& service) {
  const proto::StatusView st = service.status();
  const int64_t now = now_s();
  std::string out = "<h1>Queue</h1>";
  out += paused_banner(service, now);

  const int64_t reserved = static_cast<int64_t>(st.memory.reserved);
  const int64_t budget = static_cast<int64_t>(st.memory.budget);
  out +=
      "<section id=\"capacity\"><h2>Capacity</h2><table><tr><th>Memory reserved</th><td>"
      "<progress id=\"memory\" value=\"" +
      std::to_string(reserved) + "\" max=\"" + std::to_string(std::max<int64_t>(1, budget)) +
      "\"></progress> <span class=\"reserved\">" + html::size(reserved) +
      "</span> of <span class=\"budget\">" + html::size(budget) +
      "</span></td></tr><tr><th>Builds at once</th><td>at most " +
      std::to_string(st.memory.max_parallel) + "</td></tr>";
  for (const auto& d : st.disks) {
    out += "<tr><th>Free disk</th><td class=\"disk\">" + escape(d.path) + ": " +
           (d.free ? html::size(static_cast<int64_t>(*d.free)) : "unknown") + "</td></tr>";
  }
  for (const auto& g : st.gates)
    out += "<tr><th>Gate</th><td>" + escape(g) + "</td></tr>";
  out += "</table>";
  if (!st.builders.empty()) {
    // A row per builder: what it builds, its slots and memory in use.
    out +=
        "<table id=\"builders\"><tr><th>Builder</th><th>Builds</th><th>Slots</th>"
        "<th>Memory reserved</th><th></th></tr>";
    for (const auto& b : st.builders) {
      std::string systems;
      for (const auto& s : b.systems)
        systems += (systems.empty() ? "" : ", ") + s;
      out += "<tr class=\"builder\" data-builder=\"" + escape(b.name) + "\"><td>" + escape(b.name) +
             "</td><td>" + escape(systems) + "</td><td>" + std::to_string(b.busy) + " of " +
             std::to_string(b.slots) + "</td><td>" + html::size(static_cast<int64_t>(b.reserved)) +
             " of " + html::size(static_cast<int64_t>(b.budget)) + "</td><td>" +
             (b.reachable ? "" : "<span class=\"s-failed\">unreachable</span>") + "</td></tr>";
    }
    out += "</table>";
  }
  out += "</section>";

  std::string running, waiting, finished;
  int n_running = 0, n_waiting = 0, n_finished = 0;
  for (const auto& j : st.jobs) {
    const std::string& state = j.state;
    // A state this page does not know (a newer daemon's) is shown among the finished ones.
    const auto known = proto::kJobStates.parse(state).value_or(proto::JobState::kFailed);
    const int64_t id = j.id;
    const std::string& variant = j.package;
    if (known == proto::JobState::kBuilding || known == proto::JobState::kPublishing) {
      ++n_running;
      const int64_t started = j.started_at.value_or(now);
      const int64_t elapsed = std::max<int64_t>(0, now - started);
      std::string progress = "<span class=\"muted\">no estimate</span>", eta = "";
      if (j.expected_s && j.eta_at) {
        const int64_t expected = std::max<int64_t>(1, *j.expected_s);
        const int64_t eta_at = *j.eta_at;
        const int64_t shown = std::min(elapsed, expected);
        progress = "<progress value=\"" + std::to_string(shown) + "\" max=\"" +
                   std::to_string(expected) + "\"></progress> " +
                   std::to_string(std::min<int64_t>(100, elapsed * 100 / expected)) + " %";
        eta = eta_at > now ? "in " + html::duration(eta_at - now)
                           : "overdue by " + html::duration(now - eta_at);
      }
      running += "<tr data-job=\"" + std::to_string(id) + "\" data-variant=\"" + escape(variant) +
                 "\" data-reserved=\"" + std::to_string(j.reserved.value_or(0)) + "\"><td>" +
                 job_link(id) + "</td><td>" + variant_link(variant) + "</td><td>" + escape(state) +
                 "</td><td>" + html::duration(elapsed) + "</td><td class=\"progress\">" + progress +
                 "</td><td class=\"eta\">" + eta + "</td><td>" +
                 (j.reserved ? html::size(static_cast<int64_t>(*j.reserved)) : "") + "</td></tr>";
    } else if (known == proto::JobState::kQueued) {
      ++n_waiting;
      auto why = st.waiting.find(std::to_string(id));
      const std::string reason = why != st.waiting.end() ? why->second : "next in line";
      waiting += "<tr data-job=\"" + std::to_string(id) + "\"><td>" + job_link(id) + "</td><td>" +
                 variant_link(variant) + "</td><td>" + escape(j.origin) + "</td><td>" +
                 std::to_string(j.priority) + "</td><td>" + html::ago(j.enqueued_at, now) +
                 "</td><td class=\"reason\">" + escape(reason) + "</td></tr>";
    } else {
      ++n_finished;
      const int64_t fin = j.finished_at.value_or(now);
      const int64_t began = j.started_at.value_or(fin);
      finished += "<tr data-job=\"" + std::to_string(id) + "\"><td>" + job_link(id) + "</td><td>" +
                  variant_link(variant) + "</td><td class=\"s-" + state_class(state) + "\">" +
                  escape(state) + "</td><td>" + html::ago(fin, now) + "</td><td>" +
                  html::duration(fin - began) + "</td><td>" +
                  escape(!j.error.empty() ? j.error : j.failure) + "</td></tr>";
    }
  }
  out += "<section id=\"running\"><h2>Running (" + std::to_string(n_running) + ")</h2>";
  out += n_running ? "<table><tr><th>Job</th><th>Variant</th><th>Phase</th><th>Elapsed</th>"
                     "<th>Progress</th><th>ETA</th><th>Reserved</th></tr>" +
                         running + "</table>"
                   : "<p class=\"muted\">Nothing is running.</p>";
  out += "</section><section id=\"waiting\"><h2>Waiting (" + std::to_string(n_waiting) + ")</h2>";
  out += n_waiting ? "<table><tr><th>Job</th><th>Variant</th><th>Origin</th><th>Priority</th>"
                     "<th>Queued</th><th>Why it waits</th></tr>" +
                         waiting + "</table>"
                   : "<p class=\"muted\">Nothing is waiting.</p>";
  out += "</section><section id=\"finished\"><h2>Recently finished</h2>";
  out += n_finished ? "<table><tr><th>Job</th><th>Variant</th><th>Result</th><th>Finished</th>"
                      "<th>Took</th><th>Why</th></tr>" +
                          finished + "</table>"
                    : "<p class=\"muted\">Nothing has finished yet.</p>";
  out += "</section>";
  return respond(req, {"Queue", "queue", std::move(out), "", 5});
}

}  // namespace tvd::server::pages
