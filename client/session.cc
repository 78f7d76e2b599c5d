#include "client/session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "client/connection.h"
#include "daemon/base/file.h"
#include "daemon/base/table.h"
#include "daemon/base/units.h"
#include "proto/protocol.h"

namespace tvd::client {

using nlohmann::json;

std::string ago(int64_t then) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return format_duration(std::chrono::seconds(std::max<int64_t>(0, now - then))) + " ago";
}

// A job's state as the terminal shows it, coloured by what it is (read through its names table).
std::string paint(const Global& g, const std::string& state) {
  auto s = proto::kJobStates.parse(state);
  if (!g.color || !s) return state;
  const char* c = "";
  switch (*s) {
    case proto::JobState::kSucceeded:
      c = "\033[32m";
      break;
    case proto::JobState::kFailed:
      c = "\033[31m";
      break;
    case proto::JobState::kBuilding:
    case proto::JobState::kPublishing:
      c = "\033[33m";
      break;
    case proto::JobState::kCancelled:
      c = "\033[90m";
      break;
    case proto::JobState::kQueued:
      break;
  }
  return *c ? std::string(c) + state + "\033[0m" : state;
}

// "[#######...........]  35%": how far a build is along its expected duration.
std::string progress_bar(int64_t done, int64_t total) {
  constexpr int kWidth = 20;
  int64_t pct = total > 0 ? std::clamp<int64_t>(done * 100 / total, 0, 99) : 0;
  int filled = static_cast<int>(pct * kWidth / 100);
  std::string bar = "[" + std::string(static_cast<size_t>(filled), '#') +
                    std::string(static_cast<size_t>(kWidth - filled), '.') + "]";
  char buf[8];
  std::snprintf(buf, sizeof buf, " %3d%%", static_cast<int>(pct));
  return bar + buf;
}

// --socket, then $TVD_SOCKET, then the config's socket. tvctl reads the one key itself (as tvd's
// parser reads it: comments allowed, a relative path from the config's directory) rather than
// link the daemon's config parser; a config it cannot read is an error, as for tvd.
Result<std::string> socket_path(const Global& g) {
  if (!g.socket.empty()) return g.socket;
  if (const char* env = std::getenv("TVD_SOCKET"); env && *env) return std::string(env);
  const std::filesystem::path file = g.config.empty() ? proto::kDefaultConfigPath : g.config;
  auto text = read_file(file);
  if (!text) {
    if (g.config.empty() && text.error().kind == ErrorKind::kNotFound) return proto::kDefaultSocket;
    return fail(ErrorKind::kBadInput, "config: " + text.error().message,
                "pass --config with an existing file, or --socket PATH");
  }
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail(ErrorKind::kBadInput, file.string() + ": not a JSON object",
                "'tvd check-config' says what is wrong with it; or pass --socket PATH");
  }
  auto it = doc.find("socket");
  if (it == doc.end()) return proto::kDefaultSocket;
  if (!it->is_string() || it->get<std::string>().empty()) {
    return fail(ErrorKind::kBadInput, file.string() + ": socket: expected a path as a string",
                "'tvd check-config' says what is wrong with it; or pass --socket PATH");
  }
  std::filesystem::path socket = it->get<std::string>();
  if (socket.is_relative()) socket = std::filesystem::absolute(file).parent_path() / socket;
  return socket.lexically_normal().string();
}

// Text from the daemon (an error, a reason) as a terminal may show it: control characters,
// such as an escape that would recolour or move the cursor, are shown as \xNN.
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char ch : text) {
    if (ch < 0x20 && ch != '\n' && ch != '\t') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    } else if (ch == 0x7f) {
      out += "\\x7f";
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

int fail_with(const Error& e, std::ostream& err, int code) {
  err << "tvctl: error: " << printable(e.message) << '\n';
  if (!e.hint.empty()) err << "  hint: " << printable(e.hint) << '\n';
  return code;
}

// One request; prints the error reply, returns nullopt and sets `code` on failure.
std::optional<json> call(const Global& g, std::string_view op, const json& args, std::ostream& err,
                         int& code) {
  auto path = socket_path(g);
  if (!path) {
    code = fail_with(path.error(), err, 2);
    return std::nullopt;
  }
  auto conn = Connection::open(*path, std::chrono::seconds(g.timeout));
  if (!conn) {
    code = fail_with(conn.error(), err, 3);
    return std::nullopt;
  }
  auto reply = conn->call(std::string(op), args);
  if (!reply) {
    code = fail_with(reply.error(), err, 3);
    return std::nullopt;
  }
  if (!reply->ok) {
    const auto& e = *reply->error;
    code = fail_with({ErrorKind::kBadInput, e.message, e.hint}, err, proto::exit_code(e.code));
    return std::nullopt;
  }
  code = 0;
  return reply->result;
}

void print_jobs(const Global& g, const std::vector<proto::JobView>& jobs,
                const std::map<std::string, std::string>& waiting, std::ostream& out) {
  Table t({"JOB", "VARIANT", "STATE", "PHASE", "WHEN", "NOTE"});
  for (const auto& j : jobs) {
    std::string when;
    if (j.finished_at) {
      when = "finished " + ago(*j.finished_at);
    } else if (j.started_at) {
      when = "started " + ago(*j.started_at);
    } else {
      when = "queued " + ago(j.enqueued_at);
    }
    std::string note = printable(!j.error.empty() ? j.error : j.note);
    std::string id = std::to_string(j.id);
    if (j.eta_at && j.expected_s) {
      auto now = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
      int64_t left = *j.eta_at - now;
      int64_t expected = *j.expected_s;
      // Where the expectation comes from: only this variant's own builds are its history.
      const std::string from = j.expected_from == "history" ? " (from history)"
                               : j.expected_from == "kind"  ? " (from builds of its kind)"
                                                            : " (a default: no build of it yet)";
      note = progress_bar(expected - left, expected) + " " +
             (left > 0 ? "ETA " + format_duration(std::chrono::seconds(left)) + from
                       : "running past its expected " +
                             format_duration(std::chrono::seconds(expected)) + from);
    }
    if (auto w = waiting.find(id); w != waiting.end()) note = w->second;
    // A variant as people name it: ENV/PACKAGE outside the default environment.
    const std::string variant =
        j.environment == "default" ? j.package : j.environment + "/" + j.package;
    t.add({id, variant, paint(g, j.state), j.phase, when, note});
  }
  t.print(out);
}

void print_status(const Global& g, const proto::StatusView& r, std::ostream& out) {
  print_jobs(g, r.jobs, r.waiting, out);
  std::string summary;
  for (const auto& [state, n] : r.summary) {
    summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + state;
  }
  out << '\n'
      << (summary.empty() ? "no jobs" : "jobs in the store: " + summary) << "; memory reserved "
      << format_size(r.memory.reserved) << " of " << format_size(r.memory.budget) << ", "
      << r.memory.max_parallel << " slots\n";
  // Each builder, when builds run beyond the host.
  for (const auto& b : r.builders) {
    std::string systems;
    for (const auto& s : b.systems)
      systems += (systems.empty() ? "" : ",") + s;
    out << "builder " << b.name << " (" << systems << "): " << b.busy << " of " << b.slots
        << " slots, " << format_size(b.reserved) << " of " << format_size(b.budget) << " reserved"
        << (b.reachable ? "" : "; unreachable, probed until it answers") << '\n';
  }
  if (r.paused) {
    out << (r.paused->mode == "drain" ? "DRAINING" : "PAUSED") << " by " << printable(r.paused->by)
        << " " << ago(r.paused->since) << ": no build starts"
        << (r.paused->mode == "drain" ? " (until tvd restarts or tvctl resume)"
                                      : " until tvctl resume (kept across restarts)")
        << '\n';
  }
  for (const auto& note : r.gates)
    out << "note: " << note << '\n';
}

}  // namespace tvd::client
