#include "daemon/matrix/matrix.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace tvd {
namespace {

using ::testing::HasSubstr;

Matrix builtin() {
  auto m = Matrix::embedded();
  if (!m) ADD_FAILURE() << m.error().message;
  return std::move(*m);
}

TEST(Matrix, TheSeedsMatrixHas60CellsOf42Buildable) {
  Matrix m = builtin();
  auto cells = m.cells();
  ASSERT_EQ(cells.size(), 60u);
  size_t gpu = 0, buildable = 0;
  std::set<std::string> excluded_archs;
  for (const auto& v : cells) {
    gpu += v.is_gpu();
    if (m.exclusions(v).empty())
      ++buildable;
    else
      excluded_archs.insert(v.gpu->name);
  }
  EXPECT_EQ(gpu, 54u);
  EXPECT_EQ(buildable, 42u);
  EXPECT_EQ(excluded_archs, (std::set<std::string>{"sm103", "sm110", "sm121"}));
}

TEST(Matrix, NamesNeverContainADot) {
  Matrix m = builtin();
  for (const auto& v : m.cells()) {
    EXPECT_EQ(v.package().find('.'), std::string::npos) << v.package();
  }
  const auto* isa = m.find_isa("armv8.2");
  ASSERT_NE(isa, nullptr);
  EXPECT_EQ(isa, m.find_isa("armv8_2"));
  Variant v = m.variant(&m.default_python(), &m.default_cuda(), m.find_gpu_arch("sm89"), isa);
  EXPECT_EQ(v.package(), "torchvision-python313-cuda12_8-sm89-armv8_2");
  EXPECT_EQ(v.core(), "sm89-armv8_2");
  Variant cpu = m.variant(&m.default_python(), nullptr, nullptr, m.find_isa("avx2"));
  EXPECT_EQ(cpu.package(), "torchvision-python313-cpu-avx2");
}

TEST(Matrix, ExclusionsSayWhy) {
  Matrix m = builtin();
  Variant v = m.variant(&m.default_python(), &m.default_cuda(), m.find_gpu_arch("sm121"),
                        m.find_isa("avx2"));
  auto why = m.exclusions(v);
  ASSERT_EQ(why.size(), 2u);
  EXPECT_THAT(why[0], HasSubstr("sm121 needs CUDA >= 12.9; this variant has 12.8"));
  EXPECT_THAT(why[1], HasSubstr("sm121 builds only for aarch64-linux; avx2 is a x86_64-linux ISA"));

  Variant arm = v;
  arm.isa = m.find_isa("armv9");
  arm.cuda = m.find_cuda("12.9");
  arm.nixpkgs = nullptr;  // flox's own nixpkgs: the default pin has CUDA 12.8 only
  EXPECT_TRUE(m.exclusions(arm).empty());

  // CUDA 13.0 is in the pin of build-torchvision's pytorch-2.9 and 2.10 branches, not in 2.8's.
  Variant thor = m.variant(&m.default_python(), m.find_cuda("13.0"), m.find_gpu_arch("sm110"),
                           m.find_isa("armv9"));
  auto thor_why = m.exclusions(thor);
  ASSERT_EQ(thor_why.size(), 1u);
  EXPECT_THAT(thor_why[0], HasSubstr("CUDA 13.0 is not in the nixpkgs pin pytorch-2.8 "
                                     "(fe5e41d7ffc0); pins that have it: pytorch-2.9"));
  ASSERT_TRUE(m.set_nixpkgs("pytorch-2.9"));
  EXPECT_TRUE(m.exclusions(m.variant(thor.python, thor.cuda, thor.gpu, thor.isa)).empty());
  auto bad = m.set_nixpkgs("pytorch-2.99");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("did you mean pytorch-2.9"));

  // Pascal machines: AVX and AVX2 CPUs only.
  ASSERT_TRUE(m.set_nixpkgs("pytorch-2.8"));
  Variant pascal = m.variant(&m.default_python(), &m.default_cuda(), m.find_gpu_arch("sm61"),
                             m.find_isa("avx512"));
  ASSERT_EQ(m.exclusions(pascal).size(), 1u);
  EXPECT_THAT(m.exclusions(pascal)[0], HasSubstr("sm61 builds only with avx, avx2"));
  pascal.isa = m.find_isa("avx");
  EXPECT_TRUE(m.exclusions(pascal).empty());

  Variant cpu = m.variant(&m.default_python(), nullptr, nullptr, m.find_isa("armv9"));
  EXPECT_TRUE(m.exclusions(cpu).empty());
}

TEST(Matrix, AxesCanBeChanged) {
  Matrix m = builtin();
  Axes axes = m.axes();
  axes.python = {"python313", "python312"};
  axes.cuda = {"12.8", "12.9"};
  ASSERT_TRUE(m.set_axes(axes));
  EXPECT_EQ(m.cells().size(), 2u * 2 * 9 * 6 + 2 * 6);

  axes.gpu_archs = {"sm89", "sm88"};
  auto st = m.set_axes(axes);
  ASSERT_FALSE(st);
  EXPECT_THAT(st.error().message, HasSubstr("\"sm88\" is not in the table (did you mean"));
}

TEST(Matrix, ParseReportsEveryProblemWithItsPath) {
  auto m = Matrix::parse(R"({
    // comments are fine
    "schema": 2,
    "nixpkgs_pins": [{"name": "p", "commit": "fe5e41d7", "cuda": ["12.8"], "source": "s",
                      "cuda_aliases": {"cudaPackages_13": "thirteen"}}],
    "python": [{"name": "python313", "packages": "python3Packages", "version": "3.13", "colour": "x"}],
    "cuda": [{"version": "12.8", "packages": "cudaPackages_12_9", "available": true}],
    "defaults": {"python": "python313", "cuda": "12.8"},
    "gpu_archs": [{"name": "sm89", "upper": "SM89", "decimal": "sm_89", "num": "89",
      "description": "d", "hardware": "h", "cpu_hardware": {"x86_64-linux": "a", "aarch64-linux": "b"},
      "choose_this_if": {"x86_64-linux": "a", "aarch64-linux": "b"}, "pattern": "A"}],
    "cpu_isas": [{"name": "armv8.2", "token": "armv8.2", "description": "d", "flags": ["-x"],
      "platform": "aarch64-linux"}],
    "constraints": [],
    "axes": {"python": ["python313"], "cuda": ["12.8"], "gpu_archs": ["sm89"], "cpu_isas": ["armv8.2"], "cpu_only": true}
  })",
                         "test.json");
  ASSERT_FALSE(m);
  const auto& msg = m.error().message;
  EXPECT_THAT(msg, HasSubstr("python[0].colour: unknown key"));
  EXPECT_THAT(msg, HasSubstr("gpu_archs[0].pattern: unknown key"));
  EXPECT_THAT(msg, HasSubstr("gpu_archs[0].decimal: PyTorch's CMake rejects \"sm_89\""));
  EXPECT_THAT(msg, HasSubstr("write \"8.9\""));
  EXPECT_THAT(msg, HasSubstr("cuda[0].packages: \"cudaPackages_12_9\" is not nixpkgs' attribute "
                             "for CUDA 12.8 (cudaPackages_12_8)"));
  EXPECT_THAT(msg, HasSubstr("nixpkgs_pins[0].commit: expected a nixpkgs commit: 40 hex digits"));
  EXPECT_THAT(msg, HasSubstr("nixpkgs_pins[0].cuda_aliases: \"cudaPackages_13\" must name a CUDA "
                             "version, MAJOR.MINOR"));
  EXPECT_THAT(msg, HasSubstr("cpu_isas[0].token: \"armv8.2\" may hold only a-z, 0-9 and _"));
  EXPECT_THAT(msg, HasSubstr("cpu_isas[0].hardware: missing"));
  EXPECT_EQ(m.error().kind, ErrorKind::kBadInput);
}

// A versioned attribute says its CUDA itself; an alias is what a pin makes it, where known.
TEST(Matrix, WhatACudaAttributeSelectsAtAPin) {
  auto m = Matrix::embedded().value();
  const auto* pins = &m.pins();
  const std::string pin29 = "6a030d535719c5190187c4cec156f335e95e3211";
  EXPECT_EQ(cuda_selected("cudaPackages_12_9", "", pins), "12.9");
  EXPECT_EQ(cuda_selected("cudaPackages_13", pin29, pins), "13.0");
  EXPECT_EQ(cuda_selected("cudaPackages_13", "2017d6d515f8a7b289fe06d3a880a7ec588c3900", pins),
            std::nullopt);
  EXPECT_EQ(cuda_selected("cudaPackages", pin29, pins), std::nullopt);
  EXPECT_EQ(cuda_selected("cudaPackages_13", pin29, nullptr), std::nullopt);
  // Variants know every pin, and keep knowing them when the matrix moves.
  Matrix moved = std::move(m);
  const auto cells = moved.cells();
  ASSERT_FALSE(cells.empty());
  EXPECT_EQ(cuda_selected("cudaPackages_13", pin29, cells.front().pins), "13.0");
}

TEST(Matrix, ASeedEraMatrixIsToldWhatChanged) {
  auto m = Matrix::parse(R"({"schema": 1})", "old.json");
  ASSERT_FALSE(m);
  EXPECT_THAT(m.error().message, HasSubstr("schema: this tvd reads schema 2"));
  EXPECT_THAT(m.error().message, HasSubstr("dotted gpuTargets"));
}

TEST(Matrix, ParseRefusesBrokenJson) {
  auto m = Matrix::parse("{ \"python\": [", "broken.json");
  ASSERT_FALSE(m);
  EXPECT_THAT(m.error().message, HasSubstr("broken.json: not valid JSON"));
}

TEST(CudaVersion, ParsesBothSpellings) {
  EXPECT_EQ(parse_cuda_version("12.9"), (std::pair{12, 9}));
  EXPECT_EQ(parse_cuda_version("12_9"), (std::pair{12, 9}));
  EXPECT_FALSE(parse_cuda_version("12"));
  EXPECT_FALSE(parse_cuda_version("12.x"));
}

}  // namespace
}  // namespace tvd
