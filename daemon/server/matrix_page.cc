// The matrix page: a grid per Python × CUDA (and per environment), cells coloured by the last
// result.
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

HttpResponse matrix_page(const HttpRequest& req, service::Service& service) {
  auto last = service.last_jobs();
  if (!last) return internal(last.error());
  const int64_t now = now_s();
  const auto& environments = service.setup().environments;

  struct Cell {
    std::string cls, title;
    bool broken = false;  // its recipe has an error finding
  };
  auto cell_of = [&](const Matrix& m, const Variant& v) {
    auto ex = m.exclusions(v);
    if (!ex.empty()) return Cell{"excluded", "excluded: " + join(ex, " "), false};
    // A recipe that would fail in flox build is marked whatever its last job did.
    const std::string broken = error_summary(service.recipe_findings(v));
    const std::string suffix = broken.empty() ? "" : "; " + broken + " (tvd check)";
    auto it = last->find(v.key());
    if (it == last->end()) return Cell{"never", "never built" + suffix, !broken.empty()};
    const auto& j = it->second;
    std::string title = proto::to_text(j.state) + " (job " + std::to_string(j.id) + ")";
    if (j.finished_at) title += ", " + html::ago(*j.finished_at, now);
    if (j.failure != proto::Failure::kNone) title += ": " + proto::to_text(j.failure);
    return Cell{state_class(j.state), title + suffix, !broken.empty()};
  };
  // Each cell once (a CPU-only cell appears in every CUDA grid of its Python), by its key.
  std::map<std::string, Cell> cells;
  std::map<std::string, int> counts;
  for (const auto& e : environments) {
    for (const auto& v : e.matrix.cells()) {
      auto [it, added] = cells.emplace(v.key().text(), cell_of(e.matrix, v));
      if (added) counts[it->second.cls]++;
    }
  }
  auto td = [&](const Matrix& m, const Variant& v) {
    const std::string key = v.key().text();
    auto it = cells.find(key);
    const Cell c = it != cells.end() ? it->second : cell_of(m, v);
    return "<td class=\"cell s-" + c.cls + (c.broken ? " broken" : "") + "\" data-variant=\"" +
           escape(key) + "\" data-state=\"" + c.cls + "\"" +
           (c.broken ? " data-recipe=\"broken\"" : "") + " title=\"" +
           escape(key + ": " + c.title) + "\"><a href=\"/variant/" + escape(key) + "\">" +
           mark(c.cls) + (c.broken ? "!" : "") + "</a></td>";
  };

  std::string out = "<h1>The matrix</h1>" + paused_banner(service, now) +
                    "<p class=\"summary\">Variants, by their newest job: ";
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
  out += "</p>";
  // A section per environment (with one, as it always was: no heading).
  for (const auto& e : environments) {
    const Matrix& m = e.matrix;
    if (environments.size() > 1) {
      out += "<h2 class=\"environment\" data-environment=\"" + escape(e.name()) + "\">" +
             escape(e.name()) + ": " + escape(e.product().display) +
             (e.torch_from.empty() ? "" : ", torch from " + escape(e.torch_from)) + "</h2>";
    }
    std::vector<const CpuIsa*> isas;
    for (const auto& n : m.axes().cpu_isas) {
      if (const auto* i = m.find_isa(n)) isas.push_back(i);
    }
    std::string head = "<thead><tr><th></th>";
    for (const auto* i : isas)
      head += "<th title=\"" + escape(i->description) + "\">" + escape(i->name) + "</th>";
    head += "</tr></thead>";
    out += "<div class=\"grids\" data-environment=\"" + escape(e.name()) + "\">";
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
            out += td(m, m.variant(py, cuda, arch, isa));
          out += "</tr>";
        }
        if (m.axes().cpu_only) {
          out += "<tr class=\"cpu\"><th>CPU-only</th>";
          for (const auto* isa : isas)
            out += td(m, m.variant(py, nullptr, nullptr, isa));
          out += "</tr>";
        }
        out += "</tbody></table></section>";
      }
    }
    out += "</div>";
  }
  return respond(req, {"Matrix", "matrix", std::move(out), "", 5});
}

}  // namespace tvd::server::pages
