#include "api/service/service.h"

#include <algorithm>
#include <map>

#include "engine/storage/write_ops.h"

namespace vecmesh::api {

using engine::PointId;

namespace {

// `status` with the item `list[j]` its message starts with renamed `list[places[j]]`.
Status RenumberedListItem(const Status& status, std::string_view list,
                          const std::vector<size_t>& places) {
  const std::string& message = status.message();
  const std::string open = std::string(list) + "[";
  if (message.compare(0, open.size(), open) != 0) return status;
  const size_t close = message.find(']', open.size());
  if (close == std::string::npos) return status;
  size_t j = 0;
  for (size_t at = open.size(); at < close; ++at) {
    if (message[at] < '0' || message[at] > '9' || j > places.size()) return status;
    j = j * 10 + static_cast<size_t>(message[at] - '0');
  }
  if (close == open.size() || j >= places.size()) return status;
  return Status::WithCode(status.code(), open + std::to_string(places[j]) + message.substr(close));
}

bool IsKnownBackend(std::string_view name) {
  return std::find(std::begin(kKnownBackends), std::end(kKnownBackends), name) !=
         std::end(kKnownBackends);
}

}  // namespace

Service::Service(ServiceOptions options, KeyRing keys)
    : options_(std::move(options)), keys_(std::make_shared<const KeyRing>(std::move(keys))) {}

void Service::SetKeys(KeyRing keys) {
  keys_.store(std::make_shared<const KeyRing>(std::move(keys)));
}

Service::~Service() { Detach(); }

void Service::Attach(std::shared_ptr<const StoreRouter> router,
                     std::shared_ptr<engine::LocalAdmin> admin,
                     std::map<std::string, RemoteBackend> remotes) {
  std::lock_guard lock(store_mu_);
  stores_ = {std::move(router), std::move(admin), std::move(remotes)};
}

void Service::SetJobQueue(std::shared_ptr<JobQueue> jobs) {
  std::lock_guard lock(store_mu_);
  jobs_ = std::move(jobs);
}

void Service::Serve() {
  std::lock_guard lock(store_mu_);
  if (stores_.router) state_ = ServiceState::kServing;
}

void Service::StopServing() {
  std::lock_guard lock(store_mu_);
  state_ = ServiceState::kShutDown;
}

void Service::Detach() {
  Stores stores;
  {
    std::lock_guard lock(store_mu_);
    state_ = ServiceState::kShutDown;
    stores = std::move(stores_);
  }
  // The local store closes (and checkpoints) when its last owner lets go, here or when the last
  // request still holding it ends; never under store_mu_.
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
  const std::shared_ptr<const KeyRing> keys = keys_.load();
  if (keys->open()) return Status::Ok();
  if (!key || key->empty()) {
    return Status::Unauthenticated(
        "an API key is required: send it as the api-key header (or Authorization: Bearer KEY), "
        "or as api-key gRPC metadata");
  }
  const Role role = keys->RoleOf(*key);
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

std::vector<DependencyHealth> Service::DependenciesHealth() const {
  std::vector<DependencyHealth> out;
  auto stores = Serving();
  if (!stores.ok()) return out;
  for (const auto& [name, remote] : stores->remotes) {
    DependencyHealth health{name, "healthy"};
    const auto start = std::chrono::steady_clock::now();
    Status probe = remote.probe();
    health.latency_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const Deliverer::Stats delivery = remote.deliverer->stats();
    health.pending = delivery.pending;
    if (!probe.ok()) {
      health.status = "unhealthy";
      health.message = probe.ToString();
    } else if (delivery.failed_collections > 0) {
      health.status = "warning";
      health.message = std::to_string(delivery.failed_collections) +
                       " collection(s) failed there: GET the collection for the reason";
    } else if (!delivery.last_error.empty()) {
      health.status = "warning";
      health.message = delivery.last_error;
    }
    out.push_back(std::move(health));
  }
  if (std::optional<JobsReport> jobs = Jobs()) {
    // The broker: unhealthy when this vecmeshd should consume and no consumer does.
    DependencyHealth health{"rabbitmq", "healthy"};
    health.pending = static_cast<uint64_t>(std::max<int64_t>(0, jobs->queue_depth));
    health.message = jobs->error;
    if (jobs->consumes && jobs->consumers == 0) {
      health.status = "unhealthy";
    } else if (!jobs->error.empty()) {
      health.status = "warning";
    }
    out.push_back(std::move(health));
  }
  if (std::optional<ConsulReport> consul = Consul()) {
    // Not registered: clients that find services through Consul do not find this one.
    DependencyHealth health{"consul", "healthy"};
    health.latency_ms = consul->last_sync_ms;
    health.message = consul->error;
    if (!consul->registered) {
      health.status = "unhealthy";
      if (health.message.empty()) health.message = "not registered yet";
    } else if (!consul->error.empty()) {
      health.status = "warning";
    } else if (!consul->kv_error.empty()) {
      health.status = "warning";
      health.message =
          "the API keys in KV cannot be read (the last ones stay in force): " + consul->kv_error;
    }
    out.push_back(std::move(health));
  }
  return out;
}

void Service::SetJobsReport(std::function<JobsReport()> report) {
  std::lock_guard lock(store_mu_);
  jobs_report_ = std::move(report);
}

std::optional<JobsReport> Service::Jobs() const {
  std::function<JobsReport()> report;
  {
    std::lock_guard lock(store_mu_);
    report = jobs_report_;
  }
  if (!report) return std::nullopt;
  return report();
}

void Service::SetConsulReport(std::function<ConsulReport()> report) {
  std::lock_guard lock(store_mu_);
  consul_report_ = std::move(report);
}

std::optional<ConsulReport> Service::Consul() const {
  std::function<ConsulReport()> report;
  {
    std::lock_guard lock(store_mu_);
    report = consul_report_;
  }
  if (!report) return std::nullopt;
  return report();
}

std::vector<Service::BackendMetrics> Service::BackendsForMetrics() const {
  std::vector<BackendMetrics> out;
  auto stores = Serving();
  if (!stores.ok()) return out;
  for (const auto& [name, remote] : stores->remotes) {
    out.push_back({name, remote.calls(), remote.deliverer->stats()});
  }
  return out;
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

Status Service::CheckBackends(const std::vector<std::string>& backends,
                              const StoreRouter* router) const {
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
    if (router && !router->Has(backends[i])) {
      return Status::FailedPrecondition(field + ": backend '" + backends[i] +
                                        "' is not configured on this server");
    }
  }
  return Status::Ok();
}

Status Service::CheckStore(const std::optional<std::string>& store, std::string_view field,
                           const StoreRouter* router) const {
  if (!store || *store == "all") return Status::Ok();
  if (!IsKnownBackend(*store)) {
    return Status::InvalidArgument(std::string(field) + " is '" + *store +
                                   "'; it must be one of faiss, qdrant, chroma, all");
  }
  if (router && !router->Has(*store)) {
    return Status::FailedPrecondition(std::string(field) + ": backend '" + *store +
                                      "' is not configured on this server");
  }
  return Status::Ok();
}

Status Service::CheckRemotes(const Stores& stores, const std::vector<std::string>& backends,
                             const std::function<Status(const engine::VectorStore&)>& check) const {
  for (const std::string& backend : backends) {
    if (backend == kLocalBackend) continue;
    auto store = stores.router->Store(backend);
    if (!store) continue;  // not configured here: its writes wait in the log
    // Only a refusal of what the store can hold stops the write: these checks ask no server
    // (engine/vector_store.h), and what the collection there decides is the delivery's to find
    // (a refusal there fails that store, not the write).
    Status s = check(*store);
    if (s.code() == engine::StatusCode::kInvalidArgument) return s;
  }
  return Status::Ok();
}

void Service::ReportStores(const Stores& stores, const std::vector<std::string>& backends,
                           const std::string& collection, StoreStates* out) const {
  const bool remote = std::any_of(backends.begin(), backends.end(),
                                  [](const std::string& b) { return b != kLocalBackend; });
  if (!remote) return;
  const engine::LogPosition written = stores.admin->LogEnd();
  for (const auto& [name, remote] : stores.remotes) remote.deliverer->Notify();
  // A caller that takes no report (a job, an import) does not wait for the stores either.
  if (out == nullptr) return;
  const auto deadline = std::chrono::steady_clock::now() + options_.delivery_wait;
  StoreStates states;
  for (const std::string& backend : backends) {
    if (backend == kLocalBackend) {
      states.push_back({backend, {}});
    } else if (auto it = stores.remotes.find(backend); it != stores.remotes.end()) {
      states.push_back({backend, it->second.deliverer->WaitFor(collection, written, deadline)});
    } else {
      states.push_back({backend,
                        {DeliveryState::kPending, 1,
                         "backend '" + backend +
                             "' is not configured on this server: once it is, the "
                             "collection is made there again from vecmesh's points"}});
    }
  }
  if (out) *out = std::move(states);
}

void Service::AddPending(const Stores& stores, const std::string& collection,
                         std::vector<StoreOutcome>* outcomes) const {
  for (StoreOutcome& outcome : *outcomes) {
    if (auto it = stores.remotes.find(outcome.store); it != stores.remotes.end()) {
      outcome.pending = it->second.deliverer->StatusOf(collection).pending;
    }
  }
}

StoreStates Service::StatesOf(const Stores& stores, const engine::CollectionConfig& config) const {
  StoreStates states;
  const auto& backends = config.backends;
  if (std::all_of(backends.begin(), backends.end(),
                  [](const std::string& b) { return b == kLocalBackend; })) {
    return states;
  }
  for (const std::string& backend : backends) {
    if (backend == kLocalBackend) {
      states.push_back({backend, {}});
    } else if (auto it = stores.remotes.find(backend); it != stores.remotes.end()) {
      states.push_back({backend, it->second.deliverer->StatusOf(config.name)});
    } else {
      states.push_back({backend,
                        {DeliveryState::kUnavailable, 0,
                         "backend '" + backend + "' is not configured on this server"}});
    }
  }
  return states;
}

Status Service::CheckDimension(int64_t dimension) const {
  const uint32_t most = options_.limits.max_dimension;
  if (dimension >= 1 && dimension <= most) return Status::Ok();
  return Status::InvalidArgument("dimension must be in [1, " + std::to_string(most) + "], got " +
                                 std::to_string(dimension));
}

StatusOr<bool> Service::CreateCollection(const CreateCollectionRequest& request,
                                         StoreStates* report) {
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
  Status s = CheckBackends(request.backends, nullptr);
  if (!s.ok()) return s;
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  s = CheckBackends(request.backends, stores->router.get());
  if (!s.ok()) return s;
  s = CheckRemotes(*stores, config.backends, [&](const engine::VectorStore& store) {
    return store.ValidateCreateCollection({}, config);
  });
  if (!s.ok()) return s;
  auto created = stores->router->catalog().CreateCollection({}, config);
  if (!created.ok()) return created;
  ReportStores(*stores, config.backends, config.name, report);
  return created;
}

StatusOr<CollectionView> Service::GetCollection(const std::string& name) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto info = stores->router->catalog().GetCollection({}, name);
  if (!info.ok()) return info.status();
  StoreStates states = StatesOf(*stores, info->config);
  return CollectionView{std::move(*info), std::move(states)};
}

StatusOr<std::vector<CollectionView>> Service::ListCollections() const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto all = stores->router->catalog().ListCollections({});
  if (!all.ok()) return all.status();
  std::vector<CollectionView> out;
  for (auto& info : *all) {
    StoreStates states = StatesOf(*stores, info.config);
    out.push_back({std::move(info), std::move(states)});
  }
  return out;
}

Status Service::DeleteCollection(const std::string& name, StoreStates* report) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto backends = stores->router->BackendsOf({}, name);
  if (!backends.ok()) return backends.status();
  Status s = stores->router->catalog().DropCollection({}, name);
  if (!s.ok()) return s;
  ReportStores(*stores, *backends, name, report);
  return s;
}

StatusOr<size_t> Service::Upsert(const std::string& collection, std::vector<engine::Point> points,
                                 StoreStates* report, const engine::CallOptions& call) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto backends = stores->router->BackendsOf({}, collection);
  if (!backends.ok()) return backends.status();
  Status s = CheckRemotes(*stores, *backends, [&](const engine::VectorStore& store) {
    return store.ValidateUpsert({}, collection, points);
  });
  if (!s.ok()) return s;
  auto written = stores->router->catalog().Upsert(call, collection, std::move(points));
  if (!written.ok()) return written;
  ReportStores(*stores, *backends, collection, report);
  return written;
}

template <typename T>
StatusOr<T> Service::ReadOne(
    const std::string& collection, const std::optional<std::string>& store,
    std::vector<StoreOutcome>* outcomes,
    const std::function<StatusOr<T>(const engine::VectorStore&)>& read) const {
  if (store == "all") {
    return Status::InvalidArgument("store 'all' fans out searches only; name one store");
  }
  Status s = CheckStore(store, "store", nullptr);
  if (!s.ok()) return s;
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  s = CheckStore(store, "store", stores->router.get());
  if (!s.ok()) return s;
  auto backends = stores->router->BackendsOf({}, collection);
  if (!backends.ok()) return backends.status();
  const std::string target = store.value_or(backends->front());
  auto chosen = stores->router->ReadStore({}, collection, target, "store");
  if (!chosen.ok()) return chosen.status();
  const auto start = std::chrono::steady_clock::now();
  StatusOr<T> answer = read(**chosen);
  if (answer.ok() && outcomes && target != kLocalBackend) {
    outcomes->push_back(
        {target, Status::Ok(),
         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
             .count()});
    AddPending(*stores, collection, outcomes);
  }
  return answer;
}

StatusOr<std::vector<engine::Record>> Service::GetPoints(const std::string& collection,
                                                         const GetPointsRequest& request,
                                                         std::vector<StoreOutcome>* stores) const {
  using Records = std::vector<engine::Record>;
  return ReadOne<Records>(collection, request.store, stores, [&](const engine::VectorStore& s) {
    return s.Get({}, collection, request.ids, request.with_payload, request.with_vector);
  });
}

StatusOr<size_t> Service::DeletePoints(const std::string& collection,
                                       const DeletePointsRequest& request, StoreStates* report,
                                       const engine::CallOptions& call) {
  if (request.ids.has_value() == request.filter.has_value()) {
    return Status::InvalidArgument("give exactly one of ids and filter");
  }
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto backends = stores->router->BackendsOf({}, collection);
  if (!backends.ok()) return backends.status();
  // The local store resolves a filter to the ids it matches, and logs those: every backend
  // deletes exactly those points, whatever filters it can express.
  engine::VectorStore& store = stores->router->catalog();
  auto deleted = request.ids ? store.Delete(call, collection, *request.ids)
                             : store.DeleteByFilter(call, collection, *request.filter);
  if (!deleted.ok()) return deleted;
  ReportStores(*stores, *backends, collection, report);
  return deleted;
}

StatusOr<size_t> Service::UpdatePayload(const std::string& collection,
                                        const UpdatePayloadRequest& request, StoreStates* report,
                                        const engine::CallOptions& call) {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  auto backends = stores->router->BackendsOf({}, collection);
  if (!backends.ok()) return backends.status();
  Status s = CheckRemotes(*stores, *backends, [&](const engine::VectorStore& store) {
    return store.ValidateSetPayload({}, collection, request.payload);
  });
  if (!s.ok()) return s;
  auto updated = stores->router->catalog().SetPayload(call, collection, request.ids,
                                                      request.payload, request.mode);
  if (!updated.ok()) return updated;
  ReportStores(*stores, *backends, collection, report);
  return updated;
}

StatusOr<size_t> Service::Count(const std::string& collection, const CountRequest& request,
                                std::vector<StoreOutcome>* stores) const {
  return ReadOne<size_t>(collection, request.store, stores, [&](const engine::VectorStore& s) {
    return s.Count({}, collection, request.filter ? &*request.filter : nullptr);
  });
}

StatusOr<engine::ScrollPage> Service::Scroll(const std::string& collection,
                                             const ScrollPointsRequest& request,
                                             std::vector<StoreOutcome>* stores) const {
  return ReadOne<engine::ScrollPage>(
      collection, request.store, stores,
      [&](const engine::VectorStore& s) { return s.Scroll({}, collection, request.request); });
}

StatusOr<SearchAnswer> Service::SearchOne(const std::string& collection,
                                          const Search& search) const {
  Status s = CheckStore(search.store, "store", nullptr);
  if (!s.ok()) return s;
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  const StoreRouter& router = *stores->router;
  s = CheckStore(search.store, "store", &router);
  if (!s.ok()) return s;
  if (search.store == "all") {
    auto all = router.SearchAll({}, collection, search.request);
    if (!all.ok()) return all.status();
    AddPending(*stores, collection, &all->stores);
    return SearchAnswer{std::move(all->results), std::move(all->stores)};
  }
  auto backends = router.BackendsOf({}, collection);
  if (!backends.ok()) return backends.status();
  const std::string target = search.store.value_or(backends->front());
  auto store = router.ReadStore({}, collection, target, "store");
  if (!store.ok()) return store.status();
  const auto start = std::chrono::steady_clock::now();
  auto results = (*store)->Search({}, collection, search.request);
  if (!results.ok()) return results.status();
  SearchAnswer answer{std::move(*results), {}};
  if (target != kLocalBackend) {
    // An answer from a remote store says how stale it may be.
    answer.stores.push_back(
        {target, Status::Ok(),
         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
             .count()});
    AddPending(*stores, collection, &answer.stores);
  }
  return answer;
}

StatusOr<std::vector<SearchAnswer>> Service::SearchBatch(
    const std::string& collection, const std::vector<Search>& searches) const {
  auto field = [](size_t i) { return "searches[" + std::to_string(i) + "].store"; };
  for (size_t i = 0; i < searches.size(); ++i) {
    Status s = CheckStore(searches[i].store, field(i), nullptr);
    if (!s.ok()) return s;
  }
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  const StoreRouter& router = *stores->router;
  for (size_t i = 0; i < searches.size(); ++i) {
    Status s = CheckStore(searches[i].store, field(i), &router);
    if (!s.ok()) return s;
  }
  auto backends = router.BackendsOf({}, collection);
  if (!backends.ok()) return backends.status();
  // The searches by the store that answers them ("all" for a fan-out), each group in one call:
  // a whole batch to one store, the common case, is one call as it was before stores existed.
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < searches.size(); ++i) {
    groups[searches[i].store.value_or(backends->front())].push_back(i);
  }
  std::vector<SearchAnswer> answers(searches.size());
  for (const auto& [target, members] : groups) {
    std::vector<engine::SearchRequest> requests;
    for (size_t i : members) requests.push_back(searches[i].request);
    // A store names a search by its place in the requests it was given: searches[j] is
    // searches[members[j]] of this batch.
    auto renumbered = [&](const Status& s) { return RenumberedListItem(s, "searches", members); };
    if (target == "all") {
      auto all = router.SearchBatchAll({}, collection, requests);
      if (!all.ok()) return renumbered(all.status());
      for (size_t j = 0; j < members.size(); ++j) {
        AddPending(*stores, collection, &(*all)[j].stores);
        answers[members[j]] = {std::move((*all)[j].results), std::move((*all)[j].stores)};
      }
      continue;
    }
    auto store = router.ReadStore({}, collection, target, field(members.front()));
    if (!store.ok()) return store.status();
    const auto start = std::chrono::steady_clock::now();
    auto results = (*store)->SearchBatch({}, collection, requests);
    if (!results.ok()) return renumbered(results.status());
    std::vector<StoreOutcome> outcome;
    if (target != kLocalBackend) {
      outcome.push_back(
          {target, Status::Ok(),
           std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
               .count()});
      AddPending(*stores, collection, &outcome);
    }
    for (size_t j = 0; j < members.size(); ++j) {
      answers[members[j]].results = std::move((*results)[j]);
      answers[members[j]].stores = outcome;
    }
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
      // The chunk's points[j] is the job's points[begin + j].
      std::vector<size_t> places(end - begin);
      for (size_t j = 0; j < places.size(); ++j) places[j] = begin + j;
      return RenumberedListItem(written.status(), "points", places)
          .WithContext(std::to_string(begin) + " of " + std::to_string(total) +
                       " points were written before this failure");
    }
  }
  return Status::Ok();
}

StatusOr<JobResult> Service::ApplyJob(const std::string& job_id, const std::string& collection,
                                      JobWrite write) {
  // Known first: a job applied before is acknowledged whatever became of its collection since.
  {
    auto stores = Serving();
    if (!stores.ok()) return stores.status();
    if (stores->admin->JobApplied(job_id)) return JobResult{0, true};
  }
  engine::CallOptions call;
  call.job_id = job_id;
  const engine::Overloaded apply{
      [&](std::vector<engine::Point>& points) {
        return Upsert(collection, std::move(points), nullptr, call);
      },
      [&](DeletePointsRequest& request) {
        return DeletePoints(collection, request, nullptr, call);
      },
      [&](UpdatePayloadRequest& request) {
        return UpdatePayload(collection, request, nullptr, call);
      },
  };
  StatusOr<size_t> written = std::visit(apply, write);
  if (written.ok()) return JobResult{*written, false};
  // The store's ledger knew the job: its write is durable, nothing changed now.
  if (written.status().code() == engine::StatusCode::kAlreadyExists) return JobResult{0, true};
  return written.status();
}

StatusOr<Job> Service::GetJob(const std::string& job_id) const {
  auto stores = Serving();
  if (!stores.ok()) return stores.status();
  std::lock_guard lock(store_mu_);
  if (!jobs_) return Status::Unavailable("vecmesh is shutting down");
  return jobs_->Get(job_id);
}

}  // namespace vecmesh::api
