// Between the engine's jobs and the store's rows.
#pragma once

#include "daemon/matrix/matrix.h"
#include "daemon/recipe/generate.h"
#include "daemon/service/engine.h"
#include "daemon/store/store.h"

namespace tvd::service {

int64_t unix_seconds(TimePoint t);
TimePoint from_unix(int64_t s);

// `org` is the organisation the job publishes to (recorded once its output is published).
store::JobRow to_row(const Job& j, const std::string& org);
std::vector<store::AttemptRow> to_rows(const Job& j);

// A job read back at start; fails if its variant cannot be named any more.
Result<Job> from_rows(const store::JobRow& row, const std::vector<store::AttemptRow>& attempts,
                      const Matrix& matrix);

// The configured matrix as the store keeps it, with each recipe's provenance: generated (and by
// which template) when the file is what the templates give now, hand-written when it differs.
// A cell's row: its axes and exclusions (no recipe facts).
store::VariantRow variant_row(const Matrix& matrix, const Variant& v);
std::vector<store::VariantRow> variant_rows(const Matrix& matrix, const TemplateSet& templates,
                                            const RecipeEnv& env);

}  // namespace tvd::service
