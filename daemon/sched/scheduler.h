// The scheduler decides which builds start and why the others wait. It never acts: no clock, no
// processes, no database. Time, host measurements and estimates come in as values; the driver
// (daemon/service) starts what next() returns and reports back with finished() or requeue().
//
// Order: priority (higher first), then interactive before batch, then, among batch jobs, the
// batch plan (batch_plan.h: an order found by searching for the shortest night, from the
// largest memory × time first), then the order of arrival. A job that others wait for counts
// with its chain: its own expected duration plus the longest chain of queued jobs waiting for
// it (PyTorch 3 h before a TorchVision of 20 min is a 3 h 20 min chain), the critical path in
// expected durations, and the plan never starts a job before what it needs ends.
//
// Admission: a build starts when a slot is free (max_parallel), its reservation fits beside the
// running ones in the memory budget, and the live gates pass (memory pressure, MemAvailable,
// free disk). A build that needs more than the whole budget reserves all of it and runs alone.
//
// Batch jobs start first fit in the plan's order (one that does not fit yet lets later ones by),
// as the plan assumed. An interactive head of the queue is not starved (EASY backfilling): the
// first interactive job that cannot start becomes the head, and its shadow time is when, by the
// running builds' expected ends, enough memory and a slot will be free for it. A job behind it may
// start first only if it is expected to end by the shadow time, or if it fits in what is left
// beside the head at that time. A build that overruns its estimate counts as ending now, so
// backfilling dries up instead of pushing the head back for ever.
//
// Builders: each build runs on one builder (the local host, or a Nix remote builder), as Ninja's
// jobs run in pools. A builder has its own slots and memory budget and serves some systems and
// features; a job goes to the first builder, in their order, that serves its system and features,
// is reachable, and has a slot and memory for it now. Without builders set, one local builder
// serves everything with the limits' slots and budget. The live gates (memory pressure,
// MemAvailable, disk) are the local host's: they hold only local starts. The head's shadow time
// is on the builder where it would start soonest; backfilling is constrained only there.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "daemon/base/names.h"
#include "daemon/sched/batch_plan.h"
#include "daemon/sched/estimator.h"
#include "proto/job.h"

namespace tvd::sched {

using TimePoint = std::chrono::system_clock::time_point;
using JobId = uint64_t;

using proto::kOrigins;
using proto::Origin;

// `variant` below is always the variant's key as text (VariantKey::text(): the package in the
// default environment, ENVIRONMENT/PACKAGE in another), never the package alone: the same
// package in two environments is two variants. The scheduler stays below matrix/'s types.
struct JobSpec {
  std::string variant;  // its key as text; a variant is never queued or running twice
  BuildKind kind = BuildKind::kGpu;
  Origin origin = Origin::kInteractive;
  int priority = 0;
  // The jobs whose builds it needs (a TorchVision build, its torch's), with their variants: it
  // waits, reserving nothing, until built() says each was built (queued here or not yet).
  std::map<JobId, std::string> after = {};
  // The platform it builds for ("aarch64-linux") and the features its recipe requires
  // ("big-parallel"): only a builder that serves both takes it. Empty: any builder.
  std::string system = {};
  std::vector<std::string> features = {};
};

// A machine builds run on: the local host, or a Nix remote builder.
struct Builder {
  std::string name;  // "local", or the machine's store URI
  std::vector<std::string>
      systems;  // the platforms it builds; empty: every one (and every feature)
  std::vector<std::string> features;  // the features it supports
  unsigned slots = 1;
  uint64_t budget = 0;    // memory its builds may reserve together
  bool local = true;      // the host tvd runs on: the live gates apply to it
  bool reachable = true;  // false: nothing is placed on it until it is reachable again

  bool serves(const JobSpec& spec) const;
};

// Live readings of the host; nullopt where the source is missing (then that gate is off).
struct Measurements {
  std::optional<double> memory_pressure;  // /proc/pressure/memory "full avg10", percent
  std::optional<uint64_t> mem_available;  // /proc/meminfo MemAvailable
  struct Disk {
    std::string path;
    std::optional<uint64_t> free_bytes;
  };
  std::vector<Disk> disks;  // the Nix store and the state directory
};

enum class Order {
  kLongestFirst,  // tvd's policy
  kArrival,       // first in, first out: for comparison in simulations
};

struct Limits {
  uint64_t memory_budget = 0;
  unsigned max_parallel = 1;
  uint64_t min_free_disk = 0;
  double max_memory_pressure = 10.0;  // percent, "full avg10"
  Order order = Order::kLongestFirst;
  bool memory_aware = true;        // false: only slots limit starts (for comparison)
  uint64_t plan_work = kPlanWork;  // the batch plan's bound in steps (batch_plan.h); 0: none
};

struct Start {
  JobId id = 0;
  std::string variant;
  uint64_t reservation = 0;  // never more than its builder's budget
  Duration expected{};
  std::string warning;  // e.g. the build needs more than the whole budget
  std::string builder;  // where it runs: a Builder's name
};

struct Waiting {
  JobId id = 0;
  std::string variant;
  std::string
      reason;  // for people: "waiting for memory: 180 GiB of 200 GiB reserved, needs 48 GiB"
};

struct Running {
  JobId id = 0;
  std::string variant;
  uint64_t reservation = 0;
  TimePoint started;
  Duration expected{};
  std::string builder;
};

class Scheduler {
 public:
  Scheduler(Limits limits, const Estimator* estimator) : limits_(limits), estimator_(estimator) {}

  struct Enqueued {
    JobId id = 0;
    bool created = false;  // false: the variant was already queued or running
  };
  // `id` 0 lets the scheduler number the job; the service passes its store's ids.
  Enqueued enqueue(const JobSpec& spec, JobId id = 0);

  // The builds to start now; they hold their reservations until finished() or requeue().
  std::vector<Start> next(TimePoint now, const Measurements& m);

  // A build that kept running while tvd restarted, taken back: it runs on `builder` (the local
  // one when there is none of that name) from `started`, reserving what a start would now.
  Start adopt(const JobSpec& spec, JobId id, const std::string& builder, TimePoint started);

  // A running build ended: its reservation is released and its variant may be queued again.
  void finished(JobId id);
  // A running build failed transiently: it waits again, keeping its place in the order, and
  // does not start before `not_before`.
  void requeue(JobId id, TimePoint not_before, std::string why);
  // Removes a queued job; false if it is not queued (running jobs are cancelled by the driver,
  // which then calls finished()).
  bool cancel(JobId id);
  // `id`'s build succeeded: jobs that need it may start. (A failed one's dependents are the
  // driver's to end, with cancel().)
  void built(JobId id);
  // The queued jobs that wait for `id`'s build.
  std::vector<JobId> dependents(JobId id) const;
  // What queued job `id` still waits for (job -> variant); empty when it waits for nothing.
  std::map<JobId, std::string> waits_for(JobId id) const;

  // Every queued job, in order, with the reason it is not starting.
  std::vector<Waiting> waiting(TimePoint now, const Measurements& m) const;
  std::vector<Running> running() const;
  uint64_t reserved() const;
  // The gates that are off because their source is missing, for `status`.
  std::vector<std::string> gate_notes(const Measurements& m) const;
  std::optional<JobId> find(const std::string& variant) const;

  const Limits& limits() const { return limits_; }
  void set_limits(const Limits& l) {
    limits_ = l;
    seen_generation_ = kStale;
  }
  // The builders, in the order jobs are offered to them. The local one (if any) takes its slots
  // and budget from the limits. Empty: one local builder serving everything.
  void set_builders(std::vector<Builder> builders);
  // The builders in effect (the implicit local one when none were set), with the limits applied.
  std::vector<Builder> builders() const;
  // A builder lost or found again; false if there is none of that name.
  bool set_reachable(const std::string& builder, bool reachable);
  // What the running builds on `builder` reserve.
  uint64_t reserved(const std::string& builder) const;
  size_t queued_count() const { return queued_.size(); }

 private:
  struct Queued {
    JobId id;
    JobSpec spec;
    uint64_t seq;
    TimePoint not_before;
    std::string backoff_reason;
    Estimate est;                                 // cached until the estimator's generation changes
    std::map<JobId, std::string> waits_for = {};  // builds it needs, not built yet: variants
  };
  // Position in the queue: (-priority, origin, -expected duration for batch jobs, arrival).
  using Key = std::tuple<int, int, long long, uint64_t>;
  // The queue in order, compact and contiguous so that a decision over 10,000 jobs stays in the
  // cache: what admission needs is copied here, the rest stays in queued_. Removed jobs are
  // marked dead and swept once they are half the vector; new ones are sorted in lazily.
  struct Entry {
    Key key;
    JobId id = 0;
    uint64_t memory = 0;
    Duration duration{};
    TimePoint not_before{};
    bool batch = false;
    bool alive = true;
    bool blocked = false;  // it waits for another job's build
    uint64_t serving = 0;  // the builders (bits, in builders() order) that serve it
  };
  struct Active {
    Running run;
    JobSpec spec;
    uint64_t seq;
    size_t builder = 0;  // its index in builders()
  };
  struct Plan {
    std::vector<Start> starts;
    std::vector<Waiting> waiting;
  };
  // want_reasons: next() only needs the starts, status needs every reason.
  Plan plan(TimePoint now, const Measurements& m, bool want_reasons) const;
  // With `planned`, a batch job's place is its rank in the batch plan when it has one.
  Key key_of(const Queued& q, bool planned = true) const;
  // Whether batch jobs follow a plan (plan_batch) and start first fit, without a head.
  bool planning() const { return limits_.order == Order::kLongestFirst && limits_.memory_aware; }
  // Orders the queued batch jobs by plan_order() from what runs now (batch_plan.h).
  void plan_batch(TimePoint now);
  void insert(Queued q);
  void erase_queued(std::map<JobId, Queued>::iterator it);
  // Re-estimates the queue if the estimator learned something, sweeps and sorts it.
  void refresh() const;
  // How long the longest chain of queued jobs waiting for `id` is expected to take after it ends.
  Duration tail(JobId id) const;
  static constexpr uint64_t kStale = ~0ull;

  // The builders that serve `spec`, as bits in builders() order.
  uint64_t serving(const JobSpec& spec, const std::vector<Builder>& all) const;
  Entry entry_of(const Queued& q, const std::vector<Builder>& all) const;

  Limits limits_;
  const Estimator* estimator_;
  std::vector<Builder> builders_;  // as set; builders() applies the limits
  mutable std::map<JobId, Queued> queued_;
  mutable std::vector<Entry> order_;
  mutable size_t dead_ = 0;
  mutable size_t sorted_ = 0;  // order_[0, sorted_) is in order; the rest is new
  mutable uint64_t seen_generation_ = kStale;
  std::map<JobId, Active> running_;
  std::map<JobId, size_t> batch_rank_;  // each queued batch job's place in the batch plan
  bool batch_dirty_ = false;            // batch jobs came or went back: plan again
  size_t queued_batch_ = 0;             // how many queued jobs are batch jobs
  std::map<std::string, JobId, std::less<>> by_variant_;
  // The queued jobs that wait for each job's build (the reverse of Queued::waits_for).
  std::map<JobId, std::vector<JobId>> needed_by_;
  JobId next_id_ = 1;
  uint64_t next_seq_ = 0;
};

}  // namespace tvd::sched
