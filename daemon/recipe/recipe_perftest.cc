// How long recipe generation takes for the whole 60-cell matrix (target: a few milliseconds).
//   build/release/daemon/recipe_perftest
#include <benchmark/benchmark.h>

#include "daemon/matrix/spec.h"
#include "daemon/recipe/generate.h"
#include "tests/support/scratch.h"

namespace tvd {
namespace {

struct World {
  Matrix matrix = std::move(Matrix::embedded().value());
  TemplateSet templates = std::move(TemplateSet::embedded("torchvision").value());
  std::vector<Selection> all = resolve_specs(matrix, {"all"}, /*force=*/true).value();
};

// Rendering only: substitution of the two templates for 60 variants.
void BM_Render60(benchmark::State& state) {
  World w;
  const auto pytorch = PytorchRecipes::scan("/nonexistent");
  for (auto _ : state) {
    for (const auto& s : w.all) {
      auto text = render_recipe(w.templates, s.variant, pytorch.choose(s.variant));
      benchmark::DoNotOptimize(text);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(w.all.size()));
}
BENCHMARK(BM_Render60)->Unit(benchmark::kMillisecond);

// What `tvd generate --all --force` does in an empty environment: pattern lookup, rendering,
// and 60 atomic writes (temp file, fsync, rename, directory fsync).
void BM_Generate60(benchmark::State& state) {
  World w;
  testing::ScratchDir root;  // one fresh environment per iteration, removed at the end
  int n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = root / std::to_string(n++);
    testing::make_flox_env(dir);
    RecipeEnv env{dir, root / "no-pytorch"};
    state.ResumeTiming();
    auto r = generate_recipes(w.templates, env, w.all, {});
    if (!r || r->size() != 60) state.SkipWithError("generation failed");
  }
  state.SetItemsProcessed(state.iterations() * 60);
}
BENCHMARK(BM_Generate60)->Unit(benchmark::kMillisecond)->UseRealTime();

// `tvd matrix`: every cell inspected against an environment that has all 60 recipes.
void BM_Inspect60(benchmark::State& state) {
  World w;
  testing::ScratchDir dir;
  testing::make_flox_env(dir.path());
  RecipeEnv env{dir.path(), dir / "no-pytorch"};
  (void)generate_recipes(w.templates, env, w.all, {});
  for (auto _ : state) {
    auto r = inspect_recipes(w.templates, env, w.all);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Inspect60)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tvd

BENCHMARK_MAIN();
