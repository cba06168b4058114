"""End to end, a backend found in Consul (--chroma-url consul://chromadb): vecmeshd as a process,
real Chroma 1.0 servers registered in the project's Consul agent double (which runs their HTTP
checks), and searches answered by Chroma throughout.

The instances of one consul:// service are replicas of one store: here copies of one Chroma
server's data directory, made after a vecmeshd pointed at it wrote the collection. Then:
1. two replicas registered: vecmeshd spreads searches over both;
2. one is SIGKILLed, its check turns critical and it is deregistered: the searches go on, with no
   failed request beyond the one in flight (none, in practice: a search that gets no answer goes
   to the other);
3. a third registered later takes searches too.
Every answer is the same as the first (the replicas hold the same points).

Run by CTest (label e2e) with VECMESH_DAEMON set; needs tests/integration's npm packages.
"""
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))

from chroma_server import ChromaServer  # noqa: E402
from consul_double import ConsulDouble  # noqa: E402
from vecmeshd import Daemon, wait_for  # noqa: E402

C = "/v1/collections/docs"
DIM = 8
POINTS = 300


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def vector(i):
    """Point i's vector: no two alike, and no two at the same distance from a query."""
    return [math.sin(i * 1.3 + j * 0.7) for j in range(DIM)]


class Searcher(threading.Thread):
    """Searches with store=chroma in a loop; keeps every answer's top ids and every failure."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.answers = []
        self.failures = []

    def run(self):
        i = 0
        while not self.stopping.is_set():
            i += 1
            try:
                r = requests.post(self.url + C + "/search",
                                  json={"vector": vector(i % 10), "k": 5, "store": "chroma"},
                                  timeout=30)
                body = r.json()
                chroma = body.get("stores", {}).get("chroma", {})
                if r.status_code != 200 or chroma.get("status") != "ok":
                    self.failures.append((r.status_code, body))
                else:
                    self.answers.append((i % 10, [p["id"] for p in body["results"]]))
            except (requests.RequestException, ValueError) as e:
                self.failures.append((0, repr(e)))
            self.stopping.wait(0.01)  # a client's pace, not a flood


class Discovery(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="vecmesh-discovery-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.consul = ConsulDouble(deregister_min_s=1, reap_interval_s=0.2,
                                   min_check_interval_s=0.2)
        self.consul.start()
        self.addCleanup(self.consul.close)
        self.addCleanup(lambda: self.assertEqual(self.consul.violations(), []))

    def chroma(self, n):
        server = ChromaServer(data_dir=os.path.join(self.work, f"chroma-{n}"))
        self.addCleanup(server.close)
        return server

    def register(self, n, server):
        status, _, body = self.consul.request("PUT", "/v1/agent/service/register", {
            "ID": f"chromadb-{n}", "Name": "chromadb", "Address": "127.0.0.1",
            "Port": server.port,
            "Check": {"HTTP": server.url + "/api/v2/heartbeat", "Interval": "500ms",
                      "Timeout": "3s", "DeregisterCriticalServiceAfter": "1m"}})
        self.assertEqual(status, 200, body)

    def passing(self):
        status, _, body = self.consul.request("GET", "/v1/health/service/chromadb?passing")
        self.assertEqual(status, 200, body)
        return sorted(entry["Service"]["ID"] for entry in body)

    def instance_requests(self, d):
        """Requests per instance (its port), from vecmeshd's /metrics."""
        out = {}
        for line in requests.get(d.url + "/metrics", timeout=10).text.splitlines():
            if line.startswith('vecmesh_backend_instance_requests_total{backend="chroma"'):
                port = int(line.split('instance="http://127.0.0.1:')[1].split('"')[0])
                out[port] = int(float(line.rsplit(" ", 1)[1]))
        return out

    def test_searches_spread_over_the_replicas_survive_one_and_take_a_new_one(self):
        # The collection, written through a vecmeshd pointed at one Chroma server.
        first = self.chroma(1)
        first.start()
        vecmesh_dir = os.path.join(self.work, "vecmesh")
        writer = Daemon(data_dir=vecmesh_dir, args=["--chroma-url", first.url,
                                                    "--access-log", "false"])
        self.addCleanup(writer.cleanup)
        writer.start()
        r = requests.put(writer.url + C, json={"dimension": DIM, "backends": ["faiss", "chroma"]},
                         timeout=30)
        self.assertEqual(r.status_code, 201, r.text)
        r = requests.put(writer.url + C + "/points", json={"points": [
            {"id": i, "vector": vector(i), "payload": {"i": i}} for i in range(POINTS)]},
            timeout=60)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(wait_for(lambda: requests.get(writer.url + C, timeout=10).json()
                                 ["stores"]["chroma"] == {"pending": 0, "status": "ok"},
                                 timeout_s=60))
        self.assertEqual(writer.stop(), 0)
        # Replicas: copies of its data.
        first.stop()
        for n in (2, 3):
            shutil.copytree(first.data_dir, os.path.join(self.work, f"chroma-{n}"))
        first.start()
        second = self.chroma(2)
        second.start()
        self.register(1, first)
        self.register(2, second)
        self.assertTrue(wait_for(lambda: self.passing() == ["chromadb-1", "chromadb-2"],
                                 timeout_s=20))

        d = Daemon(data_dir=vecmesh_dir, args=[
            "--chroma-url", "consul://chromadb", "--consul-addr", self.consul.address,
            "--consul-check-interval-ms", "500", "--access-log", "false"])
        self.addCleanup(d.cleanup)
        d.start()
        searcher = Searcher(d.url)
        searcher.start()
        self.addCleanup(searcher.stopping.set)
        self.assertTrue(wait_for(lambda: all(self.instance_requests(d).get(s.port, 0) > 5
                                             for s in (first, second)), timeout_s=30),
                        f"both replicas answer: {self.instance_requests(d)}")
        self.assertIn('vecmesh_consul_discovered_instances{backend="chroma",service="chromadb"} 2',
                      requests.get(d.url + "/metrics", timeout=10).text)
        log(f"searches spread: {self.instance_requests(d)}, failures {len(searcher.failures)}")

        # One replica dies; the agent's check finds it, and it is deregistered.
        second.kill()
        killed_at = len(searcher.answers)
        self.assertTrue(wait_for(lambda: self.passing() == ["chromadb-1"], timeout_s=20))
        status, _, _ = self.consul.request("PUT", "/v1/agent/service/deregister/chromadb-2")
        self.assertEqual(status, 200)
        self.assertTrue(wait_for(lambda: 'vecmesh_consul_discovered_instances{backend="chroma",'
                                 'service="chromadb"} 1' in requests.get(
                                     d.url + "/metrics", timeout=10).text, timeout_s=20))
        self.assertTrue(wait_for(lambda: len(searcher.answers) > killed_at + 20, timeout_s=30))
        log(f"one replica killed: answers go on, failures {len(searcher.failures)}")

        # A third replica, registered later, takes searches too.
        third = self.chroma(3)
        third.start()
        self.register(3, third)
        self.assertTrue(wait_for(lambda: self.instance_requests(d).get(third.port, 0) > 5,
                                 timeout_s=30), f"the new replica answers: {self.instance_requests(d)}")
        searcher.stopping.set()
        searcher.join(60)
        log(f"a third replica answers: {self.instance_requests(d)}; "
            f"{len(searcher.answers)} answers, {len(searcher.failures)} failures")

        self.assertLessEqual(len(searcher.failures), 1,
                             f"no failure beyond the search in flight: {searcher.failures[:3]}")
        first_answer = {}
        for query, ids in searcher.answers:
            self.assertEqual(ids, first_answer.setdefault(query, ids),
                             "every replica answers the same")
        self.assertEqual(len(first_answer), 10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
