// Reads the fields of one JSON object for a parser that reports every problem at once, each with
// its path ("scheduler.memory_budget: expected a string"), and refuses keys it does not know.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/base/result.h"

namespace tvd {

class JsonObject {
 public:
  enum class Need { kRequired, kOptional };

  // `path` is the object's own path, empty for the document root. A non-object `value` is
  // recorded as an error and every read then yields nothing.
  JsonObject(const nlohmann::json& value, std::string path, std::vector<std::string>& errors);

  std::optional<std::string> string(std::string_view key, Need need = Need::kRequired);
  std::optional<bool> boolean(std::string_view key, Need need = Need::kRequired);
  std::optional<std::vector<std::string>> strings(std::string_view key,
                                                  Need need = Need::kRequired);
  // The raw value (any type) or null when absent; marks the key as known.
  const nlohmann::json* get(std::string_view key, Need need = Need::kRequired);

  std::string path(std::string_view key) const;
  void error(std::string_view key, std::string_view problem);

  // Records an error for every key that no read asked for, with a suggestion.
  void refuse_unknown_keys();

 private:
  const nlohmann::json* value_;
  std::string path_;
  std::vector<std::string>& errors_;
  std::set<std::string, std::less<>> known_;
};

// "<origin> has 2 problems:" and one indented line per problem, as a kBadInput error.
Error problems_error(std::string_view origin, const std::vector<std::string>& problems,
                     std::string hint);

// "object", "string", ... for messages.
std::string_view json_type_name(const nlohmann::json& value);

}  // namespace tvd
