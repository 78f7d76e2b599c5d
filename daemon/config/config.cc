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

namespace tvd {

using Need = JsonObject::Need;
using nlohmann::json;

namespace {

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p) {
  std::filesystem::path path =
      std::filesystem::path(p).is_absolute() ? std::filesystem::path(p) : base / p;
  path = path.lexically_normal();
  if (path.filename().empty() && path.has_relative_path()) path = path.parent_path();
  return path;
}

}  // namespace

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

  auto path_key = [&](JsonObject& obj, std::string_view key, std::filesystem::path& out) {
    if (auto s = obj.string(key, Need::kOptional)) {
      if (s->empty())
        obj.error(key, "must not be empty");
      else
        out = resolve(base_dir, *s);
    }
  };
  auto size_key = [&](JsonObject& obj, std::string_view key, auto&& store, bool allow_auto) {
    const json* v = obj.get(key, Need::kOptional);
    if (!v) return;
    if (!v->is_string()) {
      obj.error(key, "expected a size as a string, such as \"48GiB\"" +
                         std::string(allow_auto ? " or \"auto\"" : ""));
      return;
    }
    auto s = v->get<std::string>();
    if (allow_auto && s == "auto") {
      store(std::nullopt);
      return;
    }
    auto size = parse_size(s);
    if (!size)
      obj.error(key, size.error().message + "; " + size.error().hint);
    else if (*size == 0)
      obj.error(key, "must be more than 0");
    else
      store(std::optional<uint64_t>(*size));
  };

  std::filesystem::path flox_env = resolve(base_dir, ".");
  path_key(root, "flox_env", flox_env);
  c.flox_env = flox_env;
  std::filesystem::path pytorch_env;
  path_key(root, "pytorch_env", pytorch_env);
  c.pytorch_env = pytorch_env.empty() ? c.flox_env.parent_path() / "build-pytorch" : pytorch_env;
  path_key(root, "state_dir", c.state_dir);
  path_key(root, "socket", c.socket);
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
      c.flox = s->find('/') == std::string::npos ? *s : resolve(base_dir, *s).string();
  }

  c.flox_metrics = root.boolean("flox_metrics", Need::kOptional).value_or(false);

  if (const json* p = root.get("publish", Need::kOptional)) {
    JsonObject o(*p, "publish", errors);
    c.publish.enabled = o.boolean("enabled", Need::kOptional).value_or(false);
    c.publish.org = o.string("org", Need::kOptional).value_or("");
    c.publish.push = o.boolean("push", Need::kOptional).value_or(false);
    std::filesystem::path key;
    path_key(o, "signing_key", key);
    if (!key.empty()) c.publish.signing_key = key;
    if (c.publish.enabled && c.publish.org.empty()) {
      o.error("org", "is needed when publish.enabled is true (the FloxHub organisation)");
    }
    o.refuse_unknown_keys();
  }

  if (const json* s = root.get("scheduler", Need::kOptional)) {
    JsonObject o(*s, "scheduler", errors);
    if (const json* mp = o.get("max_parallel", Need::kOptional)) {
      if (mp->is_string() && *mp == "auto") {
        c.scheduler.max_parallel.reset();
      } else if (mp->is_number_unsigned() && *mp >= 1 && *mp <= 1024) {
        c.scheduler.max_parallel = mp->get<unsigned>();
      } else {
        o.error("max_parallel", "expected a whole number from 1 to 1024, or \"auto\"");
      }
    }
    size_key(
        o, "memory_budget", [&](std::optional<uint64_t> v) { c.scheduler.memory_budget = v; },
        true);
    if (const json* per = o.get("memory_per_build", Need::kOptional)) {
      JsonObject po(*per, "scheduler.memory_per_build", errors);
      size_key(
          po, "gpu", [&](std::optional<uint64_t> v) { c.scheduler.memory_per_build_gpu = *v; },
          false);
      size_key(
          po, "cpu", [&](std::optional<uint64_t> v) { c.scheduler.memory_per_build_cpu = *v; },
          false);
      po.refuse_unknown_keys();
    }
    if (const json* p = o.get("max_memory_pressure", Need::kOptional)) {
      if (p->is_number() && *p >= 0 && *p <= 100) {
        c.scheduler.max_memory_pressure = p->get<double>();
      } else {
        o.error("max_memory_pressure", "expected a percentage from 0 to 100");
      }
    }
    size_key(
        o, "min_free_disk", [&](std::optional<uint64_t> v) { c.scheduler.min_free_disk = *v; },
        false);
    o.refuse_unknown_keys();
  }

  if (const json* b = root.get("builds", Need::kOptional)) {
    JsonObject o(*b, "builds", errors);
    auto duration_key = [&](std::string_view key, std::chrono::seconds& out) {
      if (auto s = o.string(key, Need::kOptional)) {
        auto d = parse_duration(*s);
        if (!d || d->count() <= 0) {
          o.error(key, "expected a duration such as \"12h\" or \"90min\"");
        } else if (*d > std::chrono::hours(24 * 30)) {
          // Longer is a mistake, and doubling it for backoff would overflow.
          o.error(key, "is longer than 30 days; expected a duration such as \"12h\"");
        } else {
          out = *d;
        }
      }
    };
    duration_key("timeout", c.builds.timeout);
    duration_key("silence_timeout", c.builds.silence_timeout);
    duration_key("publish_timeout", c.builds.publish_timeout);
    duration_key("backoff", c.builds.backoff);
    if (const json* t = o.get("max_tries", Need::kOptional)) {
      if (t->is_number_unsigned() && *t >= 1 && *t <= 20) {
        c.builds.max_tries = t->get<int>();
      } else {
        o.error("max_tries", "expected a whole number from 1 to 20");
      }
    }
    size_key(
        o, "log_limit", [&](std::optional<uint64_t> v) { c.builds.log_limit = *v; }, false);
    o.refuse_unknown_keys();
  }

  if (const json* l = root.get("logs", Need::kOptional)) {
    JsonObject o(*l, "logs", errors);
    if (const json* k = o.get("keep_attempts", Need::kOptional)) {
      if (k->is_number_unsigned() && *k >= 1 && *k <= 10000) {
        c.logs.keep_attempts = k->get<int>();
      } else {
        o.error("keep_attempts", "expected a whole number from 1 to 10000");
      }
    }
    o.refuse_unknown_keys();
  }

  if (const json* h = root.get("http", Need::kOptional)) {
    JsonObject o(*h, "http", errors);
    if (auto l = o.string("listen", Need::kOptional)) {
      if (*l == "off" || parse_listen_address(*l)) {
        c.http.listen = *l;
      } else {
        o.error("listen",
                "expected an IP address and a port, such as \"127.0.0.1:8347\" (this host only), "
                "\"0.0.0.0:8347\" or \"[::1]:8347\"; or \"off\"");
      }
    }
    if (auto t = o.string("request_timeout", Need::kOptional)) {
      auto d = parse_duration(*t);
      if (!d || d->count() <= 0) {
        o.error("request_timeout", "expected a duration such as \"10s\"");
      } else {
        c.http.request_timeout = *d;
      }
    }
    o.refuse_unknown_keys();
  }

  if (const json* k = root.get("check", Need::kOptional)) {
    JsonObject o(*k, "check", errors);
    if (const json* e = o.get("evaluate", Need::kOptional)) {
      if (e->is_boolean()) {
        c.check.evaluate = e->get<bool>();
      } else if (!(e->is_string() && *e == "auto")) {
        o.error("evaluate", "expected true, false or \"auto\" (when nix-instantiate is found)");
      }
    }
    if (auto n = o.string("nix_instantiate", Need::kOptional)) c.check.nix_instantiate = *n;
    if (auto st = o.string("store", Need::kOptional)) c.check.store = *st;
    if (auto np = o.strings("nix_path", Need::kOptional)) {
      for (auto& entry : *np) {
        auto eq = entry.find('=');
        if (eq != std::string::npos && eq > 0)
          entry = entry.substr(0, eq + 1) + resolve(base_dir, entry.substr(eq + 1)).string();
        c.check.nix_path.push_back(entry);
      }
    }
    if (const json* src = o.get("nixpkgs_sources", Need::kOptional)) {
      if (!src->is_object()) {
        o.error("nixpkgs_sources", "expected {\"<nixpkgs commit>\": \"/path/to/its/copy\"}");
      } else {
        for (const auto& [commit, path] : src->items()) {
          if (!path.is_string() || path.get<std::string>().empty()) {
            o.error("nixpkgs_sources", "\"" + commit + "\": expected a path");
          } else {
            c.check.nixpkgs_sources[commit] = resolve(base_dir, path.get<std::string>());
          }
        }
      }
    }
    if (const json* par = o.get("parallel", Need::kOptional)) {
      if (par->is_number_unsigned() && *par >= 1 && *par <= 256) {
        c.check.parallel = par->get<unsigned>();
      } else {
        o.error("parallel", "expected a whole number from 1 to 256");
      }
    }
    if (auto t = o.string("timeout", Need::kOptional)) {
      auto d = parse_duration(*t);
      if (!d || d->count() <= 0) {
        o.error("timeout", "expected a duration such as \"300s\"");
      } else {
        c.check.timeout = *d;
      }
    }
    o.refuse_unknown_keys();
  }

  std::filesystem::path matrix_path, templates_path;
  path_key(root, "matrix", matrix_path);
  if (!matrix_path.empty()) c.matrix = matrix_path;
  path_key(root, "templates", templates_path);
  if (!templates_path.empty()) c.templates = templates_path;

  c.nixpkgs = root.string("nixpkgs", Need::kOptional);

  if (const json* a = root.get("axes", Need::kOptional)) {
    JsonObject o(*a, "axes", errors);
    Axes axes;
    auto list = [&](std::string_view key, std::vector<std::string>& out, bool& set) {
      if (auto v = o.strings(key, Need::kOptional)) {
        out = std::move(*v);
        set = true;
      }
    };
    list("python", axes.python, c.axes_python);
    list("cuda", axes.cuda, c.axes_cuda);
    list("gpu_archs", axes.gpu_archs, c.axes_gpu_archs);
    list("cpu_isas", axes.cpu_isas, c.axes_cpu_isas);
    if (auto b = o.boolean("cpu_only", Need::kOptional)) {
      axes.cpu_only = *b;
      c.axes_cpu_only = true;
    }
    o.refuse_unknown_keys();
    c.axes = std::move(axes);
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

Status apply_axes(const Config& config, Matrix& matrix) {
  if (config.nixpkgs) {
    if (auto st = matrix.set_nixpkgs(*config.nixpkgs); !st) {
      return fail(ErrorKind::kBadInput, config.source + ": nixpkgs: " + st.error().message,
                  st.error().hint);
    }
  }
  if (!config.axes) return {};
  Axes axes = matrix.axes();
  if (config.axes_python) axes.python = config.axes->python;
  if (config.axes_cuda) axes.cuda = config.axes->cuda;
  if (config.axes_gpu_archs) axes.gpu_archs = config.axes->gpu_archs;
  if (config.axes_cpu_isas) axes.cpu_isas = config.axes->cpu_isas;
  if (config.axes_cpu_only) axes.cpu_only = config.axes->cpu_only;
  auto st = matrix.set_axes(std::move(axes));
  if (!st) {
    return fail(ErrorKind::kBadInput, config.source + ": axes: " + st.error().message,
                "axes name rows of matrix.json's tables; 'tvd matrix --json' shows them");
  }
  return {};
}

}  // namespace tvd
