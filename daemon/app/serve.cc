#include "daemon/app/serve.h"

#include <fcntl.h>
#include <sys/file.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstring>
#include <functional>

#include "daemon/app/builder_probe.h"
#include "daemon/app/host_checks.h"
#include "daemon/base/log.h"
#include "daemon/exec/child_env.h"
#include "daemon/exec/host.h"
#include "daemon/exec/process_runner.h"
#include "daemon/exec/supervisor.h"
#include "daemon/flox/git_lane.h"
#include "daemon/notify/dispatcher.h"
#include "daemon/server/dashboard.h"
#include "daemon/server/http_server.h"
#include "daemon/server/socket_server.h"
#include "daemon/service/clock.h"
#include "daemon/service/host_config.h"
#include "daemon/service/notify.h"
#include "daemon/service/service.h"

extern char** environ;

namespace tvd::app {

using namespace tvd::service;  // NOLINT: the composition root names every part

// The dashboard's address for links in notifications: the config's public_url, else where it
// listens (this host's name for an address that listens on every one); "" when it is off.
std::string dashboard_url(const Config::Http& h, unsigned short port) {
  if (!h.public_url.empty()) {
    return h.public_url.back() == '/' ? h.public_url : h.public_url + "/";
  }
  if (h.listen == "off" || port == 0) return "";
  std::string host = h.listen.substr(0, h.listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]") {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    host = name;
  }
  return "http://" + host + ":" + std::to_string(port) + "/";
}

// The composition root: the store, runner, lane, engine and service, then the socket and HTTP
// servers on top, in one io_context. What the service says goes through log:: (stderr,
// journald-friendly); `out` is for nothing yet.
int serve(const std::optional<std::filesystem::path>& config, [[maybe_unused]] std::ostream& out,
          std::ostream& err) {
  auto report = [&](const Error& e) {
    err << "tvd: error: " << e.message << '\n';
    if (!e.hint.empty()) err << "  hint: " << e.hint << '\n';
    return exit_code(e);
  };
  auto setup = load_setup(config);
  if (!setup) return report(setup.error());
  const auto child_env =
      exec::without_secrets(service::engine_config(setup->config, environ).child_env);
  std::vector<std::string> refusals;  // what a refusal to start tells the receivers
  // Refusing to start once the config is read: its notification receivers are told.
  auto refuse = [&](const Error& e) {
    if (!setup->config.notify.empty()) {
      if (refusals.empty()) refusals.push_back(e.message);
      const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      notify::deliver_now(setup->config.notify,
                          notify::refusal(setup->config.source, refusals, now), child_env,
                          setup->config.state_dir / "notify");
    }
    return report(e);
  };
  std::error_code ec;
  int problems = 0;
  for (const auto& p : check_host(setup->config)) {
    if (p.fatal) {
      log::error(p.message);
      refusals.push_back(p.message);
      ++problems;
    } else {
      log::warning(p.message);
    }
  }
  // Nix must take the builders setting from this user for remote builds to go anywhere.
  if (auto trust =
          check_nix_trust(*setup, service::engine_config(setup->config, environ).child_env))
    log::warning(trust->message);
  if (problems > 0) {
    return refuse(
        {ErrorKind::kBadInput,
         std::to_string(problems) + " problem(s) with " + setup->config.source + "; not starting",
         "tvd check-config lists them; fix each and start again"});
  }
  // One daemon per state directory: a second one's recovery would take the first one's running
  // builds for a crash's leftovers and kill them. The lock dies with the process.
  std::filesystem::create_directories(setup->config.state_dir, ec);
  const auto lock_path = setup->config.state_dir / "tvd.lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    return refuse({ErrorKind::kConflict,
                   lock < 0 ? "cannot open " + lock_path.string() + ": " + std::strerror(errno)
                            : "another tvd is running on " + setup->config.state_dir.string(),
                   lock < 0 ? "check that state_dir is writable by tvd"
                            : "stop it first (systemctl stop tvd), or give this one another "
                              "state_dir"});
  }
  // One daemon per flox environment too: two would collide on builds and on git. The lock is
  // on each checkout's directory itself, so nothing appears in it for git to see; the
  // descriptors stay open (and the locks held) for the daemon's life.
  for (const auto& e : setup->environments) {
    const auto& env_dir = e.environment().checkout;
    const int env_lock = ::open(env_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (env_lock >= 0 && ::flock(env_lock, LOCK_EX | LOCK_NB) != 0) {
      return refuse({ErrorKind::kConflict,
                     "another tvd is serving the flox environment " + env_dir.string(),
                     "two daemons on one checkout collide on builds and commits: stop the "
                     "other one, or give this one another flox_env"});
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  // Descriptors: as many as the hard limit allows; the socket keeps its connections well below.
  const uint64_t descriptors = exec::raise_descriptor_limit();
  boost::asio::io_context io;
  const auto socket = setup->config.socket;
  const auto group = setup->config.socket_group;
  Parts parts;
  // Builds run under tvd-run, so that they outlive a restart of tvd (exec/supervisor.h).
  // (check_host warned above when there is none.)
  parts.runner = exec::make_process_runner(io, {.supervisor = exec::find_supervisor()});
  parts.clock = make_asio_clock(io);
  parts.make_lane = [&io](exec::Runner& runner, const EngineConfig& c, const Environment& e) {
    return std::make_unique<flox::GitLane>(io, runner, lane_config(c, e));
  };
  auto service = Service::start(std::move(*setup), std::move(parts), environ);
  if (!service) return refuse(service.error());
  auto server = server::SocketServer::listen(io, socket, group, **service,
                                             server::socket_limits(descriptors));
  if (!server) return refuse(server.error());
  log::info("listening on " + socket.string());
  std::unique_ptr<server::HttpServer> http;
  auto dashboard = std::make_shared<server::Dashboard>(**service);
  if (const auto& h = (*service)->setup().config.http; h.listen != "off") {
    server::HttpLimits limits;
    limits.request_timeout = h.request_timeout;
    auto listening = server::HttpServer::listen(
        io, h.listen, limits,
        [dashboard](const server::HttpRequest& r) { return (*dashboard)(r); });
    if (!listening) return refuse(listening.error());
    http = std::move(*listening);
    auto colon = h.listen.rfind(':');
    log::info("dashboard and /metrics on http://" + h.listen.substr(0, colon) + ":" +
              std::to_string(http->port()) + "/");
  }
  // Notifications and the journal's job lines, from the store's events, on a runner of their own.
  auto notify_runner = exec::make_process_runner(io);
  notify::Dispatcher notifications(
      io, **service, *notify_runner, child_env, (*service)->setup().config.state_dir / "notify",
      dashboard_url((*service)->setup().config.http, http ? http->port() : 0));
  notifications.configure((*service)->setup().config.notify);
  dashboard->set_notifications(&notifications);
  Notifier notifier;
  notifier.send("READY=1\nSTATUS=" + (*service)->summary());
  (*service)->on_change([&] {
    notifier.send("STATUS=" + (*service)->summary());
    notifications.poke();
  });
  boost::asio::steady_timer watchdog(io);
  std::function<void()> pet = [&] {
    notifier.send("WATCHDOG=1");
    watchdog.expires_after(*notifier.watchdog_interval());
    watchdog.async_wait([&](boost::system::error_code e) {
      if (!e) pet();
    });
  };
  if (notifier.watchdog_interval()) pet();

  // The store's file, watched: one deleted under tvd is written back at once.
  boost::asio::steady_timer store_watch(io);
  std::function<void()> watch_store = [&] {
    store_watch.expires_after(std::chrono::seconds(2));
    store_watch.async_wait([&](boost::system::error_code e) {
      if (e) return;
      (*service)->check_store();
      watch_store();
    });
  };
  watch_store();

  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code e, int sig) {
    if (e) return;
    log::info(std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") +
              ": stopping; builds run on and the next start takes them back");
    notifier.send("STOPPING=1");
    notifications.stop();
    watchdog.cancel();
    store_watch.cancel();
    (*server)->stop();
    if (http) http->stop();
    (*service)->shutdown();
    io.stop();
  });
  boost::asio::signal_set hangup(io, SIGHUP);
  std::function<void()> on_hangup = [&] {
    hangup.async_wait([&](boost::system::error_code e, int) {
      if (e) return;
      notifier.send("RELOADING=1");
      // The host as the new config describes it, checked as at start (a flox that does not
      // exist, a socket group that is gone): refused, the old config stays.
      std::string refused;
      if (auto next = load_config(config)) {
        for (const auto& p : check_host(*next)) {
          if (p.fatal) refused += (refused.empty() ? "" : "; ") + p.message;
        }
      }
      if (!refused.empty()) {
        log::error("SIGHUP: the new config is refused, the old one stays: " + refused);
      } else if (auto st = (*service)->reload(config); !st) {
        log::error("SIGHUP: the new config is refused, the old one stays: " + st.error().message);
      } else {
        log::info("SIGHUP: config, matrix and templates reloaded");
        notifications.configure((*service)->setup().config.notify);
      }
      notifier.send("READY=1\nSTATUS=" + (*service)->summary());
      on_hangup();
    });
  };
  on_hangup();
  io.run();
  std::filesystem::remove(socket, ec);
  return 0;
}

}  // namespace tvd::app
