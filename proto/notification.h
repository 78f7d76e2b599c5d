// What tvd tells people (daemon/notify/; README "Notifications"): each notification is one JSON
// object whose "kind" is one of these names, delivered to a command's stdin or POSTed to a webhook.
#pragma once

#include "daemon/base/names.h"

namespace tvd::proto {

enum class NotificationKind {
  kJobFailed,       // a job ended failed: its phase, class, reason and log tail
  kVariantFailing,  // a variant failed after succeeding (or on its first outcome)
  kVariantFixed,    // a variant succeeded after failing
  kBatchFinished,   // a batch's last job ended: its summary against the previous one
  kDaemonRefused,   // tvd serve refused to start: why
};
inline constexpr Names<NotificationKind, 5> kNotificationKinds{{{
    {NotificationKind::kJobFailed, "job_failed"},
    {NotificationKind::kVariantFailing, "variant_failing"},
    {NotificationKind::kVariantFixed, "variant_fixed"},
    {NotificationKind::kBatchFinished, "batch_finished"},
    {NotificationKind::kDaemonRefused, "daemon_refused"},
}}};

}  // namespace tvd::proto
