// LocalStore: the in-process, FAISS-backed VectorStore, and the LocalAdmin of its snapshots and
// checkpoints. Its code is split by job: local_store.cc (the catalog, the points, the background
// index work), recovery.cc (Open), checkpoints.cc, snapshots.cc, restores.cc (restoring a
// snapshot as one logged operation).
//
// Thread safety: safe for concurrent use by any number of threads (the VectorStore contract).
// Deadlines: a call is refused when its deadline has passed before it starts; once started,
// its work (in memory, or the log's fsync) is not interrupted.
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
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <thread>

#include "engine/collection/collection.h"
#include "engine/latency_histogram.h"
#include "engine/local_admin.h"
#include "engine/logger.h"
#include "engine/rw_lock.h"
#include "engine/storage/state_file.h"
#include "engine/storage/wal.h"
#include "engine/store/job_ledger.h"
#include "engine/vector_store.h"

namespace vecmesh::engine {

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
  // Threads one index build uses (an HNSW graph's linking, an IVF index's OpenMP training);
  // 0 = the number of cores.
  int build_threads = 0;
  // How long the ids of applied jobs are remembered (a write with CallOptions::job_id is applied
  // at most once in effect within it).
  std::chrono::seconds job_retention{7 * 24 * 3600};
  // Where the store and its collections report what no caller waits to hear (a failed
  // background index build or checkpoint, a saved index unusable on recovery, a GPU search
  // answered exactly); empty: StderrLogger(). The daemon passes its JSON-lines log.
  // engine/logger.h says what it must bear.
  Logger logger;
};

class LocalStore : public VectorStore,
                   public LocalAdmin,
                   private MaintenanceScheduler,
                   private WriteLog {
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

  Status ValidateCreateCollection(const CallOptions& options,
                                  const CollectionConfig& config) const override;
  StatusOr<bool> CreateCollection(const CallOptions& options,
                                  const CollectionConfig& config) override;
  StatusOr<CollectionInfo> GetCollection(const CallOptions& options,
                                         const std::string& name) const override;
  StatusOr<std::vector<CollectionInfo>> ListCollections(const CallOptions& options) const override;
  Status DropCollection(const CallOptions& options, const std::string& name) override;

  Status ValidateUpsert(const CallOptions& options, const std::string& collection,
                        const std::vector<Point>& points) const override;
  StatusOr<size_t> Upsert(const CallOptions& options, const std::string& collection,
                          std::vector<Point> points) override;
  StatusOr<size_t> Delete(const CallOptions& options, const std::string& collection,
                          const std::vector<PointId>& ids) override;
  StatusOr<size_t> DeleteByFilter(const CallOptions& options, const std::string& collection,
                                  const Filter& filter) override;
  Status ValidateSetPayload(const CallOptions& options, const std::string& collection,
                            const Payload& payload) const override;
  StatusOr<size_t> SetPayload(const CallOptions& options, const std::string& collection,
                              const std::vector<PointId>& ids, const Payload& payload,
                              PayloadMode mode) override;

  StatusOr<std::vector<Record>> Get(const CallOptions& options, const std::string& collection,
                                    const std::vector<PointId>& ids, bool with_payload,
                                    bool with_vector) const override;
  StatusOr<size_t> Count(const CallOptions& options, const std::string& collection,
                         const Filter* filter) const override;
  StatusOr<ScrollPage> Scroll(const CallOptions& options, const std::string& collection,
                              const ScrollRequest& request) const override;
  StatusOr<std::vector<ScoredPoint>> Search(const CallOptions& options,
                                            const std::string& collection,
                                            const SearchRequest& request) const override;
  StatusOr<std::vector<std::vector<ScoredPoint>>> SearchBatch(
      const CallOptions& options, const std::string& collection,
      const std::vector<SearchRequest>& requests) const override;

  StatusOr<SnapshotInfo> CreateSnapshot(const std::string& collection) override;
  StatusOr<std::vector<SnapshotInfo>> ListSnapshots(const std::string& collection) const override;
  StatusOr<std::string> SnapshotPath(const std::string& collection,
                                     const std::string& snapshot) const override;
  Status RestoreSnapshot(const std::string& path, const std::string& collection) override;
  Status RestoreSnapshotBytes(std::string_view file, const std::string& collection) override;
  Status Checkpoint() override;
  LatencyHistogram::Counts LogLatency() const override { return log_latency_.Read(); }
  StatusOr<std::optional<uint64_t>> MaxIntegerId(const std::string& collection) const override;
  LogPosition LogEnd() const override;
  StatusOr<LogRead> ReadLog(LogPosition from, uint64_t max_bytes) const override;
  void HoldLog(const std::string& holder, std::optional<LogPosition> from) override;
  bool JobApplied(const std::string& id) const override;

 private:
  void Schedule(std::weak_ptr<Collection> collection) override;
  StatusOr<LogPosition> Log(const std::string& collection,
                            const std::vector<LoggedWrite>& writes) override;
  // Log of one operation of the store's own (a create, a drop, a restore: no job).
  Status LogOne(const std::string& collection, const WriteOp& op);
  // Runs `write` (given the job's tag, or null) as the job options.job_id names, if any: once in
  // effect (JobLedger).
  template <typename Write>
  StatusOr<size_t> AsJob(const CallOptions& options, Write write);
  StatusOr<std::unique_ptr<WalFile>> OpenSegment(const std::string& path) const;
  // Applies a record recovered from a checkpoint (`end` {}) or from the log (`end`: where it
  // ends), skipping a write that the checkpoint's image of its collection already holds.
  Status Replay(std::string_view record, LogPosition end = {});
  Status Recover();
  // How a restore puts the snapshot file it reads into data_dir/restores (restores.cc).
  enum class Stage {
    kMove,  // the file is ours to take (an upload): renamed
    kLink,  // never changed in place (one of our snapshots): hard-linked, or copied
    kCopy,  // someone else's, who may change it later: copied
  };
  // Restores `collection` from the snapshot file `source` (named `shown_as` in errors): staged
  // into restores/ (durable stores), built beside the collection it replaces, and swapped in
  // with one log record. Takes checkpoint_mu_, then ddl_mu_.
  Status Restore(const std::string& source, Stage stage, const std::string& shown_as,
                 const std::string& collection);
  // checkpoint_mu_ held: it keeps segment_, which the file's name records, current.
  StatusOr<RestoreFile> StageRestoreFile(const std::string& source, Stage stage);
  // Builds `collection` as the snapshot file at `path` (named `shown_as` in errors) holds it,
  // without logging: the one way a restore, live or replayed, makes its collection.
  // `as_request`: the file is checked as a request would be (configuration, limits, points);
  // else only its format is, as for any record replayed (docs/storage.md).
  StatusOr<std::shared_ptr<Collection>> LoadSnapshot(const std::string& path,
                                                     const std::string& shown_as,
                                                     const std::string& collection,
                                                     bool as_request);
  Status ReplayRestore(const std::string& collection, const RestoreOp& restore);  // recovery
  Status CheckpointLocked();  // checkpoint_mu_ held
  // Appends each of `all` to a checkpoint: its create record, its image, where the image stands.
  Status ExportCollections(const std::vector<std::shared_ptr<Collection>>& all,
                           StateFileWriter& writer);
  void RunCheckpointer();
  std::shared_ptr<Collection> NewCollection(const CollectionConfig& config);
  void RunIndexWorker();
  StatusOr<std::shared_ptr<Collection>> Find(const std::string& name) const;
  // Find, for a VectorStore call: DeadlineExceeded naming `operation` if the deadline passed.
  StatusOr<std::shared_ptr<Collection>> FindFor(const CallOptions& options,
                                                std::string_view operation,
                                                const std::string& name) const;

  const LocalStoreOptions options_;

  bool durable_ = false;  // set by Open before the store is shared; read-only after
  // One checkpoint or restore at a time; guards the members below it. A restore holds it from
  // naming its file after segment_ until its record is logged in that segment.
  std::mutex checkpoint_mu_;
  // Held shared by every append to wal_ (Log), exclusively by a checkpoint while it replaces
  // wal_ and segment_: a pointer swap, once the appends in flight are done (new appends wait
  // microseconds with fsync every interval, at most one fsync with fsync=always).
  // Writer-preferring, so that a stream of appends cannot hold a checkpoint off.
  RwLock segment_mu_;
  // null: in memory. Replaced only by a checkpoint, while it holds ddl_mu_, segment_mu_
  // (exclusively) and log_end_mu_, which LogEnd and ReadLog hold.
  std::unique_ptr<Wal> wal_;
  uint64_t segment_ = 0;           // the log segment being appended to
  uint64_t checkpoint_ = 0;        // the newest durable checkpoint (0: none)
  uint64_t checkpoint_bytes_ = 0;  // segment size right after that checkpoint
  std::chrono::steady_clock::time_point checkpoint_time_ = std::chrono::steady_clock::now();
  WalRecovery recovery_;
  // Recovery only: per collection, where the loaded checkpoint's image of it stands in the log
  // (AppliedThrough); its records up to there are skipped.
  std::map<std::string, LogPosition> recovered_through_;
  // Guards log_holds_, and the replacement of wal_ and segment_ (see wal_).
  mutable std::mutex log_end_mu_;
  std::map<std::string, LogPosition> log_holds_;  // HoldLog's, by holder
  // Set when the log failed: every write fails until a restart, and collections say so.
  std::atomic<bool> read_only_{false};
  LatencyHistogram log_latency_;
  JobLedger jobs_;
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
