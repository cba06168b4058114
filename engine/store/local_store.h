// LocalStore: the in-process, FAISS-backed VectorStore. Its code is split by job:
// local_store.cc (the catalog, the points, the background index work), recovery.cc (Open),
// checkpoints.cc, snapshots.cc.
//
// Thread safety: safe for concurrent use by any number of threads (the VectorStore contract).
// Index builds and compactions run on `index_threads` background threads owned by the store;
// the destructor stops them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "engine/collection/collection.h"
#include "engine/latency_histogram.h"
#include "engine/vector_store.h"
#include "engine/storage/wal.h"

namespace vecmesh::engine {

struct SnapshotInfo {
  std::string name;
  uint64_t size_bytes = 0;
  bool operator==(const SnapshotInfo&) const = default;
};

struct LocalStoreOptions {
  Limits limits;
  // Where the write-ahead log lives; empty keeps everything in memory (nothing survives a
  // restart). With a data directory every create, drop and write is durable before it returns.
  std::string data_dir;
  // What recovery does with a corrupt record inside the log (a torn tail is always cut).
  CorruptionPolicy corruption_policy = CorruptionPolicy::kFail;
  // 0 (fsync=always): a write returns once fsynced. Above 0: once written to the log file, with
  // an fsync at least every wal_sync_interval_ms, which bounds what a power loss (not a process
  // crash) can take.
  uint32_t wal_sync_interval_ms = 0;
  // Opens a log segment for appending; null: OpenPosixWalFile. (A seam for fault injection.)
  std::function<StatusOr<std::unique_ptr<WalFile>>(const std::string& path)> open_wal_file;
  // A background checkpoint starts once the log has grown by checkpoint_bytes, or
  // checkpoint_interval_s after the last one if anything was written since; and one is taken
  // at a clean shutdown.
  uint64_t checkpoint_bytes = 64u << 20;
  int checkpoint_interval_s = 300;
  // OpenMP threads one search batch may use; 0 = the number of cores.
  int search_threads = 0;
  // Background threads that build and compact indexes (one collection each at a time).
  int index_threads = 1;
  // OpenMP threads one IVF training uses; 0 = the number of cores. (HNSW graphs are built by
  // one thread: hnswlib 0.6.2's concurrent insertion races.)
  int build_threads = 0;
};

class LocalStore : public VectorStore, private MaintenanceScheduler, private WriteLog {
 public:
  // An in-memory store (options.data_dir is ignored: use Open for a durable one).
  explicit LocalStore(LocalStoreOptions options = {});
  // Opens the store in options.data_dir: creates the directory if needed and replays the
  // write-ahead log (cutting a torn tail). Fails, naming the file and offset, on corruption.
  static StatusOr<std::unique_ptr<LocalStore>> Open(LocalStoreOptions options);
  ~LocalStore() override;

  // What recovery found (Open only): records replayed from the log, and what was cut or
  // skipped (a torn tail, an unusable checkpoint), in `note`.
  const WalRecovery& recovery() const { return recovery_; }
  const LocalStoreOptions& options() const { return options_; }

  // Writes a checkpoint of every collection (data_dir/checkpoint-N.vmc) and drops the log it
  // makes unnecessary. Writers wait while the log is switched and the points are copied;
  // searches never wait. FailedPrecondition for an in-memory store.
  Status Checkpoint();

  // Snapshots (durable stores only): a consistent point-in-time copy of one collection, taken
  // while writes continue (they wait only while its points are copied), in
  // data_dir/snapshots/COLLECTION/NAME.vms (the state-file format of docs/storage.md).
  StatusOr<SnapshotInfo> CreateSnapshot(const std::string& collection);
  StatusOr<std::vector<SnapshotInfo>> ListSnapshots(const std::string& collection) const;
  // The file of a snapshot, for export.
  StatusOr<std::string> SnapshotPath(const std::string& collection,
                                     const std::string& snapshot) const;
  // Restores the snapshot file at `path` (one of ours, or one exported from another node) into
  // `collection`: created with the snapshot's configuration, or replaced if it exists. The
  // restore is logged like any write. A file that is not a whole snapshot changes nothing.
  Status RestoreSnapshot(const std::string& path, const std::string& collection);

  // How long durable log appends took, as writers saw them (write, fsync, and the wait for a
  // group commit), for metrics.
  const LatencyHistogram& log_latency() const { return log_latency_; }

  // The checks an upsert of `points` into `collection` makes (dimension, finite values, ids,
  // payload sizes, no repeated id), without the limit on points per request and without
  // writing: for imports, which are checked whole before their job is queued.
  Status ValidatePoints(const std::string& collection, const std::vector<Point>& points) const;

  // The largest integer id in `collection` (none if it holds no integer id).
  StatusOr<std::optional<uint64_t>> MaxIntegerId(const std::string& collection) const;

  StatusOr<bool> CreateCollection(const CollectionConfig& config) override;
  StatusOr<CollectionInfo> GetCollection(const std::string& name) const override;
  std::vector<CollectionInfo> ListCollections() const override;
  Status DropCollection(const std::string& name) override;

  StatusOr<size_t> Upsert(const std::string& collection, std::vector<Point> points) override;
  StatusOr<size_t> Delete(const std::string& collection, const std::vector<PointId>& ids) override;
  StatusOr<size_t> DeleteByFilter(const std::string& collection, const Filter& filter) override;
  StatusOr<size_t> SetPayload(const std::string& collection, const std::vector<PointId>& ids,
                              const Payload& payload, PayloadMode mode) override;

  StatusOr<std::vector<Record>> Get(const std::string& collection, const std::vector<PointId>& ids,
                                    bool with_payload, bool with_vector) const override;
  StatusOr<size_t> Count(const std::string& collection, const Filter* filter) const override;
  StatusOr<ScrollPage> Scroll(const std::string& collection,
                              const ScrollRequest& request) const override;
  StatusOr<std::vector<std::vector<ScoredPoint>>> SearchBatch(
      const std::string& collection, const std::vector<SearchRequest>& requests) const override;
  // One search; error messages name its fields directly ("k", not "searches[0].k").
  StatusOr<std::vector<ScoredPoint>> Search(const std::string& collection,
                                            const SearchRequest& request) const;

 private:
  void Schedule(std::weak_ptr<Collection> collection) override;
  Status Log(const std::string& collection, const WriteOp& op) override;
  StatusOr<std::unique_ptr<WalFile>> OpenSegment(const std::string& path) const;
  Status Replay(std::string_view record);
  Status Recover();
  Status CheckpointLocked();  // checkpoint_mu_ held
  void RunCheckpointer();
  std::shared_ptr<Collection> NewCollection(const CollectionConfig& config);
  void RunIndexWorker();
  StatusOr<std::shared_ptr<Collection>> Find(const std::string& name) const;

  const LocalStoreOptions options_;

  bool durable_ = false;      // set by Open before the store is shared; read-only after
  std::mutex checkpoint_mu_;  // one checkpoint at a time; guards the members below it
  // null: in memory. Replaced only by a checkpoint, while it holds ddl_mu_ and every
  // collection's write lock, which every reader of it (a writer logging) holds one of.
  std::unique_ptr<Wal> wal_;
  uint64_t segment_ = 0;           // the log segment being appended to
  uint64_t checkpoint_ = 0;        // the newest durable checkpoint (0: none)
  uint64_t checkpoint_bytes_ = 0;  // segment size right after that checkpoint
  std::chrono::steady_clock::time_point checkpoint_time_ = std::chrono::steady_clock::now();
  WalRecovery recovery_;
  // Set when the log failed: every write fails until a restart, and collections say so.
  std::atomic<bool> read_only_{false};
  LatencyHistogram log_latency_;
  std::thread checkpointer_;  // wakes every second, or on stop_cv_ when stopping_

  std::mutex ddl_mu_;  // serialises collection creates and drops (held while they are logged)
  mutable std::shared_mutex collections_mu_;  // guards collections_
  std::map<std::string, std::shared_ptr<Collection>> collections_;

  std::mutex queue_mu_;  // guards queue_ and stopping_
  std::condition_variable queue_cv_;
  std::condition_variable stop_cv_;
  std::deque<std::weak_ptr<Collection>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> index_workers_;
};

// Checks a collection configuration: the name (API.md's [A-Za-z0-9_-]{1,64}), the dimension
// and the index parameters. Fills defaults of the index config first (ResolveIndexDefaults).
// Whether a GPU type can be created here is CheckIndexTypeAvailable's question.
StatusOr<CollectionConfig> ValidateCollectionConfig(CollectionConfig config, const Limits& limits);

}  // namespace vecmesh::engine
