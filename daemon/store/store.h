// The SQLite store: WAL, foreign keys on, a busy timeout, migrations from schema/ applied at
// open and tracked by PRAGMA user_version. A database newer than this binary is refused. Every
// state change is one transaction, so a crash at any point loses nothing and leaves nothing half
// written.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/base/result.h"
#include "daemon/matrix/variant_key.h"
#include "proto/job.h"

struct sqlite3;

namespace tvd::store {

// Rows name their variant by environment and package (schema/008).
struct VariantRow {
  std::string environment{kDefaultEnvironment};
  std::string package;
  std::string python;
  std::optional<std::string> cuda;
  std::optional<std::string> gpu_arch;
  std::string cpu_isa;
  std::string kind;  // gpu | cpu
  std::optional<std::string> excluded;
  bool in_matrix = true;
  std::optional<std::string> recipe_source;  // generated | hand-written
  std::optional<std::string> template_hash;
};

struct JobRow {
  int64_t id = 0;
  std::string environment{kDefaultEnvironment};
  std::string package;  // the recipe's file name without .nix
  proto::JobState state = proto::JobState::kQueued;
  proto::JobPhase phase = proto::JobPhase::kRecipe;
  proto::Origin origin = proto::Origin::kInteractive;
  int priority = 0;
  bool publish = false;
  std::optional<int64_t> batch_id;
  bool built = false;
  int build_tries = 0;
  int publish_tries = 0;
  proto::Failure failure = proto::Failure::kNone;  // NULL/'' in the table when kNone
  std::string error;
  int64_t enqueued_at = 0;
  std::optional<int64_t> started_at;
  std::optional<int64_t> finished_at;
  std::optional<std::string> output;        // the build's out path (result-PKG)
  std::optional<std::string> published_to;  // the organisation its output is published in
  std::string note;                         // for people, beside the state
  std::optional<std::string> publish_rev;   // the revision its publish runs from
  std::optional<std::string> fingerprint;   // a permanent build failure's recipe and lock
};

struct AttemptRow {
  int64_t job_id = 0;
  int number = 0;
  proto::JobPhase phase = proto::JobPhase::kRecipe;
  int64_t started_at = 0;
  std::optional<int64_t> ended_at;
  std::optional<proto::AttemptOutcome> outcome;  // nullopt while it runs
  std::optional<int> exit_code;
  std::optional<int> signal;
  proto::Failure failure = proto::Failure::kNone;  // a failed attempt's class; kNone otherwise
  std::string reason;
  std::string log_path;
  std::optional<int64_t> peak_memory;
  std::optional<int64_t> pgid;
  std::optional<std::string> builder;  // a build's: where it ran
};

// One change of a job (schema/009_typed_events.sql): written in the transaction that records the
// change, read after a cursor (events_after) by what follows jobs: notifications, the journal.
struct EventRow {
  int64_t id = 0;  // the cursor: ids only grow; 0 before it is written
  int64_t at = 0;  // unix seconds
  int64_t job_id = 0;
  VariantKey variant;
  proto::JobChange change;  // its failure is kNone (NULL in the table) unless it failed or waits
};

class Store {
 public:
  // Opens (creating it and its directory if needed) and migrates.
  static Result<Store> open(const std::filesystem::path& file);
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  int schema_version() const;

  // How long a write waits for another process's write transaction before it fails with "database
  // is locked" (5 s after open). The daemon's thread sets it short: it never waits out another
  // process; what cannot be written now is written later (service/recorder.h).
  void set_busy_timeout(std::chrono::milliseconds wait);

  // The store's file as it was opened, checked under a running daemon: deleted (by hand, or a
  // cleanup of the state directory) or replaced by another file.
  enum class FileState { kSame, kDeleted, kReplaced };
  FileState file_state() const;
  const std::filesystem::path& file() const { return file_; }
  // After its file was deleted: what this connection still holds (every row, the last
  // change included) is written back to the file (VACUUM INTO), and the store goes on there.
  Status write_back();

  // `body`'s changes as one transaction: all of them are recorded, or none (when `body` or the
  // commit fails). The store's own transactions inside it become part of it.
  Status atomically(const std::function<Status()>& body);
  static int latest_version();

  // The matrix as it is configured now, every environment's cells: new cells are added, changed
  // ones updated, cells no longer in it (of any environment) retired with their history kept.
  Status sync_variants(const std::vector<VariantRow>& current, int64_t now);
  Result<std::vector<VariantRow>> variants() const;
  // A cell of the tables outside the configured matrix, as its first job is recorded: kept with
  // in_matrix 0 (a row that exists already is left as it is).
  Status add_variant(const VariantRow& v, int64_t now);

  // A job and its attempts as they are now, in one transaction.
  // One transaction: the job, its attempts, and (a succeeded job with published_to) the output
  // it published.
  Status save_job(const JobRow& job, const std::vector<AttemptRow>& attempts);

  // Variants whose newest job failed its build for good, with that failure's fingerprint and
  // reason: variant -> (fingerprint, error) (variant_history.cc).
  Result<std::map<VariantKey, std::pair<std::string, std::string>>> still_failing() const;

  // What each variant last published in `org`: variant -> output (variant_history.cc).
  Result<std::map<VariantKey, std::string>> published_outputs(const std::string& org) const;
  Result<std::vector<JobRow>> active_jobs() const;
  Result<std::optional<JobRow>> job(int64_t id) const;
  // The active jobs and the `finished` most recently finished ones.
  Result<std::vector<JobRow>> recent_jobs(int finished) const;
  // The newest job of each variant, where it failed (variant_history.cc).
  Result<std::vector<JobRow>> failing_jobs() const;
  Result<std::vector<AttemptRow>> attempts(int64_t job_id) const;
  Result<int64_t> max_job_id() const;

  // The attempts that have not ended (running, or left so by a stop or a crash of tvd).
  Result<std::vector<AttemptRow>> open_attempts() const;
  // Attempts left running by a crash or a stop: marked interrupted, returned with their process
  // groups; but those of the jobs in `keep` (builds that run on, to be taken back).
  Result<std::vector<AttemptRow>> interrupt_running_attempts(int64_t now,
                                                             const std::set<int64_t>& keep = {});

  // Events (events.cc): `e` is written (its id is the store's); the events after `cursor` (an
  // id, 0 for the first), oldest first, at most `limit`.
  Status add_event(const EventRow& e);
  Result<std::vector<EventRow>> events_after(int64_t cursor, int limit) const;
  Result<int64_t> last_event_id() const;  // 0: none yet
  // What a job event followed, for notifications (notify_cursors.cc): the variant's last outcome
  // (succeeded or failed) before event `event_id`, if it had one; the last event that ended a
  // job of batch `batch_id` (0: none).
  Result<std::optional<proto::EventKind>> outcome_before(const VariantKey& variant,
                                                         int64_t event_id) const;
  Result<int64_t> last_end_of_batch(int64_t batch_id) const;
  // The store's own settings by key (meta.cc): "paused" while tvctl pause holds.
  Result<std::optional<std::string>> meta(const std::string& key) const;
  Status set_meta(const std::string& key, const std::optional<std::string>& value);
  // Each notification receiver's cursor: the last event it was given (or given up on).
  Result<std::optional<int64_t>> notify_cursor(const std::string& receiver) const;
  Status set_notify_cursor(const std::string& receiver, int64_t event_id, int64_t now);

  // Batches: a run over the matrix, such as the nightly.
  Result<int64_t> create_batch(const std::string& name, int64_t started_at);
  // The newest batch named `name` that still has active jobs, if there is one: a second enqueue
  // of the same batch joins it rather than making another.
  Result<std::optional<int64_t>> open_batch(const std::string& name) const;
  Status add_batch_skip(int64_t batch_id, const VariantKey& variant, const std::string& reason);
  // Sets finished_at once none of the batch's jobs is active; true if it did.
  Result<bool> finish_batch_if_done(int64_t batch_id, int64_t now);
  struct BatchRow {
    int64_t id = 0;
    std::string name;
    int64_t started_at = 0;
    std::optional<int64_t> finished_at;
    std::map<std::string, int> states;  // job state -> count
    // Variants by VariantKey::text().
    std::vector<std::pair<std::string, std::string>> skipped;  // variant, reason
    std::map<std::string, std::string> variant_state;          // variant -> its job's state
  };
  Result<std::vector<BatchRow>> batches(int limit) const;   // newest first, without details
  Result<std::optional<BatchRow>> batch(int64_t id) const;  // with skipped and variant_state
  Result<std::optional<int64_t>> previous_batch(const std::string& name, int64_t before) const;
  Result<std::string> integrity_check() const;

  // For the dashboard and /metrics; each reads through an index, whatever the history's size.
  // Every variant's newest job.
  Result<std::map<VariantKey, JobRow>> last_jobs() const;
  // A variant's newest `limit` jobs, newest first.
  Result<std::vector<JobRow>> variant_jobs(const VariantKey& variant, int limit) const;
  Result<std::map<std::string, int64_t>> job_counts() const;  // state -> jobs
  // (environment, state) -> jobs.
  Result<std::map<std::pair<std::string, std::string>, int64_t>> job_counts_by_environment() const;
  // The newest batch named `name`, with its counts.
  Result<std::optional<BatchRow>> last_batch(const std::string& name) const;
  // A batch's builds: the largest peak memory and the summed build time.
  struct BatchBuilds {
    std::optional<int64_t> peak_memory;
    int64_t build_seconds = 0;
    int builds = 0;
  };
  Result<BatchBuilds> batch_builds(int64_t batch_id) const;
  // Every ended attempt, oldest first: what the daemon learns from history at start.
  struct EndedAttempt {
    VariantKey variant;
    std::string kind;  // gpu | cpu
    proto::JobPhase phase = proto::JobPhase::kBuild;
    proto::AttemptOutcome outcome = proto::AttemptOutcome::kSucceeded;
    proto::Failure failure = proto::Failure::kNone;
    int64_t seconds = 0;
    std::optional<int64_t> peak_memory;
  };
  Status each_ended_attempt(const std::function<void(const EndedAttempt&)>& f) const;

  // What the daemon learned from ended attempts (schema/007_learned.sql): written as attempts
  // end, read at start instead of the history (learned.cc).
  struct AttemptCount {
    proto::JobPhase phase = proto::JobPhase::kBuild;
    proto::AttemptOutcome outcome = proto::AttemptOutcome::kSucceeded;
    proto::Failure failure = proto::Failure::kNone;
    int bucket = -1;
    int64_t n = 0, seconds = 0;
  };
  struct LearnedRow {
    VariantKey variant;
    std::string kind;  // gpu | cpu
    std::optional<double> peak, duration, spread;
  };
  Status add_attempt_counts(const std::vector<AttemptCount>& counts);  // added to what is there
  Status save_learned(const std::vector<LearnedRow>& rows);            // replaces each variant's
  Result<std::vector<AttemptCount>> attempt_counts() const;
  Result<std::vector<LearnedRow>> learned() const;
  // Whether the history before the learned tables was replayed into them (once per store).
  Result<bool> history_learned() const;
  Status mark_history_learned();
  // Forgets what was learned: the next start replays the whole history again (after rows were
  // written by something other than tvd serve, such as a repair or a test's fixture).
  Status relearn_from_history();

  sqlite3* handle() const { return db_; }

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  // Where it was opened, the file's identity then, and the busy timeout set.
  // Inside save_job's transaction.
  Status record_published(const VariantKey& variant, const std::string& org,
                          const std::string& output, int64_t job_id, int64_t at);
  sqlite3* db_ = nullptr;
  std::filesystem::path file_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::chrono::milliseconds busy_{5000};
};

}  // namespace tvd::store
