// Reading matrix.json: every table, the nixpkgs pins, the constraints and the axes, each problem
// reported with its JSON path.
#include <algorithm>
#include <charconv>
#include <set>

#include "config/embedded.h"
#include "daemon/base/json_object.h"
#include "daemon/base/nearest.h"
#include "daemon/matrix/matrix.h"

namespace tvd {

using Need = JsonObject::Need;
using nlohmann::json;

namespace {

// Names that end up in package and file names: no dots (Nix reads them as attribute paths), no
// dashes (they separate the name's parts), nothing a shell or a glob would interpret.
bool is_name_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

const std::set<std::string, std::less<>> kPlatforms = {"x86_64-linux", "aarch64-linux"};

std::map<std::string, std::string> read_by_platform(JsonObject& obj, std::string_view key,
                                                    std::vector<std::string>& errors) {
  std::map<std::string, std::string> out;
  const json* v = obj.get(key);
  if (!v) return out;
  JsonObject inner(*v, obj.path(key), errors);
  for (const auto& platform : kPlatforms) {
    if (auto s = inner.string(platform)) out[platform] = *s;
  }
  inner.refuse_unknown_keys();
  return out;
}

TorchTweaks read_tweaks(JsonObject& obj, std::vector<std::string>& errors) {
  TorchTweaks t;
  const nlohmann::json* v = obj.get("torch", Need::kOptional);
  if (!v) return t;
  JsonObject inner(*v, obj.path("torch"), errors);
  t.exports = inner.strings("exports", Need::kOptional).value_or(std::vector<std::string>{});
  t.cmake_flags =
      inner.strings("cmake_flags", Need::kOptional).value_or(std::vector<std::string>{});
  t.reason = inner.string("reason").value_or("");
  for (const auto& e : t.exports) {
    auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0 || e.find_first_of("\"\\$'` ") != std::string::npos) {
      inner.error("exports", "\"" + e + "\" is not NAME=value (no quotes, spaces or $)");
    }
  }
  for (const auto& f : t.cmake_flags) {
    if (f.rfind("-D", 0) != 0 || f.find_first_of("\"\\$ ") != std::string::npos) {
      inner.error("cmake_flags", "\"" + f + "\" is not -DNAME=value (no quotes, spaces or $)");
    }
  }
  inner.refuse_unknown_keys();
  return t;
}

NixpkgsPin read_pin(JsonObject& o) {
  NixpkgsPin p;
  p.name = o.string("name").value_or("");
  p.commit = o.string("commit").value_or("");
  p.sha256 = o.string("sha256", Need::kOptional).value_or("");
  p.cuda = o.strings("cuda").value_or(std::vector<std::string>{});
  p.source = o.string("source").value_or("");
  if (const auto* aliases = o.get("cuda_aliases", Need::kOptional);
      aliases && !aliases->is_null()) {
    if (!aliases->is_object()) {
      o.error("cuda_aliases", "expected an object: {\"cudaPackages_13\": \"13.0\"}");
    } else {
      for (const auto& [attr, version] : aliases->items()) {
        if (!version.is_string() || !parse_cuda_version(version.get<std::string>())) {
          o.error("cuda_aliases", "\"" + attr + "\" must name a CUDA version, MAJOR.MINOR");
        } else {
          p.cuda_aliases[attr] = version.get<std::string>();
        }
      }
    }
    p.cuda_aliases_source = o.string("cuda_aliases_source").value_or("");
  }
  bool hex = p.commit.size() == 40 && std::all_of(p.commit.begin(), p.commit.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
             });
  if (!p.commit.empty() && !hex) o.error("commit", "expected a nixpkgs commit: 40 hex digits");
  for (const auto& v : p.cuda) {
    if (!parse_cuda_version(v)) o.error("cuda", "\"" + v + "\" is not MAJOR.MINOR");
  }
  return p;
}

PythonVersion read_python(JsonObject& o) {
  PythonVersion p;
  p.name = o.string("name").value_or("");
  p.packages = o.string("packages").value_or("");
  p.version = o.string("version").value_or("");
  if (!p.name.empty() && !is_name_token(p.name)) o.error("name", "must be like python313");
  return p;
}

CudaVersion read_cuda(JsonObject& o) {
  CudaVersion c;
  c.version = o.string("version").value_or("");
  if (auto parsed = parse_cuda_version(c.version);
      parsed && c.version.find('.') != c.version.npos) {
    std::tie(c.major, c.minor) = *parsed;
  } else if (!c.version.empty()) {
    o.error("version", "expected MAJOR.MINOR, such as 12.8");
  }
  c.packages = o.string("packages").value_or("");
  // The overlay selects this attribute for the whole package set; an attribute that names
  // another version (or none) would build with a CUDA the package name does not say.
  if (!c.packages.empty() && c.major > 0 &&
      c.packages != "cudaPackages_" + std::to_string(c.major) + "_" + std::to_string(c.minor)) {
    o.error("packages", "\"" + c.packages + "\" is not nixpkgs' attribute for CUDA " + c.version +
                            " (cudaPackages_" + std::to_string(c.major) + "_" +
                            std::to_string(c.minor) + ")");
  }
  c.available = o.boolean("available").value_or(true);
  c.allow_broken = o.string("allow_broken", Need::kOptional).value_or("");
  c.unavailable_reason =
      o.string("reason", c.available ? Need::kOptional : Need::kRequired).value_or("");
  return c;
}

GpuArch read_gpu_arch(JsonObject& o, std::vector<std::string>& errors) {
  GpuArch g;
  g.name = o.string("name").value_or("");
  g.upper = o.string("upper").value_or("");
  g.decimal = o.string("decimal").value_or("");
  g.num = o.string("num").value_or("");
  g.description = o.string("description").value_or("");
  g.hardware = o.string("hardware").value_or("");
  g.cpu_hardware = read_by_platform(o, "cpu_hardware", errors);
  g.choose_this_if = read_by_platform(o, "choose_this_if", errors);
  g.torch = read_tweaks(o, errors);
  if (!g.decimal.empty()) {
    if (auto problem = cuda_arch_problem(g.decimal); !problem.empty()) {
      o.error("decimal", problem + ": it is what recipes pass as gpuTargets");
    }
  }
  if (!g.name.empty() && (!is_name_token(g.name) || g.name.rfind("sm", 0) != 0)) {
    o.error("name", "must be like sm89");
  }
  return g;
}

CpuIsa read_cpu_isa(JsonObject& o, std::vector<std::string>& errors) {
  CpuIsa i;
  i.name = o.string("name").value_or("");
  i.token = o.string("token").value_or("");
  i.description = o.string("description").value_or("");
  i.flags = o.strings("flags").value_or(std::vector<std::string>{});
  i.platform = o.string("platform").value_or("");
  i.hardware = o.string("hardware").value_or("");
  i.torch = read_tweaks(o, errors);
  if (!i.token.empty() && !is_name_token(i.token)) {
    o.error("token", "\"" + i.token +
                         "\" may hold only a-z, 0-9 and _ (Nix reads a dot as an attribute path)");
  }
  if (!i.platform.empty() && !kPlatforms.count(i.platform)) {
    o.error("platform", "expected x86_64-linux or aarch64-linux");
  }
  for (const auto& flag : i.flags) {
    if (flag.find_first_of("\"\\$") != std::string::npos) {
      o.error("flags", "\"" + flag + "\" has a character that would break the Nix string");
    }
  }
  return i;
}

// A constraint names rows of `m`'s tables (complete by then); an ISA is kept by its token.
Constraint read_constraint(JsonObject& o, const Matrix& m) {
  Constraint c;
  c.gpu_arch = o.string("gpu_arch").value_or("");
  c.min_cuda = o.string("min_cuda", Need::kOptional);
  c.platforms = o.strings("platforms", Need::kOptional).value_or(std::vector<std::string>{});
  c.isas = o.strings("isas", Need::kOptional).value_or(std::vector<std::string>{});
  c.reason = o.string("reason").value_or("");
  for (auto& isa : c.isas) {
    if (const CpuIsa* found = m.find_isa(isa)) {
      isa = found->token;
    } else {
      o.error("isas", "no such ISA \"" + isa + "\"");
    }
  }
  if (!m.find_gpu_arch(c.gpu_arch)) o.error("gpu_arch", "no such GPU architecture");
  if (c.min_cuda && !parse_cuda_version(*c.min_cuda)) o.error("min_cuda", "expected MAJOR.MINOR");
  for (const auto& p : c.platforms) {
    if (!kPlatforms.count(p)) o.error("platforms", "unknown platform \"" + p + "\"");
  }
  if (!c.min_cuda && c.platforms.empty() && c.isas.empty()) {
    o.error("", "a constraint needs min_cuda, platforms or isas");
  }
  return c;
}

}  // namespace

Result<Matrix> Matrix::parse(std::string_view json_text, std::string_view origin) {
  json doc;
  try {
    doc = json::parse(json_text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    return fail(ErrorKind::kBadInput, std::string(origin) + ": not valid JSON: " + e.what());
  }

  Matrix m;
  std::vector<std::string> errors;
  JsonObject root(doc, "", errors);
  if (auto schema = root.get("schema"); schema && (!schema->is_number_integer() || *schema != 2)) {
    root.error("schema",
               "this tvd reads schema 2 (schema 1 had the seed's GPU \"pattern\" and "
               "\"nixpkgs_default\"; recipes now pass dotted gpuTargets and select CUDA by an "
               "overlay: start again from the shipped one, /usr/share/tvd/matrix.json)");
  }

  auto each = [&](std::string_view key, auto&& read_one, Need need = Need::kRequired) {
    const json* list = root.get(key, need);
    if (!list) return;
    if (!list->is_array() || list->empty()) {
      root.error(key, "expected a non-empty list");
      return;
    }
    for (size_t i = 0; i < list->size(); ++i) {
      JsonObject item((*list)[i], std::string(key) + "[" + std::to_string(i) + "]", errors);
      read_one(item);
      item.refuse_unknown_keys();
    }
  };

  // The tables, each row by its reader above.
  each(
      "nixpkgs_pins", [&](JsonObject& o) { m.pins_->push_back(read_pin(o)); }, Need::kOptional);
  each("python", [&](JsonObject& o) { m.pythons_.push_back(read_python(o)); });
  each("cuda", [&](JsonObject& o) { m.cudas_.push_back(read_cuda(o)); });
  each("gpu_archs", [&](JsonObject& o) { m.gpu_archs_.push_back(read_gpu_arch(o, errors)); });
  each("cpu_isas", [&](JsonObject& o) { m.cpu_isas_.push_back(read_cpu_isa(o, errors)); });
  // Constraints name rows of the tables: read once the tables are complete.
  if (errors.empty()) {
    each("constraints", [&](JsonObject& o) { m.constraints_.push_back(read_constraint(o, m)); });
  }

  // Names must be unique, or a spec could mean two things.
  auto unique = [&](std::string_view what, auto& items, auto&& name_of) {
    std::set<std::string> seen;
    for (const auto& item : items) {
      for (const std::string& n : name_of(item)) {
        if (!n.empty() && !seen.insert(n).second) {
          errors.push_back(std::string(what) + ": \"" + n + "\" appears twice");
        }
      }
    }
  };
  unique("python", m.pythons_, [](const PythonVersion& p) { return std::vector{p.name}; });
  unique("cuda", m.cudas_, [](const CudaVersion& c) { return std::vector{c.version}; });
  unique("gpu_archs", m.gpu_archs_, [](const GpuArch& g) { return std::vector{g.name}; });
  unique("cpu_isas", m.cpu_isas_, [](const CpuIsa& i) {
    return i.name == i.token ? std::vector{i.name} : std::vector{i.name, i.token};
  });
  unique("nixpkgs_pins", *m.pins_, [](const NixpkgsPin& p) { return std::vector{p.name}; });

  if (const json* d = root.get("defaults"); d && errors.empty()) {
    JsonObject defaults(*d, "defaults", errors);
    if (auto p = defaults.string("python")) {
      m.default_python_ = m.find_python(*p);
      if (!m.default_python_) defaults.error("python", "\"" + *p + "\" is not in the python table");
    }
    if (auto c = defaults.string("cuda")) {
      m.default_cuda_ = m.find_cuda(*c);
      if (!m.default_cuda_) defaults.error("cuda", "\"" + *c + "\" is not in the cuda table");
    }
    defaults.refuse_unknown_keys();
  }

  if (const json* n = root.get("nixpkgs", Need::kOptional); n && errors.empty()) {
    if (!n->is_string()) {
      root.error("nixpkgs", "expected a pin's name or \"flox\"");
    } else if (auto st = m.set_nixpkgs(n->get<std::string>()); !st) {
      root.error("nixpkgs", st.error().message);
    }
  }

  Axes axes;
  if (const json* a = root.get("axes")) {
    JsonObject ao(*a, "axes", errors);
    axes.python = ao.strings("python").value_or(std::vector<std::string>{});
    axes.cuda = ao.strings("cuda").value_or(std::vector<std::string>{});
    axes.gpu_archs = ao.strings("gpu_archs").value_or(std::vector<std::string>{});
    axes.cpu_isas = ao.strings("cpu_isas").value_or(std::vector<std::string>{});
    axes.cpu_only = ao.boolean("cpu_only").value_or(true);
    ao.refuse_unknown_keys();
  }
  root.refuse_unknown_keys();

  if (errors.empty()) {
    if (auto st = m.set_axes(std::move(axes)); !st) errors.push_back("axes: " + st.error().message);
  }
  if (!errors.empty()) {
    return tl::unexpected(problems_error(
        origin, errors,
        "fix the file, or remove \"matrix\" from the config to use the built-in one"));
  }
  return m;
}

Result<Matrix> Matrix::embedded() {
  return parse(embedded::matrix_json(), "built-in matrix.json");
}

}  // namespace tvd
