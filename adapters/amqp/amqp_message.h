// What goes to and comes from a broker: a message's body and properties, a delivery, a queue's
// depth. Plain values: safe to copy and share.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vecmesh::adapters {

// A message to publish. Always sent persistent (delivery_mode 2) and mandatory.
struct AmqpMessage {
  std::string body;
  std::string content_type = "application/json";
  std::string message_id;      // the job id; "" sends none
  std::string correlation_id;  // "" sends none
  std::string reply_to;        // "" sends none
  // Application headers, sent as AMQP long strings (e.g. x-vecmesh-error).
  std::vector<std::pair<std::string, std::string>> headers;
};

// Names one delivery for Ack and Reject. Delivery tags are per channel and restart at 1 on a new
// channel, so a tag also carries the channel it came on (a number unique in the process): a tag
// from a channel that is gone (the broker redelivers its message) is refused instead of acking
// some other message.
struct AmqpDeliveryTag {
  uint64_t channel = 0;
  uint64_t tag = 0;
};

struct AmqpDelivery {
  AmqpDeliveryTag delivery_tag;
  bool redelivered = false;  // the broker delivered it before (to this or another consumer)
  std::string exchange;
  std::string routing_key;
  // Its properties as they came: headers whose values are strings (long or short), integers or
  // booleans are given as text; others (tables, arrays, such as x-death) are left out.
  AmqpMessage message;
  uint8_t delivery_mode = 0;  // 2: persistent
};

// A queue's state as a passive queue.declare sees it (for metrics).
struct AmqpQueueInfo {
  uint32_t messages = 0;  // ready for delivery (not counting unacknowledged ones)
  uint32_t consumers = 0;
};

}  // namespace vecmesh::adapters
