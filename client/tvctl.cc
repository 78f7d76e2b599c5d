#include "client/tvctl.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

#include "client/connection.h"
#include "daemon/base/table.h"
#include "daemon/base/units.h"
#include "daemon/config/config.h"
#include "proto/views.h"

namespace tvd::client {
namespace {

using nlohmann::json;

struct Global {
  std::string socket;
  std::string config;
  bool json = false;
  bool color = false;
  int timeout = 30;  // seconds to connect and for each reply; 0: none
};

std::string ago(int64_t then) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return format_duration(std::chrono::seconds(std::max<int64_t>(0, now - then))) + " ago";
}

std::string paint(const Global& g, const std::string& state) {
  if (!g.color) return state;
  const char* c = state == "succeeded"                           ? "\033[32m"
                  : state == "failed"                            ? "\033[31m"
                  : state == "building" || state == "publishing" ? "\033[33m"
                  : state == "cancelled"                         ? "\033[90m"
                                                                 : "";
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

// --socket, then $TVD_SOCKET, then the config's socket.
Result<std::string> socket_path(const Global& g) {
  if (!g.socket.empty()) return g.socket;
  if (const char* env = std::getenv("TVD_SOCKET"); env && *env) return std::string(env);
  auto c =
      load_config(g.config.empty() ? std::nullopt : std::optional<std::filesystem::path>(g.config));
  if (!c) return tl::unexpected(c.error());
  return c->socket.string();
}

int fail_with(const Error& e, std::ostream& err, int code) {
  err << "tvctl: error: " << e.message << '\n';
  if (!e.hint.empty()) err << "  hint: " << e.hint << '\n';
  return code;
}

// One request; prints the error reply, returns nullopt and sets `code` on failure.
std::optional<json> call(const Global& g, const std::string& op, const json& args,
                         std::ostream& err, int& code) {
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
  auto reply = conn->call(op, args);
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

// The payload of a reply as its view; a payload this tvctl cannot read is said, and sets `code`.
template <class View>
std::optional<View> view_of(const json& payload, std::ostream& err, int& code) {
  auto v = proto::read_view<View>(payload);
  if (!v) {
    code = fail_with(v.error(), err, 1);
    return std::nullopt;
  }
  return std::move(*v);
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
    std::string note = !j.error.empty() ? j.error : j.note;
    std::string id = std::to_string(j.id);
    if (j.eta_at && j.expected_s) {
      auto now = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
      int64_t left = *j.eta_at - now;
      int64_t expected = *j.expected_s;
      note = progress_bar(expected - left, expected) + " " +
             (left > 0
                  ? "ETA " + format_duration(std::chrono::seconds(left)) + " (from history)"
                  : "running past its expected " + format_duration(std::chrono::seconds(expected)));
    }
    if (auto w = waiting.find(id); w != waiting.end()) note = w->second;
    t.add({id, j.variant, paint(g, j.state), j.phase, when, note});
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
      << (summary.empty() ? "no jobs" : summary) << "; memory reserved "
      << format_size(r.memory.reserved) << " of " << format_size(r.memory.budget) << ", "
      << r.memory.max_parallel << " slots\n";
  for (const auto& note : r.gates)
    out << "note: " << note << '\n';
}

}  // namespace

int run_tvctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              bool terminal) {
  CLI::App app{"tvctl: talks to tvd, the TorchVision build-matrix daemon", "tvctl"};
  app.fallthrough();
  app.require_subcommand(1);
  Global g;
  app.add_option("--socket", g.socket,
                 "the daemon's socket (default: $TVD_SOCKET, then the config's)");
  app.add_option("--config", g.config,
                 "the config whose socket to use (default /etc/tvd/tvd.json)");
  app.add_flag("--json", g.json, "print one JSON document");
  app.add_option("--timeout", g.timeout,
                 "seconds to wait for the daemon to accept and to answer (default 30; 0: no "
                 "limit; logs -f and watch wait as long as they follow)")
      ->check(CLI::NonNegativeNumber);
  app.footer(
      "Examples:\n"
      "  tvctl enqueue sm89-avx512vnni      build one variant now\n"
      "  tvctl status                        what runs, what waits and why\n"
      "  tvctl cancel 12 13\n"
      "Exit codes: 0 done, 1 refused or failed, 2 bad usage or input, 3 daemon unreachable.");

  std::vector<std::string> specs;
  bool all = false, force = false, no_publish = false;
  int priority = 0;
  std::string batch;
  auto* enqueue = app.add_subcommand("enqueue", "queue variants for building (and publishing)");
  enqueue->add_option("spec", specs, "sm89-avx512vnni, cpu-avx2, 'sm90-*', a package name");
  enqueue->add_flag("--all", all, "every buildable variant of the matrix");
  enqueue->add_option("--batch", batch, "name the batch (the nightly uses 'nightly')");
  enqueue->add_option("--priority", priority, "higher starts first (default 0)");
  enqueue->add_flag("--force", force,
                    "accept excluded variants; rebuild ones still failing; build a recipe tvd "
                    "check finds errors in");
  enqueue->add_flag("--no-publish", no_publish, "build only");
  enqueue->footer(
      "Examples:\n  tvctl enqueue sm89-avx512vnni cpu-avx2\n  tvctl enqueue --all --batch nightly");

  auto* status = app.add_subcommand("status", "jobs: what runs, what waits and why, what finished");
  double watch_interval = 2;
  int watch_count = 0;
  auto* watch = app.add_subcommand("watch", "status, redrawn until interrupted");
  watch->add_option("--interval", watch_interval, "seconds between redraws (default 2)");
  watch->add_option("--count", watch_count, "stop after this many redraws (default: never)");
  watch->footer("Example:\n  tvctl watch --interval 5");
  status->footer(
      "Examples:\n  tvctl status\n  tvctl --json status | jq '.jobs[] | select(.state == "
      "\"failed\")'");
  int64_t job = 0;
  auto* show = app.add_subcommand("show", "one job with its attempts");
  show->add_option("job", job, "the job id")->required();
  show->footer(
      "Example:\n  tvctl show 12        attempts, logs and reasons of job 12 (exit 1 if it "
      "failed)");
  std::vector<int64_t> jobs;
  auto* cancel = app.add_subcommand("cancel", "cancel queued or running jobs");
  cancel->add_option("job", jobs, "job ids")->required();
  cancel->footer(
      "Example:\n  tvctl cancel 12 13   a running build's whole process group is stopped");
  auto* retry = app.add_subcommand("retry", "a failed or cancelled job again");
  retry->add_option("job", job, "the job id")->required();
  retry->footer(
      "Example:\n  tvctl retry 12       a job whose build succeeded retries only its publish");
  auto* matrix =
      app.add_subcommand("matrix", "every cell of the matrix: recipe, GPU target, exclusions");
  matrix->footer("Example:\n  tvctl --json matrix | jq '.summary'");
  bool dry_run = false;
  auto* generate =
      app.add_subcommand("generate", "write and commit missing recipes through the daemon");
  generate->add_option("spec", specs, "variants, as for enqueue");
  generate->add_flag("--all", all, "every variant of the matrix");
  generate->add_flag("--dry-run", dry_run, "only say what would be written");
  generate->add_flag("--force", force, "accept excluded variants");
  generate->footer(
      "Examples:\n  tvctl generate --all --dry-run\n  tvctl generate 'sm90-*'     written and "
      "committed, one commit each");
  auto* batches =
      app.add_subcommand("batches", "the batches (nightly runs): when, how long, how they went");
  int64_t batch_id = 0;
  auto* show_batch = app.add_subcommand(
      "show-batch", "one batch: counts, skipped and why, changes since the previous one");
  show_batch->add_option("batch", batch_id, "the batch id")->required();
  show_batch->footer(
      "Example:\n  tvctl show-batch 12   newly failing and fixed variants against the night "
      "before");
  bool follow = false;
  auto* logs = app.add_subcommand("logs", "the log of a job's latest attempt (the last 64 KiB)");
  logs->add_option("job", job, "the job id")->required();
  logs->add_flag("-f,--follow", follow, "keep printing as the build writes, until the job ends");
  logs->footer(
      "Examples:\n  tvctl logs 12\n  tvctl logs -f 12      follow a running build until it ends");

  std::vector<std::string> rev(args.rbegin(), args.rend());
  try {
    app.parse(rev);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "tvctl: " << e.what() << "\n  hint: run 'tvctl --help' or 'tvctl COMMAND --help'\n";
    return 2;
  }
  g.color = terminal && !g.json && !std::getenv("NO_COLOR");

  int code = 0;
  if (enqueue->parsed()) {
    json a = {{"specs", specs},
              {"all", all},
              {"force", force},
              {"no_publish", no_publish},
              {"priority", priority}};
    if (!batch.empty()) a["batch"] = batch;
    auto r = call(g, "enqueue", a, err, code);
    if (!r) return code;
    if (g.json) {
      out << r->dump(2) << '\n';
      return 0;
    }
    auto v = view_of<proto::EnqueueView>(*r, err, code);
    if (!v) return code;
    print_jobs(g, v->jobs, {}, out);
    for (const auto& [pkg, why] : v->skipped)
      out << "skipped " << pkg << ": " << why << '\n';
    size_t created = 0, failed = 0;
    for (const auto& j : v->jobs) {
      const bool is_new = j.created.value_or(false);
      created += is_new;
      failed += is_new && j.state == "failed";  // its recipe would fail: at once
    }
    out << '\n'
        << created - failed << " queued, " << v->jobs.size() - created
        << " already queued or running, " << v->skipped.size() << " skipped";
    if (failed) out << ", " << failed << " failed at once ('tvd check' says why)";
    out << '\n';
    return failed ? 1 : 0;
  }
  if (watch->parsed()) {
    // Redraws status until interrupted (or `count` times, for scripts), waiting as long as the
    // daemon takes.
    g.timeout = 0;
    static volatile std::sig_atomic_t stop = 0;
    std::signal(SIGINT, [](int) { stop = 1; });
    for (int n = 0; !stop && (watch_count == 0 || n < watch_count); ++n) {
      auto r = call(g, "status", json::object(), err, code);
      if (!r) return code;
      auto v = view_of<proto::StatusView>(*r, err, code);
      if (!v) return code;
      if (terminal) out << "\033[H\033[2J";
      print_status(g, *v, out);
      out.flush();
      for (int i = 0; i < static_cast<int>(watch_interval * 10) && !stop; ++i) {
        if (watch_count != 0 && n + 1 == watch_count) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    return 0;
  }
  if (status->parsed()) {
    auto r = call(g, "status", json::object(), err, code);
    if (!r) return code;
    if (g.json) {
      out << r->dump(2) << '\n';
      return 0;
    }
    auto v = view_of<proto::StatusView>(*r, err, code);
    if (!v) return code;
    print_status(g, *v, out);
    return 0;
  }
  if (show->parsed()) {
    auto r = call(g, "show", {{"job", job}}, err, code);
    if (!r) return code;
    if (g.json) {
      out << r->dump(2) << '\n';
      return 0;
    }
    auto v = view_of<proto::JobDetailView>(*r, err, code);
    if (!v) return code;
    print_jobs(g, {v->job}, {}, out);
    out << '\n';
    Table t({"ATTEMPT", "PHASE", "OUTCOME", "STARTED", "LOG", "REASON"});
    for (const auto& a : v->attempts) {
      t.add({std::to_string(a.number), a.phase, a.outcome.value_or("running"), ago(a.started_at),
             a.log, a.reason});
    }
    t.print(out);
    return v->job.state == "failed" ? 1 : 0;
  }
  if (matrix->parsed() || generate->parsed()) {
    auto r = matrix->parsed()
                 ? call(g, "matrix", json::object(), err, code)
                 : call(g, "generate",
                        {{"specs", specs}, {"all", all}, {"dry_run", dry_run}, {"force", force}},
                        err, code);
    if (!r) return code;
    if (g.json) {
      out << r->dump(2) << '\n';
      return 0;
    }
    std::vector<proto::RecipeView> list;
    if (matrix->parsed()) {
      auto v = view_of<proto::MatrixView>(*r, err, code);
      if (!v) return code;
      list = std::move(v->cells);
    } else {
      auto v = view_of<proto::GenerateView>(*r, err, code);
      if (!v) return code;
      list = std::move(v->recipes);
    }
    Table t(matrix->parsed()
                ? std::vector<std::string>{"VARIANT", "RECIPE", "GPU TARGET", "NOTE"}
                : std::vector<std::string>{"OUTCOME", "VARIANT", "GPU TARGET", "NOTE"});
    for (const auto& c : list) {
      std::string note;
      for (const auto& e : c.excluded)
        note += (note.empty() ? "excluded: " : "; ") + e;
      size_t errors = 0;
      std::string first;
      for (const auto& f : c.findings) {
        if (f.severity != "error") continue;
        if (errors++ == 0) first = f.what;
      }
      if (errors) {
        note += (note.empty() ? "" : "; ") + ("recipe would fail: " + first) +
                (errors > 1 ? " (and " + std::to_string(errors - 1) + " more errors)" : "");
      }
      const std::string target = c.gpu_target.value_or("-");
      t.add({matrix->parsed() ? c.variant : c.outcome.value_or(""),
             matrix->parsed() ? c.state : c.variant, target, note});
    }
    t.print(out);
    return 0;
  }
  if (batches->parsed() || show_batch->parsed()) {
    auto r = batches->parsed() ? call(g, "batches", json::object(), err, code)
                               : call(g, "show-batch", {{"batch", batch_id}}, err, code);
    if (!r) return code;
    if (g.json) {
      out << r->dump(2) << '\n';
      return 0;
    }
    auto line = [&](const proto::BatchView& b) {
      std::string states;
      for (const auto& [state, n] : b.states)
        states += (states.empty() ? "" : ", ") + std::to_string(n) + " " + state;
      std::string took =
          b.duration_s ? format_duration(std::chrono::seconds(*b.duration_s)) : "running";
      return std::vector<std::string>{std::to_string(b.id), b.name, "started " + ago(b.started_at),
                                      took, states};
    };
    Table t({"BATCH", "NAME", "WHEN", "TOOK", "JOBS"});
    if (batches->parsed()) {
      auto v = view_of<proto::BatchesView>(*r, err, code);
      if (!v) return code;
      for (const auto& b : v->batches)
        t.add(line(b));
      t.print(out);
      return 0;
    }
    auto v = view_of<proto::BatchDetailView>(*r, err, code);
    if (!v) return code;
    t.add(line(v->batch));
    t.print(out);
    for (const auto& [variant, why] : v->skipped)
      out << "skipped " << variant << ": " << why << '\n';
    if (v->previous) {
      out << "previous: batch " << v->previous->id;
      if (v->previous->duration_s && v->batch.duration_s) {
        out << ", which took " << format_duration(std::chrono::seconds(*v->previous->duration_s));
      }
      out << '\n';
      for (const auto& variant : v->newly_failing)
        out << "newly failing: " << variant << '\n';
      for (const auto& variant : v->fixed)
        out << "fixed: " << variant << '\n';
    }
    return 0;
  }
  if (logs->parsed()) {
    auto path = socket_path(g);
    if (!path) return fail_with(path.error(), err, 2);
    // Following a log waits for lines as long as the build runs: no reply timeout then.
    auto conn = Connection::open(*path, std::chrono::seconds(follow ? 0 : g.timeout));
    if (!conn) return fail_with(conn.error(), err, 3);
    auto reply = conn->call("logs", {{"job", job}, {"follow", follow}});
    std::optional<int> shown_attempt;  // following goes on from one attempt's log to the next
    while (true) {
      if (!reply) return fail_with(reply.error(), err, 3);
      if (!reply->ok) {
        return fail_with({ErrorKind::kBadInput, reply->error->message, reply->error->hint}, err,
                         proto::exit_code(reply->error->code));
      }
      if (g.json) {
        out << reply->result.dump() << '\n';
      } else {
        auto slice = view_of<proto::LogSliceView>(reply->result, err, code);
        if (!slice) return code;
        if (shown_attempt && slice->attempt && slice->attempt != shown_attempt) {
          out << "\n--- attempt " << *slice->attempt << " (" << slice->phase.value_or("")
              << ") ---\n";
        }
        if (slice->attempt) shown_attempt = slice->attempt;
        out << slice->text;
      }
      out.flush();
      if (!reply->more) return 0;
      reply = conn->next_reply();
    }
  }
  if (cancel->parsed() || retry->parsed()) {
    auto r = cancel->parsed() ? call(g, "cancel", {{"jobs", jobs}}, err, code)
                              : call(g, "retry", {{"job", job}}, err, code);
    if (!r) return code;
    if (g.json) {
      out << r->dump(2) << '\n';
      return 0;
    }
    if (cancel->parsed()) {
      auto v = view_of<proto::JobsView>(*r, err, code);
      if (!v) return code;
      print_jobs(g, v->jobs, {}, out);
    } else {
      auto v = view_of<proto::RetryView>(*r, err, code);
      if (!v) return code;
      print_jobs(g, {v->job}, {}, out);
    }
    return 0;
  }
  return 2;
}

}  // namespace tvd::client
