// The engine: the small loop between the scheduler (which decides) and the runner and git lane
// (which act). It holds only the jobs that run or wait: every change goes to the observer (the
// service stores it), and a job that has ended is forgotten; the store is the truth about it. A
// job is keyed by its variant (environment, package), and a variant never has two active jobs.
//
// A job's life: queued (its recipe is made tracked and committed in the git lane, then it waits
// for the scheduler) -> building (`flox build` runs under its memory reservation) -> publishing
// (`flox publish`, in the git lane, when publishing is on) -> succeeded. Nothing is reserved for a
// job before its build starts: a recipe commit held up in git (a slow hook) holds no memory and
// no slot. A transient failure (OOM, a kill, a timeout, the
// network, a collision) waits with exponential backoff and tries again, up to a limit; a failed
// publish is retried as a publish, never as a rebuild. A permanent failure ends the job; a later
// batch skips the variant as "still failing" until its recipe or the environment's lock changes.
//
// Memory learned for the next reservation: the process group's sampled peak when it saw the
// compilers (at least 1 GiB); otherwise, when the build ran alone, the rise of the host's memory
// in use (under a multi-user Nix install the compilers are nix-daemon's children, not ours);
// otherwise nothing, rather than a wrong figure.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/base/names.h"
#include "daemon/exec/runner.h"
#include "daemon/flox/classify.h"
#include "daemon/flox/git_lane.h"
#include "daemon/flox/lane.h"
#include "daemon/matrix/spec.h"
#include "daemon/recipe/generate.h"
#include "daemon/sched/scheduler.h"
#include "daemon/service/attempt_end.h"
#include "daemon/service/clock.h"
#include "proto/job.h"

namespace tvd::service {

using sched::JobId;

// The job's words live in proto/job.h, below every layer that reads them.
using proto::EventKind;
using proto::is_terminal;
using proto::JobPhase;
using proto::JobState;
using proto::kEventKinds;
using proto::kJobPhases;
using proto::kJobStates;
const char* to_string(JobState s);
const char* to_string(JobPhase p);
const char* to_string(EventKind k);

// A variant's kind as the scheduler sees it.
inline sched::BuildKind kind_of(const Variant& v) {
  return v.is_gpu() ? sched::BuildKind::kGpu : sched::BuildKind::kCpu;
}

struct Attempt {
  int number = 0;
  JobPhase phase = JobPhase::kBuild;
  TimePoint started, ended;
  std::filesystem::path log;
  std::optional<exec::RunResult> result;
  flox::Failure failure = flox::Failure::kNone;
  std::string reason;
  std::optional<uint64_t> learned_peak;  // the memory attributed to it (Estimator::learn)
  std::optional<pid_t> pgid;             // while it runs, for recovery after a crash
  bool interrupted = false;              // tvd stopped while it ran
  std::string builder;                   // a build's: the builder it ran on ("local", a URI)
};

// One change of a job, as its event records it (proto/job.h).
using JobEvent = proto::JobChange;

struct Job {
  JobId id = 0;
  Variant variant;
  std::string package;  // variant.package(), kept
  // (environment, package): what the engine, the store and the lanes key it on.
  VariantKey key() const { return {variant.environment->name, package}; }
  sched::Origin origin = sched::Origin::kInteractive;
  int priority = 0;
  bool publish = false;
  std::string batch;
  std::optional<int64_t> batch_id;  // the store's batch row
  JobState state = JobState::kQueued;
  JobPhase phase = JobPhase::kRecipe;
  int build_tries = 0;
  int publish_tries = 0;
  bool built = false;  // the build succeeded: a retry resumes at publish
  std::string error;   // the last failure, for people
  flox::Failure failure = flox::Failure::kNone;
  TimePoint enqueued, started, finished;
  std::vector<Attempt> attempts;
  std::optional<exec::RunId> run;  // what runs now
  bool committing = false;         // its recipe commit is in the git lane
  std::string recipe_wait;         // why its recipe commit waits to be tried again
  TimePoint recipe_retry_at;       // and until when
  bool cancel_requested = false;
  std::string warning;
  std::string output;       // what the build made: result-PKG's store path
  bool published = false;   // its output is in the catalog of the org (now or before)
  std::string note;         // for people, e.g. "already published: /nix/store/..."
  std::string publish_rev;  // the revision its publish runs from (kept across crashes)
  std::string fingerprint;  // a permanent build failure's recipe and lock (still failing)
  // The state and phase the observer was last told of (none before the first change; a job
  // read from the store has the store's), from which the next event goes.
  std::optional<JobState> told_state;
  JobPhase told_phase = JobPhase::kRecipe;
};

// How one environment's recipes are made: its product's templates, and where they are and what
// they read (recipe_env in setup.h). Each variant is built in its own environment's checkout
// (Variant::environment).
struct RecipeSource {
  const TemplateSet* templates = nullptr;
  RecipeEnv env;  // its checkout, its torch's choices and, paired, its torch's recipes
};
// By environment name.
using RecipeSources = std::map<std::string, RecipeSource, std::less<>>;

// A builder as a build runs on it: what the scheduler places by, and what Nix is told.
struct BuilderRun {
  sched::Builder placement;
  std::string nix_line;   // a remote builder's line of Nix's `builders` setting; "" for the host
  std::string store_uri;  // a remote builder's store, as Nix opens it (probes ask it)
};

struct EngineConfig {
  // Per-attempt logs: <log_dir>/<variant>/<job>-<n>-<phase>.log (VariantKey::text()).
  std::filesystem::path log_dir;
  std::map<std::string, std::string> child_env;
  bool publish = false;
  // The flox binary (builds run it too), pushing, the org and the signing key: what each
  // environment's lane is told (Lane::set_publishing), kept once.
  flox::PublishSettings publishing;
  sched::Limits limits;
  // Where builds run, in the order they are offered (host_config.cc); empty: the host, for
  // every system.
  std::vector<BuilderRun> builders;
  sched::EstimatorDefaults estimates;
  std::chrono::seconds build_timeout{std::chrono::hours(12)};
  std::chrono::seconds silence_timeout{std::chrono::hours(1)};
  uint64_t log_limit = 256ull << 20;
  int keep_logs = 20;                                           // per variant
  int max_tries = 3;                                            // per phase, the first try included
  std::chrono::milliseconds backoff{std::chrono::minutes(2)};   // doubles each try
  std::chrono::milliseconds recheck{std::chrono::seconds(30)};  // live gates, while jobs wait
  std::chrono::milliseconds sample_every{std::chrono::seconds(5)};
};

// The git lane of `environment` under `c`: its checkout, its logs under the log directory and
// its publishing worktrees beside it, each named for the environment outside the default one
// (host_config.cc).
flox::GitLaneConfig lane_config(const EngineConfig& c, const Environment& environment);

// Each environment's git lane, by the environment's name: a checkout's git is one transaction at
// a time, and environments are separate checkouts.
using Lanes = std::map<std::string, flox::Lane*, std::less<>>;

struct EnqueueOptions {
  sched::Origin origin = sched::Origin::kInteractive;
  int priority = 0;
  bool publish = true;  // and publishing is enabled in the config
  bool force = false;   // rebuild a variant that still fails unchanged, or whose recipe has an
                        // error finding
  std::string batch;
  std::optional<int64_t> batch_id = std::nullopt;
};

// The skip reason of a variant no builder can build begins so (batch records count it apart).
inline constexpr std::string_view kNoBuilder = "no builder: ";
// A batch's skip reason as its class, for counts and alerts: still-failing, already-queued,
// excluded, no-builder, or other.
inline std::string skip_class(std::string_view why) {
  if (why.rfind("still failing", 0) == 0) return "still-failing";
  if (why.rfind("already queued", 0) == 0) return "already-queued";
  if (why.rfind("excluded", 0) == 0) return "excluded";
  if (why.rfind(kNoBuilder, 0) == 0) return "no-builder";
  return "other";
}

struct Enqueued {
  VariantKey variant;
  std::optional<JobId> job;  // nullopt: skipped
  bool created = false;      // false with a job: it was already queued or running
  std::string skipped;       // why it was skipped ("excluded: ...", "still failing: ...")
};

class Engine {
 public:
  using Measure = std::function<sched::Measurements()>;
  // Every change of a job, with its event when the change is one of state or phase (or a retry
  // that waits); it returns whether the change is recorded. A start (of a build, of a publish) is
  // recorded before it acts: if it is not, the job waits (kRecordWait) and nothing runs. A
  // recipe commit changes no state: its job stays queued, as the store has it.
  using Observer = std::function<bool(const Job&, const std::optional<JobEvent>&)>;
  static constexpr std::chrono::seconds kRecordWait{2};

  // `lanes` do the engine's git and flox publish, each in its environment; they outlive the
  // engine.
  Engine(EngineConfig config, RecipeSources sources, exec::Runner& runner, Lanes lanes,
         Clock& clock, Measure measure);
  // A reload's: the templates (and torch sources) of each environment from now on.
  void set_recipe_sources(RecipeSources sources) { sources_ = std::move(sources); }

  std::vector<Enqueued> enqueue(const std::vector<Selection>& selections, const EnqueueOptions& o);
  Status cancel(JobId id);
  // A command's changes are recorded in one transaction before any of them acts: between hold()
  // and release() nothing starts (what would have starts at release), and withdraw() forgets the
  // jobs a command made or took back when its transaction failed.
  // Paused (`why` says so to the waiting jobs): no build starts; what runs goes on, recipes are
  // committed and built jobs publish. nullopt: builds start again.
  void set_paused(std::optional<std::string> why);
  const std::optional<std::string>& paused() const { return paused_; }
  void hold() { ++held_; }
  void release();
  void withdraw(const std::vector<JobId>& ids);

  // A failed or cancelled job again (as the store has it): from its publish if it was built,
  // else from the start. The variant's active job, if it has one, instead.
  Result<JobId> retry(Job ended);

  // What each variant last published in this org (from the store at start): a build whose
  // output is already there is not published again.
  void set_published(std::map<VariantKey, std::string> outputs) { published_ = std::move(outputs); }
  // The variants whose newest job failed its build for good (from the store at start):
  // variant -> (fingerprint, reason). Batches skip them while the fingerprint holds.
  void set_still_failing(std::map<VariantKey, std::pair<std::string, std::string>> failing) {
    still_failing_ = std::move(failing);
  }
  // Recovery at start: jobs that were active when tvd stopped, with their attempts so far. One
  // whose build still runs under its supervisor (its last attempt open, with its process group)
  // is taken back as it runs (Runner::adopt) and holds its reservation; one that had built
  // resumes at its publish; the others wait again for a build.
  void restore(std::vector<Job> jobs);

  // A reloaded config: limits, estimates, timeouts, tries and publishing take effect for what
  // starts from now on. The environment and the log directory stay (they need a restart).
  void reconfigure(const EngineConfig& c);

  // After a reload: each job's variant is taken from `m` (by its key), so that the old
  // matrix can go. False if some job's variant is not in `m` (it still points into the old one).
  bool rebind(const std::vector<const Matrix*>& environments);

  // `generate` through the daemon: each missing recipe is written and committed in the git lane,
  // as before a build. Failures go to `on_error`.
  void commit_recipes(const std::vector<RecipeReport>& recipes,
                      std::function<void(const std::string&)> on_error);

  // Recovery: finishes recipe commits a crash cut short (Lane::recover), in each environment's
  // lane; `done` is called once per lane.
  void recover_recipes(std::vector<RecipeReport> ours,
                       const std::function<void(std::vector<std::string>)>& done);
  // Job ids continue after the store's.
  void set_first_id(JobId id) { first_id_ = id; }

  // The active jobs (queued, running, waiting for a retry).
  const Job* job(JobId id) const;
  std::vector<const Job*> jobs() const;
  std::vector<sched::Waiting> waiting() const;
  const sched::Scheduler& scheduler() const { return sched_; }
  // Why no builder can build `v` (none serves its platform), with what to do; nullopt when one
  // can.
  std::optional<std::string> no_builder(const Variant& v) const;
  const sched::Estimator& estimator() const { return estimator_; }
  sched::Estimator& estimator() { return estimator_; }
  void on_change(Observer o) { observer_ = std::move(o); }
  // No job queued, running or waiting for a retry.
  bool idle() const;

 private:
  void pump();
  // Tells the observer, with the event of the change: `kind` when the caller knows why (a retry
  // that waits, a requeue), else one derived from the states (started, ended). An ended job is
  // then forgotten. Whether the change is recorded.
  bool changed(Job& j, std::optional<EventKind> kind = std::nullopt);
  // A start that could not be recorded: the job waits in the queue and is tried again soon.
  void unrecorded_start(Job& j);
  // The recipe step, before the job enters the scheduler's queue: it holds no reservation.
  void start_recipe(Job& j);
  // The recipe commit of `id` starts at the next pump (not while a command holds starts).
  void recipe_due(JobId id);
  // A build of a restored job that runs on under its supervisor: taken back; false when it is not
  // one, or the runner cannot take it (then its attempt is an interrupted one).
  bool adopt_build(Job& j);
  // The run of its last attempt (a build's, a publish's) ended with `r`: recorded on the attempt.
  Attempt& run_ended(Job& j, std::optional<exec::RunResult> r);
  void start_build(Job& j, const sched::Start& s);
  void recipe_done(JobId id, const flox::LaneOutcome& o);
  void build_done(JobId id, const exec::RunResult& r);
  void start_publish(Job& j);
  void publish_done(JobId id, const flox::LaneOutcome& o);
  // The one place an attempt of any phase ends: after_attempt() decides, this applies it (the
  // scheduler's reservation, the next phase, the retry and its wait, the job's end).
  void attempt_ended(Job& j, const AttemptEnd& e);
  // Starts j's publish again at `when` if it still waits for one.
  void retry_publish_at(JobId id, TimePoint when);
  // The job ends in `state` (terminal) now: it leaves the active set and the observer is told.
  void end(Job& j, JobState state);
  // Ends j as failed in `phase`: from attempt_ended(), and for a job refused before any attempt.
  void fail(Job& j, JobPhase phase, flox::Failure f, std::string reason);
  std::filesystem::path log_path(const Job& j, JobPhase phase) const;
  std::string fingerprint(const Job& j) const;  // recipe text and environment lock
  // The git lane of v's environment; null when none serves it (then a job of it fails).
  flox::Lane* lane_of(const Variant& v) const;
  static std::string no_lane(const Variant& v);  // why a job of v fails without one
  // The recipe paths of j's environment.
  RecipeEnv recipe_env(const Variant& v) const;
  // By variant, the first error finding (check.h) of each chosen selection's recipe file.
  std::map<VariantKey, std::string> preflight_errors(const std::vector<Selection>& s) const;
  void schedule_recheck();

  EngineConfig config_;
  RecipeSources sources_;
  // A paired variant's torch: the variant of its torch environment whose build it needs.
  std::optional<Variant> needs(const Variant& v) const;
  // What a job about to wait for the scheduler waits for: its needed variant's active job,
  // unless that one is built.
  std::map<JobId, std::string> waits_for(const Job& j) const;
  // What the scheduler places a job by: its variant, kind, origin, what it waits for, its
  // platform and the features tvd's recipes require.
  sched::JobSpec spec_of(const Job& j) const;
  static std::vector<sched::Builder> placements(const EngineConfig& c);
  // The text hash of a recipe file now ("" when there is none).
  std::string recipe_hash(const Variant& v) const;
  // A build others need ended without being built: the jobs waiting for it end, naming it.
  void end_dependents(const Job& needed);
  // A job about to wait for the scheduler whose needed build ended unbuilt (and was not built
  // since): it ends too; whether it did.
  bool ended_with_its_need(Job& j);
  // Whether some environment takes its torch from `key`'s environment.
  bool needed_by_others(const VariantKey& key) const;
  static std::string dependency_reason(const Variant& needed, JobId id, const std::string& why);
  // j's build succeeded: what waits for it may start.
  void built(const Job& j);
  // Each needed variant's recipe hash when its build last succeeded (this run of the daemon):
  // a dependent's enqueue builds it first unless that is its current recipe.
  std::map<VariantKey, std::string> built_recipe_;
  // A needed variant whose job ended unbuilt, until it is enqueued again: (job, why).
  std::map<VariantKey, std::pair<JobId, std::string>> needed_failed_;
  // Remote builders found unreachable, each probed until it answers (engine_builders.cc).
  const BuilderRun* builder_run(const std::string& name) const;
  void builder_lost(const BuilderRun& b);
  void probe(const std::string& name);
  std::set<std::string> probing_;
  // The jobs a needed build's failure ended, by that build's job: its retry retries them (this
  // run of the daemon; ended jobs leave jobs_ at once).
  std::map<JobId, std::vector<Job>> ended_dependents_;
  // The templates of v's environment; null when it has none (a job of it fails).
  const TemplateSet* templates_of(const Variant& v) const;
  exec::Runner& runner_;
  Clock& clock_;
  Measure measure_;
  sched::Estimator estimator_;
  sched::Scheduler sched_;
  Lanes lanes_;
  std::map<JobId, Job> jobs_;
  std::map<VariantKey, JobId> active_;  // variant -> its active job
  // variant -> (fingerprint, reason) of its last permanent failure
  std::map<VariantKey, std::pair<std::string, std::string>> still_failing_;
  std::map<VariantKey, std::string> published_;  // variant -> output last published
  std::map<JobId, bool> overlapped_;             // running builds that shared the host with another
  Observer observer_;
  bool recheck_armed_ = false;
  std::optional<std::string> paused_;
  int held_ = 0;
  bool pump_wanted_ = false;           // pump() while held
  std::vector<JobId> publish_wanted_;  // start_publish() while held
  std::vector<JobId> recipes_due_;     // start_recipe() at the next pump
  JobId next_id_ = 1;
  JobId first_id_ = 1;
};

}  // namespace tvd::service
