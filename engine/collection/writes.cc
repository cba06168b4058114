// Collection: writes. Every change goes through LogAndApply (logged first when the store is
// durable, then applied) or, during recovery, Replay; Apply is the one place a change reaches
// the point table.
#include <mutex>
#include <shared_mutex>
#include <variant>

#include "engine/collection/collection.h"
#include "engine/collection/normalize.h"

namespace vecmesh::engine {

StatusOr<size_t> Collection::Upsert(std::vector<Point> points, bool normalized, const JobTag* job) {
  if (points.size() > limits_.max_points_per_upsert) {
    return Status::InvalidArgument("points has " + std::to_string(points.size()) +
                                   " entries; the limit is " +
                                   std::to_string(limits_.max_points_per_upsert));
  }
  Status valid = ValidatePoints(points);
  if (!valid.ok()) return valid;
  for (Point& p : points) {
    if (config_.metric == Metric::kCosine && !normalized) Normalize(&p.vector);
    if (p.payload.is_null()) p.payload = Payload::object();
  }
  size_t n;
  {
    std::lock_guard write(write_mu_);
    auto applied = LogAndApply(UpsertOp{std::move(points)}, job);
    if (!applied.ok()) return applied.status();
    n = *applied;
  }
  RequestMaintenance();
  return n;
}

StatusOr<size_t> Collection::Delete(const std::vector<PointId>& ids, const JobTag* job) {
  Status s = ValidateIds(ids, "ids");
  if (!s.ok()) return s;
  size_t n;
  {
    std::lock_guard write(write_mu_);
    auto applied = LogAndApply(DeleteOp{ids}, job);
    if (!applied.ok()) return applied.status();
    n = *applied;
  }
  RequestMaintenance();
  return n;
}

StatusOr<size_t> Collection::DeleteByFilter(const Filter& filter, const JobTag* job) {
  size_t n;
  {
    std::lock_guard write(write_mu_);
    // Writers are serialised by write_mu_, so the table cannot change while we read it here.
    DeleteOp op;
    table_->Matching(filter).ForEach(0, table_->num_slots(),
                                     [&](size_t slot) { op.ids.push_back(table_->Id(slot)); });
    auto applied = LogAndApply(std::move(op), job);
    if (!applied.ok()) return applied.status();
    n = *applied;
  }
  RequestMaintenance();
  return n;
}

StatusOr<size_t> Collection::SetPayload(const std::vector<PointId>& ids, const Payload& payload,
                                        PayloadMode mode, const JobTag* job) {
  Status s = ValidateIds(ids, "ids");
  if (s.ok()) s = ValidateSetPayload(payload);
  if (!s.ok()) return s;
  std::lock_guard write(write_mu_);
  if (mode == PayloadMode::kMerge) {
    // A merge may push an existing payload over the limit: check each before changing any.
    for (size_t i = 0; i < ids.size(); ++i) {
      int64_t slot = table_->Find(ids[i]);
      if (slot < 0) continue;
      Payload merged = table_->PayloadOf(slot);
      merged.update(payload);
      s = ValidatePayloadSize(merged, "payload merged into ids[" + std::to_string(i) + "]");
      if (!s.ok()) return s;
    }
  }
  return LogAndApply(SetPayloadOp{ids, payload, mode}, job);
}

StatusOr<size_t> Collection::LogAndApply(WriteOp op, const JobTag* job) {
  if (!refusal_.ok()) return refusal_;
  if (log_) {
    Status s = log_->Log(config_.name, op, job);
    if (!s.ok()) return s;
  }
  return Apply(std::move(op));
}

void Collection::Replay(WriteOp op) {
  std::lock_guard write(write_mu_);
  Apply(std::move(op));
}

std::unique_lock<std::mutex> Collection::BlockWrites() {
  return std::unique_lock<std::mutex>(write_mu_);
}

void Collection::Retire(Status refusal) {
  std::lock_guard write(write_mu_);
  refusal_ = std::move(refusal);
}

void Collection::Unretire() {
  std::lock_guard write(write_mu_);
  refusal_ = Status::Ok();
}

size_t Collection::Apply(WriteOp op) {
  std::unique_lock lock(mu_);
  PointTable& table = *table_;
  const Overloaded apply{
      [&](UpsertOp& upsert) {
        for (Point& p : upsert.points) table.Insert(p.id, p.vector.data(), std::move(p.payload));
        return upsert.points.size();
      },
      [&](const DeleteOp& del) {
        size_t n = 0;
        for (const PointId& id : del.ids) n += table.Kill(id);
        return n;
      },
      [&](const SetPayloadOp& set) {
        size_t n = 0;
        for (const PointId& id : set.ids) {
          int64_t slot = table.Find(id);
          if (slot < 0) continue;
          Payload updated = set.payload;
          if (set.mode == PayloadMode::kMerge) {
            updated = table.PayloadOf(slot);
            updated.update(set.payload);
          }
          table.SetPayload(slot, std::move(updated));
          ++n;
        }
        return n;
      },
      [&](SlotsOp& saved) {
        for (SavedSlot& s : saved.slots) {
          if (s.live) {
            table.Insert(s.point.id, s.point.vector.data(), std::move(s.point.payload));
          } else {
            table.InsertDead(s.point.vector.data());
          }
        }
        return saved.slots.size();
      },
      [&](IndexPartOp& part) {
        LoadIndexPart(std::move(part));
        return size_t{0};
      },
      // The store's operations on whole collections: they never reach a collection.
      [](const CreateCollectionOp&) { return size_t{0}; },
      [](const DropCollectionOp&) { return size_t{0}; },
      [](const RestoreOp&) { return size_t{0}; },
      [](const JobsOp&) { return size_t{0}; },
  };
  return std::visit(apply, op);
}

}  // namespace vecmesh::engine
