// "Did you mean ...?": the candidates closest to a misspelt word.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tvd {

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
size_t edit_distance(std::string_view a, std::string_view b);

// Up to `limit` candidates within a distance that grows with the word's length, nearest first,
// ties in candidate order.
std::vector<std::string> nearest(std::string_view word, const std::vector<std::string>& candidates,
                                 size_t limit = 3);

// "a, b or c"
std::string join_or(const std::vector<std::string>& words);

}  // namespace tvd
