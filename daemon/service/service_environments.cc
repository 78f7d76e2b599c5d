// The service's environments: each one's matrix, templates, org and published outputs, the
// store's rows of their cells, and a reload that takes new ones.
#include <signal.h>
#include <algorithm>
#include <climits>
#include <fstream>
#include <iostream>
#include <tuple>
#include "daemon/base/log.h"
#include "daemon/base/units.h"
#include "daemon/exec/host.h"
#include "daemon/flox/classify.h"
#include "daemon/matrix/spec.h"
#include "daemon/service/host_config.h"
#include "daemon/service/persist.h"
#include "daemon/service/recipe_view.h"
#include "daemon/service/service.h"

namespace tvd::service {

// Every environment's cells as the store keeps them.
std::vector<store::VariantRow> Service::all_variant_rows(const Setup& setup) {
  std::vector<store::VariantRow> out;
  for (const auto& e : setup.environments) {
    for (auto& row : variant_rows(e.matrix, e.templates, recipe_env(e)))
      out.push_back(std::move(row));
  }
  return out;
}

void Service::stored_are(const Setup& setup) {
  stored_variants_.clear();
  for (const auto& e : setup.environments)
    for (const auto& v : e.matrix.cells())
      stored_variants_.insert(v.key());
}

const Matrix& Service::matrix_for(std::string_view name) const {
  const EnvironmentSetup* e = setup_.find(name);
  return e ? e->matrix : setup_.environments.front().matrix;
}

RecipeSources Service::recipe_sources() const {
  RecipeSources out;
  for (const auto& e : setup_.environments)
    out[e.name()] = {&e.templates, recipe_env(e)};
  return out;
}

const std::string& Service::org_of(std::string_view environment) const {
  const EnvironmentSetup* e = setup_.find(environment);
  return e ? e->org : setup_.config.publish.org;
}

Result<std::map<VariantKey, std::string>> Service::published_outputs() {
  // Each environment's variants, from what its organisation holds.
  std::map<VariantKey, std::string> out;
  for (const auto& e : setup_.environments) {
    TRY_ASSIGN(auto some, store_.published_outputs(e.org));
    for (auto& [key, output] : some)
      if (key.environment == e.name()) out.emplace(key, std::move(output));
  }
  return out;
}

Status Service::reload(const std::optional<std::filesystem::path>& config_path) {
  auto next = load_setup(config_path);
  if (!next) return tl::unexpected(next.error());
  const Config& old = setup_.config;
  const Config& neu = next->config;
  // Each environment has its git lane from the start: a config that adds, removes or moves one
  // needs a restart, as one that moves the state or the socket.
  auto places = [](const Setup& s) {
    std::vector<std::pair<std::string, std::filesystem::path>> out;
    for (const auto& e : s.environments)
      out.emplace_back(e.name(), e.environment().checkout);
    return out;
  };
  if (places(*next) != places(setup_) || neu.state_dir != old.state_dir ||
      neu.socket != old.socket) {
    return fail(ErrorKind::kBadInput,
                "the new config adds, removes or moves an environment (flox_env), or moves "
                "state_dir or socket; that needs a restart",
                "systemctl restart tvd");
  }
  if (auto st = store_.sync_variants(all_variant_rows(*next),
                                     unix_seconds(std::chrono::system_clock::now()));
      !st) {
    return st;
  }
  stored_are(*next);
  // Jobs take their variants from the new matrices. The old setup is kept one reload longer (a
  // git transaction queued now may hold a copy of a variant), and longer only while a job's
  // variant is not in the new matrices. Moving a Matrix keeps its tables where they are.
  if (engine_->rebind(next->matrices())) retired_.clear();
  retired_.push_back(std::move(setup_));
  setup_ = std::move(*next);
  engine_->set_recipe_sources(recipe_sources());
  engine_->reconfigure(engine_config(setup_, environ_));
  if (auto published = published_outputs()) {
    engine_->set_published(std::move(*published));  // the org may have changed
  }
  return {};
}

}  // namespace tvd::service
