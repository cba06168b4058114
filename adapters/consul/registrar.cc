#include "adapters/consul/registrar.h"

#include <algorithm>

namespace vecmesh::adapters {

using engine::Status;
using std::chrono::milliseconds;

namespace {
constexpr milliseconds kFirstRetry{500};
}  // namespace

Registrar::Registrar(std::shared_ptr<ConsulClient> consul, RegistrarOptions options)
    : consul_(std::move(consul)),
      options_(std::move(options)),
      registration_(options_.registration) {
  if (!registration_.advertise_host.empty()) stats_.service_id = registration_.ServiceId();
}

Registrar::~Registrar() { Halt(); }

void Registrar::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Registrar::Halt() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Registrar::Run() {
  milliseconds retry = kFirstRetry;
  while (true) {
    const auto start = std::chrono::steady_clock::now();
    const Status synced = Sync();
    milliseconds next = options_.sync_interval;
    {
      std::unique_lock lock(mu_);
      stats_.last_sync_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      const bool was_failing = !stats_.error.empty();
      if (synced.ok()) {
        stats_.error.clear();
        retry = kFirstRetry;
      } else {
        ++stats_.failed_syncs;
        stats_.error = synced.ToString();
        next = std::min(retry, options_.sync_interval);
        retry = std::min(retry * 2, options_.sync_interval);
      }
      // A change between failing and not is logged, not every failed retry.
      if (options_.logger && was_failing != !synced.ok()) {
        const std::string service_id = stats_.service_id;
        lock.unlock();
        if (synced.ok()) {
          options_.logger("info", "consul: the agent answers again", {{"service_id", service_id}});
        } else {
          options_.logger("warn", "consul: the agent cannot be reached or refuses; retrying",
                          {{"service_id", service_id}, {"error", synced.ToString()}});
        }
        lock.lock();
      }
      if (wake_.wait_for(lock, next, [this] { return stopping_; })) return;
    }
  }
}

Status Registrar::Sync() {
  if (registration_.advertise_host.empty()) {
    if (!options_.find_advertise_host) return Status::Internal("no advertised host to register");
    auto host = options_.find_advertise_host();
    if (!host.ok()) return host.status();
    std::lock_guard lock(mu_);
    registration_.advertise_host = *host;
    stats_.service_id = registration_.ServiceId();
  }
  if (definition_.is_null()) definition_ = registration_.ToJson();
  const std::string service_id = registration_.ServiceId();
  const auto call = [this] { return engine::CallOptions::WithTimeout(options_.call_timeout); };
  auto known = consul_->KnowsService(call(), service_id);
  if (!known.ok()) {
    std::lock_guard lock(mu_);
    stats_.registered = false;
    return known.status();
  }
  if (!*known) {
    Status registered = consul_->RegisterService(call(), definition_);
    if (!registered.ok()) {
      std::lock_guard lock(mu_);
      stats_.registered = false;
      return registered;
    }
    uint64_t registrations;
    {
      std::lock_guard lock(mu_);
      registrations = ++stats_.registrations;
    }
    if (options_.logger) {
      options_.logger("info",
                      registrations == 1
                          ? "consul: registered"
                          : "consul: registered again (the agent had forgotten the service)",
                      {{"service_id", service_id}, {"agent", consul_->endpoint().ToString()}});
    }
  }
  {
    std::lock_guard lock(mu_);
    stats_.registered = true;
  }
  if (registration_.check_mode != ConsulCheckMode::kTtl) return Status::Ok();
  const std::string reason = options_.unhealthy_reason ? options_.unhealthy_reason() : "";
  return consul_->UpdateTtl(call(), registration_.TtlCheckId(),
                            reason.empty() ? TtlState::kPass : TtlState::kFail,
                            reason.empty() ? "serving" : reason);
}

Status Registrar::Deregister(milliseconds timeout) {
  Halt();
  std::string service_id;
  {
    std::lock_guard lock(mu_);
    if (stats_.registrations == 0) return Status::Ok();  // never registered: nothing to remove
    service_id = stats_.service_id;
  }
  Status s = consul_->DeregisterService(engine::CallOptions::WithTimeout(timeout), service_id);
  {
    std::lock_guard lock(mu_);
    if (s.ok()) stats_.registered = false;
  }
  if (options_.logger) {
    if (s.ok()) {
      options_.logger("info", "consul: deregistered", {{"service_id", service_id}});
    } else {
      options_.logger("warn",
                      "consul: deregistering failed (the agent removes the service after "
                      "its checks stay critical for DeregisterCriticalServiceAfter)",
                      {{"service_id", service_id}, {"error", s.ToString()}});
    }
  }
  return s;
}

Registrar::Stats Registrar::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace vecmesh::adapters
