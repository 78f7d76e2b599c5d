// The running service: configuration, store, runner, engine, wired on one io_context, with
// recovery at start. The request handler (daemon/server) calls these; each returns a view
// (proto/views.h) or an error. A command (enqueue, retry) is one transaction in the store.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "daemon/config/setup.h"
#include "daemon/exec/runner.h"
#include "daemon/recipe/recipe_findings.h"
#include "daemon/service/attempt_stats.h"
#include "daemon/service/clock.h"
#include "daemon/service/engine.h"
#include "daemon/service/recorder.h"
#include "daemon/store/store.h"
#include "proto/requests.h"
#include "proto/views.h"

namespace tvd::service {

// What the service runs on, made by the composition root (daemon/app: processes and time on its
// io_context, and the git lane on that runner) or by a test (tests/support's fakes).
struct Parts {
  std::unique_ptr<exec::Runner> runner;
  std::unique_ptr<Clock> clock;
  // The git lane of an environment on `runner`, for the engine configuration the service derives
  // from its setup.
  std::function<std::unique_ptr<flox::Lane>(exec::Runner&, const EngineConfig&, const Environment&)>
      make_lane;
};

using proto::EnqueueRequest;  // what an enqueue asks for: proto/requests.h

class Service {
 public:
  // Opens the store, syncs the matrix, recovers what a crash left: interrupted attempts are
  // recorded, their process groups killed if still alive, and their jobs queued again (a job
  // whose build succeeded resumes at publish).
  static Result<std::unique_ptr<Service>> start(Setup setup, Parts parts, char** environ_vars);
  ~Service();

  Result<proto::EnqueueView> enqueue(const EnqueueRequest& r);
  proto::StatusView status();
  Result<proto::JobDetailView> show(JobId id);
  Result<proto::JobsView> cancel(const std::vector<JobId>& ids);
  Result<proto::RetryView> retry(JobId id);
  // `mode` pause (kept in the store: a restart stays paused), drain (until the daemon stops),
  // or resume; `by` the user who asked. The status after it.
  Result<proto::StatusView> pause(const std::string& mode, const std::string& by);
  const std::optional<proto::StatusView::Paused>& paused() const { return paused_; }
  // Every queued or running job of the batch (control.cc).
  Result<proto::JobsView> cancel_batch(int64_t batch);
  // Every variant whose newest job failed (of the batch), each retried as `retry` does; what
  // could not be retried is in `skipped` with why.
  Result<proto::EnqueueView> retry_failed(std::optional<int64_t> batch);
  // A slice of an attempt's log (the latest unless `attempt` is given) from `offset` (negative:
  // the last 64 KiB): `text`, the next `offset`, `attempt`; `next_attempt` once that attempt
  // has ended and was read to its end while a later one exists; `done` once the job has
  // finished and its last attempt's log was read to the end.
  Result<proto::LogSliceView> logs(JobId id, int64_t offset,
                                   std::optional<int> attempt = std::nullopt);
  // Following a log (`tvctl logs -f`): one slice from `at`, whether the following is over, and
  // where and when to read next. The server sends each slice and asks for the next one only once
  // the client has taken it, so a slow reader slows the following, not the daemon's memory.
  struct LogCursor {
    JobId job = 0;
    int64_t offset = -1;  // negative: the last 64 KiB
    std::optional<int> attempt;
  };
  struct LogStep {
    proto::LogSliceView slice;
    bool done = false;  // the job ended and its last attempt's log was sent to its end
    LogCursor next;
    // At the log's end: wait for wake_on_log() to say it grew (or the job changed), at most this
    // long. Behind it: 0, the next slice is read as soon as the client took this one.
    std::chrono::milliseconds wait{0};
  };
  Result<LogStep> follow_logs(const LogCursor& at);
  // Calls `wake` once, when the job's running build or publish next writes to its log, or the
  // job changes (a new attempt, its end): the follower at the log's end (`at`, the step's next)
  // reads on then. Nothing, when that happened since the step (the follower reads on now). The
  // ticket forgets it (forget_log_wait) when the follower went on for another reason.
  std::optional<uint64_t> wake_on_log(const LogCursor& at, std::function<void()> wake);
  void forget_log_wait(uint64_t ticket) { log_waiters_.erase(ticket); }
  proto::MatrixView matrix();
  Result<proto::BatchesView> batches();
  Result<proto::BatchDetailView> show_batch(int64_t id);
  Result<proto::GenerateView> generate(const std::vector<std::string>& specs, bool all,
                                       bool dry_run, bool force);

  // Every few seconds (serve.cc): the store's file is still the one tvd opened. Deleted (by
  // hand, by a cleanup of the state directory), it is written back at once from what tvd still
  // holds, and the log says so; replaced by another file, the log and status say what to do.
  void check_store();

  // SIGTERM: builds under the supervisor run on (their attempts stay open, and the next start
  // takes them back); any other run is stopped and recorded as interrupted.
  void shutdown();

  // SIGHUP: config, matrix and templates again. A broken new config is refused, and the old one
  // stays in force; one that moves flox_env, state_dir or socket needs a restart and is refused.
  Status reload(const std::optional<std::filesystem::path>& config_path);

  const Setup& setup() const { return setup_; }
  // What `tvd check` would say of v's recipe file now (text checks only).
  const std::vector<Finding>& recipe_findings(const Variant& v) {
    const EnvironmentSetup* e = setup_.find(v.environment->name);
    return findings_.of(v, e ? recipe_env(*e) : RecipeEnv{v.environment->checkout, {}});
  }
  // "2 building, 5 queued, 30 succeeded": for systemd's STATUS=.
  std::string summary() const;
  // Called after every change of a job, e.g. to tell systemd the new summary.
  void on_change(std::function<void()> hook) { change_hook_ = std::move(hook); }
  Engine& engine() { return *engine_; }
  store::Store& store() { return store_; }
  const store::Store& store() const { return store_; }

  // What the dashboard and /metrics read (history.cc): the store's history with the changes that
  // wait to be recorded laid over it, as `show` and `status` see them, so that a page never
  // shows an older state than tvctl. The server reads these, never the store.
  using JobRecord = store::JobRow;
  using AttemptRecord = store::AttemptRow;
  using BatchRecord = store::Store::BatchRow;
  using BatchBuilds = store::Store::BatchBuilds;
  // Job `id` as the store has it, or newer, as it waits to be written (recorder.h).
  Result<std::optional<JobRecord>> job_row(int64_t id) const;
  Result<std::vector<AttemptRecord>> attempt_rows(int64_t id) const;
  // Every variant's newest job.
  Result<std::map<VariantKey, JobRecord>> last_jobs() const;
  // A variant's newest `limit` jobs, newest first.
  Result<std::vector<JobRecord>> variant_jobs(const VariantKey& variant, int limit) const;
  Result<std::map<std::string, int64_t>> job_counts() const;  // state -> jobs
  // (environment, state) -> jobs, the store's with the changes it has not taken yet.
  Result<std::map<std::pair<std::string, std::string>, int64_t>> job_counts_by_environment() const;
  Result<std::vector<BatchRecord>> batch_records(int limit) const;  // newest first
  // Every variant's newest job when it failed.
  Result<std::vector<JobRecord>> failing_jobs() const { return store_.failing_jobs(); }
  Result<std::optional<BatchRecord>> last_batch(const std::string& name) const;
  Result<BatchBuilds> batch_builds(int64_t batch_id) const;
  // Every ended attempt in the store's history and since: for /metrics.
  const AttemptStats& attempt_stats() const { return stats_; }
  // Writes to the store that failed, and the changes that wait (recorder.h): for /metrics.
  const Recorder& recorder() const { return *recorder_; }
  std::chrono::system_clock::time_point started_at() const { return started_at_; }

 private:
  Service(Setup setup, store::Store store) : setup_(std::move(setup)), store_(std::move(store)) {}
  // The job's change and its event in one transaction; whether the store has it now.
  bool persist(const Job& j, const std::optional<JobEvent>& event);
  // Counts j's newly ended attempts (in memory, and in `c` for the store).
  void count_attempts(const Job& j, Change& c);
  // At start: what the store's history taught (Service::start).
  Status load_learned();
  // At start (recovery.cc): the open attempts taken back or ended, the active jobs read back.
  Result<std::vector<Job>> recover_jobs(std::chrono::system_clock::time_point now);

  Setup setup_;
  std::vector<Setup> retired_;  // earlier setups that jobs may still point into (reload)
  store::Store store_;
  std::optional<proto::StatusView::Paused> paused_;  // tvctl pause or drain
  void apply_pause();
  std::string store_note_;  // for status, while the store's file is not the one tvd writes
  char** environ_ = nullptr;
  std::unique_ptr<exec::Runner> runner_;
  std::unique_ptr<Clock> clock_;
  std::vector<std::unique_ptr<flox::Lane>> lanes_;  // one per environment served
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Recorder> recorder_;
  bool stopping_ = false;
  std::function<void()> change_hook_;
  AttemptStats stats_;
  RecipeFindings findings_;
  // For each job seen since the start, the last attempt number already in stats_.
  std::map<JobId, int> counted_upto_;
  // Cells whose variant row the store has: the configured matrix's (synced at start and reload)
  // and those outside it that a job was recorded for since; a job of any other cell brings its
  // row with it (Change::variant).
  std::set<VariantKey> stored_variants_;
  void stored_are(const Setup& setup);
  // Every environment's cells as the store keeps them.
  static std::vector<store::VariantRow> all_variant_rows(const Setup& setup);
  // The matrix of the environment `name`; the first environment's when the config has none of
  // that name (a job of it then fails to be named: from_rows says so).
  const Matrix& matrix_for(std::string_view name) const;
  // Each environment's templates and torch source, for the engine.
  RecipeSources recipe_sources() const;
  // What each environment's variants last published, each in its environment's organisation.
  Result<std::map<VariantKey, std::string>> published_outputs();
  // The organisation `environment` publishes to.
  const std::string& org_of(std::string_view environment) const;
  std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();
  // Followers at the end of a job's log (wake_on_log), woken by its output or its next change.
  std::map<uint64_t, std::pair<JobId, std::function<void()>>> log_waiters_;  // by ticket
  uint64_t next_ticket_ = 1;
  void wake_log_waiters(JobId job);
  void output_written(exec::RunId run);
};

proto::JobView job_view(const store::JobRow& j);

}  // namespace tvd::service
