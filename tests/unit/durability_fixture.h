// The fixture of the durability tests, which more than one file holds: a data directory of its
// own per test, empty at the start and removed at the end.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "engine/store/local_store.h"

namespace vecmesh::engine {

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("vecmesh_durability_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<LocalStore> OpenStore() {
    LocalStoreOptions options;
    options.data_dir = dir_.string();
    auto store = LocalStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::filesystem::path dir_;
};

}  // namespace vecmesh::engine
