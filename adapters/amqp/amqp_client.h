// AmqpClient: an AmqpConnection that comes back. rabbitmq-c has no automatic recovery, so this
// does it: when the connection is missing or broken, a call opens a new one, with full-jitter
// exponential backoff between attempts (at most max_attempts within the call's deadline), then
// declares the topology again and, if a consumer was asked for, consumes again.
//
// - Publish returns Ok only after the broker's basic.ack, possibly after reconnecting: a message
//   whose connection broke before its confirm is published again on the new connection (it may
//   then be stored twice: consumers are idempotent by message_id, API.md). A nack, a return
//   (no queue), a topology the broker refuses, or no confirm by the deadline is not retried:
//   Unavailable saying which. Every outcome comes within the call's deadline (and, for each
//   attempt, the connection's operation_timeout_ms).
// - Consuming: Next reconnects and consumes again when the connection broke or the broker
//   closed the channel or cancelled the consumer. Deliveries received on a connection or channel
//   that is gone cannot be acked (Ack says FailedPrecondition): the broker redelivers them, with
//   the redelivered flag.
// - A topology the broker refuses (a queue declared elsewhere with other arguments) fails the
//   connect with FailedPrecondition naming the argument (Publish: Unavailable with that text),
//   and is tried again on the next call.
//
// Thread safety: one thread at a time (rabbitmq-c: one connection per thread), except stats(),
// which any thread may call at any time. Many publishing threads share an AmqpPublisherPool.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "adapters/amqp/amqp_connection.h"
#include "adapters/amqp/amqp_message.h"
#include "adapters/amqp/amqp_url.h"
#include "adapters/amqp/topology.h"
#include "engine/call_options.h"
#include "engine/latency_histogram.h"
#include "engine/status.h"

namespace vecmesh::adapters {

struct AmqpClientOptions {
  AmqpOptions connection;
  // Connection attempts within one call (1 = no retry), and the backoff between them: the n-th
  // wait (n = 0, 1, ...) is a random duration in [0, min(retry_max_ms, retry_base_ms * 2^n)].
  int max_attempts = 5;
  int retry_base_ms = 100;
  int retry_max_ms = 5000;
  // Declared on every new connection.
  bool declare_topology = true;
  AmqpTopology topology = JobTopology();
};

class AmqpClient {
 public:
  // What the client did, for /metrics. Counters only grow.
  struct Stats {
    uint64_t connects = 0;          // connections opened (topology declared, consumer started)
    uint64_t connect_failures = 0;  // attempts that failed
    uint64_t published = 0;         // Publish calls that returned Ok
    uint64_t publish_failures = 0;  // Publish calls that returned an error
    uint64_t republished = 0;       // messages sent again after their connection broke
    engine::LatencyHistogram::Counts confirm_latency;  // from send to basic.ack, per Ok publish
  };

  AmqpClient(AmqpUrl url, AmqpClientOptions options);
  ~AmqpClient();
  AmqpClient(const AmqpClient&) = delete;
  AmqpClient& operator=(const AmqpClient&) = delete;

  // Connects now (every other call also connects when needed). Unavailable with the last
  // attempt's error after the attempts or the deadline ran out; FailedPrecondition when the
  // broker refuses the topology; InvalidArgument for options that cannot work.
  engine::Status Connect(const engine::CallOptions& call);

  // As AmqpConnection::Publish, reconnecting and republishing as described above. Every error
  // is Unavailable (API.md: 503), its message naming the broker and the cause.
  engine::Status Publish(const engine::CallOptions& call, const AmqpMessage& message);
  engine::Status Publish(const engine::CallOptions& call, std::string_view exchange,
                         std::string_view routing_key, const AmqpMessage& message);

  // Consumes `queue` with manual acks and `prefetch` (see AmqpConnection::Consume), now and
  // after every reconnect, until Cancel.
  engine::Status Consume(const engine::CallOptions& call, std::string queue, uint16_t prefetch);
  // The next delivery within `timeout` (nullopt when none came), reconnecting when needed.
  // FailedPrecondition when Consume was not called (or was cancelled) and nothing is left.
  engine::StatusOr<std::optional<AmqpDelivery>> Next(std::chrono::milliseconds timeout);
  engine::Status Ack(AmqpDeliveryTag tag);
  engine::Status Reject(AmqpDeliveryTag tag, bool requeue);
  // Stops consuming (not resumed on reconnect); deliveries already received still come from Next.
  engine::Status Cancel(const engine::CallOptions& call);

  // Queue depth and consumers (passive queue.declare), for metrics; connects when needed.
  engine::StatusOr<AmqpQueueInfo> Inspect(const engine::CallOptions& call, std::string_view queue);

  // Whether a usable connection is open now (no call is made).
  bool connected() const;
  Stats stats() const;
  const AmqpUrl& url() const { return url_; }

 private:
  engine::Status Ensure(const engine::CallOptions& call);
  engine::Status OpenOnce(const engine::CallOptions& call);
  std::chrono::milliseconds Backoff(int n);

  const AmqpUrl url_;
  const AmqpClientOptions options_;
  std::unique_ptr<AmqpConnection> connection_;
  std::mt19937_64 random_;
  // What Consume asked for, redone on every new connection.
  std::optional<std::string> consume_queue_;
  uint16_t prefetch_ = 0;

  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> connect_failures_{0};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> publish_failures_{0};
  std::atomic<uint64_t> republished_{0};
  engine::LatencyHistogram confirm_latency_;
};

}  // namespace vecmesh::adapters
