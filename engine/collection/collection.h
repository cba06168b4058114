// One collection of the LocalStore: its points (PointTable), its approximate index, and the
// background work that keeps the index up to date. Implemented by job: collection.cc
// (construction, Info), validation.cc, writes.cc, reads.cc, search_planner.cc and
// index_maintenance.cc.
//
// Thread safety: every public method is safe for concurrent use. Writers queue in the
// collection's writer queue (modelled on LevelDB's): the one at the front takes write_mu_, logs
// the writes queued behind it as one group (one fsync), and applies them in that order under the
// exclusive side of mu_, which it holds only for the in-memory updates. A write that reads the
// table to know what it changes (a filter delete, a merge of payloads) is a group of its own.
// Each writer returns once its write is applied. Searches hold the shared side of mu_ and never
// wait for an index build: builds run on the store's background worker over a copy of the vectors
// and are swapped in with a pointer exchange. The only waits a search sees are those exclusive
// sections (a batch append, or at most AnnIndex::AddBatchSize() index insertions). A checkpoint's
// export (ExportImage) holds writers off only while it notes where the collection stands.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/index/ann_index.h"
#include "engine/local_admin.h"
#include "engine/logger.h"
#include "engine/rw_lock.h"
#include "engine/segment/point_table.h"
#include "engine/status.h"
#include "engine/storage/write_ops.h"
#include "engine/types.h"

namespace vecmesh::engine {

class Collection;

// One write to log: the operation, and the job it is a write of (null: none).
struct LoggedWrite {
  const WriteOp* op;
  const JobTag* job = nullptr;
};

// Where a durable store logs each write before it is applied (the write-ahead log).
class WriteLog {
 public:
  virtual ~WriteLog() = default;
  // Returns once `writes` on `collection` (a record each, in this order) are durable, together
  // (one fsync), with the log position where the last of them ends; or an error (then none of
  // them may be applied).
  virtual StatusOr<LogPosition> Log(const std::string& collection,
                                    const std::vector<LoggedWrite>& writes) = 0;
};

// Runs Collection::MaintainIndex on a background thread, soon after Schedule.
class MaintenanceScheduler {
 public:
  virtual ~MaintenanceScheduler() = default;
  virtual void Schedule(std::weak_ptr<Collection> collection) = 0;
};

class Collection : public std::enable_shared_from_this<Collection> {
 public:
  // `config` must be valid (LocalStore validates it). `search_threads` bounds the OpenMP threads
  // one search batch uses; `build_threads` the threads of one index build.
  // `log` may be null (an in-memory store). What no caller waits to hear (a failed background
  // build, an unusable saved index) goes to `logger`, and to the indexes it builds; empty:
  // StderrLogger().
  Collection(CollectionConfig config, const Limits& limits, int search_threads, int build_threads,
             MaintenanceScheduler* scheduler, WriteLog* log, Logger logger);

  const CollectionConfig& config() const { return config_; }
  CollectionInfo Info() const;

  // `normalized`: the vectors come from a snapshot of a cosine collection, already normalised
  // (normalising again could change their last bits).
  // Writes. `job`, when not null, is logged with the write (the job it belongs to).
  StatusOr<size_t> Upsert(std::vector<Point> points, bool normalized = false,
                          const JobTag* job = nullptr);
  // Upsert's checks of every point and of repeated ids, without the limit on their number.
  Status ValidatePoints(const std::vector<Point>& points) const;
  // SetPayload's checks of its payload: an object, within the size limit.
  Status ValidateSetPayload(const Payload& payload) const;
  StatusOr<size_t> Delete(const std::vector<PointId>& ids, const JobTag* job = nullptr);
  StatusOr<size_t> DeleteByFilter(const Filter& filter, const JobTag* job = nullptr);
  StatusOr<size_t> SetPayload(const std::vector<PointId>& ids, const Payload& payload,
                              PayloadMode mode, const JobTag* job = nullptr);

  StatusOr<std::vector<Record>> Get(const std::vector<PointId>& ids, bool with_payload,
                                    bool with_vector) const;
  StatusOr<size_t> Count(const Filter* filter) const;
  std::optional<uint64_t> MaxIntegerId() const;
  StatusOr<ScrollPage> Scroll(const ScrollRequest& request) const;
  // Error messages name fields as "<list>[i].field" when `list` is given ("searches"), else
  // as "field".
  StatusOr<std::vector<std::vector<ScoredPoint>>> Search(const std::vector<SearchRequest>& requests,
                                                         std::string_view list) const;

  // Does one step of pending index work (a build, a compaction, or adding a batch of new points
  // to the index). Returns true if more work remains. Called by the scheduler only.
  bool MaintainIndex();
  // Stops background work for good (the collection is being dropped).
  void Cancel();
  // Refuses every later write with `refusal` once in-flight ones are done (a drop: NotFound, as
  // if already dropped; a restore that replaces it: Unavailable, to retry on the collection
  // restored); Unretire undoes it if the drop or restore could not be logged.
  void Retire(Status refusal);
  void Unretire();
  // Holds off every write (and index catch-up) until the returned lock is released.
  [[nodiscard]] std::unique_lock<std::mutex> BlockWrites();
  // The live points as stored (cosine vectors normalised), in id order.
  std::vector<Point> ExportPoints() const;
  // A checkpoint's image of the collection as of one moment between two of its writes: every
  // slot, in order, in slots records of up to kSlotsPerImageRecord, then its index (saved as of
  // the same moment) in index-part records of up to kIndexPartBytes, each passed to `append` as
  // it is read; an error from `append` stops the export and is returned. Writers wait only while
  // the moment is noted (microseconds), and then at most while kSlotsPerLock slots are copied;
  // index maintenance waits for the whole export. Returns where that moment stands in the log:
  // the end of the last of the collection's records the image holds ({} if none since the
  // store opened). An index that cannot be saved is left out (and logged), to be rebuilt after a
  // restart.
  StatusOr<LogPosition> ExportImage(const std::function<Status(WriteOp)>& append);
  static constexpr size_t kSlotsPerImageRecord = 1000;
  static constexpr uint32_t kSlotsPerLock = 100;
  static constexpr size_t kIndexPartBytes = 64u << 20;
  // Applies a recovered record (no validation, no logging). A saved index that turns out
  // unusable is logged and left to be rebuilt.
  void Replay(WriteOp op);
  // Schedules index work if there is any (after a write, or once recovery is done).
  void RequestMaintenance();

 private:
  // A write waiting in the writer queue: the operation, ready, or (`prepare`) what makes it once
  // every write before it is applied, with write_mu_ held; such a write is a group of its own.
  struct QueuedWrite {
    WriteOp op;
    std::function<StatusOr<WriteOp>()> prepare;
    const JobTag* job = nullptr;
    std::optional<StatusOr<size_t>> result;  // set by the group's leader
    bool done = false;                       // guarded by queue_mu_
    std::condition_variable cv;              // signalled when done, or at the queue's front
  };
  // Most writes one group takes; a group also holds at most limits_.max_points_per_upsert points
  // or ids after its first write (Entries), so that its records stay a batch's size.
  static constexpr size_t kMaxGroupWrites = 64;
  static size_t Entries(const WriteOp& op);  // the points or ids a write changes

  // The one way writes reach the collection: queues `write`, and returns its result once it is
  // applied (or refused: nothing of it is then applied). A leader that throws (out of memory)
  // answers its group Internal and lets the queue go on; one that throws once the group is
  // logged also retires the collection (LogAndApply).
  StatusOr<size_t> Sequence(QueuedWrite& write);
  // The leader's work: logs `group` (when the store is durable), then applies it, in order.
  // Nothing of the group is applied if logging fails.
  void LogAndApply(const std::vector<QueuedWrite*>& group);
  // write_mu_ and the exclusive side of mu_ held (or recovery, before anyone else can see it).
  size_t Apply(WriteOp op);
  void LoadIndexPart(IndexPartOp part);  // mu_ held exclusively, during recovery

  Status ValidatePoint(const Point& point, const std::string& field) const;
  Status ValidateIds(const std::vector<PointId>& ids, const std::string& field) const;
  Status ValidatePayloadSize(const Payload& payload, const std::string& field) const;

  enum class IndexStep { kNone, kRebuild, kGrow, kAddTail };
  IndexStep NextIndexStep() const;  // mu_ must be held (either side)
  // What the index builds and grows of this collection are given.
  BuildOptions IndexBuildOptions();
  // Each step says whether it did its work (false: it failed, or was cancelled).
  bool Rebuild();
  bool Grow();
  void AddTail();
  struct TailCopy {
    std::vector<float> vectors;
    std::vector<uint32_t> slots;
  };
  TailCopy CopyTail(size_t limit) const;

  // Whether a search for k whose filter keeps `matched` of `live` points is better answered
  // exactly (cheaper, or out of the index's reach).
  bool PreferExact(size_t matched, size_t live, size_t k, const AnnSearchParams& params) const;
  // Answers the requests `indexed_of` through the approximate index into (*neighbors)[i]
  // (mu_ held shared). Throws what FAISS throws.
  void SearchIndexed(const std::vector<std::vector<float>>& queries,
                     const std::vector<SearchRequest>& requests,
                     const std::vector<std::optional<Bitset>>& filters,
                     const std::vector<size_t>& matched, const std::vector<AnnSearchParams>& params,
                     const Bitset* all_live, const std::vector<size_t>& indexed_of,
                     std::vector<std::vector<Neighbor>>* neighbors) const;
  Record MakeRecord(uint32_t slot, bool with_payload, bool with_vector) const;

  const CollectionConfig config_;
  const Limits limits_;
  const int search_threads_;
  const int build_threads_;
  MaintenanceScheduler* const scheduler_;
  WriteLog* const log_;
  const Logger logger_;  // never empty

  std::mutex queue_mu_;             // guards queue_ and each queued write's `done`
  std::deque<QueuedWrite*> queue_;  // the writer queue; its front leads the next group
  // Held by ExportImage, and by index maintenance while it changes index_ or swaps table_ (the
  // catch-up of a rebuild, adding the tail, swapping in a grown index), so that an export reads
  // one table and one index while writers go on. Taken before write_mu_ and mu_.
  std::mutex index_mu_;
  std::mutex write_mu_;  // held by a group's leader, by the catch-up of an index rebuild, and by
                         // BlockWrites
  Status refusal_;       // guarded by write_mu_; not OK once retired: what writes get
  // Guarded by write_mu_: where the last of this collection's records logged by this process
  // ends ({}: none); every record up to it is applied whenever write_mu_ is free.
  LogPosition logged_through_;
  mutable RwLock mu_;  // guards table_, index_ and indexed_slots_
  std::unique_ptr<PointTable> table_;
  std::unique_ptr<AnnIndex> index_;  // null: flat, or not built/trained yet
  uint32_t indexed_slots_ = 0;       // index_ holds exactly the slots [0, indexed_slots_)
  std::string loading_index_;        // recovery only: the parts of a saved index read so far

  std::mutex maintenance_mu_;  // one MaintainIndex at a time; guards nothing else
  std::atomic<bool> maintenance_requested_{false};
  std::atomic<bool> building_{false};
  std::atomic<bool> cancelled_{false};
};

}  // namespace vecmesh::engine
