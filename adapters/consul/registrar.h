// Registrar: keeps one service registered in a Consul agent while it runs, and removes it at the
// end (API.md "Service discovery (Consul)").
//
// - Start registers it from a background thread. While the agent cannot be reached or refuses,
//   the registration is tried again with backoff (from 500 ms, doubling, at most
//   sync_interval); the service is served meanwhile, and stats() says why it is not registered.
// - Anti-entropy: every sync_interval the agent is asked whether it still knows the service (an
//   agent that restarted has forgotten every service registered through its API); if not, it is
//   registered again, so within one sync_interval of the agent's return.
// - TTL checks (ConsulCheckMode::kTtl): every sync_interval the check is passed while `healthy`
//   says so, and failed otherwise, with its reason as the check's output.
// - Deregister (at shutdown, once /health answers 503 and before the listeners close) stops the
//   thread and removes the registration, within its timeout (nothing to remove if it never
//   registered).
//
// Thread safety: every method is safe for concurrent calls; Start and Deregister once each.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "adapters/consul/consul_client.h"
#include "adapters/consul/registration.h"
#include "engine/logger.h"

namespace vecmesh::adapters {

struct RegistrarOptions {
  ServiceRegistration registration;
  // When registration.advertise_host is empty: finds it (on the registrar's thread, tried again
  // at each sync until it does, so that an agent not resolvable yet does not stop the start).
  std::function<engine::StatusOr<std::string>()> find_advertise_host;
  std::chrono::milliseconds sync_interval{10'000};
  std::chrono::milliseconds call_timeout{2'000};  // one call to the agent
  // kTtl only: "" while the service is healthy, else why not (the TTL check then fails).
  std::function<std::string()> unhealthy_reason;
  engine::Logger logger;
};

class Registrar {
 public:
  Registrar(std::shared_ptr<ConsulClient> consul, RegistrarOptions options);
  ~Registrar();  // stops syncing; leaves the registration as it is

  void Start();
  // Stops syncing and deregisters the service (bounded by `timeout`). Its outcome is logged.
  engine::Status Deregister(std::chrono::milliseconds timeout);

  struct Stats {
    std::string service_id;
    bool registered = false;     // the agent knew the service at the last sync
    uint64_t registrations = 0;  // successful registrations (1 + re-registrations)
    uint64_t failed_syncs = 0;   // syncs that could not reach the agent or were refused
    std::string error;           // of the last sync; "" when it succeeded
    double last_sync_ms = 0;     // how long the last sync took
  };
  Stats stats() const;

 private:
  void Run();
  // One sync: registered (again) if the agent does not know the service, TTL updated.
  engine::Status Sync();
  void Halt();  // stops the thread

  const std::shared_ptr<ConsulClient> consul_;
  const RegistrarOptions options_;
  // Known once the advertised host is: written by the thread under mu_ before it registers.
  ServiceRegistration registration_;
  nlohmann::json definition_;  // the thread's own

  mutable std::mutex mu_;  // guards what follows
  std::condition_variable wake_;
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace vecmesh::adapters
