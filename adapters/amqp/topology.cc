#include "adapters/amqp/topology.h"

namespace vecmesh::adapters {

const AmqpTopology& JobTopology() {
  static const AmqpTopology topology{
      .exchanges = {{.name = std::string(kDeadLetterExchange), .type = "direct", .durable = true}},
      .queues =
          {
              {.name = std::string(kDeadLetterQueue), .durable = true, .arguments = {}},
              {.name = std::string(kJobQueue),
               .durable = true,
               .arguments = {{"x-dead-letter-exchange", std::string(kDeadLetterExchange)},
                             {"x-dead-letter-routing-key", std::string(kDeadLetterRoutingKey)}}},
          },
      .bindings = {{.queue = std::string(kDeadLetterQueue),
                    .exchange = std::string(kDeadLetterExchange),
                    .routing_key = std::string(kDeadLetterRoutingKey)}},
  };
  return topology;
}

}  // namespace vecmesh::adapters
