#include "daemon/base/json_object.h"

#include "daemon/base/nearest.h"

namespace tvd {

std::string_view json_type_name(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "a list";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "true/false";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

JsonObject::JsonObject(const nlohmann::json& value, std::string path,
                       std::vector<std::string>& errors)
    : value_(&value), path_(std::move(path)), errors_(errors) {
  if (!value.is_object()) {
    errors_.push_back((path_.empty() ? std::string("the document") : path_) +
                      ": expected an object, found " + std::string(json_type_name(value)));
    value_ = nullptr;
  }
}

std::string JsonObject::path(std::string_view key) const {
  if (key.empty()) return path_;
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void JsonObject::error(std::string_view key, std::string_view problem) {
  errors_.push_back(path(key) + ": " + std::string(problem));
}

const nlohmann::json* JsonObject::get(std::string_view key, Need need) {
  known_.emplace(key);
  if (!value_) return nullptr;
  auto it = value_->find(key);
  if (it == value_->end()) {
    if (need == Need::kRequired) error(key, "missing");
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> JsonObject::string(std::string_view key, Need need) {
  const auto* v = get(key, need);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    error(key, "expected a string, found " + std::string(json_type_name(*v)));
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<bool> JsonObject::boolean(std::string_view key, Need need) {
  const auto* v = get(key, need);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    error(key, "expected true or false, found " + std::string(json_type_name(*v)));
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<std::vector<std::string>> JsonObject::strings(std::string_view key, Need need) {
  const auto* v = get(key, need);
  if (!v) return std::nullopt;
  if (!v->is_array()) {
    error(key, "expected a list of strings, found " + std::string(json_type_name(*v)));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const auto& item = (*v)[i];
    if (!item.is_string()) {
      error(std::string(key) + "[" + std::to_string(i) + "]",
            "expected a string, found " + std::string(json_type_name(item)));
      return std::nullopt;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

Error problems_error(std::string_view origin, const std::vector<std::string>& problems,
                     std::string hint) {
  std::string msg = std::string(origin) + " has " + std::to_string(problems.size()) +
                    (problems.size() == 1 ? " problem:" : " problems:");
  for (const auto& p : problems)
    msg += "\n  " + p;
  return Error{ErrorKind::kBadInput, std::move(msg), std::move(hint)};
}

void JsonObject::refuse_unknown_keys() {
  if (!value_) return;
  std::vector<std::string> known(known_.begin(), known_.end());
  for (const auto& [key, _] : value_->items()) {
    if (known_.count(key)) continue;
    std::string msg = "unknown key";
    if (auto near = nearest(key, known); !near.empty()) {
      msg += " (did you mean " + path(near.front()) + "?)";
    } else {
      msg += " (known here: " + join_or(known) + ")";
    }
    error(key, msg);
  }
}

}  // namespace tvd
