// LocalStore's checkpoints (docs/storage.md, "Checkpoints"): taken on demand, by the background
// checkpointer when the log has grown or aged, and at a clean shutdown.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <thread>

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
  // A failed log keeps the store read-only until an operator restarts it: no new segment.
  Status health = wal_->health();
  if (!health.ok()) return health;
  // Segment `next` is made ready while writers go on: the switch below only swaps pointers.
  auto file = OpenSegment(SegmentPath(dir, next));
  if (!file.ok()) return file.status();
  auto wal =
      Wal::Create(std::move(*file), 0, SegmentPath(dir, next), options_.wal_sync_interval_ms);
  if (!wal.ok()) return wal.status();
  Status s = SyncDir(dir);
  if (!s.ok()) return s;
  std::unique_ptr<Wal> previous;
  std::vector<std::shared_ptr<Collection>> all;
  {
    // No create or drop meanwhile: `all` is exactly the collections at the switch.
    std::lock_guard ddl(ddl_mu_);
    {
      std::unique_lock switching(segment_mu_);  // the appends in flight are done
      health = wal_->health();
      if (!health.ok()) {
        // The log failed since: the store stays read-only, and no record may follow it.
        wal->reset();
        std::filesystem::remove(SegmentPath(dir, next));
        return health;
      }
      std::lock_guard end(log_end_mu_);
      previous = std::move(wal_);
      wal_ = std::move(*wal);
      segment_ = next;
    }
    std::shared_lock lock(collections_mu_);
    for (const auto& [name, c] : collections_) all.push_back(c);
  }
  // Every job logged before segment `next` (Log marks it under segment_mu_), perhaps some of
  // `next` too: those are marked again when their records are replayed, to the same effect.
  const std::vector<JobTag> jobs = jobs_.Recent();
  checkpoint_bytes_ = wal_->durable_bytes();
  checkpoint_time_ = std::chrono::steady_clock::now();
  previous.reset();  // syncs what it holds (interval mode) and closes it

  auto writer = StateFileWriter::Create(dir, CheckpointPath(dir, next), kWalVersion);
  if (!writer.ok()) return writer.status();
  s = (*writer)->AppendJobs(jobs);
  // The collections are exported on a thread of lower CPU priority: a checkpoint is background
  // work, and on a busy machine the writers and searches it runs beside should have the cores
  // first (RocksDB lowers its background threads' priority the same way).
  std::thread exporter([&] {
    const auto self = static_cast<id_t>(::gettid());
    (void)::setpriority(PRIO_PROCESS, self, std::min(19, ::getpriority(PRIO_PROCESS, self) + 10));
    try {
      if (s.ok()) s = ExportCollections(all, **writer);
    } catch (const std::exception& e) {
      s = Status::Internal(std::string("exporting the collections failed: ") + e.what());
    }
  });
  exporter.join();
  // The records the images hold must outlive a power loss as the checkpoint does: were the log
  // to lose them, later records could land at positions the checkpoint says it holds.
  if (s.ok()) s = wal_->SyncWritten();
  if (s.ok()) s = (*writer)->Commit();
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

Status LocalStore::ExportCollections(const std::vector<std::shared_ptr<Collection>>& all,
                                     StateFileWriter& writer) {
  // One at a time, each as of a moment of its own after the segment switch (Collection::
  // ExportImage), with where that moment stands in the log: recovery replays from the new
  // segment on and skips each collection's records its image holds. A collection dropped since
  // the switch is saved as it was; its drop, logged after every write of it, is replayed.
  for (const auto& c : all) {
    const std::string& name = c->config().name;
    Status s = writer.Append(name, CreateCollectionOp{c->config()});
    if (!s.ok()) return s;
    StatusOr<LogPosition> through =
        c->ExportImage([&](WriteOp op) { return writer.Append(name, op); });
    if (!through.ok()) return through.status();
    s = writer.Append(EncodeAppliedThrough({name, through->segment, through->offset}));
    if (!s.ok()) return s;
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
