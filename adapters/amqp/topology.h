// The RabbitMQ topology of API.md "Indexing jobs on RabbitMQ": the one place in the code that
// names the job queue, the dead-letter exchange and queue, and the arguments every declarer must
// pass (a declarer with other arguments is refused with 406 PRECONDITION_FAILED). Mirrored, for
// brokers configured by an operator, in deploy/rabbitmq/definitions.json; the integration test
// amqp_topology compares the two on a real broker.
//
// Plain values: safe to read from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vecmesh::adapters {

// Producers publish jobs to the default exchange ("") with routing key kJobQueue.
inline constexpr std::string_view kJobQueue = "vector.indexing.tasks";
inline constexpr std::string_view kDeadLetterExchange = "vector.indexing.dlx";
inline constexpr std::string_view kDeadLetterQueue = "vector.indexing.tasks.dead";
inline constexpr std::string_view kDeadLetterRoutingKey = "vector.indexing.tasks.dead";

// Argument values are AMQP long strings (field kind 'S', "longstr" to rabbitmqctl): the broker
// compares the type as well as the value.
struct AmqpQueueSpec {
  std::string name;
  bool durable = true;
  std::vector<std::pair<std::string, std::string>> arguments;
};

struct AmqpExchangeSpec {
  std::string name;
  std::string type = "direct";
  bool durable = true;
};

struct AmqpBindingSpec {
  std::string queue;
  std::string exchange;
  std::string routing_key;
};

// Declared in this order: exchanges, queues, bindings (a binding needs both ends).
struct AmqpTopology {
  std::vector<AmqpExchangeSpec> exchanges;
  std::vector<AmqpQueueSpec> queues;
  std::vector<AmqpBindingSpec> bindings;
};

// The job topology of API.md: queue kJobQueue (durable; x-dead-letter-exchange kDeadLetterExchange,
// x-dead-letter-routing-key kDeadLetterRoutingKey), exchange kDeadLetterExchange (direct,
// durable) bound to the durable queue kDeadLetterQueue with routing key kDeadLetterRoutingKey.
const AmqpTopology& JobTopology();

}  // namespace vecmesh::adapters
