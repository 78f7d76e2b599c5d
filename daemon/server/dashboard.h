// The dashboard's routes, from a parsed request to a response; pure of sockets (the HTTP server
// calls it). Pages read the store through its indexed queries only, so they stay fast however
// long the history is.
//   /                 the matrix: a grid per Python × CUDA, cells coloured by the last result
//   /queue            running builds with progress and ETA, waiting jobs with their reasons
//   /nights           batches: durations and peak memory over the last nights
//   /variant/NAME     a variant's jobs, attempts and chart
//   /job/ID           a job's attempts and its log, followed live; /job/ID/log?offset=N (JSON)
//   /metrics          Prometheus text
// Any page with ?part=main returns only its <main>, which the page's script swaps in.
#pragma once

#include <functional>
#include <map>
#include <vector>

#include "daemon/notify/dispatcher.h"
#include "daemon/server/http.h"
#include "daemon/service/service.h"

namespace tvd::server {

class Dashboard {
 public:
  explicit Dashboard(service::Service& service) : service_(service) {}
  HttpResponse operator()(const HttpRequest& request);
  // Where /metrics reads the notification receivers' deliveries.
  void set_notifications(const notify::Dispatcher* d) { notifications_ = d; }

 private:
  service::Service& service_;
  const notify::Dispatcher* notifications_ = nullptr;
  std::map<int64_t, service::Service::BatchBuilds> finished_batches_;  // the nights page's reads
};

}  // namespace tvd::server
