"""End to end, indexing jobs on RabbitMQ (API.md "Indexing jobs on RabbitMQ"): vecmeshd as a
process, a real RabbitMQ node of the test's own (tests/support/rabbitmq_server.py, vhost
/sutazai), and pika as an independent producer, as the platform's batch indexers are.

1. Good jobs published by pika (upserts, a delete by ids, a delete by filter, a payload update)
   are applied: the points read back through REST are exactly what the jobs wrote.
2. Poison messages (not JSON, no job id, a vector of another dimension, an unknown collection,
   an unknown op) go to vector.indexing.tasks.dead at once, body unchanged, with the header
   x-vecmesh-error giving the code and the message; nothing else is there, and the task queue
   ends empty.
3. Once in effect: a job upserts points, a later job deletes them, and the first job published
   again (the same job_id) is acknowledged without being applied: the points stay deleted. The
   same when vecmeshd is killed between the first job's durable writes and its ack, and the
   job is redelivered after the later one.
4. reply_to and correlation_id get the job's final status.
5. POST .../points/import is published and consumed: 202 with a job id, then GET /v1/jobs/{id}
   says done; after a restart of vecmeshd, the job is still known.
6. A queue declared beforehand with other arguments (in a vhost of its own): vecmeshd does not
   consume there, and an import answers 503 naming the argument.

Run by CTest (label e2e) with VECMESH_DAEMON set; needs Debian's rabbitmq-server and
python3-pika (scripts/install-deps).
"""
import json
import os
import subprocess
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
VHOST = "/sutazai"
C = "/v1/collections/docs"


def publish(url, body, message_id=None, reply_to=None, correlation_id=None):
    """Publishes one job as a producer would: persistent, to the default exchange, confirmed."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            "", QUEUE, body if isinstance(body, bytes) else json.dumps(body).encode(),
            pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                 message_id=message_id, reply_to=reply_to,
                                 correlation_id=correlation_id),
            mandatory=True)
    finally:
        connection.close()


def drain(url, queue):
    """Every message in queue, taken (acked): a list of (body, properties)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        out = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append((body, properties))
    finally:
        connection.close()


def depth(url, queue):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


class JobsTest(unittest.TestCase):
    def setUp(self):
        self.rmq = RabbitMQServer()
        self.rmq.start()
        self.addCleanup(self.rmq.close)
        self.url = self.rmq.add_vhost(VHOST)
        # A producer declares the topology too (API.md: every declarer, the same arguments), so
        # that its jobs wait in the queue whether or not a consumer runs yet.
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        declare_topology(connection.channel())
        connection.close()
        self.daemon = Daemon(args=["--amqp-url", self.url, "--job-consumers", "2",
                                   "--access-log", "false"])
        self.addCleanup(self.daemon.cleanup)
        self.daemon.start()
        r = requests.put(self.daemon.url + C, json={"dimension": 2}, timeout=30)
        self.assertEqual(r.status_code, 201, r.text)

    def points(self, ids):
        r = requests.post(self.daemon.url + C + "/points/get",
                          json={"ids": ids, "with_vector": True}, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        return {json.dumps(p["id"]): p for p in r.json()["points"]}

    def count(self):
        r = requests.post(self.daemon.url + C + "/points/count", json={}, timeout=30)
        return r.json()["count"]

    def test_jobs_from_another_service(self):
        url = self.url
        for j in range(10):
            publish(url, {"job_id": f"up-{j}", "collection": "docs", "op": "upsert",
                          "points": [{"id": j * 10 + i, "vector": [j, i], "payload": {"j": j}}
                                     for i in range(10)]})
        publish(url, {"collection": "docs", "op": "delete", "ids": [0, 1, 2]}, message_id="del-ids")
        publish(url, {"job_id": "del-filter", "collection": "docs", "op": "delete",
                      "filter": {"must": [{"key": "j", "match": {"value": 9}}]}})
        publish(url, {"job_id": "pay", "collection": "docs", "op": "set_payload", "ids": [55],
                      "payload": {"tag": "x"}, "mode": "merge"})
        poison = [
            (b"{not json", "p-json", "INVALID_ARGUMENT"),
            (json.dumps({"collection": "docs", "op": "delete", "ids": [1]}).encode(), None,
             "job_id"),
            (json.dumps({"job_id": "p-dim", "collection": "docs", "op": "upsert",
                         "points": [{"id": 1, "vector": [1, 2, 3]}]}).encode(), None,
             "points[0].vector"),
            (json.dumps({"job_id": "p-missing", "collection": "nope", "op": "delete",
                         "ids": [1]}).encode(), None, "NOT_FOUND"),
            (json.dumps({"job_id": "p-op", "collection": "docs", "op": "merge"}).encode(), None,
             "op"),
        ]
        for body, message_id, _ in poison:
            publish(url, body, message_id=message_id)

        self.assertTrue(wait_for(lambda: depth(url, QUEUE) == 0 and depth(url, DEAD) == 5,
                                 timeout_s=60), "every job taken, the poison dead-lettered")
        self.assertTrue(wait_for(lambda: self.count() == 87, timeout_s=30),
                        f"100 - 3 by ids - 10 by filter = 87, got {self.count()}")
        got = self.points([3, 55, 90, 2])
        self.assertEqual(set(got), {"3", "55"})
        self.assertEqual(got["55"]["payload"], {"j": 5, "tag": "x"})
        self.assertEqual(got["3"]["vector"], [0, 3])

        dead = drain(url, DEAD)
        self.assertEqual(len(dead), 5)
        bodies = {body: properties for body, properties in dead}
        for body, _, fragment in poison:
            self.assertIn(body, bodies, "the body unchanged")
            error = (bodies[body].headers or {}).get("x-vecmesh-error", "")
            self.assertIn(fragment, error)
            self.assertRegex(error, r"^[A-Z_]+: ", "the code, then the message")

        # /health/deep and /metrics report the broker and the jobs.
        deep = requests.get(self.daemon.url + "/health/deep", timeout=30).json()
        self.assertEqual(deep["dependencies"]["rabbitmq"]["status"], "healthy", deep)
        metrics = requests.get(self.daemon.url + "/metrics", timeout=30).text
        self.assertIn('vecmesh_jobs_total{event="dead_lettered"} 5', metrics)
        self.assertIn('vecmesh_jobs_total{event="acked"} 13', metrics)
        self.assertIn("vecmesh_jobs_consumers 2", metrics)
        check = subprocess.run(["promtool", "check", "metrics"], input=metrics, text=True,
                               capture_output=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_a_message_id_that_is_not_text_and_a_poison_copy_of_an_applied_job(self):
        url = self.url
        publish(url, {"job_id": "good-1", "collection": "docs", "op": "upsert",
                      "points": [{"id": 1, "vector": [1, 1]}]})
        self.assertTrue(wait_for(lambda: self.count() == 1, timeout_s=30))
        # Bytes that are not UTF-8 as the only id: dead-lettered, and vecmeshd goes on.
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", QUEUE, json.dumps({"collection": "docs", "op": "delete",
                                                     "ids": [1]}).encode(),
                              pika.BasicProperties(delivery_mode=2, message_id=b"\xff\xfe-bad"),
                              mandatory=True)
        connection.close()
        # A poison message under the id of the job applied: its status stays done.
        publish(url, b"{not json", message_id="good-1")
        self.assertTrue(wait_for(lambda: depth(url, DEAD) == 2, timeout_s=30))
        self.assertTrue(self.daemon.alive())
        self.assertEqual(self.count(), 1, "the delete without a usable id was not applied")
        r = requests.get(self.daemon.url + "/v1/jobs/good-1", timeout=10)
        self.assertEqual(r.json()["state"], "done", r.text)

    def test_a_job_is_applied_once_in_effect(self):
        url = self.url
        publish(url, {"job_id": "first", "collection": "docs", "op": "upsert",
                      "points": [{"id": i, "vector": [i, 1]} for i in range(5)]})
        self.assertTrue(wait_for(lambda: self.count() == 5, timeout_s=30))
        publish(url, {"job_id": "second", "collection": "docs", "op": "delete",
                      "ids": list(range(5))})
        self.assertTrue(wait_for(lambda: self.count() == 0, timeout_s=30))
        # The first job once more (a redelivery, or another copy): acknowledged, not applied.
        publish(url, {"job_id": "first", "collection": "docs", "op": "upsert",
                      "points": [{"id": i, "vector": [i, 1]} for i in range(5)]})
        self.assertTrue(wait_for(lambda: depth(url, QUEUE) == 0, timeout_s=30))
        time.sleep(0.5)
        self.assertEqual(self.count(), 0, "the deleted points did not come back")
        self.assertEqual(depth(url, DEAD), 0)

    def test_a_job_killed_between_durable_and_ack_is_not_applied_again(self):
        """Once in effect, proven: vecmeshd dies after a job's writes are durable and before
        its ack; a later job deletes the points; the first job, redelivered after it, does not
        bring them back."""
        self.daemon.kill()
        crashing = Daemon(data_dir=self.daemon.data_dir,
                          args=["--amqp-url", self.url, "--access-log", "false"],
                          env={"VECMESH_TEST_CRASH_AFTER_JOB": "first"})
        self.addCleanup(crashing.cleanup)
        crashing.start()
        publish(self.url, {"job_id": "first", "collection": "docs", "op": "upsert",
                           "points": [{"id": i, "vector": [i, 1]} for i in range(5)]})
        self.assertTrue(wait_for(lambda: not crashing.alive(), timeout_s=30),
                        "vecmeshd died after applying the job")
        self.assertEqual(crashing.process.returncode, 86)
        # The job was not acked: it waits again. Another consumer takes it and holds it unacked,
        # so that the later job is consumed first.
        holder = pika.BlockingConnection(pika.URLParameters(self.url))
        self.addCleanup(lambda: holder.is_open and holder.close())
        channel = holder.channel()
        method, _, body = channel.basic_get(QUEUE, auto_ack=False)
        self.assertIsNotNone(method, "the job killed before its ack is in the queue again")
        self.assertTrue(method.redelivered)
        self.assertEqual(json.loads(body)["job_id"], "first")
        publish(self.url, {"job_id": "later", "collection": "docs", "op": "delete",
                           "ids": list(range(5))})
        self.daemon.start()
        self.assertTrue(wait_for(lambda: requests.get(self.daemon.url + "/v1/jobs/later",
                                                      timeout=10).json().get("state") == "done",
                                 timeout_s=30), "the later job was applied")
        self.assertEqual(self.count(), 0)
        # The first job, redelivered after the later one: acknowledged, not applied again.
        channel.basic_reject(method.delivery_tag, requeue=True)
        holder.close()
        self.assertTrue(wait_for(lambda: depth(self.url, QUEUE) == 0, timeout_s=30))
        self.assertTrue(wait_for(
            lambda: 'vecmesh_jobs_total{event="already_applied"} 1' in requests.get(
                self.daemon.url + "/metrics", timeout=30).text, timeout_s=10),
            "vecmeshd recognised the redelivered job as applied")
        self.assertEqual(self.count(), 0, "the deleted points did not come back")
        self.assertEqual(depth(self.url, DEAD), 0)

    def test_reply_to_gets_the_final_status(self):
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.addCleanup(connection.close)
        channel = connection.channel()
        replies = channel.queue_declare("", exclusive=True).method.queue
        publish(self.url, {"job_id": "with-reply", "collection": "docs", "op": "upsert",
                           "points": [{"id": 1, "vector": [1, 1]}]},
                reply_to=replies, correlation_id="corr-7")
        got = []
        self.assertTrue(wait_for(lambda: got.append(channel.basic_get(replies, auto_ack=True))
                                 or got[-1][0] is not None, timeout_s=30))
        _, properties, body = got[-1]
        self.assertEqual(properties.correlation_id, "corr-7")
        status = json.loads(body)
        self.assertEqual((status["job_id"], status["state"], status["points"]),
                         ("with-reply", "done", 1))

    def test_imports_are_published_and_their_status_survives_a_restart(self):
        r = requests.post(self.daemon.url + C + "/points/import",
                          json={"points": [{"id": i, "vector": [i, 2]} for i in range(7)]},
                          timeout=30)
        self.assertEqual(r.status_code, 202, r.text)
        job = r.json()["job_id"]
        self.assertTrue(wait_for(
            lambda: requests.get(f"{self.daemon.url}/v1/jobs/{job}", timeout=10)
            .json().get("state") == "done", timeout_s=30))
        self.assertEqual(self.count(), 7)
        self.daemon.stop()
        self.daemon.start()
        r = requests.get(f"{self.daemon.url}/v1/jobs/{job}", timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual((r.json()["state"], r.json()["points"]), ("done", 7))

    def test_a_queue_declared_with_other_arguments_is_refused_by_name(self):
        url = self.rmq.add_vhost("/mismatch")
        connection = pika.BlockingConnection(pika.URLParameters(url))
        connection.channel().queue_declare(QUEUE, durable=True)  # no dead-letter arguments
        connection.close()
        other = Daemon(args=["--amqp-url", url, "--access-log", "false"])
        self.addCleanup(other.cleanup)
        other.start()
        r = requests.put(other.url + C, json={"dimension": 2}, timeout=30)
        self.assertEqual(r.status_code, 201, r.text)
        r = requests.post(other.url + C + "/points/import",
                          json={"points": [{"id": 1, "vector": [1, 1]}]}, timeout=60)
        self.assertEqual(r.status_code, 503, r.text)
        self.assertIn("x-dead-letter", r.json()["error"]["message"])
        self.assertTrue(wait_for(lambda: any("x-dead-letter" in line and "not consuming" in line
                                             for line in other.log), timeout_s=30),
                        "the consumer says why it does not consume")
        rabbitmq = requests.get(other.url + "/health/deep", timeout=30).json()["dependencies"][
            "rabbitmq"]
        self.assertEqual(rabbitmq["status"], "unhealthy")
        self.assertIn("x-dead-letter", rabbitmq["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
