#include "daemon/server/handler.h"

#include <pwd.h>

#include <string_view>

#include "proto/requests.h"

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

// A flag as the request gives it: true only when it is the JSON `true`. (A wrong type is refused
// where the op reads its args; here it must not throw.)
bool flag(const json& args, const char* key) {
  auto it = args.find(key);
  return it != args.end() && it->is_boolean() && it->get<bool>();
}

bool changes(const std::string& op, const json& args) {
  return op == "enqueue" || op == "cancel" || op == "retry" || op == "pause" ||
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
  // The op's request, read from its args by the request's one field list (proto/requests.h).
  auto bad = [&](const Error& e) { return Reply::failure(req.id, Code::kBadRequest, e.message); };
  auto need_id = [&](int64_t id, const char* key) -> std::optional<Reply> {
    if (id > 0) return std::nullopt;
    return Reply::failure(req.id, Code::kBadRequest,
                          std::string("\"") + key + "\" must be a" +
                              (std::string_view(key) == "batch" ? " batch id" : " job id") +
                              " (1 or more), not " + std::to_string(id));
  };

  if (req.op == proto::StatusRequest::kOp) return Reply::success(req.id, json(service.status()));
  if (req.op == proto::ShowRequest::kOp) {
    auto r = proto::from_args<proto::ShowRequest>(req.args);
    if (!r) return bad(r.error());
    if (auto no = need_id(r->job, "job")) return *no;
    return from(req.id, service.show(static_cast<service::JobId>(r->job)));
  }
  if (req.op == proto::EnqueueRequest::kOp) {
    auto r = proto::from_args<proto::EnqueueRequest>(req.args);
    if (!r) return bad(r.error());
    return from(req.id, service.enqueue(*r));
  }
  if (req.op == proto::CancelRequest::kOp) {
    auto r = proto::from_args<proto::CancelRequest>(req.args);
    if (!r) return bad(r.error());
    if (r->batch) {
      if (!r->jobs.empty()) {
        return Reply::failure(req.id, Code::kBadRequest, "give \"jobs\" or \"batch\", not both");
      }
      if (auto no = need_id(*r->batch, "batch")) return *no;
      return from(req.id, service.cancel_batch(*r->batch));
    }
    if (r->jobs.empty()) {
      return Reply::failure(req.id, Code::kBadRequest, "\"jobs\" must list job ids");
    }
    for (int64_t id : r->jobs) {
      if (auto no = need_id(id, "jobs")) return *no;
    }
    std::vector<service::JobId> jobs(r->jobs.begin(), r->jobs.end());
    return from(req.id, service.cancel(jobs));
  }
  if (req.op == proto::RetryRequest::kOp) {
    auto r = proto::from_args<proto::RetryRequest>(req.args);
    if (!r) return bad(r.error());
    if (r->failed) {
      if (r->job != 0) {
        return Reply::failure(req.id, Code::kBadRequest, "give \"job\" or \"failed\", not both");
      }
      if (r->batch) {
        if (auto no = need_id(*r->batch, "batch")) return *no;
      }
      return from(req.id, service.retry_failed(r->batch));
    }
    if (auto no = need_id(r->job, "job")) return *no;
    return from(req.id, service.retry(static_cast<service::JobId>(r->job)));
  }
  if (req.op == proto::PauseRequest::kOp) {
    auto r = proto::from_args<proto::PauseRequest>(req.args);
    if (!r) return bad(r.error());
    if (r->mode != "pause" && r->mode != "drain" && r->mode != "resume") {
      return Reply::failure(req.id, Code::kBadRequest,
                            "\"mode\" must be pause, drain or resume, not \"" + r->mode + "\"");
    }
    const passwd* pw = ::getpwuid(peer.uid);
    return from(req.id,
                service.pause(r->mode, pw ? pw->pw_name : "uid " + std::to_string(peer.uid)));
  }
  if (req.op == proto::MatrixRequest::kOp) return Reply::success(req.id, json(service.matrix()));
  if (req.op == proto::BatchesRequest::kOp) return from(req.id, service.batches());
  if (req.op == proto::ShowBatchRequest::kOp) {
    auto r = proto::from_args<proto::ShowBatchRequest>(req.args);
    if (!r) return bad(r.error());
    if (auto no = need_id(r->batch, "batch")) return *no;
    return from(req.id, service.show_batch(r->batch));
  }
  if (req.op == proto::GenerateRequest::kOp) {
    auto r = proto::from_args<proto::GenerateRequest>(req.args);
    if (!r) return bad(r.error());
    return from(req.id, service.generate(r->specs, r->all, r->dry_run, r->force));
  }
  if (req.op == proto::LogsRequest::kOp) {
    auto r = proto::from_args<proto::LogsRequest>(req.args);
    if (!r) return bad(r.error());
    if (auto no = need_id(r->job, "job")) return *no;
    return from(req.id, service.logs(static_cast<service::JobId>(r->job), r->offset.value_or(-1),
                                     r->attempt && *r->attempt > 0 ? r->attempt : std::nullopt));
  }
  return Reply::failure(
      req.id, Code::kUnknownOp, "unknown op \"" + req.op + "\"",
      "ops: status, show, logs, matrix, generate, batches, show-batch, enqueue, cancel, retry, "
      "pause "
      "(proto/PROTOCOL.md)");
}

}  // namespace

bool is_follow(const proto::Request& req) {
  return req.op == "logs" && req.args.is_object() && flag(req.args, "follow");
}

namespace {

Followed follow_op(const proto::Request& req, service::Service& service, const Peer& /*peer*/) {
  auto r = proto::from_args<proto::LogsRequest>(req.args);
  if (!r) return {Reply::failure(req.id, Code::kBadRequest, r.error().message), {}, {}};
  if (r->job <= 0) {
    return {Reply::failure(req.id, Code::kBadRequest, "\"job\" must be a job id"), {}, {}};
  }
  auto step = service.follow_logs({static_cast<service::JobId>(r->job), r->offset.value_or(-1),
                                   r->attempt && *r->attempt > 0 ? r->attempt : std::nullopt});
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
