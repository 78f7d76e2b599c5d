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

#include "daemon/server/http.h"

namespace tvd::service {
class Service;
}

namespace tvd::server {

HttpResponse dashboard(const HttpRequest& request, service::Service& service);

}  // namespace tvd::server
