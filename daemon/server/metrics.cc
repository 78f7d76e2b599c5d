#include "daemon/server/metrics.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "daemon/service/host_config.h"
#include "daemon/service/service.h"

#ifndef TVD_VERSION
#define TVD_VERSION "unknown"
#endif

namespace tvd::server {

std::string label_value(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  }
  return buf;
}

class Writer {
 public:
  void family(const std::string& name, const char* type, const std::string& help) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, double value) {
    out_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + number(value) + "\n";
  }
  void histogram(const std::string& name, const std::string& labels, const service::Histogram& h) {
    const std::string sep = labels.empty() ? "" : labels + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += h.counts[i];
      sample(name + "_bucket", sep + "le=\"" + number(h.bounds[i]) + "\"",
             static_cast<double>(cumulative));
    }
    sample(name + "_bucket", sep + "le=\"+Inf\"", static_cast<double>(h.count));
    sample(name + "_sum", labels, h.sum);
    sample(name + "_count", labels, static_cast<double>(h.count));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

template <typename Enum, size_t N>
std::string name(const Names<Enum, N>& table, Enum e) {
  return std::string(table.name(e));
}

std::string label(const char* key, const std::string& value) {
  return std::string(key) + "=\"" + label_value(value) + "\"";
}

}  // namespace

std::string render_metrics(service::Service& service,
                           const std::vector<notify::ReceiverStats>& notifications) {
  Writer w;
  // Each notification receiver's deliveries (daemon/notify/), by the name the config gives it.
  w.family("tvd_notifications_total", "counter",
           "Notifications a receiver took (delivered) or was given up on after its last try "
           "(failed), since the daemon started.");
  for (const auto& r : notifications) {
    w.sample("tvd_notifications_total", label("receiver", r.name) + ",result=\"delivered\"",
             static_cast<double>(r.delivered));
    w.sample("tvd_notifications_total", label("receiver", r.name) + ",result=\"failed\"",
             static_cast<double>(r.failed));
  }
  w.family("tvd_notification_retries_total", "counter",
           "Deliveries tried again after one failed, since the daemon started.");
  for (const auto& r : notifications)
    w.sample("tvd_notification_retries_total", label("receiver", r.name),
             static_cast<double>(r.retries));
  w.family("tvd_notifications_pending", "gauge",
           "Notifications read from the store and not yet delivered to a receiver.");
  for (const auto& r : notifications)
    w.sample("tvd_notifications_pending", label("receiver", r.name),
             static_cast<double>(r.pending));
  w.family("tvd_jobs", "gauge",
           "Jobs in the store by environment and state (finished jobs stay counted).");
  auto counts = service.job_counts_by_environment();
  // Every configured environment's every state, zeros included; an environment no longer
  // configured while its jobs are kept, where it has any.
  std::set<std::string> environments;
  for (const auto& e : service.setup().environments)
    environments.insert(e.name());
  if (counts) {
    for (const auto& [key, n] : *counts)
      if (n > 0) environments.insert(key.first);
  }
  for (const auto& environment : environments) {
    for (const auto& [state, name] : service::kJobStates.entries()) {
      int64_t n = 0;
      if (counts) {
        if (auto it = counts->find({environment, std::string(name)}); it != counts->end())
          n = it->second;
      }
      w.sample("tvd_jobs",
               label("environment", environment) + "," + label("state", std::string(name)),
               static_cast<double>(n));
    }
  }

  std::map<std::string, std::pair<int, int>> running;  // environment -> (builds, publishes)
  for (const auto& environment : environments)
    running[environment] = {0, 0};
  for (const auto* j : service.engine().jobs()) {
    auto& [building, publishing] = running[j->key().environment];
    building += j->state == service::JobState::kBuilding;
    publishing += j->state == service::JobState::kPublishing;
  }
  w.family("tvd_running_builds", "gauge", "flox build processes running now, by environment.");
  for (const auto& [environment, n] : running)
    w.sample("tvd_running_builds", label("environment", environment), n.first);
  w.family("tvd_running_publishes", "gauge", "flox publish processes running now, by environment.");
  for (const auto& [environment, n] : running)
    w.sample("tvd_running_publishes", label("environment", environment), n.second);

  w.family("tvd_paused", "gauge",
           "1 while no build starts: tvctl pause (kept across restarts) or drain (until one).");
  for (const char* mode : {"pause", "drain"}) {
    const auto& p = service.paused();
    w.sample("tvd_paused", label("mode", mode), p && p->mode == mode ? 1 : 0);
  }

  const auto& sched = service.engine().scheduler();
  w.family("tvd_memory_reserved_bytes", "gauge", "Memory reserved by the running builds.");
  w.sample("tvd_memory_reserved_bytes", "", static_cast<double>(sched.reserved()));
  w.family("tvd_memory_budget_bytes", "gauge", "The memory budget builds are scheduled under.");
  w.sample("tvd_memory_budget_bytes", "", static_cast<double>(sched.limits().memory_budget));
  w.family("tvd_max_parallel_builds", "gauge", "The most builds that may run at once.");
  w.sample("tvd_max_parallel_builds", "", sched.limits().max_parallel);

  // Each builder's slots and memory, labelled with its name ("local", a remote's URI).
  const auto builders = sched.builders();
  const auto running_now = sched.running();
  w.family("tvd_builder_slots", "gauge", "Builds a builder may run at once.");
  for (const auto& b : builders)
    w.sample("tvd_builder_slots", label("builder", b.name), b.slots);
  w.family("tvd_builder_running_builds", "gauge", "Builds running on a builder now.");
  for (const auto& b : builders) {
    size_t n = 0;
    for (const auto& r : running_now)
      n += r.builder == b.name;
    w.sample("tvd_builder_running_builds", label("builder", b.name), static_cast<double>(n));
  }
  w.family("tvd_builder_memory_reserved_bytes", "gauge",
           "Memory reserved by the builds running on a builder.");
  for (const auto& b : builders) {
    w.sample("tvd_builder_memory_reserved_bytes", label("builder", b.name),
             static_cast<double>(sched.reserved(b.name)));
  }
  w.family("tvd_builder_memory_budget_bytes", "gauge", "A builder's memory budget.");
  for (const auto& b : builders) {
    w.sample("tvd_builder_memory_budget_bytes", label("builder", b.name),
             static_cast<double>(b.budget));
  }
  w.family("tvd_builder_reachable", "gauge",
           "1 while a builder takes builds; 0 after it was lost, until a probe reaches it.");
  for (const auto& b : builders)
    w.sample("tvd_builder_reachable", label("builder", b.name), b.reachable ? 1 : 0);

  const auto host = service::measure_host(service.setup().config);
  w.family("tvd_disk_free_bytes", "gauge",
           "Free space on the Nix store and the state directory (the disk gate).");
  for (const auto& d : host.disks) {
    if (d.free_bytes) {
      w.sample("tvd_disk_free_bytes", label("path", d.path), static_cast<double>(*d.free_bytes));
    }
  }

  const auto& recorder = service.recorder();
  w.family("tvd_store_write_failures_total", "counter",
           "Writes to the store that failed (busy or full); the changes waited and were retried.");
  w.sample("tvd_store_write_failures_total", "", static_cast<double>(recorder.write_failures()));
  w.family("tvd_store_waiting_jobs", "gauge",
           "Jobs whose newest change waits to be written to the store; nothing starts meanwhile.");
  w.sample("tvd_store_waiting_jobs", "", static_cast<double>(recorder.waiting().size()));

  const auto& stats = service.attempt_stats();
  w.family("tvd_build_duration_seconds", "histogram",
           "Durations of ended flox build attempts, by outcome.");
  for (const auto& [outcome, h] : stats.build_durations())
    w.histogram("tvd_build_duration_seconds",
                label("outcome", name(proto::kAttemptOutcomes, outcome)), h);
  w.family("tvd_publish_duration_seconds", "histogram",
           "Durations of ended flox publish attempts, by outcome.");
  for (const auto& [outcome, h] : stats.publish_durations())
    w.histogram("tvd_publish_duration_seconds",
                label("outcome", name(proto::kAttemptOutcomes, outcome)), h);
  // Every phase and class from the start, zeros included, so that the first OOM ever is an
  // increase (a cancel is not a failure, and "none" is no class).
  w.family("tvd_failures_total", "counter", "Failed attempts by phase and failure class.");
  {
    const auto failures = stats.failures();
    for (const auto& [phase, phase_name] : proto::kJobPhases.entries()) {
      for (const auto& [failure, failure_name] : proto::kFailures.entries()) {
        if (failure == proto::Failure::kNone || failure == proto::Failure::kCancelled) continue;
        auto it = failures.find({phase, failure});
        w.sample("tvd_failures_total",
                 label("phase", std::string(phase_name)) + "," +
                     label("reason", std::string(failure_name)),
                 it == failures.end() ? 0 : static_cast<double>(it->second));
      }
    }
  }

  // The variants failing now (their newest job failed), by environment and the phase it failed
  // in: every configured environment's every phase from 0.
  {
    std::map<std::pair<std::string, std::string>, int> failing;
    for (const auto& e : environments)
      for (const auto& [phase, phase_name] : proto::kJobPhases.entries())
        failing[{e, std::string(phase_name)}] = 0;
    if (auto rows = service.failing_jobs()) {
      for (const auto& j : *rows)
        ++failing[{j.environment, std::string(proto::kJobPhases.name(j.phase))}];
    }
    w.family("tvd_variants_failing", "gauge",
             "Variants whose newest job failed, by environment and the phase it failed in.");
    for (const auto& [key, n] : failing)
      w.sample("tvd_variants_failing",
               label("environment", key.first) + "," + label("phase", key.second), n);
  }

  // How long the oldest queued job has waited (0: none waits).
  {
    int64_t oldest = 0;
    for (const auto* j : service.engine().jobs()) {
      if (j->state != service::JobState::kQueued) continue;
      const int64_t at =
          std::chrono::duration_cast<std::chrono::seconds>(j->enqueued.time_since_epoch()).count();
      if (oldest == 0 || at < oldest) oldest = at;
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    w.family("tvd_oldest_queued_job_age_seconds", "gauge",
             "Seconds the oldest queued job has waited; 0 when none waits.");
    w.sample("tvd_oldest_queued_job_age_seconds", "",
             oldest == 0 ? 0 : static_cast<double>(std::max<int64_t>(0, now - oldest)));
  }

  // The last nightly, from the start: 0 for a time that has not happened yet.
  {
    std::optional<service::Service::BatchRecord> last;
    if (auto b = service.last_batch("nightly"); b && *b) last = **b;
    w.family("tvd_nightly_last_start_timestamp_seconds", "gauge",
             "When the last nightly batch started (Unix time); 0 before the first.");
    w.sample("tvd_nightly_last_start_timestamp_seconds", "",
             last ? static_cast<double>(last->started_at) : 0);
    w.family("tvd_nightly_last_end_timestamp_seconds", "gauge",
             "When the last nightly batch finished (Unix time); 0 while it runs or before the "
             "first.");
    w.sample("tvd_nightly_last_end_timestamp_seconds", "",
             last && last->finished_at ? static_cast<double>(*last->finished_at) : 0);
    w.family("tvd_nightly_running", "gauge", "1 while the last nightly batch has jobs to run.");
    w.sample("tvd_nightly_running", "", last && !last->finished_at ? 1 : 0);
    w.family("tvd_nightly_last_jobs", "gauge",
             "The last nightly batch's jobs by state (jobs, not variants).");
    for (const auto& [state, state_name] : service::kJobStates.entries()) {
      int n = 0;
      if (last) {
        auto it = last->states.find(std::string(state_name));
        if (it != last->states.end()) n = it->second;
      }
      w.sample("tvd_nightly_last_jobs", label("state", std::string(state_name)), n);
    }
    // Skipped variants by why: a variant still failing unchanged, one already queued or
    // running, one the matrix excludes, one no builder builds.
    std::map<std::string, int> skipped = {
        {"still-failing", 0}, {"already-queued", 0}, {"excluded", 0}, {"no-builder", 0}};
    if (last) {
      for (const auto& [variant, why] : last->skipped)
        ++skipped[service::skip_class(why)];
    }
    w.family("tvd_nightly_last_skipped", "gauge",
             "Variants the last nightly batch skipped, by why.");
    for (const auto& [reason, n] : skipped)
      w.sample("tvd_nightly_last_skipped", label("reason", reason), n);
    // The last nightly that finished with no failed job.
    double green = 0;
    if (auto records = service.batch_records(200)) {
      for (const auto& b : *records) {
        if (b.name != "nightly" || !b.finished_at) continue;
        auto failed = b.states.find("failed");
        if (failed == b.states.end() || failed->second == 0) {
          green = static_cast<double>(*b.finished_at);
          break;
        }
      }
    }
    w.family("tvd_nightly_last_success_timestamp_seconds", "gauge",
             "When the last nightly batch with no failed job finished (Unix time); 0 before one.");
    w.sample("tvd_nightly_last_success_timestamp_seconds", "", green);
  }

  const auto started = service.started_at();
  const double started_s = std::chrono::duration<double>(started.time_since_epoch()).count();
  w.family("tvd_start_time_seconds", "gauge", "When the daemon started (Unix time).");
  w.sample("tvd_start_time_seconds", "", std::floor(started_s));
  w.family("tvd_uptime_seconds", "gauge", "Seconds since the daemon started.");
  w.sample("tvd_uptime_seconds", "",
           std::floor(
               std::chrono::duration<double>(std::chrono::system_clock::now() - started).count()));
  w.family("tvd_build_info", "gauge", "The daemon's version; always 1.");
  w.sample("tvd_build_info", label("version", TVD_VERSION), 1);
  return w.take();
}

}  // namespace tvd::server
