// The fixture of the durability tests, which more than one file holds: a data directory of its
// own per test, empty at the start and removed at the end.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "engine/store/local_store.h"
#include "tests/support/faulty_wal_file.h"

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
  // Options of a store in dir_ whose log files fail as `faults` says.
  LocalStoreOptions FaultyOptions(testing::DiskFaults* faults) const {
    LocalStoreOptions options;
    options.data_dir = dir_.string();
    options.open_wal_file = [faults](const std::string& path) -> StatusOr<std::unique_ptr<WalFile>> {
      auto file = OpenPosixWalFile(path);
      if (!file.ok()) return file.status();
      return std::unique_ptr<WalFile>(
          std::make_unique<testing::FaultyWalFile>(std::move(*file), faults));
    };
    return options;
  }
  std::filesystem::path dir_;
};

// Runs `body` in a forked child that then dies without shutting the store down cleanly (no
// shutdown checkpoint: the next open replays the log). The body must not use OpenMP (a forked
// child cannot), so it keeps to flat collections; it reports a failure by exiting non-zero.
template <typename Body>
void InCrashingChild(Body body) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child exited with " << status;
}

}  // namespace vecmesh::engine
