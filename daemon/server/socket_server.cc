#include "daemon/server/socket_server.h"

#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "daemon/base/log.h"
#include "daemon/server/handler.h"
#include "proto/protocol.h"

namespace tvd::server {
namespace {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

// Whether the peer's credentials, as the kernel passed them at connect, include `group`.
bool in_group(int fd, gid_t primary, gid_t group) {
  if (primary == group) return true;
  std::vector<gid_t> groups(64);
  socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) < 0) {
    if (errno != ERANGE) return false;
    groups.resize(len / sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) < 0) return false;
  }
  groups.resize(len / sizeof(gid_t));
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

class Connection;

// The bounds of OutputBudget below.
constexpr size_t kBudgetPerUser = 32u << 20;
constexpr size_t kBudgetReadOnly = 64u << 20;

// The replies waiting for their clients, in bytes, per user and in all: the daemon's memory for
// its clients is bounded in aggregate, not only per connection. A connection answers its next
// request only while its user is under `per_user` and, for a user who may only read, while all
// such users together are under `read_only`; otherwise it waits (and reads nothing more) until
// replies are taken. A user who may change things is held by its own bound only, so that no
// reader can make `tvctl status` of root wait.
class OutputBudget {
 public:
  OutputBudget(size_t per_user, size_t read_only) : per_user_(per_user), read_only_(read_only) {}
  bool allows(const Peer& p) const {
    auto it = by_user_.find(p.uid);
    const size_t mine = it == by_user_.end() ? 0 : it->second;
    return mine < per_user_ && (p.may_change || read_only_total_ < read_only_);
  }
  void add(const Peer& p, size_t n) {
    by_user_[p.uid] += n;
    if (!p.may_change) read_only_total_ += n;
    peak_ = std::max(peak_, total() + n);
  }
  // Bytes taken (or dropped with their connection): waiting connections try again.
  void remove(const Peer& p, size_t n);
  void wait(std::weak_ptr<Connection> c) { waiting_.push_back(std::move(c)); }

 private:
  size_t total() const {
    size_t t = 0;
    for (const auto& [uid, n] : by_user_)
      t += n;
    return t;
  }
  size_t per_user_, read_only_;
  std::map<uid_t, size_t> by_user_;
  size_t read_only_total_ = 0;
  size_t peak_ = 0;  // since the memory was last given back
  std::vector<std::weak_ptr<Connection>> waiting_;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `live` is shared with the server: a connection that outlives the server (its handlers
  // still queued at shutdown) leaves a set that still exists.
  Connection(local::socket socket, Peer peer, service::Service& service,
             std::shared_ptr<std::set<Connection*>> live, std::shared_ptr<OutputBudget> budget)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        stall_(socket_.get_executor()),
        peer_(peer),
        service_(service),
        live_(std::move(live)),
        budget_(std::move(budget)) {
    live_->insert(this);
  }
  ~Connection() {
    live_->erase(this);
    if (queued_) budget_->remove(peer_, queued_);
  }
  void start() { read(); }
  // The budget has room again: answer what waits, then read on (posted: the budget is told from
  // inside another connection's write or end).
  void wake() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->waiting_ = false;
      self->answer();
    });
  }
  const Peer& peer() const { return peer_; }
  // Nothing being answered or followed: closing it loses no reply.
  bool idle() const { return out_.empty() && lines_.empty() && !following_ && socket_.is_open(); }
  std::chrono::steady_clock::time_point last_active() const { return last_active_; }
  void close() {
    boost::system::error_code ec;
    timer_.cancel();
    stall_.cancel();
    socket_.close(ec);
  }

 private:
  void read() {
    if (reading_ || closing_ || !socket_.is_open()) return;
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(buf_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
          self->reading_ = false;
          if (ec) return;
          self->last_active_ = std::chrono::steady_clock::now();
          for (auto& line : self->framer_.feed(std::string_view(self->buf_, n))) {
            if (!line.empty()) self->lines_.push_back(std::move(line));
          }
          self->answer();
        });
  }

  // One request at a time: the next is answered once the client has taken the last reply, and
  // while the budget allows; what is not answered yet waits here, and nothing more is read (the
  // kernel's socket buffer then holds the client back).
  void answer() {
    while (!lines_.empty() && socket_.is_open()) {
      if (!out_.empty()) return;  // answered when the client takes it (write())
      if (!budget_->allows(peer_)) {
        if (!waiting_) budget_->wait(weak_from_this());
        waiting_ = true;
        return;
      }
      auto req = proto::decode_request(lines_.front());
      lines_.pop_front();
      proto::Reply reply;
      if (!req) {
        reply = proto::Reply::failure(0, req.error().code, req.error().message, req.error().hint);
      } else if (is_follow(*req)) {
        follow(*req);
        continue;
      } else {
        reply = handle(*req, service_, peer_);
      }
      send(proto::encode(reply));
    }
    if (!lines_.empty() || !socket_.is_open()) return;
    if (framer_.overflowed()) {
      send(proto::encode(proto::Reply::failure(0, proto::Code::kTooLarge,
                                               "a request line is longer than 1 MiB", "")));
      closing_ = true;
      return;
    }
    read();
  }

  // `logs` with follow: each step's reply is written before the next step is read, so a client
  // that reads slowly is followed slowly, and one that stops reading holds one reply at most.
  // At the log's end, the next step waits for the job's log to grow or the job to change
  // (Service::wake_on_log), or for `wait` at most, whichever comes first.
  void follow(const proto::Request& req) {
    auto step = server::follow(req, service_, peer_);
    auto next = std::move(step.next);
    const auto wait = step.wait;
    const auto at = step.at;
    following_ = next.has_value();
    send(proto::encode(step.reply), [self = shared_from_this(), next, wait, at] {
      if (!next || !self->socket_.is_open()) return;
      const uint64_t step_no = ++self->follow_step_;
      auto go = [weak = std::weak_ptr<Connection>(self), next, step_no] {
        auto s = weak.lock();
        if (!s || s->follow_step_ != step_no || !s->socket_.is_open()) return;
        ++s->follow_step_;  // whichever of the wake and the timer comes second does nothing
        s->timer_.cancel();
        if (s->ticket_) s->service_.forget_log_wait(std::exchange(s->ticket_, 0));
        s->follow(*next);
      };
      if (wait.count() > 0) {
        // Posted: the wake comes from inside the engine's change or the runner's read.
        const auto ex = self->socket_.get_executor();
        auto ticket =
            self->service_.wake_on_log(at, [ex, go, weak = std::weak_ptr<Connection>(self)] {
              if (auto s = weak.lock()) s->ticket_ = 0;
              asio::post(ex, go);
            });
        if (!ticket) {  // it moved while this reply was being written
          asio::post(ex, go);
          return;
        }
        self->ticket_ = *ticket;
      }
      self->timer_.expires_after(wait);
      self->timer_.async_wait([go](boost::system::error_code ec) {
        if (!ec) go();
      });
    });
  }

  // Replies wait here for the client to take them. A client that lets more than kMaxQueued
  // bytes pile up, or takes nothing for kWriteStall, is cut off: the daemon's memory does not
  // depend on how its clients read.
  static constexpr size_t kMaxQueued = 16u << 20;
  static constexpr std::chrono::seconds kWriteStall{120};

  void send(std::string text, std::function<void()> written = {}) {
    if (!socket_.is_open()) return;
    if (queued_ + text.size() > kMaxQueued) {
      log::warning("cutting off a socket client (pid " + std::to_string(peer_.pid) +
                   ") that does not read its replies: " + std::to_string(queued_) +
                   " bytes waiting");
      close();
      return;
    }
    queued_ += text.size();
    budget_->add(peer_, text.size());
    out_.push_back({std::move(text), std::move(written)});
    if (out_.size() == 1) write();
  }

  void write() {
    stall_.expires_after(kWriteStall);
    stall_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;  // the write completed (or the connection closed)
      log::warning("cutting off a socket client (pid " + std::to_string(self->peer_.pid) +
                   ") that took nothing for " + std::to_string(kWriteStall.count()) + " s");
      self->close();
    });
    asio::async_write(socket_, asio::buffer(out_.front().text),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        self->stall_.cancel();
                        if (ec) return;
                        self->last_active_ = std::chrono::steady_clock::now();
                        auto written = std::move(self->out_.front().written);
                        const size_t n = self->out_.front().text.size();
                        self->queued_ -= n;
                        self->out_.pop_front();
                        self->budget_->remove(self->peer_, n);
                        if (written) written();
                        if (!self->out_.empty()) {
                          self->write();
                        } else if (self->closing_) {
                          self->close();
                        } else {
                          self->answer();
                        }
                      });
  }

  struct Outgoing {
    std::string text;
    std::function<void()> written;  // once the client has taken it
  };
  local::socket socket_;
  asio::steady_timer timer_;  // the next step of a follow
  asio::steady_timer stall_;  // a write that the client does not take
  Peer peer_;
  service::Service& service_;
  std::shared_ptr<std::set<Connection*>> live_;
  std::shared_ptr<OutputBudget> budget_;
  proto::LineFramer framer_;
  std::deque<std::string> lines_;  // requests read and not yet answered
  bool reading_ = false;           // a read is under way
  bool waiting_ = false;           // for the budget
  std::deque<Outgoing> out_;
  size_t queued_ = 0;  // bytes in out_
  bool closing_ = false;
  bool following_ = false;    // a `logs -f` goes on
  uint64_t follow_step_ = 0;  // which wait of the follow is current
  uint64_t ticket_ = 0;       // its Service::wake_on_log, while it waits
  std::chrono::steady_clock::time_point last_active_ = std::chrono::steady_clock::now();
  char buf_[65536];
};

void OutputBudget::remove(const Peer& p, size_t n) {
  auto it = by_user_.find(p.uid);
  if (it != by_user_.end()) {
    it->second -= std::min(it->second, n);
    if (it->second == 0) by_user_.erase(it);
  }
  if (!p.may_change) read_only_total_ -= std::min(read_only_total_, n);
  // Replies of many MiB were freed: give the memory back to the system rather than keep the
  // peak for good (glibc keeps freed memory in its arenas).
  if (by_user_.empty() && peak_ > (8u << 20)) {
    peak_ = 0;
    ::malloc_trim(0);
  }
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& w : waiting) {
    if (auto c = w.lock()) c->wake();
  }
}

class Server final : public SocketServer {
 public:
  Server(asio::io_context& io, service::Service& service, std::optional<gid_t> group,
         SocketLimits limits)
      : acceptor_(io), retry_(io), service_(service), group_(group), limits_(limits) {}

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, local::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // stopped
        // Out of descriptors, say: once in the log, then again every 200 ms without a word, so
        // that connections ending meanwhile make room and nothing spins.
        accept_failing_ = true;
        accept_log_.warning("socket: accept: " + ec.message() + "; trying again every 200 ms");
        retry_.expires_after(std::chrono::milliseconds(200));
        retry_.async_wait([this](boost::system::error_code e) {
          if (!e) accept();
        });
        return;
      }
      if (accept_failing_) log::info("socket: accepting again");
      accept_failing_ = false;
      Peer peer;
      struct ucred cred {};
      socklen_t len = sizeof cred;
      const int fd = socket.native_handle();
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        peer.uid = cred.uid;
        peer.gid = cred.gid;
        peer.pid = cred.pid;
        peer.may_change =
            cred.uid == 0 || cred.uid == ::geteuid() || (group_ && in_group(fd, cred.gid, *group_));
      }
      if (make_room(peer)) {
        std::make_shared<Connection>(std::move(socket), peer, service_, live_, budget_)->start();
      } else {
        refuse(socket, peer);
      }
      accept();
    });
  }

  // Below both limits after closing the oldest idle connection where one is reached; false if
  // a limit is reached and nothing there is idle.
  bool make_room(const Peer& peer) {
    auto oldest_idle = [&](bool same_user) -> Connection* {
      Connection* pick = nullptr;
      for (auto* c : *live_) {
        if (!c->idle() || (same_user && c->peer().uid != peer.uid)) continue;
        if (!pick || c->last_active() < pick->last_active()) pick = c;
      }
      return pick;
    };
    const auto mine = static_cast<size_t>(std::count_if(
        live_->begin(), live_->end(), [&](Connection* c) { return c->peer().uid == peer.uid; }));
    const bool user_full = mine >= limits_.max_per_user;
    if (!user_full && live_->size() < limits_.max_connections) return true;
    Connection* victim = oldest_idle(user_full);
    if (!victim) return false;
    close_log_.warning(
        "socket: " +
        std::string(user_full ? "uid " + std::to_string(peer.uid) + " has " + std::to_string(mine)
                              : std::to_string(live_->size())) +
        " connections open, the most allowed; closed the oldest idle one (pid " +
        std::to_string(victim->peer().pid) + ") to let a new one in");
    victim->close();
    live_->erase(victim);  // closed: its handlers end it soon, and it no longer counts
    return true;
  }

  void refuse(local::socket& socket, const Peer& peer) {
    close_log_.warning("socket: refused a connection of uid " + std::to_string(peer.uid) + ": " +
                       std::to_string(live_->size()) + " connections open and none idle");
    const std::string line = proto::encode(proto::Reply::failure(
        0, proto::Code::kConflict, "too many connections to tvd are busy",
        "try again in a moment; 'tvd serve' allows " + std::to_string(limits_.max_connections) +
            " in all and " + std::to_string(limits_.max_per_user) + " per user"));
    (void)!::send(socket.native_handle(), line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    boost::system::error_code ec;
    socket.close(ec);
  }

  void stop() override {
    boost::system::error_code ec;
    acceptor_.close(ec);
    retry_.cancel();
    for (auto* c : std::set<Connection*>(*live_))
      c->close();
  }

  local::acceptor acceptor_;
  asio::steady_timer retry_;  // accept again after an error
  bool accept_failing_ = false;
  service::Service& service_;
  std::optional<gid_t> group_;
  SocketLimits limits_;
  std::shared_ptr<std::set<Connection*>> live_ = std::make_shared<std::set<Connection*>>();
  std::shared_ptr<OutputBudget> budget_ =
      std::make_shared<OutputBudget>(kBudgetPerUser, kBudgetReadOnly);
  log::Throttled accept_log_, close_log_;
};

}  // namespace

SocketLimits socket_limits(uint64_t descriptors) {
  SocketLimits l;
  l.max_connections = static_cast<size_t>(std::clamp<uint64_t>(descriptors / 4, 4, 1024));
  l.max_per_user = std::max<size_t>(2, l.max_connections / 4);
  return l;
}

Result<std::unique_ptr<SocketServer>> SocketServer::listen(asio::io_context& io,
                                                           const std::filesystem::path& path,
                                                           const std::string& group,
                                                           service::Service& service,
                                                           SocketLimits limits) {
  std::optional<gid_t> gid;
  if (struct group* gr = ::getgrnam(group.c_str())) gid = gr->gr_gid;
  auto server = std::make_unique<Server>(io, service, gid, limits);
  std::error_code fs_ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), fs_ec);
  if (std::filesystem::is_socket(path, fs_ec)) {
    // Someone listening there is another tvd; nobody listening is a crash's leftover.
    local::socket probe(io);
    boost::system::error_code ec;
    probe.connect(local::endpoint(path.string()), ec);
    if (!ec) {
      return fail(ErrorKind::kConflict, "another tvd is already listening on " + path.string(),
                  "stop it first (systemctl stop tvd), or set another socket");
    }
    std::filesystem::remove(path, fs_ec);
  }
  boost::system::error_code ec;
  server->acceptor_.open(local(), ec);
  if (!ec) server->acceptor_.bind(local::endpoint(path.string()), ec);
  if (!ec) server->acceptor_.listen(64, ec);
  if (ec) {
    return fail(ErrorKind::kIo, "cannot listen on " + path.string() + ": " + ec.message(),
                "check that its directory exists and is writable by tvd");
  }
  ::chmod(path.c_str(), 0660);
  if (gid) (void)!::chown(path.c_str(), static_cast<uid_t>(-1), *gid);
  server->accept();
  return std::unique_ptr<SocketServer>(std::move(server));
}

}  // namespace tvd::server
