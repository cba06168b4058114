// The service layer of vecmesh: every operation of ../shared/API.md, once, over the stores.
// The REST and gRPC transports decode a request into the types below, call one method and
// encode its answer; validation, limits, roles and backend selection all happen here (or in the
// stores below), so both transports accept and refuse exactly the same things. It reaches the
// stores through the store router (store_router.h) and the local store's own operations
// (snapshots, the legacy id allocation, log metrics) through engine::LocalAdmin; it never names
// a concrete store. service.cc holds the operations, legacy.cc the legacy endpoints,
// operations.cc the operations' names and roles.
//
// Thread safety: every method is safe for concurrent use. Until Serve (recovery is done), every
// operation answers UNAVAILABLE and Health reports "recovering".
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/service/delivery.h"
#include "api/service/jobs.h"
#include "api/service/keys.h"
#include "api/service/store_router.h"
#include "engine/latency_histogram.h"
#include "engine/local_admin.h"

namespace vecmesh::api {

// Every operation, named as its gRPC method (and as the `operation` label of the metrics).
enum class Operation {
  kCreateCollection,
  kGetCollection,
  kListCollections,
  kDeleteCollection,
  kUpsert,
  kGetPoints,
  kDeletePoints,
  kUpdatePayload,
  kCount,
  kScroll,
  kSearch,
  kSearchBatch,
  kCreateSnapshot,
  kListSnapshots,
  kDownloadSnapshot,
  kRestoreSnapshot,
  kUploadSnapshot,
  kSubmitImport,
  kGetJob,
  kLegacyCreateIndex,
  kLegacyAddVectors,
  kLegacySearch,
};
std::string_view OperationName(Operation op);
// The least role that may call `op` (API.md's "Auth").
Role RequiredRole(Operation op);

// The backends API.md names; faiss is this engine, the local store.
inline constexpr std::string_view kLocalBackend = "faiss";
inline constexpr std::string_view kKnownBackends[] = {"faiss", "qdrant", "chroma"};

// As the transports decode it: shapes checked, values not yet (the service checks them, once).
struct CreateCollectionRequest {
  std::string name;
  int64_t dimension = 0;
  std::string metric;     // "": l2
  engine::Payload index;  // API.md's index object; null: flat
  std::vector<std::string> backends = {std::string(kLocalBackend)};
};

// How one store of a collection stands (API.md "Backends"): in write answers and collection
// infos, for collections with a remote backend.
struct StoreState {
  std::string store;
  DeliveryStatus status;
};
using StoreStates = std::vector<StoreState>;

struct CollectionView {
  engine::CollectionInfo info;  // info.config.backends: the stores that hold it
  StoreStates stores;           // each backend's state; empty for a faiss-only collection
};

struct DeletePointsRequest {
  std::optional<std::vector<engine::PointId>> ids;  // exactly one of ids and filter
  std::optional<engine::Filter> filter;
};

struct UpdatePayloadRequest {
  std::vector<engine::PointId> ids;
  engine::Payload payload;
  engine::PayloadMode mode = engine::PayloadMode::kMerge;
};

// A write that an indexing job carries: an upsert's points, a delete, or a payload update.
using JobWrite =
    std::variant<std::vector<engine::Point>, DeletePointsRequest, UpdatePayloadRequest>;
struct JobResult {
  size_t count = 0;              // points written, deleted or updated
  bool already_applied = false;  // the job was applied before: nothing changed now
};

// A read's store: one of the collection's backends; none: the collection's first backend.
// (Search also takes "all": Search below.)
struct GetPointsRequest {
  std::vector<engine::PointId> ids;
  bool with_payload = true;
  bool with_vector = false;
  std::optional<std::string> store;
};

struct CountRequest {
  std::optional<engine::Filter> filter;
  std::optional<std::string> store;
};

struct ScrollPointsRequest {
  engine::ScrollRequest request;
  std::optional<std::string> store;
};

// One search and the store that answers it: a backend of the collection, or "all"; none: the
// collection's first backend.
struct Search {
  engine::SearchRequest request;
  std::optional<std::string> store;
};

struct SearchAnswer {
  std::vector<engine::ScoredPoint> results;
  std::vector<StoreOutcome> stores;  // for store "all", and for an answer from a remote store
};

struct LegacyAddVectorsRequest {
  std::string index;
  std::vector<std::vector<float>> vectors;
  std::vector<engine::Payload> metadata;     // empty, or one per vector
  std::optional<std::vector<uint64_t>> ids;  // none: new ids are assigned
};

// What a remote backend's outbound calls did, for /metrics (its adapter's HTTP client).
struct BackendCallStats {
  uint64_t requests = 0;
  uint64_t transport_errors = 0;
  uint64_t http_errors = 0;
  uint64_t retries = 0;
  uint64_t breaker_rejections = 0;
  std::string breaker;  // "closed", "open", "half_open"
  engine::LatencyHistogram::Counts latency;
  // A backend found in Consul (consul://SERVICE): the service, and its instances now.
  std::string discovered_service;
  struct Instance {
    std::string address;  // "http://host:port"
    uint64_t requests = 0;
  };
  std::vector<Instance> instances;
};

// A configured remote backend, as the daemon wires it in: its deliverer, a cheap probe for
// /health/deep (bounded by its own deadline) and its call statistics for /metrics.
struct RemoteBackend {
  std::shared_ptr<Deliverer> deliverer;
  std::function<Status()> probe;
  std::function<BackendCallStats()> calls;
};

// One dependency in /health/deep.
struct DependencyHealth {
  std::string name;
  std::string status;  // healthy, warning, unhealthy
  std::string message;
  double latency_ms = 0;  // of the probe just made
  uint64_t pending = 0;   // writes waiting for it
};

// What the indexing jobs on RabbitMQ report (api/jobs), for /health/deep and /metrics.
struct JobsReport {
  std::string broker;        // its URL, without the password
  bool consumes = false;     // this vecmeshd consumes the job queue
  int consumers = 0;         // consuming now
  std::string error;         // why a consumer does not consume; "" when none
  int64_t queue_depth = -1;  // jobs ready in the queue, as a consumer last saw; -1: unknown
  uint64_t consumed = 0, acked = 0, already_applied = 0, retried = 0, dead_lettered = 0;
  uint64_t published = 0, publish_failures = 0;
  engine::LatencyHistogram::Counts confirm_latency;  // publish to the broker's ack
};

// What the registration in Consul reports (adapters/consul's Registrar), for /health/deep and
// /metrics.
struct ConsulReport {
  std::string agent;       // its address
  std::string service_id;  // faiss-HOST-PORT
  bool registered = false;
  uint64_t registrations = 0;
  uint64_t failed_syncs = 0;
  std::string error;  // of the last sync; "" when it succeeded
  double last_sync_ms = 0;
  // With keys from KV: updates applied and refused (malformed), and why the watch cannot read.
  bool keys_from_kv = false;
  uint64_t kv_applied = 0, kv_refused = 0;
  std::string kv_error;
};

struct ServiceOptions {
  engine::Limits limits;
  // The index of collections made by the legacy POST /create_index.
  engine::IndexConfig legacy_index;
  std::string version = "0.1.0";
  // How long a write to a collection with remote backends waits for them before it answers
  // (with each store's state: API.md "Backends").
  std::chrono::milliseconds delivery_wait{1000};
};

// Where the service is in its life: recovering (nothing served yet), serving, shut down.
enum class ServiceState { kRecovering, kServing, kShutDown };

class Service {
 public:
  Service(ServiceOptions options, KeyRing keys);
  ~Service();

  // The daemon's composition root (api/daemon/daemon.h) drives these, in this order.
  // Recovery is done: the stores are here. Operations still answer UNAVAILABLE until Serve.
  // `remotes`: the configured remote backends, by name.
  void Attach(std::shared_ptr<const StoreRouter> router, std::shared_ptr<engine::LocalAdmin> admin,
              std::map<std::string, RemoteBackend> remotes = {});
  // Where imports are queued (null: none, imports answer UNAVAILABLE).
  void SetJobQueue(std::shared_ptr<JobQueue> jobs);
  // Operations are served from here on.
  void Serve();
  // The server is draining: /health reports "shutting_down" (load balancers stop sending), while
  // requests already on their way are still served until Detach.
  void BeginShutdown() { draining_ = true; }
  // Operations answer UNAVAILABLE from here on (requests still queued finish at once, and an
  // import job stops between two chunks).
  void StopServing();
  // StopServing, and the stores are let go (the local store closes, with a checkpoint, once no
  // request holds it).
  void Detach();

  const ServiceOptions& options() const { return options_; }
  // The API keys from here on (a reload: the keys file on SIGHUP, Consul KV); calls already
  // authorized are not affected.
  void SetKeys(KeyRing keys);
  // OK if `key` (none: no key sent) may call `op`; UNAUTHENTICATED for a missing or unknown key,
  // PERMISSION_DENIED for a key whose role is too low.
  Status Authorize(Operation op, std::optional<std::string_view> key) const;

  // "healthy" (serving), "recovering" or "shutting_down".
  std::string_view State() const;
  // /health/deep's engine section and overall status ("healthy", "unhealthy").
  struct EngineHealth {
    std::string status;
    size_t collections = 0;
    size_t points = 0;
    bool read_only = false;
  };
  EngineHealth DeepHealth() const;
  // /health/deep's remote backends, each probed now (empty until serving).
  std::vector<DependencyHealth> DependenciesHealth() const;
  // The indexing jobs' report, given by the daemon when a broker is configured (null: none).
  void SetJobsReport(std::function<JobsReport()> report);
  std::optional<JobsReport> Jobs() const;
  // The registration's report, given by the daemon when a Consul agent is configured.
  void SetConsulReport(std::function<ConsulReport()> report);
  std::optional<ConsulReport> Consul() const;
  // For metrics: each remote backend's calls and pending deliveries.
  struct BackendMetrics {
    std::string name;
    BackendCallStats calls;
    Deliverer::Stats delivery;
  };
  std::vector<BackendMetrics> BackendsForMetrics() const;
  // For metrics: the collections, the log latency and the job queue (empty until serving).
  std::vector<engine::CollectionInfo> CollectionsForMetrics() const;
  std::optional<engine::LatencyHistogram::Counts> LogLatency() const;
  size_t JobQueueDepth() const;

  // The writes. A write to a collection with a remote backend is first checked by every
  // backend (what one cannot hold is refused before anything is written), then made durable
  // here, then waits up to options().delivery_wait for the backends, and reports each store's
  // state in `stores` (when given; left empty for a faiss-only collection).
  StatusOr<bool> CreateCollection(const CreateCollectionRequest& request,
                                  StoreStates* stores = nullptr);
  StatusOr<CollectionView> GetCollection(const std::string& name) const;
  StatusOr<std::vector<CollectionView>> ListCollections() const;
  Status DeleteCollection(const std::string& name, StoreStates* stores = nullptr);

  // The writes. `call` carries a job's id when the write is a job's (ApplyJob).
  StatusOr<size_t> Upsert(const std::string& collection, std::vector<engine::Point> points,
                          StoreStates* stores = nullptr, const engine::CallOptions& call = {});
  // The reads from one store. An answer from a remote store reports how it answered (took_ms,
  // pending writes) in `stores`, when given.
  StatusOr<std::vector<engine::Record>> GetPoints(
      const std::string& collection, const GetPointsRequest& request,
      std::vector<StoreOutcome>* stores = nullptr) const;
  StatusOr<size_t> DeletePoints(const std::string& collection, const DeletePointsRequest& request,
                                StoreStates* stores = nullptr,
                                const engine::CallOptions& call = {});
  StatusOr<size_t> UpdatePayload(const std::string& collection, const UpdatePayloadRequest& request,
                                 StoreStates* stores = nullptr,
                                 const engine::CallOptions& call = {});
  // Applies `write` to `collection` as the job `job_id` (API.md "Indexing jobs"): the validation,
  // limits and backends of the call it mirrors, durable when it returns, and at most once in
  // effect: a job already applied changes nothing and says so (already_applied).
  StatusOr<JobResult> ApplyJob(const std::string& job_id, const std::string& collection,
                               JobWrite write);
  StatusOr<size_t> Count(const std::string& collection, const CountRequest& request,
                         std::vector<StoreOutcome>* stores = nullptr) const;
  StatusOr<engine::ScrollPage> Scroll(const std::string& collection,
                                      const ScrollPointsRequest& request,
                                      std::vector<StoreOutcome>* stores = nullptr) const;
  StatusOr<SearchAnswer> SearchOne(const std::string& collection, const Search& search) const;
  StatusOr<std::vector<SearchAnswer>> SearchBatch(const std::string& collection,
                                                  const std::vector<Search>& searches) const;

  StatusOr<engine::SnapshotInfo> CreateSnapshot(const std::string& collection);
  StatusOr<std::vector<engine::SnapshotInfo>> ListSnapshots(const std::string& collection) const;
  // The file to send for a download.
  StatusOr<std::string> SnapshotPath(const std::string& collection,
                                     const std::string& snapshot) const;
  Status RestoreSnapshot(const std::string& collection, const std::string& snapshot);
  // Restores `collection` from the bytes of an uploaded snapshot file.
  Status RestoreUploadedSnapshot(const std::string& collection, std::string_view file);

  // Checks the points whole, then queues them as one import job; returns its id.
  StatusOr<std::string> SubmitImport(const std::string& collection,
                                     std::vector<engine::Point> points);
  StatusOr<Job> GetJob(const std::string& job_id) const;
  // Applies one import job's points through the same path as Upsert, in chunks of the upsert
  // limit. A failure keeps its code (an invalid job is INVALID_ARGUMENT, not UNAVAILABLE) and
  // says how many points were written before it.
  Status ApplyImport(const std::string& collection, std::vector<engine::Point> points);

  // Legacy endpoints. CreateIndex succeeds whether the index is made now or already existed with
  // that dimension (ALREADY_EXISTS with another).
  Status LegacyCreateIndex(const std::string& name, int64_t dimension);
  StatusOr<std::vector<uint64_t>> LegacyAddVectors(LegacyAddVectorsRequest request);
  StatusOr<std::vector<engine::ScoredPoint>> LegacySearch(const std::string& index,
                                                          std::vector<float> vector, int64_t k);

 private:
  // What Attach handed over, while serving.
  struct Stores {
    std::shared_ptr<const StoreRouter> router;
    std::shared_ptr<engine::LocalAdmin> admin;
    std::map<std::string, RemoteBackend> remotes;
  };
  // The stores, or UNAVAILABLE while recovering or shutting down.
  StatusOr<Stores> Serving() const;
  // `backends` of a new collection: known names, no repeats (checked before anything else), each
  // configured on this server (with `router`, once serving).
  Status CheckBackends(const std::vector<std::string>& backends, const StoreRouter* router) const;
  // `store` of a search: "all" or a known backend name (checked before anything else), configured
  // on this server (with `router`, once serving).
  Status CheckStore(const std::optional<std::string>& store, std::string_view field,
                    const StoreRouter* router) const;
  // Runs `check` on each remote store among `backends` (the first error is returned).
  Status CheckRemotes(const Stores& stores, const std::vector<std::string>& backends,
                      const std::function<Status(const engine::VectorStore&)>& check) const;
  // After a write to `collection` (of `backends`): waits for its delivery and reports each
  // store's state into *out, when out is given and a backend is remote.
  void ReportStores(const Stores& stores, const std::vector<std::string>& backends,
                    const std::string& collection, StoreStates* out) const;
  // The store that answers a read of `collection` (`store`, or the first backend; "all" is not
  // a store here), run with `read`; a remote one's outcome goes into *outcomes when given.
  template <typename T>
  StatusOr<T> ReadOne(const std::string& collection, const std::optional<std::string>& store,
                      std::vector<StoreOutcome>* outcomes,
                      const std::function<StatusOr<T>(const engine::VectorStore&)>& read) const;
  // Fills each remote store's pending writes of `collection` into `outcomes`.
  void AddPending(const Stores& stores, const std::string& collection,
                  std::vector<StoreOutcome>* outcomes) const;
  // Each backend's state now, for a collection info (empty for a faiss-only collection).
  StoreStates StatesOf(const Stores& stores, const engine::CollectionConfig& config) const;
  // InvalidArgument naming the limit unless 1 <= dimension <= limits.max_dimension.
  Status CheckDimension(int64_t dimension) const;

  const ServiceOptions options_;
  std::atomic<std::shared_ptr<const KeyRing>> keys_;

  mutable std::mutex store_mu_;  // guards stores_, jobs_ and the changes of state_
  Stores stores_;
  std::shared_ptr<JobQueue> jobs_;
  std::function<JobsReport()> jobs_report_;
  std::function<ConsulReport()> consul_report_;
  std::atomic<ServiceState> state_{ServiceState::kRecovering};
  std::atomic<bool> draining_{false};
  std::mutex legacy_mu_;  // guards next_legacy_id_
  // Legacy add_vectors: per index, the first integer id no add in flight has reserved.
  std::map<std::string, uint64_t> next_legacy_id_;
};

}  // namespace vecmesh::api
