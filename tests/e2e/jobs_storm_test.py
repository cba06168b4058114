"""End to end, the storm (issue 13): an independent producer (pika) publishes 10,000 indexing
jobs, 200,000 vectors in all, mixed upserts, deletes and payload updates on disjoint ids, and 50
poison messages of several kinds, to a real RabbitMQ node of the test's own. While vecmeshd
consumes them it is SIGKILLed three times and restarted on its data, and the broker is restarted
once. At the end:
- every good job was applied: the points, vectors and payloads are exactly what the jobs say
  (read back through REST);
- every poison message is in vector.indexing.tasks.dead with its reason (x-vecmesh-error), and
  nothing else is;
- the task queue is empty.

Ids: jobs 0..N-1 each own a range of ids. An upsert job writes its range; before the storm, the
ranges of the delete and payload jobs are written through REST, then a delete job deletes its
range and a payload job merges {"u": job} into it. No two jobs touch one id, so the end state is
the same in any order, and a job applied twice in effect would show only if it undid another's
work: none can; the engine's ledger (JobsTest) and e2e_jobs cover redeliveries that could.

Run by CTest (label e2e) with VECMESH_DAEMON set; needs rabbitmq-server and python3-pika.
"""
import json
import os
import sys
import time
import unittest

import pika
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))

from rabbitmq_server import RabbitMQServer  # noqa: E402
from rabbitmq_topology import declare_topology  # noqa: E402
from vecmeshd import Daemon, wait_for  # noqa: E402

QUEUE = "vector.indexing.tasks"
DEAD = "vector.indexing.tasks.dead"
C = "/v1/collections/storm"
JOBS = 10_000
PER_JOB = 20  # 200,000 vectors
DIM = 4
POISON = 50
KILLS_AT = (0.15, 0.3, 0.45)  # of the points written by upsert jobs
BROKER_RESTART_AT = 0.25
DEADLINE_S = 600


def kind(job):
    """Every 10th job deletes, every 10th + 5 updates payloads, the rest upsert."""
    return "delete" if job % 10 == 0 else "set_payload" if job % 10 == 5 else "upsert"


def ids(job):
    return list(range(job * PER_JOB, (job + 1) * PER_JOB))


def vector(i):
    return [float(i % 97), float(i % 89) / 2, float(i % 83) / 4, float(i % 79) / 8]


def message(job):
    body = {"job_id": f"storm-{job}", "collection": "storm", "op": kind(job)}
    if kind(job) == "upsert":
        body["points"] = [{"id": i, "vector": vector(i), "payload": {"job": job}} for i in ids(job)]
    elif kind(job) == "delete":
        body["ids"] = ids(job)
    else:
        body.update({"ids": ids(job), "payload": {"u": job}, "mode": "merge"})
    return json.dumps(body).encode()


def poison(n):
    """Five kinds, ten of each: what can never succeed."""
    kinds = [
        b"{not json " + str(n).encode(),
        json.dumps({"collection": "storm", "op": "delete", "ids": [1]}).encode(),  # no id
        json.dumps({"job_id": f"p-dim-{n}", "collection": "storm", "op": "upsert",
                    "points": [{"id": 1, "vector": [1, 2, 3]}]}).encode(),
        json.dumps({"job_id": f"p-coll-{n}", "collection": "nope", "op": "delete",
                    "ids": [1]}).encode(),
        json.dumps({"job_id": f"p-op-{n}", "collection": "storm", "op": "merge"}).encode(),
    ]
    return kinds[n % len(kinds)]


class JobsStormTest(unittest.TestCase):
    def test_the_storm(self):
        rmq = RabbitMQServer()
        rmq.start()
        self.addCleanup(rmq.close)
        url = rmq.add_vhost("/sutazai")
        # First a vecmeshd that does not consume: the collection, and the points that the delete
        # and payload jobs work on.
        daemon = Daemon(args=["--amqp-url", url, "--amqp-role", "publish", "--access-log", "false"])
        self.addCleanup(daemon.cleanup)
        daemon.start()
        self.assertEqual(requests.put(daemon.url + C, json={"dimension": DIM}, timeout=60)
                         .status_code, 201)
        # The ranges the delete and payload jobs work on, written before the storm.
        base = [{"id": i, "vector": vector(i), "payload": {"base": True}}
                for job in range(JOBS) if kind(job) != "upsert" for i in ids(job)]
        for start in range(0, len(base), 5000):
            r = requests.put(daemon.url + C + "/points", json={"points": base[start:start + 5000]},
                             timeout=120)
            self.assertEqual(r.status_code, 200, r.text)

        # The producer: every job and the poison, interleaved, persistent, confirmed.
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        declare_topology(channel)
        channel.confirm_delivery()
        poison_bodies = []
        for job in range(JOBS):
            channel.basic_publish("", QUEUE, message(job),
                                  pika.BasicProperties(content_type="application/json",
                                                       delivery_mode=2,
                                                       message_id=f"storm-{job}"),
                                  mandatory=True)
            if job % (JOBS // POISON) == 0:
                body = poison(len(poison_bodies))
                poison_bodies.append(body)
                channel.basic_publish("", QUEUE, body,
                                      pika.BasicProperties(delivery_mode=2), mandatory=True)
        connection.close()
        self.assertEqual(len(poison_bodies), POISON)
        # Then the consumer, on the same data: the storm happens while it works.
        daemon.kill()
        daemon.args = ["--amqp-url", url, "--job-consumers", "2", "--job-prefetch", "8",
                       "--access-log", "false"]
        daemon.start()

        upserted = sum(PER_JOB for job in range(JOBS) if kind(job) == "upsert")
        expected_count = len(base) - sum(PER_JOB for job in range(JOBS) if kind(job) == "delete") \
            + upserted

        def count():
            try:
                return requests.post(daemon.url + C + "/points/count", json={},
                                     timeout=30).json()["count"]
            except (requests.RequestException, ValueError, KeyError):
                return None

        def depth(queue):
            try:
                c = pika.BlockingConnection(pika.URLParameters(url))
                try:
                    return c.channel().queue_declare(queue, passive=True).method.message_count
                finally:
                    c.close()
            except pika.exceptions.AMQPError:
                return None

        # The storm: SIGKILL vecmeshd three times and restart the broker once, as the jobs run.
        events = sorted([(at, "kill") for at in KILLS_AT] + [(BROKER_RESTART_AT, "broker")])
        deadline = time.monotonic() + DEADLINE_S
        for at, event in events:
            target = len(base) + int(at * upserted)
            self.assertTrue(wait_for(lambda: (count() or 0) >= target,
                                     timeout_s=max(1, deadline - time.monotonic()),
                                     interval_s=0.05),
                            f"{event} at {at}: the jobs did not get that far")
            left = depth(QUEUE)
            print(f"{event} at {at}: {count()} points, {left} messages waiting", file=sys.stderr)
            self.assertGreater(left or 0, 0, f"{event} at {at} came after the jobs")
            if event == "kill":
                daemon.kill()
                daemon.start()
            else:
                rmq.restart()

        self.assertTrue(wait_for(lambda: depth(QUEUE) == 0 and depth(DEAD) == POISON
                                 and count() == expected_count,
                                 timeout_s=max(1, deadline - time.monotonic()), interval_s=0.5),
                        f"queue {depth(QUEUE)}, dead {depth(DEAD)}, points {count()} of "
                        f"{expected_count}")

        # Exactly what the jobs say, read back through REST.
        got = {}
        cursor = None
        while True:
            r = requests.post(daemon.url + C + "/points/scroll",
                              json={"limit": 10000, "cursor": cursor, "with_vector": True},
                              timeout=120)
            self.assertEqual(r.status_code, 200, r.text)
            page = r.json()
            for p in page["points"]:
                got[p["id"]] = p
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(len(got), expected_count)
        for job in range(JOBS):
            for i in ids(job):
                if kind(job) == "delete":
                    self.assertNotIn(i, got, f"job {job} deleted {i}")
                    continue
                self.assertIn(i, got, f"job {job}'s point {i}")
                self.assertEqual(got[i]["vector"], vector(i))
                want = {"job": job} if kind(job) == "upsert" else {"base": True, "u": job}
                self.assertEqual(got[i]["payload"], want, f"point {i}")

        # The dead-letter queue holds the poison, each with its reason, and nothing else.
        c = pika.BlockingConnection(pika.URLParameters(url))
        ch = c.channel()
        dead = []
        while True:
            method, properties, body = ch.basic_get(DEAD, auto_ack=True)
            if method is None:
                break
            dead.append((body, (properties.headers or {}).get("x-vecmesh-error", "")))
        c.close()
        self.assertEqual(sorted(body for body, _ in dead), sorted(poison_bodies))
        for body, error in dead:
            self.assertRegex(error, r"^(INVALID_ARGUMENT|NOT_FOUND): ", body)
        self.assertEqual(depth(QUEUE), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
