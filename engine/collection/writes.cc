// Collection: writes. Every change goes through the writer queue (Sequence: its front logs the
// group queued behind it when the store is durable, then applies it) or, during recovery,
// Replay; Apply is the one place a change reaches the point table.
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
  QueuedWrite write;
  write.op = UpsertOp{std::move(points)};
  write.job = job;
  return Sequence(write);
}

StatusOr<size_t> Collection::Delete(const std::vector<PointId>& ids, const JobTag* job) {
  Status s = ValidateIds(ids, "ids");
  if (!s.ok()) return s;
  QueuedWrite write;
  write.op = DeleteOp{ids};
  write.job = job;
  return Sequence(write);
}

StatusOr<size_t> Collection::DeleteByFilter(const Filter& filter, const JobTag* job) {
  QueuedWrite write;
  write.prepare = [&]() -> StatusOr<WriteOp> {
    // write_mu_ is held: no other write changes the table meanwhile.
    DeleteOp op;
    table_->Matching(filter).ForEach(0, table_->num_slots(),
                                     [&](size_t slot) { op.ids.push_back(table_->Id(slot)); });
    return WriteOp{std::move(op)};
  };
  write.job = job;
  return Sequence(write);
}

StatusOr<size_t> Collection::SetPayload(const std::vector<PointId>& ids, const Payload& payload,
                                        PayloadMode mode, const JobTag* job) {
  Status s = ValidateIds(ids, "ids");
  if (s.ok()) s = ValidateSetPayload(payload);
  if (!s.ok()) return s;
  QueuedWrite write;
  write.job = job;
  if (mode == PayloadMode::kReplace) {
    write.op = SetPayloadOp{ids, payload, mode};
    return Sequence(write);
  }
  // A merge may push an existing payload over the limit: each is checked, with write_mu_ held,
  // before any changes.
  write.prepare = [&]() -> StatusOr<WriteOp> {
    for (size_t i = 0; i < ids.size(); ++i) {
      int64_t slot = table_->Find(ids[i]);
      if (slot < 0) continue;
      Payload merged = table_->PayloadOf(slot);
      merged.update(payload);
      Status checked =
          ValidatePayloadSize(merged, "payload merged into ids[" + std::to_string(i) + "]");
      if (!checked.ok()) return checked;
    }
    return WriteOp{SetPayloadOp{ids, payload, mode}};
  };
  return Sequence(write);
}

StatusOr<size_t> Collection::Sequence(QueuedWrite& write) {
  std::unique_lock queue(queue_mu_);
  queue_.push_back(&write);
  write.cv.wait(queue, [&] { return write.done || queue_.front() == &write; });
  if (write.done) return *write.result;  // a leader before it applied it
  // At the front: this writer leads the group of the writes queued from here on, up to
  // kMaxGroupWrites writes and a batch's worth of points or ids (after the first).
  std::vector<QueuedWrite*> group{&write};
  if (!write.prepare) {
    size_t entries = Entries(write.op);
    for (size_t i = 1; i < queue_.size() && group.size() < kMaxGroupWrites && !queue_[i]->prepare;
         ++i) {
      entries += Entries(queue_[i]->op);
      if (entries > limits_.max_points_per_upsert) break;
      group.push_back(queue_[i]);
    }
  }
  queue.unlock();
  // An exception (out of memory, most likely) must not stop the writers queued behind.
  auto fail_rest = [&](const std::string& why) {
    for (QueuedWrite* w : group) {
      if (!w->result) w->result = Status::Internal("the write failed: " + why);
    }
  };
  try {
    LogAndApply(group);
  } catch (const std::exception& e) {
    fail_rest(e.what());
  } catch (...) {
    fail_rest("an unknown exception");
  }
  queue.lock();
  // Only the writers that can go on are woken: the group's, and the next leader.
  for (QueuedWrite* done : group) {
    done->done = true;
    queue_.pop_front();
    if (done != &write) done->cv.notify_one();
  }
  if (!queue_.empty()) queue_.front()->cv.notify_one();
  queue.unlock();
  RequestMaintenance();
  return *write.result;
}

void Collection::LogAndApply(const std::vector<QueuedWrite*>& group) {
  std::lock_guard write(write_mu_);
  auto refuse = [&](const Status& status) {
    for (QueuedWrite* w : group) w->result = status;
  };
  if (!refusal_.ok()) return refuse(refusal_);
  if (group.front()->prepare) {  // a group of one (Sequence)
    StatusOr<WriteOp> op = group.front()->prepare();
    if (!op.ok()) return refuse(op.status());
    group.front()->op = std::move(*op);
  }
  if (log_) {
    std::vector<LoggedWrite> writes;
    writes.reserve(group.size());
    for (const QueuedWrite* w : group) writes.push_back({&w->op, w->job});
    StatusOr<LogPosition> logged = log_->Log(config_.name, writes);
    if (!logged.ok()) return refuse(logged.status());
    logged_through_ = *logged;
  }
  try {
    // One write at a time under the exclusive side of mu_: a search waits behind one write, as
    // it would without the queue, never behind a whole group.
    for (QueuedWrite* w : group) {
      std::unique_lock lock(mu_);
      w->result = Apply(std::move(w->op));
    }
  } catch (...) {
    // Logged but not applied: the collection no longer matches its log, until a restart
    // replays it.
    refusal_ = Status::Internal("collection '" + config_.name +
                                "': a logged write could not be applied; it refuses writes "
                                "until vecmeshd restarts and replays its log");
    throw;
  }
}

size_t Collection::Entries(const WriteOp& op) {
  const Overloaded entries{
      [](const UpsertOp& upsert) { return upsert.points.size(); },
      [](const DeleteOp& del) { return del.ids.size(); },
      [](const SetPayloadOp& set) { return set.ids.size(); },
      [](const auto&) { return size_t{1}; },
  };
  return std::visit(entries, op);
}

void Collection::Replay(WriteOp op) {
  std::lock_guard write(write_mu_);
  std::unique_lock lock(mu_);
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
