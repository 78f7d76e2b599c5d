// /metrics in the Prometheus text exposition format (version 0.0.4).
#pragma once

#include <string>

namespace tvd::service {
class Service;
}

namespace tvd::server {

std::string render_metrics(service::Service& service);

// A label value with \, " and newlines escaped.
std::string label_value(const std::string& text);

}  // namespace tvd::server
