#include "adapters/http/balanced_http_client.h"

#include <algorithm>
#include <tuple>

namespace vecmesh::adapters {

BalancedHttpClient::BalancedHttpClient(std::string name, HttpClientOptions options)
    : name_(std::move(name)), options_(std::move(options)) {}

void BalancedHttpClient::SetInstances(const std::vector<HttpEndpoint>& instances) {
  std::map<std::string, std::shared_ptr<Instance>> next;
  std::lock_guard lock(mu_);
  for (const HttpEndpoint& endpoint : instances) {
    const std::string name = endpoint.ToString();
    auto known = instances_.find(name);
    next[name] =
        known != instances_.end() ? known->second : std::make_shared<Instance>(endpoint, options_);
  }
  instances_ = std::move(next);  // one that went lives on while a request holds it
}

std::shared_ptr<BalancedHttpClient::Instance> BalancedHttpClient::Pick(
    const std::vector<std::shared_ptr<Instance>>& tried) {
  std::lock_guard lock(mu_);
  std::shared_ptr<Instance> best;
  // Instances whose breaker lets the call through first, then the fewest outstanding, then the
  // one used least recently.
  const auto rank = [](const Instance& i) {
    return std::make_tuple(i.client.BreakerRefuses(), i.outstanding, i.last_used);
  };
  for (const auto& [name, instance] : instances_) {
    if (std::find(tried.begin(), tried.end(), instance) != tried.end()) continue;
    if (!best || rank(*instance) < rank(*best)) best = instance;
  }
  if (best) {
    ++best->outstanding;
    best->last_used = ++picks_;
  }
  return best;
}

engine::StatusOr<HttpResponse> BalancedHttpClient::Send(const engine::CallOptions& options,
                                                        const HttpRequest& request) {
  std::vector<std::shared_ptr<Instance>> tried;
  engine::Status last;
  while (std::shared_ptr<Instance> instance = Pick(tried)) {
    tried.push_back(instance);
    auto answer = instance->client.Send(options, request);
    {
      std::lock_guard lock(mu_);
      --instance->outstanding;
    }
    if (answer.ok()) return answer;
    last = answer.status();
    // Another instance may answer what this one did not; a request that is not idempotent may
    // have been processed, and is not sent twice. Out of time is out of time.
    if (!request.idempotent || options.Expired()) break;
  }
  if (tried.empty()) {
    return engine::Status::Unavailable(name_ + ": no passing instance of the service");
  }
  return last.WithContext(name_);
}

HttpStats BalancedHttpClient::stats() const {
  std::vector<std::shared_ptr<Instance>> instances;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, instance] : instances_) instances.push_back(instance);
  }
  HttpStats total;
  total.breaker = BreakerState::kOpen;
  for (const auto& instance : instances) {
    const HttpStats one = instance->client.stats();
    total.requests += one.requests;
    total.transport_errors += one.transport_errors;
    total.http_errors += one.http_errors;
    total.retries += one.retries;
    total.breaker_rejections += one.breaker_rejections;
    total.connections_opened += one.connections_opened;
    total.stale_connections += one.stale_connections;
    for (size_t b = 0; b < one.latency.buckets.size(); ++b) {
      total.latency.buckets[b] += one.latency.buckets[b];
    }
    total.latency.count += one.latency.count;
    total.latency.sum_seconds += one.latency.sum_seconds;
    if (one.breaker == BreakerState::kClosed ||
        (one.breaker == BreakerState::kHalfOpen && total.breaker == BreakerState::kOpen)) {
      total.breaker = one.breaker;
    }
    int outstanding;
    {
      std::lock_guard lock(mu_);
      outstanding = instance->outstanding;
    }
    total.instances.push_back({instance->name, one.requests, outstanding, one.breaker});
  }
  return total;
}

}  // namespace vecmesh::adapters
