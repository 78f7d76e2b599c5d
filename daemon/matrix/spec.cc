#include "daemon/matrix/spec.h"

#include <fnmatch.h>

#include <algorithm>
#include <set>

#include "daemon/base/nearest.h"

namespace tvd {
namespace {

// A spec as names write it, without the product's prefix.
std::string normalize(std::string spec, const Product& product) {
  std::replace(spec.begin(), spec.end(), '.', '_');
  if (spec.rfind(product.prefix, 0) == 0) spec.erase(0, product.prefix.size());
  return spec;
}

bool is_glob(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

template <class T, class F>
std::vector<std::string> names(const std::vector<T>& items, F&& get) {
  std::vector<std::string> out;
  for (const auto& i : items)
    out.push_back(get(i));
  return out;
}

// Every way a configured cell may be written, for suggestions.
std::vector<std::string> spellings(const Matrix& m) {
  std::vector<std::string> out;
  for (const auto& v : m.cells()) {
    bool defaults = v.python == &m.default_python() && (!v.is_gpu() || v.cuda == &m.default_cuda());
    if (defaults) out.push_back(v.core());
    out.push_back(v.qualified());
  }
  return out;
}

// "unknown CPU ISA 'avx512vnn' in 'sm89-avx512vnn': did you mean sm89-avx512vnni?": the
// suggestion is the whole spec with the misspelt part replaced, ready to paste.
std::string unknown(std::string_view what, const std::vector<std::string>& parts, size_t index,
                    std::string_view spec, const std::vector<std::string>& known) {
  const std::string& value = parts[index];
  std::string msg =
      "unknown " + std::string(what) + " '" + value + "' in '" + std::string(spec) + "'";
  auto near = nearest(value, known);
  if (near.empty()) return msg + " (known: " + join_or(known) + ")";
  std::vector<std::string> fixed;
  for (const auto& candidate : near) {
    std::string whole;
    for (size_t i = 0; i < parts.size(); ++i) {
      whole += (i ? "-" : "") + (i == index ? candidate : parts[i]);
    }
    fixed.push_back(whole);
  }
  return msg + ": did you mean " + join_or(fixed) + "?";
}

// An exact spec: [pythonNNN-][cudaX_Y-](smNN|cpu)-ISA.
Result<Variant> parse_exact(const Matrix& m, const std::string& original) {
  const std::string spec = normalize(original, m.product());
  const auto parts = split(spec, '-');
  Variant v = m.variant(&m.default_python(), &m.default_cuda(), nullptr, nullptr);
  size_t i = 0;
  bool cuda_named = false;
  auto bad = [&](std::string msg) { return fail(ErrorKind::kBadInput, std::move(msg)); };

  if (i < parts.size() && parts[i].rfind("python", 0) == 0) {
    v.python = m.find_python(parts[i]);
    if (!v.python) {
      return bad(unknown("Python", parts, i, original,
                         names(m.pythons(), [](const PythonVersion& p) { return p.name; })));
    }
    ++i;
  }
  if (i < parts.size() && parts[i].rfind("cuda", 0) == 0) {
    v.cuda = m.find_cuda(std::string_view(parts[i]).substr(4));
    if (!v.cuda) {
      return bad(
          unknown("CUDA version", parts, i, original,
                  names(m.cudas(), [](const CudaVersion& c) { return "cuda" + c.token(); })));
    }
    cuda_named = true;
    ++i;
  }
  if (parts.size() != i + 2) {
    std::string msg = "unknown spec '" + original + "'";
    if (auto near = nearest(spec, spellings(m)); !near.empty()) {
      msg += ": did you mean " + join_or(near) + "?";
    }
    return fail(ErrorKind::kBadInput, msg);
  }
  const std::string& target = parts[i];
  const std::string& isa = parts[i + 1];
  if (target == "cpu") {
    if (cuda_named) return bad("'" + original + "' is CPU-only and cannot name a CUDA version");
    v.cuda = nullptr;
  } else {
    v.gpu = m.find_gpu_arch(target);
    if (!v.gpu) {
      auto known = names(m.gpu_archs(), [](const GpuArch& g) { return g.name; });
      known.push_back("cpu");
      return bad(unknown("GPU architecture", parts, i, original, known));
    }
  }
  v.isa = m.find_isa(isa);
  if (!v.isa) {
    return bad(unknown("CPU ISA", parts, i + 1, original,
                       names(m.cpu_isas(), [](const CpuIsa& c) { return c.token; })));
  }
  return v;
}

}  // namespace

Result<std::vector<Selection>> resolve_specs(const Matrix& matrix,
                                             const std::vector<std::string>& specs, bool force) {
  std::vector<Selection> out;
  std::set<std::string> seen;
  std::vector<std::string> problems;
  const auto cells = matrix.cells();

  auto add = [&](const Variant& v, bool named_exactly, const std::string& spec) {
    if (!seen.insert(v.package()).second) return;
    Selection s{v, matrix.exclusions(v), true};
    if (!s.exclusions.empty() && !force) {
      if (named_exactly) {
        std::string why;
        for (const auto& e : s.exclusions)
          why += (why.empty() ? "" : "; ") + e;
        problems.push_back("'" + spec + "' (" + v.package() + ") is excluded: " + why);
        return;
      }
      s.chosen = false;
    }
    out.push_back(std::move(s));
  };

  if (specs.empty()) {
    return fail(ErrorKind::kBadInput, "no variant named",
                "name one or more specs (sm89-avx2, cpu-avx2, 'sm90-*') or use --all");
  }
  for (const auto& spec : specs) {
    if (spec == "all") {
      for (const auto& v : cells)
        add(v, false, spec);
    } else if (is_glob(spec)) {
      const std::string pattern = normalize(spec, matrix.product());
      size_t matched = 0;
      for (const auto& v : cells) {
        for (const auto& form : {v.core(), v.qualified()}) {
          if (::fnmatch(pattern.c_str(), form.c_str(), 0) == 0) {
            add(v, false, spec);
            ++matched;
            break;
          }
        }
      }
      if (matched == 0) {
        problems.push_back("'" + spec +
                           "' matches no variant of the matrix ('tvd matrix' lists them)");
      }
    } else if (auto v = parse_exact(matrix, spec)) {
      add(*v, true, spec);
    } else {
      problems.push_back(v.error().message);
    }
  }
  if (!problems.empty()) {
    std::string msg = problems.front();
    for (size_t i = 1; i < problems.size(); ++i)
      msg += "\n" + problems[i];
    bool excluded_only = std::all_of(problems.begin(), problems.end(), [](const std::string& p) {
      return p.find(" is excluded: ") != std::string::npos;
    });
    return fail(ErrorKind::kBadInput, msg,
                excluded_only ? "pass --force to use an excluded variant anyway"
                              : "a spec is [pythonNNN-][cudaX_Y-](smNN|cpu)-ISA, a package name, "
                                "a glob such as 'sm90-*', or 'all'; 'tvd matrix' lists every "
                                "variant.");
  }
  return out;
}

Result<std::vector<Selection>> resolve_specs(const std::vector<const Matrix*>& environments,
                                             const std::vector<std::string>& specs, bool force) {
  if (environments.size() == 1) return resolve_specs(*environments.front(), specs, force);
  if (specs.empty()) {
    return fail(ErrorKind::kBadInput, "no variant named",
                "name one or more specs (sm89-avx2, pytorch/cpu-avx2, 'torchvision/sm90-*') or "
                "use --all");
  }
  std::vector<Selection> out;
  std::set<VariantKey> seen;
  std::vector<std::string> problems;
  std::string hint;
  auto take = [&](std::vector<Selection> found) {
    for (auto& s : found)
      if (seen.insert(s.variant.key()).second) out.push_back(std::move(s));
  };
  for (const auto& spec : specs) {
    if (const auto slash = spec.find('/'); slash != std::string::npos) {
      const std::string env = spec.substr(0, slash);
      const Matrix* m = nullptr;
      std::string known;
      for (const Matrix* candidate : environments) {
        if (candidate->environment().name == env) m = candidate;
        known += (known.empty() ? "" : ", ") + candidate->environment().name;
      }
      if (!m) {
        problems.push_back("'" + spec + "': no environment '" + env + "' (known: " + known + ")");
        continue;
      }
      auto found = resolve_specs(*m, {spec.substr(slash + 1)}, force);
      if (!found) {
        problems.push_back(env + ": " + found.error().message);
        hint = found.error().hint;
        continue;
      }
      take(std::move(*found));
      continue;
    }
    // In every environment where it names a cell.
    std::vector<std::string> why;
    bool any = false;
    for (const Matrix* m : environments) {
      auto found = resolve_specs(*m, {spec}, force);
      if (found) {
        any = true;
        take(std::move(*found));
      } else {
        why.push_back(m->environment().name + ": " + found.error().message);
        hint = found.error().hint;
      }
    }
    if (!any) {
      for (auto& w : why)
        problems.push_back(std::move(w));
    }
  }
  if (!problems.empty()) {
    std::string msg = problems.front();
    for (size_t i = 1; i < problems.size(); ++i)
      msg += "\n" + problems[i];
    return fail(
        ErrorKind::kBadInput, msg,
        hint.empty() ? "ENV/SPEC names a cell of one environment; 'tvd matrix' lists them" : hint);
  }
  return out;
}

}  // namespace tvd
