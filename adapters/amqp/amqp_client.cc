#include "adapters/amqp/amqp_client.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace vecmesh::adapters {

using engine::CallOptions;
using engine::Status;
using engine::StatusCode;
using engine::StatusOr;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

AmqpClient::AmqpClient(AmqpUrl url, AmqpClientOptions options)
    : url_(std::move(url)), options_(std::move(options)), random_(std::random_device{}()) {}

AmqpClient::~AmqpClient() = default;

bool AmqpClient::connected() const { return connection_ != nullptr && !connection_->broken(); }

milliseconds AmqpClient::Backoff(int n) {
  const int64_t cap = std::min<int64_t>(
      options_.retry_max_ms, int64_t{std::max(options_.retry_base_ms, 0)} << std::min(n, 20));
  std::uniform_int_distribution<int64_t> pick(0, std::max<int64_t>(cap, 0));
  return milliseconds(pick(random_));
}

Status AmqpClient::OpenOnce(const CallOptions& call) {
  auto opened = AmqpConnection::Open(url_, options_.connection, call);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<AmqpConnection> connection = std::move(*opened);
  if (options_.declare_topology) {
    Status status = connection->DeclareTopology(call, options_.topology);
    if (!status.ok()) return status;
  }
  if (consume_queue_) {
    Status status = connection->Consume(call, *consume_queue_, prefetch_);
    if (!status.ok()) return status;
  }
  connection_ = std::move(connection);
  connects_.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

Status AmqpClient::Ensure(const CallOptions& call) {
  if (connected()) return Status::Ok();
  connection_.reset();
  Status last;
  int attempts = 0;
  for (int n = 0; n < std::max(options_.max_attempts, 1); ++n) {
    if (n > 0) {
      const milliseconds wait = Backoff(n - 1);
      if (call.deadline != Clock::time_point::max() && Clock::now() + wait >= call.deadline) break;
      std::this_thread::sleep_for(wait);
    }
    if (call.Expired()) break;
    ++attempts;
    last = OpenOnce(call);
    if (last.ok()) return last;
    connect_failures_.fetch_add(1, std::memory_order_relaxed);
    // Not worth another attempt now: options that cannot work, a topology or queue the broker
    // refuses. The next call tries again.
    if (last.code() == StatusCode::kInvalidArgument ||
        last.code() == StatusCode::kFailedPrecondition || last.code() == StatusCode::kNotFound ||
        last.code() == StatusCode::kPermissionDenied) {
      return last;
    }
  }
  if (attempts == 0) {
    return Status::Unavailable(url_.ToString() + ": no time left to connect (deadline)");
  }
  return Status::Unavailable(last.message() + " (gave up after " + std::to_string(attempts) +
                             (attempts == 1 ? " attempt)" : " attempts)"));
}

Status AmqpClient::Connect(const CallOptions& call) { return Ensure(call); }

Status AmqpClient::Publish(const CallOptions& call, const AmqpMessage& message) {
  return Publish(call, "", kJobQueue, message);
}

Status AmqpClient::Publish(const CallOptions& call, std::string_view exchange,
                           std::string_view routing_key, const AmqpMessage& message) {
  const auto fail = [this](const Status& status) {
    publish_failures_.fetch_add(1, std::memory_order_relaxed);
    return status.code() == StatusCode::kUnavailable ? status
                                                     : Status::Unavailable(status.message());
  };
  Status status = Ensure(call);
  if (!status.ok()) return fail(status);
  for (int sends = 1;; ++sends) {
    const Clock::time_point start = Clock::now();
    status = connection_->Publish(call, exchange, routing_key, message);
    if (status.ok()) {
      confirm_latency_.Record(std::chrono::duration<double>(Clock::now() - start).count());
      published_.fetch_add(1, std::memory_order_relaxed);
      return status;
    }
    // A nack, a return, a channel error or no confirm in time: the broker answered, or may
    // still; sending again would not help (or would duplicate a message still in flight).
    if (!connection_->broken() || call.Expired() || sends >= std::max(options_.max_attempts, 1)) {
      return fail(status);
    }
    // The connection broke before the confirm: the broker may or may not have stored the
    // message. Send it again on a new connection.
    const Status reconnected = Ensure(call);
    if (!reconnected.ok()) {
      return fail(Status::Unavailable(status.message() +
                                      "; reconnecting failed: " + reconnected.message()));
    }
    republished_.fetch_add(1, std::memory_order_relaxed);
  }
}

Status AmqpClient::Consume(const CallOptions& call, std::string queue, uint16_t prefetch) {
  if (connected() && connection_->consuming()) {
    return Status::FailedPrecondition(url_.ToString() + ": consume queue '" + queue +
                                      "': a consumer is active on this client");
  }
  consume_queue_ = std::move(queue);
  prefetch_ = prefetch;
  if (!connected()) return Ensure(call);  // consumes as part of connecting
  Status status = connection_->Consume(call, *consume_queue_, prefetch_);
  if (!status.ok()) consume_queue_.reset();
  return status;
}

StatusOr<std::optional<AmqpDelivery>> AmqpClient::Next(milliseconds timeout) {
  const CallOptions call = CallOptions::WithTimeout(timeout);
  if (!consume_queue_ && (connection_ == nullptr || connection_->broken())) {
    return Status::FailedPrecondition(url_.ToString() +
                                      ": next delivery: no consumer (call "
                                      "Consume first)");
  }
  if (consume_queue_) {
    Status status = Ensure(call);
    if (!status.ok()) return status;
    if (!connection_->consuming()) {
      // The broker closed the channel or cancelled the consumer: consume again.
      status = connection_->Consume(call, *consume_queue_, prefetch_);
      if (!status.ok()) return status;
    }
  }
  const auto left = std::chrono::duration_cast<milliseconds>(call.deadline - Clock::now());
  return connection_->Next(std::max(left, milliseconds(0)));
}

Status AmqpClient::Ack(AmqpDeliveryTag tag) {
  if (connection_ == nullptr) {
    return Status::FailedPrecondition(url_.ToString() +
                                      ": ack: not connected; the broker redelivers it");
  }
  return connection_->Ack(tag);
}

Status AmqpClient::Reject(AmqpDeliveryTag tag, bool requeue) {
  if (connection_ == nullptr) {
    return Status::FailedPrecondition(url_.ToString() +
                                      ": reject: not connected; the broker redelivers it");
  }
  return connection_->Reject(tag, requeue);
}

Status AmqpClient::Cancel(const CallOptions& call) {
  consume_queue_.reset();
  if (!connected()) return Status::Ok();
  return connection_->Cancel(call);
}

StatusOr<AmqpQueueInfo> AmqpClient::Inspect(const CallOptions& call, std::string_view queue) {
  Status status = Ensure(call);
  if (!status.ok()) return status;
  return connection_->Inspect(call, queue);
}

AmqpClient::Stats AmqpClient::stats() const {
  Stats out;
  out.connects = connects_.load(std::memory_order_relaxed);
  out.connect_failures = connect_failures_.load(std::memory_order_relaxed);
  out.published = published_.load(std::memory_order_relaxed);
  out.publish_failures = publish_failures_.load(std::memory_order_relaxed);
  out.republished = republished_.load(std::memory_order_relaxed);
  out.confirm_latency = confirm_latency_.Read();
  return out;
}

}  // namespace vecmesh::adapters
