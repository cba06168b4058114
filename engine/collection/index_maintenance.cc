// Collection: index maintenance, run by the store's background worker (MaintainIndex): full
// rebuilds, which also compact, and incremental adds of the points written since; and the
// loading of a saved index during recovery.
#include <algorithm>
#include <limits>
#include <mutex>
#include <numeric>
#include <shared_mutex>

#include "engine/collection/collection.h"
#include "engine/index/gpu_index.h"

namespace vecmesh::engine {
namespace {

// A rebuild (rather than incremental adds) once this many points wait outside the index and
// they are at least as many as the index holds: cheaper than growing a graph point by point.
constexpr size_t kBulkTailPoints = 20'000;
// Compaction drops dead slots once they are this many and at least a fifth of all slots.
constexpr size_t kCompactMinDead = 1'000;
// An index that can grow (HNSW) takes a tail of this many points, and at least 1/32 of what it
// holds, as a grown copy linked on every build thread while searches use the old one: the
// copy's cost is small beside linking the tail. Shorter tails are added in place, one
// AddBatchSize chunk at a time.
constexpr size_t kGrowTailPoints = 1'000;

}  // namespace

void Collection::RequestMaintenance() {
  if (config_.index.type == IndexType::kFlat || !scheduler_) return;
  if (!maintenance_requested_.exchange(true)) scheduler_->Schedule(weak_from_this());
}

Collection::IndexStep Collection::NextIndexStep() const {
  if (config_.index.type == IndexType::kFlat || cancelled_) return IndexStep::kNone;
  // A GPU collection opened where there is no GPU is searched exactly, with no index to build.
  if (!CheckIndexTypeAvailable(config_.index.type).ok()) return IndexStep::kNone;
  const PointTable& table = *table_;
  const size_t slots = table.num_slots();
  const size_t live = table.num_live();
  if (!index_) {
    if (live == 0) return IndexStep::kNone;
    if (live < config_.index.TrainingPoints()) {
      return IndexStep::kNone;  // answered exactly until there is enough to train on
    }
    return IndexStep::kRebuild;
  }
  if (index_->needs_rebuild()) return IndexStep::kRebuild;
  const size_t dead = slots - live;
  const size_t tail = slots - indexed_slots_;
  if (dead >= kCompactMinDead && dead * 5 >= slots) return IndexStep::kRebuild;
  if (index_->can_grow()) {
    if (tail >= std::max<size_t>(kGrowTailPoints, indexed_slots_ / 32)) return IndexStep::kGrow;
  } else if (tail >= std::max<size_t>(kBulkTailPoints, indexed_slots_)) {
    return IndexStep::kRebuild;
  }
  if (tail > 0) return IndexStep::kAddTail;
  return IndexStep::kNone;
}

bool Collection::MaintainIndex() {
  std::lock_guard maintenance(maintenance_mu_);
  maintenance_requested_ = false;
  IndexStep step;
  {
    std::shared_lock lock(mu_);
    step = NextIndexStep();
  }
  // A step that failed is logged and not tried again at once: the next write retries it.
  bool done = false;
  try {
    switch (step) {
      case IndexStep::kNone:
        return false;
      case IndexStep::kRebuild:
        done = Rebuild();
        break;
      case IndexStep::kGrow:
        done = Grow();
        break;
      case IndexStep::kAddTail:
        AddTail();
        done = true;
        break;
    }
  } catch (const std::exception& e) {
    // Searches stay exact for the points outside the index; the next write retries.
    logger_("error", "index maintenance failed",
            {{"collection", config_.name}, {"error", e.what()}});
    building_ = false;
    return false;
  }
  return done && !cancelled_;
}

void Collection::Cancel() { cancelled_ = true; }

BuildOptions Collection::IndexBuildOptions() {
  auto request_rebuild = [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->RequestMaintenance();
  };
  return {.cancelled = &cancelled_,
          .threads = build_threads_,
          .request_rebuild = request_rebuild,
          .logger = logger_};
}

bool Collection::Rebuild() {
  building_ = true;
  const size_t dim = config_.dimension;
  // Snapshot the live points. Their slots are immutable, so the copy stays true while writers go
  // on.
  std::vector<uint32_t> old_slots;
  std::vector<float> vectors;
  uint32_t snapshot_end;
  {
    std::shared_lock lock(mu_);
    snapshot_end = table_->num_slots();
    old_slots.reserve(table_->num_live());
    table_->live().ForEach(0, snapshot_end, [&](size_t s) { old_slots.push_back(s); });
    vectors.resize(old_slots.size() * dim);
    for (size_t i = 0; i < old_slots.size(); ++i) {
      std::copy_n(table_->Vector(old_slots[i]), dim, vectors.begin() + i * dim);
    }
  }

  // Build over the renumbered slots 0..n-1, with no lock held.
  std::unique_ptr<AnnIndex> index;
  if (!old_slots.empty() && old_slots.size() >= config_.index.TrainingPoints()) {
    std::vector<uint32_t> new_slots(old_slots.size());
    std::iota(new_slots.begin(), new_slots.end(), 0);
    auto built = BuildAnnIndex(config_, old_slots.size(), vectors.data(), new_slots.data(),
                               IndexBuildOptions());
    if (!built.ok()) {
      logger_("error", "building the index failed",
              {{"collection", config_.name}, {"error", built.status().ToString()}});
      building_ = false;
      return false;
    }
    if (cancelled_) return false;
    index = std::move(*built);
  }
  vectors = {};

  // Catch up with the writes made during the build and swap. Writers wait; searches go on
  // reading the old table until the pointer exchange.
  std::unique_ptr<PointTable> table = std::make_unique<PointTable>(dim);
  {
    std::lock_guard index_lock(index_mu_);  // after a checkpoint's export of the old table
    std::lock_guard write(write_mu_);
    const PointTable& old = *table_;  // only writers change it, and they wait for write_mu_
    for (uint32_t slot : old_slots) {
      if (old.IsLive(slot)) {
        table->Insert(old.Id(slot), old.Vector(slot), old.PayloadOf(slot));
      } else {
        table->InsertDead(old.Vector(slot));  // keeps numbering aligned with the new index
      }
    }
    for (uint32_t slot = snapshot_end; slot < old.num_slots(); ++slot) {
      if (old.IsLive(slot)) table->Insert(old.Id(slot), old.Vector(slot), old.PayloadOf(slot));
    }
    std::unique_lock lock(mu_);
    table_.swap(table);
    index_.swap(index);
    indexed_slots_ = index_ ? static_cast<uint32_t>(old_slots.size()) : 0;
  }
  building_ = false;
  // The old table and index, now in the locals, are freed on return, outside every lock.
  return true;
}

// The vectors of slots [from, min(num_slots, from + limit)) and their slots, copied under a
// shared lock (a slot's vector never changes, so the copy stays true as writers go on).
Collection::TailCopy Collection::CopyTail(size_t limit) const {
  const size_t dim = config_.dimension;
  TailCopy tail;
  std::shared_lock lock(mu_);
  const uint32_t from = indexed_slots_;
  const auto to = static_cast<uint32_t>(from + std::min<size_t>(table_->num_slots() - from, limit));
  tail.vectors.resize(size_t{to - from} * dim);
  for (uint32_t s = from; s < to; ++s) {
    std::copy_n(table_->Vector(s), dim, tail.vectors.begin() + size_t{s - from} * dim);
  }
  tail.slots.resize(to - from);
  std::iota(tail.slots.begin(), tail.slots.end(), from);
  return tail;
}

bool Collection::Grow() {
  const TailCopy tail = CopyTail(std::numeric_limits<size_t>::max());
  // Only this thread (holding maintenance_mu_) replaces index_ or adds to it, so it may read it
  // with no lock while searches go on reading it.
  auto grown =
      index_->Grown(tail.slots.size(), tail.vectors.data(), tail.slots.data(), IndexBuildOptions());
  if (!grown.ok()) {
    logger_("error", "growing the index failed",
            {{"collection", config_.name}, {"error", grown.status().ToString()}});
    return false;
  }
  if (cancelled_ || !*grown) return false;
  std::unique_ptr<AnnIndex> index = std::move(*grown);
  {
    std::lock_guard index_lock(index_mu_);  // not while a checkpoint saves the index
    std::unique_lock lock(mu_);
    index_.swap(index);
    indexed_slots_ = tail.slots.back() + 1;
  }
  // The old index, now in `index`, is freed on return, outside every lock.
  return true;
}

void Collection::AddTail() {
  const TailCopy tail = CopyTail(index_->AddBatchSize());
  const size_t n = tail.slots.size();
  // Only this thread (holding maintenance_mu_) replaces index_ or adds to it.
  std::vector<uint8_t> codes = index_->Encode(n, tail.vectors.data());
  std::lock_guard index_lock(index_mu_);  // not while a checkpoint saves the index
  std::unique_lock lock(mu_);
  index_->AddEncoded(n, tail.vectors.data(), codes.data(), tail.slots.data());
  indexed_slots_ = tail.slots.back() + 1;
}

void Collection::LoadIndexPart(IndexPartOp part) {
  loading_index_.append(part.part);
  if (loading_index_.size() < part.image_bytes) return;
  std::string image = std::move(loading_index_);
  loading_index_ = {};
  Status s;
  if (image.size() != part.image_bytes || part.indexed_slots > table_->num_slots()) {
    s = Status::Internal("the saved index of collection '" + config_.name +
                         "' does not match its parts or slots");
  } else if (auto loaded = LoadAnnIndex(config_, image, part.indexed_slots); loaded.ok()) {
    index_ = std::move(*loaded);
    indexed_slots_ = part.indexed_slots;
  } else {
    s = loaded.status();
  }
  if (!s.ok()) {
    logger_("warn", "the saved index is unusable; rebuilding it",
            {{"collection", config_.name}, {"error", s.message()}});
  }
}

}  // namespace vecmesh::engine
