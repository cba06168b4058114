// A WalFile that fails on demand like a full or broken disk, for fault-injection tests.
#pragma once

#include <atomic>
#include <memory>

#include "engine/storage/wal.h"

namespace vecmesh::testing {

// The switches, shared by every file a test opens. Safe to flip from any thread.
struct DiskFaults {
  std::atomic<bool> fail_append{false};  // ENOSPC, after writing half of the bytes
  std::atomic<bool> fail_sync{false};    // EIO from fdatasync
};

class FaultyWalFile : public engine::WalFile {
 public:
  FaultyWalFile(std::unique_ptr<engine::WalFile> inner, const DiskFaults* faults)
      : inner_(std::move(inner)), faults_(faults) {}
  engine::Status Append(std::string_view bytes) override {
    if (faults_->fail_append) {
      (void)inner_->Append(bytes.substr(0, bytes.size() / 2));
      return engine::Status::Unavailable("write to wal.log failed: No space left on device");
    }
    return inner_->Append(bytes);
  }
  engine::Status Sync() override {
    if (faults_->fail_sync) {
      return engine::Status::Unavailable("fsync of wal.log failed: Input/output error");
    }
    return inner_->Sync();
  }
  engine::Status Truncate(uint64_t size) override { return inner_->Truncate(size); }

 private:
  std::unique_ptr<engine::WalFile> inner_;
  const DiskFaults* faults_;
};

}  // namespace vecmesh::testing
