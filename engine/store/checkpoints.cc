// LocalStore's checkpoints (docs/storage.md, "Checkpoints"): taken on demand, by the background
// checkpointer when the log has grown or aged, and at a clean shutdown.
#include <filesystem>

#include "engine/storage/state_file.h"
#include "engine/store/local_store.h"

namespace vecmesh::engine {

Status LocalStore::Checkpoint() {
  std::lock_guard one(checkpoint_mu_);
  return CheckpointLocked();
}

Status LocalStore::CheckpointLocked() {
  if (!wal_) return Status::FailedPrecondition("an in-memory store has no checkpoints");
  const std::string& dir = options_.data_dir;
  const uint64_t next = segment_ + 1;
  std::vector<CollectionState> state;
  std::vector<JobTag> jobs;
  {
    // Freeze writes everywhere, switch the log to a new segment, and copy the slots and indexes:
    // the checkpoint is then exactly the state before segment `next`.
    std::lock_guard ddl(ddl_mu_);
    std::vector<std::shared_ptr<Collection>> all;
    {
      std::shared_lock lock(collections_mu_);
      for (const auto& [name, c] : collections_) all.push_back(c);
    }
    std::vector<std::unique_lock<std::mutex>> frozen;
    for (const auto& c : all) frozen.push_back(c->BlockWrites());
    // A failed log keeps the store read-only until an operator restarts it: no new segment.
    Status health = wal_->health();
    if (!health.ok()) return health;
    auto file = OpenSegment(SegmentPath(dir, next));
    if (!file.ok()) return file.status();
    auto wal =
        Wal::Create(std::move(*file), 0, SegmentPath(dir, next), options_.wal_sync_interval_ms);
    if (!wal.ok()) return wal.status();
    Status s = SyncDir(dir);
    if (!s.ok()) return s;
    {
      std::lock_guard end(log_end_mu_);
      wal_ = std::move(*wal);
      segment_ = next;
    }
    for (const auto& c : all) state.push_back({c->config(), c->ExportImage()});
    jobs = jobs_.Recent();  // writes frozen: exactly the jobs logged before segment `next`
  }
  checkpoint_bytes_ = wal_->durable_bytes();
  checkpoint_time_ = std::chrono::steady_clock::now();

  Status s = WriteStateFile(dir, CheckpointPath(dir, next), &state, jobs);
  if (!s.ok()) return s;

  // Keep the previous checkpoint (or, after the first, the log from its start) and the log
  // from it on, as the fallback should this one be lost; everything older goes, except the log
  // that a holder still reads (HoldLog).
  const uint64_t keep_from = checkpoint_ == 0 ? 1 : checkpoint_;
  checkpoint_ = next;
  for (uint64_t n : ListCheckpoints(dir)) {
    if (n < keep_from) std::filesystem::remove(CheckpointPath(dir, n));
  }
  uint64_t keep_log_from = keep_from;
  {
    std::lock_guard end(log_end_mu_);
    for (const auto& [holder, from] : log_holds_) {
      keep_log_from = std::min(keep_log_from, std::max<uint64_t>(from.segment, 1));
    }
  }
  for (uint64_t n : ListSegments(dir)) {
    if (n < keep_log_from) std::filesystem::remove(SegmentPath(dir, n));
  }
  s = SyncDir(dir);
  if (!s.ok()) return s;
  // Then the restore files only those segments named (after the sync, so that no segment kept
  // after a crash names a file already gone). One left behind is deleted by the next checkpoint.
  for (const RestoreFile& file : ListRestoreFiles(dir)) {
    std::error_code ec;
    if (file.segment < keep_log_from) std::filesystem::remove(dir + "/" + file.name, ec);
  }
  return Status::Ok();
}

void LocalStore::RunCheckpointer() {
  std::unique_lock lock(queue_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    lock.unlock();
    {
      std::lock_guard one(checkpoint_mu_);
      const uint64_t grown = wal_->durable_bytes() - checkpoint_bytes_;
      const bool due = grown >= options_.checkpoint_bytes ||
                       (grown > 0 && std::chrono::steady_clock::now() - checkpoint_time_ >=
                                         std::chrono::seconds(options_.checkpoint_interval_s));
      if (due) {
        Status s = CheckpointLocked();
        if (!s.ok()) {
          // Tried again a second later: the log keeps every write meanwhile, it only grows.
          options_.logger("error", "a background checkpoint failed", {{"error", s.ToString()}});
        }
      }
    }
    lock.lock();
  }
}

}  // namespace vecmesh::engine
