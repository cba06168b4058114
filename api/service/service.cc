#include "api/service/service.h"

#include <chrono>
#include <cstdio>

namespace vecmesh::api {

using engine::PointId;

namespace {

const std::vector<std::string_view> kBackends = {"faiss", "qdrant", "chroma"};

bool IsKnownBackend(std::string_view name) {
  return std::find(kBackends.begin(), kBackends.end(), name) != kBackends.end();
}

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kCreateCollection:
      return "CreateCollection";
    case Operation::kGetCollection:
      return "GetCollection";
    case Operation::kListCollections:
      return "ListCollections";
    case Operation::kDeleteCollection:
      return "DeleteCollection";
    case Operation::kUpsert:
      return "Upsert";
    case Operation::kGetPoints:
      return "GetPoints";
    case Operation::kDeletePoints:
      return "DeletePoints";
    case Operation::kUpdatePayload:
      return "UpdatePayload";
    case Operation::kCount:
      return "Count";
    case Operation::kScroll:
      return "Scroll";
    case Operation::kSearch:
      return "Search";
    case Operation::kSearchBatch:
      return "SearchBatch";
    case Operation::kCreateSnapshot:
      return "CreateSnapshot";
    case Operation::kListSnapshots:
      return "ListSnapshots";
    case Operation::kDownloadSnapshot:
      return "DownloadSnapshot";
    case Operation::kRestoreSnapshot:
      return "RestoreSnapshot";
    case Operation::kUploadSnapshot:
      return "UploadSnapshot";
    case Operation::kSubmitImport:
      return "SubmitImport";
    case Operation::kGetJob:
      return "GetJob";
    case Operation::kLegacyCreateIndex:
      return "LegacyCreateIndex";
    case Operation::kLegacyAddVectors:
      return "LegacyAddVectors";
    case Operation::kLegacySearch:
      return "LegacySearch";
  }
  return "Unknown";
}

Role RequiredRole(Operation op) {
  switch (op) {
    case Operation::kGetCollection:
    case Operation::kListCollections:
    case Operation::kGetPoints:
    case Operation::kCount:
    case Operation::kScroll:
    case Operation::kSearch:
    case Operation::kSearchBatch:
    case Operation::kListSnapshots:
    case Operation::kGetJob:
    case Operation::kLegacySearch:
      return Role::kReadOnly;
    case Operation::kUpsert:
    case Operation::kDeletePoints:
    case Operation::kUpdatePayload:
    case Operation::kSubmitImport:
    case Operation::kLegacyAddVectors:
      return Role::kReadWrite;
    case Operation::kCreateCollection:
    case Operation::kDeleteCollection:
    case Operation::kCreateSnapshot:
    case Operation::kDownloadSnapshot:
    case Operation::kRestoreSnapshot:
    case Operation::kUploadSnapshot:
    case Operation::kLegacyCreateIndex:
      return Role::kAdmin;
  }
  return Role::kAdmin;
}

Service::Service(ServiceOptions options, KeyRing keys)
    : options_(std::move(options)), keys_(std::move(keys)) {}

Service::~Service() { Detach(); }

void Service::Attach(std::shared_ptr<engine::LocalStore> store) {
  std::lock_guard lock(store_mu_);
  store_ = std::move(store);
}

void Service::SetJobQueue(std::shared_ptr<JobQueue> jobs) {
  std::lock_guard lock(store_mu_);
  jobs_ = std::move(jobs);
}

void Service::Serve() {
  std::lock_guard lock(store_mu_);
  if (store_) state_ = ServiceState::kServing;
}

void Service::Detach() {
  std::shared_ptr<engine::LocalStore> store;
  {
    std::lock_guard lock(store_mu_);
    state_ = ServiceState::kShutDown;
    store = std::move(store_);
  }
  // The store closes (and checkpoints) when its last owner lets go: the daemon, once every
  // request still holding it has ended.
}

StatusOr<std::shared_ptr<engine::LocalStore>> Service::Store() const {
  std::lock_guard lock(store_mu_);
  switch (state_.load()) {
    case ServiceState::kRecovering:
      return Status::Unavailable("vecmesh is recovering its data; retry shortly");
    case ServiceState::kShutDown:
      return Status::Unavailable("vecmesh is shutting down");
    case ServiceState::kServing:
      return store_;
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
  auto store = Store();
  if (!store.ok()) {
    health.status = "unhealthy";
    return health;
  }
  auto all = (*store)->ListCollections({});
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
  auto store = Store();
  if (!store.ok()) return {};
  auto all = (*store)->ListCollections({});
  if (!all.ok()) return {};
  return std::move(*all);
}

std::optional<engine::LatencyHistogram::Counts> Service::LogLatency() const {
  auto store = Store();
  if (!store.ok()) return std::nullopt;
  return (*store)->LogLatency();
}

size_t Service::JobQueueDepth() const {
  std::lock_guard lock(store_mu_);
  return jobs_ ? jobs_->depth() : 0;
}

Status Service::CheckBackends(const std::vector<std::string>& backends) const {
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
    if (backends[i] != kLocalBackend) {
      return Status::FailedPrecondition(field + ": backend '" + backends[i] +
                                        "' is not configured on this server");
    }
  }
  return Status::Ok();
}

Status Service::CheckStore(const std::string& store, std::string_view field) const {
  if (store == kLocalBackend || store == "all") return Status::Ok();
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
  Status s = CheckBackends(request.backends);
  if (!s.ok()) return s;
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->CreateCollection({}, config);
}

StatusOr<CollectionView> Service::GetCollection(const std::string& name) const {
  auto store = Store();
  if (!store.ok()) return store.status();
  auto info = (*store)->GetCollection({}, name);
  if (!info.ok()) return info.status();
  return CollectionView{std::move(*info), {std::string(kLocalBackend)}};
}

StatusOr<std::vector<CollectionView>> Service::ListCollections() const {
  auto store = Store();
  if (!store.ok()) return store.status();
  auto all = (*store)->ListCollections({});
  if (!all.ok()) return all.status();
  std::vector<CollectionView> out;
  for (auto& info : *all) {
    out.push_back({std::move(info), {std::string(kLocalBackend)}});
  }
  return out;
}

Status Service::DeleteCollection(const std::string& name) {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->DropCollection({}, name);
}

StatusOr<size_t> Service::Upsert(const std::string& collection, std::vector<engine::Point> points) {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->Upsert({}, collection, std::move(points));
}

StatusOr<std::vector<engine::Record>> Service::GetPoints(const std::string& collection,
                                                         const GetPointsRequest& request) const {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->Get({}, collection, request.ids, request.with_payload, request.with_vector);
}

StatusOr<size_t> Service::DeletePoints(const std::string& collection,
                                       const DeletePointsRequest& request) {
  if (request.ids.has_value() == request.filter.has_value()) {
    return Status::InvalidArgument("give exactly one of ids and filter");
  }
  auto store = Store();
  if (!store.ok()) return store.status();
  if (request.ids) return (*store)->Delete({}, collection, *request.ids);
  return (*store)->DeleteByFilter({}, collection, *request.filter);
}

StatusOr<size_t> Service::UpdatePayload(const std::string& collection,
                                        const UpdatePayloadRequest& request) {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->SetPayload({}, collection, request.ids, request.payload, request.mode);
}

StatusOr<size_t> Service::Count(const std::string& collection,
                                const std::optional<engine::Filter>& filter) const {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->Count({}, collection, filter ? &*filter : nullptr);
}

StatusOr<engine::ScrollPage> Service::Scroll(const std::string& collection,
                                             const engine::ScrollRequest& request) const {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->Scroll({}, collection, request);
}

StatusOr<SearchAnswer> Service::SearchOne(const std::string& collection,
                                          const Search& search) const {
  Status s = CheckStore(search.store, "store");
  if (!s.ok()) return s;
  auto store = Store();
  if (!store.ok()) return store.status();
  const auto start = std::chrono::steady_clock::now();
  auto results = (*store)->Search({}, collection, search.request);
  if (!results.ok()) return results.status();
  SearchAnswer answer{std::move(*results), {}};
  if (search.store == "all") {
    answer.stores.push_back({std::string(kLocalBackend), Status::Ok(), MillisecondsSince(start)});
  }
  return answer;
}

StatusOr<std::vector<SearchAnswer>> Service::SearchBatch(
    const std::string& collection, const std::vector<Search>& searches) const {
  std::vector<engine::SearchRequest> requests;
  requests.reserve(searches.size());
  for (size_t i = 0; i < searches.size(); ++i) {
    Status s = CheckStore(searches[i].store, "searches[" + std::to_string(i) + "].store");
    if (!s.ok()) return s;
    requests.push_back(searches[i].request);
  }
  auto store = Store();
  if (!store.ok()) return store.status();
  const auto start = std::chrono::steady_clock::now();
  auto results = (*store)->SearchBatch({}, collection, requests);
  if (!results.ok()) return results.status();
  const double took_ms = MillisecondsSince(start);
  std::vector<SearchAnswer> answers(searches.size());
  for (size_t i = 0; i < searches.size(); ++i) {
    answers[i].results = std::move((*results)[i]);
    if (searches[i].store == "all") {
      answers[i].stores.push_back({std::string(kLocalBackend), Status::Ok(), took_ms});
    }
  }
  return answers;
}

StatusOr<engine::SnapshotInfo> Service::CreateSnapshot(const std::string& collection) {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->CreateSnapshot(collection);
}

StatusOr<std::vector<engine::SnapshotInfo>> Service::ListSnapshots(
    const std::string& collection) const {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->ListSnapshots(collection);
}

StatusOr<std::string> Service::SnapshotPath(const std::string& collection,
                                            const std::string& snapshot) const {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->SnapshotPath(collection, snapshot);
}

Status Service::RestoreSnapshot(const std::string& collection, const std::string& snapshot) {
  auto store = Store();
  if (!store.ok()) return store.status();
  auto path = (*store)->SnapshotPath(collection, snapshot);
  if (!path.ok()) return path.status();
  return (*store)->RestoreSnapshot(*path, collection);
}

Status Service::RestoreUploadedSnapshot(const std::string& collection, std::string_view file) {
  auto store = Store();
  if (!store.ok()) return store.status();
  return (*store)->RestoreSnapshotBytes(file, collection);
}

StatusOr<std::string> Service::SubmitImport(const std::string& collection,
                                             std::vector<engine::Point> points) {
  auto store = Store();
  if (!store.ok()) return store.status();
  Status s = (*store)->ValidateUpsert({}, collection, points);
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
  auto store = Store();
  if (!store.ok()) return store.status();
  std::lock_guard lock(store_mu_);
  if (!jobs_) return Status::Unavailable("vecmesh is shutting down");
  return jobs_->Get(job_id);
}

Status Service::LegacyCreateIndex(const std::string& name, int64_t dimension) {
  Status valid = CheckDimension(dimension);
  if (!valid.ok()) return valid;
  auto store = Store();
  if (!store.ok()) return store.status();
  auto created = (*store)->CreateCollection(
      {}, {name, static_cast<uint32_t>(dimension), engine::Metric::kL2, options_.legacy_index});
  if (created.ok() || created.status().code() != engine::StatusCode::kAlreadyExists) {
    return created.status();
  }
  auto existing = (*store)->GetCollection({}, name);
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
  auto store = Store();
  if (!store.ok()) return store.status();
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
    auto written = (*store)->Upsert({}, request.index, make_points(*request.ids));
    if (!written.ok()) return written.status();
    return *request.ids;
  }
  // New ids follow the largest integer id, and those reserved by adds still in flight. They are
  // reserved under the lock and written outside it (no lock is held across the log's fsync); an
  // add that fails leaves a gap.
  uint64_t first;
  {
    std::lock_guard lock(legacy_mu_);
    auto max_id = (*store)->MaxIntegerId(request.index);
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
  auto written = (*store)->Upsert({}, request.index, make_points(ids));
  if (!written.ok()) return written.status();
  return ids;
}

StatusOr<std::vector<engine::ScoredPoint>> Service::LegacySearch(const std::string& index,
                                                                 std::vector<float> vector,
                                                                 int64_t k) {
  auto store = Store();
  if (!store.ok()) return store.status();
  engine::SearchRequest request;
  request.vector = std::move(vector);
  request.k = k;
  return (*store)->Search({}, index, request);
}

}  // namespace vecmesh::api
