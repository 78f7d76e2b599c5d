// What the dashboard and /metrics read: the store's history, with the changes that wait to be
// recorded (recorder.h: the store may be busy or full) laid over it. While nothing waits, each
// is one indexed read of the store; what waits is a few jobs at most.
#include "daemon/service/service.h"

namespace tvd::service {

namespace {

VariantKey key_of(const store::JobRow& j) {
  return {j.environment, j.package};
}

}  // namespace

Result<std::optional<Service::JobRecord>> Service::job_row(int64_t id) const {
  if (const Change* c = recorder_->waiting(id)) return std::optional<store::JobRow>(c->job);
  return store_.job(id);
}

Result<std::vector<Service::AttemptRecord>> Service::attempt_rows(int64_t id) const {
  if (const Change* c = recorder_->waiting(id)) return c->attempts;
  return store_.attempts(id);
}

Result<std::map<VariantKey, Service::JobRecord>> Service::last_jobs() const {
  TRY_ASSIGN(auto last, store_.last_jobs());
  for (const auto& [id, c] : recorder_->waiting()) {
    auto& newest = last[key_of(c.job)];
    if (newest.id <= id) newest = c.job;
  }
  return last;
}

Result<std::vector<Service::JobRecord>> Service::variant_jobs(const VariantKey& variant,
                                                              int limit) const {
  TRY_ASSIGN(auto jobs, store_.variant_jobs(variant, limit));
  for (const auto& [id, c] : recorder_->waiting()) {
    if (key_of(c.job) != variant) continue;
    auto it = std::find_if(jobs.begin(), jobs.end(), [&](const auto& j) { return j.id == id; });
    if (it != jobs.end()) {
      *it = c.job;
    } else {
      jobs.push_back(c.job);  // not in the store yet
    }
  }
  std::sort(jobs.begin(), jobs.end(), [](const auto& a, const auto& b) { return a.id > b.id; });
  if (jobs.size() > static_cast<size_t>(std::max(0, limit))) jobs.resize(std::max(0, limit));
  return jobs;
}

Result<std::map<std::string, int64_t>> Service::job_counts() const {
  TRY_ASSIGN(auto by_environment, job_counts_by_environment());
  std::map<std::string, int64_t> counts;
  for (const auto& [key, n] : by_environment)
    counts[key.second] += n;
  return counts;
}

Result<std::map<std::pair<std::string, std::string>, int64_t>> Service::job_counts_by_environment()
    const {
  TRY_ASSIGN(auto counts, store_.job_counts_by_environment());
  for (const auto& [id, c] : recorder_->waiting()) {
    TRY_ASSIGN(auto stored, store_.job(id));
    const std::string& environment = c.job.environment;
    if (stored) --counts[{environment, std::string(kJobStates.name(stored->state))}];
    ++counts[{environment, std::string(kJobStates.name(c.job.state))}];
  }
  return counts;
}

Result<std::vector<Service::BatchRecord>> Service::batch_records(int limit) const {
  return store_.batches(limit);
}

Result<std::optional<Service::BatchRecord>> Service::last_batch(const std::string& name) const {
  return store_.last_batch(name);
}

Result<Service::BatchBuilds> Service::batch_builds(int64_t batch_id) const {
  return store_.batch_builds(batch_id);
}

}  // namespace tvd::service
