#include "adapters/amqp/amqp_publisher_pool.h"

#include <algorithm>
#include <utility>

namespace vecmesh::adapters {

using engine::CallOptions;
using engine::Status;
using engine::StatusOr;

AmqpPublisherPool::AmqpPublisherPool(AmqpUrl url, AmqpClientOptions options, size_t max_connections)
    : url_(std::move(url)),
      options_(std::move(options)),
      max_connections_(std::max<size_t>(max_connections, 1)) {}

AmqpPublisherPool::~AmqpPublisherPool() = default;

StatusOr<AmqpClient*> AmqpPublisherPool::Acquire(const CallOptions& call) {
  std::unique_lock lock(mu_);
  const auto available = [this] { return !idle_.empty() || all_.size() < max_connections_; };
  if (call.deadline == CallOptions::Clock::time_point::max()) {
    released_.wait(lock, available);
  } else if (!released_.wait_until(lock, call.deadline, available)) {
    return Status::Unavailable(url_.ToString() + ": all " + std::to_string(max_connections_) +
                               " publisher connections stayed busy until the deadline");
  }
  if (!idle_.empty()) {
    AmqpClient* client = idle_.back();
    idle_.pop_back();
    return client;
  }
  all_.push_back(std::make_unique<AmqpClient>(url_, options_));  // connects on first use
  return all_.back().get();
}

void AmqpPublisherPool::Release(AmqpClient* client) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(client);
  }
  released_.notify_one();
}

Status AmqpPublisherPool::Publish(const CallOptions& call, const AmqpMessage& message) {
  return Publish(call, "", kJobQueue, message);
}

Status AmqpPublisherPool::Publish(const CallOptions& call, std::string_view exchange,
                                  std::string_view routing_key, const AmqpMessage& message) {
  StatusOr<AmqpClient*> client = Acquire(call);
  if (!client.ok()) return client.status();
  Status status = (*client)->Publish(call, exchange, routing_key, message);
  Release(*client);
  return status;
}

AmqpClient::Stats AmqpPublisherPool::stats() const {
  AmqpClient::Stats sum;
  std::lock_guard lock(mu_);
  for (const auto& client : all_) {
    const AmqpClient::Stats s = client->stats();
    sum.connects += s.connects;
    sum.connect_failures += s.connect_failures;
    sum.published += s.published;
    sum.publish_failures += s.publish_failures;
    sum.republished += s.republished;
    for (size_t i = 0; i < sum.confirm_latency.buckets.size(); ++i) {
      sum.confirm_latency.buckets[i] += s.confirm_latency.buckets[i];
    }
    sum.confirm_latency.count += s.confirm_latency.count;
    sum.confirm_latency.sum_seconds += s.confirm_latency.sum_seconds;
  }
  return sum;
}

}  // namespace vecmesh::adapters
