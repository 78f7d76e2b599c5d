#include "daemon/service/persist.h"

#include "daemon/matrix/spec.h"

namespace tvd::service {

int64_t unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint from_unix(int64_t s) {
  return TimePoint(std::chrono::seconds(s));
}

namespace {

std::optional<int64_t> when(TimePoint t) {
  return t == TimePoint{} ? std::nullopt : std::optional(unix_seconds(t));
}

// A job's state as the store has it; an active one comes back queued (recovery restarts it).
JobState state_from(JobState st) {
  return is_terminal(st) ? st : JobState::kQueued;
}

}  // namespace

store::JobRow to_row(const Job& j, const std::string& org) {
  store::JobRow r;
  r.id = static_cast<int64_t>(j.id);
  r.environment = j.variant.environment->name;
  r.package = j.package;
  r.state = j.state;
  r.phase = j.phase;
  r.origin = j.origin;
  r.priority = j.priority;
  r.publish = j.publish;
  r.batch_id = j.batch_id;
  r.built = j.built;
  r.build_tries = j.build_tries;
  r.publish_tries = j.publish_tries;
  r.failure = j.failure;
  r.error = j.error;
  r.enqueued_at = unix_seconds(j.enqueued);
  r.started_at = when(j.started);
  r.finished_at = when(j.finished);
  if (!j.output.empty()) r.output = j.output;
  if (j.published && !org.empty()) r.published_to = org;
  r.note = j.note;
  if (!j.publish_rev.empty()) r.publish_rev = j.publish_rev;
  if (!j.fingerprint.empty()) r.fingerprint = j.fingerprint;
  return r;
}

std::vector<store::AttemptRow> to_rows(const Job& j) {
  std::vector<store::AttemptRow> out;
  for (const auto& a : j.attempts) {
    store::AttemptRow r;
    r.job_id = static_cast<int64_t>(j.id);
    r.number = a.number;
    r.phase = a.phase;
    r.started_at = unix_seconds(a.started);
    r.ended_at = when(a.ended);
    if (a.interrupted) {
      r.outcome = proto::AttemptOutcome::kInterrupted;
    } else if (r.ended_at) {
      r.outcome = a.failure == flox::Failure::kNone        ? proto::AttemptOutcome::kSucceeded
                  : a.failure == flox::Failure::kCancelled ? proto::AttemptOutcome::kCancelled
                                                           : proto::AttemptOutcome::kFailed;
    }
    if (a.result) {
      if (a.result->ending == exec::Ending::kExited) r.exit_code = a.result->exit_code;
      if (a.result->signal) r.signal = a.result->signal;
      if (a.result->peak_group_rss) r.peak_memory = static_cast<int64_t>(a.result->peak_group_rss);
    }
    if (a.learned_peak) r.peak_memory = static_cast<int64_t>(*a.learned_peak);
    // A cancel is an outcome, not a failure class.
    r.failure = a.failure == flox::Failure::kCancelled ? flox::Failure::kNone : a.failure;
    r.reason = a.reason;
    r.log_path = a.log.string();
    if (a.pgid) r.pgid = *a.pgid;
    if (!a.builder.empty()) r.builder = a.builder;
    out.push_back(std::move(r));
  }
  return out;
}

Result<Job> from_rows(const store::JobRow& row, const std::vector<store::AttemptRow>& attempts,
                      const Matrix& matrix) {
  const VariantKey key{row.environment, row.package};
  if (row.environment != matrix.environment().name) {
    return fail(ErrorKind::kNotFound, "job " + std::to_string(row.id) + ": " + key.text() +
                                          " is of environment '" + row.environment +
                                          "', which the config does not serve");
  }
  auto sel = resolve_specs(matrix, {row.package}, /*force=*/true);
  if (!sel || sel->size() != 1 || sel->front().variant.key() != key) {
    return fail(ErrorKind::kNotFound, "job " + std::to_string(row.id) + ": " + key.text() +
                                          " can no longer be named by matrix.json");
  }
  Job j;
  j.id = static_cast<JobId>(row.id);
  j.variant = sel->front().variant;
  j.package = row.package;
  j.origin = row.origin;
  j.priority = row.priority;
  j.publish = row.publish;
  j.batch_id = row.batch_id;
  j.built = row.built;
  j.build_tries = row.build_tries;
  j.publish_tries = row.publish_tries;
  j.error = row.error;
  j.failure = row.failure;
  j.output = row.output.value_or("");
  j.published = row.published_to.has_value();
  j.note = row.note;
  j.publish_rev = row.publish_rev.value_or("");
  j.fingerprint = row.fingerprint.value_or("");
  j.phase = row.phase;
  j.state = state_from(row.state);
  j.enqueued = from_unix(row.enqueued_at);
  if (row.started_at) j.started = from_unix(*row.started_at);
  if (row.finished_at) j.finished = from_unix(*row.finished_at);
  for (const auto& a : attempts) {
    Attempt at;
    at.number = a.number;
    at.phase = a.phase;
    at.started = from_unix(a.started_at);
    if (a.ended_at) at.ended = from_unix(*a.ended_at);
    at.interrupted = a.outcome == proto::AttemptOutcome::kInterrupted;
    at.reason = a.reason;
    at.log = a.log_path;
    at.builder = a.builder.value_or("");
    // Still open: a build that may run on under its supervisor, for the engine to take back.
    if (!a.ended_at && !at.interrupted && a.pgid) at.pgid = static_cast<pid_t>(*a.pgid);
    if (a.outcome == proto::AttemptOutcome::kFailed) {
      at.failure = a.failure == flox::Failure::kNone ? flox::Failure::kUnknown : a.failure;
    } else if (a.outcome == proto::AttemptOutcome::kCancelled) {
      at.failure = flox::Failure::kCancelled;
    }
    j.attempts.push_back(std::move(at));
  }
  return j;
}

store::VariantRow variant_row(const Matrix& matrix, const Variant& v) {
  store::VariantRow r;
  r.environment = v.environment->name;
  r.package = v.package();
  r.python = v.python->name;
  if (v.is_gpu()) {
    r.cuda = v.cuda->version;
    r.gpu_arch = v.gpu->name;
  }
  r.cpu_isa = v.isa->token;
  r.kind = v.is_gpu() ? "gpu" : "cpu";
  auto ex = matrix.exclusions(v);
  if (!ex.empty()) {
    std::string why;
    for (const auto& e : ex)
      why += (why.empty() ? "" : "; ") + e;
    r.excluded = why;
  }
  return r;
}

std::vector<store::VariantRow> variant_rows(const Matrix& matrix, const TemplateSet& templates,
                                            const RecipeEnv& env) {
  std::vector<Selection> cells;
  for (const auto& v : matrix.cells())
    cells.push_back({v, {}, true});
  auto reports = inspect_recipes(templates, env, cells);
  std::vector<store::VariantRow> out;
  for (size_t i = 0; i < cells.size(); ++i) {
    const Variant& v = cells[i].variant;
    store::VariantRow r = variant_row(matrix, v);
    if (reports) {
      const RecipeReport& rep = (*reports)[i];
      if (rep.state == FileState::kCurrent) {
        r.recipe_source = "generated";
        r.template_hash = (v.is_gpu() ? templates.gpu : templates.cpu).hash();
      } else if (rep.state == FileState::kDiffers) {
        r.recipe_source = "hand-written";
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tvd::service
