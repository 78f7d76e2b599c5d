#include "daemon/server/handler.h"

#include <limits>
#include <type_traits>

namespace tvd::server {

using nlohmann::json;
using proto::Code;
using proto::Reply;

namespace {

Reply failure(int64_t id, const Error& e) {
  return Reply::failure(id, proto::code_for(e), e.message, e.hint);
}

// A service's answer (a view from proto/views.h, or JSON) as a reply.
template <class T>
Reply from(int64_t id, const Result<T>& r) {
  if (r) return Reply::success(id, json(*r));
  return failure(id, r.error());
}

// Typed reads of args; a wrong type is the client's error, said plainly.
struct Args {
  const json& args;
  std::string problem;

  template <class T>
  T get(const char* key, T fallback) {
    if (!args.contains(key) || args[key].is_null()) return fallback;
    const json& v = args[key];
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // nlohmann would turn 1e300 or -1 into some whole number of T without a word.
      const bool whole = v.is_number_integer() || v.is_number_unsigned();
      if (!whole || (v.is_number_unsigned()
                         ? v.get<uint64_t>() > uint64_t(std::numeric_limits<T>::max())
                         : v.get<int64_t>() < int64_t(std::numeric_limits<T>::min()) ||
                               v.get<int64_t>() > int64_t(std::numeric_limits<T>::max()))) {
        problem = std::string("\"") + key + "\" must be a whole number from " +
                  std::to_string(std::numeric_limits<T>::min()) + " to " +
                  std::to_string(std::numeric_limits<T>::max());
        return fallback;
      }
    }
    try {
      return v.get<T>();
    } catch (const json::exception&) {
      problem = std::string("\"") + key + "\" has the wrong type";
      return fallback;
    }
  }
};

// A flag as the request gives it: true only when it is the JSON `true`. (A wrong type is refused
// where the op reads its args; here it must not throw.)
bool flag(const json& args, const char* key) {
  auto it = args.find(key);
  return it != args.end() && it->is_boolean() && it->get<bool>();
}

bool changes(const std::string& op, const json& args) {
  return op == "enqueue" || op == "cancel" || op == "retry" ||
         (op == "generate" && !flag(args, "dry_run"));
}

}  // namespace

namespace {
Reply handle_op(const proto::Request& req, service::Service& service, const Peer& peer);
}  // namespace

// No exception leaves a request: a bug in one op answers that request with an internal error,
// and the daemon and its builds go on.
Reply handle(const proto::Request& req, service::Service& service, const Peer& peer) {
  try {
    return handle_op(req, service, peer);
  } catch (const std::exception& e) {
    return Reply::failure(req.id, Code::kInternal,
                          "tvd could not answer \"" + req.op + "\": " + e.what(),
                          "this is a bug in tvd; the daemon goes on. Please report it");
  }
}

namespace {

Reply handle_op(const proto::Request& req, service::Service& service, const Peer& peer) {
  if (changes(req.op, req.args) && !peer.may_change) {
    return Reply::failure(req.id, Code::kForbidden,
                          "uid " + std::to_string(peer.uid) + " may read but not " + req.op,
                          "changes need root or membership of the group '" +
                              service.setup().config.socket_group + "'");
  }
  Args a{req.args, {}};
  auto bad_args = [&] { return Reply::failure(req.id, Code::kBadRequest, a.problem); };

  if (req.op == "status") return Reply::success(req.id, json(service.status()));
  if (req.op == "show") {
    auto id = a.get<int64_t>("job", 0);
    if (!a.problem.empty()) return bad_args();
    if (id <= 0) return Reply::failure(req.id, Code::kBadRequest, "\"job\" must be a job id");
    return from(req.id, service.show(static_cast<service::JobId>(id)));
  }
  if (req.op == "enqueue") {
    service::EnqueueRequest r;
    r.specs = a.get<std::vector<std::string>>("specs", {});
    r.all = a.get<bool>("all", false);
    r.batch = a.get<std::string>("batch", "");
    r.priority = a.get<int>("priority", 0);
    r.force = a.get<bool>("force", false);
    r.no_publish = a.get<bool>("no_publish", false);
    if (!a.problem.empty()) return bad_args();
    return from(req.id, service.enqueue(r));
  }
  if (req.op == "cancel") {
    auto ids = a.get<std::vector<int64_t>>("jobs", {});
    if (!a.problem.empty()) return bad_args();
    if (ids.empty()) return Reply::failure(req.id, Code::kBadRequest, "\"jobs\" must list job ids");
    std::vector<service::JobId> jobs(ids.begin(), ids.end());
    return from(req.id, service.cancel(jobs));
  }
  if (req.op == "retry") {
    auto id = a.get<int64_t>("job", 0);
    if (!a.problem.empty()) return bad_args();
    if (id <= 0) return Reply::failure(req.id, Code::kBadRequest, "\"job\" must be a job id");
    return from(req.id, service.retry(static_cast<service::JobId>(id)));
  }
  if (req.op == "matrix") return Reply::success(req.id, json(service.matrix()));
  if (req.op == "batches") return from(req.id, service.batches());
  if (req.op == "show-batch") {
    auto id = a.get<int64_t>("batch", 0);
    if (!a.problem.empty()) return bad_args();
    if (id <= 0) return Reply::failure(req.id, Code::kBadRequest, "\"batch\" must be a batch id");
    return from(req.id, service.show_batch(id));
  }
  if (req.op == "generate") {
    auto specs = a.get<std::vector<std::string>>("specs", {});
    auto all = a.get<bool>("all", false);
    auto dry_run = a.get<bool>("dry_run", false);
    auto force = a.get<bool>("force", false);
    if (!a.problem.empty()) return bad_args();
    return from(req.id, service.generate(specs, all, dry_run, force));
  }
  if (req.op == "logs") {
    auto id = a.get<int64_t>("job", 0);
    auto offset = a.get<int64_t>("offset", -1);
    auto attempt = a.get<int>("attempt", 0);
    a.get<bool>("follow", false);
    if (!a.problem.empty()) return bad_args();
    if (id <= 0) return Reply::failure(req.id, Code::kBadRequest, "\"job\" must be a job id");
    return from(req.id, service.logs(static_cast<service::JobId>(id), offset,
                                     attempt > 0 ? std::optional<int>(attempt) : std::nullopt));
  }
  return Reply::failure(
      req.id, Code::kUnknownOp, "unknown op \"" + req.op + "\"",
      "ops: status, show, logs, matrix, generate, batches, show-batch, enqueue, cancel, retry "
      "(proto/PROTOCOL.md)");
}

}  // namespace

bool is_follow(const proto::Request& req) {
  return req.op == "logs" && req.args.is_object() && flag(req.args, "follow");
}

namespace {

Followed follow_op(const proto::Request& req, service::Service& service, const Peer& /*peer*/) {
  Args a{req.args, {}};
  auto id = a.get<int64_t>("job", 0);
  auto offset = a.get<int64_t>("offset", -1);
  auto attempt = a.get<int>("attempt", 0);
  if (!a.problem.empty()) return {Reply::failure(req.id, Code::kBadRequest, a.problem), {}, {}};
  if (id <= 0) {
    return {Reply::failure(req.id, Code::kBadRequest, "\"job\" must be a job id"), {}, {}};
  }
  auto step = service.follow_logs({static_cast<service::JobId>(id), offset,
                                   attempt > 0 ? std::optional<int>(attempt) : std::nullopt});
  if (!step) return {failure(req.id, step.error()), {}, {}};
  Followed out{Reply::success(req.id, json(step->slice)), std::nullopt, step->wait, step->next};
  out.reply.more = !step->done;
  if (!step->done) {
    proto::Request next = req;
    next.args["offset"] = step->next.offset;
    next.args["attempt"] = step->next.attempt ? json(*step->next.attempt) : json(nullptr);
    out.next = std::move(next);
  }
  return out;
}

}  // namespace

Followed follow(const proto::Request& req, service::Service& service, const Peer& peer) {
  try {
    return follow_op(req, service, peer);
  } catch (const std::exception& e) {
    return {Reply::failure(req.id, Code::kInternal,
                           std::string("tvd could not follow the log: ") + e.what(),
                           "this is a bug in tvd; the daemon goes on. Please report it"),
            {},
            {}};
  }
}

}  // namespace tvd::server
