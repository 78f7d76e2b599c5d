// Each view names its fields once, in a `fields(visit, view)` list below, with how each is sent;
// to_json and from_json both walk that list, so that no key is written in two places.
#include "proto/views.h"

namespace tvd::proto {

using nlohmann::json;

namespace {

// How a field is sent, and read back.
enum class Send {
  kAlways,    // always written; read when present
  kRequired,  // always written; a payload without it is not this view
  kNull,      // an optional: written as null when it has no value
  kOmit,      // written only when it has a value (an optional) or is not empty (a string)
  kOldName,   // a field's name before it was renamed: written too, for readers from before; read
              // when present, and the field's own name (listed after it) wins when both are
};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
bool is_empty(const T& v) {
  if constexpr (is_optional<T>::value) {
    return !v.has_value();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v.empty();
  } else if constexpr (requires {
                         v.begin();
                         v.empty();
                       }) {
    return v.empty();
  } else {
    return false;
  }
}

struct Writer {
  static constexpr bool kReading = false;
  json& j;
  template <class T>
  void operator()(const char* key, const T& value, Send send = Send::kAlways) {
    if (send == Send::kOmit && is_empty(value)) return;
    if constexpr (is_optional<T>::value) {
      j[key] = value ? json(*value) : json(nullptr);
    } else {
      j[key] = value;
    }
  }
};

struct Reader {
  static constexpr bool kReading = true;
  const json& j;
  template <class T>
  void operator()(const char* key, T& out, Send send = Send::kAlways) {
    if (send == Send::kRequired) (void)j.at(key);  // throws: a payload without it is not this view
    auto it = j.find(key);
    if (it == j.end() || (it->is_null() && send != Send::kRequired)) return;
    if constexpr (is_optional<T>::value) {
      out = it->template get<typename T::value_type>();
    } else {
      it->get_to(out);
    }
  }
};

// Another view's fields, all but one key (which the outer view sends as something else).
template <class V>
struct AllBut {
  static constexpr bool kReading = V::kReading;
  V& inner;
  const char* left_out;
  template <class T>
  void operator()(const char* key, T& value, Send send = Send::kAlways) {
    if (std::string_view(key) != left_out) inner(key, value, send);
  }
};

template <class View>
void write(json& j, const View& v) {
  j = json::object();
  Writer w{j};
  fields(w, v);
}
template <class View>
void read(const json& j, View& v) {
  Reader r{j};
  fields(r, v);
}

}  // namespace

// The field lists. `View` is const for writing, not for reading.

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, FindingView> {
  f("severity", v.severity);
  f("code", v.code);
  f("file", v.file);
  f("line", v.line);
  f("what", v.what);
  f("fix", v.fix);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, RecipeView> {
  f("variant", v.package, Send::kOldName);  // until schema 10 (PROTOCOL.md, "Words")
  f("package", v.package);
  f("file", v.file);
  f("kind", v.kind);
  f("python", v.python);
  f("cuda", v.cuda, Send::kNull);
  f("gpu_arch", v.gpu_arch, Send::kNull);
  f("cpu_isa", v.cpu_isa);
  f("platform", v.platform);
  f("state", v.state);
  f("excluded", v.excluded);
  f("buildable", v.buildable);
  f("outcome", v.outcome, Send::kOmit);
  f("gpu_target", v.gpu_target, Send::kNull);
  f("gpu_target_source", v.gpu_target_source, Send::kNull);
  f("file_gpu_target", v.file_gpu_target, Send::kNull);
  f("nixpkgs", v.nixpkgs);
  f("nixpkgs_source", v.nixpkgs_source);
  f("pytorch_recipe", v.pytorch_recipe, Send::kNull);
  f("pytorch_problems", v.pytorch_problems);
  f("warning", v.warning, Send::kOmit);
  f("findings", v.findings);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, MatrixView::Summary> {
  f("cells", v.cells);
  f("buildable", v.buildable);
  f("excluded", v.excluded);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, MatrixView> {
  f("cells", v.cells);
  f("summary", v.summary, Send::kOmit);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, GenerateView> {
  f("recipes", v.recipes);
  f("dry_run", v.dry_run);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, JobView> {
  f("id", v.id, Send::kRequired);
  f("variant", v.package, Send::kOldName);  // until schema 10 (PROTOCOL.md, "Words")
  f("package", v.package);
  f("environment", v.environment);  // a daemon from before environments: the default
  f("state", v.state, Send::kRequired);
  f("phase", v.phase);
  f("origin", v.origin);
  f("priority", v.priority);
  f("publish", v.publish);
  f("build_tries", v.build_tries);
  f("publish_tries", v.publish_tries);
  f("enqueued_at", v.enqueued_at);
  f("started_at", v.started_at, Send::kNull);
  f("finished_at", v.finished_at, Send::kNull);
  f("error", v.error, Send::kOmit);
  f("note", v.note, Send::kOmit);
  f("failure", v.failure, Send::kOmit);
  f("output", v.output, Send::kOmit);
  f("expected_s", v.expected_s, Send::kOmit);
  f("eta_at", v.eta_at, Send::kOmit);
  f("expected_from", v.expected_from, Send::kOmit);
  f("reserved", v.reserved, Send::kOmit);
  f("created", v.created, Send::kOmit);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, AttemptView> {
  f("number", v.number, Send::kRequired);
  f("phase", v.phase);
  f("started_at", v.started_at);
  f("ended_at", v.ended_at, Send::kOmit);
  f("outcome", v.outcome, Send::kNull);
  f("reason", v.reason);
  f("log", v.log);
  f("exit_code", v.exit_code, Send::kOmit);
  f("peak_memory", v.peak_memory, Send::kOmit);
  f("builder", v.builder, Send::kOmit);
}

// The job's fields and its attempts, side by side in one object.
template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, JobDetailView> {
  fields(f, v.job);
  f("attempts", v.attempts);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, StatusView::Memory> {
  f("reserved", v.reserved);
  f("budget", v.budget);
  f("max_parallel", v.max_parallel);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, StatusView::Disk> {
  f("path", v.path);
  f("free", v.free, Send::kNull);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, StatusView::Builder> {
  f("name", v.name);
  f("systems", v.systems);
  f("slots", v.slots);
  f("busy", v.busy);
  f("reserved", v.reserved);
  f("budget", v.budget);
  f("reachable", v.reachable);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, StatusView::Paused> {
  f("mode", v.mode);
  f("since", v.since);
  f("by", v.by);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, StatusView> {
  f("jobs", v.jobs);
  f("waiting", v.waiting);
  f("summary", v.summary);
  f("memory", v.memory);
  f("gates", v.gates);
  f("disks", v.disks);
  f("builders", v.builders, Send::kOmit);
  f("paused", v.paused, Send::kOmit);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, EnqueueView> {
  f("jobs", v.jobs);
  f("skipped", v.skipped);
  f("batch_id", v.batch_id, Send::kOmit);
  f("batch_joined", v.batch_joined, Send::kOmit);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, JobsView> {
  f("jobs", v.jobs);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, RetryView> {
  f("job", v.job, Send::kRequired);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, BatchView> {
  f("id", v.id, Send::kRequired);
  f("name", v.name);
  f("started_at", v.started_at);
  f("finished_at", v.finished_at, Send::kNull);
  f("duration_s", v.duration_s, Send::kOmit);
  f("states", v.states);
  f("skipped", v.skipped);  // a count here; `show-batch` sends the list instead
  f("variants_by_outcome", v.variants_by_outcome, Send::kOmit);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, BatchesView> {
  f("batches", v.batches);
}

template <class F, class View>
void fields(F& f,
            View& v) requires std::is_same_v<std::remove_const_t<View>, BatchDetailView::Previous> {
  f("id", v.id, Send::kRequired);
  f("duration_s", v.duration_s, Send::kNull);
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, BatchDetailView> {
  AllBut<F> batch{f, "skipped"};
  fields(batch, v.batch);
  f("skipped", v.skipped);
  f("skip_reasons", v.skip_reasons, Send::kOmit);
  f("variants", v.variants);
  f("previous", v.previous, Send::kOmit);
  if (F::kReading || v.previous) {  // what changed is sent with the batch it is against
    f("newly_failing", v.newly_failing);
    f("fixed", v.fixed);
  }
}

template <class F, class View>
void fields(F& f, View& v) requires std::is_same_v<std::remove_const_t<View>, LogSliceView> {
  f("text", v.text);
  f("offset", v.offset);
  f("done", v.done);
  f("attempt", v.attempt, Send::kNull);
  f("log", v.log, Send::kOmit);
  f("phase", v.phase, Send::kOmit);
  f("next_attempt", v.next_attempt, Send::kOmit);
}

// The nested parts have no to_json of their own in the header; they are sent inside their view.
void to_json(json& j, const MatrixView::Summary& v) {
  write(j, v);
}
void from_json(const json& j, MatrixView::Summary& v) {
  read(j, v);
}
void to_json(json& j, const StatusView::Memory& v) {
  write(j, v);
}
void from_json(const json& j, StatusView::Memory& v) {
  read(j, v);
}
void to_json(json& j, const StatusView::Disk& v) {
  write(j, v);
}
void to_json(json& j, const StatusView::Builder& v) {
  write(j, v);
}
void from_json(const json& j, StatusView::Builder& v) {
  read(j, v);
}
void from_json(const json& j, StatusView::Disk& v) {
  read(j, v);
}
void to_json(json& j, const StatusView::Paused& v) {
  write(j, v);
}
void from_json(const json& j, StatusView::Paused& v) {
  read(j, v);
}
void to_json(json& j, const BatchDetailView::Previous& v) {
  write(j, v);
}
void from_json(const json& j, BatchDetailView::Previous& v) {
  read(j, v);
}

#define TVD_VIEW_JSON(View)                \
  void to_json(json& j, const View& v) {   \
    write(j, v);                           \
  }                                        \
  void from_json(const json& j, View& v) { \
    read(j, v);                            \
  }

TVD_VIEW_JSON(FindingView)
TVD_VIEW_JSON(RecipeView)
TVD_VIEW_JSON(MatrixView)
TVD_VIEW_JSON(GenerateView)
TVD_VIEW_JSON(JobView)
TVD_VIEW_JSON(AttemptView)
TVD_VIEW_JSON(JobDetailView)
TVD_VIEW_JSON(StatusView)
TVD_VIEW_JSON(EnqueueView)
TVD_VIEW_JSON(JobsView)
TVD_VIEW_JSON(RetryView)
TVD_VIEW_JSON(BatchView)
TVD_VIEW_JSON(BatchesView)
TVD_VIEW_JSON(BatchDetailView)
TVD_VIEW_JSON(LogSliceView)

#undef TVD_VIEW_JSON

}  // namespace tvd::proto
