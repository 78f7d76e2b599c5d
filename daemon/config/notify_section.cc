#include "daemon/config/notify_section.h"

#include <set>

#include "daemon/base/json_object.h"
#include "daemon/base/units.h"
#include "proto/notification.h"

namespace tvd {

namespace {

using Need = JsonObject::Need;

std::string kinds_list() {
  std::string out;
  for (const auto& [kind, name] : proto::kNotificationKinds.entries())
    out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

}  // namespace

void read_notify(const nlohmann::json& v, std::vector<Config::Notify>& out,
                 std::vector<std::string>& errors) {
  if (!v.is_array()) {
    errors.push_back(
        R"(notify: expected a list of receivers, such as [{"command": ["/usr/local/bin/tvd-mail"]}, {"webhook": "http://127.0.0.1:9000/tvd", "events": ["job_failed"]}])");
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string where = "notify[" + std::to_string(i) + "]";
    JsonObject o(v[i], where, errors);
    Config::Notify n;
    if (const nlohmann::json* c = o.get("command", Need::kOptional)) {
      bool ok = c->is_array() && !c->empty();
      for (const auto& a : ok ? *c : nlohmann::json::array())
        ok = ok && a.is_string() && !a.get<std::string>().empty();
      if (ok) {
        n.command = c->get<std::vector<std::string>>();
      } else {
        o.error(
            "command",
            R"(expected the program and its arguments, no shell: ["/usr/local/bin/tvd-mail", "--to", "ops@example.org"] (["/bin/sh", "-c", "..."] for a shell))");
      }
    }
    if (auto w = o.string("webhook", Need::kOptional)) {
      if (w->rfind("http://", 0) == 0 && w->size() > 7) {
        n.webhook = *w;
      } else if (w->rfind("https://", 0) == 0) {
        o.error(
            "webhook",
            "tvd posts to http:// only; for https use a command, such as "
            R"(["/usr/bin/curl", "-fsS", "--data-binary", "@-", "-H", "Content-Type: application/json", ")" +
                *w + "\"]");
      } else {
        o.error("webhook", "expected an http:// URL, such as \"http://127.0.0.1:9000/tvd\"");
      }
    }
    if (v[i].is_object() && v[i].contains("command") == v[i].contains("webhook")) {
      o.error("command", v[i].contains("command")
                             ? "a receiver is a command or a webhook, not both"
                             : "missing: give each receiver a command or a webhook");
    }
    if (auto kinds = o.strings("events", Need::kOptional)) {
      for (const auto& k : *kinds) {
        if (!proto::kNotificationKinds.parse(k)) {
          o.error("events", "unknown kind \"" + k + "\"; the kinds are " + kinds_list());
        }
      }
      n.events = *kinds;
    }
    if (auto t = o.string("timeout", Need::kOptional)) {
      auto d = parse_duration(*t);
      if (d && d->count() > 0 && *d <= std::chrono::minutes(10)) {
        n.timeout = *d;
      } else {
        o.error("timeout", "expected a duration up to 10 minutes, such as \"10s\"");
      }
    }
    if (const nlohmann::json* r = o.get("retries", Need::kOptional)) {
      if (r->is_number_unsigned() && *r <= 10) {
        n.retries = r->get<int>();
      } else {
        o.error("retries", "expected a whole number from 0 to 10");
      }
    }
    if (auto name = o.string("name", Need::kOptional)) {
      n.name = *name;
    } else if (!n.command.empty()) {
      for (const auto& a : n.command)
        n.name += (n.name.empty() ? "" : " ") + a;
    } else {
      n.name = n.webhook;
    }
    if (!n.name.empty() && !names.insert(n.name).second) {
      o.error("name", "another receiver is also \"" + n.name +
                          "\": give each a name of its own (its delivery cursor is kept by name)");
    }
    o.refuse_unknown_keys();
    out.push_back(std::move(n));
  }
}

}  // namespace tvd
