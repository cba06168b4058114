// One collection of the LocalStore: its points (PointTable), its approximate index, and the
// background work that keeps the index up to date.
//
// Thread safety: every public method is safe for concurrent use. Writers are serialised by
// write_mu_ and apply their change under the exclusive side of mu_, which they hold only for
// in-memory updates. Searches hold the shared side of mu_ and never wait for an index build:
// builds run on the store's background worker over a copy of the vectors and are swapped in
// with a pointer exchange. The only waits a search sees are those exclusive sections (a batch
// append, or at most AnnIndex::AddBatchSize() index insertions).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/ann_index.h"
#include "engine/point_table.h"
#include "engine/rw_lock.h"
#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::engine {

class Collection;

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
  Collection(CollectionConfig config, const Limits& limits, int search_threads, int build_threads,
             MaintenanceScheduler* scheduler);

  const CollectionConfig& config() const { return config_; }
  CollectionInfo Info() const;

  StatusOr<size_t> Upsert(std::vector<Point> points);
  StatusOr<size_t> Delete(const std::vector<PointId>& ids);
  StatusOr<size_t> DeleteByFilter(const Filter& filter);
  StatusOr<size_t> SetPayload(const std::vector<PointId>& ids, const Payload& payload,
                              PayloadMode mode);

  StatusOr<std::vector<Record>> Get(const std::vector<PointId>& ids, bool with_payload,
                                    bool with_vector) const;
  StatusOr<size_t> Count(const Filter* filter) const;
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

 private:
  // The writes, as the one place that applies them receives them: validated, vectors
  // normalised, deletes resolved to ids. (The write-ahead log records exactly these.)
  struct UpsertOp {
    std::vector<Point> points;
  };
  struct DeleteOp {
    std::vector<PointId> ids;
  };
  struct SetPayloadOp {
    std::vector<PointId> ids;
    Payload payload;
    PayloadMode mode;
  };
  using WriteOp = std::variant<UpsertOp, DeleteOp, SetPayloadOp>;

  // Applies a validated op; write_mu_ must be held. Returns the count the caller reports.
  size_t Apply(WriteOp op);
  void RequestMaintenance();

  Status ValidatePoint(const Point& point, const std::string& field) const;
  Status ValidateIds(const std::vector<PointId>& ids, const std::string& field) const;
  Status ValidatePayloadSize(const Payload& payload, const std::string& field) const;

  enum class IndexStep { kNone, kRebuild, kAddTail };
  IndexStep NextIndexStep() const;  // mu_ must be held (either side)
  void Rebuild();
  void AddTail();

  // Whether a filter that keeps `matched` of `live` points is cheaper to answer exactly.
  bool PreferExact(size_t matched, size_t live, const AnnSearchParams& params) const;
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

  std::mutex write_mu_;  // serialises writers, and the catch-up of an index rebuild
  mutable RwLock mu_;    // guards table_, index_ and indexed_slots_
  std::unique_ptr<PointTable> table_;
  std::unique_ptr<AnnIndex> index_;  // null: flat, or not built/trained yet
  uint32_t indexed_slots_ = 0;       // index_ holds exactly the slots [0, indexed_slots_)

  std::mutex maintenance_mu_;  // one MaintainIndex at a time; guards nothing else
  std::atomic<bool> maintenance_requested_{false};
  std::atomic<bool> building_{false};
  std::atomic<bool> cancelled_{false};
};

}  // namespace vecmesh::engine
