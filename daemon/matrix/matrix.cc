#include "daemon/matrix/matrix.h"

#include <algorithm>
#include <charconv>
#include <regex>
#include <set>

#include "daemon/base/nearest.h"

namespace tvd {

const std::vector<Product>& builtin_products() {
  static const std::vector<Product> kBuiltIn = {
      {"pytorch", "pytorch-", "PyTorch", ""},
      {"torchvision", "torchvision-", "TorchVision", "pytorch"},
  };
  return kBuiltIn;
}

const Product* find_builtin_product(std::string_view name) {
  for (const auto& p : builtin_products())
    if (p.name == name) return &p;
  return nullptr;
}

std::string CudaVersion::token() const {
  return std::to_string(major) + "_" + std::to_string(minor);
}

bool operator<(const CudaVersion& a, const CudaVersion& b) {
  return std::tie(a.major, a.minor) < std::tie(b.major, b.minor);
}

std::string NixpkgsPin::url() const {
  return "https://github.com/NixOS/nixpkgs/archive/" + commit + ".tar.gz";
}

std::optional<std::string> cuda_selected(std::string_view attr, std::string_view commit,
                                         const std::vector<NixpkgsPin>* pins) {
  static const std::regex kVersioned(R"re(cudaPackages_([0-9]+)_([0-9]+))re");
  std::cmatch m;
  if (std::regex_match(attr.begin(), attr.end(), m, kVersioned)) {
    return m[1].str() + "." + m[2].str();
  }
  if (!pins) return std::nullopt;
  for (const auto& p : *pins) {
    if (p.commit != commit) continue;
    if (auto it = p.cuda_aliases.find(std::string(attr)); it != p.cuda_aliases.end()) {
      return it->second;
    }
  }
  return std::nullopt;
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
  return product->prefix + qualified();
}

namespace {

template <class T, class F>
const T* find_by(const std::vector<T>& items, F&& match) {
  auto it = std::find_if(items.begin(), items.end(), match);
  return it == items.end() ? nullptr : &*it;
}

}  // namespace

const NixpkgsPin* Matrix::find_pin(std::string_view name) const {
  return find_by(*pins_, [&](const NixpkgsPin& p) { return p.name == name; });
}

Status Matrix::set_nixpkgs(std::string_view name) {
  if (name == "flox") {
    nixpkgs_ = nullptr;
    return {};
  }
  const NixpkgsPin* pin = find_pin(name);
  if (!pin) {
    std::vector<std::string> names = {"flox"};
    for (const auto& p : *pins_)
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
      for (const auto& p : *pins_) {
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

std::optional<Variant> Matrix::counterpart(const Variant& v) const {
  const PythonVersion* py = find_python(v.python->name);
  const CpuIsa* isa = find_isa(v.isa->token);
  if (!py || !isa) return std::nullopt;
  if (!v.is_gpu()) return variant(py, nullptr, nullptr, isa);
  const CudaVersion* cuda = find_cuda(v.cuda->version);
  const GpuArch* gpu = find_gpu_arch(v.gpu->name);
  if (!cuda || !gpu) return std::nullopt;
  return variant(py, cuda, gpu, isa);
}

}  // namespace tvd
