// One names table per enum: the enum's values and their names, as the store, the protocol and
// people read them. To text and back from one table, so that no file keeps its own switch.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace tvd {

template <typename Enum, size_t N>
class Names {
 public:
  using Entry = std::pair<Enum, std::string_view>;
  constexpr explicit Names(std::array<Entry, N> entries) : entries_(entries) {}

  // The name of `e`; "?" for a value missing from the table (a bug the tests catch).
  constexpr std::string_view name(Enum e) const {
    for (const auto& [value, text] : entries_)
      if (value == e) return text;
    return "?";
  }
  constexpr std::optional<Enum> parse(std::string_view text) const {
    for (const auto& [value, t] : entries_)
      if (t == text) return value;
    return std::nullopt;
  }
  constexpr const std::array<Entry, N>& entries() const { return entries_; }

 private:
  std::array<Entry, N> entries_;
};

}  // namespace tvd
