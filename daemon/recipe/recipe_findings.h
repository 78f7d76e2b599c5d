// The findings of each recipe file as it is now, for pages that show them on every request: a
// file is read and checked again only when its size or modification time changed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "daemon/recipe/check.h"
#include "daemon/recipe/generate.h"

namespace tvd {

class RecipeFindings {
 public:
  // Empty when the variant has no recipe file or nothing is wrong with it.
  const std::vector<Finding>& of(const Variant& v, const RecipeEnv& env);

 private:
  struct Entry {
    std::filesystem::file_time_type mtime;
    std::uintmax_t size = 0;
    std::vector<Finding> findings;
  };
  std::map<std::filesystem::path, Entry> by_file_;
};

}  // namespace tvd
