// The config's products and environments (and their axes): several environments, each a flox
// checkout with its product, its nixpkgs pin and its organisation, read as config.cc reads the
// other sections.
#include "daemon/config/sections.h"

namespace tvd::config_sections {

void Sections::axes(const json& v, const std::string& where, AxesChoice& out) {
  JsonObject o(v, where, errors_);
  out.python = o.strings("python", Need::kOptional);
  out.cuda = o.strings("cuda", Need::kOptional);
  out.gpu_archs = o.strings("gpu_archs", Need::kOptional);
  out.cpu_isas = o.strings("cpu_isas", Need::kOptional);
  out.cpu_only = o.boolean("cpu_only", Need::kOptional);
  o.refuse_unknown_keys();
}

void Sections::products(const json& v, std::vector<ProductConfig>& out) {
  if (!v.is_array()) {
    errors_.push_back(
        "products: expected a list of {\"name\", \"prefix\", \"display\", "
        "\"templates\", \"depends_on\"}");
    return;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    JsonObject o(v[i], "products[" + std::to_string(i) + "]", errors_);
    ProductConfig p;
    p.name = o.string("name").value_or("");
    if (!p.name.empty() && !is_name(p.name)) {
      o.error("name", "'" + p.name + "': use lowercase letters, digits, '.', '_' and '-'");
    } else if (find_builtin_product(p.name)) {
      o.error("name", "'" + p.name + "' is built in; give a new product another name");
    }
    for (const auto& q : out)
      if (!p.name.empty() && q.name == p.name) o.error("name", "'" + p.name + "' is listed twice");
    p.prefix = o.string("prefix", Need::kOptional).value_or(p.name + "-");
    p.display = o.string("display", Need::kOptional).value_or(p.name);
    p.depends_on = o.string("depends_on", Need::kOptional).value_or("");
    path(o, "templates", p.templates);
    if (p.templates.empty()) {
      o.error("templates", "is needed: the directory with the product's gpu.nix.in and cpu.nix.in");
    }
    o.refuse_unknown_keys();
    out.push_back(std::move(p));
  }
}

void Sections::environments(const json& v, Config& c) {
  if (!v.is_array() || v.empty()) {
    errors_.push_back(
        "environments: expected a list of at least one {\"name\", \"product\", "
        "\"flox_env\"}");
    return;
  }
  auto product_known = [&](const std::string& name) -> const std::string* {
    if (auto* b = find_builtin_product(name)) return &b->depends_on;
    for (const auto& p : c.products)
      if (p.name == name) return &p.depends_on;
    return nullptr;
  };
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string where = "environments[" + std::to_string(i) + "]";
    JsonObject o(v[i], where, errors_);
    EnvironmentConfig e;
    e.name = o.string("name").value_or("");
    if (!e.name.empty() && !is_name(e.name)) {
      o.error("name", "'" + e.name + "': use lowercase letters, digits, '.', '_' and '-'");
    }
    e.product = o.string("product").value_or("");
    if (!e.product.empty() && !product_known(e.product)) {
      std::string known;
      for (const auto& p : builtin_products())
        known += (known.empty() ? "" : ", ") + p.name;
      for (const auto& p : c.products)
        known += ", " + p.name;
      o.error("product", "'" + e.product + "' is not a product (known: " + known +
                             "; a new one goes in \"products\")");
    }
    path(o, "flox_env", e.flox_env);
    if (e.flox_env.empty() && !o.get("flox_env", Need::kOptional)) {
      o.error("flox_env", "is needed: the environment's git checkout");
    }
    std::filesystem::path file;
    path(o, "matrix", file);
    if (!file.empty()) e.matrix = file;
    file.clear();
    path(o, "templates", file);
    if (!file.empty()) e.templates = file;
    e.nixpkgs = o.string("nixpkgs", Need::kOptional);
    if (const json* a = o.get("axes", Need::kOptional)) axes(*a, where + ".axes", e.axes);
    e.org = o.string("org", Need::kOptional);
    e.torch_from = o.string("torch_from", Need::kOptional);
    o.refuse_unknown_keys();
    c.environments.push_back(std::move(e));
  }
  // Across them: names and checkouts are one each; a pairing names a PyTorch environment.
  for (size_t i = 0; i < c.environments.size(); ++i) {
    const auto& e = c.environments[i];
    const std::string where = "environments[" + std::to_string(i) + "]";
    for (size_t j = 0; j < i; ++j) {
      const auto& other = c.environments[j];
      if (!e.name.empty() && other.name == e.name) {
        errors_.push_back(where + ".name: '" + e.name + "' is also environments[" +
                          std::to_string(j) + "]'s; each environment needs a name of its own");
      }
      if (!e.flox_env.empty() && other.flox_env == e.flox_env) {
        errors_.push_back(where + ".flox_env: " + e.flox_env.string() + " is also " + other.name +
                          "'s checkout; each environment needs a checkout of its "
                          "own (a clone per branch)");
      }
    }
    const std::string* needs = product_known(e.product);
    if (!e.torch_from) continue;
    const EnvironmentConfig* from = nullptr;
    for (const auto& other : c.environments)
      if (other.name == *e.torch_from) from = &other;
    if (!from) {
      errors_.push_back(where + ".torch_from: '" + *e.torch_from +
                        "' names no environment of this config");
    } else if (from == &e) {
      errors_.push_back(where + ".torch_from: an environment cannot take its torch from itself");
    } else if (needs && needs->empty()) {
      errors_.push_back(where + ".torch_from: the product '" + e.product +
                        "' takes its torch from no other product; remove torch_from");
    } else if (needs && from->product != *needs) {
      errors_.push_back(where + ".torch_from: '" + from->name + "' builds " + from->product +
                        ", but " + e.product + " takes its torch from " + *needs);
    }
  }
}

}  // namespace tvd::config_sections
