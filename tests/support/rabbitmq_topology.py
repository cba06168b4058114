#!/usr/bin/python3
"""The RabbitMQ topology of API.md "Indexing jobs on RabbitMQ", and what a broker or a definitions
file actually declares, in one normalised form, so that any declarer (pika here, vecmeshd's C++
client, deploy/rabbitmq/definitions.json) can be compared with the contract and with each other:

    {"queues": {name: {"durable": bool, "auto_delete": bool, "arguments": {key: [type, value]}}},
     "exchanges": {name: {"type": str, "durable": bool, "auto_delete": bool, "internal": bool,
                          "arguments": {...}}},
     "bindings": [[source, destination, destination_kind, routing_key, {arguments}], ...] (sorted)}

The broker's own objects (the default exchange "", the amq.* exchanges, the default exchange's
implicit binding to every queue) are left out. Argument types are AMQP field types as rabbitmqctl
names them ("longstr" for a string): a declarer that sends the right value with another type is
a different declaration (406 PRECONDITION_FAILED).

`python3 rabbitmq_topology.py FILE` prints the normalised topology of a definitions file.
"""
import json
import sys

QUEUE = "vector.indexing.tasks"
DEAD_QUEUE = "vector.indexing.tasks.dead"
DLX = "vector.indexing.dlx"
QUEUE_ARGUMENTS = {"x-dead-letter-exchange": DLX, "x-dead-letter-routing-key": DEAD_QUEUE}

# The contract (API.md), normalised.
API_TOPOLOGY = {
    "queues": {
        QUEUE: {"durable": True, "auto_delete": False,
                "arguments": {k: ["longstr", v] for k, v in QUEUE_ARGUMENTS.items()}},
        DEAD_QUEUE: {"durable": True, "auto_delete": False, "arguments": {}},
    },
    "exchanges": {
        DLX: {"type": "direct", "durable": True, "auto_delete": False, "internal": False,
              "arguments": {}},
    },
    "bindings": [[DLX, DEAD_QUEUE, "queue", DEAD_QUEUE, {}]],
}


def declare_topology(channel):
    """Declares the topology exactly as API.md says, with a pika channel."""
    channel.exchange_declare(DLX, "direct", durable=True)
    channel.queue_declare(DEAD_QUEUE, durable=True)
    channel.queue_bind(DEAD_QUEUE, DLX, routing_key=DEAD_QUEUE)
    channel.queue_declare(QUEUE, durable=True, arguments=dict(QUEUE_ARGUMENTS))


def _builtin_exchange(name):
    return name == "" or name.startswith("amq.")


def _typed(value):
    """The type rabbitmqctl gives a JSON value that a definitions file or a client passes."""
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["long", value]
    if isinstance(value, float):
        return ["double", value]
    if isinstance(value, str):
        return ["longstr", value]
    return ["table" if isinstance(value, dict) else "array", value]


def _ctl_arguments(pairs):
    return {key: [kind, value] for key, kind, value in pairs}


def _ctl_json(node, *args):
    return json.loads(node.ctl(*args, "--formatter", "json").stdout or "[]")


def declared_topology(node, vhost):
    """What the broker holds in vhost, normalised. node: anything with ctl(*args) that runs
    rabbitmqctl -n NODE args (rabbitmq_server.Node, RabbitMQServer)."""
    queues = _ctl_json(node, "list_queues", "-p", vhost, "name", "durable", "auto_delete",
                       "arguments")
    exchanges = _ctl_json(node, "list_exchanges", "-p", vhost, "name", "type", "durable",
                          "auto_delete", "internal", "arguments")
    bindings = _ctl_json(node, "list_bindings", "-p", vhost, "source_name", "destination_name",
                         "destination_kind", "routing_key", "arguments")
    return {
        "queues": {q["name"]: {"durable": q["durable"], "auto_delete": q["auto_delete"],
                               "arguments": _ctl_arguments(q["arguments"])} for q in queues},
        "exchanges": {e["name"]: {"type": e["type"], "durable": e["durable"],
                                  "auto_delete": e["auto_delete"], "internal": e["internal"],
                                  "arguments": _ctl_arguments(e["arguments"])}
                      for e in exchanges if not _builtin_exchange(e["name"])},
        "bindings": sorted([b["source_name"], b["destination_name"], b["destination_kind"],
                            b["routing_key"], _ctl_arguments(b["arguments"])]
                           for b in bindings if b["source_name"] != ""),
    }


def definitions_topology(definitions, vhost):
    """What a definitions document (RabbitMQ's format, already parsed) declares in vhost,
    normalised (the broker's defaults where the file leaves a field out)."""
    def of(kind):
        return [d for d in definitions.get(kind, []) if d.get("vhost") == vhost]

    def arguments(d):
        return {k: _typed(v) for k, v in d.get("arguments", {}).items()}

    return {
        "queues": {q["name"]: {"durable": q.get("durable", True),
                               "auto_delete": q.get("auto_delete", False),
                               "arguments": arguments(q)} for q in of("queues")},
        "exchanges": {e["name"]: {"type": e["type"], "durable": e.get("durable", True),
                                  "auto_delete": e.get("auto_delete", False),
                                  "internal": e.get("internal", False), "arguments": arguments(e)}
                      for e in of("exchanges")},
        "bindings": sorted([b["source"], b["destination"], b["destination_type"],
                            b["routing_key"], arguments(b)] for b in of("bindings")),
    }


def differences(want, got):
    """Human-readable differences between two normalised topologies (empty when equal)."""
    out = []
    for kind in ("queues", "exchanges"):
        for name in sorted(set(want[kind]) | set(got[kind])):
            if want[kind].get(name) != got[kind].get(name):
                out.append(f"{kind[:-1]} {name!r}: want {want[kind].get(name)}, "
                           f"got {got[kind].get(name)}")
    for binding in want["bindings"]:
        if binding not in got["bindings"]:
            out.append(f"binding missing: {binding}")
    for binding in got["bindings"]:
        if binding not in want["bindings"]:
            out.append(f"binding not in the contract: {binding}")
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(definitions_topology(json.load(f), sys.argv[2] if len(sys.argv) > 2
                                              else "/sutazai"), indent=2, sort_keys=True))
