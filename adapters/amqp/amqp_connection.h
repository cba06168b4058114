// AmqpConnection: one connection to a RabbitMQ broker with one channel, on rabbitmq-c 0.11.
//
// - Opening: TCP (amqp://) or TLS (amqps://: the broker's certificate is verified against ca_file,
//   or the system's bundle, and must name the URL's host, a DNS name or an IP address), then the
//   AMQP handshake into the URL's vhost with heartbeats, all within connect_timeout_ms and the
//   caller's deadline; then channel 1 in confirm mode (confirm.select once per channel). A TLS
//   failure says why, in OpenSSL's words: the certificate not verified against which CA file
//   (e.g. "self-signed certificate in certificate chain", naming the certificate), not for the
//   host, or a handshake that failed (e.g. "wrong version number": not a TLS port).
// - Deadlines: every blocking operation ends by the earlier of its CallOptions deadline and
//   operation_timeout_ms from its start. An RPC that runs out of time leaves the connection
//   broken (rabbitmq-c closes it: a late answer would be taken for the next one's). One wait is
//   not ours to bound: rabbitmq-c 0.11 writes a publish with no deadline, so a broker that stops
//   reading the socket (a resource alarm) while a publish larger than the socket's free send
//   buffer goes out holds that call until TCP gives up; the confirm wait after it is bounded.
// - Heartbeats (heartbeat_s, negotiated with the broker) are serviced only inside this class's
//   calls, as rabbitmq-c does everything on the calling thread: a consumer calls Next often enough
//   (at most heartbeat_s apart) and a publisher that sits idle may find the connection broken.
// - Errors are Status values whose messages name the broker (its URL, no password) and the
//   cause, e.g. "406 PRECONDITION_FAILED - inequivalent arg ...". A channel the broker closes (a
//   declaration with other arguments, an unknown delivery tag, a missing queue) is reopened at
//   once (and put in confirm mode again), so the connection stays usable, but a consumer on it
//   is gone (Next says so). A connection the broker closes, a socket error, a missed heartbeat
//   or an RPC timeout make it broken(): every later call returns Unavailable, and the owner
//   opens a new one (AmqpClient does). Never throws; a broken socket never crashes.
//
// Thread safety: none. rabbitmq-c allows one thread per connection at a time: a connection
// belongs to one thread (or is handed over under the owner's lock). broken() and url() may be
// read from the owning thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/amqp/amqp_message.h"
#include "adapters/amqp/amqp_url.h"
#include "adapters/amqp/topology.h"
#include "engine/call_options.h"
#include "engine/status.h"

namespace vecmesh::adapters {

struct AmqpOptions {
  // Heartbeat interval proposed to the broker (the smaller of the two wins); at least 1 (0 would
  // disable heartbeats: a dead broker would then go unnoticed until TCP gives up).
  int heartbeat_s = 30;
  int connect_timeout_ms = 5000;     // TCP connect, TLS and AMQP handshake together
  int operation_timeout_ms = 10000;  // each later blocking call; 0 or less: only the deadline
  // amqps only: a PEM file of trusted CAs; empty: the system's bundle.
  std::string ca_file;
  // Shown by `rabbitmqctl list_connections client_properties` and the management UI.
  std::string connection_name = "vecmesh";
};

class AmqpConnection {
 public:
  // Connects, logs in, opens channel 1 in confirm mode. Unavailable naming the URL when the broker
  // cannot be reached (refused, unreachable, no answer within connect_timeout_ms or the
  // deadline), refuses the login (403 ACCESS_REFUSED) or the vhost (530 NOT_ALLOWED);
  // InvalidArgument for options that cannot work (heartbeat_s < 1, an unreadable ca_file).
  static engine::StatusOr<std::unique_ptr<AmqpConnection>> Open(const AmqpUrl& url,
                                                                const AmqpOptions& options,
                                                                const engine::CallOptions& call);

  // Closes the channel and the connection politely (bounded by a short timeout) unless broken.
  ~AmqpConnection();
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  // Declares `topology` (default: API.md's, JobTopology()): exchanges, queues, bindings. An
  // object that exists with other properties or arguments: FailedPrecondition with the broker's
  // 406 text, which names the argument; the channel is reopened, so the connection stays usable.
  engine::Status DeclareTopology(const engine::CallOptions& call,
                                 const AmqpTopology& topology = JobTopology());

  // Publishes `message` to the default exchange with routing key kJobQueue (API.md's jobs).
  engine::Status Publish(const engine::CallOptions& call, const AmqpMessage& message);
  // Publishes `message` persistent (delivery_mode 2), mandatory, to `exchange` ("" is the default
  // exchange, where the routing key names a queue) and returns Ok only after the broker's
  // basic.ack. Unavailable, saying which, when: the broker nacked it; returned it (mandatory: no
  // queue matched the routing key; it was not stored); the channel or the connection closed (the
  // broker may or may not have stored it); no confirm came by the deadline (it may still be
  // stored; the connection stays usable).
  engine::Status Publish(const engine::CallOptions& call, std::string_view exchange,
                         std::string_view routing_key, const AmqpMessage& message);

  // Starts consuming `queue` with manual acks: basic.qos(prefetch) then basic.consume. At most
  // `prefetch` deliveries are unacknowledged at any time (0: no limit). One consumer per
  // connection: FailedPrecondition while one is active. NotFound when the queue does not exist.
  engine::Status Consume(const engine::CallOptions& call, std::string_view queue,
                         uint16_t prefetch);
  // The next delivery, waiting at most `timeout` (servicing heartbeats meanwhile); nullopt when
  // none came in time. FailedPrecondition when there is no consumer (none started, Cancel, or the
  // broker cancelled it or closed the channel: the message says which) and nothing received is
  // left to hand out; Unavailable when the connection is broken.
  engine::StatusOr<std::optional<AmqpDelivery>> Next(std::chrono::milliseconds timeout);
  // basic.ack / basic.nack (requeue: back to the queue; else dead-lettered through the queue's
  // x-dead-letter-exchange). FailedPrecondition for a tag of a channel that is gone (its message
  // is redelivered). The broker answers an unknown tag by closing the channel, seen on a later
  // call.
  engine::Status Ack(AmqpDeliveryTag tag);
  engine::Status Reject(AmqpDeliveryTag tag, bool requeue);
  // basic.cancel: no new deliveries. Those already received are still handed out by Next; ack or
  // reject them. Ok when no consumer is active.
  engine::Status Cancel(const engine::CallOptions& call);

  // A passive queue.declare: the queue's ready messages and consumers. NotFound when there is no
  // such queue (the channel is reopened).
  engine::StatusOr<AmqpQueueInfo> Inspect(const engine::CallOptions& call, std::string_view queue);

  // Whether the connection is unusable (every call returns Unavailable): open a new one.
  bool broken() const;
  // Whether a consumer is active on the channel.
  bool consuming() const;
  // The broker asked publishers to wait (connection.blocked, e.g. low on disk): the reason, or "".
  const std::string& blocked_reason() const;
  const AmqpUrl& url() const;

 private:
  struct Impl;
  explicit AmqpConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecmesh::adapters
