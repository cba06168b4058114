"""`make mesh`, end to end: scripts/mesh up and down (what the Makefile runs) with a private state
directory and the built vecmeshd, then the flow issue 15 asks a newcomer to try.

1. `up` starts every part and prints where each listens and the API keys; a second `up` on the
   same state refuses, saying a mesh is up, and leaves it running.
2. Both replicas are passing `faiss` instances in the Consul double, and chromadb-1 and
   chromadb-2 (the replicas' Chroma servers) are passing too. Authentication is on: no key, 401.
3. The collection `docs` (backends faiss and chroma) is created on both replicas (they do not copy
   collections; a job lands on whichever consumes it). An upsert job published with pika as
   API.md "Indexing jobs on RabbitMQ" says is done on one replica and unknown to the other.
4. On that replica the points are in both stores, as written (count and get with `store`), its
   own Chroma server holds them (read through Chroma's API) and the other replica's holds an empty
   `docs`; a search with `store: "all"` answers from both stores (each `ok`), with the same ids
   as each store alone, nearest first.
5. Prometheus scrapes both replicas: `up{job="faiss"}` is 1 for each. The Consul double recorded
   no request Consul would refuse.
6. Prometheus scrapes the broker's own metrics (job rabbitmq, its rabbitmq_prometheus plugin):
   every metric of RABBITMQ_METRICS (tests/support/prometheus_server.py: those deploy/ reads) is
   there, the depth of vector.indexing.tasks.dead is 0 and VecmeshDeadLetters inactive. A job that
   can never succeed (an upsert for a collection no replica has), published with pika, makes the
   depth 1 and the alert pending or firing (Prometheus's API); the message is in the dead-letter
   queue, its body unchanged, with x-vecmesh-error NOT_FOUND; once taken (acked), the depth is 0.
7. `down` stops every part: their ports are closed, their process groups and the keeper gone, no
   process of the mesh left; a second `down` says there is nothing to stop.

Run by CTest (label deploy) with VECMESH_DAEMON set; needs Debian's rabbitmq-server, prometheus,
python3-pika and tests/integration's npm packages (scripts/install-deps).
"""
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from pathlib import Path

import pika
import requests

SOURCE = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(SOURCE / "tests" / "support"))
import server_process as sp  # noqa: E402
from prometheus_server import RABBITMQ_JOB, RABBITMQ_METRICS  # noqa: E402

MESH = SOURCE / "scripts" / "mesh"
PYTHON = "/usr/bin/python3"
UP_TIMEOUT_S = 240  # up bounds each of its waits; this bounds the whole
DOWN_TIMEOUT_S = 240
WAIT_S = 60
CHROMA_API = "/api/v2/tenants/default_tenant/databases/default_database"
C = "/v1/collections/docs"
DIM = 8
POINTS = 50
REPLICAS = ("vecmesh-1", "vecmesh-2")
DEAD_QUEUE = "vector.indexing.tasks.dead"
DEAD_DEPTH = f'rabbitmq_detailed_queue_messages{{job="{RABBITMQ_JOB}",queue="{DEAD_QUEUE}"}}'
DEAD_ALERT = "VecmeshDeadLetters"


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def vector(i):
    """Point i's vector: no two alike, and no two at the same distance from a query."""
    return [math.sin(i * 1.3 + j * 0.7) for j in range(DIM)]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((sp.HOST, port)) == 0


def mesh_processes(state, keeper_pid):
    """The processes left of the mesh: their command line names its state directory (servers,
    their watchdogs) or its keeper (the watchdogs it owns), or their environment carries the mark
    of its RabbitMQ node."""
    found = []
    needles = [str(state).encode(), f"--owner-pid\0{keeper_pid}\0".encode()]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command}")
    found += [f"{pid}: marked" for pid, _ in sp.marked_processes(sp.marker_of(
        Path(state) / "rabbitmq" / "data"))]
    return found


class Mesh(unittest.TestCase):
    def setUp(self):
        self.daemon = os.environ.get("VECMESH_DAEMON")
        if not self.daemon:
            self.fail("VECMESH_DAEMON is not set: run the test through ctest (label deploy)")
        work = tempfile.mkdtemp(prefix="vecmesh-mesh-")
        os.chmod(work, 0o711)  # as root, the RabbitMQ node runs as rabbitmq, which must reach it
        self.addCleanup(shutil.rmtree, work, True)
        self.state = Path(work) / "mesh"
        # Whatever happens, the mesh is stopped (down is idempotent).
        self.addCleanup(self.mesh, "down", timeout_s=DOWN_TIMEOUT_S)

    def mesh(self, command, *args, timeout_s=UP_TIMEOUT_S):
        """scripts/mesh COMMAND --state STATE ARGS: the CompletedProcess (text)."""
        done = subprocess.run([PYTHON, str(MESH), command, "--state", str(self.state), *args],
                              capture_output=True, text=True, timeout=timeout_s)
        log(f"mesh {command}: exit {done.returncode}\n{done.stdout}{done.stderr}")
        return done

    def call(self, replica, method, path, body=None, key="read_write", expected=200):
        r = requests.request(method, self.info[replica]["url"] + path, json=body, timeout=30,
                             headers={"api-key": self.keys[key]} if key else {})
        self.assertEqual(r.status_code, expected, f"{replica} {method} {path}: {r.text}")
        return r.json()

    def consul(self, path):
        r = requests.get(self.info["consul"]["url"] + path, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def passing(self, service):
        entries = self.consul(f"/v1/health/service/{service}?passing")
        return sorted(e["Service"]["ID"] for e in entries)

    def chroma_count(self, n):
        """Points in the collection docs of Chroma server n, read through Chroma's own API (None:
        no such collection)."""
        url = self.info[f"chroma-{n}"]["url"] + CHROMA_API
        r = requests.get(url + "/collections/docs", timeout=30)
        if r.status_code == 404:
            return None
        self.assertEqual(r.status_code, 200, r.text)
        r = requests.get(url + f"/collections/{r.json()['id']}/count", timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def publish(self, body, job_id):
        """Publishes a job as API.md says a producer does (confirmed, routed)."""
        connection = pika.BlockingConnection(pika.URLParameters(self.info["rabbitmq"]["url"]))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish(
                "", "vector.indexing.tasks", body,
                pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                     message_id=job_id),
                mandatory=True)
        finally:
            connection.close()

    def prometheus(self, path, **params):
        r = requests.get(self.info["prometheus"]["url"] + "/api/v1/" + path, params=params,
                         timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        answer = r.json()
        self.assertEqual(answer["status"], "success", answer)
        return answer["data"]

    def values(self, expr):
        """{frozenset of labels: value} of an instant query."""
        return {frozenset(s["metric"].items()): float(s["value"][1])
                for s in self.prometheus("query", query=expr)["result"]}

    def dead_depth(self):
        """The dead-letter queue's depth as Prometheus last scraped it (None: no series)."""
        found = list(self.values(DEAD_DEPTH).values())
        return found[0] if len(found) == 1 else None

    def alert_state(self, name):
        """The state of alerting rule name ("inactive", "pending", "firing"), from /api/v1/rules."""
        rules = [rule for group in self.prometheus("rules", type="alert")["groups"]
                 for rule in group["rules"] if rule["name"] == name]
        self.assertEqual(len(rules), 1, f"{name} is loaded once")
        return rules[0]["state"]

    def caught_up(self, replica):
        stores = self.call(replica, "GET", C)["stores"]
        return stores.get("chroma") == {"pending": 0, "status": "ok"}

    def test_make_mesh_a_job_reaches_both_stores_of_a_replica(self):
        began = time.monotonic()
        up = self.mesh("up", "--vecmeshd", self.daemon, "--owner-pid", str(os.getpid()),
                       "--scrape-interval-s", "1")
        self.assertEqual(up.returncode, 0)
        mesh = json.loads((self.state / "mesh.json").read_text())
        self.info, self.keys = mesh["parts"], mesh["api_keys"]
        self.assertEqual(set(self.info), {"consul", "rabbitmq", "chroma-1", "chroma-2",
                                          "vecmesh-1", "vecmesh-2", "prometheus"})
        # It says where each part listens, and the keys.
        for name, part in self.info.items():
            self.assertIn(part["url"], up.stdout, name)
        for replica in REPLICAS:
            self.assertIn(self.info[replica]["grpc"], up.stdout)
        for key in self.keys.values():
            self.assertIn(key, up.stdout)
        self.assertEqual(os.stat(self.state / "mesh.json").st_mode & 0o077, 0, "secrets: 0600")
        self.assertEqual(os.stat(self.state / "api-keys").st_mode & 0o077, 0, "secrets: 0600")
        log(f"up in {time.monotonic() - began:.1f} s")

        # Once up, up again refuses and leaves it as it is.
        again = self.mesh("up", "--vecmeshd", self.daemon, "--owner-pid", str(os.getpid()))
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("already up", again.stderr)
        self.assertEqual(self.mesh("status").returncode, 0, "the mesh still runs")
        self.assertEqual(json.loads((self.state / "mesh.json").read_text())["parts"], self.info)

        # Consul: both replicas, and each replica's Chroma server.
        ids = sorted(self.info[r]["consul_id"] for r in REPLICAS)
        self.assertEqual(self.passing("faiss"), ids)
        for entry in self.consul("/v1/health/service/faiss?passing"):
            replica = next(r for r in REPLICAS
                           if self.info[r]["consul_id"] == entry["Service"]["ID"])
            self.assertEqual(entry["Service"]["Port"], self.info[replica]["port"])
        for n in (1, 2):
            self.assertEqual(self.passing(f"chromadb-{n}"), [f"chromadb-{n}"])

        # The collection on both replicas; authentication is on.
        for replica in REPLICAS:
            self.call(replica, "PUT", C, {"dimension": DIM}, key=None, expected=401)
            self.call(replica, "PUT", C, {"dimension": DIM, "metric": "l2",
                                          "backends": ["faiss", "chroma"]},
                      key="admin", expected=201)

        # A job, published as API.md says a producer does.
        job_id = f"mesh-test-{uuid.uuid4().hex}"
        points = [{"id": i, "vector": vector(i), "payload": {"i": i, "tag": "mesh"}}
                  for i in range(POINTS)]
        self.publish(json.dumps({"job_id": job_id, "collection": "docs", "op": "upsert",
                                 "points": points}).encode(), job_id)

        def done_on():
            for replica in REPLICAS:
                r = requests.get(self.info[replica]["url"] + f"/v1/jobs/{job_id}", timeout=30,
                                 headers={"api-key": self.keys["read_write"]})
                if r.status_code == 200 and r.json()["state"] in ("done", "failed"):
                    return replica
            return None
        self.assertTrue(sp.wait_for(done_on, WAIT_S, 0.2), f"job {job_id} done within {WAIT_S} s")
        replica = done_on()
        other = next(r for r in REPLICAS if r != replica)
        n, other_n = replica[-1], other[-1]
        job = self.call(replica, "GET", f"/v1/jobs/{job_id}")
        self.assertEqual((job["state"], job["points"], job["collection"], job["error"]),
                         ("done", POINTS, "docs", None), job)
        self.call(other, "GET", f"/v1/jobs/{job_id}", expected=404)
        log(f"job {job_id} done on {replica}")

        # The points are in both stores of that replica, as written.
        self.assertTrue(sp.wait_for(lambda: self.caught_up(replica), WAIT_S, 0.2),
                        f"{replica}'s Chroma caught up: {self.call(replica, 'GET', C)}")
        ids = list(range(POINTS))
        for store in ("faiss", "chroma"):
            count = self.call(replica, "POST", C + "/points/count", {"store": store})
            self.assertEqual(count["count"], POINTS, store)
            got = self.call(replica, "POST", C + "/points/get",
                            {"ids": ids, "with_vector": True, "with_payload": True, "store": store})
            self.assertEqual(sorted(p["id"] for p in got["points"]), ids, store)
            for p in got["points"]:
                self.assertEqual(p["payload"], {"i": p["id"], "tag": "mesh"}, store)
                for a, b in zip(p["vector"], vector(p["id"])):
                    self.assertAlmostEqual(a, b, places=5, msg=store)
        self.assertEqual(self.call(other, "POST", C + "/points/count", {})["count"], 0)
        # Each replica has its own Chroma store: the points are in this replica's server only.
        self.assertTrue(sp.wait_for(lambda: self.caught_up(other), WAIT_S, 0.2))
        self.assertEqual(self.chroma_count(n), POINTS)
        self.assertEqual(self.chroma_count(other_n), 0)

        # store "all": every store answers, and each alone gives the same ids.
        query = {"vector": vector(7), "k": 5}
        answers = {store: self.call(replica, "POST", C + "/search", dict(query, store=store))
                   for store in ("faiss", "chroma", "all")}
        stores = answers["all"]["stores"]
        self.assertEqual(set(stores), {"faiss", "chroma"})
        for store, outcome in stores.items():
            self.assertEqual(outcome["status"], "ok", f"{store}: {outcome}")
        top = [p["id"] for p in answers["all"]["results"]]
        self.assertEqual(len(top), 5)
        self.assertEqual(top[0], 7)
        for store in ("faiss", "chroma"):
            self.assertEqual([p["id"] for p in answers[store]["results"]], top, store)
        log(f"store all: {top}, {stores}")

        # Prometheus scrapes both replicas.
        prometheus = self.info["prometheus"]["url"]

        def up_series():
            r = requests.get(prometheus + "/api/v1/query", params={"query": 'up{job="faiss"}'},
                             timeout=30)
            return {s["metric"]["instance"]: s["value"][1] for s in r.json()["data"]["result"]}
        targets = {f"{sp.HOST}:{self.info[r]['port']}" for r in REPLICAS}
        self.assertTrue(sp.wait_for(lambda: up_series() == {t: "1" for t in targets}, WAIT_S, 0.5),
                        f'up{{job="faiss"}}: {up_series()}, expected 1 for {targets}')
        log(f"Prometheus: up == 1 for {sorted(targets)}")
        self.assertEqual(self.consul("/__double/violations"), [])

        # The broker's own metrics: the dead-letter queue is empty, the alert quiet.
        broker = f"{sp.HOST}:{self.info['rabbitmq']['prometheus_port']}"
        self.assertIn(self.info["rabbitmq"]["prometheus_url"], up.stdout)
        self.assertTrue(sp.wait_for(lambda: self.dead_depth() is not None, WAIT_S, 0.2),
                        f"{DEAD_DEPTH}: {self.values(DEAD_DEPTH)}")
        self.assertEqual(self.values(f'up{{job="{RABBITMQ_JOB}"}}'),
                         {frozenset({"__name__": "up", "job": RABBITMQ_JOB,
                                    "instance": broker}.items()): 1.0})
        for name in RABBITMQ_METRICS:
            queues = {dict(labels)["queue"]: value
                      for labels, value in self.values(f'{name}{{job="{RABBITMQ_JOB}"}}').items()
                      if dict(labels).get("vhost") == "/sutazai"}
            self.assertEqual(set(queues), {"vector.indexing.tasks", DEAD_QUEUE}, name)
        self.assertEqual(self.dead_depth(), 0)
        self.assertEqual(self.alert_state(DEAD_ALERT), "inactive")

        # A job that can never succeed: no replica has this collection, so the replica that
        # takes it dead-letters it at once (API.md), and the depth alert goes off.
        dead_id = f"mesh-dead-{uuid.uuid4().hex}"
        dead_body = json.dumps({"job_id": dead_id, "collection": "nowhere", "op": "upsert",
                                "points": [{"id": 1, "vector": vector(1)}]}).encode()
        self.publish(dead_body, dead_id)
        self.assertTrue(sp.wait_for(lambda: self.dead_depth() == 1, WAIT_S, 0.2),
                        f"{DEAD_DEPTH} == 1 within {WAIT_S} s: {self.dead_depth()}")
        self.assertTrue(sp.wait_for(
            lambda: self.alert_state(DEAD_ALERT) in ("pending", "firing"), WAIT_S, 0.2),
            f"{DEAD_ALERT}: {self.alert_state(DEAD_ALERT)}")
        [alert] = [a for a in self.prometheus("alerts")["alerts"]
                   if a["labels"]["alertname"] == DEAD_ALERT]
        labels = alert["labels"]
        self.assertEqual((labels["queue"], labels["vhost"], float(alert["value"])),
                         (DEAD_QUEUE, "/sutazai", 1.0), alert)
        log(f"{DEAD_ALERT} {alert['state']}: {alert['annotations']['summary']}")
        # What the alert tells an operator to read: the message, with its reason.
        connection = pika.BlockingConnection(pika.URLParameters(self.info["rabbitmq"]["url"]))
        try:
            channel = connection.channel()
            method, properties, body = channel.basic_get(DEAD_QUEUE, auto_ack=False)
            self.assertIsNotNone(method, "the job is in the dead-letter queue")
            self.assertEqual(body, dead_body, "its body unchanged")
            error = (properties.headers or {}).get("x-vecmesh-error", "")
            self.assertRegex(error, r"^NOT_FOUND: ", properties.headers)
            channel.basic_ack(method.delivery_tag)
            self.assertEqual(channel.queue_declare(DEAD_QUEUE, passive=True).method.message_count,
                             0, "nothing else was dead-lettered")
        finally:
            connection.close()
        self.assertTrue(sp.wait_for(lambda: self.dead_depth() == 0, WAIT_S, 0.2),
                        f"{DEAD_DEPTH} back to 0: {self.dead_depth()}")
        log(f"dead-letter queue: {error}; taken, depth 0")

        # down stops it all, and nothing of it is left.
        keeper = mesh["keeper_pid"]
        self.assertTrue(sp.process_alive(keeper, mesh["keeper_start"]), "the keeper runs")
        ports = [(name, part[attribute]) for name, part in self.info.items()
                 for attribute in ("port", "grpc_port", "dist_port", "prometheus_port")
                 if attribute in part]
        down = self.mesh("down", timeout_s=DOWN_TIMEOUT_S)
        self.assertEqual(down.returncode, 0)
        for name in self.info:
            self.assertIn(f"stopped {name}", down.stdout)
        for name, port in ports:
            self.assertFalse(port_open(port), f"{name}'s port {port} is closed")
        for name, part in self.info.items():
            self.assertFalse(sp.server_alive(part["pgid"], part["marker"]), name)
        self.assertFalse(sp.process_alive(keeper, mesh["keeper_start"]), "the keeper is gone")
        # The watchdogs leave within their poll (0.5 s) once their server is gone.
        self.assertTrue(sp.wait_for(lambda: not mesh_processes(self.state, keeper), 10, 0.2),
                        mesh_processes(self.state, keeper))
        self.assertFalse((self.state / "mesh.json").exists())
        self.assertFalse((self.state / "api-keys").exists())
        again = self.mesh("down", timeout_s=DOWN_TIMEOUT_S)
        self.assertEqual(again.returncode, 0)
        self.assertIn("no mesh was up", again.stdout)
        self.assertEqual(self.mesh("status").returncode, 1)
        log(f"the whole test took {time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    unittest.main(verbosity=2)
