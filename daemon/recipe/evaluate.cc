#include "daemon/recipe/evaluate.h"

#include <nlohmann/json.hpp>

#include "daemon/exec/capture.h"

namespace tvd {

namespace {

// flox calls each recipe as `callPackage FILE {}` in its nixpkgs, with allowUnfree, for the
// host's system unless --system is given (DESIGN.md, from flox's package-builder). This does the
// same for `system`. A fetchTarball of a commit in `sources` reads the local copy: scopedImport
// replaces `builtins` and `fetchTarball` in the recipe's scope only.
constexpr const char* kWrapper = R"nix(
{ recipe, system, sources ? "{}", inspect ? false, instantiate ? false }:
let
  local = builtins.fromJSON sources;
  urlOf = a: if builtins.isString a then a else a.url;
  commitOf = url:
    let m = builtins.match ".*/nixpkgs/archive/([0-9a-f]+)\\.tar\\.gz" url;
    in if m == null then null else builtins.head m;
  fetchTarball = a:
    let c = commitOf (urlOf a);
    in if c != null && local ? ${c} then /. + local.${c} else builtins.fetchTarball a;
  # What the recipe imports (a paired torch recipe) is read in the same scope.
  scope = {
    builtins = builtins // { inherit fetchTarball; import = scopedImport scope; };
    inherit fetchTarball;
    import = scopedImport scope;
  };
  file = /. + recipe;
  f = if local == { } then import file else scopedImport scope file;
  pkgs = import <nixpkgs> { inherit system; config.allowUnfree = true; };
  drv = f (builtins.intersectAttrs (builtins.functionArgs f) (pkgs // { inherit pkgs; }));
  strings = builtins.filter builtins.isString;
  describe = d: {
    inherit (d) drvPath name;
    pname = d.pname or null;
    outputName = d.outputName or null;
    preConfigure = d.drvAttrs.preConfigure or null;
    cmakeFlags = strings (d.drvAttrs.cmakeFlags or [ ]);
    requiredSystemFeatures = d.drvAttrs.requiredSystemFeatures or [ ];
  };
  # What each is built for: a recipe that ignores flox's `system` is another system's build.
  propagatedDrvs = builtins.filter (p: builtins.isAttrs p && p ? drvPath)
    (drv.drvAttrs.propagatedBuildInputs or [ ]);
in
if instantiate then drv else
{
  inherit (drv) drvPath;
  system = drv.system or null;
  inputs = map (p: { name = p.name or null; system = p.system or null; }) propagatedDrvs;
}
// (if inspect then describe drv // {
  platforms = drv.meta.platforms or null;
  passthru = builtins.mapAttrs (_: v: if builtins.isString v || v == null then v else null)
    (drv.passthru or { });
  propagated = map describe (builtins.filter (p: builtins.isAttrs p && p ? drvPath)
    (drv.drvAttrs.propagatedBuildInputs or [ ]));
} else { })
)nix";

// Nix's own error: from the first "error:" line, at most a few lines.
std::string error_lines(const std::string& err) {
  auto pos = err.find("error:");
  std::string text = pos == std::string::npos ? err : err.substr(pos);
  std::string out;
  int lines = 0;
  size_t start = 0;
  while (start < text.size() && lines < 8) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? end : end - start);
    if (line.find("(use '--show-trace'") == std::string::npos && !line.empty()) {
      out += (out.empty() ? "" : "\n") + line;
      ++lines;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out.empty() ? "nix-instantiate failed with no message" : out;
}

}  // namespace

std::vector<std::string> evaluation_argv(const EvalSettings& s, const std::filesystem::path& recipe,
                                         const std::string& system) {
  std::vector<std::string> argv = {s.nix_instantiate};
  if (!s.instantiate) argv.insert(argv.end(), {"--eval", "--strict", "--json"});
  if (s.store) argv.insert(argv.end(), {"--store", *s.store});
  for (const auto& p : s.nix_path)
    argv.insert(argv.end(), {"-I", p});
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& [commit, path] : s.nixpkgs_sources)
    sources[commit] = std::filesystem::absolute(path).string();
  argv.insert(
      argv.end(),
      {"-E", kWrapper, "--argstr", "recipe", std::filesystem::absolute(recipe).string(), "--argstr",
       "system", system, "--argstr", "sources", sources.dump(), "--arg", "inspect",
       s.inspect ? "true" : "false", "--arg", "instantiate", s.instantiate ? "true" : "false"});
  return argv;
}

std::vector<Evaluation> evaluate_recipes(
    const EvalSettings& s,
    const std::vector<std::pair<std::filesystem::path, std::string>>& recipes,
    const std::map<std::string, std::string>& env) {
  std::vector<std::vector<std::string>> commands;
  for (const auto& [file, system] : recipes)
    commands.push_back(evaluation_argv(s, file, system));
  auto results = exec::capture_all(commands, env, s.parallel, s.timeout);
  std::vector<Evaluation> out;
  for (size_t i = 0; i < recipes.size(); ++i) {
    Evaluation e;
    e.file = recipes[i].first;
    const auto& r = results[i];
    if (!r.started) {
      e.error = r.err;
    } else if (r.exit_code != 0) {
      e.error = error_lines(r.err);
    } else if (s.instantiate) {
      // The .drv's path, one line.
      e.drv_path = r.out.substr(0, r.out.find('\n'));
      e.ok = e.drv_path.ends_with(".drv");
      if (!e.ok) e.error = "nix-instantiate printed no derivation: " + r.out;
    } else {
      e.json = r.out;
      try {
        auto j = nlohmann::json::parse(r.out);
        e.drv_path = j.at("drvPath").get<std::string>();
        auto text = [](const nlohmann::json& o, const char* key) {
          auto it = o.find(key);
          return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        e.system = text(j, "system");
        for (const auto& in : j.value("inputs", nlohmann::json::array()))
          e.inputs.emplace_back(text(in, "name"), text(in, "system"));
        e.ok = true;
      } catch (const std::exception& ex) {
        e.error = std::string("nix-instantiate printed no derivation: ") + ex.what();
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

Finding evaluation_finding(const Evaluation& e) {
  return {Severity::kError,
          "evaluation",
          e.file,
          0,
          "Nix cannot evaluate it, so `flox build` stops at evaluation: " + e.error,
          "fix the recipe (nix-instantiate shows the trace with --show-trace)"};
}

}  // namespace tvd
