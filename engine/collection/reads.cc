// Collection: reads (Get, Count, Scroll and its cursors, MaxIntegerId) and the exports a
// snapshot or a checkpoint takes.
#include <algorithm>
#include <exception>
#include <iterator>
#include <shared_mutex>

#include "engine/collection/collection.h"
#include "engine/scroll_cursor.h"

namespace vecmesh::engine {

std::vector<Point> Collection::ExportPoints() const {
  std::shared_lock lock(mu_);
  std::vector<Point> points;
  points.reserve(table_->num_live());
  for (const auto& [id, slot] : table_->slots_by_id()) {
    const float* v = table_->Vector(slot);
    points.push_back({id, std::vector<float>(v, v + config_.dimension), table_->PayloadOf(slot)});
  }
  return points;
}

StatusOr<LogPosition> Collection::ExportImage(const std::function<Status(WriteOp)>& append) {
  // No index catch-up or rebuild swap until the export is done: the table and the index stay
  // the ones of the moment below.
  std::lock_guard index(index_mu_);
  LogPosition through;
  uint32_t num_slots;
  Bitset live;
  uint32_t indexed_slots = 0;
  {
    // The moment: between two writes (write_mu_), every logged one applied.
    std::lock_guard write(write_mu_);
    std::unique_lock lock(mu_);
    through = logged_through_;
    num_slots = table_->num_slots();
    live = table_->live();
    if (index_) indexed_slots = indexed_slots_;
    table_->KeepPayloadsAsOfNow(num_slots);
  }
  {
    // Slots below num_slots keep their vectors and ids; their payloads as of the moment are
    // kept by the table until this scope ends (PayloadAsKept), and their liveness is `live`.
    struct KeptPayloads {
      Collection* collection;
      ~KeptPayloads() {
        std::unique_lock lock(collection->mu_);
        collection->table_->ForgetKeptPayloads();
      }
    } kept{this};
    const size_t dim = config_.dimension;
    for (uint32_t begin = 0; begin < num_slots; begin += kSlotsPerImageRecord) {
      const auto end =
          static_cast<uint32_t>(std::min<size_t>(num_slots, begin + kSlotsPerImageRecord));
      SlotsOp record;
      record.slots.resize(end - begin);
      for (SavedSlot& saved : record.slots) saved.point.vector.resize(dim);  // no lock held
      // The read lock is taken per kSlotsPerLock slots: a writer waits for at most that many
      // copies (tens of microseconds).
      for (uint32_t from = begin; from < end; from += kSlotsPerLock) {
        std::shared_lock lock(mu_);
        const PointTable& table = *table_;
        for (uint32_t slot = from; slot < std::min<uint32_t>(end, from + kSlotsPerLock); ++slot) {
          SavedSlot& saved = record.slots[slot - begin];
          std::copy_n(table.Vector(slot), dim, saved.point.vector.begin());
          saved.live = live.Test(slot);
          if (saved.live) {
            saved.point.id = table.Id(slot);
            saved.point.payload = table.PayloadAsKept(slot);
          }
        }
      }
      Status s = append(std::move(record));
      if (!s.ok()) return s;
    }
  }
  if (!index_) return through;
  // index_mu_ keeps AddEncoded away, and Save may run beside searches.
  std::string image;
  try {
    image = index_->Save();
  } catch (const std::exception& e) {
    logger_("warn", "saving the index failed; it is rebuilt after a restart",
            {{"collection", config_.name}, {"error", e.what()}});
    return through;
  }
  for (size_t begin = 0; begin < image.size(); begin += kIndexPartBytes) {
    Status s =
        append(IndexPartOp{indexed_slots, image.size(), image.substr(begin, kIndexPartBytes)});
    if (!s.ok()) return s;
  }
  return through;
}

Record Collection::MakeRecord(uint32_t slot, bool with_payload, bool with_vector) const {
  Record r{table_->Id(slot), std::nullopt, std::nullopt};
  if (with_payload) r.payload = table_->PayloadOf(slot);
  if (with_vector) {
    const float* v = table_->Vector(slot);
    r.vector.emplace(v, v + config_.dimension);
  }
  return r;
}

StatusOr<std::vector<Record>> Collection::Get(const std::vector<PointId>& ids, bool with_payload,
                                              bool with_vector) const {
  Status s = ValidateIds(ids, "ids");
  if (!s.ok()) return s;
  std::shared_lock lock(mu_);
  std::vector<Record> out;
  for (const PointId& id : ids) {
    int64_t slot = table_->Find(id);
    if (slot >= 0) out.push_back(MakeRecord(slot, with_payload, with_vector));
  }
  return out;
}

StatusOr<size_t> Collection::Count(const Filter* filter) const {
  std::shared_lock lock(mu_);
  return filter ? table_->Matching(*filter).Count() : table_->num_live();
}

std::optional<uint64_t> Collection::MaxIntegerId() const {
  std::shared_lock lock(mu_);
  const auto& ids = table_->slots_by_id();
  // Integer ids order before string ids: the last one before the first string id.
  auto it = ids.lower_bound(PointId(std::string()));
  if (it == ids.begin()) return std::nullopt;
  return std::get<uint64_t>(std::prev(it)->first);
}

StatusOr<ScrollPage> Collection::Scroll(const ScrollRequest& request) const {
  if (request.limit < 1 || request.limit > limits_.max_scroll_limit) {
    return Status::InvalidArgument("limit must be in [1, " +
                                   std::to_string(limits_.max_scroll_limit) + "], got " +
                                   std::to_string(request.limit));
  }
  std::optional<PointId> start;
  if (request.cursor) {
    start = ParseScrollCursor(*request.cursor);
    if (!start) {
      return Status::InvalidArgument("cursor '" + *request.cursor +
                                     "' is not a next_cursor returned by scroll");
    }
  }
  std::shared_lock lock(mu_);
  std::optional<Bitset> matching;
  if (request.filter) matching = table_->Matching(*request.filter);
  const auto& by_id = table_->slots_by_id();
  ScrollPage page;
  for (auto it = start ? by_id.lower_bound(*start) : by_id.begin(); it != by_id.end(); ++it) {
    if (matching && !matching->Test(it->second)) continue;
    if (page.points.size() == static_cast<size_t>(request.limit)) {
      page.next_cursor = ScrollCursorOf(it->first);
      break;
    }
    page.points.push_back(MakeRecord(it->second, request.with_payload, request.with_vector));
  }
  return page;
}

}  // namespace vecmesh::engine
