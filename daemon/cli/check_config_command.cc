// `tvd check-config`: the config, matrix and templates, each environment and builder, then the
// host as the config describes it (and, with --probe, each builder asked to build).
#include <chrono>

#include "daemon/app/builder_probe.h"
#include "daemon/app/host_checks.h"
#include "daemon/base/lines.h"
#include "daemon/base/units.h"
#include "daemon/cli/tvd_cli.h"
#include "daemon/config/setup.h"
#include "daemon/service/engine.h"
#include "daemon/service/host_config.h"

extern char** environ;

namespace tvd {

int cmd_check_config(const std::optional<std::filesystem::path>& config, bool probe,
                     std::ostream& out, std::ostream& err) {
  auto setup = load_setup(config);
  if (!setup) return report_error(setup.error(), err);
  const Config& c = setup->config;
  out << "config:    " << c.source << '\n';
  for (const auto& e : setup->environments) {
    size_t cells = 0, buildable = 0;
    for (const auto& v : e.matrix.cells()) {
      ++cells;
      buildable += e.matrix.exclusions(v).empty();
    }
    const NixpkgsPin* pin = e.matrix.nixpkgs();
    if (c.environments_given) {
      out << "environment " << e.name() << ": " << e.product().display << " (" << e.product().name
          << ")" << (e.torch_from.empty() ? "" : ", its torch from " + e.torch_from + "'s recipes")
          << '\n';
    }
    out << "flox_env:  " << e.environment().checkout.string() << '\n'
        << "matrix:    " << e.matrix_origin << ": " << cells << " cells, " << buildable
        << " buildable, " << cells - buildable << " excluded; nixpkgs "
        << (pin ? pin->name + " (" + pin->commit.substr(0, 12) + ")" : "flox's own") << '\n'
        << "templates: " << e.templates.origin << '\n';
    if (c.publish.enabled) out << "publish:   to " << e.org << '\n';
  }
  // Where builds run; the machines the file lists that tvd does not use, and why.
  for (const auto& b : setup->builders) {
    out << "builder:   " << b.name << (b.origin.empty() ? "" : " (" + b.origin + ")") << ": "
        << join(b.systems, ", ") << "; features "
        << (b.features.empty() ? "none" : join(b.features, ",")) << "; ";
    if (b.local) {
      out << "the scheduler's slots and budget\n";
    } else {
      out << b.slots << " slot(s), budget " << format_size(b.budget) << '\n';
    }
  }
  for (const auto& note : setup->builder_notes)
    out << "note:      " << note << '\n';
  std::map<std::string, int> unserved;
  for (const auto& e : setup->environments)
    for (const auto& sel : e.cells())
      if (sel.chosen && setup->builders_for(sel.variant.isa->platform).empty())
        ++unserved[sel.variant.isa->platform];
  for (const auto& [system, n] : unserved) {
    out << "warning:   " << n << " buildable cell(s) of " << system
        << " will not be queued: " << no_builder_text(system) << '\n';
  }
  auto problems = check_host(c);
  // flox is asked with the environment the service gives its children.
  const auto child_env = service::engine_config(c, environ).child_env;
  if (auto trust = check_nix_trust(*setup, child_env)) problems.push_back(*trust);
  if (probe) {
    // Each builder builds a derivation of each of its systems, as tvd would place a build there.
    for (const auto& p : probe_builders(*setup, child_env, std::chrono::seconds(120))) {
      if (p.ok) {
        const auto tenths = p.took.count() / 100;
        out << "probe:     " << p.builder << " built " << p.system << " (" << tenths / 10 << '.'
            << tenths % 10 << " s)\n";
      } else {
        problems.push_back({true, "builder " + p.builder + " cannot build " + p.system + ": " +
                                      p.error + " (" + probe_hint(p) + ")"});
      }
    }
  }
  for (const auto& line : describe_flox(c, child_env, problems))
    out << line << '\n';
  int errors = 0;
  for (const auto& p : problems) {
    (p.fatal ? err : out) << (p.fatal ? "error:     " : "warning:   ") << p.message << '\n';
    errors += p.fatal;
  }
  if (errors > 0) {
    err << errors << (errors == 1 ? " problem" : " problems")
        << "; tvd serve refuses to start until they are fixed\n";
    return 2;
  }
  out << "ok\n";
  return 0;
}

}  // namespace tvd
