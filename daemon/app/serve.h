// `tvd serve`: the service in the foreground until SIGTERM or SIGINT.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>

namespace tvd::app {

int serve(const std::optional<std::filesystem::path>& config, std::ostream& out, std::ostream& err);

}  // namespace tvd::app
