// The schema migrations of this folder, embedded in order (see CMakeLists.txt). Migration N
// (1-based) brings a database from user_version N-1 to N.
#pragma once

#include <string_view>
#include <vector>

namespace tvd::schema {

struct Migration {
  std::string_view name;  // "001_initial.sql"
  std::string_view sql;
};

const std::vector<Migration>& migrations();

}  // namespace tvd::schema
