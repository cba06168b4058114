// Collection: construction and the summary Info reports. The rest of the class lives by job in
// validation.cc, writes.cc, reads.cc, search_planner.cc and index_maintenance.cc.
#include "engine/collection/collection.h"

#include <shared_mutex>

namespace vecmesh::engine {

Collection::Collection(CollectionConfig config, const Limits& limits, int search_threads,
                       int build_threads, MaintenanceScheduler* scheduler, WriteLog* log,
                       Logger logger)
    : config_(std::move(config)),
      limits_(limits),
      search_threads_(search_threads),
      build_threads_(build_threads),
      scheduler_(scheduler),
      log_(log),
      logger_(logger ? std::move(logger) : StderrLogger()),
      table_(std::make_unique<PointTable>(config_.dimension)) {}

CollectionInfo Collection::Info() const {
  std::shared_lock lock(mu_);
  CollectionInfo info{config_, table_->num_live(), index_ ? indexed_slots_ : 0u, "ready"};
  if (building_ && IsIvfIndex(config_.index.type) && !index_) {
    info.status = "training";
  } else if (building_ || NextIndexStep() != IndexStep::kNone) {
    info.status = "indexing";
  }
  return info;
}

}  // namespace vecmesh::engine
