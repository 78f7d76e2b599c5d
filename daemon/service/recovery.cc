// Recovery at start: what a stop or a crash of tvd left in the store. A build that runs on under
// its supervisor (tvd-run), or that ended while tvd was away and left its status, is taken back
// as it is; every other attempt left open was interrupted, and what may be left of its process
// group is killed (only when it is still that attempt's run). The active jobs are read back.
#include <signal.h>

#include <filesystem>
#include <set>

#include "daemon/base/log.h"
#include "daemon/exec/host.h"
#include "daemon/exec/supervisor.h"
#include "daemon/service/persist.h"
#include "daemon/service/service.h"

namespace tvd::service {

Result<std::vector<Job>> Service::recover_jobs(std::chrono::system_clock::time_point now) {
  std::set<int64_t> running_on;
  TRY_ASSIGN(auto open, store_.open_attempts());
  for (const auto& a : open) {
    if (a.phase != JobPhase::kBuild || !a.pgid || *a.pgid <= 1) continue;
    const auto pgid = static_cast<pid_t>(*a.pgid);
    std::error_code ec;
    const bool ended = std::filesystem::exists(exec::status_path(a.log_path), ec);
    const bool runs =
        exec::process_started_at(pgid) && exec::may_be_our_run(pgid, a.started_at, {"tvd-run"});
    if (ended || runs) {
      running_on.insert(a.job_id);
      log::info("job " + std::to_string(a.job_id) + ": its build " +
                (runs ? "runs on (process group " + std::to_string(pgid) + "); taken back"
                      : "ended while tvd was away; its result is read from " +
                            exec::status_path(a.log_path).string()));
    }
  }
  TRY_ASSIGN(auto interrupted, store_.interrupt_running_attempts(unix_seconds(now), running_on));
  for (const auto& a : interrupted) {
    if (!a.pgid || *a.pgid <= 1) continue;
    const auto pgid = static_cast<pid_t>(*a.pgid);
    // Only what is still that attempt's run: after a reboot the number may be anyone's.
    if (exec::may_be_our_run(pgid, a.started_at, {"flox", "git", "tvd-run"})) {
      ::kill(-pgid, SIGKILL);
    } else {
      log::warning("not killing process group " + std::to_string(pgid) + " of job " +
                   std::to_string(a.job_id) + ": it is not the run tvd started then");
    }
  }
  TRY_ASSIGN(auto max_id, store_.max_job_id());
  engine_->set_first_id(static_cast<JobId>(max_id + 1));
  TRY_ASSIGN(auto active, store_.active_jobs());
  std::vector<Job> restored;
  for (const auto& row : active) {
    TRY_ASSIGN(auto attempts, store_.attempts(row.id));
    auto job = from_rows(row, attempts, matrix_for(row.environment));
    if (!job) {
      auto failed = row;
      failed.state = JobState::kFailed;
      failed.error = job.error().message;
      failed.finished_at = unix_seconds(now);
      (void)store_.save_job(failed, {});
      continue;
    }
    restored.push_back(std::move(*job));
  }
  return restored;
}

}  // namespace tvd::service
