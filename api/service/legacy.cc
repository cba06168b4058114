// The legacy endpoints of the platform's "faiss" service (API.md), over the same stores as
// the rest: collections of metric l2 in the catalog store, ids from the local store.
#include "api/service/service.h"

namespace vecmesh::api {

Status Service::LegacyCreateIndex(const std::string& name, int64_t dimension) {
  Status valid = CheckDimension(dimension);
  if (!valid.ok()) return valid;
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  engine::VectorStore& store = stores->router->catalog();
  auto created = store.CreateCollection(
      {}, {name, static_cast<uint32_t>(dimension), engine::Metric::kL2, options_.legacy_index});
  if (created.ok() || created.status().code() != engine::StatusCode::kAlreadyExists) {
    return created.status();
  }
  auto existing = store.GetCollection({}, name);
  if (!existing.ok()) return existing.status();
  if (existing->config.dimension == dimension) return Status::Ok();
  return Status::AlreadyExists("index '" + name + "' exists with dimension " +
                               std::to_string(existing->config.dimension) + ", not " +
                               std::to_string(dimension));
}

StatusOr<std::vector<uint64_t>> Service::LegacyAddVectors(LegacyAddVectorsRequest request) {
  const size_t n = request.vectors.size();
  if (!request.metadata.empty() && request.metadata.size() != n) {
    return Status::InvalidArgument("metadata has " + std::to_string(request.metadata.size()) +
                                   " entries; vectors has " + std::to_string(n));
  }
  if (request.ids && request.ids->size() != n) {
    return Status::InvalidArgument("ids has " + std::to_string(request.ids->size()) +
                                   " entries; vectors has " + std::to_string(n));
  }
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  engine::VectorStore& store = stores->router->catalog();
  auto make_points = [&](const std::vector<uint64_t>& ids) {
    std::vector<engine::Point> points(n);
    for (size_t i = 0; i < n; ++i) {
      points[i].id = ids[i];
      points[i].vector = std::move(request.vectors[i]);
      points[i].payload =
          request.metadata.empty() ? engine::Payload::object() : std::move(request.metadata[i]);
    }
    return points;
  };
  if (request.ids) {
    auto written = store.Upsert({}, request.index, make_points(*request.ids));
    if (!written.ok()) return written.status();
    return *request.ids;
  }
  // New ids follow the largest integer id, and those reserved by adds still in flight. They are
  // reserved under the lock and written outside it (no lock is held across the log's fsync); an
  // add that fails leaves a gap.
  uint64_t first;
  {
    std::lock_guard lock(legacy_mu_);
    auto max_id = stores->admin->MaxIntegerId(request.index);
    if (!max_id.ok()) return max_id.status();
    if (*max_id && **max_id == UINT64_MAX) first = UINT64_MAX;  // none left: refused below
    else first = *max_id ? **max_id + 1 : 0;
    first = std::max(first, next_legacy_id_[request.index]);
    if (first == UINT64_MAX || (n > 0 && first > UINT64_MAX - n)) {
      return Status::FailedPrecondition("index '" + request.index +
                                        "' has no integer ids left after its largest; give ids");
    }
    next_legacy_id_[request.index] = first + n;
  }
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = first + i;
  auto written = store.Upsert({}, request.index, make_points(ids));
  if (!written.ok()) return written.status();
  return ids;
}

StatusOr<std::vector<engine::ScoredPoint>> Service::LegacySearch(const std::string& index,
                                                                 std::vector<float> vector,
                                                                 int64_t k) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  engine::VectorStore& store = stores->router->catalog();
  engine::SearchRequest request;
  request.vector = std::move(vector);
  request.k = k;
  return store.Search({}, index, request);
}

}  // namespace vecmesh::api
