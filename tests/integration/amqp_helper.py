#!/usr/bin/python3
"""What vecmesh_amqp_tests (amqp_client_test.cc) asks of an independent side: pika and rabbitmqctl
on the fixture's node, and a RabbitMQ node of a test's own. Each subcommand prints its answer on
stdout and exits 0, or exits 1 with the reason on stderr. Bounded: every wait has a timeout.

    amqp_helper.py add-vhost VHOST        a vhost of the fixture's node (guest may use it); its URL
    amqp_helper.py delete-vhost VHOST
    amqp_helper.py topology VHOST         the vhost holds exactly API.md's topology, which is also
                                          exactly what deploy/rabbitmq/definitions.json declares
    amqp_helper.py declare-queue VHOST QUEUE [KEY=VALUE...]   pika declares a durable queue first
    amqp_helper.py get VHOST QUEUE        one message (acked), as JSON: body, properties, headers
    amqp_helper.py serve                  a node of our own: prints its URL, then obeys stdin lines
                                          "restart" (answers "ok") until "stop" or end of input;
                                          always stopped (and the harness's watchdog kills it if
                                          this process dies)
Run with /usr/bin/python3; the fixture's subcommands need VECMESH_AMQP_URL_FILE (CTest sets it)."""
import json
import sys
import time
from pathlib import Path

import pika

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
import rabbitmq_topology as topology  # noqa: E402
from rabbitmq_server import RabbitMQServer, fixture_node  # noqa: E402

DEFINITIONS = ROOT / "deploy" / "rabbitmq" / "definitions.json"
DEFINITIONS_VHOST = "/sutazai"


def connect(url):
    params = pika.URLParameters(url)
    params.socket_timeout = params.blocked_connection_timeout = 10
    params.connection_attempts = 1
    return pika.BlockingConnection(params)


def add_vhost(vhost):
    print(fixture_node().add_vhost(vhost))


def delete_vhost(vhost):
    fixture_node().ctl("delete_vhost", vhost, check=False)


def check_topology(vhost):
    declared = topology.declared_topology(fixture_node(), vhost)
    with open(DEFINITIONS) as f:
        defined = topology.definitions_topology(json.load(f), DEFINITIONS_VHOST)
    problems = [f"broker vs API.md: {p}" for p in topology.differences(topology.API_TOPOLOGY,
                                                                       declared)]
    problems += [f"broker vs definitions.json: {p}" for p in topology.differences(defined,
                                                                                 declared)]
    if problems:
        sys.exit("\n".join(problems))
    print(json.dumps(declared, sort_keys=True))


def declare_queue(vhost, queue, *pairs):
    arguments = dict(pair.split("=", 1) for pair in pairs)
    connection = connect(fixture_node().url(vhost))
    try:
        connection.channel().queue_declare(queue, durable=True, arguments=arguments)
    finally:
        connection.close()
    print(f"declared {queue} with {arguments}")


def get(vhost, queue, timeout_s=10):
    connection = connect(fixture_node().url(vhost))
    try:
        channel = connection.channel()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is not None:
                channel.basic_ack(method.delivery_tag)
                headers = {k: v.decode() if isinstance(v, bytes) else v
                           for k, v in (properties.headers or {}).items() if k != "x-death"}
                deaths = (properties.headers or {}).get("x-death") or []
                print(json.dumps({
                    "body": body.decode(), "redelivered": method.redelivered,
                    "content_type": properties.content_type,
                    "delivery_mode": properties.delivery_mode,
                    "message_id": properties.message_id,
                    "correlation_id": properties.correlation_id,
                    "reply_to": properties.reply_to, "headers": headers,
                    "death_reasons": [d["reason"] for d in deaths],
                    "death_queues": [d["queue"] for d in deaths]}))
                return
            time.sleep(0.05)
        sys.exit(f"no message in {queue} within {timeout_s} s")
    finally:
        connection.close()


def serve():
    with RabbitMQServer() as rmq:
        print(rmq.amqp_url, flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "restart":
                rmq.restart()
                print("ok", flush=True)
            elif command == "stop":
                break
            else:
                print(f"unknown command {command!r}", flush=True)


COMMANDS = {"add-vhost": add_vhost, "delete-vhost": delete_vhost, "topology": check_topology,
            "declare-queue": declare_queue, "get": get, "serve": serve}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
