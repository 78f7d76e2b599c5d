#include "daemon/service/recorder.h"

#include "daemon/base/log.h"
#include "daemon/base/units.h"
#include "daemon/service/engine.h"

namespace tvd::service {

namespace {

bool ended(const store::JobRow& j) {
  return is_terminal(j.state);
}

std::string clock_time(TimePoint t) {
  return format_utc(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

}  // namespace

Recorder::Recorder(store::Store& store, Clock& clock) : store_(store), clock_(clock) {}

Status Recorder::write(const Change& c) {
  return store_.atomically([&]() -> Status {
    if (c.variant) TRY(store_.add_variant(*c.variant, c.job.enqueued_at));
    TRY(store_.save_job(c.job, c.attempts));
    for (const auto& e : c.events)
      TRY(store_.add_event(e));
    TRY(store_.add_attempt_counts(c.counts));
    if (c.learned) TRY(store_.save_learned({*c.learned}));
    if (c.job.batch_id && ended(c.job)) {
      TRY(store_.finish_batch_if_done(*c.job.batch_id, c.job.finished_at.value_or(0)));
    }
    return {};
  });
}

bool Recorder::record(Change c) {
  if (in_command_) {
    if (command_error_) return false;
    if (auto st = write(c); !st) {
      command_error_ = st.error();
      return false;
    }
    return true;
  }
  // Nothing is written ahead of what waits: the store would say a later state before an earlier.
  if (waiting_.empty()) {
    auto st = write(c);
    if (st) return true;
    if (st.error().kind == ErrorKind::kInternal) {
      // Never writable, whatever the disk does: waiting would hold every other job back.
      ++failures_;
      log::error("cannot record job " + std::to_string(c.job.id) + ": " + st.error().message +
                 " (" + st.error().hint + ")");
      return false;
    }
    keep(std::move(c), st.error());
    return false;
  }
  // Behind what waits: queued, not a write that failed, and not tried now (catch-up's timer
  // does that once a second), so that a busy store costs the daemon's thread nothing per change.
  keep(std::move(c),
       trouble_ ? Error{ErrorKind::kIo, trouble_->error, ""}
                : Error{ErrorKind::kIo, "earlier changes wait", ""},
       /*failed=*/false);
  return false;
}

void Recorder::keep(Change c, const Error& why, bool failed) {
  if (failed) ++failures_;
  // The newest state, with everything the waiting changes add (events, counts) kept.
  auto [it, fresh] = waiting_.try_emplace(c.job.id, Change{});
  auto events = std::move(it->second.events);
  for (auto& e : c.events)
    events.push_back(std::move(e));
  auto counts = std::move(it->second.counts);
  for (auto& n : c.counts)
    counts.push_back(std::move(n));
  auto learned = c.learned ? std::move(c.learned) : std::move(it->second.learned);
  auto variant = c.variant ? std::move(c.variant) : std::move(it->second.variant);
  it->second = std::move(c);
  it->second.variant = std::move(variant);
  it->second.events = std::move(events);
  it->second.counts = std::move(counts);
  it->second.learned = std::move(learned);
  const auto now = clock_.now();
  if (!trouble_) {
    trouble_ = Trouble{now, why.message, 0};
    last_told_ = now;
    log::error("cannot write the store: " + why.message +
               (why.hint.empty() ? "" : " (" + why.hint + ")") +
               "; the change waits and is written when the store takes it; no build or "
               "publish starts meanwhile");
  } else if (now - last_told_ >= std::chrono::minutes(1)) {
    last_told_ = now;
    log::error("still cannot write the store since " + clock_time(trouble_->since) + ": " +
               why.message + "; changes of " + std::to_string(waiting_.size()) + " job(s) wait");
  }
  trouble_->error = why.message;
  trouble_->waiting = waiting_.size();
  arm();
}

void Recorder::arm() {
  if (armed_) return;
  armed_ = true;
  clock_.call_at(clock_.now() + std::chrono::seconds(1), [this] {
    armed_ = false;
    if (!catch_up()) arm();
  });
}

bool Recorder::catch_up() {
  if (waiting_.empty()) return true;
  size_t written = 0;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (auto st = write(it->second); !st) {
      ++failures_;
      trouble_->error = st.error().message;
      trouble_->waiting = waiting_.size();
      arm();
      return false;
    }
    it = waiting_.erase(it);
    ++written;
  }
  const auto since = trouble_ ? trouble_->since : clock_.now();
  trouble_.reset();
  log::info("the store is written again: " + std::to_string(written) +
            " job change(s) that waited since " + clock_time(since) + " are recorded");
  return true;
}

bool Recorder::flush(std::chrono::milliseconds patience) {
  if (waiting_.empty()) return true;
  store_.set_busy_timeout(patience);
  const bool done = catch_up();
  store_.set_busy_timeout(kBusyWait);
  if (!done) {
    log::error("stopping with changes of " + std::to_string(waiting_.size()) +
               " job(s) not recorded (" + (trouble_ ? trouble_->error : std::string{}) +
               "): the next start recovers them from what the store has");
  }
  return done;
}

Status Recorder::command(const std::function<Status()>& body) {
  if (!catch_up()) {
    return fail(ErrorKind::kIo,
                "the store cannot be written now (" + trouble_->error + "); nothing was done",
                "tvctl status says since when; try again once it is writable");
  }
  in_command_ = true;
  command_error_.reset();
  std::optional<Error> refused;  // the command's own answer, not the store's
  auto st = store_.atomically([&]() -> Status {
    if (auto b = body(); !b) {
      if (!command_error_ && b.error().kind != ErrorKind::kIo) refused = b.error();
      return b;
    }
    if (command_error_) return tl::unexpected(*command_error_);
    return {};
  });
  in_command_ = false;
  command_error_.reset();
  if (refused) return tl::unexpected(*refused);
  if (!st) {
    ++failures_;
    return fail(ErrorKind::kIo,
                "the store cannot be written now (" + st.error().message + "); nothing was done",
                st.error().hint.empty() ? "try again once it is writable" : st.error().hint);
  }
  return {};
}

const Change* Recorder::waiting(int64_t id) const {
  auto it = waiting_.find(id);
  return it == waiting_.end() ? nullptr : &it->second;
}

std::optional<Recorder::Trouble> Recorder::trouble() const {
  return trouble_;
}

}  // namespace tvd::service
