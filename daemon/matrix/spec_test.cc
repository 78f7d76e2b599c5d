#include "daemon/matrix/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tvd {
namespace {

using ::testing::HasSubstr;

class Specs : public ::testing::Test {
 protected:
  Matrix m = std::move(Matrix::embedded().value());

  std::vector<std::string> packages(const std::vector<std::string>& specs, bool force = false) {
    auto r = resolve_specs(m, specs, force);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    std::vector<std::string> out;
    if (r) {
      for (const auto& s : *r)
        out.push_back(s.variant.package());
    }
    return out;
  }
  std::string error(const std::vector<std::string>& specs, bool force = false) {
    auto r = resolve_specs(m, specs, force);
    EXPECT_FALSE(r) << "expected an error for " << specs.front();
    if (r) return "";
    EXPECT_EQ(r.error().kind, ErrorKind::kBadInput);
    return r.error().message + " | " + r.error().hint;
  }
};

TEST_F(Specs, ShortFormsUseTheDefaults) {
  EXPECT_EQ(packages({"sm89-avx512vnni"}),
            std::vector<std::string>{"torchvision-python313-cuda12_8-sm89-avx512vnni"});
  EXPECT_EQ(packages({"cpu-avx2"}), std::vector<std::string>{"torchvision-python313-cpu-avx2"});
}

TEST_F(Specs, QualifiedAndFullNames) {
  ASSERT_TRUE(m.set_nixpkgs("pytorch-2.9"));  // the pin with CUDA 12.9
  EXPECT_EQ(packages({"python312-cuda12_9-sm90-avx2"}),
            std::vector<std::string>{"torchvision-python312-cuda12_9-sm90-avx2"});
  EXPECT_EQ(packages({"python312-cuda12.9-sm90-avx2"}),
            std::vector<std::string>{"torchvision-python312-cuda12_9-sm90-avx2"});
  ASSERT_TRUE(m.set_nixpkgs("pytorch-2.8"));
  EXPECT_EQ(packages({"torchvision-python313-cuda12_8-sm89-avx512vnni"}),
            std::vector<std::string>{"torchvision-python313-cuda12_8-sm89-avx512vnni"});
  EXPECT_EQ(packages({"python311-cpu-armv9"}),
            std::vector<std::string>{"torchvision-python311-cpu-armv9"});
}

TEST_F(Specs, DotAndUnderscoreAreTheSame) {
  EXPECT_EQ(packages({"sm89-armv8.2", "sm89-armv8_2"}),
            std::vector<std::string>{"torchvision-python313-cuda12_8-sm89-armv8_2"});
}

TEST_F(Specs, GlobsCoverTheConfiguredMatrix) {
  EXPECT_EQ(packages({"sm90-*"}).size(), 6u);
  auto r = resolve_specs(m, {"*-armv9"}, false);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 10u);  // nine architectures and CPU-only
  size_t chosen = 0;
  for (const auto& s : *r)
    chosen += s.chosen;
  EXPECT_EQ(chosen, 7u);  // sm103, sm110 and sm121 need newer CUDA than 12.8
}

TEST_F(Specs, AllSkipsExcludedUnlessForced) {
  auto r = resolve_specs(m, {"all"}, false);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 60u);
  size_t skipped = 0;
  for (const auto& s : *r) {
    skipped += !s.chosen;
    EXPECT_EQ(s.chosen, s.exclusions.empty()) << s.variant.package();
  }
  EXPECT_EQ(skipped, 18u);
  auto forced = resolve_specs(m, {"all"}, true);
  ASSERT_TRUE(forced);
  for (const auto& s : *forced)
    EXPECT_TRUE(s.chosen);
}

TEST_F(Specs, EachVariantOnceInTheOrderFirstNamed) {
  EXPECT_EQ(packages({"cpu-avx2", "sm89-avx2", "cpu-*"}).front(), "torchvision-python313-cpu-avx2");
  EXPECT_EQ(packages({"cpu-avx2", "sm89-avx2", "cpu-*"}).size(), 7u);
}

TEST_F(Specs, UnknownSpecsSuggestTheNearestValidOnes) {
  EXPECT_THAT(error({"sm89-avx512vnn"}), HasSubstr("did you mean sm89-avx512vnni?"));
  EXPECT_THAT(error({"sm88-avx2"}), HasSubstr("unknown GPU architecture 'sm88'"));
  EXPECT_THAT(error({"sm98-avx2"}), HasSubstr("sm89-avx2"));
  EXPECT_THAT(error({"python399-sm89-avx2"}), HasSubstr("unknown Python 'python399'"));
  EXPECT_THAT(error({"nonsense"}), HasSubstr("a spec is [pythonNNN-][cudaX_Y-](smNN|cpu)-ISA"));
  EXPECT_THAT(error({"sm95-*"}), HasSubstr("'sm95-*' matches no variant"));
}

TEST_F(Specs, UnknownCudaNamesTheKnownOnes) {
  auto e = error({"python313-cuda11_8-sm89-avx2"});
  EXPECT_THAT(e, HasSubstr("unknown CUDA version 'cuda11_8'"));
  EXPECT_THAT(e, HasSubstr("cuda12_8"));
}

TEST_F(Specs, ExcludedNeedsForceAndSaysWhy) {
  auto e = error({"sm121-armv9"});
  EXPECT_THAT(e, HasSubstr("sm121 needs CUDA >= 12.9; this variant has 12.8"));
  EXPECT_THAT(e, HasSubstr("pass --force"));
  auto forced = resolve_specs(m, {"sm121-armv9"}, true);
  ASSERT_TRUE(forced);
  EXPECT_TRUE(forced->front().chosen);
  EXPECT_FALSE(forced->front().exclusions.empty());
}

TEST_F(Specs, UnavailableCudaIsExcluded) {
  EXPECT_THAT(error({"python313-cuda13_0-sm110-armv9"}),
              HasSubstr("CUDA 13.0 is not in the nixpkgs pin pytorch-2.8"));
}

TEST_F(Specs, CpuOnlyCannotNameCuda) {
  EXPECT_THAT(error({"python313-cuda12_8-cpu-avx2"}), HasSubstr("is CPU-only"));
}

TEST_F(Specs, OneBadSpecSelectsNothing) {
  auto e = error({"sm89-avx2", "sm89-avx3", "cpu-avx2", "sm121-avx2"});
  EXPECT_THAT(e, HasSubstr("sm89-avx3"));
  EXPECT_THAT(e, HasSubstr("sm121-avx2"));  // every problem, not just the first
  EXPECT_THAT(error({}), HasSubstr("no variant named"));
}

}  // namespace
}  // namespace tvd
