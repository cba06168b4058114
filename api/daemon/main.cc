// vecmeshd: the vecmesh daemon, REST and gRPC. Starts listening at once (answering 503 while it recovers its
// data), serves until SIGTERM or SIGINT, then stops accepting, lets requests in flight finish
// within the grace period, checkpoints and exits 0. Logs are JSON lines on stdout.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/daemon/config.h"
#include "api/grpc/grpc_server.h"
#include "api/service/log.h"
#include "api/rest/rest_api.h"
#include "api/rest/server.h"
#include "api/service/service.h"
#include "api/service/worker_pool.h"

namespace {

using vecmesh::api::Log;

int Cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

}  // namespace

int main(int argc, char** argv) {
  using namespace vecmesh;
  // Every thread starts with SIGINT and SIGTERM blocked; main waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  bool help = false;
  auto config = api::LoadConfig(std::vector<std::string>(argv + 1, argv + argc), &help);
  if (help) {
    std::printf("%s", api::ConfigHelp().c_str());
    return 0;
  }
  if (!config.ok()) {
    std::fprintf(stderr, "vecmeshd: %s\n", config.status().ToString().c_str());
    return 2;
  }

  api::ServiceOptions service_options;
  service_options.limits = config->limits;
  service_options.legacy_index.type = *engine::ParseIndexType(config->legacy_index);
  api::Service service(service_options, std::move(config->keys));
  api::Metrics metrics;
  api::RestApi rest_api(service, metrics);
  auto pool = std::make_unique<api::WorkerPool>(
      config->workers > 0 ? config->workers : Cores(), config->max_queued_requests);

  api::RestServerOptions rest_options;
  rest_options.host = config->host;
  rest_options.port = static_cast<uint16_t>(config->rest_port);
  rest_options.io_threads = config->io_threads;
  rest_options.max_body_bytes = config->max_body_bytes;
  rest_options.max_upload_bytes = config->max_upload_bytes;
  rest_options.read_timeout = std::chrono::seconds(config->read_timeout_s);
  rest_options.idle_timeout = std::chrono::seconds(config->idle_timeout_s);
  rest_options.max_connections = config->max_connections;
  rest_options.tls_cert_file = config->tls_cert_file;
  rest_options.tls_key_file = config->tls_key_file;
  auto rest = std::make_unique<api::RestServer>(rest_api, *pool, rest_options);
  if (auto s = rest->Start(); !s.ok()) {
    Log("error", "cannot start", {{"error", s.ToString()}});
    return 1;
  }
  api::GrpcServerOptions grpc_options;
  grpc_options.host = config->host;
  grpc_options.port = static_cast<uint16_t>(config->grpc_port);
  grpc_options.max_message_bytes = config->max_body_bytes;
  grpc_options.tls_cert_file = config->tls_cert_file;
  grpc_options.tls_key_file = config->tls_key_file;
  auto grpc = std::make_unique<api::GrpcServer>(service, metrics, *pool, grpc_options);
  if (auto s = grpc->Start(); !s.ok()) {
    Log("error", "cannot start", {{"error", s.ToString()}});
    rest->Stop(std::chrono::milliseconds(0));
    pool.reset();
    return 1;
  }
  Log("info", "listening",
      {{"host", config->host},
       {"rest_port", rest->port()},
       {"grpc_port", grpc->port()},
       {"tls", !config->tls_cert_file.empty()}});

  engine::LocalStoreOptions store_options;
  store_options.limits = config->limits;
  store_options.data_dir = config->data_dir;
  store_options.corruption_policy = config->truncate_corrupt_log
                                        ? engine::CorruptionPolicy::kTruncate
                                        : engine::CorruptionPolicy::kFail;
  store_options.wal_sync_interval_ms = static_cast<uint32_t>(config->wal_sync_interval_ms);
  store_options.checkpoint_interval_s = config->checkpoint_interval_s;
  store_options.search_threads = config->search_threads;
  // The engine's background failures go into this log, as its other lines.
  store_options.logger = [](std::string_view level, std::string_view message,
                            const nlohmann::json& fields) {
    Log(std::string(level).c_str(), std::string(message).c_str(), fields);
  };
  const auto recovery_start = std::chrono::steady_clock::now();
  auto store = engine::LocalStore::Open(store_options);
  if (!store.ok()) {
    Log("error", "recovery failed", {{"data_dir", config->data_dir}, {"error", store.status().ToString()}});
    // Requests may be queued or running (they answer UNAVAILABLE): stop the servers, then the
    // pool, before the servers are destroyed, as at a normal shutdown.
    grpc->Stop(std::chrono::milliseconds(0));
    rest->Stop(std::chrono::milliseconds(0));
    pool.reset();
    return 1;
  }
  Log("info", "recovered",
      {{"data_dir", config->data_dir},
       {"records_replayed", (*store)->recovery().records},
       {"note", (*store)->recovery().note},
       {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - recovery_start)
                       .count()}});
  service.Attach(std::move(*store));
  grpc->SetServing(true);
  Log("info", "serving", {{"version", service_options.version}});

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log("info", "stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  service.BeginShutdown();  // /health answers 503 while requests in flight finish
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config->shutdown_grace_s);
  grpc->SetServing(false);
  rest->Stop(std::chrono::seconds(config->shutdown_grace_s));
  grpc->Stop(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration(0))));
  pool.reset();  // runs what was queued (answers nobody reads now), then joins
  rest.reset();
  grpc.reset();
  service.Detach();  // the store closes with a checkpoint
  Log("info", "stopped");
  return 0;
}
