#include "engine/store/local_store.h"

#include <cblas-openblas.h>

#include <algorithm>

#include "engine/index/gpu_index.h"

namespace vecmesh::engine {

namespace {}  // namespace

StatusOr<CollectionConfig> ValidateCollectionConfig(CollectionConfig config, const Limits& limits) {
  const std::string& name = config.name;
  if (!IsValidCollectionName(name)) {
    return Status::InvalidArgument("collection name '" + name +
                                   "' is invalid: it must match [A-Za-z0-9_-]{1,64}");
  }
  if (config.dimension < 1 || config.dimension > limits.max_dimension) {
    return Status::InvalidArgument("dimension must be in [1, " +
                                   std::to_string(limits.max_dimension) + "], got " +
                                   std::to_string(config.dimension));
  }
  // The store names are the service's to check; a collection is held by at least one, once each
  // (a snapshot to restore comes from outside: it may list none).
  if (config.backends.empty()) {
    return Status::InvalidArgument("backends must list at least one store");
  }
  for (size_t i = 0; i < config.backends.size(); ++i) {
    const auto& b = config.backends;
    if (b[i].empty() || std::find(b.begin(), b.begin() + i, b[i]) != b.begin() + i) {
      return Status::InvalidArgument("backends[" + std::to_string(i) + "] is '" + b[i] +
                                     "': store names must be non-empty and listed once");
    }
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
        if (!options.logger) options.logger = StderrLogger();
        return options;
      }()),
      jobs_(options_.job_retention) {
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
      // The next start replays the log instead: nothing is lost, recovery takes longer.
      options_.logger("warn", "the checkpoint at shutdown failed", {{"error", s.ToString()}});
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

StatusOr<std::shared_ptr<Collection>> LocalStore::FindFor(const CallOptions& options,
                                                          std::string_view operation,
                                                          const std::string& name) const {
  Status s = options.CheckStart(operation);
  if (!s.ok()) return s;
  return Find(name);
}

Status LocalStore::ValidateCreateCollection(const CallOptions& options,
                                            const CollectionConfig& config) const {
  Status in_time = options.CheckStart("ValidateCreateCollection");
  if (!in_time.ok()) return in_time;
  auto validated = ValidateCollectionConfig(config, options_.limits);
  if (!validated.ok()) return validated.status();
  return CheckIndexTypeAvailable(validated->index.type);
}

StatusOr<bool> LocalStore::CreateCollection(const CallOptions& options,
                                            const CollectionConfig& requested) {
  Status in_time = options.CheckStart("CreateCollection");
  if (!in_time.ok()) return in_time;
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
  Status logged = LogOne(config->name, CreateCollectionOp{*config});
  if (!logged.ok()) return logged;
  auto collection = NewCollection(*config);
  std::lock_guard lock(collections_mu_);
  collections_.emplace(config->name, std::move(collection));
  return true;
}

StatusOr<CollectionInfo> LocalStore::GetCollection(const CallOptions& options,
                                                   const std::string& name) const {
  auto c = FindFor(options, "GetCollection", name);
  if (!c.ok()) return c.status();
  CollectionInfo info = (*c)->Info();
  if (read_only_) info.status = "read_only";
  return info;
}

StatusOr<std::vector<CollectionInfo>> LocalStore::ListCollections(
    const CallOptions& options) const {
  Status in_time = options.CheckStart("ListCollections");
  if (!in_time.ok()) return in_time;
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

Status LocalStore::DropCollection(const CallOptions& options, const std::string& name) {
  Status in_time = options.CheckStart("DropCollection");
  if (!in_time.ok()) return in_time;
  std::lock_guard ddl(ddl_mu_);
  auto found = Find(name);
  if (!found.ok()) return found.status();
  std::shared_ptr<Collection> dropped = *found;
  // No write to it may reach the log after the drop (a later collection of the same name would
  // inherit it at recovery): retire it first, which waits for the writes in flight.
  dropped->Retire(Status::NotFound("collection '" + name + "' not found"));
  Status logged = LogOne(name, DropCollectionOp{});
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

StatusOr<LogPosition> LocalStore::Log(const std::string& collection,
                                      const std::vector<LoggedWrite>& writes) {
  std::vector<std::string> records;
  if (durable_) {
    records.reserve(writes.size());
    for (const LoggedWrite& w : writes) records.push_back(EncodeWriteOp(collection, *w.op, w.job));
  }
  // Shared: a checkpoint switches segments (exclusively) between two appends, never inside one.
  std::shared_lock segment(segment_mu_);
  LogPosition end;
  if (wal_) {
    const auto start = std::chrono::steady_clock::now();
    Status s =
        wal_->Append(std::vector<std::string_view>(records.begin(), records.end()), &end.offset);
    log_latency_.Record(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!s.ok()) {
      read_only_ = true;  // the log never recovers from a failed write or fsync
      return s;
    }
    end.segment = segment_;
  }
  // Under segment_mu_, which a checkpoint takes before it reads the ledger: a checkpoint's
  // ledger holds every job whose record is before the checkpoint's segment.
  for (const LoggedWrite& w : writes) {
    if (w.job != nullptr) jobs_.Applied(*w.job);
  }
  return end;
}

Status LocalStore::LogOne(const std::string& collection, const WriteOp& op) {
  return Log(collection, {{&op}}).status();
}

template <typename Write>
StatusOr<size_t> LocalStore::AsJob(const CallOptions& options, Write write) {
  if (options.job_id.empty()) return write(nullptr);
  auto job = jobs_.Claim(options.job_id);
  if (!job.ok()) return job.status();
  StatusOr<size_t> written = write(&*job);
  jobs_.Release(job->id);
  return written;
}

StatusOr<std::unique_ptr<WalFile>> LocalStore::OpenSegment(const std::string& path) const {
  return options_.open_wal_file ? options_.open_wal_file(path) : OpenPosixWalFile(path);
}

LogPosition LocalStore::LogEnd() const {
  std::lock_guard end(log_end_mu_);
  if (!wal_) return {};
  return {segment_, wal_->durable_bytes()};
}

StatusOr<LogRead> LocalStore::ReadLog(LogPosition from, uint64_t max_bytes) const {
  if (!durable_) return Status::FailedPrecondition("an in-memory store keeps no log to read");
  const LogPosition end = LogEnd();
  if (from.segment == 0) {
    const std::vector<uint64_t> segments = ListSegments(options_.data_dir);
    from = {segments.empty() ? end.segment : segments.front(), 0};
  }
  if (end < from) {
    return Status::InvalidArgument("log position " + std::to_string(from.segment) + ":" +
                                   std::to_string(from.offset) + " is past the log's end");
  }
  LogRead read;
  read.next = from;
  uint64_t bytes = 0;
  while (bytes < max_bytes && read.next < end) {
    const bool last = read.next.segment == end.segment;
    const uint64_t segment = read.next.segment;
    Status s = ReadWalRange(SegmentPath(options_.data_dir, segment), read.next.offset,
                            last ? end.offset : UINT64_MAX, max_bytes - bytes,
                            [&](std::string_view record, uint64_t record_end) {
                              read.records.push_back({std::string(record), {segment, record_end}});
                              read.next = {segment, record_end};
                              bytes += record.size();
                            });
    if (s.code() == StatusCode::kNotFound) {
      return Status::FailedPrecondition("log segment " + std::to_string(segment) +
                                        " is gone: " + s.message());
    }
    if (!s.ok()) return s;
    // The header, read and checked if the read started before it, is behind us.
    read.next.offset = std::max<uint64_t>(read.next.offset, kWalHeaderBytes);
    if (last || bytes >= max_bytes) break;
    read.next = {segment + 1, 0};  // that segment is read whole: it ended at a checkpoint
  }
  return read;
}

void LocalStore::HoldLog(const std::string& holder, std::optional<LogPosition> from) {
  std::lock_guard end(log_end_mu_);
  if (from) {
    log_holds_[holder] = *from;
  } else {
    log_holds_.erase(holder);
  }
}

bool LocalStore::JobApplied(const std::string& id) const { return jobs_.Contains(id); }

StatusOr<std::optional<uint64_t>> LocalStore::MaxIntegerId(const std::string& collection) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->MaxIntegerId();
}

Status LocalStore::ValidateUpsert(const CallOptions& options, const std::string& collection,
                                  const std::vector<Point>& points) const {
  auto c = FindFor(options, "ValidateUpsert", collection);
  if (!c.ok()) return c.status();
  return (*c)->ValidatePoints(points);
}

StatusOr<size_t> LocalStore::Upsert(const CallOptions& options, const std::string& collection,
                                    std::vector<Point> points) {
  auto c = FindFor(options, "Upsert", collection);
  if (!c.ok()) return c.status();
  return AsJob(options,
               [&](const JobTag* job) { return (*c)->Upsert(std::move(points), false, job); });
}

StatusOr<size_t> LocalStore::Delete(const CallOptions& options, const std::string& collection,
                                    const std::vector<PointId>& ids) {
  auto c = FindFor(options, "Delete", collection);
  if (!c.ok()) return c.status();
  return AsJob(options, [&](const JobTag* job) { return (*c)->Delete(ids, job); });
}

StatusOr<size_t> LocalStore::DeleteByFilter(const CallOptions& options,
                                            const std::string& collection, const Filter& filter) {
  auto c = FindFor(options, "DeleteByFilter", collection);
  if (!c.ok()) return c.status();
  return AsJob(options, [&](const JobTag* job) { return (*c)->DeleteByFilter(filter, job); });
}

Status LocalStore::ValidateSetPayload(const CallOptions& options, const std::string& collection,
                                      const Payload& payload) const {
  auto c = FindFor(options, "ValidateSetPayload", collection);
  if (!c.ok()) return c.status();
  return (*c)->ValidateSetPayload(payload);
}

StatusOr<size_t> LocalStore::SetPayload(const CallOptions& options, const std::string& collection,
                                        const std::vector<PointId>& ids, const Payload& payload,
                                        PayloadMode mode) {
  auto c = FindFor(options, "SetPayload", collection);
  if (!c.ok()) return c.status();
  return AsJob(options,
               [&](const JobTag* job) { return (*c)->SetPayload(ids, payload, mode, job); });
}

StatusOr<std::vector<Record>> LocalStore::Get(const CallOptions& options,
                                              const std::string& collection,
                                              const std::vector<PointId>& ids, bool with_payload,
                                              bool with_vector) const {
  auto c = FindFor(options, "Get", collection);
  if (!c.ok()) return c.status();
  return (*c)->Get(ids, with_payload, with_vector);
}

StatusOr<size_t> LocalStore::Count(const CallOptions& options, const std::string& collection,
                                   const Filter* filter) const {
  auto c = FindFor(options, "Count", collection);
  if (!c.ok()) return c.status();
  return (*c)->Count(filter);
}

StatusOr<ScrollPage> LocalStore::Scroll(const CallOptions& options, const std::string& collection,
                                        const ScrollRequest& request) const {
  auto c = FindFor(options, "Scroll", collection);
  if (!c.ok()) return c.status();
  return (*c)->Scroll(request);
}

StatusOr<std::vector<ScoredPoint>> LocalStore::Search(const CallOptions& options,
                                                      const std::string& collection,
                                                      const SearchRequest& request) const {
  auto c = FindFor(options, "Search", collection);
  if (!c.ok()) return c.status();
  auto results = (*c)->Search({request}, "");
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

StatusOr<std::vector<std::vector<ScoredPoint>>> LocalStore::SearchBatch(
    const CallOptions& options, const std::string& collection,
    const std::vector<SearchRequest>& requests) const {
  auto c = FindFor(options, "SearchBatch", collection);
  if (!c.ok()) return c.status();
  return (*c)->Search(requests, "searches");
}

}  // namespace vecmesh::engine
