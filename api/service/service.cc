#include "api/service/service.h"

#include <algorithm>
#include <chrono>

namespace vecmesh::api {

using engine::PointId;

namespace {

bool IsKnownBackend(std::string_view name) {
  return std::find(std::begin(kKnownBackends), std::end(kKnownBackends), name) !=
         std::end(kKnownBackends);
}

}  // namespace

Service::Service(ServiceOptions options, KeyRing keys)
    : options_(std::move(options)), keys_(std::move(keys)) {}

Service::~Service() { Detach(); }

void Service::Attach(std::shared_ptr<const StoreRouter> router,
                     std::shared_ptr<engine::LocalAdmin> admin) {
  std::lock_guard lock(store_mu_);
  stores_ = {std::move(router), std::move(admin)};
}

void Service::SetJobQueue(std::shared_ptr<JobQueue> jobs) {
  std::lock_guard lock(store_mu_);
  jobs_ = std::move(jobs);
}

void Service::Serve() {
  std::lock_guard lock(store_mu_);
  if (stores_.router) state_ = ServiceState::kServing;
}

void Service::Detach() {
  std::lock_guard lock(store_mu_);
  state_ = ServiceState::kShutDown;
  // The local store closes (and checkpoints) when its last owner lets go: the daemon, once every
  // request still holding it has ended.
  stores_ = {};
}

StatusOr<Service::Stores> Service::Serving() const {
  std::lock_guard lock(store_mu_);
  switch (state_.load()) {
    case ServiceState::kRecovering:
      return Status::Unavailable("vecmesh is recovering its data; retry shortly");
    case ServiceState::kShutDown:
      return Status::Unavailable("vecmesh is shutting down");
    case ServiceState::kServing:
      return stores_;
  }
  return Status::Internal("unknown service state");
}

std::string_view Service::State() const {
  if (draining_) return "shutting_down";
  switch (state_.load()) {
    case ServiceState::kRecovering:
      return "recovering";
    case ServiceState::kShutDown:
      return "shutting_down";
    case ServiceState::kServing:
      return "healthy";
  }
  return "unknown";
}

Status Service::Authorize(Operation op, std::optional<std::string_view> key) const {
  if (keys_.empty()) return Status::Ok();
  if (!key || key->empty()) {
    return Status::Unauthenticated(
        "an API key is required: send it as the api-key header (or Authorization: Bearer KEY), "
        "or as api-key gRPC metadata");
  }
  const Role role = keys_.RoleOf(*key);
  if (role == Role::kNone) return Status::Unauthenticated("the API key is not valid");
  const Role needed = RequiredRole(op);
  if (role < needed) {
    return Status::PermissionDenied("a " + std::string(RoleName(role)) + " key may not call " +
                                    std::string(OperationName(op)) + "; it needs a " +
                                    std::string(RoleName(needed)) + " key");
  }
  return Status::Ok();
}

Service::EngineHealth Service::DeepHealth() const {
  EngineHealth health;
  auto stores = Serving();
  auto all = stores.ok() ? stores->router->catalog().ListCollections({})
                         : StatusOr<std::vector<engine::CollectionInfo>>(stores.status());
  if (!all.ok()) {
    health.status = "unhealthy";
    return health;
  }
  for (const auto& info : *all) {
    ++health.collections;
    health.points += info.points;
    health.read_only = health.read_only || info.status == "read_only";
  }
  health.status = health.read_only ? "unhealthy" : "healthy";
  return health;
}

std::vector<engine::CollectionInfo> Service::CollectionsForMetrics() const {
  auto stores = Serving();
  if (!stores.ok()) return {};
  auto all = stores->router->catalog().ListCollections({});
  if (!all.ok()) return {};
  return std::move(*all);
}

std::optional<engine::LatencyHistogram::Counts> Service::LogLatency() const {
  auto stores = Serving();
  if (!stores.ok()) return std::nullopt;
  return stores->admin->LogLatency();
}

size_t Service::JobQueueDepth() const {
  std::lock_guard lock(store_mu_);
  return jobs_ ? jobs_->depth() : 0;
}

Status Service::CheckBackends(const StoreRouter& router,
                              const std::vector<std::string>& backends) const {
  if (backends.empty()) {
    return Status::InvalidArgument("backends must list at least one of faiss, qdrant, chroma");
  }
  for (size_t i = 0; i < backends.size(); ++i) {
    const std::string field = "backends[" + std::to_string(i) + "]";
    if (!IsKnownBackend(backends[i])) {
      return Status::InvalidArgument(field + " is '" + backends[i] +
                                     "'; it must be one of faiss, qdrant, chroma");
    }
    if (std::find(backends.begin(), backends.begin() + i, backends[i]) != backends.begin() + i) {
      return Status::InvalidArgument(field + " repeats '" + backends[i] + "'");
    }
    if (!router.Has(backends[i])) {
      return Status::FailedPrecondition(field + ": backend '" + backends[i] +
                                        "' is not configured on this server");
    }
  }
  return Status::Ok();
}

Status Service::CheckStore(const StoreRouter& router, const std::string& store,
                           std::string_view field) const {
  if (store.empty() || store == "all" || router.Has(store)) return Status::Ok();
  if (IsKnownBackend(store)) {
    return Status::FailedPrecondition(std::string(field) + ": backend '" + store +
                                      "' is not configured on this server");
  }
  return Status::InvalidArgument(std::string(field) + " is '" + store +
                                 "'; it must be one of faiss, qdrant, chroma, all");
}

Status Service::CheckDimension(int64_t dimension) const {
  const uint32_t most = options_.limits.max_dimension;
  if (dimension >= 1 && dimension <= most) return Status::Ok();
  return Status::InvalidArgument("dimension must be in [1, " + std::to_string(most) + "], got " +
                                 std::to_string(dimension));
}

StatusOr<bool> Service::CreateCollection(const CreateCollectionRequest& request) {
  Status valid = CheckDimension(request.dimension);
  if (!valid.ok()) return valid;
  engine::CollectionConfig config;
  config.name = request.name;
  config.dimension = static_cast<uint32_t>(request.dimension);
  if (!request.metric.empty()) {
    auto metric = engine::ParseMetric(request.metric);
    if (!metric) {
      return Status::InvalidArgument("metric is '" + request.metric +
                                     "'; it must be l2, ip or cosine");
    }
    config.metric = *metric;
  }
  auto index = engine::IndexConfigFromJson(request.index, config.dimension);
  if (!index.ok()) return index.status();
  config.index = *index;
  config.backends = request.backends;
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  Status s = CheckBackends(*stores->router, request.backends);
  if (!s.ok()) return s;
  return stores->router->catalog().CreateCollection({}, config);
}

StatusOr<CollectionView> Service::GetCollection(const std::string& name) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto info = stores->router->catalog().GetCollection({}, name);
  if (!info.ok()) return info.status();
  return CollectionView{std::move(*info)};
}

StatusOr<std::vector<CollectionView>> Service::ListCollections() const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto all = stores->router->catalog().ListCollections({});
  if (!all.ok()) return all.status();
  std::vector<CollectionView> out;
  for (auto& info : *all) out.push_back({std::move(info)});
  return out;
}

Status Service::DeleteCollection(const std::string& name) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  return stores->router->catalog().DropCollection({}, name);
}

StatusOr<size_t> Service::Upsert(const std::string& collection, std::vector<engine::Point> points) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  return stores->router->catalog().Upsert({}, collection, std::move(points));
}

StatusOr<std::vector<engine::Record>> Service::GetPoints(const std::string& collection,
                                                         const GetPointsRequest& request) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto store = stores->router->ReadStore({}, collection, "", "store");
  if (!store.ok()) return store.status();
  return (*store)->Get({}, collection, request.ids, request.with_payload, request.with_vector);
}

StatusOr<size_t> Service::DeletePoints(const std::string& collection,
                                       const DeletePointsRequest& request) {
  if (request.ids.has_value() == request.filter.has_value()) {
    return Status::InvalidArgument("give exactly one of ids and filter");
  }
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  engine::VectorStore& store = stores->router->catalog();
  if (request.ids) return store.Delete({}, collection, *request.ids);
  return store.DeleteByFilter({}, collection, *request.filter);
}

StatusOr<size_t> Service::UpdatePayload(const std::string& collection,
                                        const UpdatePayloadRequest& request) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  return stores->router->catalog().SetPayload({}, collection, request.ids, request.payload,
                                              request.mode);
}

StatusOr<size_t> Service::Count(const std::string& collection,
                                const std::optional<engine::Filter>& filter) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto store = stores->router->ReadStore({}, collection, "", "store");
  if (!store.ok()) return store.status();
  return (*store)->Count({}, collection, filter ? &*filter : nullptr);
}

StatusOr<engine::ScrollPage> Service::Scroll(const std::string& collection,
                                             const engine::ScrollRequest& request) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto store = stores->router->ReadStore({}, collection, "", "store");
  if (!store.ok()) return store.status();
  return (*store)->Scroll({}, collection, request);
}

StatusOr<SearchAnswer> Service::Route(const StoreRouter& router, const std::string& collection,
                                      const Search& search, std::string_view field) const {
  if (search.store == "all") {
    auto all = router.SearchAll({}, collection, search.request);
    if (!all.ok()) return all.status();
    return SearchAnswer{std::move(all->results), std::move(all->stores)};
  }
  auto store = router.ReadStore({}, collection, search.store, field);
  if (!store.ok()) return store.status();
  auto results = (*store)->Search({}, collection, search.request);
  if (!results.ok()) return results.status();
  return SearchAnswer{std::move(*results), {}};
}

StatusOr<SearchAnswer> Service::SearchOne(const std::string& collection,
                                          const Search& search) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  Status s = CheckStore(*stores->router, search.store, "store");
  if (!s.ok()) return s;
  return Route(*stores->router, collection, search, "store");
}

StatusOr<std::vector<SearchAnswer>> Service::SearchBatch(
    const std::string& collection, const std::vector<Search>& searches) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  const StoreRouter& router = *stores->router;
  auto field = [](size_t i) { return "searches[" + std::to_string(i) + "]"; };
  for (size_t i = 0; i < searches.size(); ++i) {
    Status s = CheckStore(router, searches[i].store, field(i) + ".store");
    if (!s.ok()) return s;
  }
  // The common case, one store for the whole batch: one call, whose errors name
  // searches[i].field themselves.
  const bool one_store =
      std::none_of(searches.begin(), searches.end(),
                   [&](const Search& s) { return s.store == "all"; }) &&
      std::all_of(searches.begin(), searches.end(),
                  [&](const Search& s) { return s.store == searches.front().store; });
  if (searches.empty() || one_store) {
    auto store = router.ReadStore({}, collection, searches.empty() ? "" : searches.front().store,
                                  searches.empty() ? "store" : field(0) + ".store");
    if (!store.ok()) return store.status();
    std::vector<engine::SearchRequest> requests;
    requests.reserve(searches.size());
    for (const auto& search : searches) requests.push_back(search.request);
    auto results = (*store)->SearchBatch({}, collection, requests);
    if (!results.ok()) return results.status();
    std::vector<SearchAnswer> answers(searches.size());
    for (size_t i = 0; i < searches.size(); ++i) answers[i].results = std::move((*results)[i]);
    return answers;
  }
  // Several stores, or a fan-out: each search on its own, its errors prefixed by its place.
  std::vector<SearchAnswer> answers;
  answers.reserve(searches.size());
  for (size_t i = 0; i < searches.size(); ++i) {
    auto answer = Route(router, collection, searches[i], field(i) + ".store");
    if (!answer.ok()) return answer.status().WithContext(field(i));
    answers.push_back(std::move(*answer));
  }
  return answers;
}

StatusOr<engine::SnapshotInfo> Service::CreateSnapshot(const std::string& collection) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  return stores->admin->CreateSnapshot(collection);
}

StatusOr<std::vector<engine::SnapshotInfo>> Service::ListSnapshots(
    const std::string& collection) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  return stores->admin->ListSnapshots(collection);
}

StatusOr<std::string> Service::SnapshotPath(const std::string& collection,
                                            const std::string& snapshot) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  return stores->admin->SnapshotPath(collection, snapshot);
}

Status Service::RestoreSnapshot(const std::string& collection, const std::string& snapshot) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto path = stores->admin->SnapshotPath(collection, snapshot);
  if (!path.ok()) return path.status();
  return stores->admin->RestoreSnapshot(*path, collection);
}

Status Service::RestoreUploadedSnapshot(const std::string& collection, std::string_view file) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  return stores->admin->RestoreSnapshotBytes(file, collection);
}

StatusOr<std::string> Service::SubmitImport(const std::string& collection,
                                             std::vector<engine::Point> points) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  Status s = stores->router->catalog().ValidateUpsert({}, collection, points);
  if (!s.ok()) return s;
  std::lock_guard lock(store_mu_);
  if (!jobs_) return Status::Unavailable("vecmesh is shutting down");
  return jobs_->Submit(collection, std::move(points));
}

Status Service::ApplyImport(const std::string& collection, std::vector<engine::Point> points) {
  const size_t chunk = options_.limits.max_points_per_upsert;
  const size_t total = points.size();
  for (size_t begin = 0; begin < total; begin += chunk) {
    const size_t end = std::min(total, begin + chunk);
    std::vector<engine::Point> part(std::make_move_iterator(points.begin() + begin),
                                    std::make_move_iterator(points.begin() + end));
    auto written = Upsert(collection, std::move(part));
    if (!written.ok()) {
      return written.status().WithContext(std::to_string(begin) + " of " + std::to_string(total) +
                                          " points were written before this failure");
    }
  }
  return Status::Ok();
}

StatusOr<Job> Service::GetJob(const std::string& job_id) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  std::lock_guard lock(store_mu_);
  if (!jobs_) return Status::Unavailable("vecmesh is shutting down");
  return jobs_->Get(job_id);
}

}  // namespace vecmesh::api
