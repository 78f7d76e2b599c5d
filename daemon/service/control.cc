// The operator's control of the queue: pause, drain and resume; cancel a batch; retry what
// failed.
#include <chrono>
#include <nlohmann/json.hpp>

#include "daemon/base/log.h"
#include "daemon/base/units.h"
#include "daemon/service/service.h"

namespace tvd::service {

void Service::apply_pause() {
  if (!paused_) {
    engine_->set_paused(std::nullopt);
    return;
  }
  engine_->set_paused(
      paused_->mode == "drain"
          ? "draining (tvctl drain by " + paused_->by +
                "): nothing new starts; tvd restarts or tvctl resume starts builds again"
          : "paused by " + paused_->by + " since " + format_utc(paused_->since) +
                ": nothing new starts until tvctl resume");
}

Result<proto::StatusView> Service::pause(const std::string& mode, const std::string& by) {
  if (mode != "pause" && mode != "drain" && mode != "resume") {
    return fail(ErrorKind::kBadInput, "unknown pause mode \"" + mode + "\"",
                "pause, drain or resume");
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (mode == "resume") {
    TRY(store_.set_meta("paused", std::nullopt));
    if (paused_) log::info("resumed by " + by + ": builds start again");
    paused_.reset();
  } else {
    // Pausing over a drain keeps the pause across restarts; a drain over a pause keeps it too.
    const bool keep = mode == "pause" || (paused_ && paused_->mode == "pause");
    if (keep) {
      TRY(store_.set_meta("paused", nlohmann::json{{"since", paused_ ? paused_->since : now},
                                                   {"by", paused_ ? paused_->by : by}}
                                        .dump()));
    }
    if (!paused_ || (mode == "pause" && paused_->mode == "drain")) {
      paused_ = proto::StatusView::Paused{keep ? "pause" : "drain", now, by};
      log::info(std::string(keep ? "paused" : "draining") + " by " + by +
                ": no build starts; what runs goes on");
    }
  }
  apply_pause();
  if (change_hook_) change_hook_();
  return status();
}

Result<proto::JobsView> Service::cancel_batch(int64_t batch) {
  TRY_ASSIGN(auto b, store_.batch(batch));
  if (!b) {
    return fail(ErrorKind::kNotFound, "no batch " + std::to_string(batch),
                "'tvctl batches' lists them");
  }
  std::vector<JobId> ids;
  for (const Job* j : engine_->jobs())
    if (j->batch_id == batch && !is_terminal(j->state)) ids.push_back(j->id);
  if (ids.empty()) {
    return fail(ErrorKind::kConflict, "batch " + std::to_string(batch) + " (" + b->name +
                                          ") has no queued or running job; nothing was cancelled");
  }
  return cancel(ids);
}

Result<proto::EnqueueView> Service::retry_failed(std::optional<int64_t> batch) {
  if (batch) {
    TRY_ASSIGN(auto b, store_.batch(*batch));
    if (!b) {
      return fail(ErrorKind::kNotFound, "no batch " + std::to_string(*batch),
                  "'tvctl batches' lists them");
    }
  }
  // Every variant whose newest job failed (of the batch): a failure a later job superseded is
  // not retried.
  TRY_ASSIGN(auto failing, store_.failing_jobs());
  proto::EnqueueView out;
  for (const auto& row : failing) {
    if (batch && row.batch_id != batch) continue;
    auto again = retry(static_cast<JobId>(row.id));
    if (again) {
      out.jobs.push_back(again->job);
    } else {
      out.skipped[VariantKey{row.environment, row.package}.text()] = again.error().message;
    }
  }
  if (out.jobs.empty() && out.skipped.empty()) {
    return fail(ErrorKind::kConflict,
                std::string("no failed variant") +
                    (batch ? " in batch " + std::to_string(*batch) : std::string()) +
                    "; nothing was retried");
  }
  return out;
}

}  // namespace tvd::service
