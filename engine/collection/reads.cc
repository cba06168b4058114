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

CollectionImage Collection::ExportImage() const {
  std::shared_lock lock(mu_);
  CollectionImage image;
  const PointTable& table = *table_;
  image.slots.reserve(table.num_slots());
  for (uint32_t slot = 0; slot < table.num_slots(); ++slot) {
    SavedSlot& s = image.slots.emplace_back();
    const float* v = table.Vector(slot);
    s.point.vector.assign(v, v + config_.dimension);
    s.live = table.IsLive(slot);
    if (s.live) {
      s.point.id = table.Id(slot);
      s.point.payload = table.PayloadOf(slot);
    }
  }
  if (index_) {
    try {
      image.index = index_->Save();
      image.indexed_slots = indexed_slots_;
    } catch (const std::exception& e) {
      logger_("warn", "saving the index failed; it is rebuilt after a restart",
              {{"collection", config_.name}, {"error", e.what()}});
    }
  }
  return image;
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
