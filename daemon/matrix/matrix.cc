#include "daemon/matrix/matrix.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "config/embedded.h"
#include "daemon/base/json_object.h"
#include "daemon/base/nearest.h"

namespace tvd {

using Need = JsonObject::Need;
using nlohmann::json;

std::string CudaVersion::token() const {
  return std::to_string(major) + "_" + std::to_string(minor);
}

bool operator<(const CudaVersion& a, const CudaVersion& b) {
  return std::tie(a.major, a.minor) < std::tie(b.major, b.minor);
}

std::string NixpkgsPin::url() const {
  return "https://github.com/NixOS/nixpkgs/archive/" + commit + ".tar.gz";
}

bool NixpkgsPin::has_cuda(std::string_view version) const {
  return std::find(cuda.begin(), cuda.end(), version) != cuda.end();
}

// PyTorch's cmake/Modules_CUDA_fix/upstream/FindCUDA/select_compute_arch.cmake: a "+PTX" suffix
// is stripped, then the name must be MAJOR.MINOR (with "a" or "f" since CUDA 12) or one of the
// architecture names it lists; anything else is "Unknown CUDA Architecture Name ... in
// CUDA_SELECT_NVCC_ARCH_FLAGS" at the configure step.
std::string cuda_arch_problem(std::string_view target) {
  std::string_view t = target;
  constexpr std::string_view kPtx = "+PTX";
  if (t.size() > kPtx.size() && t.substr(t.size() - kPtx.size()) == kPtx) {
    t.remove_suffix(kPtx.size());
  }
  static const std::set<std::string, std::less<>> kNames = {
      "Kepler+Tegra", "Kepler+Tesla", "Kepler", "Maxwell+Tegra", "Maxwell", "Pascal",
      "Volta",        "Turing",       "Ampere", "Ada",           "Hopper"};
  if (kNames.count(t)) return "";
  auto digits = [](std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  auto dot = t.find('.');
  if (dot != std::string_view::npos) {
    std::string_view major = t.substr(0, dot), minor = t.substr(dot + 1);
    if (!minor.empty() && (minor.back() == 'a' || minor.back() == 'f')) minor.remove_suffix(1);
    if (digits(major) && digits(minor)) return "";
  }
  std::string msg = "PyTorch's CMake rejects \"" + std::string(target) +
                    "\" (Unknown CUDA Architecture Name " + std::string(target) +
                    " in CUDA_SELECT_NVCC_ARCH_FLAGS, at the configure step)";
  if (t.rfind("sm_", 0) == 0 && t.size() >= 5 && digits(t.substr(3))) {
    std::string num(t.substr(3));
    msg += "; write \"" + num.substr(0, num.size() - 1) + "." + num.back() + "\"";
  } else {
    msg += "; write a dotted capability such as \"8.9\"";
  }
  return msg;
}

std::optional<std::pair<int, int>> parse_cuda_version(std::string_view text) {
  auto sep = text.find_first_of("._");
  if (sep == std::string_view::npos || sep == 0 || sep + 1 == text.size()) return std::nullopt;
  int major = 0, minor = 0;
  auto a = text.substr(0, sep), b = text.substr(sep + 1);
  auto [pa, ea] = std::from_chars(a.data(), a.data() + a.size(), major);
  auto [pb, eb] = std::from_chars(b.data(), b.data() + b.size(), minor);
  if (ea != std::errc() || eb != std::errc() || pa != a.data() + a.size() ||
      pb != b.data() + b.size()) {
    return std::nullopt;
  }
  return std::pair{major, minor};
}

std::string Variant::core() const {
  return (is_gpu() ? gpu->name : std::string("cpu")) + "-" + isa->token;
}

std::string Variant::qualified() const {
  if (!is_gpu()) return python->name + "-cpu-" + isa->token;
  return python->name + "-cuda" + cuda->token() + "-" + gpu->name + "-" + isa->token;
}

std::string Variant::package() const {
  return "torchvision-" + qualified();
}

namespace {

// Names that end up in package and file names: no dots (Nix reads them as attribute paths), no
// dashes (they separate the name's parts), nothing a shell or a glob would interpret.
bool is_name_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

const std::set<std::string, std::less<>> kPlatforms = {"x86_64-linux", "aarch64-linux"};

template <class T, class F>
const T* find_by(const std::vector<T>& items, F&& match) {
  auto it = std::find_if(items.begin(), items.end(), match);
  return it == items.end() ? nullptr : &*it;
}

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

  each(
      "nixpkgs_pins",
      [&](JsonObject& o) {
        NixpkgsPin p;
        p.name = o.string("name").value_or("");
        p.commit = o.string("commit").value_or("");
        p.sha256 = o.string("sha256", Need::kOptional).value_or("");
        p.cuda = o.strings("cuda").value_or(std::vector<std::string>{});
        p.source = o.string("source").value_or("");
        bool hex =
            p.commit.size() == 40 && std::all_of(p.commit.begin(), p.commit.end(), [](char c) {
              return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            });
        if (!p.commit.empty() && !hex)
          o.error("commit", "expected a nixpkgs commit: 40 hex digits");
        for (const auto& v : p.cuda) {
          if (!parse_cuda_version(v)) o.error("cuda", "\"" + v + "\" is not MAJOR.MINOR");
        }
        m.pins_.push_back(std::move(p));
      },
      Need::kOptional);

  each("python", [&](JsonObject& o) {
    PythonVersion p;
    p.name = o.string("name").value_or("");
    p.packages = o.string("packages").value_or("");
    p.version = o.string("version").value_or("");
    if (!p.name.empty() && !is_name_token(p.name)) o.error("name", "must be like python313");
    m.pythons_.push_back(std::move(p));
  });

  each("cuda", [&](JsonObject& o) {
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
    m.cudas_.push_back(std::move(c));
  });

  each("gpu_archs", [&](JsonObject& o) {
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
    m.gpu_archs_.push_back(std::move(g));
  });

  each("cpu_isas", [&](JsonObject& o) {
    CpuIsa i;
    i.name = o.string("name").value_or("");
    i.token = o.string("token").value_or("");
    i.description = o.string("description").value_or("");
    i.flags = o.strings("flags").value_or(std::vector<std::string>{});
    i.platform = o.string("platform").value_or("");
    i.hardware = o.string("hardware").value_or("");
    i.torch = read_tweaks(o, errors);
    if (!i.token.empty() && !is_name_token(i.token)) {
      o.error("token",
              "\"" + i.token +
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
    m.cpu_isas_.push_back(std::move(i));
  });

  if (!errors.empty()) {
    // Lookups below need complete tables.
  } else {
    each("constraints", [&](JsonObject& o) {
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
      if (c.min_cuda && !parse_cuda_version(*c.min_cuda))
        o.error("min_cuda", "expected MAJOR.MINOR");
      for (const auto& p : c.platforms) {
        if (!kPlatforms.count(p)) o.error("platforms", "unknown platform \"" + p + "\"");
      }
      if (!c.min_cuda && c.platforms.empty() && c.isas.empty()) {
        o.error("", "a constraint needs min_cuda, platforms or isas");
      }
      m.constraints_.push_back(std::move(c));
    });
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
  unique("nixpkgs_pins", m.pins_, [](const NixpkgsPin& p) { return std::vector{p.name}; });

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

const NixpkgsPin* Matrix::find_pin(std::string_view name) const {
  return find_by(pins_, [&](const NixpkgsPin& p) { return p.name == name; });
}

Status Matrix::set_nixpkgs(std::string_view name) {
  if (name == "flox") {
    nixpkgs_ = nullptr;
    return {};
  }
  const NixpkgsPin* pin = find_pin(name);
  if (!pin) {
    std::vector<std::string> names = {"flox"};
    for (const auto& p : pins_)
      names.push_back(p.name);
    std::string msg = "\"" + std::string(name) + "\" is not a pin in nixpkgs_pins";
    if (auto near = nearest(name, names); !near.empty())
      msg += " (did you mean " + join_or(near) + "?)";
    return fail(ErrorKind::kBadInput, msg,
                "name a pin of matrix.json's nixpkgs_pins, or \"flox\" for flox's own nixpkgs");
  }
  nixpkgs_ = pin;
  return {};
}

const PythonVersion* Matrix::find_python(std::string_view name) const {
  return find_by(pythons_, [&](const PythonVersion& p) { return p.name == name; });
}

const CudaVersion* Matrix::find_cuda(std::string_view version) const {
  auto parsed = parse_cuda_version(version);
  if (!parsed) return nullptr;
  return find_by(cudas_, [&](const CudaVersion& c) {
    return c.major == parsed->first && c.minor == parsed->second;
  });
}

const GpuArch* Matrix::find_gpu_arch(std::string_view name) const {
  return find_by(gpu_archs_, [&](const GpuArch& g) { return g.name == name; });
}

const CpuIsa* Matrix::find_isa(std::string_view name_or_token) const {
  return find_by(cpu_isas_, [&](const CpuIsa& i) {
    return i.name == name_or_token || i.token == name_or_token;
  });
}

Status Matrix::set_axes(Axes axes) {
  std::vector<std::string> problems;
  auto check = [&](std::string_view what, std::vector<std::string>& names, auto&& find,
                   auto&& all_names) {
    std::set<std::string> seen;
    for (auto& n : names) {
      if (!find(n)) {
        std::string p = std::string(what) + ": \"" + n + "\" is not in the table";
        if (auto near = nearest(n, all_names()); !near.empty()) {
          p += " (did you mean " + join_or(near) + "?)";
        }
        problems.push_back(p);
      } else if (!seen.insert(n).second) {
        problems.push_back(std::string(what) + ": \"" + n + "\" is listed twice");
      }
    }
  };
  auto names_of = [](const auto& items, auto&& get) {
    return [&items, get] {
      std::vector<std::string> out;
      for (const auto& i : items)
        out.push_back(get(i));
      return out;
    };
  };
  check(
      "python", axes.python, [&](const std::string& n) { return find_python(n); },
      names_of(pythons_, [](const PythonVersion& p) { return p.name; }));
  check(
      "cuda", axes.cuda, [&](const std::string& n) { return find_cuda(n); },
      names_of(cudas_, [](const CudaVersion& c) { return c.version; }));
  check(
      "gpu_archs", axes.gpu_archs, [&](const std::string& n) { return find_gpu_arch(n); },
      names_of(gpu_archs_, [](const GpuArch& g) { return g.name; }));
  check(
      "cpu_isas", axes.cpu_isas, [&](const std::string& n) { return find_isa(n); },
      names_of(cpu_isas_, [](const CpuIsa& i) { return i.token; }));
  if (axes.python.empty()) problems.push_back("python: the matrix needs at least one Python");
  if (axes.cpu_isas.empty()) problems.push_back("cpu_isas: the matrix needs at least one ISA");
  if (!problems.empty()) {
    std::string msg = problems.front();
    for (size_t i = 1; i < problems.size(); ++i)
      msg += "; " + problems[i];
    return fail(ErrorKind::kBadInput, msg);
  }
  axes_ = std::move(axes);
  return {};
}

std::vector<Variant> Matrix::cells() const {
  std::vector<Variant> out;
  for (const auto& py : axes_.python) {
    for (const auto& cu : axes_.cuda) {
      for (const auto& arch : axes_.gpu_archs) {
        for (const auto& isa : axes_.cpu_isas) {
          out.push_back(
              variant(find_python(py), find_cuda(cu), find_gpu_arch(arch), find_isa(isa)));
        }
      }
    }
  }
  if (axes_.cpu_only) {
    for (const auto& py : axes_.python) {
      for (const auto& isa : axes_.cpu_isas) {
        out.push_back(variant(find_python(py), nullptr, nullptr, find_isa(isa)));
      }
    }
  }
  return out;
}

std::vector<std::string> Matrix::exclusions(const Variant& v) const {
  std::vector<std::string> out;
  if (!v.is_gpu()) return out;
  if (v.nixpkgs) {
    if (!v.nixpkgs->has_cuda(v.cuda->version)) {
      std::string others;
      for (const auto& p : pins_) {
        if (p.has_cuda(v.cuda->version)) others += (others.empty() ? "" : ", ") + p.name;
      }
      out.push_back("CUDA " + v.cuda->version + " is not in the nixpkgs pin " + v.nixpkgs->name +
                    " (" + v.nixpkgs->commit.substr(0, 12) + ")" +
                    (others.empty() ? std::string() : "; pins that have it: " + others));
    }
  } else if (!v.cuda->available) {
    out.push_back("CUDA " + v.cuda->version + " is not available: " + v.cuda->unavailable_reason);
  }
  for (const auto& c : constraints_) {
    if (c.gpu_arch != v.gpu->name) continue;
    if (c.min_cuda) {
      const CudaVersion* min = find_cuda(*c.min_cuda);
      auto parsed = parse_cuda_version(*c.min_cuda);
      bool too_old = min ? *v.cuda < *min : std::pair{v.cuda->major, v.cuda->minor} < *parsed;
      if (too_old) {
        out.push_back(v.gpu->name + " needs CUDA >= " + *c.min_cuda + "; this variant has " +
                      v.cuda->version + " (" + c.reason + ")");
      }
    }
    if (!c.isas.empty() && std::find(c.isas.begin(), c.isas.end(), v.isa->token) == c.isas.end()) {
      std::string allowed;
      for (const auto& i : c.isas)
        allowed += (allowed.empty() ? "" : ", ") + i;
      out.push_back(v.gpu->name + " builds only with " + allowed + " (" + c.reason + ")");
    }
    if (!c.platforms.empty() &&
        std::find(c.platforms.begin(), c.platforms.end(), v.isa->platform) == c.platforms.end()) {
      std::string allowed;
      for (const auto& p : c.platforms)
        allowed += (allowed.empty() ? "" : ", ") + p;
      out.push_back(v.gpu->name + " builds only for " + allowed + "; " + v.isa->token + " is a " +
                    v.isa->platform + " ISA (" + c.reason + ")");
    }
  }
  return out;
}

}  // namespace tvd
