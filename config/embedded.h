// matrix.json and the templates of this folder, compiled into the binary (see CMakeLists.txt) so
// that tvd runs with no file installed.
#pragma once

#include <string_view>

namespace tvd::embedded {

std::string_view matrix_json();
// A built-in product's template ("torchvision" or "pytorch"; "gpu.nix.in" or "cpu.nix.in");
// empty for any other.
std::string_view template_text(std::string_view product, std::string_view file_name);

}  // namespace tvd::embedded
