#include "daemon/recipe/generate.h"

#include <unistd.h>

#include <regex>
#include <system_error>

#include "daemon/base/file.h"
#include "daemon/base/hash.h"
#include "daemon/exec/host.h"

namespace tvd {

std::string_view to_string(FileState s) {
  switch (s) {
    case FileState::kMissing:
      return "missing";
    case FileState::kCurrent:
      return "current";
    case FileState::kDiffers:
      return "differs";
  }
  return "?";
}

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::kNone:
      return "";
    case Outcome::kWritten:
      return "written";
    case Outcome::kOverwritten:
      return "overwritten";
    case Outcome::kWouldWrite:
      return "would write";
    case Outcome::kWouldOverwrite:
      return "would overwrite";
    case Outcome::kUnchanged:
      return "unchanged";
    case Outcome::kKept:
      return "kept";
    case Outcome::kExcluded:
      return "excluded";
  }
  return "?";
}

namespace {

// The copy a paired recipe imports: the torch environment's recipe of the same cell, as its file
// is (a hand-written one too: that is what it builds), or as its templates make it when it has
// none yet (what its job will write).
Result<Companion> paired_torch(const TorchSource& torch, const std::filesystem::path& flox_env,
                               const Variant& v) {
  auto cell = torch.matrix ? torch.matrix->counterpart(v) : std::nullopt;
  if (!cell || !torch.templates) {
    return fail(ErrorKind::kBadInput,
                v.key().text() + ": the environment '" + torch.environment +
                    "', whose recipes give it its torch, has no such cell",
                "give '" + torch.environment + "' the same Python, CUDA, GPU and ISA axes");
  }
  const std::string name = cell->package() + ".nix";
  Companion out{flox_env / ".flox" / torch.dir / name, {}};
  if (auto text = read_file(torch.checkout / ".flox" / "pkgs" / name)) {
    out.text = std::move(*text);
    return out;
  } else if (text.error().kind != ErrorKind::kNotFound) {
    return tl::unexpected(text.error());
  }
  auto text = render_recipe(*torch.templates, *cell, PytorchRecipes::scan({}).choose(*cell));
  if (!text) return tl::unexpected(text.error());
  out.text = std::move(*text);
  return out;
}

// A paired recipe's text without the hash of its torch recipe's text (in its TORCH_NOTE line).
std::string without_torch_text(const std::string& text) {
  static const std::regex kTorchText(R"(\(text [0-9a-f]{16}\))");
  return std::regex_replace(text, kTorchText, "(text)");
}

}  // namespace

Result<std::vector<RecipeReport>> inspect_recipes(const TemplateSet& templates,
                                                  const RecipeEnv& env,
                                                  const std::vector<Selection>& selections) {
  const auto pytorch = PytorchRecipes::scan(env.pytorch_env);
  const std::string host = exec::host_system();
  const auto dir = env.pkgs_dir();
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec)) {
    return fail(ErrorKind::kIo, dir.string() + " is not a directory",
                "move it out of the way: flox reads recipes from that directory");
  }
  std::vector<RecipeReport> out;
  out.reserve(selections.size());
  for (const auto& sel : selections) {
    RecipeReport r;
    r.variant = sel.variant;
    r.file = dir / (sel.variant.package() + ".nix");
    r.exclusions = sel.exclusions;
    r.chosen = sel.chosen;
    r.choices = pytorch.choose(sel.variant);
    if (env.torch) {
      auto torch = paired_torch(*env.torch, env.flox_env, sel.variant);
      if (!torch) return tl::unexpected(torch.error());
      r.choices.torch_recipe = "../" + env.torch->dir + "/" + torch->file.filename().string();
      r.choices.torch_note = "tvd's copy of " + env.torch->environment + "'s " +
                             torch->file.filename().string() + " (text " +
                             stable_hash(torch->text) + ")";
      r.companions.push_back(std::move(*torch));
    }
    auto text = render_recipe(templates, sel.variant, r.choices);
    if (!text) return tl::unexpected(text.error());
    r.text = std::move(*text);

    auto existing = read_file(r.file);
    if (existing) {
      r.state = *existing == r.text ? FileState::kCurrent : FileState::kDiffers;
      if (r.state == FileState::kDiffers) {
        r.previous = *existing;
        r.outdated_torch =
            env.torch && without_torch_text(r.previous) == without_torch_text(r.text);
      }
      r.findings = check_recipe_text(sel.variant, r.file, *existing, r.choices, host);
      if (sel.variant.is_gpu()) {
        r.file_target = read_recipe_facts(*existing).gpu_target;
        if (r.choices.from_pytorch && r.file_target != r.choices.gpu_target) {
          r.warning = "the recipe passes gpuTargets \"" + r.file_target.value_or("(none)") +
                      "\" but its PyTorch recipe passes \"" + r.choices.gpu_target + "\" (" +
                      r.choices.pytorch_file->string() + ")";
        }
      }
    } else if (existing.error().kind != ErrorKind::kNotFound) {
      return tl::unexpected(existing.error());
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<RecipeReport>> generate_recipes(const TemplateSet& templates,
                                                   const RecipeEnv& env,
                                                   const std::vector<Selection>& selections,
                                                   GenerateOptions options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(env.flox_env / ".flox", ec)) {
    return fail(ErrorKind::kBadInput,
                env.flox_env.string() + " is not a flox environment (it has no .flox directory)",
                "set flox_env in the config to the environment's git checkout, or run "
                "'flox init' there first");
  }
  auto reports = inspect_recipes(templates, env, selections);
  if (!reports) {
    reports.error().message += "; nothing was written";
    return reports;
  }

  for (auto& r : *reports) {
    if (!r.chosen) {
      r.outcome = Outcome::kExcluded;
    } else if (r.state == FileState::kMissing) {
      r.outcome = options.dry_run ? Outcome::kWouldWrite : Outcome::kWritten;
    } else if (r.state == FileState::kCurrent) {
      r.outcome = Outcome::kUnchanged;
    } else if (options.overwrite || r.outdated_torch) {
      r.outcome = options.dry_run ? Outcome::kWouldOverwrite : Outcome::kOverwritten;
    } else {
      r.outcome = Outcome::kKept;
    }
  }
  if (options.dry_run) return reports;

  const auto dir = env.pkgs_dir();
  bool created_dir = false;
  if (!std::filesystem::exists(dir, ec)) {
    created_dir = std::filesystem::create_directory(dir, ec);
    if (ec) {
      return fail(ErrorKind::kIo, "cannot create " + dir.string() + ": " + ec.message(),
                  "check the permissions of " + (env.flox_env / ".flox").string());
    }
  }
  std::vector<const RecipeReport*> done;
  for (const auto& r : *reports) {
    if (r.outcome != Outcome::kWritten && r.outcome != Outcome::kOverwritten) continue;
    bool replace = r.outcome == Outcome::kOverwritten;
    auto st =
        write_file_atomic(r.file, r.text, replace ? Overwrite::kYes : Overwrite::kNo, SyncDir::kNo);
    if (!st) {
      for (const auto* w : done) {
        if (w->outcome == Outcome::kWritten)
          ::unlink(w->file.c_str());
        else
          (void)write_file_atomic(w->file, w->previous, Overwrite::kYes);
      }
      if (created_dir) std::filesystem::remove(dir, ec);
      Error e = st.error();
      e.message += "; nothing was written";
      return tl::unexpected(std::move(e));
    }
    done.push_back(&r);
  }
  if (!done.empty()) {
    if (auto st = sync_directory(dir); !st) return tl::unexpected(st.error());
  }
  for (const auto& r : *reports) {
    const bool kept = r.outcome == Outcome::kWritten || r.outcome == Outcome::kOverwritten ||
                      r.outcome == Outcome::kUnchanged;
    if (!kept) continue;
    for (const auto& c : r.companions) {
      auto now = read_file(c.file);
      if (now && *now == c.text) continue;
      std::filesystem::create_directories(c.file.parent_path(), ec);
      if (auto st = write_file_atomic(c.file, c.text, Overwrite::kYes); !st) {
        return tl::unexpected(st.error());
      }
    }
  }
  return reports;
}

}  // namespace tvd
