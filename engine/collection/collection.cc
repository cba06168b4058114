#include "engine/collection/collection.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>
#include <set>
#include <shared_mutex>
#include <tuple>

#include "engine/index/exact_search.h"
#include "engine/index/gpu_index.h"

namespace vecmesh::engine {
namespace {

// A rebuild (rather than incremental adds) once this many points wait outside the index and
// they are at least as many as the index holds: cheaper than growing a graph point by point.
constexpr size_t kBulkTailPoints = 20'000;
// Compaction drops dead slots once they are this many and at least a fifth of all slots.
constexpr size_t kCompactMinDead = 1'000;
// Filters that keep at most this many points are always answered exactly.
constexpr size_t kExactAlwaysPoints = 2'048;
// ivf_pq and ivf_sq8 fetch this many times k candidates and re-rank them with exact vectors.
constexpr size_t kRefineFactor = 4;

std::string Field(std::string_view list, size_t i, std::string_view field) {
  if (list.empty()) return std::string(field);
  return std::string(list) + "[" + std::to_string(i) + "]." + std::string(field);
}

float ScoreOf(Metric metric, float distance) {
  return metric == Metric::kL2 ? std::sqrt(std::max(distance, 0.0f)) : -distance;
}

void Normalize(std::vector<float>* v) {
  float norm = std::sqrt(InnerProduct(v->data(), v->data(), v->size()));
  for (float& x : *v) x /= norm;
}

}  // namespace

Collection::Collection(CollectionConfig config, const Limits& limits, int search_threads,
                       int build_threads, MaintenanceScheduler* scheduler, WriteLog* log)
    : config_(std::move(config)),
      limits_(limits),
      search_threads_(search_threads),
      build_threads_(build_threads),
      scheduler_(scheduler),
      log_(log),
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

// ---- validation -------------------------------------------------------------------------

Status Collection::ValidatePayloadSize(const Payload& payload, const std::string& field) const {
  size_t bytes = payload.dump().size();
  if (bytes > limits_.max_payload_bytes) {
    return Status::InvalidArgument(field + " is " + std::to_string(bytes) +
                                   " bytes serialized; the limit is " +
                                   std::to_string(limits_.max_payload_bytes));
  }
  return Status::Ok();
}

Status Collection::ValidatePoint(const Point& point, const std::string& field) const {
  if (const auto* s = std::get_if<std::string>(&point.id); s && s->size() > limits_.max_id_bytes) {
    return Status::InvalidArgument(field + ".id is " + std::to_string(s->size()) +
                                   " bytes; the limit is " + std::to_string(limits_.max_id_bytes));
  }
  if (point.vector.size() != config_.dimension) {
    return Status::InvalidArgument(field + ".vector has " + std::to_string(point.vector.size()) +
                                   " values; collection '" + config_.name + "' has dimension " +
                                   std::to_string(config_.dimension));
  }
  for (size_t i = 0; i < point.vector.size(); ++i) {
    if (!std::isfinite(point.vector[i])) {
      return Status::InvalidArgument(field + ".vector[" + std::to_string(i) + "] is " +
                                     (std::isnan(point.vector[i]) ? "NaN" : "infinite") +
                                     "; vectors must be finite");
    }
  }
  if (config_.metric == Metric::kCosine &&
      InnerProduct(point.vector.data(), point.vector.data(), point.vector.size()) == 0) {
    return Status::InvalidArgument(field +
                                   ".vector is all zeros; a cosine collection needs a non-zero "
                                   "vector");
  }
  if (!point.payload.is_null() && !point.payload.is_object()) {
    return Status::InvalidArgument(field + ".payload must be a JSON object, got " +
                                   point.payload.type_name());
  }
  return ValidatePayloadSize(point.payload, field + ".payload");
}

Status Collection::ValidateIds(const std::vector<PointId>& ids, const std::string& field) const {
  if (ids.size() > limits_.max_ids_per_request) {
    return Status::InvalidArgument(field + " has " + std::to_string(ids.size()) +
                                   " entries; the limit is " +
                                   std::to_string(limits_.max_ids_per_request));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (const auto* s = std::get_if<std::string>(&ids[i]); s && s->size() > limits_.max_id_bytes) {
      return Status::InvalidArgument(field + "[" + std::to_string(i) + "] is " +
                                     std::to_string(s->size()) + " bytes; the limit is " +
                                     std::to_string(limits_.max_id_bytes));
    }
  }
  return Status::Ok();
}

// ---- writes -----------------------------------------------------------------------------

Status Collection::ValidatePoints(const std::vector<Point>& points) const {
  std::map<PointId, size_t> seen;
  for (size_t i = 0; i < points.size(); ++i) {
    std::string field = "points[" + std::to_string(i) + "]";
    Status s = ValidatePoint(points[i], field);
    if (!s.ok()) return s;
    auto [it, inserted] = seen.emplace(points[i].id, i);
    if (!inserted) {
      return Status::InvalidArgument(field + ".id " + PointIdToString(points[i].id) +
                                     " repeats points[" + std::to_string(it->second) +
                                     "].id; ids must be unique within a batch");
    }
  }
  return Status::Ok();
}

StatusOr<size_t> Collection::Upsert(std::vector<Point> points, bool normalized) {
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
    auto applied = LogAndApply(UpsertOp{std::move(points)});
    if (!applied.ok()) return applied.status();
    n = *applied;
  }
  RequestMaintenance();
  return n;
}

StatusOr<size_t> Collection::Delete(const std::vector<PointId>& ids) {
  Status s = ValidateIds(ids, "ids");
  if (!s.ok()) return s;
  size_t n;
  {
    std::lock_guard write(write_mu_);
    auto applied = LogAndApply(DeleteOp{ids});
    if (!applied.ok()) return applied.status();
    n = *applied;
  }
  RequestMaintenance();
  return n;
}

StatusOr<size_t> Collection::DeleteByFilter(const Filter& filter) {
  size_t n;
  {
    std::lock_guard write(write_mu_);
    // Writers are serialised by write_mu_, so the table cannot change while we read it here.
    DeleteOp op;
    table_->Matching(filter).ForEach(0, table_->num_slots(),
                                     [&](size_t slot) { op.ids.push_back(table_->Id(slot)); });
    auto applied = LogAndApply(std::move(op));
    if (!applied.ok()) return applied.status();
    n = *applied;
  }
  RequestMaintenance();
  return n;
}

StatusOr<size_t> Collection::SetPayload(const std::vector<PointId>& ids, const Payload& payload,
                                        PayloadMode mode) {
  Status s = ValidateIds(ids, "ids");
  if (!s.ok()) return s;
  if (!payload.is_object()) {
    return Status::InvalidArgument(std::string("payload must be a JSON object, got ") +
                                   payload.type_name());
  }
  s = ValidatePayloadSize(payload, "payload");
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
  return LogAndApply(SetPayloadOp{ids, payload, mode});
}

StatusOr<size_t> Collection::LogAndApply(WriteOp op) {
  if (retired_) return Status::NotFound("collection '" + config_.name + "' not found");
  if (log_) {
    Status s = log_->Log(config_.name, op);
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
      std::fprintf(stderr,
                   "vecmesh: saving the index of collection '%s' failed (%s); it is rebuilt "
                   "after a restart\n",
                   config_.name.c_str(), e.what());
    }
  }
  return image;
}

void Collection::Retire() {
  std::lock_guard write(write_mu_);
  retired_ = true;
}

void Collection::Unretire() {
  std::lock_guard write(write_mu_);
  retired_ = false;
}

size_t Collection::Apply(WriteOp op) {
  std::unique_lock lock(mu_);
  PointTable& table = *table_;
  if (auto* upsert = std::get_if<UpsertOp>(&op)) {
    for (Point& p : upsert->points) table.Insert(p.id, p.vector.data(), std::move(p.payload));
    return upsert->points.size();
  }
  if (auto* del = std::get_if<DeleteOp>(&op)) {
    size_t n = 0;
    for (const PointId& id : del->ids) n += table.Kill(id);
    return n;
  }
  if (auto* saved = std::get_if<SlotsOp>(&op)) {
    for (SavedSlot& s : saved->slots) {
      if (s.live) {
        table.Insert(s.point.id, s.point.vector.data(), std::move(s.point.payload));
      } else {
        table.InsertDead(s.point.vector.data());
      }
    }
    return saved->slots.size();
  }
  if (auto* part = std::get_if<IndexPartOp>(&op)) {
    LoadIndexPart(std::move(*part));
    return 0;
  }
  auto* set_payload = std::get_if<SetPayloadOp>(&op);
  if (!set_payload) return 0;  // collection create and drop are the store's
  auto& set = *set_payload;
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
  if (!s.ok()) std::fprintf(stderr, "vecmesh: %s; rebuilding it\n", s.message().c_str());
}

// ---- reads ------------------------------------------------------------------------------

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

namespace {

std::string EncodeCursor(const PointId& id) {
  if (const auto* n = std::get_if<uint64_t>(&id)) return "u" + std::to_string(*n);
  static const char* kHex = "0123456789abcdef";
  std::string out = "s";
  for (unsigned char c : std::get<std::string>(id)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<PointId> DecodeCursor(const std::string& cursor) {
  if (cursor.size() < 1) return std::nullopt;
  std::string body = cursor.substr(1);
  if (cursor[0] == 'u') {
    if (body.empty() || body.size() > 20 ||
        !std::all_of(body.begin(), body.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    errno = 0;
    uint64_t n = std::strtoull(body.c_str(), nullptr, 10);
    if (errno == ERANGE) return std::nullopt;
    return PointId(n);
  }
  if (cursor[0] != 's' || body.size() % 2 != 0) return std::nullopt;
  std::string id;
  for (size_t i = 0; i < body.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nibble(body[i]), lo = nibble(body[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id += static_cast<char>(hi << 4 | lo);
  }
  return PointId(std::move(id));
}

}  // namespace

StatusOr<ScrollPage> Collection::Scroll(const ScrollRequest& request) const {
  if (request.limit < 1 || request.limit > limits_.max_scroll_limit) {
    return Status::InvalidArgument("limit must be in [1, " +
                                   std::to_string(limits_.max_scroll_limit) + "], got " +
                                   std::to_string(request.limit));
  }
  std::optional<PointId> start;
  if (request.cursor) {
    start = DecodeCursor(*request.cursor);
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
      page.next_cursor = EncodeCursor(it->first);
      break;
    }
    page.points.push_back(MakeRecord(it->second, request.with_payload, request.with_vector));
  }
  return page;
}

// ---- search -----------------------------------------------------------------------------

bool Collection::PreferExact(size_t matched, size_t live, size_t k,
                             const AnnSearchParams& params) const {
  if (matched <= kExactAlwaysPoints) return true;
  const double selectivity = static_cast<double>(matched) / std::max<size_t>(live, 1);
  if (IsGpuIndex(config_.index.type)) {
    if (k > kGpuMaxK) return true;
    if (matched == live) return false;  // unfiltered: the device answers
    // The device returns at most kGpuMaxK nearest points and the filter is applied to them:
    // expect selectivity * kGpuMaxK of them to pass.
    if (selectivity * kGpuMaxK < 2.0 * k) return true;
    if (config_.index.type == IndexType::kGpuFlat) return false;
  }
  if (config_.index.type == IndexType::kHnsw) {
    // A filtered graph search visits about ef * 2M / selectivity nodes; the scan visits matched.
    const double graph_visits = 2.0 * config_.index.hnsw_m * params.ef_search / selectivity;
    return static_cast<double>(matched) <= graph_visits;
  }
  // IVF scans nprobe / nlist of all points whatever the filter, and the fewer points a filter
  // keeps, the farther from the query the nearest of them lie, outside the probed lists. The
  // scan costs at most twice the probing below this selectivity, and is exact.
  return selectivity <= 2.0 * params.nprobe / config_.index.nlist;
}

void Collection::SearchIndexed(const std::vector<std::vector<float>>& queries,
                               const std::vector<SearchRequest>& requests,
                               const std::vector<std::optional<Bitset>>& filters,
                               const std::vector<size_t>& matched,
                               const std::vector<AnnSearchParams>& params, const Bitset* all_live,
                               const std::vector<size_t>& indexed_of,
                               std::vector<std::vector<Neighbor>>* neighbors) const {
  if (indexed_of.empty()) return;
  const PointTable& table = *table_;
  const size_t dim = config_.dimension;
  const bool refine = !index_->exact_vectors();
  auto fetch_k = [&](size_t i) {
    return static_cast<size_t>(requests[i].k) * (refine ? kRefineFactor : 1);
  };

  // 1. Candidates from the index. Unfiltered queries with the same k and parameters go in one
  //    batch (FAISS then runs one coarse search for all of them); filtered ones one by one.
  std::map<std::tuple<size_t, int, int>, std::vector<size_t>> batches;
  std::vector<size_t> filtered;
  for (size_t i : indexed_of) {
    if (filters[i]) {
      filtered.push_back(i);
    } else {
      batches[{fetch_k(i), params[i].ef_search, params[i].nprobe}].push_back(i);
    }
  }
  for (const auto& [key, members] : batches) {
    std::vector<float> x(members.size() * dim);
    for (size_t j = 0; j < members.size(); ++j) {
      std::copy(queries[members[j]].begin(), queries[members[j]].end(), x.begin() + j * dim);
    }
    auto found = index_->SearchBatch(x.data(), members.size(), std::get<0>(key), all_live,
                                     params[members[0]], search_threads_);
    for (size_t j = 0; j < members.size(); ++j) (*neighbors)[members[j]] = std::move(found[j]);
  }
  const auto num_filtered = static_cast<int64_t>(filtered.size());
#pragma omp parallel for schedule(dynamic) \
    num_threads(search_threads_) if (search_threads_ > 1 && num_filtered > 1)
  for (int64_t j = 0; j < num_filtered; ++j) {
    const size_t i = filtered[j];
    (*neighbors)[i] = index_->Search(queries[i].data(), fetch_k(i), &*filters[i], params[i]);
  }

  // 2. Exact scores for compressed indexes, the points not yet in the index, and an exact
  //    answer when the index came up short (a graph region cut off by the filter, empty IVF
  //    lists, a GPU fetch the filter emptied or a device failure): the caller is owed
  //    min(k, matching) results.
  const auto num_indexed = static_cast<int64_t>(indexed_of.size());
#pragma omp parallel for schedule(dynamic) \
    num_threads(search_threads_) if (search_threads_ > 1 && num_indexed > 1)
  for (int64_t j = 0; j < num_indexed; ++j) {
    const size_t i = indexed_of[j];
    const float* query = queries[i].data();
    const size_t k = requests[i].k;
    const Bitset* allowed = filters[i] ? &*filters[i] : all_live;
    std::vector<Neighbor>& found = (*neighbors)[i];
    if (refine) {
      for (Neighbor& n : found)
        n.distance = Distance(config_.metric, query, table.Vector(n.slot), dim);
      std::sort(found.begin(), found.end());
      if (found.size() > k) found.resize(k);
    }
    // The index owes min(k, the matching points it holds); the points after it cannot make up
    // for what it missed.
    const size_t indexed_matching = allowed ? allowed->CountBelow(indexed_slots_) : indexed_slots_;
    const bool index_short = found.size() < std::min(k, indexed_matching);
    if (!index_short && indexed_slots_ < table.num_slots()) {
      auto tail = ExactSearch(table, config_.metric, {{query, k, allowed}}, indexed_slots_,
                              table.num_slots(), 1);
      found.insert(found.end(), tail[0].begin(), tail[0].end());
      std::sort(found.begin(), found.end());
      if (found.size() > k) found.resize(k);
    }
    if (index_short || found.size() < std::min(k, matched[i])) {
      found = ExactSearch(table, config_.metric, {{query, k, allowed}}, 0, table.num_slots(), 1)[0];
    }
  }
}

StatusOr<std::vector<std::vector<ScoredPoint>>> Collection::Search(
    const std::vector<SearchRequest>& requests, std::string_view list) const {
  if (!list.empty() && requests.size() > limits_.max_searches_per_batch) {
    return Status::InvalidArgument(std::string(list) + " has " + std::to_string(requests.size()) +
                                   " entries; the limit is " +
                                   std::to_string(limits_.max_searches_per_batch));
  }
  // Validate everything before searching anything.
  std::vector<std::vector<float>> queries(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const SearchRequest& r = requests[i];
    if (r.vector.size() != config_.dimension) {
      return Status::InvalidArgument(Field(list, i, "vector") + " has " +
                                     std::to_string(r.vector.size()) + " values; collection '" +
                                     config_.name + "' has dimension " +
                                     std::to_string(config_.dimension));
    }
    for (size_t j = 0; j < r.vector.size(); ++j) {
      if (!std::isfinite(r.vector[j])) {
        return Status::InvalidArgument(Field(list, i, "vector[" + std::to_string(j) + "]") +
                                       " is " + (std::isnan(r.vector[j]) ? "NaN" : "infinite") +
                                       "; vectors must be finite");
      }
    }
    if (r.k < 1 || r.k > limits_.max_k) {
      return Status::InvalidArgument(Field(list, i, "k") + " must be in [1, " +
                                     std::to_string(limits_.max_k) + "], got " +
                                     std::to_string(r.k));
    }
    if (r.params.ef_search && (*r.params.ef_search < 1 || *r.params.ef_search > 32768)) {
      return Status::InvalidArgument(Field(list, i, "params.ef_search") +
                                     " must be in [1, 32768], got " +
                                     std::to_string(*r.params.ef_search));
    }
    if (r.params.nprobe && (*r.params.nprobe < 1 || *r.params.nprobe > 65536)) {
      return Status::InvalidArgument(Field(list, i, "params.nprobe") +
                                     " must be in [1, 65536], got " +
                                     std::to_string(*r.params.nprobe));
    }
    if (r.score_threshold && !std::isfinite(*r.score_threshold)) {
      return Status::InvalidArgument(Field(list, i, "score_threshold") + " must be finite");
    }
    queries[i] = r.vector;
    if (config_.metric == Metric::kCosine) {
      if (InnerProduct(queries[i].data(), queries[i].data(), config_.dimension) == 0) {
        return Status::InvalidArgument(Field(list, i, "vector") +
                                       " is all zeros; cosine similarity is undefined for it");
      }
      Normalize(&queries[i]);
    }
  }

  std::shared_lock lock(mu_);
  const PointTable& table = *table_;
  const size_t live = table.num_live();
  const Bitset* all_live = live == table.num_slots() ? nullptr : &table.live();

  // Resolve filters, then route each query: exact scan (batched) or the approximate index.
  std::vector<std::optional<Bitset>> filters(requests.size());
  std::vector<size_t> matched(requests.size(), live);
  std::vector<AnnSearchParams> params(requests.size());
  std::vector<ExactQuery> exact_queries;
  std::vector<size_t> exact_of, indexed_of;
  for (size_t i = 0; i < requests.size(); ++i) {
    const SearchRequest& r = requests[i];
    if (r.filter) {
      filters[i] = table.Matching(*r.filter);
      matched[i] = filters[i]->Count();
    }
    params[i].ef_search = r.params.ef_search.value_or(config_.index.ef_search);
    params[i].nprobe = r.params.nprobe.value_or(config_.index.nprobe);
    const Bitset* allowed = filters[i] ? &*filters[i] : all_live;
    const size_t k = static_cast<size_t>(r.k);
    if (!index_ || r.params.exact || PreferExact(matched[i], live, k, params[i])) {
      exact_queries.push_back({queries[i].data(), k, allowed});
      exact_of.push_back(i);
    } else {
      indexed_of.push_back(i);
    }
  }

  std::vector<std::vector<Neighbor>> neighbors(requests.size());
  if (!exact_queries.empty()) {
    auto results =
        ExactSearch(table, config_.metric, exact_queries, 0, table.num_slots(), search_threads_);
    for (size_t j = 0; j < exact_of.size(); ++j) neighbors[exact_of[j]] = std::move(results[j]);
  }
  try {
    SearchIndexed(queries, requests, filters, matched, params, all_live, indexed_of, &neighbors);
  } catch (const std::exception& e) {  // FAISS reports failures by throwing
    return Status::Internal("search of collection '" + config_.name + "' failed: " + e.what());
  }

  std::vector<std::vector<ScoredPoint>> out(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const SearchRequest& r = requests[i];
    for (const Neighbor& n : neighbors[i]) {
      float score = ScoreOf(config_.metric, n.distance);
      if (r.score_threshold) {
        bool keep = config_.metric == Metric::kL2 ? score <= *r.score_threshold
                                                  : score >= *r.score_threshold;
        if (!keep) break;  // results are best first: the rest are worse
      }
      Record rec = MakeRecord(n.slot, r.with_payload, r.with_vector);
      out[i].push_back({std::move(rec.id), score, std::move(rec.payload), std::move(rec.vector)});
    }
  }
  return out;
}

// ---- index maintenance --------------------------------------------------------------------

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
  if (tail >= std::max<size_t>(kBulkTailPoints, indexed_slots_)) return IndexStep::kRebuild;
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
  try {
    switch (step) {
      case IndexStep::kNone:
        return false;
      case IndexStep::kRebuild:
        Rebuild();
        break;
      case IndexStep::kAddTail:
        AddTail();
        break;
    }
  } catch (const std::exception& e) {
    // Searches stay exact for the points outside the index; the next write retries.
    std::fprintf(stderr, "vecmesh: index maintenance of collection '%s' failed: %s\n",
                 config_.name.c_str(), e.what());
    building_ = false;
    return false;
  }
  return !cancelled_;
}

void Collection::Cancel() { cancelled_ = true; }

void Collection::Rebuild() {
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
    auto request_rebuild = [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->RequestMaintenance();
    };
    auto built = BuildAnnIndex(config_, old_slots.size(), vectors.data(), new_slots.data(),
                               {.cancelled = &cancelled_,
                                .threads = build_threads_,
                                .request_rebuild = request_rebuild});
    if (!built.ok()) {
      std::fprintf(stderr, "vecmesh: building the index of collection '%s' failed: %s\n",
                   config_.name.c_str(), built.status().ToString().c_str());
      building_ = false;
      return;
    }
    if (cancelled_) return;
    index = std::move(*built);
  }
  vectors = {};

  // Catch up with the writes made during the build and swap. Writers wait; searches go on
  // reading the old table until the pointer exchange.
  std::unique_ptr<PointTable> table = std::make_unique<PointTable>(dim);
  {
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
  // The old table and index are freed here, outside every lock.
}

void Collection::AddTail() {
  const size_t dim = config_.dimension;
  uint32_t from, to;
  std::vector<float> vectors;
  {
    std::shared_lock lock(mu_);
    from = indexed_slots_;
    to =
        static_cast<uint32_t>(std::min<size_t>(table_->num_slots(), from + index_->AddBatchSize()));
    vectors.resize(size_t{to - from} * dim);
    for (uint32_t s = from; s < to; ++s) {
      std::copy_n(table_->Vector(s), dim, vectors.begin() + size_t{s - from} * dim);
    }
  }
  std::vector<uint32_t> slots(to - from);
  std::iota(slots.begin(), slots.end(), from);
  // Only this thread (holding maintenance_mu_) replaces index_ or adds to it.
  std::vector<uint8_t> codes = index_->Encode(slots.size(), vectors.data());
  std::unique_lock lock(mu_);
  index_->AddEncoded(slots.size(), vectors.data(), codes.data(), slots.data());
  indexed_slots_ = to;
}

}  // namespace vecmesh::engine
