// The replies' payloads as types: what the service answers (status, a job, its attempts, an
// enqueue's outcome, a log slice), each with one to_json and one from_json. The daemon builds
// these; tvctl and the pages read them, never JSON by key. The JSON they make is the contract of
// PROTOCOL.md; a golden file per view (proto/golden/view-*.json) holds it, and TVD_ACCEPT=1
// rewrites the goldens on purpose.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "daemon/base/result.h"
#include "proto/job.h"

namespace tvd::proto {

// A job as `status`, `enqueue`, `cancel` and `retry` list it.
struct JobView {
  int64_t id = 0;
  std::string package;                 // the recipe's file name without .nix
  std::string environment{"default"};  // where it is built; a variant is (environment, package)
  std::string state;                   // queued building publishing succeeded failed cancelled
  std::string phase;                   // recipe build publish
  std::string origin;                  // interactive batch
  int priority = 0;
  bool publish = false;
  int build_tries = 0;
  int publish_tries = 0;
  int64_t enqueued_at = 0;
  std::optional<int64_t> started_at, finished_at;
  std::string error;    // omitted when empty
  std::string note;     // omitted when empty
  std::string failure;  // its class; omitted when empty
  std::optional<std::string> output;
  // A running build's expectation (status only), and where it comes from: "history" (this
  // variant's own builds), "kind" (the average of its kind's), "default" (the config's).
  std::optional<int64_t> expected_s, eta_at;
  std::optional<std::string> expected_from;
  std::optional<uint64_t> reserved;
  std::optional<bool> created;  // enqueue only: a new job, not one already queued or running

  // The state through its names table (proto/job.h); none for a state this reader does not know.
  std::optional<JobState> job_state() const { return kJobStates.parse(state); }
  friend bool operator==(const JobView&, const JobView&) = default;
};

struct AttemptView {
  int number = 0;
  std::string phase;
  int64_t started_at = 0;
  std::optional<int64_t> ended_at;
  std::optional<std::string> outcome;  // succeeded failed cancelled interrupted; null while it runs
  std::string reason;
  std::string log;
  std::optional<int64_t> exit_code;
  std::optional<int64_t> peak_memory;
  std::optional<std::string> builder;  // a build's: where it ran ("local", a remote's URI)
  friend bool operator==(const AttemptView&, const AttemptView&) = default;
};

// `show`: the job and its attempts.
struct JobDetailView {
  JobView job;
  std::vector<AttemptView> attempts;
  friend bool operator==(const JobDetailView&, const JobDetailView&) = default;
};

struct StatusView {
  std::vector<JobView> jobs;                   // active, then failing variants, then recent
  std::map<std::string, std::string> waiting;  // job id -> why it waits
  std::map<std::string, int64_t> summary;      // state -> jobs in the store
  struct Memory {
    uint64_t reserved = 0;
    uint64_t budget = 0;
    unsigned max_parallel = 0;
    friend bool operator==(const Memory&, const Memory&) = default;
  } memory;
  std::vector<std::string> gates;  // what holds starts back now
  struct Disk {
    std::string path;
    std::optional<uint64_t> free;
    friend bool operator==(const Disk&, const Disk&) = default;
  };
  std::vector<Disk> disks;
  // Where builds run, when more than the host does: each builder's slots and memory in use.
  struct Builder {
    std::string name;
    std::vector<std::string> systems;
    unsigned slots = 0;
    unsigned busy = 0;
    uint64_t reserved = 0;
    uint64_t budget = 0;
    bool reachable = true;
    friend bool operator==(const Builder&, const Builder&) = default;
  };
  std::vector<Builder> builders;
  // `tvctl pause` (kept across restarts) or `tvctl drain` (until the daemon restarts): no new
  // build starts; absent while builds start as they may.
  struct Paused {
    std::string mode;  // pause drain
    int64_t since = 0;
    std::string by;  // the user who asked
    friend bool operator==(const Paused&, const Paused&) = default;
  };
  std::optional<Paused> paused;
  friend bool operator==(const StatusView&, const StatusView&) = default;
};

// `enqueue`: the jobs (new or already there) and what was skipped, by package, with why.
struct EnqueueView {
  std::vector<JobView> jobs;
  std::map<std::string, std::string> skipped;
  // With --batch: the batch's record, and whether this enqueue joined it (a batch of that name
  // still had active jobs) rather than starting it.
  std::optional<int64_t> batch_id;
  std::optional<bool> batch_joined;
  friend bool operator==(const EnqueueView&, const EnqueueView&) = default;
};

// `cancel`: the jobs as they are now; `retry`: the job again.
struct JobsView {
  std::vector<JobView> jobs;
  friend bool operator==(const JobsView&, const JobsView&) = default;
};
struct RetryView {
  JobView job;
  friend bool operator==(const RetryView&, const RetryView&) = default;
};

// `logs`: a slice of an attempt's log.
struct LogSliceView {
  std::string text;
  int64_t offset = 0;              // where the next slice starts
  bool done = false;               // the job ended and its last attempt was read to its end
  std::optional<int> attempt;      // null: no attempt yet
  std::optional<std::string> log;  // the file; absent before the first attempt
  std::optional<std::string> phase;
  std::optional<int> next_attempt;  // this attempt ended and was read to its end
  friend bool operator==(const LogSliceView&, const LogSliceView&) = default;
};

// A batch (a nightly) as `batches` lists it.
struct BatchView {
  int64_t id = 0;
  std::string name;
  int64_t started_at = 0;
  std::optional<int64_t> finished_at;
  std::optional<int64_t> duration_s;  // once it finished
  std::map<std::string, int> states;  // job state -> jobs
  int64_t skipped = 0;                // how many variants it skipped
  // Every variant of the batch by its outcome (variants, not jobs): its job's state (succeeded,
  // failed, cancelled, queued, building, publishing), or why it was not queued (still-failing,
  // already-queued, excluded, no-builder).
  std::map<std::string, int64_t> variants_by_outcome;
  friend bool operator==(const BatchView&, const BatchView&) = default;
};
struct BatchesView {
  std::vector<BatchView> batches;  // newest first
  friend bool operator==(const BatchesView&, const BatchesView&) = default;
};

// `show-batch`: the batch, what it skipped and why, each variant's state, and against the
// previous batch of the same name its duration and what changed.
struct BatchDetailView {
  BatchView batch;                                  // its `skipped` count is not sent here
  std::map<std::string, std::string> skipped;       // variant -> why
  std::map<std::string, std::string> skip_reasons;  // variant -> why, as a class (skip_class)
  std::map<std::string, std::string> variants;      // variant -> its job's state
  struct Previous {
    int64_t id = 0;
    std::optional<int64_t> duration_s;
    friend bool operator==(const Previous&, const Previous&) = default;
  };
  std::optional<Previous> previous;
  std::vector<std::string> newly_failing, fixed;  // sent with `previous`
  friend bool operator==(const BatchDetailView&, const BatchDetailView&) = default;
};

// A recipe, as `matrix`, `generate` and `tvd check --json` list it.
struct FindingView {
  std::string severity;  // error warning
  std::string code;
  std::string file;
  int64_t line = 0;  // 0: the file as a whole
  std::string what;
  std::string fix;
  friend bool operator==(const FindingView&, const FindingView&) = default;
};
struct RecipeView {
  std::string package;  // the recipe's file name without .nix
  std::string file;
  std::string kind;  // gpu cpu
  std::string python;
  std::optional<std::string> cuda, gpu_arch;  // null for CPU-only
  std::string cpu_isa;
  std::string platform;
  std::string state;  // missing current differs
  std::vector<std::string> excluded;
  bool buildable = true;
  std::optional<std::string> outcome;  // what was done (generate), if anything
  std::optional<std::string> gpu_target, gpu_target_source, file_gpu_target;
  std::string nixpkgs;  // a commit, or "flox"
  std::string nixpkgs_source;
  std::optional<std::string> pytorch_recipe;
  std::vector<std::string> pytorch_problems;
  std::string warning;  // omitted when empty
  std::vector<FindingView> findings;
  friend bool operator==(const RecipeView&, const RecipeView&) = default;
};
// `matrix`: every cell and how many can be built.
struct MatrixView {
  std::vector<RecipeView> cells;
  struct Summary {
    int64_t cells = 0, buildable = 0, excluded = 0;
    friend bool operator==(const Summary&, const Summary&) = default;
  };
  std::optional<Summary> summary;
  friend bool operator==(const MatrixView&, const MatrixView&) = default;
};
// `generate`: each chosen recipe with its outcome.
struct GenerateView {
  std::vector<RecipeView> recipes;
  bool dry_run = false;
  friend bool operator==(const GenerateView&, const GenerateView&) = default;
};

void to_json(nlohmann::json& j, const FindingView& v);
void from_json(const nlohmann::json& j, FindingView& v);
void to_json(nlohmann::json& j, const RecipeView& v);
void from_json(const nlohmann::json& j, RecipeView& v);
void to_json(nlohmann::json& j, const MatrixView& v);
void from_json(const nlohmann::json& j, MatrixView& v);
void to_json(nlohmann::json& j, const GenerateView& v);
void from_json(const nlohmann::json& j, GenerateView& v);
void to_json(nlohmann::json& j, const JobView& v);
void from_json(const nlohmann::json& j, JobView& v);
void to_json(nlohmann::json& j, const AttemptView& v);
void from_json(const nlohmann::json& j, AttemptView& v);
void to_json(nlohmann::json& j, const JobDetailView& v);
void from_json(const nlohmann::json& j, JobDetailView& v);
void to_json(nlohmann::json& j, const StatusView& v);
void from_json(const nlohmann::json& j, StatusView& v);
void to_json(nlohmann::json& j, const EnqueueView& v);
void from_json(const nlohmann::json& j, EnqueueView& v);
void to_json(nlohmann::json& j, const JobsView& v);
void from_json(const nlohmann::json& j, JobsView& v);
void to_json(nlohmann::json& j, const RetryView& v);
void from_json(const nlohmann::json& j, RetryView& v);
void to_json(nlohmann::json& j, const BatchView& v);
void from_json(const nlohmann::json& j, BatchView& v);
void to_json(nlohmann::json& j, const BatchesView& v);
void from_json(const nlohmann::json& j, BatchesView& v);
void to_json(nlohmann::json& j, const BatchDetailView& v);
void from_json(const nlohmann::json& j, BatchDetailView& v);
void to_json(nlohmann::json& j, const LogSliceView& v);
void from_json(const nlohmann::json& j, LogSliceView& v);

// A reply's payload as a view; a payload that is not one is an error that says which field.
template <class View>
Result<View> read_view(const nlohmann::json& j) {
  try {
    return j.get<View>();
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorKind::kInternal,
                std::string("the daemon's reply is not what this tvctl "
                            "reads: ") +
                    e.what(),
                "use tvctl and tvd of the same version");
  }
}

}  // namespace tvd::proto
