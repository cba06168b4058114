#include "api/daemon/daemon.h"

#include <cstdlib>
#include <future>
#include <thread>

#include "adapters/amqp/amqp_url.h"
#include "adapters/chroma/chroma_store.h"
#include "adapters/consul/blocking_watch.h"
#include "adapters/consul/registrar.h"
#include "adapters/http/balanced_http_client.h"
#include "adapters/qdrant/qdrant_store.h"
#include "api/daemon/key_sources.h"
#include "api/grpc/grpc_server.h"
#include "api/jobs/job_book.h"
#include "api/jobs/job_consumer.h"
#include "api/jobs/rabbit_job_queue.h"
#include "api/rest/rest_api.h"
#include "api/rest/server.h"
#include "api/service/access_log.h"
#include "api/service/jobs.h"
#include "api/service/log.h"
#include "api/service/metrics.h"
#include "api/service/service.h"
#include "api/service/store_router.h"
#include "api/service/worker_pool.h"
#include "engine/store/local_store.h"

namespace vecmesh::api {
namespace {

using engine::Status;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Import jobs waiting in memory: bounded by their points, not their number.
constexpr size_t kMaxQueuedImportPoints = 2'000'000;
// The store's close writes a checkpoint: memory speed, about a second per GB of index.
constexpr milliseconds kStoreCloseBound = seconds(300);
// A Consul watch ends its read in flight within this (a blocking read of 5 s, and its margin).
constexpr milliseconds kWatchStopBound = seconds(8);
// Letting go of the router only drops references.
constexpr milliseconds kRouterStopBound = seconds(10);
// The job runner waits for the chunk being written (at most --max-points-per-upsert points): the
// job stops there, as the service no longer serves.
constexpr milliseconds kJobRunnerStopBound = seconds(60);
// Beyond the grace period, the transports' threads get this long to join.
constexpr milliseconds kTransportJoinBound = seconds(10);

// A job's status is kept this long after it finished (API.md: job ids are remembered 7 days).
constexpr std::chrono::seconds kJobStatusRetention = std::chrono::hours(24 * 7);
// Connections that publish imports at once, and how long one publish may wait for its confirm.
constexpr size_t kMaxPublisherConnections = 4;
constexpr milliseconds kPublishTimeout = seconds(10);

int Cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

ServiceOptions ServiceOptionsOf(const DaemonConfig& config) {
  ServiceOptions options;
  options.limits = config.limits;
  options.legacy_index.type = *engine::ParseIndexType(config.legacy_index);
  options.delivery_wait = milliseconds(config.delivery_wait_ms);
  return options;
}

adapters::AmqpClientOptions AmqpOptionsOf(const DaemonConfig& config) {
  adapters::AmqpClientOptions options;
  options.connection.connection_name = "vecmeshd";
  options.connection.ca_file = config.amqp_ca_file;  // amqps: empty is the system's bundle
  return options;
}

adapters::HttpClientOptions BackendHttpOptions(const DaemonConfig& config) {
  adapters::HttpClientOptions http;
  http.request_timeout_ms = config.backend_timeout_ms;
  http.connect_timeout_ms = config.backend_connect_timeout_ms;
  http.max_attempts = config.backend_attempts;
  http.breaker_failures = config.breaker_failures;
  http.breaker_cooldown_ms = config.breaker_cooldown_ms;
  return http;
}

// A backend URL that names a service in Consul: consul://SERVICE (its instances over http) or
// consul+https://SERVICE (over https); "" for any other URL.
std::string ConsulServiceOf(const std::string& url) {
  for (const std::string_view scheme : {"consul://", "consul+https://"}) {
    if (url.starts_with(scheme)) return url.substr(scheme.size());
  }
  return "";
}

BackendCallStats CallStatsOf(const adapters::HttpStats& http, const std::string& url) {
  BackendCallStats calls;
  calls.discovered_service = ConsulServiceOf(url);
  for (const adapters::HttpInstanceStats& i : http.instances) {
    calls.instances.push_back({i.instance, i.requests});
  }
  calls.requests = http.requests;
  calls.transport_errors = http.transport_errors;
  calls.http_errors = http.http_errors;
  calls.retries = http.retries;
  calls.breaker_rejections = http.breaker_rejections;
  calls.breaker = adapters::BreakerStateName(http.breaker);
  calls.latency = http.latency;
  return calls;
}

// A probe of /health/deep waits this long at most.
constexpr milliseconds kProbeTimeout = seconds(2);
// One call to the Consul agent, and the deregistration at shutdown, wait this long at most.
constexpr milliseconds kConsulCallTimeout = seconds(2);
// How long the start waits for a watch's first answer from Consul (the API keys, a backend's
// instances).
constexpr milliseconds kFirstConsulAnswerWait = seconds(5);

void LogLine(std::string_view level, std::string_view message, const nlohmann::json& fields) {
  Log(std::string(level).c_str(), std::string(message).c_str(), fields);
}

// Waits up to kFirstConsulAnswerWait for `watch`'s first answer; logs when none came.
void WaitForFirstAnswer(const adapters::BlockingWatch& watch, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + kFirstConsulAnswerWait;
  while (watch.stats().answers == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  if (watch.stats().answers == 0) {
    Log("warn", "consul: no answer yet; it is followed in the background",
        {{"waiting_for", what}, {"error", watch.stats().error}});
  }
}

// Listening on every interface: the address to register is found otherwise.
bool ListensEverywhere(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

}  // namespace

// Everything the parts share. Members are destroyed in reverse order: the servers before the
// pool their handlers run on, and all of them before the service they call.
struct Daemon::State {
  explicit State(DaemonConfig c)
      : config(std::move(c)),
        service(ServiceOptionsOf(config), KeyRing()),
        keys(config.env_keys, config.api_keys_file, config.file_keys, config.consul_keys_prefix,
             [this](KeyRing ring) { service.SetKeys(std::move(ring)); }),
        access_log(config.access_log),
        rest_api(service, metrics, access_log) {}

  // The agent's client, made on first use (the registration and the keys share it).
  engine::StatusOr<std::shared_ptr<adapters::ConsulClient>> Consul() {
    if (consul) return consul;
    adapters::ConsulOptions options;
    options.address = config.consul_addr;
    options.token = config.consul_token;
    options.http.connect_timeout_ms = static_cast<int>(kConsulCallTimeout.count());
    options.http.request_timeout_ms = 0;  // each call has its deadline (blocking queries wait)
    options.http.max_attempts = 1;        // the registrar and the watches retry, with backoff
    options.http.breaker_failures = 0;    // and pace themselves
    auto made = adapters::ConsulClient::Create(options);
    if (!made.ok()) return made.status().WithContext("--consul-addr");
    consul = std::move(*made);
    return consul;
  }

  // For a backend URL consul://SERVICE (or consul+https://): a client balanced over the passing
  // instances of SERVICE, which a blocking-query watch keeps up to date (the last known set stays
  // while the agent cannot be reached); null for any other URL. The first answer is waited for a
  // little.
  engine::StatusOr<std::shared_ptr<adapters::HttpSender>> Discover(const std::string& url) {
    const std::string service = ConsulServiceOf(url);
    if (service.empty()) return std::shared_ptr<adapters::HttpSender>();
    auto agent = Consul();
    if (!agent.ok()) return agent.status();
    const bool tls = url.starts_with("consul+https://");
    auto balanced = std::make_shared<adapters::BalancedHttpClient>(url, BackendHttpOptions(config));
    adapters::BlockingWatchOptions options;
    options.target = "/v1/health/service/" + service + "?passing";
    options.logger = LogLine;
    auto watch = std::make_unique<adapters::BlockingWatch>(
        *agent, options, [balanced, url, tls](const adapters::BlockingAnswer& answer) {
          auto instances = answer.found ? adapters::ParseServiceInstances(answer.body, tls)
                                        : std::vector<adapters::HttpEndpoint>{};
          if (!instances.ok()) {
            Log("error", "consul: a health answer was not understood; the last instances stay",
                {{"backend", url}, {"error", instances.status().ToString()}});
            return;
          }
          balanced->SetInstances(*instances);
          std::vector<std::string> names;
          for (const auto& endpoint : *instances) names.push_back(endpoint.ToString());
          Log("info", "consul: the passing instances of a backend",
              {{"backend", url}, {"instances", names}});
        });
    watch->Start();
    WaitForFirstAnswer(*watch, "the instances of " + url);
    discovery.push_back(std::move(watch));
    return std::shared_ptr<adapters::HttpSender>(std::move(balanced));
  }

  DaemonConfig config;
  Service service;
  KeySources keys;  // before the listeners open: the service never runs without its keys
  Metrics metrics;
  const AccessLog access_log;
  RestApi rest_api;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<RestServer> rest;
  std::unique_ptr<GrpcServer> grpc;
  std::shared_ptr<engine::LocalStore> store;
  std::vector<std::shared_ptr<Deliverer>> deliverers;
  std::shared_ptr<JobQueue> jobs;
  std::shared_ptr<RabbitJobQueue> rabbit_jobs;  // with a broker: the queue of the imports
  std::unique_ptr<JobBook> job_book;            // with a broker: the statuses of its jobs
  std::unique_ptr<JobConsumer> job_consumer;
  std::shared_ptr<adapters::ConsulClient> consul;      // with a Consul agent
  std::unique_ptr<adapters::BlockingWatch> key_watch;  // with keys in Consul KV
  // consul:// backends: the watches of their services' passing instances.
  std::vector<std::unique_ptr<adapters::BlockingWatch>> discovery;
  std::unique_ptr<adapters::Registrar> registrar;  // with a Consul agent
};

Daemon::Daemon(DaemonConfig config) : state_(std::make_unique<State>(std::move(config))) {
  parts_ = Parts();
}

Daemon::~Daemon() {
  Stop();
  CloseListeners(milliseconds(0));
}

std::vector<Daemon::Part> Daemon::Parts() {
  State& s = *state_;
  const milliseconds grace = seconds(s.config.shutdown_grace_s);
  return {
      {"store",
       [&s] {
         engine::LocalStoreOptions options;
         options.limits = s.config.limits;
         options.data_dir = s.config.data_dir;
         options.corruption_policy = s.config.truncate_corrupt_log
                                         ? engine::CorruptionPolicy::kTruncate
                                         : engine::CorruptionPolicy::kFail;
         options.wal_sync_interval_ms = static_cast<uint32_t>(s.config.wal_sync_interval_ms);
         options.checkpoint_interval_s = s.config.checkpoint_interval_s;
         options.search_threads = s.config.search_threads;
         // The engine's background failures go into this log, as its other lines.
         options.logger = LogLine;
         const auto start = std::chrono::steady_clock::now();
         auto store = engine::LocalStore::Open(options);
         if (!store.ok()) {
           Log("error", "recovery failed",
               {{"data_dir", s.config.data_dir}, {"error", store.status().ToString()}});
           return store.status();
         }
         Log("info", "recovered",
             {{"data_dir", s.config.data_dir},
              {"records_replayed", (*store)->recovery().records},
              {"note", (*store)->recovery().note},
              {"seconds", SecondsSince(start)}});
         s.store = std::move(*store);
         return Status::Ok();
       },
       [&s] { s.store.reset(); },  // the last owner: closes with a checkpoint
       kStoreCloseBound},
      {"router",
       [&s] {
         // The local store is the catalog (and the system of record); the remote stores join
         // here as they are configured, each with a deliverer of the writes.
         std::map<std::string, std::shared_ptr<engine::VectorStore>> stores = {
             {std::string(kLocalBackend), s.store}};
         std::map<std::string, RemoteBackend> remotes;
         if (!s.config.chroma_url.empty()) {
           adapters::ChromaOptions chroma_options;
           chroma_options.url = s.config.chroma_url;
           chroma_options.tenant = s.config.chroma_tenant;
           chroma_options.database = s.config.chroma_database;
           chroma_options.http = BackendHttpOptions(s.config);
           auto chroma_instances = s.Discover(s.config.chroma_url);
           if (!chroma_instances.ok()) return chroma_instances.status().WithContext("--chroma-url");
           chroma_options.sender = *chroma_instances;
           chroma_options.limits = s.config.limits;
           auto created = adapters::ChromaStore::Create(chroma_options);
           if (!created.ok()) return created.status().WithContext("--chroma-url");
           std::shared_ptr<adapters::ChromaStore> chroma = std::move(*created);
           stores["chroma"] = chroma;
           remotes["chroma"] = {
               nullptr,
               [chroma] {
                 return chroma->Heartbeat(engine::CallOptions::WithTimeout(kProbeTimeout));
               },
               [chroma, url = s.config.chroma_url] {
                 return CallStatsOf(chroma->http_stats(), url);
               }};
         }
         if (!s.config.qdrant_url.empty()) {
           adapters::QdrantOptions qdrant_options;
           qdrant_options.url = s.config.qdrant_url;
           qdrant_options.api_key = s.config.qdrant_api_key;
           qdrant_options.http = BackendHttpOptions(s.config);
           auto qdrant_instances = s.Discover(s.config.qdrant_url);
           if (!qdrant_instances.ok()) return qdrant_instances.status().WithContext("--qdrant-url");
           qdrant_options.sender = *qdrant_instances;
           qdrant_options.limits = s.config.limits;
           auto created = adapters::QdrantStore::Create(qdrant_options);
           if (!created.ok()) return created.status().WithContext("--qdrant-url");
           std::shared_ptr<adapters::QdrantStore> qdrant = std::move(*created);
           stores["qdrant"] = qdrant;
           remotes["qdrant"] = {
               nullptr,
               [qdrant] {
                 return qdrant->Heartbeat(engine::CallOptions::WithTimeout(kProbeTimeout));
               },
               [qdrant, url = s.config.qdrant_url] {
                 return CallStatsOf(qdrant->http_stats(), url);
               }};
         }
         for (auto& [name, remote] : remotes) {
           DeliveryOptions options;
           options.state_dir = s.config.data_dir + "/delivery";
           options.max_pending_bytes = s.config.delivery_max_pending_bytes;
           options.call_timeout_ms = s.config.backend_timeout_ms;
           options.logger = LogLine;
           remote.deliverer =
               std::make_shared<Deliverer>(name, stores[name], s.store, s.store, options);
           Status started = remote.deliverer->Start();
           if (!started.ok()) return started.WithContext("delivery to " + name);
           s.deliverers.push_back(remote.deliverer);
           Log("info", "backend configured",
               {{"backend", name}, {"pending", remote.deliverer->stats().pending}});
         }
         auto router =
             std::make_shared<const StoreRouter>(std::move(stores), std::string(kLocalBackend));
         s.service.Attach(std::move(router), s.store, std::move(remotes));
         return Status::Ok();
       },
       [&s] {
         // The watches end their reads in flight side by side, while the deliverers stop.
         for (auto& watch : s.discovery) watch->RequestStop();
         s.service.Detach();
         for (auto& deliverer : s.deliverers) deliverer->Stop();  // its position is persisted
         s.deliverers.clear();
         for (auto& watch : s.discovery) watch->Stop();
       },
       kRouterStopBound + milliseconds(s.config.backend_timeout_ms) + kWatchStopBound},
      {"job runner",
       [&s] {
         Service& service = s.service;
         if (s.config.amqp_url.empty()) {
           s.jobs = std::make_shared<InProcessJobQueue>(
               [&service](const std::string& collection, std::vector<engine::Point> points) {
                 return service.ApplyImport(collection, std::move(points));
               },
               kMaxQueuedImportPoints);
           s.service.SetJobQueue(s.jobs);
           return Status::Ok();
         }
         // With a broker: imports are published (API.md), their statuses kept in the data
         // directory with those of the jobs consumed.
         auto url = adapters::ParseAmqpUrl(s.config.amqp_url);
         if (!url.ok()) return url.status().WithContext("--amqp-url");
         auto book = JobBook::Open(s.config.data_dir + "/jobs.log", kJobStatusRetention);
         if (!book.ok()) return book.status();
         s.job_book = std::move(*book);
         std::unique_ptr<adapters::AmqpPublisherPool> publisher;
         if (s.config.amqp_role != "consume") {
           publisher = std::make_unique<adapters::AmqpPublisherPool>(*url, AmqpOptionsOf(s.config),
                                                                     kMaxPublisherConnections);
         }
         s.rabbit_jobs = std::make_shared<RabbitJobQueue>(std::move(publisher), s.job_book.get(),
                                                          s.config.limits.max_points_per_upsert,
                                                          kPublishTimeout);
         s.jobs = s.rabbit_jobs;
         s.service.SetJobQueue(s.jobs);
         s.service.SetJobsReport([&s, broker = url->ToString()] {
           JobsReport report;
           report.broker = broker;
           report.consumes = s.config.amqp_role != "publish";
           if (JobConsumer* consumer = s.job_consumer.get()) {
             const JobConsumer::Stats c = consumer->stats();
             report.consumers = c.consumers;
             report.error = c.error;
             report.queue_depth = c.queue_depth;
             report.consumed = c.consumed;
             report.acked = c.acked;
             report.already_applied = c.already_applied;
             report.retried = c.retried;
             report.dead_lettered = c.dead_lettered;
           }
           const adapters::AmqpClient::Stats p = s.rabbit_jobs->stats();
           report.published = p.published;
           report.publish_failures = p.publish_failures;
           report.confirm_latency = p.confirm_latency;
           return report;
         });
         nlohmann::json fields = {{"broker", url->ToString()}, {"role", s.config.amqp_role}};
         if (url->tls) {
           fields["ca_file"] = s.config.amqp_ca_file.empty() ? std::string("the system's bundle")
                                                             : s.config.amqp_ca_file;
         }
         Log("info", "indexing jobs on RabbitMQ", fields);
         return Status::Ok();
       },
       [&s] {
         s.service.SetJobsReport(nullptr);
         s.service.SetJobQueue(nullptr);
         s.jobs.reset();  // the running job stops after its chunk: the service no longer serves
         s.rabbit_jobs.reset();
       },
       kJobRunnerStopBound},
      // The API keys in Consul KV, followed from here on. The first answer is waited for a
      // little, so that the service serves with them; without it, calls with those keys are
      // refused until it comes.
      {"keys",
       [&s] {
         if (s.config.consul_keys_prefix.empty()) return Status::Ok();
         auto consul = s.Consul();
         if (!consul.ok()) return consul.status();
         adapters::BlockingWatchOptions options;
         options.target = s.keys.KvTarget();
         options.logger = LogLine;
         s.key_watch = std::make_unique<adapters::BlockingWatch>(
             *consul, options, [&s](const adapters::BlockingAnswer& answer) {
               (void)s.keys.SetKv(answer.found, answer.body);  // logged
             });
         s.key_watch->Start();
         WaitForFirstAnswer(*s.key_watch, "the API keys (calls with them are refused until then)");
         return Status::Ok();
       },
       [&s] {
         // Stopped after the read in flight; kept with the state for a report in flight.
         if (s.key_watch) s.key_watch->Stop();
       },
       seconds(15)},
      // The listeners opened before the parts (so that /health answers 503 while recovering);
      // they close last of these, once the service stopped serving and left Consul.
      {"transports", [] { return Status::Ok(); },
       [this, grace, drain = milliseconds(s.config.shutdown_drain_ms)] {
         std::this_thread::sleep_for(drain);
         CloseListeners(grace);
       },
       milliseconds(s.config.shutdown_drain_ms) + grace + kTransportJoinBound},
      // Registered in Consul before it serves (the agent's checks find it 503 until then), and
      // deregistered once /health answers 503, before the listeners close: the gateway stops
      // sending first (API.md "Service discovery").
      {"registration",
       [&s] {
         if (s.config.consul_addr.empty()) return Status::Ok();
         auto consul = s.Consul();
         if (!consul.ok()) return consul.status();
         adapters::RegistrarOptions options;
         adapters::ServiceRegistration& r = options.registration;
         r.advertise_host = s.config.advertise_host;
         if (r.advertise_host.empty() && !ListensEverywhere(s.config.host)) {
           r.advertise_host = s.config.host;
         }
         options.find_advertise_host = [agent = (*consul)->endpoint()] {
           auto local = adapters::LocalAddressToward(agent);
           if (local.ok() && (local->starts_with("127.") || *local == "::1")) {
             Log("warn",
                 "consul: advertising a loopback address (the agent is local): other "
                 "nodes cannot reach it; give --advertise-host",
                 {{"advertise_host", *local}});
           }
           return local;
         };
         r.rest_port = s.rest->port();
         r.grpc_port = s.grpc->port();
         r.version = s.service.options().version;
         r.tls = !s.config.tls_cert_file.empty();
         r.check_mode = s.config.consul_checks == "ttl" ? adapters::ConsulCheckMode::kTtl
                                                        : adapters::ConsulCheckMode::kAgentChecks;
         r.check_interval = milliseconds(s.config.consul_check_interval_ms);
         options.sync_interval = milliseconds(s.config.consul_sync_interval_ms);
         // The TTL check is passed at each sync: it outlives three of them.
         r.ttl = 3 * std::max(r.check_interval, options.sync_interval);
         r.deregister_after = seconds(s.config.consul_deregister_after_s);
         options.call_timeout = kConsulCallTimeout;
         options.unhealthy_reason = [&service = s.service] {
           const std::string_view state = service.State();
           return state == "healthy" ? std::string() : std::string(state);
         };
         options.logger = LogLine;
         s.registrar = std::make_unique<adapters::Registrar>(*consul, options);
         s.registrar->Start();
         s.service.SetConsulReport([&s, agent = s.config.consul_addr] {
           const adapters::Registrar::Stats r = s.registrar->stats();
           ConsulReport report;
           report.agent = agent;
           report.service_id = r.service_id;
           report.registered = r.registered;
           report.registrations = r.registrations;
           report.failed_syncs = r.failed_syncs;
           report.error = r.error;
           report.last_sync_ms = r.last_sync_ms;
           if (s.key_watch) {
             const KeySources::Reloads reloads = s.keys.reloads();
             report.keys_from_kv = true;
             report.kv_applied = reloads.kv_applied;
             report.kv_refused = reloads.kv_refused;
             report.kv_error = s.key_watch->stats().error;
           }
           return report;
         });
         Log("info", "registering in consul",
             {{"agent", s.config.consul_addr},
              {"advertise_host",
               r.advertise_host.empty() ? "the local address toward the agent" : r.advertise_host},
              {"checks", s.config.consul_checks}});
         return Status::Ok();
       },
       [&s] {
         if (!s.registrar) return;
         (void)s.registrar->Deregister(kConsulCallTimeout);  // logged
         // The registrar stays (stopped) with the state: a report in flight may still read it.
         s.service.SetConsulReport(nullptr);
       },
       // A sync in flight (up to three calls), then the deregistration.
       4 * kConsulCallTimeout + seconds(2)},
      {"serving",
       [&s] {
         s.service.Serve();
         s.grpc->SetServing(true);
         Log("info", "serving", {{"version", s.service.options().version}});
         return Status::Ok();
       },
       [&s] {
         s.service.BeginShutdown();  // /health answers 503 while requests in flight finish
         s.grpc->SetServing(false);
       },
       seconds(1)},
      // Once the service serves (the jobs go through it), and stopped first: it stops consuming
      // and finishes the job in hand before the transports close.
      {"job consumer",
       [&s] {
         if (s.config.amqp_url.empty() || s.config.amqp_role == "publish") return Status::Ok();
         JobConsumerOptions options;
         options.amqp = AmqpOptionsOf(s.config);
         options.consumers = s.config.job_consumers;
         options.prefetch = static_cast<uint16_t>(s.config.job_prefetch);
         options.max_attempts = s.config.job_max_attempts;
         options.logger = LogLine;
         options.finished = [book = s.job_book.get()](const Job& job) { book->Record(job); };
         // The crash test of "once in effect" (tests/e2e/jobs_test.py): the process dies once
         // that job's writes are durable, before its ack.
         if (const char* crash = std::getenv("VECMESH_TEST_CRASH_AFTER_JOB")) {
           options.applied = [job = std::string(crash)](const std::string& id) {
             if (id == job) std::_Exit(86);
           };
         }
         s.job_consumer = std::make_unique<JobConsumer>(
             s.service, *adapters::ParseAmqpUrl(s.config.amqp_url), std::move(options));
         s.job_consumer->Start();
         return Status::Ok();
       },
       [&s] {
         // Stopped, not destroyed: a /metrics or /health/deep report in flight reads its stats
         // until the job runner's stop removes the report.
         if (s.job_consumer) s.job_consumer->Stop();
       },
       kJobRunnerStopBound},
  };
}

Status Daemon::Start() {
  State& s = *state_;
  s.pool = std::make_unique<WorkerPool>(s.config.workers > 0 ? s.config.workers : Cores(),
                                        s.config.max_queued_requests);
  RestServerOptions rest_options;
  rest_options.host = s.config.host;
  rest_options.port = static_cast<uint16_t>(s.config.rest_port);
  rest_options.io_threads = s.config.io_threads;
  rest_options.max_body_bytes = s.config.max_body_bytes;
  rest_options.max_upload_bytes = s.config.max_upload_bytes;
  rest_options.read_timeout = seconds(s.config.read_timeout_s);
  rest_options.idle_timeout = seconds(s.config.idle_timeout_s);
  rest_options.max_connections = s.config.max_connections;
  rest_options.tls_cert_file = s.config.tls_cert_file;
  rest_options.tls_key_file = s.config.tls_key_file;
  s.rest = std::make_unique<RestServer>(s.rest_api, *s.pool, rest_options);
  GrpcServerOptions grpc_options;
  grpc_options.host = s.config.host;
  grpc_options.port = static_cast<uint16_t>(s.config.grpc_port);
  grpc_options.max_message_bytes = s.config.max_body_bytes;
  grpc_options.tls_cert_file = s.config.tls_cert_file;
  grpc_options.tls_key_file = s.config.tls_key_file;
  s.grpc = std::make_unique<GrpcServer>(s.service, s.metrics, s.access_log, *s.pool, grpc_options);
  Status listening = s.rest->Start();
  if (listening.ok()) listening = s.grpc->Start();
  if (!listening.ok()) {
    Log("error", "cannot start", {{"error", listening.ToString()}});
    CloseListeners(milliseconds(0));
    return listening;
  }
  Log("info", "listening",
      {{"host", s.config.host},
       {"rest_port", s.rest->port()},
       {"grpc_port", s.grpc->port()},
       {"tls", !s.config.tls_cert_file.empty()}});

  for (; started_ < parts_.size(); ++started_) {
    Status started;
    try {
      started = parts_[started_].start();
    } catch (const std::exception& e) {
      started = Status::Internal("starting the " + parts_[started_].name + " failed: " + e.what());
      Log("error", "cannot start",
          {{"part", parts_[started_].name}, {"error", started.ToString()}});
    }
    if (!started.ok()) {
      CloseListeners(milliseconds(0));
      Stop();
      return started;
    }
  }
  return Status::Ok();
}

void Daemon::Stop() {
  for (; started_ > 0; --started_) StopWithin(parts_[started_ - 1]);
}

void Daemon::ReloadKeys() { (void)state_->keys.ReloadFile(); }  // logged

void Daemon::StopWithin(const Part& part) {
  const auto start = std::chrono::steady_clock::now();
  std::packaged_task<void()> task(part.stop);
  std::future<void> done = task.get_future();
  std::thread stopper(std::move(task));
  if (done.wait_for(part.stop_bound) == std::future_status::timeout) {
    Log("error",
        "a part did not stop within its bound; exiting now (the log holds every "
        "acknowledged write)",
        {{"part", part.name}, {"bound_s", std::chrono::duration<double>(part.stop_bound).count()}});
    std::_Exit(1);
  }
  stopper.join();
  try {
    done.get();
  } catch (const std::exception& e) {
    Log("error", "a part failed to stop cleanly", {{"part", part.name}, {"error", e.what()}});
    return;
  }
  Log("info", "stopped", {{"part", part.name}, {"seconds", SecondsSince(start)}});
}

void Daemon::CloseListeners(milliseconds grace) {
  State& s = *state_;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  if (s.rest) s.rest->Stop(grace);
  if (s.grpc) {
    s.grpc->Stop(std::chrono::duration_cast<milliseconds>(std::max(
        deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration(0))));
  }
  // Past the grace period: what is still queued is answered UNAVAILABLE at once, not run.
  s.service.StopServing();
  s.pool.reset();  // runs what was queued (each answers at once), then joins
  s.rest.reset();
  s.grpc.reset();
}

}  // namespace vecmesh::api
