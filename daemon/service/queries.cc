// What the service answers about its work, read from the store (the truth for anything that
// is not running) and, for running builds, from the engine: status, a job, its log, the matrix,
// batches. Nothing here changes state.
#include <algorithm>
#include <fstream>
#include <set>

#include "daemon/base/units.h"
#include "daemon/matrix/spec.h"
#include "daemon/recipe/report_json.h"
#include "daemon/service/host_config.h"
#include "daemon/service/persist.h"
#include "daemon/service/service.h"

namespace tvd::service {

using nlohmann::json;

json job_json(const store::JobRow& j) {
  json out = {{"id", j.id},
              {"variant", j.variant},
              {"state", j.state},
              {"phase", j.phase},
              {"origin", j.origin},
              {"priority", j.priority},
              {"publish", j.publish},
              {"build_tries", j.build_tries},
              {"publish_tries", j.publish_tries},
              {"enqueued_at", j.enqueued_at},
              {"started_at", j.started_at ? json(*j.started_at) : json(nullptr)},
              {"finished_at", j.finished_at ? json(*j.finished_at) : json(nullptr)}};
  if (!j.error.empty()) out["error"] = j.error;
  if (!j.note.empty()) out["note"] = j.note;
  if (j.output) out["output"] = *j.output;
  if (!j.failure.empty()) out["failure"] = j.failure;
  return out;
}

json Service::status() {
  std::map<int64_t, const sched::Running*> running;
  auto now_running = engine_->scheduler().running();
  for (const auto& r : now_running)
    running[static_cast<int64_t>(r.id)] = &r;
  json jobs = json::array();
  if (auto rows = store_.recent_jobs(20)) {
    // Every variant whose newest job failed stays in view until it succeeds or is cancelled,
    // after the active jobs, however many jobs finished since.
    if (auto failing = store_.failing_jobs()) {
      std::set<int64_t> shown;
      for (const auto& r : *rows)
        shown.insert(r.id);
      auto first_finished = std::find_if(rows->begin(), rows->end(), [](const store::JobRow& r) {
        auto state = kJobStates.parse(r.state);
        return state && is_terminal(*state);
      });
      std::vector<store::JobRow> extra;
      for (auto& f : *failing)
        if (!shown.count(f.id)) extra.push_back(std::move(f));
      rows->insert(first_finished, extra.begin(), extra.end());
    }
    for (const auto& r : *rows) {
      json j = job_json(r);
      if (auto it = running.find(r.id); it != running.end()) {
        // The expected end, from this variant's history (or its kind's, or the default).
        j["expected_s"] = it->second->expected.count();
        j["eta_at"] = unix_seconds(it->second->started + it->second->expected);
        j["reserved"] = it->second->reservation;
      }
      jobs.push_back(std::move(j));
    }
  }
  json waiting = json::object();
  for (const auto& w : engine_->waiting())
    waiting[std::to_string(w.id)] = w.reason;
  // The summary counts every job in the store, not the rows shown.
  std::map<std::string, int64_t> counts;
  if (auto c = store_.job_counts()) counts = std::move(*c);
  const auto& limits = engine_->scheduler().limits();
  const auto host = measure_host(setup_.config);
  json disks = json::array();
  for (const auto& d : host.disks) {
    disks.push_back(
        {{"path", d.path}, {"free", d.free_bytes ? json(*d.free_bytes) : json(nullptr)}});
  }
  return json{{"jobs", jobs},
              {"waiting", waiting},
              {"summary", counts},
              {"memory",
               {{"reserved", engine_->scheduler().reserved()},
                {"budget", limits.memory_budget},
                {"max_parallel", limits.max_parallel}}},
              {"gates", engine_->scheduler().gate_notes(host)},
              {"disks", disks}};
}

Result<json> Service::show(JobId id) {
  auto row = store_.job(static_cast<int64_t>(id));
  if (!row) return tl::unexpected(row.error());
  if (!*row)
    return fail(ErrorKind::kNotFound, "no job " + std::to_string(id),
                "'tvctl status' lists the jobs");
  json j = job_json(**row);
  j["attempts"] = json::array();
  if (auto attempts = store_.attempts(static_cast<int64_t>(id))) {
    for (const auto& a : *attempts) {
      json aj = {
          {"number", a.number},         {"phase", a.phase},
          {"started_at", a.started_at}, {"outcome", a.outcome ? json(*a.outcome) : json(nullptr)},
          {"reason", a.reason},         {"log", a.log_path}};
      if (a.ended_at) aj["ended_at"] = *a.ended_at;
      if (a.exit_code) aj["exit_code"] = *a.exit_code;
      if (a.peak_memory) aj["peak_memory"] = *a.peak_memory;
      j["attempts"].push_back(std::move(aj));
    }
  }
  return j;
}

Result<json> Service::logs(JobId id, int64_t offset, std::optional<int> attempt) {
  auto row = store_.job(static_cast<int64_t>(id));
  if (!row) return tl::unexpected(row.error());
  if (!*row)
    return fail(ErrorKind::kNotFound, "no job " + std::to_string(id),
                "'tvctl status' lists the jobs");
  auto attempts = store_.attempts(static_cast<int64_t>(id));
  if (!attempts) return tl::unexpected(attempts.error());
  const bool finished = (*row)->finished_at.has_value();
  if (attempts->empty()) {
    if (finished) return fail(ErrorKind::kNotFound, "job " + std::to_string(id) + " never ran");
    return json{{"text", ""}, {"offset", 0}, {"done", false}, {"attempt", nullptr}};
  }
  auto it = std::prev(attempts->end());
  if (attempt) {
    it = std::find_if(attempts->begin(), attempts->end(),
                      [&](const store::AttemptRow& a) { return a.number == *attempt; });
    if (it == attempts->end()) {
      return fail(ErrorKind::kNotFound,
                  "job " + std::to_string(id) + " has no attempt " + std::to_string(*attempt),
                  "'tvctl show " + std::to_string(id) + "' lists its attempts");
    }
  }
  const auto& a = *it;
  const bool last = std::next(it) == attempts->end();
  std::error_code ec;
  int64_t size = static_cast<int64_t>(std::filesystem::file_size(a.log_path, ec));
  if (ec) size = 0;
  constexpr int64_t kTail = 64 * 1024, kChunk = 256 * 1024;
  if (offset < 0) offset = std::max<int64_t>(0, size - kTail);
  if (offset > size) offset = 0;  // the log was replaced: start it from the top
  std::string text;
  if (std::ifstream in(a.log_path, std::ios::binary); in && size > offset) {
    in.seekg(offset);
    text.resize(static_cast<size_t>(std::min(kChunk, size - offset)));
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
  }
  const int64_t next = offset + static_cast<int64_t>(text.size());
  const bool at_end = next >= size;
  json out = {{"text", text},      {"offset", next},      {"done", finished && at_end && last},
              {"log", a.log_path}, {"attempt", a.number}, {"phase", a.phase}};
  // This attempt is over and was sent to its end: a follower goes on with the next one.
  if (!last && at_end && a.ended_at) out["next_attempt"] = std::next(it)->number;
  return out;
}

Result<Service::LogStep> Service::follow_logs(const LogCursor& at) {
  TRY_ASSIGN(json slice, logs(at.job, at.offset, at.attempt));
  LogStep step;
  step.done = slice.value("done", true);
  step.next = {at.job, slice.value("offset", int64_t{0}), at.attempt};
  if (slice.contains("attempt") && slice["attempt"].is_number()) {
    step.next.attempt = slice["attempt"].get<int>();
  }
  // Stay on an attempt to its end, then go on with the next one at once; a live log is read
  // again twice a second.
  step.wait = std::chrono::milliseconds(500);
  if (slice.contains("next_attempt")) {
    step.next.attempt = slice["next_attempt"].get<int>();
    step.next.offset = 0;
    step.wait = std::chrono::milliseconds(0);
  }
  step.slice = std::move(slice);
  return step;
}

json Service::matrix() {
  std::vector<Selection> cells;
  for (const auto& v : setup_.matrix.cells()) {
    auto ex = setup_.matrix.exclusions(v);
    cells.push_back({v, ex, ex.empty()});
  }
  RecipeEnv env{setup_.config.flox_env, setup_.config.pytorch_env};
  json out = {{"cells", json::array()}};
  if (auto reports = inspect_recipes(setup_.templates, env, cells)) {
    size_t buildable = 0;
    for (const auto& r : *reports) {
      out["cells"].push_back(report_json(r));
      buildable += r.exclusions.empty();
    }
    out["summary"] = {{"cells", reports->size()},
                      {"buildable", buildable},
                      {"excluded", reports->size() - buildable}};
  }
  return out;
}

std::string Service::summary() const {
  // The active jobs as the engine has them, then what the store holds of the ended ones.
  std::map<JobState, int64_t> counts;
  for (const auto* j : engine_->jobs())
    counts[j->state]++;
  if (auto stored = store_.job_counts()) {
    for (const auto& [text, n] : *stored) {
      if (auto state = kJobStates.parse(text); state && is_terminal(*state)) counts[*state] = n;
    }
  }
  std::string out;
  for (JobState s : {JobState::kBuilding, JobState::kPublishing, JobState::kQueued,
                     JobState::kFailed, JobState::kSucceeded, JobState::kCancelled}) {
    if (counts[s])
      out += (out.empty() ? "" : ", ") + std::to_string(counts[s]) + " " + to_string(s);
  }
  return out.empty() ? "idle, no jobs" : out;
}

namespace {

json batch_json(const store::Store::BatchRow& b) {
  json j = {{"id", b.id},
            {"name", b.name},
            {"started_at", b.started_at},
            {"finished_at", b.finished_at ? json(*b.finished_at) : json(nullptr)},
            {"states", b.states},
            {"skipped", b.skipped.size()}};
  if (b.finished_at) j["duration_s"] = *b.finished_at - b.started_at;
  return j;
}

}  // namespace

Result<json> Service::batches() {
  auto rows = store_.batches(50);
  if (!rows) return tl::unexpected(rows.error());
  json out = json::array();
  for (const auto& b : *rows)
    out.push_back(batch_json(b));
  return json{{"batches", out}};
}

Result<json> Service::show_batch(int64_t id) {
  auto b = store_.batch(id);
  if (!b) return tl::unexpected(b.error());
  if (!*b)
    return fail(ErrorKind::kNotFound, "no batch " + std::to_string(id),
                "'tvctl batches' lists them");
  json j = batch_json(**b);
  json skipped = json::object();
  for (const auto& [v, why] : (*b)->skipped)
    skipped[v] = why;
  j["skipped"] = skipped;
  j["variants"] = (*b)->variant_state;
  // Against the previous batch of the same name: its duration, and what changed state.
  auto prev_id = store_.previous_batch((*b)->name, id);
  if (prev_id && *prev_id) {
    auto prev = store_.batch(**prev_id);
    if (prev && *prev) {
      json p = batch_json(**prev);
      json newly_failing = json::array(), fixed = json::array();
      for (const auto& [v, state] : (*b)->variant_state) {
        auto was = (*prev)->variant_state.find(v);
        std::string before = was != (*prev)->variant_state.end() ? was->second : "";
        auto skip = std::find_if((*prev)->skipped.begin(), (*prev)->skipped.end(),
                                 [&](const auto& s) { return s.first == v; });
        if (before.empty() && skip != (*prev)->skipped.end() &&
            skip->second.rfind("still failing", 0) == 0) {
          before = "failed";
        }
        if (state == "failed" && before == "succeeded") newly_failing.push_back(v);
        if (state == "succeeded" && before == "failed") fixed.push_back(v);
      }
      j["previous"] = {{"id", p["id"]}, {"duration_s", p.value("duration_s", json(nullptr))}};
      j["newly_failing"] = newly_failing;
      j["fixed"] = fixed;
    }
  }
  return j;
}

}  // namespace tvd::service
