#include "engine/store/local_store.h"

#include <cblas-openblas.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <variant>

#include "engine/index/gpu_index.h"

namespace vecmesh::engine {

StatusOr<CollectionConfig> ValidateCollectionConfig(CollectionConfig config, const Limits& limits) {
  const std::string& name = config.name;
  bool name_ok =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
      });
  if (!name_ok) {
    return Status::InvalidArgument("collection name '" + name +
                                   "' is invalid: it must match [A-Za-z0-9_-]{1,64}");
  }
  if (config.dimension < 1 || config.dimension > limits.max_dimension) {
    return Status::InvalidArgument("dimension must be in [1, " +
                                   std::to_string(limits.max_dimension) + "], got " +
                                   std::to_string(config.dimension));
  }
  config.index = ResolveIndexDefaults(config.index, config.dimension);
  Status s = ValidateIndexConfig(config.index, config.dimension);
  if (!s.ok()) return s;
  return config;
}

LocalStore::LocalStore(LocalStoreOptions options)
    : options_([&] {
        if (options.search_threads <= 0) {
          options.search_threads = std::max(1u, std::thread::hardware_concurrency());
        }
        if (options.build_threads <= 0) {
          options.build_threads = std::max(1u, std::thread::hardware_concurrency());
        }
        options.index_threads = std::max(1, options.index_threads);
        return options;
      }()) {
  // Parallelism comes from our own OpenMP loops over queries; a multi-threaded sgemm inside
  // them would oversubscribe the cores.
  openblas_set_num_threads(1);
  (void)CheckIndexTypeAvailable(IndexType::kGpuFlat);  // looks for GPUs now, under no lock
  for (int i = 0; i < options_.index_threads; ++i) {
    index_workers_.emplace_back([this] { RunIndexWorker(); });
  }
}

LocalStore::~LocalStore() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  stop_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  std::vector<std::shared_ptr<Collection>> all;
  {
    std::lock_guard lock(collections_mu_);
    for (auto& [name, collection] : collections_) all.push_back(collection);
  }
  for (const auto& c : all) c->Cancel();  // index builds stop at their next check
  if (wal_) {
    // A clean shutdown leaves a checkpoint, so the next start replays little.
    Status s = Checkpoint();
    if (!s.ok()) {
      std::fprintf(stderr, "vecmesh: checkpoint at shutdown failed: %s\n", s.ToString().c_str());
    }
  }
  for (std::thread& t : index_workers_) t.join();
}

void LocalStore::Schedule(std::weak_ptr<Collection> collection) {
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(std::move(collection));
  }
  queue_cv_.notify_one();
}

void LocalStore::RunIndexWorker() {
  for (;;) {
    std::weak_ptr<Collection> next;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    // A dropped collection has expired (or was cancelled): its work is simply skipped.
    if (auto collection = next.lock(); collection && collection->MaintainIndex()) {
      Schedule(collection);
    }
  }
}

StatusOr<std::shared_ptr<Collection>> LocalStore::Find(const std::string& name) const {
  std::shared_lock lock(collections_mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) return Status::NotFound("collection '" + name + "' not found");
  return it->second;
}

std::shared_ptr<Collection> LocalStore::NewCollection(const CollectionConfig& config) {
  MaintenanceScheduler* scheduler = this;
  WriteLog* log = this;
  return std::make_shared<Collection>(config, options_.limits, options_.search_threads,
                                      options_.build_threads, scheduler, log, options_.logger);
}

StatusOr<bool> LocalStore::CreateCollection(const CollectionConfig& requested) {
  auto config = ValidateCollectionConfig(requested, options_.limits);
  if (!config.ok()) return config.status();
  std::lock_guard ddl(ddl_mu_);
  {
    std::shared_lock lock(collections_mu_);
    if (auto it = collections_.find(config->name); it != collections_.end()) {
      if (it->second->config() == *config) return false;
      return Status::AlreadyExists("collection '" + config->name +
                                   "' already exists with another configuration");
    }
    // After the check above: a GPU collection recovered where there is no GPU still exists.
    Status available = CheckIndexTypeAvailable(config->index.type);
    if (!available.ok()) return available;
    if (collections_.size() >= options_.limits.max_collections) {
      return Status::ResourceExhausted("there are already " + std::to_string(collections_.size()) +
                                       " collections; the limit is " +
                                       std::to_string(options_.limits.max_collections));
    }
  }
  Status logged = Log(config->name, CreateCollectionOp{*config});
  if (!logged.ok()) return logged;
  auto collection = NewCollection(*config);
  std::lock_guard lock(collections_mu_);
  collections_.emplace(config->name, std::move(collection));
  return true;
}

StatusOr<CollectionInfo> LocalStore::GetCollection(const std::string& name) const {
  auto c = Find(name);
  if (!c.ok()) return c.status();
  CollectionInfo info = (*c)->Info();
  if (read_only_) info.status = "read_only";
  return info;
}

std::vector<CollectionInfo> LocalStore::ListCollections() const {
  std::vector<std::shared_ptr<Collection>> all;
  {
    std::shared_lock lock(collections_mu_);
    for (const auto& [name, c] : collections_) all.push_back(c);
  }
  std::vector<CollectionInfo> out;
  for (const auto& c : all) {
    out.push_back(c->Info());
    if (read_only_) out.back().status = "read_only";
  }
  return out;
}

Status LocalStore::DropCollection(const std::string& name) {
  std::lock_guard ddl(ddl_mu_);
  auto found = Find(name);
  if (!found.ok()) return found.status();
  std::shared_ptr<Collection> dropped = *found;
  // No write to it may reach the log after the drop (a later collection of the same name would
  // inherit it at recovery): retire it first, which waits for the writes in flight.
  dropped->Retire();
  Status logged = Log(name, DropCollectionOp{});
  if (!logged.ok()) {
    dropped->Unretire();
    return logged;
  }
  {
    std::lock_guard lock(collections_mu_);
    collections_.erase(name);
  }
  // Requests already holding it finish; a build in progress stops at its next check.
  dropped->Cancel();
  return Status::Ok();
}

Status LocalStore::Log(const std::string& collection, const WriteOp& op) {
  if (!wal_) return Status::Ok();
  const std::string record = EncodeWriteOp(collection, op);
  const auto start = std::chrono::steady_clock::now();
  Status s = wal_->Append(record);
  log_latency_.Record(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (!s.ok()) read_only_ = true;  // the log never recovers from a failed write or fsync
  return s;
}

StatusOr<std::unique_ptr<WalFile>> LocalStore::OpenSegment(const std::string& path) const {
  return options_.open_wal_file ? options_.open_wal_file(path) : OpenPosixWalFile(path);
}

Status LocalStore::Replay(std::string_view record) {
  std::string name;
  WriteOp op;
  Status s = DecodeWriteOp(record, &name, &op);
  if (!s.ok()) return s;
  if (auto* create = std::get_if<CreateCollectionOp>(&op)) {
    collections_[name] = NewCollection(create->config);
  } else if (std::holds_alternative<DropCollectionOp>(op)) {
    if (auto it = collections_.find(name); it != collections_.end()) {
      it->second->Cancel();
      collections_.erase(it);
    }
  } else {
    auto it = collections_.find(name);
    if (it == collections_.end()) {
      return Status::Internal("the log writes to collection '" + name +
                              "', which it never created");
    }
    it->second->Replay(std::move(op));
  }
  return Status::Ok();
}

namespace {

constexpr char kEndOfState = '\xFF';  // first byte of a state file's last record
constexpr size_t kStatePointsPerRecord = 1000;
constexpr size_t kIndexPartBytes = 64u << 20;

// One collection as a state file holds it: a snapshot's live points, or a checkpoint's image.
struct CollectionState {
  CollectionConfig config;
  std::variant<std::vector<Point>, CollectionImage> content;
};

std::string Numbered(const std::string& dir, const char* prefix, uint64_t n, const char* ext) {
  char name[64];
  std::snprintf(name, sizeof name, "%s%08llu%s", prefix, static_cast<unsigned long long>(n), ext);
  return dir + "/" + name;
}
std::string SegmentPath(const std::string& dir, uint64_t n) {
  return Numbered(dir, "wal-", n, ".log");
}
std::string CheckpointPath(const std::string& dir, uint64_t n) {
  return Numbered(dir, "checkpoint-", n, ".vmc");
}

// The numbers N of the files named PREFIX + 8 digits + EXT in dir, ascending.
std::vector<uint64_t> ListNumbered(const std::string& dir, const std::string& prefix,
                                   const std::string& ext) {
  std::vector<uint64_t> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == prefix.size() + 8 + ext.size() && name.starts_with(prefix) &&
        name.ends_with(ext)) {
      const std::string digits = name.substr(prefix.size(), 8);
      if (std::all_of(digits.begin(), digits.end(), ::isdigit)) out.push_back(std::stoull(digits));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("open of data directory " + dir + " failed");
  const int synced = ::fsync(fd);
  ::close(fd);
  if (synced != 0) return Status::Unavailable("fsync of data directory " + dir + " failed");
  return Status::Ok();
}

// Writes `state` as a state file (a checkpoint or a snapshot: a log of a create record per
// collection followed by its points or its image, closed by an end record) beside `path`, syncs
// it and renames it into place, so a crash leaves the old file or the new one, never half of one.
Status WriteStateFile(const std::string& dir, const std::string& path,
                      std::vector<CollectionState>* state) {
  const std::string temp = path + ".tmp";
  std::filesystem::remove(temp);
  auto file = OpenPosixWalFile(temp);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(WalHeader());
  uint64_t records = 0;
  auto append = [&](const std::string& collection, const WriteOp& op) {
    if (s.ok()) s = (*file)->Append(FrameWalRecord(EncodeWriteOp(collection, op)));
    ++records;
  };
  for (auto& [config, content] : *state) {
    append(config.name, CreateCollectionOp{config});
    if (auto* points = std::get_if<std::vector<Point>>(&content)) {
      for (size_t begin = 0; s.ok() && begin < points->size(); begin += kStatePointsPerRecord) {
        UpsertOp chunk;
        const size_t end = std::min(points->size(), begin + kStatePointsPerRecord);
        chunk.points.assign(std::make_move_iterator(points->begin() + begin),
                            std::make_move_iterator(points->begin() + end));
        append(config.name, chunk);
      }
      continue;
    }
    auto& image = std::get<CollectionImage>(content);
    for (size_t begin = 0; s.ok() && begin < image.slots.size(); begin += kStatePointsPerRecord) {
      SlotsOp chunk;
      const size_t end = std::min(image.slots.size(), begin + kStatePointsPerRecord);
      chunk.slots.assign(std::make_move_iterator(image.slots.begin() + begin),
                         std::make_move_iterator(image.slots.begin() + end));
      append(config.name, chunk);
    }
    for (size_t begin = 0; s.ok() && begin < image.index.size(); begin += kIndexPartBytes) {
      append(config.name, IndexPartOp{image.indexed_slots, image.index.size(),
                                      image.index.substr(begin, kIndexPartBytes)});
    }
  }
  std::string end(1, kEndOfState);
  end.append(reinterpret_cast<const char*>(&records), sizeof records);
  if (s.ok()) s = (*file)->Append(FrameWalRecord(end));
  if (s.ok()) s = (*file)->Sync();
  file->reset();
  if (s.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    s = Status::Unavailable("rename of " + temp + " failed: " + std::strerror(errno));
  }
  if (s.ok()) s = SyncDir(dir);
  if (!s.ok()) std::filesystem::remove(temp);
  return s;
}

// The records of a state file, end record checked and dropped; "" + why it is unusable if not.
StatusOr<std::vector<std::string>> ReadStateFile(const std::string& path) {
  std::vector<std::string> records;
  auto read = RecoverWal(path, CorruptionPolicy::kFail, [&](std::string_view r) {
    records.emplace_back(r);
    return Status::Ok();
  });
  if (!read.ok()) return read.status();
  if (!read->note.empty() || records.empty() || records.back().size() != 9 ||
      records.back()[0] != kEndOfState) {
    return Status::Internal(path + " ends before its end record");
  }
  records.pop_back();
  return records;
}

}  // namespace

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
  const std::vector<uint64_t> segments = ListNumbered(dir, "wal-", ".log");
  const std::vector<uint64_t> checkpoints = ListNumbered(dir, "checkpoint-", ".vmc");
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
    if (problem.empty()) {
      for (const std::string& r : *records) {
        Status s = Replay(r);
        if (!s.ok()) {
          problem = s.message();
          break;
        }
      }
    }
    if (problem.empty()) {
      base = *it;
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
        RecoverWal(path, options_.corruption_policy, [&](std::string_view r) { return Replay(r); });
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

Status LocalStore::Checkpoint() {
  std::lock_guard one(checkpoint_mu_);
  return CheckpointLocked();
}

Status LocalStore::CheckpointLocked() {
  if (!wal_) return Status::FailedPrecondition("an in-memory store has no checkpoints");
  const std::string& dir = options_.data_dir;
  const uint64_t next = segment_ + 1;
  std::vector<CollectionState> state;
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
    wal_ = std::move(*wal);
    segment_ = next;
    for (const auto& c : all) state.push_back({c->config(), c->ExportImage()});
  }
  checkpoint_bytes_ = wal_->durable_bytes();
  checkpoint_time_ = std::chrono::steady_clock::now();

  Status s = WriteStateFile(dir, CheckpointPath(dir, next), &state);
  if (!s.ok()) return s;

  // Keep the previous checkpoint (or, after the first, the log from its start) and the log
  // from it on, as the fallback should this one be lost; everything older goes.
  const uint64_t keep_from = checkpoint_ == 0 ? 1 : checkpoint_;
  checkpoint_ = next;
  for (uint64_t n : ListNumbered(dir, "checkpoint-", ".vmc")) {
    if (n < keep_from) std::filesystem::remove(CheckpointPath(dir, n));
  }
  for (uint64_t n : ListNumbered(dir, "wal-", ".log")) {
    if (n < keep_from) std::filesystem::remove(SegmentPath(dir, n));
  }
  return SyncDir(dir);
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
        if (!s.ok()) std::fprintf(stderr, "vecmesh: checkpoint failed: %s\n", s.ToString().c_str());
      }
    }
    lock.lock();
  }
}

namespace {

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
    Status dropped = DropCollection(collection);
    if (!dropped.ok()) return dropped;
  }
  auto created = CreateCollection(*valid);
  if (!created.ok()) return created.status();
  auto target = Find(collection);
  if (!target.ok()) return target.status();
  for (auto& batch : batches) {
    auto upserted = (*target)->Upsert(std::move(batch), /*normalized=*/true);
    if (!upserted.ok()) return upserted.status();
  }
  return Status::Ok();
}

StatusOr<std::optional<uint64_t>> LocalStore::MaxIntegerId(const std::string& collection) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->MaxIntegerId();
}

Status LocalStore::ValidatePoints(const std::string& collection,
                                  const std::vector<Point>& points) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->ValidatePoints(points);
}

StatusOr<size_t> LocalStore::Upsert(const std::string& collection, std::vector<Point> points) {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Upsert(std::move(points));
}

StatusOr<size_t> LocalStore::Delete(const std::string& collection,
                                    const std::vector<PointId>& ids) {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Delete(ids);
}

StatusOr<size_t> LocalStore::DeleteByFilter(const std::string& collection, const Filter& filter) {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->DeleteByFilter(filter);
}

StatusOr<size_t> LocalStore::SetPayload(const std::string& collection,
                                        const std::vector<PointId>& ids, const Payload& payload,
                                        PayloadMode mode) {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->SetPayload(ids, payload, mode);
}

StatusOr<std::vector<Record>> LocalStore::Get(const std::string& collection,
                                              const std::vector<PointId>& ids, bool with_payload,
                                              bool with_vector) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Get(ids, with_payload, with_vector);
}

StatusOr<size_t> LocalStore::Count(const std::string& collection, const Filter* filter) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Count(filter);
}

StatusOr<ScrollPage> LocalStore::Scroll(const std::string& collection,
                                        const ScrollRequest& request) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Scroll(request);
}

StatusOr<std::vector<std::vector<ScoredPoint>>> LocalStore::SearchBatch(
    const std::string& collection, const std::vector<SearchRequest>& requests) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Search(requests, "searches");
}

StatusOr<std::vector<ScoredPoint>> LocalStore::Search(const std::string& collection,
                                                      const SearchRequest& request) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  auto results = (*c)->Search({request}, "");
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

}  // namespace vecmesh::engine
