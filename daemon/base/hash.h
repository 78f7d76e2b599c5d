// A stable fingerprint of text (FNV-1a, 64 bits, hex): the same in every run and build of tvd,
// for recipe provenance and "unchanged since it failed". Not for security.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace tvd {

inline uint64_t fnv1a64(std::string_view data, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : data)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

inline std::string stable_hash(std::string_view data) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a64(data)));
  return buf;
}

}  // namespace tvd
