// A scratch store file and its opening, for the store's tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>

#include "daemon/store/store.h"
#include "tests/support/scratch.h"

namespace tvd::store {

class StoreFixture : public ::testing::Test {
 protected:
  testing::ScratchDir dir;
  std::filesystem::path file = dir / "state" / "tvd.db";
  Store open() {
    auto s = Store::open(file);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return std::move(*s);
  }
};

}  // namespace tvd::store
