// LocalStore's snapshots (docs/storage.md, "Snapshots"): create, list, export, restore.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <variant>

#include "engine/index/gpu_index.h"
#include "engine/storage/state_file.h"
#include "engine/store/local_store.h"

namespace vecmesh::engine {

namespace {

// [A-Za-z0-9_.-]{1,124}.vms without "..": a file name that cannot leave its directory.
bool ValidSnapshotName(const std::string& name) {
  return name.size() > 4 && name.size() <= 128 && name.ends_with(".vms") &&
         name.find("..") == std::string::npos && std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
         });
}

}  // namespace

StatusOr<SnapshotInfo> LocalStore::CreateSnapshot(const std::string& collection) {
  if (!durable_) return Status::FailedPrecondition("an in-memory store keeps no snapshots");
  auto found = Find(collection);
  if (!found.ok()) return found.status();
  std::vector<CollectionState> state;
  {
    auto frozen = (*found)->BlockWrites();  // the point in time: no write is half in the copy
    state.push_back({(*found)->config(), (*found)->ExportPoints()});
  }
  const std::string dir = options_.data_dir + "/snapshots/" + collection;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Unavailable("creating " + dir + " failed: " + ec.message());
  static std::atomic<uint64_t> sequence{0};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  const std::string name =
      collection + "-" + std::to_string(ms) + "-" + std::to_string(++sequence) + ".vms";
  Status s = WriteStateFile(dir, dir + "/" + name, &state);
  if (!s.ok()) return s;
  return SnapshotInfo{name, std::filesystem::file_size(dir + "/" + name)};
}

StatusOr<std::vector<SnapshotInfo>> LocalStore::ListSnapshots(const std::string& collection) const {
  auto found = Find(collection);
  if (!found.ok()) return found.status();
  std::vector<SnapshotInfo> out;
  const std::string dir = options_.data_dir + "/snapshots/" + collection;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (ValidSnapshotName(name)) out.push_back({name, entry.file_size()});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

StatusOr<std::string> LocalStore::SnapshotPath(const std::string& collection,
                                               const std::string& snapshot) const {
  if (!ValidSnapshotName(snapshot)) {
    return Status::InvalidArgument("snapshot name '" + snapshot +
                                   "' is invalid: it must match [A-Za-z0-9_.-]{1,124}.vms");
  }
  const std::string path = options_.data_dir + "/snapshots/" + collection + "/" + snapshot;
  if (!durable_ || !std::filesystem::exists(path)) {
    return Status::NotFound("snapshot '" + snapshot + "' of collection '" + collection +
                            "' not found");
  }
  return path;
}

Status LocalStore::RestoreSnapshot(const std::string& path, const std::string& collection) {
  // Read and check all of it before changing anything.
  auto records = ReadStateFile(path);
  if (!records.ok()) {
    return Status::InvalidArgument(
        path + " is not a whole vecmesh snapshot: " + records.status().message());
  }
  CollectionConfig config;
  std::vector<std::vector<Point>> batches;
  for (size_t i = 0; i < records->size(); ++i) {
    std::string name;
    WriteOp op;
    Status s = DecodeWriteOp((*records)[i], &name, &op);
    if (!s.ok()) return Status::InvalidArgument(path + ": " + s.message());
    if (i == 0 && std::holds_alternative<CreateCollectionOp>(op)) {
      config = std::get<CreateCollectionOp>(op).config;
    } else if (i > 0 && std::holds_alternative<UpsertOp>(op)) {
      batches.push_back(std::move(std::get<UpsertOp>(op).points));
    } else {
      return Status::InvalidArgument(path + " is not a snapshot of one collection");
    }
  }
  if (records->empty()) return Status::InvalidArgument(path + " holds no collection");
  config.name = collection;
  auto valid = ValidateCollectionConfig(config, options_.limits);
  if (!valid.ok()) return valid.status();
  Status available = CheckIndexTypeAvailable(valid->index.type);  // before anything is dropped
  if (!available.ok()) return available;
  for (const auto& batch : batches) {
    bool fits = batch.size() <= options_.limits.max_points_per_upsert;
    for (const Point& p : batch) fits = fits && p.vector.size() == config.dimension;
    if (!fits) return Status::InvalidArgument(path + " holds a malformed batch of points");
  }

  if (Find(collection).ok()) {
    Status dropped = DropCollection(CallOptions{}, collection);
    if (!dropped.ok()) return dropped;
  }
  auto created = CreateCollection(CallOptions{}, *valid);
  if (!created.ok()) return created.status();
  auto target = Find(collection);
  if (!target.ok()) return target.status();
  for (auto& batch : batches) {
    auto upserted = (*target)->Upsert(std::move(batch), /*normalized=*/true);
    if (!upserted.ok()) return upserted.status();
  }
  return Status::Ok();
}

Status LocalStore::RestoreSnapshotBytes(std::string_view file, const std::string& collection) {
  if (!durable_) return Status::FailedPrecondition("an in-memory store keeps no snapshots");
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(options_.data_dir) / "snapshots" / "uploads";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::Unavailable("creating " + dir.string() + " failed: " + ec.message());
  static thread_local std::mt19937_64 random{std::random_device{}()};
  const fs::path path = dir / ("upload-" + std::to_string(random()) + ".vms");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(file.data(), static_cast<std::streamsize>(file.size()));
    out.close();
    if (!out) {
      fs::remove(path, ec);
      return Status::Unavailable("writing the uploaded snapshot to " + path.string() + " failed");
    }
  }
  Status s = RestoreSnapshot(path.string(), collection);
  fs::remove(path, ec);
  if (s.code() == StatusCode::kInvalidArgument) {
    // RestoreSnapshot names the file; the caller knows it only as "the upload".
    std::string reason = s.message();
    for (size_t at; (at = reason.find(path.string())) != std::string::npos;) {
      reason.replace(at, path.string().size(), "the upload");
    }
    return Status::InvalidArgument("the uploaded file is not a vecmesh snapshot: " + reason);
  }
  return s;
}

}  // namespace vecmesh::engine
