// AmqpPublisherPool: publishing from many threads. rabbitmq-c allows one thread per connection,
// and no lock is held across a network wait (DESIGN.md), so each publishing thread takes an idle
// AmqpClient (a connection of its own) from the pool, publishes on it without any lock, and
// gives it back. At most max_connections exist, opened when first needed; a call that finds them
// all busy waits for one until its deadline (then Unavailable).
//
// Thread safety: every method is safe for concurrent calls from any number of threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "adapters/amqp/amqp_client.h"

namespace vecmesh::adapters {

class AmqpPublisherPool {
 public:
  AmqpPublisherPool(AmqpUrl url, AmqpClientOptions options, size_t max_connections);
  ~AmqpPublisherPool();
  AmqpPublisherPool(const AmqpPublisherPool&) = delete;
  AmqpPublisherPool& operator=(const AmqpPublisherPool&) = delete;

  // AmqpClient::Publish on an idle connection of the pool.
  engine::Status Publish(const engine::CallOptions& call, const AmqpMessage& message);
  engine::Status Publish(const engine::CallOptions& call, std::string_view exchange,
                         std::string_view routing_key, const AmqpMessage& message);

  // The sum over the pool's connections.
  AmqpClient::Stats stats() const;
  const AmqpUrl& url() const { return url_; }

 private:
  engine::StatusOr<AmqpClient*> Acquire(const engine::CallOptions& call);
  void Release(AmqpClient* client);

  const AmqpUrl url_;
  const AmqpClientOptions options_;
  const size_t max_connections_;
  mutable std::mutex mu_;  // guards idle_ and all_ (the clients themselves are used unlocked)
  std::condition_variable released_;
  std::vector<AmqpClient*> idle_;                 // most recently used last
  std::vector<std::unique_ptr<AmqpClient>> all_;  // grows to max_connections_, never shrinks
};

}  // namespace vecmesh::adapters
