// How config.cc reads tvd.json, a section at a time (private to daemon/config): the Sections
// reader and the helpers its files share. The environments and products are read in
// environments_section.cc, notify in notify_section.cc, the rest in config.cc.
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/base/json_object.h"
#include "daemon/base/units.h"
#include "daemon/config/config.h"

namespace tvd::config_sections {

using Need = JsonObject::Need;
using nlohmann::json;

// `p`, relative to `base` unless absolute, normalised.
std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p);
// An environment's or product's name: it becomes part of specs (ENV/SPEC), paths and the store's
// keys, so lowercase letters, digits, '.', '_' and '-', starting with a letter or digit.
bool is_name(std::string_view n);

// Reads the config one section at a time: each section of tvd.json is one member below, with the
// kinds of value they share (a path, a size, a whole number in a range, a duration). Every
// problem is added to `errors`, so that one run names them all.
class Sections {
 public:
  Sections(std::filesystem::path base_dir, std::vector<std::string>& errors)
      : base_(std::move(base_dir)), errors_(errors) {}

  void paths(JsonObject& root, Config& c);
  void publish(const json& v, Config::Publish& out);
  void scheduler(const json& v, Config::Scheduler& out);
  void builders(const json& v, Config::Builders& out);
  void builds(const json& v, Config::Builds& out);
  void logs(const json& v, Config::Logs& out);
  void http(const json& v, Config::Http& out);
  void check(const json& v, Config::Check& out);
  void axes(const json& v, const std::string& where, AxesChoice& out);
  void products(const json& v, std::vector<ProductConfig>& out);
  void environments(const json& v, Config& c);

 private:
  // A path, relative to the config's directory.
  void path(JsonObject& o, std::string_view key, std::filesystem::path& out) {
    if (auto s = o.string(key, Need::kOptional)) {
      if (s->empty())
        o.error(key, "must not be empty");
      else
        out = resolve(base_, *s);
    }
  }
  // A size ("48GiB"), more than 0; with `allow_auto`, "auto" too (stored as nullopt).
  template <class Store>
  void size(JsonObject& o, std::string_view key, Store&& store, bool allow_auto) {
    const json* v = o.get(key, Need::kOptional);
    if (!v) return;
    if (!v->is_string()) {
      o.error(key, "expected a size as a string, such as \"48GiB\"" +
                       std::string(allow_auto ? " or \"auto\"" : ""));
      return;
    }
    auto s = v->get<std::string>();
    if (allow_auto && s == "auto") {
      store(std::nullopt);
      return;
    }
    auto parsed = parse_size(s);
    if (!parsed)
      o.error(key, parsed.error().message + "; " + parsed.error().hint);
    else if (*parsed == 0)
      o.error(key, "must be more than 0");
    else
      store(std::optional<uint64_t>(*parsed));
  }
  // A whole number from `low` to `high`.
  template <class T>
  void whole(JsonObject& o, std::string_view key, T low, T high, T& out) {
    const json* v = o.get(key, Need::kOptional);
    if (!v) return;
    if (v->is_number_unsigned() && *v >= low && *v <= high) {
      out = v->get<T>();
    } else {
      o.error(key, "expected a whole number from " + std::to_string(low) + " to " +
                       std::to_string(high));
    }
  }
  // A duration of more than nothing ("12h"), at most `longest` when given; `example` is what
  // the error suggests.
  void duration(JsonObject& o, std::string_view key, std::chrono::seconds& out,
                const std::string& example, std::optional<std::chrono::seconds> longest = {}) {
    auto s = o.string(key, Need::kOptional);
    if (!s) return;
    auto d = parse_duration(*s);
    if (!d || d->count() <= 0) {
      o.error(key, "expected a duration such as " + example);
    } else if (longest && *d > *longest) {
      o.error(key, "is longer than 30 days; expected a duration such as \"12h\"");
    } else {
      out = *d;
    }
  }

  std::filesystem::path base_;
  std::vector<std::string>& errors_;
};

}  // namespace tvd::config_sections
