// What queued jobs wait for: another job's build (a TorchVision build its torch's), the chains
// that make, and what a build lets start.
#include "daemon/sched/scheduler.h"

#include <algorithm>

namespace tvd::sched {

Duration Scheduler::tail(JobId id) const {
  Duration longest{};
  auto it = needed_by_.find(id);
  if (it == needed_by_.end()) return longest;
  for (JobId d : it->second) {
    auto q = queued_.find(d);
    if (q != queued_.end()) longest = std::max(longest, q->second.est.duration + tail(d));
  }
  return longest;
}

void Scheduler::built(JobId id) {
  auto n = needed_by_.find(id);
  if (n == needed_by_.end()) return;
  const std::vector<JobId> freed = std::move(n->second);
  needed_by_.erase(n);
  for (JobId d : freed)
    queued_.at(d).waits_for.erase(id);
  for (auto& e : order_) {
    if (e.alive && e.blocked) e.blocked = !queued_.at(e.id).waits_for.empty();
  }
}

std::vector<JobId> Scheduler::dependents(JobId id) const {
  auto n = needed_by_.find(id);
  if (n == needed_by_.end()) return {};
  std::vector<JobId> out = n->second;
  std::sort(out.begin(), out.end());
  return out;
}

std::map<JobId, std::string> Scheduler::waits_for(JobId id) const {
  auto it = queued_.find(id);
  return it == queued_.end() ? std::map<JobId, std::string>{} : it->second.waits_for;
}

}  // namespace tvd::sched
