"""The fixture's RabbitMQ node, driven by pika as a user's program would: the topology of API.md
declared in a vhost of this test's own, a persistent job published under publisher confirms to the
default exchange, fetched, rejected (nack, requeue=false) and found in the dead-letter queue with
its body and properties; the broker then holds exactly the contract's topology; a declaration with
other arguments is refused with 406 PRECONDITION_FAILED naming the argument.
Run by ctest (fixture rabbitmq), which sets VECMESH_AMQP_URL_FILE."""
import json
import sys
import time
import uuid
from pathlib import Path

import pika
import pika.exceptions

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import rabbitmq_topology as topology  # noqa: E402
from rabbitmq_server import fixture_node  # noqa: E402


def get_one(channel, queue, timeout_s=10):
    """basic.get until a message comes, bounded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is not None:
            return method, properties, body
        time.sleep(0.05)
    sys.exit(f"no message in {queue} within {timeout_s} s")


def main():
    node = fixture_node()
    vhost = f"/smoke-{uuid.uuid4().hex[:8]}"
    url = node.add_vhost(vhost)
    try:
        run(url, node, vhost)
    finally:
        node.ctl("delete_vhost", vhost, check=False)


def run(url, node, vhost):
    params = pika.URLParameters(url)
    params.socket_timeout = params.blocked_connection_timeout = 10
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        topology.declare_topology(channel)
        channel.confirm_delivery()
        job = {"job_id": "smoke-0001", "collection": "docs", "op": "delete", "ids": [1]}
        body = json.dumps(job).encode()
        # Under confirms, a BlockingChannel's publish returns once the broker confirmed it (raises
        # on nack; mandatory: on return).
        channel.basic_publish("", topology.QUEUE, body, pika.BasicProperties(
            content_type="application/json", delivery_mode=2, message_id=job["job_id"]),
            mandatory=True)

        method, properties, got = get_one(channel, topology.QUEUE)
        assert got == body and properties.message_id == "smoke-0001", (got, properties)
        assert properties.delivery_mode == 2 and not method.redelivered, (properties, method)
        channel.basic_nack(method.delivery_tag, requeue=False)

        method, properties, dead = get_one(channel, topology.DEAD_QUEUE)
        assert dead == body and properties.message_id == "smoke-0001", (dead, properties)
        death = properties.headers["x-death"][0]
        assert death["reason"] == "rejected" and death["queue"] == topology.QUEUE, death
        channel.basic_ack(method.delivery_tag)
        assert channel.queue_declare(topology.QUEUE, passive=True).method.message_count == 0

        problems = topology.differences(topology.API_TOPOLOGY,
                                        topology.declared_topology(node, vhost))
        assert not problems, "\n".join(problems)

        # Another declarer with other arguments: refused, and the channel is closed.
        try:
            channel.queue_declare(topology.QUEUE, durable=True,
                                  arguments={"x-dead-letter-exchange": topology.DLX})
            sys.exit("a declaration with other arguments was accepted")
        except pika.exceptions.ChannelClosedByBroker as e:
            want = (f"PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-routing-key' for queue "
                    f"'{topology.QUEUE}' in vhost '{vhost}': received none but current is the "
                    f"value '{topology.DEAD_QUEUE}' of type 'longstr'")
            assert (e.reply_code, e.reply_text) == (406, want), (e.reply_code, e.reply_text)
            print(f"rabbitmq smoke: mismatched arguments: {e.reply_code} {e.reply_text}")
        assert connection.is_open  # a channel error, not a connection error
    finally:
        if connection.is_open:
            connection.close()
    print(f"rabbitmq smoke: {url}: topology declared, a persistent job confirmed, fetched, "
          f"rejected and dead-lettered")


if __name__ == "__main__":
    main()
