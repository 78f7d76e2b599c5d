#include "daemon/server/dashboard.h"

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

namespace tvd::server {

namespace {

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

// The whole page, or with ?part=main only its <main> (the page's script refreshes with it).
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

// A job's state as a cell shows it.
std::string state_class(const std::string& state) {
  if (state == "building" || state == "publishing") return "running";
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

// --- the matrix ---------------------------------------------------------------------------

HttpResponse matrix_page(const HttpRequest& req, service::Service& service) {
  const Matrix& m = service.setup().matrix;
  auto last = service.store().last_jobs();
  if (!last) return internal(last.error());
  const int64_t now = now_s();

  struct Cell {
    std::string cls, title;
    bool broken = false;  // its recipe has an error finding
  };
  auto cell_of = [&](const Variant& v) {
    const std::string pkg = v.package();
    auto ex = m.exclusions(v);
    if (!ex.empty()) return Cell{"excluded", "excluded: " + join(ex, " "), false};
    // A recipe that would fail in flox build is marked whatever its last job did.
    const std::string broken = error_summary(service.recipe_findings(v));
    const std::string suffix = broken.empty() ? "" : "; " + broken + " (tvd check)";
    auto it = last->find(pkg);
    if (it == last->end()) return Cell{"never", "never built" + suffix, !broken.empty()};
    const auto& j = it->second;
    std::string title = j.state + " (job " + std::to_string(j.id) + ")";
    if (j.finished_at) title += ", " + html::ago(*j.finished_at, now);
    if (!j.failure.empty()) title += ": " + j.failure;
    return Cell{state_class(j.state), title + suffix, !broken.empty()};
  };
  // Each cell once (a CPU-only cell appears in every CUDA grid of its Python).
  std::map<std::string, Cell> cells;
  std::map<std::string, int> counts;
  for (const auto& v : m.cells()) {
    auto [it, added] = cells.emplace(v.package(), cell_of(v));
    if (added) counts[it->second.cls]++;
  }
  auto td = [&](const Variant& v) {
    const std::string pkg = v.package();
    auto it = cells.find(pkg);
    const Cell c = it != cells.end() ? it->second : cell_of(v);
    return "<td class=\"cell s-" + c.cls + (c.broken ? " broken" : "") + "\" data-variant=\"" +
           escape(pkg) + "\" data-state=\"" + c.cls + "\"" +
           (c.broken ? " data-recipe=\"broken\"" : "") + " title=\"" +
           escape(pkg + ": " + c.title) + "\"><a href=\"/variant/" + escape(pkg) + "\">" +
           mark(c.cls) + (c.broken ? "!" : "") + "</a></td>";
  };

  std::vector<const CpuIsa*> isas;
  for (const auto& n : m.axes().cpu_isas) {
    if (const auto* i = m.find_isa(n)) isas.push_back(i);
  }
  std::string head = "<thead><tr><th></th>";
  for (const auto* i : isas)
    head += "<th title=\"" + escape(i->description) + "\">" + escape(i->name) + "</th>";
  head += "</tr></thead>";

  std::string out = "<h1>The matrix</h1><p class=\"summary\">";
  const std::vector<std::pair<std::string, std::string>> legend = {
      {"succeeded", "succeeded"}, {"failed", "failed"},       {"running", "running"},
      {"queued", "queued"},       {"cancelled", "cancelled"}, {"never", "never built"},
      {"excluded", "excluded"}};
  for (const auto& [cls, label] : legend) {
    out += "<span class=\"count\" data-state=\"" + cls + "\">" + std::to_string(counts[cls]) + " " +
           label + "</span>" + (cls == "excluded" ? "" : " · ");
  }
  out += "</p><p class=\"legend\">";
  for (const auto& [cls, label] : legend)
    out += "<span class=\"s-" + cls + "\">" + mark(cls) + " " + label + "</span>";
  out += "</p><div class=\"grids\">";
  for (const auto& py_name : m.axes().python) {
    const auto* py = m.find_python(py_name);
    if (!py) continue;
    for (const auto& cuda_name : m.axes().cuda) {
      const auto* cuda = m.find_cuda(cuda_name);
      if (!cuda) continue;
      out += "<section class=\"grid\"><h2>" + escape(py->name) + " · CUDA " +
             escape(cuda->version) + "</h2><table class=\"matrix\" data-python=\"" +
             escape(py->name) + "\" data-cuda=\"" + escape(cuda->version) + "\">" + head +
             "<tbody>";
      for (const auto& arch_name : m.axes().gpu_archs) {
        const auto* arch = m.find_gpu_arch(arch_name);
        if (!arch) continue;
        out +=
            "<tr><th title=\"" + escape(arch->description) + "\">" + escape(arch->name) + "</th>";
        for (const auto* isa : isas)
          out += td(m.variant(py, cuda, arch, isa));
        out += "</tr>";
      }
      if (m.axes().cpu_only) {
        out += "<tr class=\"cpu\"><th>CPU-only</th>";
        for (const auto* isa : isas)
          out += td(m.variant(py, nullptr, nullptr, isa));
        out += "</tr>";
      }
      out += "</tbody></table></section>";
    }
  }
  out += "</div>";
  return respond(req, {"Matrix", "matrix", std::move(out), "", 5});
}

// --- the queue ----------------------------------------------------------------------------

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

// --- a variant ----------------------------------------------------------------------------

std::string attempts_table(const std::vector<store::AttemptRow>& attempts, int64_t now,
                           bool with_job) {
  std::string out = "<table class=\"attempts\"><tr>" + std::string(with_job ? "<th>Job</th>" : "") +
                    "<th>Attempt</th><th>Phase</th><th>Started</th><th>Took</th><th>Outcome</th>"
                    "<th>Peak memory</th><th>Reason</th></tr>";
  for (const auto& a : attempts) {
    const std::string outcome = a.outcome.value_or("running");
    out += "<tr class=\"attempt\">" + (with_job ? "<td>" + job_link(a.job_id) + "</td>" : "") +
           "<td>" + std::to_string(a.number) + "</td><td>" + escape(a.phase) + "</td><td>" +
           html::ago(a.started_at, now) + "</td><td>" +
           html::duration(a.ended_at.value_or(now) - a.started_at) + "</td><td class=\"s-" +
           (outcome == "running"       ? "running"
            : outcome == "interrupted" ? "cancelled"
                                       : outcome) +
           "\">" + escape(outcome) + "</td><td>" +
           (a.peak_memory ? html::size(*a.peak_memory) : "") + "</td><td>" + escape(a.reason) +
           "</td></tr>";
  }
  return out + "</table>";
}

HttpResponse variant_page(const HttpRequest& req, service::Service& service,
                          const std::string& package) {
  const Matrix& m = service.setup().matrix;
  std::optional<Variant> cell;
  std::vector<std::string> names;
  for (const auto& v : m.cells()) {
    names.push_back(v.package());
    if (names.back() == package) cell = v;
  }
  auto jobs = service.store().variant_jobs(package, 30);
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
    auto ex = m.exclusions(*cell);
    if (!ex.empty()) {
      out += "<tr><th>Excluded</th><td class=\"excluded\">" + escape(join(ex, " ")) + "</td></tr>";
    }
  } else {
    out += "<tr><th>Matrix</th><td>no longer in the matrix; its history is kept</td></tr>";
  }
  if (!jobs->empty()) {
    out += "<tr><th>Last result</th><td class=\"s-" + state_class(jobs->front().state) +
           "\" id=\"last\">" + escape(jobs->front().state) + "</td></tr>";
  }
  out += "</table>";

  // The chart and the attempts: oldest first for the chart, newest first in the table.
  std::vector<ChartPoint> points;
  std::vector<store::AttemptRow> recent;
  for (auto it = jobs->rbegin(); it != jobs->rend(); ++it) {
    auto attempts = service.store().attempts(it->id);
    if (!attempts) return internal(attempts.error());
    for (const auto& a : *attempts) {
      if (a.phase == "build" && a.ended_at && a.outcome && *a.outcome != "interrupted") {
        ChartPoint p;
        p.label = day(a.started_at);
        p.seconds = static_cast<double>(*a.ended_at - a.started_at);
        if (a.peak_memory) p.peak_bytes = static_cast<double>(*a.peak_memory);
        p.title = "job " + std::to_string(a.job_id) + " attempt " + std::to_string(a.number) +
                  ": " + *a.outcome + ", " + html::duration(*a.ended_at - a.started_at) +
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
             escape(j.state) + "</td><td>" + escape(j.origin) + "</td><td>" +
             html::ago(j.enqueued_at, now) + "</td><td>" +
             (j.started_at ? html::duration(j.finished_at.value_or(now) - *j.started_at) : "") +
             "</td><td>" + std::to_string(j.build_tries) + ", " + std::to_string(j.publish_tries) +
             "</td><td>" + escape(j.error.empty() ? j.failure : j.error) + "</td></tr>";
    }
    out += "</table><h2>Attempts</h2>" + attempts_table(recent, now, true);
  }
  return respond(req, {package, "", std::move(out), "", 5});
}

// --- a job --------------------------------------------------------------------------------

HttpResponse job_page(const HttpRequest& req, service::Service& service, int64_t id) {
  auto row = service.store().job(id);
  if (!row) return internal(row.error());
  if (!*row) {
    return not_found("No job " + std::to_string(id) + ".", "The queue page lists jobs: /queue");
  }
  auto attempts = service.store().attempts(id);
  if (!attempts) return internal(attempts.error());
  const auto& j = **row;
  const int64_t now = now_s();
  std::string out = "<h1>Job " + std::to_string(id) + ": " + variant_link(j.variant) +
                    "</h1><table class=\"facts\"><tr><th>State</th><td id=\"state\" class=\"s-" +
                    state_class(j.state) + "\">" + escape(j.state) + " (" + escape(j.phase) +
                    ")</td></tr><tr><th>Origin</th><td>" + escape(j.origin) +
                    (j.batch_id ? " (batch " + std::to_string(*j.batch_id) + ")" : "") +
                    "</td></tr><tr><th>Queued</th><td>" + html::ago(j.enqueued_at, now) +
                    "</td></tr>";
  if (j.started_at) {
    out += "<tr><th>Took</th><td>" + html::duration(j.finished_at.value_or(now) - *j.started_at) +
           (j.finished_at ? "" : " so far") + "</td></tr>";
  }
  if (!j.error.empty()) out += "<tr><th>Error</th><td>" + escape(j.error) + "</td></tr>";
  out += "</table><h2>Attempts</h2>";
  out += attempts->empty() ? "<p class=\"muted\">No attempt yet.</p>"
                           : attempts_table(*attempts, now, false);

  // The log of the latest attempt; before the first one (the recipe step), an empty log that
  // the page's script fills once the build starts.
  std::string log_section;
  auto log = service.logs(static_cast<service::JobId>(id), -1);
  if (log) {
    const bool any = !attempts->empty();
    const int number = (*log)["attempt"].is_number() ? (*log)["attempt"].get<int>() : 0;
    log_section = "<section id=\"log-section\"><h2>Log" +
                  (any ? " of attempt " + std::to_string(attempts->back().number) + " (" +
                             escape(attempts->back().phase) + ")"
                       : std::string()) +
                  "</h2><pre id=\"log\" data-job=\"" + std::to_string(id) + "\" data-attempt=\"" +
                  std::to_string(number) + "\" data-offset=\"" +
                  std::to_string((*log)["offset"].get<int64_t>()) + "\"" +
                  ((*log)["done"].get<bool>() ? " data-done=\"yes\"" : "") + ">" +
                  escape((*log)["text"].get<std::string>()) + "</pre></section>";
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
  r.body = slice->dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// --- nights -------------------------------------------------------------------------------

HttpResponse nights_page(const HttpRequest& req, service::Service& service,
                         std::map<int64_t, store::Store::BatchBuilds>& finished) {
  auto batches = service.store().batches(30);
  if (!batches) return internal(batches.error());
  const int64_t now = now_s();
  std::vector<ChartPoint> points;
  std::string rows;
  for (auto it = batches->rbegin(); it != batches->rend(); ++it) {
    // A finished batch's builds do not change: read them once (10,000 attempts a night).
    std::optional<store::Store::BatchBuilds> builds;
    if (auto c = finished.find(it->id); c != finished.end()) builds = c->second;
    if (!builds) {
      auto read = service.store().batch_builds(it->id);
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

bool valid_package(std::string_view s) {
  return !s.empty() && s.size() < 200 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
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
    r.body = render_metrics(service);
    return r;
  }
  if (p == "/assets/tvd.css" || p == "/assets/tvd.js") {
    HttpResponse r;
    const bool css = p.back() == 's' && p[p.size() - 2] == 's';
    r.content_type = css ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
    r.body = std::string(css ? html::stylesheet() : html::script());
    return r;
  }
  constexpr std::string_view kVariant = "/variant/", kJob = "/job/";
  if (p.rfind(kVariant, 0) == 0) {
    std::string name = p.substr(kVariant.size());
    if (valid_package(name)) return variant_page(req, service, name);
  }
  if (p.rfind(kJob, 0) == 0) {
    std::string_view rest = std::string_view(p).substr(kJob.size());
    const bool log = rest.size() > 4 && rest.substr(rest.size() - 4) == "/log";
    if (log) rest.remove_suffix(4);
    if (auto id = to_int(rest); id && *id > 0) {
      return log ? log_slice(req, service, *id) : job_page(req, service, *id);
    }
  }
  return not_found("No page " + p + ".",
                   "The pages: / (the matrix), /queue, /nights, /variant/NAME, /job/ID, /metrics.");
}

}  // namespace tvd::server
