#include "proto/views.h"

namespace tvd::proto {

using nlohmann::json;

namespace {

template <class T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// Reads key into `out` when present and not null; absent and null leave the default.
template <class T>
void read(const json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}
template <class T>
void read(const json& j, const char* key, std::optional<T>& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) out = it->get<T>();
}

}  // namespace

void to_json(json& j, const FindingView& v) {
  j = {{"severity", v.severity}, {"code", v.code}, {"file", v.file},
       {"line", v.line},         {"what", v.what}, {"fix", v.fix}};
}

void from_json(const json& j, FindingView& v) {
  read(j, "severity", v.severity);
  read(j, "code", v.code);
  read(j, "file", v.file);
  read(j, "line", v.line);
  read(j, "what", v.what);
  read(j, "fix", v.fix);
}

void to_json(json& j, const RecipeView& v) {
  j = {{"variant", v.variant},
       {"file", v.file},
       {"kind", v.kind},
       {"python", v.python},
       {"cuda", or_null(v.cuda)},
       {"gpu_arch", or_null(v.gpu_arch)},
       {"cpu_isa", v.cpu_isa},
       {"platform", v.platform},
       {"state", v.state},
       {"excluded", v.excluded},
       {"buildable", v.buildable},
       {"gpu_target", or_null(v.gpu_target)},
       {"gpu_target_source", or_null(v.gpu_target_source)},
       {"file_gpu_target", or_null(v.file_gpu_target)},
       {"nixpkgs", v.nixpkgs},
       {"nixpkgs_source", v.nixpkgs_source},
       {"pytorch_recipe", or_null(v.pytorch_recipe)},
       {"pytorch_problems", v.pytorch_problems},
       {"findings", v.findings}};
  if (v.outcome) j["outcome"] = *v.outcome;
  if (!v.warning.empty()) j["warning"] = v.warning;
}

void from_json(const json& j, RecipeView& v) {
  j.at("variant").get_to(v.variant);
  read(j, "file", v.file);
  read(j, "kind", v.kind);
  read(j, "python", v.python);
  read(j, "cuda", v.cuda);
  read(j, "gpu_arch", v.gpu_arch);
  read(j, "cpu_isa", v.cpu_isa);
  read(j, "platform", v.platform);
  read(j, "state", v.state);
  read(j, "excluded", v.excluded);
  read(j, "buildable", v.buildable);
  read(j, "outcome", v.outcome);
  read(j, "gpu_target", v.gpu_target);
  read(j, "gpu_target_source", v.gpu_target_source);
  read(j, "file_gpu_target", v.file_gpu_target);
  read(j, "nixpkgs", v.nixpkgs);
  read(j, "nixpkgs_source", v.nixpkgs_source);
  read(j, "pytorch_recipe", v.pytorch_recipe);
  read(j, "pytorch_problems", v.pytorch_problems);
  read(j, "warning", v.warning);
  read(j, "findings", v.findings);
}

void to_json(json& j, const MatrixView& v) {
  j = {{"cells", v.cells}};
  if (v.summary) {
    j["summary"] = {{"cells", v.summary->cells},
                    {"buildable", v.summary->buildable},
                    {"excluded", v.summary->excluded}};
  }
}

void from_json(const json& j, MatrixView& v) {
  read(j, "cells", v.cells);
  if (auto s = j.find("summary"); s != j.end() && s->is_object()) {
    MatrixView::Summary sum;
    read(*s, "cells", sum.cells);
    read(*s, "buildable", sum.buildable);
    read(*s, "excluded", sum.excluded);
    v.summary = sum;
  }
}

void to_json(json& j, const GenerateView& v) {
  j = {{"recipes", v.recipes}, {"dry_run", v.dry_run}};
}

void from_json(const json& j, GenerateView& v) {
  read(j, "recipes", v.recipes);
  read(j, "dry_run", v.dry_run);
}

void to_json(json& j, const JobView& v) {
  j = {{"id", v.id},
       {"variant", v.variant},
       {"environment", v.environment},
       {"state", v.state},
       {"phase", v.phase},
       {"origin", v.origin},
       {"priority", v.priority},
       {"publish", v.publish},
       {"build_tries", v.build_tries},
       {"publish_tries", v.publish_tries},
       {"enqueued_at", v.enqueued_at},
       {"started_at", or_null(v.started_at)},
       {"finished_at", or_null(v.finished_at)}};
  if (!v.error.empty()) j["error"] = v.error;
  if (!v.note.empty()) j["note"] = v.note;
  if (!v.failure.empty()) j["failure"] = v.failure;
  if (v.output) j["output"] = *v.output;
  if (v.expected_s) j["expected_s"] = *v.expected_s;
  if (v.eta_at) j["eta_at"] = *v.eta_at;
  if (v.reserved) j["reserved"] = *v.reserved;
  if (v.created) j["created"] = *v.created;
}

void from_json(const json& j, JobView& v) {
  j.at("id").get_to(v.id);
  j.at("variant").get_to(v.variant);
  read(j, "environment", v.environment);  // a daemon from before environments: the default
  j.at("state").get_to(v.state);
  read(j, "phase", v.phase);
  read(j, "origin", v.origin);
  read(j, "priority", v.priority);
  read(j, "publish", v.publish);
  read(j, "build_tries", v.build_tries);
  read(j, "publish_tries", v.publish_tries);
  read(j, "enqueued_at", v.enqueued_at);
  read(j, "started_at", v.started_at);
  read(j, "finished_at", v.finished_at);
  read(j, "error", v.error);
  read(j, "note", v.note);
  read(j, "failure", v.failure);
  read(j, "output", v.output);
  read(j, "expected_s", v.expected_s);
  read(j, "eta_at", v.eta_at);
  read(j, "reserved", v.reserved);
  read(j, "created", v.created);
}

void to_json(json& j, const AttemptView& v) {
  j = {{"number", v.number},         {"phase", v.phase},
       {"started_at", v.started_at}, {"outcome", or_null(v.outcome)},
       {"reason", v.reason},         {"log", v.log}};
  if (v.ended_at) j["ended_at"] = *v.ended_at;
  if (v.exit_code) j["exit_code"] = *v.exit_code;
  if (v.peak_memory) j["peak_memory"] = *v.peak_memory;
}

void from_json(const json& j, AttemptView& v) {
  j.at("number").get_to(v.number);
  read(j, "phase", v.phase);
  read(j, "started_at", v.started_at);
  read(j, "ended_at", v.ended_at);
  read(j, "outcome", v.outcome);
  read(j, "reason", v.reason);
  read(j, "log", v.log);
  read(j, "exit_code", v.exit_code);
  read(j, "peak_memory", v.peak_memory);
}

// The job's fields and its attempts, side by side in one object.
void to_json(json& j, const JobDetailView& v) {
  j = v.job;
  j["attempts"] = v.attempts;
}

void from_json(const json& j, JobDetailView& v) {
  j.get_to(v.job);
  read(j, "attempts", v.attempts);
}

void to_json(json& j, const StatusView& v) {
  json disks = json::array();
  for (const auto& d : v.disks)
    disks.push_back({{"path", d.path}, {"free", or_null(d.free)}});
  j = {{"jobs", v.jobs},
       {"waiting", v.waiting},
       {"summary", v.summary},
       {"memory",
        {{"reserved", v.memory.reserved},
         {"budget", v.memory.budget},
         {"max_parallel", v.memory.max_parallel}}},
       {"gates", v.gates},
       {"disks", disks}};
}

void from_json(const json& j, StatusView& v) {
  read(j, "jobs", v.jobs);
  read(j, "waiting", v.waiting);
  read(j, "summary", v.summary);
  if (auto m = j.find("memory"); m != j.end() && m->is_object()) {
    read(*m, "reserved", v.memory.reserved);
    read(*m, "budget", v.memory.budget);
    read(*m, "max_parallel", v.memory.max_parallel);
  }
  read(j, "gates", v.gates);
  v.disks.clear();
  if (auto d = j.find("disks"); d != j.end() && d->is_array()) {
    for (const auto& disk : *d) {
      StatusView::Disk out;
      read(disk, "path", out.path);
      read(disk, "free", out.free);
      v.disks.push_back(std::move(out));
    }
  }
}

void to_json(json& j, const EnqueueView& v) {
  j = {{"jobs", v.jobs}, {"skipped", v.skipped}};
}

void from_json(const json& j, EnqueueView& v) {
  read(j, "jobs", v.jobs);
  read(j, "skipped", v.skipped);
}

void to_json(json& j, const JobsView& v) {
  j = {{"jobs", v.jobs}};
}

void from_json(const json& j, JobsView& v) {
  read(j, "jobs", v.jobs);
}

void to_json(json& j, const RetryView& v) {
  j = {{"job", v.job}};
}

void from_json(const json& j, RetryView& v) {
  j.at("job").get_to(v.job);
}

void to_json(json& j, const BatchView& v) {
  j = {{"id", v.id},
       {"name", v.name},
       {"started_at", v.started_at},
       {"finished_at", or_null(v.finished_at)},
       {"states", v.states},
       {"skipped", v.skipped}};
  if (v.duration_s) j["duration_s"] = *v.duration_s;
}

void from_json(const json& j, BatchView& v) {
  j.at("id").get_to(v.id);
  read(j, "name", v.name);
  read(j, "started_at", v.started_at);
  read(j, "finished_at", v.finished_at);
  read(j, "duration_s", v.duration_s);
  read(j, "states", v.states);
  if (auto s = j.find("skipped"); s != j.end() && s->is_number()) s->get_to(v.skipped);
}

void to_json(json& j, const BatchesView& v) {
  j = {{"batches", v.batches}};
}

void from_json(const json& j, BatchesView& v) {
  read(j, "batches", v.batches);
}

void to_json(json& j, const BatchDetailView& v) {
  j = v.batch;
  j["skipped"] = v.skipped;
  j["variants"] = v.variants;
  if (v.previous) {
    j["previous"] = {{"id", v.previous->id}, {"duration_s", or_null(v.previous->duration_s)}};
    j["newly_failing"] = v.newly_failing;
    j["fixed"] = v.fixed;
  }
}

void from_json(const json& j, BatchDetailView& v) {
  j.get_to(v.batch);
  v.batch.skipped = 0;  // here `skipped` is the list
  read(j, "skipped", v.skipped);
  read(j, "variants", v.variants);
  if (auto p = j.find("previous"); p != j.end() && p->is_object()) {
    BatchDetailView::Previous prev;
    p->at("id").get_to(prev.id);
    read(*p, "duration_s", prev.duration_s);
    v.previous = prev;
  }
  read(j, "newly_failing", v.newly_failing);
  read(j, "fixed", v.fixed);
}

void to_json(json& j, const LogSliceView& v) {
  j = {{"text", v.text}, {"offset", v.offset}, {"done", v.done}, {"attempt", or_null(v.attempt)}};
  if (v.log) j["log"] = *v.log;
  if (v.phase) j["phase"] = *v.phase;
  if (v.next_attempt) j["next_attempt"] = *v.next_attempt;
}

void from_json(const json& j, LogSliceView& v) {
  read(j, "text", v.text);
  read(j, "offset", v.offset);
  read(j, "done", v.done);
  read(j, "attempt", v.attempt);
  read(j, "log", v.log);
  read(j, "phase", v.phase);
  read(j, "next_attempt", v.next_attempt);
}

}  // namespace tvd::proto
