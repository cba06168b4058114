// LocalStore's snapshot restores (docs/storage.md, "Snapshots"): a restore is one log record.
//
// The snapshot file is first staged in data_dir/restores under a name that records the log
// segment being appended to, then read into a new collection that nobody sees yet (the one it
// replaces keeps serving), and last, under ddl_mu_, the old collection is retired, the restore
// record naming the staged file is logged, and the new collection takes its place. Recovery
// replays that record by building the collection from the same file with the same function
// (LoadSnapshot). So a crash at any point leaves the collection as it was before the restore
// (the record is not in the log) or as the snapshot holds it (it is), never a mix, never
// missing. A checkpoint captures the restored collection like any other; the file is deleted
// with the last log segment that may name it.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <variant>

#include "engine/index/gpu_index.h"
#include "engine/store/local_store.h"

namespace vecmesh::engine {

namespace fs = std::filesystem;

Status LocalStore::Restore(const std::string& source, Stage stage, const std::string& shown_as,
                           const std::string& collection) {
  // Restores are serialised with checkpoints and with each other: the segment in the staged
  // file's name stays the one being appended to until the record is logged, and at most one
  // collection is built beside the one it replaces.
  std::lock_guard one(checkpoint_mu_);
  std::error_code ec;
  if (!fs::is_regular_file(source, ec)) {
    if (fs::exists(source, ec)) return Status::InvalidArgument(shown_as + " is not a file");
    return Status::NotFound(shown_as + " does not exist");
  }
  std::string path = source;
  std::optional<RestoreFile> staged;
  if (durable_) {
    auto file = StageRestoreFile(source, stage);
    if (!file.ok()) return file.status();
    staged = *file;
    path = options_.data_dir + "/" + staged->name;
  }
  // Until the record is logged the staged file is nobody's: a refusal deletes it.
  auto discard = [&] {
    if (staged) fs::remove(path, ec);
  };
  auto restored = LoadSnapshot(path, shown_as, collection, /*as_request=*/true);
  if (!restored.ok()) {
    discard();
    return restored.status();
  }

  std::lock_guard ddl(ddl_mu_);
  std::shared_ptr<Collection> replaced;
  {
    std::shared_lock lock(collections_mu_);
    if (auto it = collections_.find(collection); it != collections_.end()) {
      replaced = it->second;
    } else if (collections_.size() >= options_.limits.max_collections) {
      discard();
      return Status::ResourceExhausted("there are already " + std::to_string(collections_.size()) +
                                       " collections; the limit is " +
                                       std::to_string(options_.limits.max_collections));
    }
  }
  // No write to the old collection may reach the log after the restore record (recovery would
  // apply it to the restored one): retire it first, which waits for the writes in flight.
  if (replaced) {
    replaced->Retire(Status::Unavailable("collection '" + collection +
                                         "' was replaced by a snapshot restore while this write "
                                         "waited; retry it"));
  }
  Status logged = LogOne(collection, RestoreOp{staged ? staged->name : std::string()});
  if (!logged.ok()) {
    if (replaced) replaced->Unretire();
    // The staged file stays: a record whose append failed may still have reached the disk, and
    // recovery would need it. The checkpoint that deletes its segment deletes it.
    return logged;
  }
  {
    std::lock_guard lock(collections_mu_);
    collections_[collection] = *restored;
  }
  // Requests already holding it finish; a build in progress stops at its next check.
  if (replaced) replaced->Cancel();
  (*restored)->RequestMaintenance();
  return Status::Ok();
}

StatusOr<RestoreFile> LocalStore::StageRestoreFile(const std::string& source, Stage stage) {
  const std::string& dir = options_.data_dir;
  const std::string restores = dir + "/" + kRestoresDir;
  std::error_code ec;
  if (fs::create_directories(restores, ec)) {
    Status s = SyncDir(dir);
    if (!s.ok()) return s;
  }
  if (ec) return Status::Unavailable("creating " + restores + " failed: " + ec.message());
  // A sequence number above every file's keeps names unique across restarts (a segment goes on
  // being appended to after one).
  uint64_t seq = 1;
  for (const RestoreFile& file : ListRestoreFiles(dir)) seq = std::max(seq, file.seq + 1);
  const RestoreFile file = MakeRestoreFile(segment_, seq);
  const std::string path = dir + "/" + file.name;

  bool placed = false;
  if (stage == Stage::kMove) {
    placed = std::rename(source.c_str(), path.c_str()) == 0;
  } else if (stage == Stage::kLink) {
    placed = ::link(source.c_str(), path.c_str()) == 0;
  }
  if (!placed) {  // a copy, or another file system
    fs::copy_file(source, path, ec);
    if (ec) {
      fs::remove(path, ec);
      return Status::Unavailable("copying " + source + " to " + path + " failed: " + ec.message());
    }
  }
  // The log record will name the file: its bytes and its name must be durable first. (A file
  // from elsewhere, or an upload, was never synced; for a linked snapshot this costs nothing.)
  Status s = SyncFile(path);
  if (s.ok()) s = SyncDir(restores);
  if (!s.ok()) {
    fs::remove(path, ec);
    return s;
  }
  return file;
}

StatusOr<std::shared_ptr<Collection>> LocalStore::LoadSnapshot(const std::string& path,
                                                               const std::string& shown_as,
                                                               const std::string& collection,
                                                               bool as_request) {
  auto refuse = [&](const std::string& why) { return Status::InvalidArgument(shown_as + why); };
  auto records = ReadStateFile(path);
  if (!records.ok()) {
    if (records.status().code() == StatusCode::kUnavailable) return records.status();  // the disk
    std::string why = records.status().message();
    for (size_t at = 0; (at = why.find(path, at)) != std::string::npos; at += shown_as.size()) {
      why.replace(at, path.size(), shown_as);
    }
    return refuse(" is not a whole vecmesh snapshot: " + why);
  }
  if (records->empty()) return refuse(" holds no collection");
  std::shared_ptr<Collection> restored;
  for (std::string& record : *records) {
    std::string name;
    WriteOp op;
    Status s = DecodeWriteOp(record, &name, &op);
    std::string().swap(record);  // decoded: its bytes are not needed twice
    if (!s.ok()) return refuse(": " + s.message());
    if (!restored) {
      auto* create = std::get_if<CreateCollectionOp>(&op);
      if (!create) return refuse(" is not a snapshot of one collection");
      CollectionConfig config = std::move(create->config);
      config.name = collection;
      if (as_request) {
        auto valid = ValidateCollectionConfig(std::move(config), options_.limits);
        if (!valid.ok()) return valid.status().WithContext(shown_as);
        Status available = CheckIndexTypeAvailable(valid->index.type);
        if (!available.ok()) return available;
        config = std::move(*valid);
      } else {
        // What ValidateCollectionConfig did to it when it was restored, without today's ranges.
        config.index = ResolveIndexDefaults(config.index, config.dimension);
      }
      restored = NewCollection(config);
      continue;
    }
    auto* upsert = std::get_if<UpsertOp>(&op);
    if (!upsert) return refuse(" is not a snapshot of one collection");
    // The dimension is checked however the file is read: the point table copies that many
    // floats from each vector.
    bool fits = !as_request || upsert->points.size() <= options_.limits.max_points_per_upsert;
    for (const Point& p : upsert->points) {
      fits = fits && p.vector.size() == restored->config().dimension;
    }
    if (!fits) return refuse(" holds a malformed batch of points");
    if (as_request) {
      Status valid = restored->ValidatePoints(upsert->points);
      if (!valid.ok()) return valid.WithContext(shown_as);
    }
    // As Upsert stores them: vectors as they are (a snapshot's are already normalised), and an
    // object for a missing payload.
    for (Point& p : upsert->points) {
      if (p.payload.is_null()) p.payload = Payload::object();
    }
    restored->Replay(std::move(op));
  }
  return restored;
}

Status LocalStore::ReplayRestore(const std::string& collection, const RestoreOp& restore) {
  const std::string path = options_.data_dir + "/" + restore.file;
  auto corrupt = [&](const std::string& what) {
    return Status::Internal("the log restores collection '" + collection + "' from " + path +
                            ", which " + what +
                            ". Put the file back, or start with --wal-truncate-corrupt to drop "
                            "the log from this record on");
  };
  // The name must be one a restore gives: a record cannot make recovery read outside restores/.
  if (!ParseRestoreFile(restore.file)) return corrupt("is not a restore file's name");
  std::error_code ec;
  if (!fs::exists(path, ec)) return corrupt("is missing");
  auto restored = LoadSnapshot(path, path, collection, /*as_request=*/false);
  if (!restored.ok()) {
    if (restored.status().code() == StatusCode::kUnavailable) return restored.status();
    return corrupt("is unusable: " + restored.status().message());
  }
  if (auto it = collections_.find(collection); it != collections_.end()) it->second->Cancel();
  collections_[collection] = std::move(*restored);
  return Status::Ok();
}

}  // namespace vecmesh::engine
