// LocalStore's start: Open, and the recovery of the data directory (docs/storage.md, "Recovery
// and its outcomes"). All of it runs inside Open, before the store is shared: it takes no lock.
#include <filesystem>
#include <map>
#include <variant>

#include "engine/storage/state_file.h"
#include "engine/store/local_store.h"

namespace vecmesh::engine {

StatusOr<std::unique_ptr<LocalStore>> LocalStore::Open(LocalStoreOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return Status::Unavailable("creating data directory " + options.data_dir +
                               " failed: " + ec.message());
  }
  auto store = std::make_unique<LocalStore>(std::move(options));
  store->durable_ = true;
  Status s = store->Recover();
  if (!s.ok()) return s;
  store->checkpointer_ = std::thread([s = store.get()] { s->RunCheckpointer(); });
  return store;
}

Status LocalStore::Recover() {
  const std::string& dir = options_.data_dir;
  // A checkpoint being written when the process died: never renamed, so never used.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().string().ends_with(".vmc.tmp")) std::filesystem::remove(entry.path());
  }
  const std::vector<uint64_t> segments = ListSegments(dir);
  const std::vector<uint64_t> checkpoints = ListCheckpoints(dir);
  // Whether segments first, first + 1, ... up to the last one are all there.
  auto complete_from = [&](uint64_t first) {
    uint64_t expect = first;
    for (uint64_t n : segments) {
      if (n < first) continue;
      if (n != expect) return false;
      ++expect;
    }
    return expect > first;
  };

  // The newest checkpoint that loads whole, with every log segment after it present; an older
  // one is the fallback (the previous checkpoint and its log are kept for that).
  uint64_t base = 0;
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend() && base == 0; ++it) {
    const std::string path = CheckpointPath(dir, *it);
    auto records = ReadStateFile(path);
    std::string problem;
    if (!records.ok()) {
      problem = records.status().message();
    } else if (!complete_from(*it)) {
      problem = "log segments after it are missing";
    }
    std::map<std::string, LogPosition> through;
    if (problem.empty()) {
      for (const std::string& r : *records) {
        Status s;
        if (IsAppliedThrough(r)) {
          AppliedThrough applied;
          s = DecodeAppliedThrough(r, &applied);
          through[applied.collection] = {applied.segment, applied.offset};
        } else {
          s = Replay(r);
        }
        if (!s.ok()) {
          problem = s.message();
          break;
        }
      }
    }
    if (problem.empty()) {
      base = *it;
      recovered_through_ = std::move(through);
    } else {
      recovery_.note += path + " is unusable (" + problem + "); ";
      for (auto& [name, c] : collections_) c->Cancel();
      collections_.clear();
    }
  }
  if (base == 0 && !segments.empty() && !complete_from(1)) {
    return Status::Internal("no usable checkpoint in " + dir + " (" + recovery_.note +
                            ") and the log before " + SegmentPath(dir, segments.front()) +
                            " is gone: restore the collections from snapshots");
  }
  checkpoint_ = base;

  // Replay the log from the checkpoint on. Only the last segment can have a torn tail: the
  // others were synced whole before the next one started.
  uint64_t last = std::max<uint64_t>(base, 1);
  uint64_t last_size = 0;
  for (uint64_t n : segments) {
    if (n < base) continue;
    const std::string path = SegmentPath(dir, n);
    auto replayed =
        RecoverWal(path, options_.corruption_policy, [&](std::string_view r, uint64_t end) {
          return Replay(r, {n, end});
        });
    if (!replayed.ok()) return replayed.status();
    if (!replayed->note.empty()) {
      if (n != segments.back() && options_.corruption_policy == CorruptionPolicy::kFail) {
        return Status::Internal(replayed->note +
                                ", but a later log segment exists: the log is "
                                "corrupt, not torn. Restart with the truncate option to accept "
                                "the loss");
      }
      recovery_.note += replayed->note + "; ";
    }
    recovery_.records += replayed->records;
    recovery_.cut_bytes += replayed->cut_bytes;
    last = n;
    last_size = replayed->valid_bytes;
  }
  recovery_.valid_bytes = last_size;
  // An image may hold records the log no longer has (cut as corrupt under kTruncate): appending
  // to that segment could put new records where the checkpoint says its image already is, so
  // they go to a new one.
  for (const auto& [name, through] : recovered_through_) {
    if (through.segment == last && through.offset > last_size) {
      ++last;
      last_size = 0;
      break;
    }
  }
  recovered_through_.clear();

  auto file = OpenSegment(SegmentPath(dir, last));
  if (!file.ok()) return file.status();
  Status s = SyncDir(dir);  // the segment's directory entry must be durable too
  if (!s.ok()) return s;
  auto wal = Wal::Create(std::move(*file), last_size, SegmentPath(dir, last),
                         options_.wal_sync_interval_ms);
  if (!wal.ok()) return wal.status();
  wal_ = std::move(*wal);
  segment_ = last;
  checkpoint_bytes_ = wal_->durable_bytes();
  // Index work starts once everything is replayed: a saved index may have been read back.
  for (auto& [name, c] : collections_) c->RequestMaintenance();
  return Status::Ok();
}

Status LocalStore::Replay(std::string_view record, LogPosition end) {
  std::string name;
  WriteOp op;
  std::optional<JobTag> job;
  Status s = DecodeWriteOp(record, &name, &op, &job);
  if (!s.ok()) return s;
  const Overloaded replay{
      // A create, drop or restore starts the collection anew: the checkpoint's image of the
      // one before has nothing to say about the records that follow.
      [&](CreateCollectionOp& create) {
        recovered_through_.erase(name);
        collections_[name] = NewCollection(create.config);
        return Status::Ok();
      },
      [&](DropCollectionOp&) {
        recovered_through_.erase(name);
        if (auto it = collections_.find(name); it != collections_.end()) {
          it->second->Cancel();
          collections_.erase(it);
        }
        return Status::Ok();
      },
      [&](RestoreOp& restore) {
        recovered_through_.erase(name);
        return ReplayRestore(name, restore);
      },
      [&](JobsOp& jobs) {
        for (const JobTag& applied : jobs.jobs) jobs_.Applied(applied);
        return Status::Ok();
      },
      // Every other kind is a write to one collection's points. (The lambdas above take
      // non-const references: a const one would lose to this template's exact match.)
      [&](auto& write) {
        auto it = collections_.find(name);
        if (it == collections_.end()) {
          return Status::Internal("the log writes to collection '" + name +
                                  "', which it never created");
        }
        // Held by the checkpoint's image already (its job, too, is in the checkpoint's ledger;
        // marking it again does no harm).
        auto through = recovered_through_.find(name);
        if (through == recovered_through_.end() || through->second < end) {
          it->second->Replay(std::move(write));
        }
        if (job) jobs_.Applied(*job);
        return Status::Ok();
      },
  };
  return std::visit(replay, op);
}

}  // namespace vecmesh::engine
