// tvctl's parts, shared by its command table (tvctl.cc), its commands (commands.cc) and what they
// print and how they call the daemon (session.cc).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/base/result.h"
#include "proto/requests.h"
#include "proto/views.h"

namespace tvd::client {

struct Global {
  std::string socket;
  std::string config;
  bool json = false;
  bool color = false;
  int timeout = 30;  // seconds to connect and for each reply; 0: none
};

// What the command line gave; each command reads the options it declared.
struct Options {
  std::vector<std::string> specs;
  bool all = false, force = false, no_publish = false, dry_run = false, follow = false;
  bool wait = false;    // enqueue: until every job has ended
  bool failed = false;  // retry: every failed variant
  bool full = false;    // logs: from the first line
  int attempt = 0;      // logs: that attempt (0: the latest)
  int priority = 0;
  std::string batch;
  double watch_interval = 2;
  int watch_count = 0;
  int64_t job = 0, batch_id = 0;
  std::vector<int64_t> jobs;
};

// One request; prints the error reply, returns nullopt and sets `code` on failure.
std::optional<nlohmann::json> call(const Global& g, std::string_view op, const nlohmann::json& args,
                                   std::ostream& err, int& code);
// One request as its type (proto/requests.h): its op and its args from its one field list.
template <class Request>
std::optional<nlohmann::json> call(const Global& g, const Request& r, std::ostream& err,
                                   int& code) {
  return call(g, Request::kOp, proto::to_args(r), err, code);
}
Result<std::string> socket_path(const Global& g);
int fail_with(const Error& e, std::ostream& err, int code);
// Control characters from the daemon's text shown as \xNN, never sent to the terminal.
std::string printable(std::string_view text);

// The payload of a reply as its view; a payload this tvctl cannot read is said, and sets `code`.
template <class View>
std::optional<View> view_of(const nlohmann::json& payload, std::ostream& err, int& code) {
  auto v = proto::read_view<View>(payload);
  if (!v) {
    code = fail_with(v.error(), err, 1);
    return std::nullopt;
  }
  return std::move(*v);
}

std::string ago(int64_t then);
void print_jobs(const Global& g, const std::vector<proto::JobView>& jobs,
                const std::map<std::string, std::string>& waiting, std::ostream& out);
void print_status(const Global& g, const proto::StatusView& r, std::ostream& out);

// The commands (commands.cc); `name` tells apart two commands that share one.
int run_enqueue(const std::string& name, Global& g, const Options& o, std::ostream& out,
                std::ostream& err, bool terminal);
int run_pause(const std::string& name, Global& g, const Options& o, std::ostream& out,
              std::ostream& err, bool terminal);
int run_watch(const std::string& name, Global& g, const Options& o, std::ostream& out,
              std::ostream& err, bool terminal);
int run_status(const std::string& name, Global& g, const Options& o, std::ostream& out,
               std::ostream& err, bool terminal);
int run_show(const std::string& name, Global& g, const Options& o, std::ostream& out,
             std::ostream& err, bool terminal);
int run_recipes(const std::string& name, Global& g, const Options& o, std::ostream& out,
                std::ostream& err, bool terminal);
int run_batches(const std::string& name, Global& g, const Options& o, std::ostream& out,
                std::ostream& err, bool terminal);
int run_logs(const std::string& name, Global& g, const Options& o, std::ostream& out,
             std::ostream& err, bool terminal);
int run_cancel_or_retry(const std::string& name, Global& g, const Options& o, std::ostream& out,
                        std::ostream& err, bool terminal);

}  // namespace tvd::client
