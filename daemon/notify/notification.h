// What tvd tells people, derived from the job events the store took (never from a change it did
// not take): a job that failed, a variant newly failing or fixed, a batch that finished, and the
// daemon refusing to start. Each is one JSON object (README "Notifications" lists the fields).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/base/result.h"
#include "daemon/store/store.h"
#include "proto/notification.h"

namespace tvd::service {
class Service;
}

namespace tvd::notify {

struct Notification {
  proto::NotificationKind kind = proto::NotificationKind::kJobFailed;
  int64_t event_id = 0;  // the job event it follows from; 0 for the daemon's refusal
  nlohmann::json body;   // what a receiver gets; body["kind"] is the kind's name
};

// What job event `e` means to people, in this order: the job failed (job_failed); its variant
// failed after succeeding or on its first outcome (variant_failing), or succeeded after failing
// (variant_fixed); it ended the last job of its batch (batch_finished). `base_url` is the
// dashboard's address for links ("http://host:8347/"), empty for none.
Result<std::vector<Notification>> notifications_of(const store::EventRow& e, service::Service& s,
                                                   const std::string& base_url);

// tvd serve refusing to start: the config and each problem.
Notification refusal(const std::string& config, const std::vector<std::string>& problems,
                     int64_t now);

// The last lines of a log file (at most `lines`, from its last `bytes`), for a failure's tail.
std::string log_tail(const std::string& path, int lines = 20, size_t bytes = 4096);

}  // namespace tvd::notify
