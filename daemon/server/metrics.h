// /metrics in the Prometheus text exposition format (version 0.0.4).
#pragma once

#include <string>
#include <vector>

#include "daemon/notify/dispatcher.h"

namespace tvd::service {
class Service;
}

namespace tvd::server {

// `notifications`: each receiver's deliveries (none when nothing is configured).
std::string render_metrics(service::Service& service,
                           const std::vector<notify::ReceiverStats>& notifications = {});

// A label value with \, " and newlines escaped.
std::string label_value(const std::string& text);

}  // namespace tvd::server
