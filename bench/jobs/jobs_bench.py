#!/usr/bin/python3
"""`make bench` (bench/jobs): the job consumer's ingest rate beside REST upserts of the same
batches, in the same run, on the same machine (issue 13's target: >= 0.8x).

- REST: a vecmeshd of its own; --batches batches of --batch points (--dim floats, a small payload
  each) upserted one after another over one keep-alive connection (Python requests), timed.
- Jobs: a real RabbitMQ node of the bench's own (tests/support/rabbitmq_server.py). The same
  batches are published first as upsert jobs (pika, persistent, under confirms: not timed); then
  a vecmeshd consumes them (--job-consumers, --job-prefetch), timed from its first applied point
  to its last, as the collection's count sees them.
Both vecmeshd run with their defaults otherwise (fsync on every write). Ingest has no recall to
report: every point is checked to be there.

Usage: jobs_bench.py --daemon PATH [--batches N] [--batch N] [--dim N] [--consumers N]
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

import pika
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from rabbitmq_server import RabbitMQServer  # noqa: E402
from rabbitmq_topology import declare_topology  # noqa: E402
from vecmeshd import Daemon, wait_for  # noqa: E402

QUEUE = "vector.indexing.tasks"


def batches(n, size, dim):
    rng = random.Random(7)
    for b in range(n):
        yield [{"id": b * size + i, "vector": [round(rng.uniform(-1, 1), 6) for _ in range(dim)],
                "payload": {"batch": b}} for i in range(size)]


def count(daemon, collection):
    r = requests.post(f"{daemon.url}/v1/collections/{collection}/points/count", json={},
                      timeout=60)
    r.raise_for_status()
    return r.json()["count"]


def create(daemon, collection, dim):
    r = requests.put(f"{daemon.url}/v1/collections/{collection}", json={"dimension": dim},
                     timeout=60)
    if r.status_code not in (200, 201):
        raise RuntimeError(r.text)


def rest_rate(args):
    with Daemon(args=["--access-log", "false"], env={"VECMESH_DAEMON": args.daemon}) as d:
        create(d, "bench", args.dim)
        session = requests.Session()
        payloads = [json.dumps({"points": b}) for b in batches(args.batches, args.batch, args.dim)]
        start = time.monotonic()
        for body in payloads:
            r = session.put(f"{d.url}/v1/collections/bench/points", data=body,
                            headers={"content-type": "application/json"}, timeout=120)
            r.raise_for_status()
        seconds = time.monotonic() - start
        total = args.batches * args.batch
        if count(d, "bench") != total:
            raise RuntimeError("REST: not every point is there")
        return total / seconds


def jobs_rate(args):
    with RabbitMQServer() as rmq:
        url = rmq.add_vhost("/bench")
        data = tempfile.mkdtemp(prefix="vecmesh-jobs-bench-")
        try:
            return consume(args, url, data)
        finally:
            shutil.rmtree(data, ignore_errors=True)


def consume(args, url, data):
    """The rate of a vecmeshd consuming the bench's jobs, published first, in data."""
    # The collection first, from a vecmeshd that does not consume.
    with Daemon(data_dir=data, args=["--access-log", "false", "--amqp-url", url,
                                     "--amqp-role", "publish"]) as d:
        create(d, "bench", args.dim)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    declare_topology(channel)
    channel.confirm_delivery()
    for b, points in enumerate(batches(args.batches, args.batch, args.dim)):
        job = {"job_id": f"bench-{b}", "collection": "bench", "op": "upsert", "points": points}
        channel.basic_publish("", QUEUE, json.dumps(job).encode(),
                              pika.BasicProperties(content_type="application/json",
                                                   delivery_mode=2, message_id=job["job_id"]),
                              mandatory=True)
    connection.close()
    total = args.batches * args.batch
    with Daemon(data_dir=data, args=["--access-log", "false", "--amqp-url", url,
                                     "--job-consumers", str(args.consumers),
                                     "--job-prefetch", str(args.prefetch)]) as d:
        first = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            n = count(d, "bench")
            if first is None and n > 0:
                first = (time.monotonic(), n)
            if n == total:
                break
            time.sleep(0.02)
        else:
            raise RuntimeError("jobs: not every point arrived within 600 s")
        seconds = time.monotonic() - first[0]
        return (total - first[1]) / seconds if seconds > 0 else float("inf")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--daemon", required=True)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=8)
    args = parser.parse_args()
    os.environ["VECMESH_DAEMON"] = args.daemon
    print(f"indexing jobs on RabbitMQ beside REST: {args.batches} batches of {args.batch} x "
          f"{args.dim} points, {args.consumers} consumers (prefetch {args.prefetch})")
    rest = rest_rate(args)
    jobs = jobs_rate(args)
    print(f"  {'ingest, REST upserts (one connection)':44} {rest:10.1f} points/s")
    print(f"  {'ingest, the job consumer':44} {jobs:10.1f} points/s")
    ratio = jobs / rest
    print(f"  {'consumer / REST':44} {ratio:10.2f}x (target >= 0.8x: "
          f"{'met' if ratio >= 0.8 else 'MISSED'})")


if __name__ == "__main__":
    main()
