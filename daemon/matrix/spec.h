// Specs: how people name variants on the command line.
//   sm89-avx512vnni                      default Python and CUDA (matrix.json "defaults")
//   cpu-avx2                             CPU-only, default Python
//   python312-cuda12_9-sm90-avx2         any Python and CUDA of the tables
//   torchvision-python313-cpu-armv8_2    the full package name
//   sm90-*   *-armv9   python313-*       globs over the cells of the configured matrix
//   all                                  every cell of the configured matrix
//   pytorch/sm90-*                       ENV/SPEC: in the environment of that name
// A dot and an underscore are the same ("armv8.2", "cuda12.9").
#pragma once

#include <string>
#include <vector>

#include "daemon/matrix/matrix.h"

namespace tvd {

struct Selection {
  Variant variant;
  std::vector<std::string> exclusions;  // why it cannot be built; empty when it can
  // False for an excluded cell that a glob or "all" matched without --force: it is reported,
  // not acted on. An excluded variant named exactly is an error without --force.
  bool chosen = true;
};

// Each variant once, in the order first named. All problems are reported together, one per
// line, and then nothing is selected: one bad spec in a list means no selection at all.
Result<std::vector<Selection>> resolve_specs(const Matrix& matrix,
                                             const std::vector<std::string>& specs, bool force);

// Over several environments (each matrix is one): "ENV/SPEC" resolves SPEC in the environment of
// that name; a spec without one selects in every environment where it names a cell (with one
// environment, the meaning above); "all" is every cell of every environment.
Result<std::vector<Selection>> resolve_specs(const std::vector<const Matrix*>& environments,
                                             const std::vector<std::string>& specs, bool force);

}  // namespace tvd
