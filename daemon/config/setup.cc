#include "daemon/config/setup.h"

#include "daemon/base/file.h"

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
  return setup;
}

}  // namespace tvd
