#include "adapters/http/balanced_http_client.h"

#include <algorithm>
#include <tuple>

namespace vecmesh::adapters {

BalancedHttpClient::BalancedHttpClient(std::string name, HttpClientOptions options)
    : name_(std::move(name)), options_(std::move(options)) {}

namespace {

// `from`'s counters added into `into` (the instances' own, not their list).
void AddCounters(const HttpStats& from, HttpStats* into) {
  into->requests += from.requests;
  into->transport_errors += from.transport_errors;
  into->http_errors += from.http_errors;
  into->retries += from.retries;
  into->breaker_rejections += from.breaker_rejections;
  into->connections_opened += from.connections_opened;
  into->stale_connections += from.stale_connections;
  for (size_t b = 0; b < from.latency.buckets.size(); ++b) {
    into->latency.buckets[b] += from.latency.buckets[b];
  }
  into->latency.count += from.latency.count;
  into->latency.sum_seconds += from.latency.sum_seconds;
}

}  // namespace

void BalancedHttpClient::SetInstances(const std::vector<HttpEndpoint>& instances) {
  std::map<std::string, std::shared_ptr<Instance>> next;
  std::lock_guard lock(mu_);
  for (const HttpEndpoint& endpoint : instances) {
    const std::string name = endpoint.ToString();
    auto known = instances_.find(name);
    next[name] =
        known != instances_.end() ? known->second : std::make_shared<Instance>(endpoint, options_);
  }
  // What the instances that go did stays in the totals (counters only grow).
  for (const auto& [name, instance] : instances_) {
    if (!next.count(name)) AddCounters(instance->client.stats(), &retired_);
  }
  instances_.swap(next);  // one that went lives on while a request holds it
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
    // An idempotent request that may go on to another instance leaves it half of its time: a
    // hung instance does not use it all.
    engine::CallOptions attempt = options;
    if (request.idempotent && tried.size() < kMaxInstancesPerRequest &&
        options.deadline != engine::CallOptions::Clock::time_point::max()) {
      const auto now = engine::CallOptions::Clock::now();
      if (options.deadline > now) attempt.deadline = now + (options.deadline - now) / 2;
    }
    auto answer = instance->client.Send(attempt, request);
    {
      std::lock_guard lock(mu_);
      --instance->outstanding;
    }
    if (answer.ok()) return answer;
    last = answer.status();
    // Another instance may answer what this one did not; a request that is not idempotent may
    // have been processed, and is not sent twice. Out of time is out of time.
    if (!request.idempotent || options.Expired() || tried.size() >= kMaxInstancesPerRequest) {
      break;
    }
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
  {
    std::lock_guard lock(mu_);
    AddCounters(retired_, &total);
  }
  total.breaker = BreakerState::kOpen;
  for (const auto& instance : instances) {
    const HttpStats one = instance->client.stats();
    AddCounters(one, &total);
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
