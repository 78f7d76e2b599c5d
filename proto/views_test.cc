// Each view's JSON is a golden file (TVD_ACCEPT=1 rewrites them; review the diff: it is the
// contract of PROTOCOL.md), and reads back to the same view.
#include "proto/views.h"

#include <gtest/gtest.h>

#include "tests/support/golden.h"

namespace tvd::proto {
namespace {

using nlohmann::json;

template <class View>
void golden(const std::string& name, const View& view) {
  const std::string text = json(view).dump(2) + "\n";
  testing::expect_golden(TVD_GOLDEN_DIR, name, text);
  auto back = read_view<View>(json::parse(text));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, view) << name << " does not read back as it was written";
}

JobView failed_job() {
  JobView j;
  j.id = 12;
  j.package = "torchvision-python313-cuda12_8-sm89-avx512vnni";
  j.state = "failed";
  j.phase = "build";
  j.origin = "batch";
  j.priority = 0;
  j.publish = true;
  j.build_tries = 1;
  j.enqueued_at = 1800000000;
  j.started_at = 1800000002;
  j.finished_at = 1800007200;
  j.error = "torch-2.8.0: builder failed with exit code 2";
  j.failure = "build-error";
  return j;
}

JobView running_job() {
  JobView j;
  j.id = 13;
  j.package = "torchvision-python313-cpu-avx2";
  j.state = "building";
  j.phase = "build";
  j.origin = "interactive";
  j.priority = 5;
  j.publish = true;
  j.build_tries = 1;
  j.enqueued_at = 1800000100;
  j.started_at = 1800000102;
  j.expected_s = 7200;
  j.eta_at = 1800007302;
  j.reserved = 17179869184;
  return j;
}

// A job's and a recipe's package is sent as `package` and, for readers from before schema 10, as
// `variant` too (PROTOCOL.md, "Words"); a reply of a daemon from before has only `variant`.
TEST(Views, ThePackageIsSentUnderItsOldNameTooAndReadFromEither) {
  const json sent = json(failed_job());
  EXPECT_EQ(sent.at("package"), "torchvision-python313-cuda12_8-sm89-avx512vnni");
  EXPECT_EQ(sent.at("variant"), sent.at("package"));
  json old = sent;
  old.erase("package");
  auto from_old = read_view<JobView>(old);
  ASSERT_TRUE(from_old) << from_old.error().message;
  EXPECT_EQ(from_old->package, "torchvision-python313-cuda12_8-sm89-avx512vnni");
  RecipeView r;
  r.package = "torchvision-python313-cpu-avx2";
  json recipe = json(r);
  EXPECT_EQ(recipe.at("variant"), "torchvision-python313-cpu-avx2");
  recipe.erase("package");
  auto recipe_back = read_view<RecipeView>(recipe);
  ASSERT_TRUE(recipe_back) << recipe_back.error().message;
  EXPECT_EQ(recipe_back->package, r.package);
}

TEST(Views, Status) {
  StatusView s;
  s.jobs = {running_job(), failed_job()};
  s.waiting = {{"14", "waiting for memory: 80 GiB of 100 GiB reserved, needs 40 GiB"}};
  s.summary = {{"building", 1}, {"failed", 1}, {"succeeded", 25}};
  s.memory = {17179869184, 107374182400, 4};
  s.gates = {"memory pressure 12.0 % (over 10.0 %): nothing new starts"};
  s.disks = {{"/nix/store", 53687091200}, {"/var/lib/tvd", std::nullopt}};
  golden("view-status.json", s);
}

TEST(Views, JobWithAttempts) {
  JobDetailView d;
  d.job = failed_job();
  AttemptView a;
  a.number = 1;
  a.phase = "build";
  a.started_at = 1800000002;
  a.ended_at = 1800007200;
  a.outcome = "failed";
  a.reason = "torch-2.8.0: builder failed with exit code 2";
  a.log = "/var/lib/tvd/logs/torchvision-python313-cuda12_8-sm89-avx512vnni/12-1-build.log";
  a.exit_code = 1;
  a.peak_memory = 42949672960;
  AttemptView running;
  running.number = 2;
  running.phase = "publish";
  running.started_at = 1800007300;
  running.log = "/var/lib/tvd/logs/x/12-2-publish.log";
  d.attempts = {a, running};
  golden("view-job.json", d);
}

TEST(Views, EnqueueCancelRetry) {
  EnqueueView e;
  JobView created = running_job();
  created.state = "queued";
  created.phase = "recipe";
  created.started_at.reset();
  created.expected_s.reset();
  created.eta_at.reset();
  created.reserved.reset();
  created.created = true;
  e.jobs = {created};
  e.skipped = {{"torchvision-python313-cuda12_8-sm121-avx2",
                "excluded: sm121 needs CUDA >= 12.9; this variant has 12.8"}};
  golden("view-enqueue.json", e);
  JobView cancelled = failed_job();
  cancelled.state = "cancelled";
  cancelled.error.clear();
  cancelled.failure.clear();
  golden("view-cancel.json", JobsView{{cancelled}});
  JobView again = failed_job();
  again.state = "queued";
  again.phase = "recipe";
  again.error.clear();
  again.failure.clear();
  again.finished_at.reset();
  golden("view-retry.json", RetryView{again});
}

TEST(Views, LogSlices) {
  LogSliceView before;  // no attempt yet
  golden("view-logs-before.json", before);
  LogSliceView slice;
  slice.text = "torch> [12/40] Building CXX object caffe2/CMakeFiles/torch_cpu.dir/op_12.cpp.o\n";
  slice.offset = 4096;
  slice.attempt = 1;
  slice.log = "/var/lib/tvd/logs/x/12-1-build.log";
  slice.phase = "build";
  slice.next_attempt = 2;
  golden("view-logs.json", slice);
}

TEST(Views, Batches) {
  BatchView night;
  night.id = 7;
  night.name = "nightly";
  night.started_at = 1800000000;
  night.finished_at = 1800036000;
  night.duration_s = 36000;
  night.states = {{"failed", 1}, {"succeeded", 58}};
  night.skipped = 1;
  night.variants_by_outcome = {{"failed", 1}, {"still-failing", 1}, {"succeeded", 58}};
  BatchView running = night;
  running.id = 8;
  running.started_at = 1800086400;
  running.finished_at.reset();
  running.duration_s.reset();
  running.states = {{"building", 2}, {"queued", 57}};
  running.skipped = 0;
  running.variants_by_outcome = {{"building", 2}, {"queued", 57}};
  golden("view-batches.json", BatchesView{{running, night}});
  BatchDetailView d;
  d.batch = night;
  d.batch.skipped = 0;
  d.skipped = {{"torchvision-python313-cuda12_8-sm61-avx2",
                "still failing: torch-2.8.0: builder failed with exit code 2"}};
  d.skip_reasons = {{"torchvision-python313-cuda12_8-sm61-avx2", "still-failing"}};
  d.variants = {{"torchvision-python313-cpu-avx2", "succeeded"},
                {"torchvision-python313-cuda12_8-sm89-avx2", "failed"}};
  d.previous = BatchDetailView::Previous{6, 35000};
  d.newly_failing = {"torchvision-python313-cuda12_8-sm89-avx2"};
  golden("view-batch.json", d);
}

RecipeView gpu_cell() {
  RecipeView r;
  r.package = "torchvision-python313-cuda12_8-sm89-avx2";
  r.file = ".flox/pkgs/torchvision-python313-cuda12_8-sm89-avx2.nix";
  r.kind = "gpu";
  r.python = "python313";
  r.cuda = "12.8";
  r.gpu_arch = "sm89";
  r.cpu_isa = "avx2";
  r.platform = "x86_64-linux";
  r.state = "differs";
  r.gpu_target = "8.9";
  r.gpu_target_source = "matrix";
  r.file_gpu_target = "sm_89";
  r.nixpkgs = "fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3";
  r.nixpkgs_source = "pin pytorch-2.8";
  r.findings = {
      {"error", "sm-target", r.file, 12,
       "gpuTargets = [ \"sm_89\" ]: PyTorch's CMake rejects it (Unknown CUDA Architecture)",
       "pass \"8.9\""}};
  return r;
}

TEST(Views, MatrixAndGenerate) {
  RecipeView cpu;
  cpu.package = "torchvision-python313-cpu-armv9";
  cpu.file = ".flox/pkgs/torchvision-python313-cpu-armv9.nix";
  cpu.kind = "cpu";
  cpu.python = "python313";
  cpu.cpu_isa = "armv9";
  cpu.platform = "aarch64-linux";
  cpu.state = "missing";
  cpu.nixpkgs = "flox";
  cpu.nixpkgs_source = "flox's own";
  cpu.pytorch_problems = {"no sibling PyTorch recipe in build-pytorch"};
  golden("view-matrix.json", MatrixView{{gpu_cell(), cpu}, MatrixView::Summary{2, 2, 0}});
  RecipeView kept = gpu_cell();
  kept.outcome = "kept";
  kept.warning = "hand-written: left as it is";
  golden("view-generate.json", GenerateView{{kept}, true});
}

TEST(Views, APayloadThatIsNotTheViewSaysWhy) {
  auto bad = read_view<StatusView>(json{{"jobs", {{{"id", "twelve"}}}}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not what this tvctl reads"), std::string::npos);
}

}  // namespace
}  // namespace tvd::proto
