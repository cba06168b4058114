// LocalStore's snapshots (docs/storage.md, "Snapshots"): create, list, export, restore.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/storage/state_file.h"
#include "engine/store/local_store.h"

namespace vecmesh::engine {

namespace fs = std::filesystem;

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
  // Our snapshots are written once, by rename, and never changed: a restore may share their
  // bytes. Any other file may be changed in place by whoever owns it, so it is copied.
  std::error_code dir_ec, file_ec;
  const fs::path snapshots =
      fs::weakly_canonical(fs::path(options_.data_dir) / "snapshots", dir_ec);
  const fs::path file = fs::weakly_canonical(path, file_ec);
  const bool ours = !dir_ec && !file_ec && file.parent_path().parent_path() == snapshots;
  return Restore(path, ours ? Stage::kLink : Stage::kCopy, path, collection);
}

Status LocalStore::RestoreSnapshotBytes(std::string_view file, const std::string& collection) {
  if (!durable_) return Status::FailedPrecondition("an in-memory store keeps no snapshots");
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
  // The restore takes the file (renamed into restores/, or deleted if refused); what is left
  // here is removed all the same.
  Status s = Restore(path.string(), Stage::kMove, "the upload", collection);
  fs::remove(path, ec);
  if (s.code() == StatusCode::kInvalidArgument) {
    return Status::InvalidArgument("the uploaded file is not a vecmesh snapshot: " + s.message());
  }
  return s;
}

}  // namespace vecmesh::engine
