#include "daemon/notify/dispatcher.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <fstream>
#include <set>

#include "daemon/base/log.h"
#include "daemon/exec/process_runner.h"
#include "daemon/notify/webhook.h"
#include "daemon/service/service.h"

namespace tvd::notify {

namespace asio = boost::asio;

namespace {

constexpr int kEventsPerRead = 64;
const char* const kJournal = "(journal)";  // the journal's own cursor

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A file name from a receiver's name.
std::string safe(const std::string& name) {
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return out.substr(0, 64);
}

// What went wrong with a command, in one line.
std::string describe(const exec::RunResult& r, std::chrono::seconds timeout) {
  std::string last = r.tail;
  while (!last.empty() && last.back() == '\n')
    last.pop_back();
  if (auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
  std::string what;
  switch (r.ending) {
    case exec::Ending::kExited:
      what = "exit " + std::to_string(r.exit_code);
      break;
    case exec::Ending::kTimedOut:
      what = "no answer in " + std::to_string(timeout.count()) + " s";
      break;
    case exec::Ending::kFailedToStart:
      return "cannot start: " + r.error;
    default:
      what = std::string("ended: ") + exec::to_string(r.ending);
  }
  return last.empty() ? what : what + ": " + last;
}

// One delivery of `body` to `receiver`: `done("")` when it took it.
void send(asio::io_context& io, exec::Runner& runner, const Config::Notify& receiver,
          const std::string& kind, const std::string& body,
          const std::map<std::string, std::string>& child_env, const std::filesystem::path& spool,
          uint64_t seq, std::function<void(const std::string&)> done) {
  if (!receiver.webhook.empty()) {
    post_json(io, receiver.webhook, body, receiver.timeout, std::move(done));
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(spool, ec);
  const auto input = spool / (safe(receiver.name) + "." + std::to_string(seq) + ".json");
  {
    std::ofstream out(input, std::ios::binary | std::ios::trunc);
    out << body << '\n';
    if (!out) {
      asio::post(io, [done, input] { done("cannot write " + input.string()); });
      return;
    }
  }
  exec::RunSpec spec;
  spec.argv = receiver.command;
  spec.cwd = spool;
  spec.env = child_env;
  spec.env["TVD_NOTIFICATION"] = kind;
  spec.log = spool / (safe(receiver.name) + ".log");
  spec.log_limit = 1 << 20;
  spec.sync_log = false;
  spec.stdin_file = input;
  spec.wall_timeout = receiver.timeout;
  spec.sample_every = std::chrono::hours(1);
  const auto timeout = receiver.timeout;
  runner.start(std::move(spec), [done = std::move(done), input, timeout](const exec::RunResult& r) {
    std::error_code ignored;
    std::filesystem::remove(input, ignored);
    done(r.succeeded() ? "" : describe(r, timeout));
  });
}

}  // namespace

struct Dispatcher::Impl : std::enable_shared_from_this<Dispatcher::Impl> {
  struct Receiver {
    Config::Notify config;
    std::set<proto::NotificationKind> kinds;  // empty: every kind
    int64_t cursor = 0;                       // delivered (or given up on) through this event
    int64_t read_to = 0;                      // read from the store through this event
    std::deque<Notification> pending;
    bool busy = false;  // a delivery runs, or waits to be tried again
    int tries = 0;
    std::unique_ptr<asio::steady_timer> again;
    ReceiverStats stats;
    bool removed = false;
  };

  asio::io_context& io;
  service::Service& service;
  exec::Runner& runner;
  std::map<std::string, std::string> child_env;
  std::filesystem::path spool;
  std::string base_url;
  std::map<std::string, std::shared_ptr<Receiver>> receivers;
  int64_t journal_cursor = -1;  // -1: not read yet
  asio::steady_timer tick;
  bool stopped = false;
  uint64_t seq = 0;

  Impl(asio::io_context& context, service::Service& s, exec::Runner& r,
       std::map<std::string, std::string> env, std::filesystem::path spool_dir, std::string url)
      : io(context),
        service(s),
        runner(r),
        child_env(std::move(env)),
        spool(std::move(spool_dir)),
        base_url(std::move(url)),
        tick(context) {}

  store::Store& store() { return service.store(); }

  // Where a receiver starts: its saved cursor, else (new) the newest event.
  int64_t start_cursor(const std::string& name) {
    auto saved = store().notify_cursor(name);
    if (saved && *saved) return **saved;
    auto last = store().last_event_id();
    const int64_t at = last ? *last : 0;
    if (saved) (void)store().set_notify_cursor(name, at, now_s());
    return at;
  }

  void save(Receiver& r) {
    r.stats.cursor = r.cursor;
    if (auto st = store().set_notify_cursor(r.config.name, r.cursor, now_s()); !st) {
      log::warning("notify " + r.config.name + ": cannot save its cursor: " + st.error().message +
                   " (a restart may deliver again what it took since)");
    }
  }

  // Every job event, once, as a journal line (after the store took it).
  void journal() {
    if (journal_cursor < 0) journal_cursor = start_cursor(kJournal);
    for (int round = 0; round < 16; ++round) {
      auto events = store().events_after(journal_cursor, kEventsPerRead);
      if (!events || events->empty()) return;
      for (const auto& e : *events) {
        log::job_event({e.job_id, e.variant.text(),
                        std::string(proto::kEventKinds.name(e.change.kind)),
                        std::string(proto::kJobStates.name(e.change.to)),
                        std::string(proto::kJobPhases.name(e.change.phase)),
                        e.change.failure == proto::Failure::kNone
                            ? std::string()
                            : std::string(proto::kFailures.name(e.change.failure)),
                        e.change.reason});
        journal_cursor = e.id;
      }
      (void)store().set_notify_cursor(kJournal, journal_cursor, now_s());
    }
  }

  // Reads what follows the receiver's cursor into its queue (a bounded number of events).
  void fill(Receiver& r) {
    for (int round = 0; round < 16 && r.pending.empty(); ++round) {
      auto events = store().events_after(r.read_to, kEventsPerRead);
      if (!events) {
        r.stats.last_error = "cannot read the store's events: " + events.error().message;
        return;
      }
      if (events->empty()) return;
      for (const auto& e : *events) {
        auto ns = notifications_of(e, service, base_url);
        if (!ns) {
          log::warning("notify: cannot tell what event " + std::to_string(e.id) +
                       " means: " + ns.error().message);
        } else {
          for (auto& n : *ns)
            if (r.kinds.empty() || r.kinds.count(n.kind)) r.pending.push_back(std::move(n));
        }
        r.read_to = e.id;
      }
      if (r.pending.empty()) {  // nothing for this receiver in what was read
        r.cursor = r.read_to;
        save(r);
      }
    }
    r.stats.pending = r.pending.size();
  }

  void pump(const std::shared_ptr<Receiver>& r) {
    if (stopped || r->removed || r->busy) return;
    if (r->pending.empty()) fill(*r);
    if (r->pending.empty()) return;
    r->busy = true;
    const Notification& n = r->pending.front();
    const std::string kind(proto::kNotificationKinds.name(n.kind));
    auto self = shared_from_this();
    send(io, runner, r->config, kind, n.body.dump(), child_env, spool, ++seq,
         [self, r](const std::string& error) { self->delivered(r, error); });
  }

  void delivered(const std::shared_ptr<Receiver>& r, const std::string& error) {
    if (r->removed || r->pending.empty()) return;
    const Notification& n = r->pending.front();
    const std::string what =
        std::string(proto::kNotificationKinds.name(n.kind)) +
        (n.body.contains("job") ? " of job " + n.body["job"].dump() : std::string());
    if (!error.empty()) {
      r->stats.last_error = error;
      if (r->tries < r->config.retries && !stopped) {
        ++r->tries;
        ++r->stats.retries;
        // 2 s, 10 s, 50 s, then a minute between tries.
        auto pause = std::chrono::seconds(2);
        for (int i = 1; i < r->tries && pause < std::chrono::seconds(60); ++i)
          pause *= 5;
        pause = std::min(pause, std::chrono::seconds(60));
        log::warning("notify " + r->config.name + ": " + what + " not delivered (" + error +
                     "); trying again in " + std::to_string(pause.count()) + " s");
        r->again = std::make_unique<asio::steady_timer>(io, pause);
        auto self = shared_from_this();
        r->again->async_wait([self, r](boost::system::error_code e) {
          if (e) return;
          r->busy = false;
          self->pump(r);
        });
        return;
      }
      ++r->stats.failed;
      log::error("notify " + r->config.name + ": gave up on " + what + " after " +
                 std::to_string(r->tries + 1) + " tries: " + error);
    } else {
      ++r->stats.delivered;
    }
    r->tries = 0;
    const int64_t event = n.event_id;
    r->pending.pop_front();
    // The cursor moves past an event once all of its notifications are done.
    if (r->pending.empty()) {
      r->cursor = r->read_to;
    } else if (r->pending.front().event_id != event) {
      r->cursor = r->pending.front().event_id - 1;
    }
    r->cursor = std::max(r->cursor, int64_t{0});
    save(*r);
    r->stats.pending = r->pending.size();
    r->busy = false;
    auto self = shared_from_this();
    asio::post(io, [self, r] { self->pump(r); });
  }

  void poke() {
    if (stopped) return;
    journal();
    for (auto& [name, r] : receivers)
      pump(r);
  }

  void every_few_seconds() {
    tick.expires_after(std::chrono::seconds(15));
    auto self = shared_from_this();
    tick.async_wait([self](boost::system::error_code e) {
      if (e || self->stopped) return;
      self->poke();
      self->every_few_seconds();
    });
  }
};

Dispatcher::Dispatcher(asio::io_context& io, service::Service& service, exec::Runner& runner,
                       std::map<std::string, std::string> child_env,
                       std::filesystem::path spool_dir, std::string base_url)
    : impl_(std::make_shared<Impl>(io, service, runner, std::move(child_env), std::move(spool_dir),
                                   std::move(base_url))) {
  impl_->every_few_seconds();
}

Dispatcher::~Dispatcher() {
  stop();
}

void Dispatcher::configure(const std::vector<Config::Notify>& receivers) {
  std::map<std::string, std::shared_ptr<Impl::Receiver>> next;
  for (const auto& c : receivers) {
    auto it = impl_->receivers.find(c.name);
    auto r = it != impl_->receivers.end() ? it->second : std::make_shared<Impl::Receiver>();
    if (it == impl_->receivers.end()) {
      r->cursor = r->read_to = impl_->start_cursor(c.name);
      r->stats.name = c.name;
      r->stats.cursor = r->cursor;
    }
    r->config = c;
    r->kinds.clear();
    for (const auto& k : c.events)
      if (auto kind = proto::kNotificationKinds.parse(k)) r->kinds.insert(*kind);
    next[c.name] = r;
  }
  for (auto& [name, r] : impl_->receivers)
    if (!next.count(name)) r->removed = true;
  impl_->receivers = std::move(next);
  poke();
}

void Dispatcher::poke() {
  impl_->poke();
}

void Dispatcher::stop() {
  impl_->stopped = true;
  impl_->tick.cancel();
  for (auto& [name, r] : impl_->receivers)
    if (r->again) r->again->cancel();
}

std::vector<ReceiverStats> Dispatcher::stats() const {
  std::vector<ReceiverStats> out;
  for (const auto& [name, r] : impl_->receivers)
    out.push_back(r->stats);
  return out;
}

void deliver_now(const std::vector<Config::Notify>& receivers, const Notification& n,
                 const std::map<std::string, std::string>& child_env,
                 const std::filesystem::path& spool_dir) {
  asio::io_context io;
  auto runner = exec::make_process_runner(io);
  const std::string kind(proto::kNotificationKinds.name(n.kind));
  uint64_t seq = 0;
  for (const auto& r : receivers) {
    if (!r.events.empty() && std::find(r.events.begin(), r.events.end(), kind) == r.events.end())
      continue;
    send(io, *runner, r, kind, n.body.dump(), child_env, spool_dir, ++seq,
         [name = r.name, kind](const std::string& error) {
           if (!error.empty())
             log::error("notify " + name + ": " + kind + " not delivered: " + error);
         });
  }
  io.run();
}

}  // namespace tvd::notify
