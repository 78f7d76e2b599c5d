#include "daemon/config/config.h"

#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "daemon/base/address.h"
#include "daemon/base/file.h"
#include "daemon/base/json_object.h"
#include "daemon/base/units.h"
#include "daemon/config/notify_section.h"
#include "daemon/config/sections.h"

namespace tvd {

using Need = JsonObject::Need;
using nlohmann::json;

namespace config_sections {

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p) {
  std::filesystem::path path =
      std::filesystem::path(p).is_absolute() ? std::filesystem::path(p) : base / p;
  path = path.lexically_normal();
  if (path.filename().empty() && path.has_relative_path()) path = path.parent_path();
  return path;
}

bool is_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char ch) {
    return (std::islower(static_cast<unsigned char>(ch)) != 0) ||
           (std::isdigit(static_cast<unsigned char>(ch)) != 0) || ch == '.' || ch == '_' ||
           ch == '-';
  });
}

void Sections::paths(JsonObject& root, Config& c) {
  std::filesystem::path flox_env = resolve(base_, ".");
  path(root, "flox_env", flox_env);
  c.flox_env = flox_env;
  std::filesystem::path pytorch_env;
  path(root, "pytorch_env", pytorch_env);
  c.pytorch_env = pytorch_env.empty() ? c.flox_env.parent_path() / "build-pytorch" : pytorch_env;
  path(root, "state_dir", c.state_dir);
  path(root, "socket", c.socket);
  // A Unix socket's path must fit sockaddr_un's sun_path (108 bytes with its NUL on Linux).
  if (constexpr size_t kSunPath = sizeof(sockaddr_un{}.sun_path);
      c.socket.string().size() >= kSunPath) {
    root.error("socket", c.socket.string() + " is " + std::to_string(c.socket.string().size()) +
                             " bytes long; a Unix socket's path may have at most " +
                             std::to_string(kSunPath - 1) + " (choose a shorter one)");
  }
  if (auto s = root.string("socket_group", Need::kOptional)) c.socket_group = *s;
  if (auto s = root.string("flox", Need::kOptional)) {
    if (s->empty())
      root.error("flox", "must not be empty");
    else
      c.flox = s->find('/') == std::string::npos ? *s : resolve(base_, *s).string();
  }
  c.flox_metrics = root.boolean("flox_metrics", Need::kOptional).value_or(false);
  std::filesystem::path matrix_path, templates_path;
  path(root, "matrix", matrix_path);
  if (!matrix_path.empty()) c.matrix = matrix_path;
  path(root, "templates", templates_path);
  if (!templates_path.empty()) c.templates = templates_path;
  c.nixpkgs = root.string("nixpkgs", Need::kOptional);
}

void Sections::publish(const json& v, Config::Publish& out) {
  JsonObject o(v, "publish", errors_);
  out.enabled = o.boolean("enabled", Need::kOptional).value_or(false);
  out.org = o.string("org", Need::kOptional).value_or("");
  out.push = o.boolean("push", Need::kOptional).value_or(false);
  std::filesystem::path key;
  path(o, "signing_key", key);
  if (!key.empty()) out.signing_key = key;
  o.refuse_unknown_keys();
}

void Sections::builders(const json& v, Config::Builders& out) {
  JsonObject o(v, "builders", errors_);
  path(o, "machines_file", out.machines_file);
  if (const json* l = o.get("local", Need::kOptional)) {
    if (l->is_boolean()) {
      out.local = l->get<bool>();
    } else {
      JsonObject lo(*l, "builders.local", errors_);
      out.local_systems = lo.strings("systems", Need::kOptional).value_or(out.local_systems);
      out.local_features = lo.strings("features", Need::kOptional).value_or(out.local_features);
      lo.refuse_unknown_keys();
    }
  }
  if (const json* r = o.get("remote", Need::kOptional)) {
    if (!r->is_object()) {
      o.error("remote", R"(expected {"<store URI>": {"memory_budget": "200GiB"}, ...})");
    } else {
      for (const auto& [uri, m] : r->items()) {
        JsonObject mo(m, "builders.remote." + uri, errors_);
        Config::Builders::Remote remote;
        size(
            mo, "memory_budget", [&](std::optional<uint64_t> b) { remote.memory_budget = *b; },
            false);
        if (!m.is_object() || !m.contains("memory_budget")) {
          mo.error("memory_budget", "missing: tvd places builds on a machine by its memory");
        }
        mo.refuse_unknown_keys();
        out.remote[uri] = remote;
      }
    }
  }
  o.refuse_unknown_keys();
}

void Sections::scheduler(const json& v, Config::Scheduler& out) {
  JsonObject o(v, "scheduler", errors_);
  if (const json* mp = o.get("max_parallel", Need::kOptional)) {
    if (mp->is_string() && *mp == "auto") {
      out.max_parallel.reset();
    } else if (mp->is_number_unsigned() && *mp >= 1 && *mp <= 1024) {
      out.max_parallel = mp->get<unsigned>();
    } else {
      o.error("max_parallel", "expected a whole number from 1 to 1024, or \"auto\"");
    }
  }
  size(
      o, "memory_budget", [&](std::optional<uint64_t> b) { out.memory_budget = b; }, true);
  if (const json* per = o.get("memory_per_build", Need::kOptional)) {
    JsonObject po(*per, "scheduler.memory_per_build", errors_);
    size(
        po, "gpu", [&](std::optional<uint64_t> b) { out.memory_per_build_gpu = *b; }, false);
    size(
        po, "cpu", [&](std::optional<uint64_t> b) { out.memory_per_build_cpu = *b; }, false);
    po.refuse_unknown_keys();
  }
  if (const json* p = o.get("max_memory_pressure", Need::kOptional)) {
    if (p->is_number() && *p >= 0 && *p <= 100) {
      out.max_memory_pressure = p->get<double>();
    } else {
      o.error("max_memory_pressure", "expected a percentage from 0 to 100");
    }
  }
  size(
      o, "min_free_disk", [&](std::optional<uint64_t> b) { out.min_free_disk = *b; }, false);
  o.refuse_unknown_keys();
}

void Sections::builds(const json& v, Config::Builds& out) {
  JsonObject o(v, "builds", errors_);
  // Longer than 30 days is a mistake, and doubling it for backoff would overflow.
  const std::string example = "\"12h\" or \"90min\"";
  const std::chrono::seconds longest = std::chrono::hours(24 * 30);
  duration(o, "timeout", out.timeout, example, longest);
  duration(o, "silence_timeout", out.silence_timeout, example, longest);
  duration(o, "publish_timeout", out.publish_timeout, example, longest);
  duration(o, "backoff", out.backoff, example, longest);
  whole(o, "max_tries", 1, 20, out.max_tries);
  size(
      o, "log_limit", [&](std::optional<uint64_t> b) { out.log_limit = *b; }, false);
  o.refuse_unknown_keys();
}

void Sections::logs(const json& v, Config::Logs& out) {
  JsonObject o(v, "logs", errors_);
  whole(o, "keep_attempts", 1, 10000, out.keep_attempts);
  o.refuse_unknown_keys();
}

void Sections::http(const json& v, Config::Http& out) {
  JsonObject o(v, "http", errors_);
  if (auto l = o.string("listen", Need::kOptional)) {
    if (*l == "off" || parse_listen_address(*l)) {
      out.listen = *l;
    } else {
      o.error("listen",
              "expected an IP address and a port, such as \"127.0.0.1:8347\" (this host only), "
              "\"0.0.0.0:8347\" or \"[::1]:8347\"; or \"off\"");
    }
  }
  duration(o, "request_timeout", out.request_timeout, "\"10s\"");
  if (auto u = o.string("public_url", Need::kOptional)) {
    if (u->rfind("http://", 0) == 0 || u->rfind("https://", 0) == 0) {
      out.public_url = *u;
    } else {
      o.error("public_url",
              "expected the dashboard's address as people reach it, such as "
              "\"https://tvd.example.org/\"");
    }
  }
  o.refuse_unknown_keys();
}

void Sections::check(const json& v, Config::Check& out) {
  JsonObject o(v, "check", errors_);
  if (const json* e = o.get("evaluate", Need::kOptional)) {
    if (e->is_boolean()) {
      out.evaluate = e->get<bool>();
    } else if (!(e->is_string() && *e == "auto")) {
      o.error("evaluate", "expected true, false or \"auto\" (when nix-instantiate is found)");
    }
  }
  if (auto n = o.string("nix_instantiate", Need::kOptional)) out.nix_instantiate = *n;
  if (auto st = o.string("store", Need::kOptional)) out.store = *st;
  if (auto np = o.strings("nix_path", Need::kOptional)) {
    for (auto& entry : *np) {
      auto eq = entry.find('=');
      if (eq != std::string::npos && eq > 0)
        entry = entry.substr(0, eq + 1) + resolve(base_, entry.substr(eq + 1)).string();
      out.nix_path.push_back(entry);
    }
  }
  if (const json* src = o.get("nixpkgs_sources", Need::kOptional)) {
    if (!src->is_object()) {
      o.error("nixpkgs_sources", "expected {\"<nixpkgs commit>\": \"/path/to/its/copy\"}");
    } else {
      for (const auto& [commit, p] : src->items()) {
        if (!p.is_string() || p.get<std::string>().empty()) {
          o.error("nixpkgs_sources", "\"" + commit + "\": expected a path");
        } else {
          out.nixpkgs_sources[commit] = resolve(base_, p.get<std::string>());
        }
      }
    }
  }
  whole(o, "parallel", 1u, 256u, out.parallel);
  duration(o, "timeout", out.timeout, "\"300s\"");
  o.refuse_unknown_keys();
}

}  // namespace config_sections

using config_sections::Sections;

Result<Config> parse_config(std::string_view json_text, std::string_view origin,
                            const std::filesystem::path& base_dir) {
  json doc;
  try {
    doc = json::parse(json_text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    return fail(ErrorKind::kBadInput, std::string(origin) + ": not valid JSON: " + e.what(),
                "comments (// and /* */) are allowed, trailing commas are not");
  }
  Config c;
  c.source = std::string(origin);
  std::vector<std::string> errors;
  JsonObject root(doc, "", errors);
  Sections read(base_dir, errors);
  read.paths(root, c);
  if (const json* v = root.get("publish", Need::kOptional)) read.publish(*v, c.publish);
  if (const json* v = root.get("scheduler", Need::kOptional)) read.scheduler(*v, c.scheduler);
  if (const json* v = root.get("builders", Need::kOptional)) read.builders(*v, c.builders);
  if (const json* v = root.get("builds", Need::kOptional)) read.builds(*v, c.builds);
  if (const json* v = root.get("logs", Need::kOptional)) read.logs(*v, c.logs);
  if (const json* v = root.get("http", Need::kOptional)) read.http(*v, c.http);
  if (const json* v = root.get("check", Need::kOptional)) read.check(*v, c.check);
  if (const json* v = root.get("notify", Need::kOptional)) read_notify(*v, c.notify, errors);
  if (const json* v = root.get("axes", Need::kOptional)) read.axes(*v, "axes", c.axes);
  if (const json* v = root.get("products", Need::kOptional)) read.products(*v, c.products);
  if (const json* v = root.get("environments", Need::kOptional)) {
    c.environments_given = true;
    read.environments(*v, c);
  } else {
    // The shorthand: one TorchVision environment in flox_env.
    EnvironmentConfig e;
    e.name = kDefaultEnvironment;
    e.product = "torchvision";
    e.flox_env = c.flox_env;
    c.environments.push_back(std::move(e));
  }
  if (c.publish.enabled) {
    for (size_t i = 0; i < c.environments.size(); ++i) {
      const auto& e = c.environments[i];
      if (c.publish.org.empty() && !e.org) {
        errors.push_back(c.environments_given
                             ? "environments[" + std::to_string(i) +
                                   "].org: is needed when "
                                   "publish.enabled is true and publish.org is not set (the "
                                   "FloxHub organisation)"
                             : "publish.org: is needed when publish.enabled is true (the FloxHub "
                               "organisation)");
      }
    }
  }
  root.refuse_unknown_keys();
  if (!errors.empty()) {
    return tl::unexpected(problems_error(
        origin, errors, "config/tvd.json in the source tree shows every key with its default"));
  }
  return c;
}

Result<Config> load_config(const std::optional<std::filesystem::path>& path) {
  std::filesystem::path file = path.value_or(kDefaultConfigPath);
  auto text = read_file(file);
  if (!text) {
    if (!path && text.error().kind == ErrorKind::kNotFound) {
      std::error_code ec;
      auto cwd = std::filesystem::current_path(ec);
      auto c = parse_config("{}", "(built-in defaults)", ec ? "." : cwd);
      return c;
    }
    Error e = text.error();
    e.kind = ErrorKind::kBadInput;
    e.message = "config: " + e.message;
    e.hint = "pass --config with an existing file, or omit it to use " +
             std::string(kDefaultConfigPath) + " or the built-in defaults";
    return tl::unexpected(std::move(e));
  }
  auto abs = std::filesystem::absolute(file);
  return parse_config(*text, file.string(), abs.parent_path());
}

Status apply_axes(const std::optional<std::string>& nixpkgs, const AxesChoice& choice,
                  Matrix& matrix, const std::string& where) {
  if (nixpkgs) {
    if (auto st = matrix.set_nixpkgs(*nixpkgs); !st) {
      return fail(ErrorKind::kBadInput, where + ": nixpkgs: " + st.error().message,
                  st.error().hint);
    }
  }
  Axes axes = matrix.axes();
  if (choice.python) axes.python = *choice.python;
  if (choice.cuda) axes.cuda = *choice.cuda;
  if (choice.gpu_archs) axes.gpu_archs = *choice.gpu_archs;
  if (choice.cpu_isas) axes.cpu_isas = *choice.cpu_isas;
  if (choice.cpu_only) axes.cpu_only = *choice.cpu_only;
  auto st = matrix.set_axes(std::move(axes));
  if (!st) {
    return fail(ErrorKind::kBadInput, where + ": axes: " + st.error().message,
                "axes name rows of matrix.json's tables; 'tvd matrix --json' shows them");
  }
  return {};
}

}  // namespace tvd
