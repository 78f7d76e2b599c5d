// What work is keyed on: a variant is a package of one environment (DESIGN.md, "The model"). The
// branches of one repository are environments that build the same package names, so the store,
// the engine and the git lane key their work on both.
#pragma once

#include <compare>
#include <string>
#include <string_view>

namespace tvd {

// The environment a host's config names when it names only one checkout (`flox_env`); a store
// from before environments holds only its work.
inline constexpr std::string_view kDefaultEnvironment = "default";

struct VariantKey {
  std::string environment{kDefaultEnvironment};
  std::string package;

  // How people and paths name it: the package alone in the default environment,
  // ENVIRONMENT/PACKAGE in another. Also the scheduler's and the estimator's key, and the
  // directory of its logs under the log directory.
  std::string text() const {
    if (environment == kDefaultEnvironment) return package;
    return environment + "/" + package;
  }
  // The inverse of text(): a package name has no '/'.
  static VariantKey from_text(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos)
      return {std::string(kDefaultEnvironment), std::string(text)};
    return {std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
  }
  friend auto operator<=>(const VariantKey&, const VariantKey&) = default;
  friend bool operator==(const VariantKey&, const VariantKey&) = default;
};

}  // namespace tvd
