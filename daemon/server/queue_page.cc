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
  json st = service.status();
  const int64_t now = now_s();
  std::string out = "<h1>Queue</h1>";

  const auto& mem = st["memory"];
  const int64_t reserved = mem.value("reserved", int64_t{0});
  const int64_t budget = mem.value("budget", int64_t{0});
  out +=
      "<section id=\"capacity\"><h2>Capacity</h2><table><tr><th>Memory reserved</th><td>"
      "<progress id=\"memory\" value=\"" +
      std::to_string(reserved) + "\" max=\"" + std::to_string(std::max<int64_t>(1, budget)) +
      "\"></progress> <span class=\"reserved\">" + html::size(reserved) +
      "</span> of <span class=\"budget\">" + html::size(budget) +
      "</span></td></tr><tr><th>Builds at once</th><td>at most " +
      std::to_string(mem.value("max_parallel", 0)) + "</td></tr>";
  for (const auto& d : st["disks"]) {
    out += "<tr><th>Free disk</th><td class=\"disk\">" + escape(d.value("path", "")) + ": " +
           (d["free"].is_number() ? html::size(d["free"].get<int64_t>()) : "unknown") +
           "</td></tr>";
  }
  for (const auto& g : st["gates"])
    out += "<tr><th>Gate</th><td>" + escape(g.is_string() ? g.get<std::string>() : g.dump()) +
           "</td></tr>";
  out += "</table></section>";

  std::string running, waiting, finished;
  int n_running = 0, n_waiting = 0, n_finished = 0;
  for (const auto& j : st["jobs"]) {
    const std::string state = j["state"];
    const int64_t id = j["id"];
    const std::string variant = j["variant"];
    if (state == "building" || state == "publishing") {
      ++n_running;
      const int64_t started = j["started_at"].is_number() ? j["started_at"].get<int64_t>() : now;
      const int64_t elapsed = std::max<int64_t>(0, now - started);
      std::string progress = "<span class=\"muted\">no estimate</span>", eta = "";
      if (j.contains("expected_s")) {
        const int64_t expected = std::max<int64_t>(1, j["expected_s"].get<int64_t>());
        const int64_t eta_at = j["eta_at"].get<int64_t>();
        const int64_t shown = std::min(elapsed, expected);
        progress = "<progress value=\"" + std::to_string(shown) + "\" max=\"" +
                   std::to_string(expected) + "\"></progress> " +
                   std::to_string(std::min<int64_t>(100, elapsed * 100 / expected)) + " %";
        eta = eta_at > now ? "in " + html::duration(eta_at - now)
                           : "overdue by " + html::duration(now - eta_at);
      }
      running +=
          "<tr data-job=\"" + std::to_string(id) + "\" data-variant=\"" + escape(variant) +
          "\" data-reserved=\"" + std::to_string(j.value("reserved", int64_t{0})) + "\"><td>" +
          job_link(id) + "</td><td>" + variant_link(variant) + "</td><td>" + escape(state) +
          "</td><td>" + html::duration(elapsed) + "</td><td class=\"progress\">" + progress +
          "</td><td class=\"eta\">" + eta + "</td><td>" +
          (j.contains("reserved") ? html::size(j["reserved"].get<int64_t>()) : "") + "</td></tr>";
    } else if (state == "queued") {
      ++n_waiting;
      std::string reason = st["waiting"].value(std::to_string(id), "next in line");
      waiting += "<tr data-job=\"" + std::to_string(id) + "\"><td>" + job_link(id) + "</td><td>" +
                 variant_link(variant) + "</td><td>" + escape(j.value("origin", "")) + "</td><td>" +
                 std::to_string(j.value("priority", 0)) + "</td><td>" +
                 html::ago(j.value("enqueued_at", now), now) + "</td><td class=\"reason\">" +
                 escape(reason) + "</td></tr>";
    } else {
      ++n_finished;
      const int64_t fin = j["finished_at"].is_number() ? j["finished_at"].get<int64_t>() : now;
      const int64_t began = j["started_at"].is_number() ? j["started_at"].get<int64_t>() : fin;
      finished += "<tr data-job=\"" + std::to_string(id) + "\"><td>" + job_link(id) + "</td><td>" +
                  variant_link(variant) + "</td><td class=\"s-" + state_class(state) + "\">" +
                  escape(state) + "</td><td>" + html::ago(fin, now) + "</td><td>" +
                  html::duration(fin - began) + "</td><td>" +
                  escape(j.value("error", j.value("failure", ""))) + "</td></tr>";
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
