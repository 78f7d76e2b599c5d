// Each op's request as a type (PROTOCOL.md, "Ops"), beside the replies' views. A request names
// its fields once, in `fields(visit)`, and both directions walk that one list: tvctl writes the
// args with to_args(), the daemon's handler reads them with from_args(), so that no key is
// written in two places. kOp is the op's name on the wire.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "daemon/base/result.h"

namespace tvd::proto {

struct StatusRequest {
  static constexpr std::string_view kOp = "status";
  template <class V>
  void fields(V&) {}
};

struct MatrixRequest {
  static constexpr std::string_view kOp = "matrix";
  template <class V>
  void fields(V&) {}
};

struct BatchesRequest {
  static constexpr std::string_view kOp = "batches";
  template <class V>
  void fields(V&) {}
};

struct ShowRequest {
  static constexpr std::string_view kOp = "show";
  int64_t job = 0;
  template <class V>
  void fields(V& v) {
    v("job", job);
  }
};

struct ShowBatchRequest {
  static constexpr std::string_view kOp = "show-batch";
  int64_t batch = 0;
  template <class V>
  void fields(V& v) {
    v("batch", batch);
  }
};

struct EnqueueRequest {
  static constexpr std::string_view kOp = "enqueue";
  std::vector<std::string> specs;
  bool all = false;
  std::string batch;  // a batch's name ("nightly"), or none
  int priority = 0;
  bool force = false;
  bool no_publish = false;
  template <class V>
  void fields(V& v) {
    v("specs", specs);
    v("all", all);
    v("batch", batch);
    v("priority", priority);
    v("force", force);
    v("no_publish", no_publish);
  }
};

struct CancelRequest {
  static constexpr std::string_view kOp = "cancel";
  std::vector<int64_t> jobs;
  std::optional<int64_t> batch;  // instead of jobs: every active job of the batch
  template <class V>
  void fields(V& v) {
    v("jobs", jobs);
    v("batch", batch);
  }
};

// `tvctl pause`, `drain` and `resume`: whether new builds start.
struct PauseRequest {
  static constexpr std::string_view kOp = "pause";
  std::string mode = "pause";  // pause drain resume
  template <class V>
  void fields(V& v) {
    v("mode", mode);
  }
};

struct RetryRequest {
  static constexpr std::string_view kOp = "retry";
  int64_t job = 0;
  // Instead of a job: every variant whose newest job failed, of `batch` when given. The reply
  // is then an EnqueueView (the jobs retried, and what could not be and why).
  bool failed = false;
  std::optional<int64_t> batch;
  template <class V>
  void fields(V& v) {
    v("job", job);
    v("failed", failed);
    v("batch", batch);
  }
};

struct GenerateRequest {
  static constexpr std::string_view kOp = "generate";
  std::vector<std::string> specs;
  bool all = false;
  bool dry_run = false;
  bool force = false;
  template <class V>
  void fields(V& v) {
    v("specs", specs);
    v("all", all);
    v("dry_run", dry_run);
    v("force", force);
  }
};

struct LogsRequest {
  static constexpr std::string_view kOp = "logs";
  int64_t job = 0;
  std::optional<int64_t> offset;  // none: the last 64 KiB
  std::optional<int> attempt;     // none: the latest
  bool follow = false;
  template <class V>
  void fields(V& v) {
    v("job", job);
    v("offset", offset);
    v("attempt", attempt);
    v("follow", follow);
  }
};

namespace detail {

struct Writer {
  nlohmann::json& out;
  template <class T>
  void operator()(const char* key, const T& value) {
    out[key] = value;
  }
  template <class T>
  void operator()(const char* key, const std::optional<T>& value) {
    if (value) out[key] = *value;  // absent: the op's default
  }
};

// The value a field holds: T, or what a std::optional<T> field holds.
template <class T>
struct value_of {
  using type = T;
};
template <class T>
struct value_of<std::optional<T>> {
  using type = T;
};

// Reads each field that is present and not null; a wrong type or a whole number out of its
// type's range is the client's error, said plainly (nlohmann would turn 1e300 or -1 into some
// whole number without a word).
struct Reader {
  const nlohmann::json& args;
  std::string problem;

  template <class T>
  static bool fits(const nlohmann::json& v) {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (!v.is_number_integer() && !v.is_number_unsigned()) return false;
      if (v.is_number_unsigned()) {
        return v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max());
      }
      return v.get<int64_t>() >= int64_t(std::numeric_limits<T>::min()) &&
             v.get<int64_t>() <= int64_t(std::numeric_limits<T>::max());
    } else {
      return true;
    }
  }
  template <class T>
  void operator()(const char* key, T& out) {
    if (!problem.empty() || !args.is_object()) return;
    auto it = args.find(key);
    if (it == args.end() || it->is_null()) return;
    using Value = typename value_of<T>::type;
    if constexpr (std::is_integral_v<Value> && !std::is_same_v<Value, bool>) {
      if (!fits<Value>(*it)) {
        problem = std::string("\"") + key + "\" must be a whole number from " +
                  std::to_string(std::numeric_limits<Value>::min()) + " to " +
                  std::to_string(std::numeric_limits<Value>::max());
        return;
      }
    }
    try {
      out = it->get<Value>();
    } catch (const nlohmann::json::exception&) {
      problem = std::string("\"") + key + "\" has the wrong type";
    }
  }
};

}  // namespace detail

// The request's args, as tvctl sends them.
template <class R>
nlohmann::json to_args(R r) {
  nlohmann::json out = nlohmann::json::object();
  detail::Writer w{out};
  r.fields(w);
  return out;
}

// The request from its args, as the daemon reads them: a field that is absent or null keeps
// its default; a field of the wrong type is a kBadInput error naming it.
template <class R>
Result<R> from_args(const nlohmann::json& args) {
  R r;
  detail::Reader reader{args, {}};
  r.fields(reader);
  if (!reader.problem.empty()) return fail(ErrorKind::kBadInput, reader.problem);
  return r;
}

}  // namespace tvd::proto
