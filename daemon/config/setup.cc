#include "daemon/config/setup.h"

#include <algorithm>
#include <set>

#include "daemon/base/file.h"
#include "daemon/config/machines.h"

namespace tvd {

const EnvironmentSetup* Setup::find(std::string_view name) const {
  for (const auto& e : environments)
    if (e.name() == name) return &e;
  return nullptr;
}

std::vector<Selection> EnvironmentSetup::cells() const {
  std::vector<Selection> out;
  for (const auto& v : matrix.cells()) {
    auto ex = matrix.exclusions(v);
    const bool buildable = ex.empty();
    out.push_back({v, std::move(ex), buildable});
  }
  return out;
}

std::vector<const Matrix*> Setup::matrices() const {
  std::vector<const Matrix*> out;
  for (const auto& e : environments)
    out.push_back(&e.matrix);
  return out;
}

namespace {

Result<Matrix> read_matrix(const Config& c, const std::optional<std::filesystem::path>& file,
                           std::string& origin) {
  origin = "built-in";
  if (!file) return Matrix::embedded();
  origin = file->string();
  auto text = read_file(*file);
  if (!text) {
    return fail(ErrorKind::kBadInput, "matrix: " + text.error().message,
                "fix \"matrix\" in " + c.source + ", or remove it to use the built-in one");
  }
  return Matrix::parse(*text, origin);
}

// The product an environment names, built in or from the config's "products".
Result<std::pair<Product, std::optional<std::filesystem::path>>> product_of(
    const Config& c, const std::string& name) {
  if (const Product* p = find_builtin_product(name)) {
    std::optional<std::filesystem::path> dir;
    // The top-level "templates" has always been TorchVision's.
    if (name == "torchvision" && c.templates) dir = c.templates;
    return std::pair{*p, dir};
  }
  for (const auto& p : c.products) {
    if (p.name == name) {
      return std::pair{Product{p.name, p.prefix, p.display, p.depends_on},
                       std::optional<std::filesystem::path>(p.templates)};
    }
  }
  return fail(ErrorKind::kBadInput, c.source + ": no product '" + name + "'",
              "list it under \"products\"");
}

AxesChoice over(const AxesChoice& base, const AxesChoice& mine) {
  AxesChoice out = base;
  if (mine.python) out.python = mine.python;
  if (mine.cuda) out.cuda = mine.cuda;
  if (mine.gpu_archs) out.gpu_archs = mine.gpu_archs;
  if (mine.cpu_isas) out.cpu_isas = mine.cpu_isas;
  if (mine.cpu_only) out.cpu_only = mine.cpu_only;
  return out;
}

}  // namespace

// The local host (unless off) and the machines file's machines that tvd's config gives a memory
// budget; the others are noted. tvd's recipes require big-parallel: a machine whose mandatory
// features they do not meet would never take one.
static Status read_builders(Setup& setup) {
  const Config::Builders& c = setup.config.builders;
  const std::string here = host_system();
  if (c.local) {
    BuilderSetup local;
    local.name = "local";
    local.systems = c.local_systems.empty() ? std::vector<std::string>{here} : c.local_systems;
    local.features = c.local_features.empty() ? default_system_features() : c.local_features;
    setup.builders.push_back(std::move(local));
  }
  TRY_ASSIGN(auto machines, read_machines(c.machines_file, here));
  std::set<std::string> listed;
  for (const auto& m : machines) {
    listed.insert(m.uri);
    auto given = c.remote.find(m.uri);
    if (given == c.remote.end()) {
      setup.builder_notes.push_back(m.uri + " (" + m.origin +
                                    "): not used by tvd: no memory budget; add \"builders\": "
                                    "{\"remote\": {\"" +
                                    m.uri + "\": {\"memory_budget\": \"200GiB\"}}}");
      continue;
    }
    bool mandatory_met = true;
    for (const auto& f : m.mandatory_features)
      mandatory_met = mandatory_met && f == "big-parallel";
    if (!mandatory_met) {
      setup.builder_notes.push_back(
          m.uri + " (" + m.origin + "): not used by tvd: it takes only builds that require " +
          "its mandatory features, and tvd's recipes require big-parallel");
      continue;
    }
    BuilderSetup b;
    b.name = m.uri;
    b.systems = m.systems;
    b.features = m.supported_features;
    b.features.insert(b.features.end(), m.mandatory_features.begin(), m.mandatory_features.end());
    b.slots = m.max_jobs;
    b.budget = given->second.memory_budget;
    b.local = false;
    b.nix_line = builders_line(m);
    b.origin = m.origin;
    setup.builders.push_back(std::move(b));
  }
  for (const auto& [uri, remote] : c.remote) {
    if (!listed.count(uri)) {
      setup.builder_notes.push_back("builders.remote names " + uri + ", which " +
                                    c.machines_file.string() + " does not list: not used");
    }
  }
  if (setup.builders.empty()) {
    return fail(ErrorKind::kBadInput,
                setup.config.source + ": no builder: the local host is off (builders.local) and " +
                    c.machines_file.string() + " lists no machine with a memory budget",
                "turn the local host on, or add a machine to the machines file and its budget to "
                "builders.remote");
  }
  return {};
}

Result<Setup> load_setup(const std::optional<std::filesystem::path>& config_path) {
  auto config = load_config(config_path);
  if (!config) return tl::unexpected(config.error());
  Setup setup{std::move(*config), {}};
  const Config& c = setup.config;

  for (size_t i = 0; i < c.environments.size(); ++i) {
    const EnvironmentConfig& ec = c.environments[i];
    const std::string where =
        c.environments_given ? c.source + ": environments[" + std::to_string(i) + "]" : c.source;
    std::string origin;
    auto matrix = read_matrix(c, ec.matrix ? ec.matrix : c.matrix, origin);
    if (!matrix) return tl::unexpected(matrix.error());
    TRY(apply_axes(ec.nixpkgs ? ec.nixpkgs : c.nixpkgs, over(c.axes, ec.axes), *matrix, where));
    TRY_ASSIGN(auto product, product_of(c, ec.product));
    matrix->set_product(product.first);
    matrix->set_environment(Environment{ec.name, ec.flox_env});
    const auto dir = ec.templates ? ec.templates : product.second;
    auto templates = dir ? TemplateSet::load(*dir) : TemplateSet::embedded(ec.product);
    if (!templates) return tl::unexpected(templates.error());
    EnvironmentSetup e{std::move(*matrix),
                       std::move(*templates),
                       origin,
                       ec.org.value_or(c.publish.org),
                       {},
                       ec.torch_from.value_or("")};
    if (!c.environments_given) e.pytorch_env = c.pytorch_env;
    setup.environments.push_back(std::move(e));
  }
  // A pairing: the PyTorch environment's checkout gives the choices, and both import one nixpkgs
  // (else the torch inside TorchVision would be another derivation than the one PyTorch builds).
  for (auto& e : setup.environments) {
    if (e.torch_from.empty()) continue;
    const EnvironmentSetup* from = setup.find(e.torch_from);
    if (!from) continue;  // the config's parser said so
    // Its torch is the copy of that environment's recipe; what it says itself (its GPU target,
    // its pin, the same by the check below) comes from the matrix, so that its text does not
    // depend on whether that recipe was written yet.
    e.torch = from;
    const NixpkgsPin* mine = e.matrix.nixpkgs();
    const NixpkgsPin* theirs = from->matrix.nixpkgs();
    const std::string mine_commit = mine ? mine->commit : "",
                      theirs_commit = theirs ? theirs->commit : "";
    if (mine_commit != theirs_commit) {
      auto say = [](const NixpkgsPin* p) {
        return p ? "'" + p->name + "' (" + p->commit.substr(0, 12) + ")"
                 : std::string("flox's own nixpkgs");
      };
      return fail(ErrorKind::kBadInput,
                  c.source + ": environment '" + e.name() + "' takes its torch from '" +
                      from->name() + "', but imports nixpkgs " + say(mine) + " where '" +
                      from->name() + "' imports " + say(theirs) +
                      ": its torch would be another derivation than the one '" + from->name() +
                      "' builds",
                  "give both environments the same \"nixpkgs\" pin");
    }
  }
  TRY(read_builders(setup));
  return setup;
}

std::string no_builder_text(const std::string& system) {
  const std::string arch = system.substr(0, system.find('-'));
  return "no " + system +
         " builder: add one to Nix's machines file (with its memory budget in builders.remote), "
         "or run tvd on an " +
         arch + " host";
}

std::vector<std::string> Setup::builders_for(const std::string& system) const {
  std::vector<std::string> out;
  for (const auto& b : builders)
    if (std::find(b.systems.begin(), b.systems.end(), system) != b.systems.end())
      out.push_back(b.name);
  return out;
}

}  // namespace tvd
