#include "daemon/notify/notification.h"

#include <unistd.h>

#include "daemon/base/file.h"
#include "daemon/base/units.h"
#include "daemon/service/service.h"

namespace tvd::notify {

namespace {

using nlohmann::json;
using proto::NotificationKind;

std::string name_of(NotificationKind k) {
  return std::string(proto::kNotificationKinds.name(k));
}

// What every notification of a job event carries.
json about_job(NotificationKind kind, const store::EventRow& e, const std::string& base_url) {
  const std::string variant = e.variant.text();
  json j = {{"kind", name_of(kind)},
            {"at", e.at},
            {"time", format_utc(e.at)},
            {"job", e.job_id},
            {"variant", variant},
            {"environment", e.variant.environment},
            {"package", e.variant.package},
            {"phase", std::string(proto::kJobPhases.name(e.change.phase))}};
  json links = json::object();
  if (!base_url.empty()) {
    links["job"] = base_url + "job/" + std::to_string(e.job_id);
    links["variant"] = base_url + "variant/" + variant;
  }
  j["links"] = links;
  return j;
}

void add_failure(json& j, const store::EventRow& e) {
  j["failure"] = std::string(proto::kFailures.name(e.change.failure));
  j["reason"] = e.change.reason;
}

}  // namespace

std::string log_tail(const std::string& path, int lines, size_t bytes) {
  // One byte more than asked for tells whether the file is longer.
  std::string text = read_file_tail(path, bytes + 1);
  // Whole lines only: drop a first one cut in the middle.
  if (text.size() > bytes) {
    text.erase(0, 1);
    auto nl = text.find('\n');
    text = nl == std::string::npos ? "" : text.substr(nl + 1);
  }
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  size_t at = text.size();
  for (int n = 0; n < lines && at != std::string::npos && at > 0; ++n)
    at = text.rfind('\n', at - 1);
  return at == std::string::npos || at == 0 ? text : text.substr(at + 1);
}

Result<std::vector<Notification>> notifications_of(const store::EventRow& e, service::Service& s,
                                                   const std::string& base_url) {
  using proto::EventKind;
  std::vector<Notification> out;
  const EventKind kind = e.change.kind;
  const bool ended =
      kind == EventKind::kSucceeded || kind == EventKind::kFailed || kind == EventKind::kCancelled;
  if (!ended) return out;
  TRY_ASSIGN(auto job, s.store().job(e.job_id));

  if (kind == EventKind::kFailed) {
    json j = about_job(NotificationKind::kJobFailed, e, base_url);
    add_failure(j, e);
    j["batch"] = job && job->batch_id ? json(*job->batch_id) : json(nullptr);
    TRY_ASSIGN(auto attempts, s.store().attempts(e.job_id));
    j["attempts"] = attempts.size();
    j["log_tail"] = attempts.empty() ? "" : log_tail(attempts.back().log_path);
    j["retry"] = "tvctl retry " + std::to_string(e.job_id);
    out.push_back({NotificationKind::kJobFailed, e.id, std::move(j)});
  }
  if (kind != EventKind::kCancelled) {
    TRY_ASSIGN(auto before, s.store().outcome_before(e.variant, e.id));
    if (kind == EventKind::kFailed && before != EventKind::kFailed) {
      json j = about_job(NotificationKind::kVariantFailing, e, base_url);
      add_failure(j, e);
      j["before"] = before ? json(std::string(proto::kEventKinds.name(*before))) : json(nullptr);
      out.push_back({NotificationKind::kVariantFailing, e.id, std::move(j)});
    } else if (kind == EventKind::kSucceeded && before == EventKind::kFailed) {
      json j = about_job(NotificationKind::kVariantFixed, e, base_url);
      out.push_back({NotificationKind::kVariantFixed, e.id, std::move(j)});
    }
  }
  // The batch's last job to end: the batch is finished if the store says so.
  if (job && job->batch_id) {
    TRY_ASSIGN(int64_t last, s.store().last_end_of_batch(*job->batch_id));
    if (last == e.id) {
      TRY_ASSIGN(auto b, s.show_batch(*job->batch_id));
      if (b.batch.finished_at) {
        json j = {{"kind", name_of(NotificationKind::kBatchFinished)},
                  {"at", e.at},
                  {"time", format_utc(e.at)},
                  {"batch", b.batch.id},
                  {"name", b.batch.name},
                  {"started_at", b.batch.started_at},
                  {"finished_at", *b.batch.finished_at},
                  {"duration_s", b.batch.duration_s ? json(*b.batch.duration_s) : json(nullptr)},
                  {"jobs", b.batch.states},
                  {"skipped", b.skipped},
                  {"newly_failing", b.newly_failing},
                  {"fixed", b.fixed}};
        j["previous"] =
            b.previous ? json{{"batch", b.previous->id},
                              {"duration_s", b.previous->duration_s ? json(*b.previous->duration_s)
                                                                    : json(nullptr)}}
                       : json(nullptr);
        json links = json::object();
        if (!base_url.empty()) links["nights"] = base_url + "nights";
        j["links"] = links;
        out.push_back({NotificationKind::kBatchFinished, e.id, std::move(j)});
      }
    }
  }
  return out;
}

Notification refusal(const std::string& config, const std::vector<std::string>& problems,
                     int64_t now) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return {NotificationKind::kDaemonRefused,
          0,
          {{"kind", name_of(NotificationKind::kDaemonRefused)},
           {"at", now},
           {"time", format_utc(now)},
           {"host", host},
           {"config", config},
           {"problems", problems}}};
}

}  // namespace tvd::notify
