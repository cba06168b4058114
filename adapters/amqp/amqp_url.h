// AmqpUrl: where a broker is and how to log in, parsed from an AMQP URL
// ("amqp://user:password@host:port/vhost" or "amqps://..."), as RabbitMQ's URI spec and
// rabbitmq-c's amqp_parse_url read it: user and password default to guest, the port to 5672
// (amqp) or 5671 (amqps); the vhost is the percent-decoded path, "/" when the URL has none, and
// the EMPTY vhost for a URL that ends in a bare "/" (write the vhost "/" as "%2F").
//
// A plain value: safe to copy and share.
#pragma once

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace vecmesh::adapters {

struct AmqpUrl {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
  std::string user;
  std::string password;  // never in a message or a log
  std::string vhost;
  // "amqp://user@host:port/vhost" (vhost percent-encoded), without the password: for messages.
  std::string ToString() const;
};

// InvalidArgument naming the URL (without its password) when it is not an amqp:// or amqps://
// URL with a host.
engine::StatusOr<AmqpUrl> ParseAmqpUrl(const std::string& url);

}  // namespace vecmesh::adapters
