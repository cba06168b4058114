"""The durability crash test, over the API: writer threads upsert and delete through REST,
recording every acknowledgement, while vecmeshd is killed with SIGKILL at random moments, 20
times. After every restart, each acknowledged write is there with its exact vector and payload,
each acknowledged delete is absent, no id appears that was never written, and search finds the
points. A write in flight when the process died may or may not have happened, but nothing else.
Background checkpoints run every second meanwhile, exporting the collection while it is written:
the writers run up to 2.5 s before a kill, so that most kills come after a checkpoint whose image
holds writes of its own segment (recovery skips those records), and some in the middle of one.
"""
import json
import random
import struct
import threading
import time
import unittest

import requests

from vecmeshd import Daemon

WRITERS = 3
IDS_PER_WRITER = 200
CYCLES = 20
DIM = 8
ABSENT = ("absent",)


def vector_for(id_, version):
    """The vector of one version of a point, float32-exact (it must come back bit for bit)."""
    rng = random.Random(id_ * 1_000_003 + version)
    return [struct.unpack("f", struct.pack("f", rng.uniform(-1, 1)))[0] for _ in range(DIM)]


class Writer(threading.Thread):
    """Writes its own ids one request at a time; `state` holds what the server acknowledged
    for each id, and `pending` the one request in flight, if any."""

    def __init__(self, url, index, state, pending, seed):
        super().__init__(daemon=True)
        self.acknowledged = 0
        self.url, self.index = url, index
        self.state, self.pending = state, pending
        self.rng = random.Random(seed)
        self.session = requests.Session()
        self.stop = False

    def run(self):
        base = self.index * IDS_PER_WRITER
        while not self.stop:
            ids = self.rng.sample(range(base, base + IDS_PER_WRITER), self.rng.randint(1, 5))
            if self.rng.random() < 0.7:
                version = self.rng.randint(1, 1 << 30)
                body = {"points": [{"id": i, "vector": vector_for(i, version),
                                    "payload": {"v": version, "w": self.index}} for i in ids]}
                outcome = {i: ("upsert", version) for i in ids}
                request = ("PUT", "/v1/collections/c/points", body)
            else:
                outcome = {i: ABSENT for i in ids}
                request = ("POST", "/v1/collections/c/points/delete", {"ids": ids})
            self.pending.clear()
            self.pending.update(outcome)
            try:
                r = self.session.request(request[0], self.url + request[1], data=json.dumps(request[2]), timeout=30)
            except requests.RequestException:
                return  # the server died: this request's fate is unknown
            if r.status_code != 200:
                return
            self.state.update(outcome)
            self.pending.clear()
            self.acknowledged += 1


class CrashTest(unittest.TestCase):
    def test_sigkill_at_random_moments_loses_no_acknowledged_write(self):
        rng = random.Random(20261122)
        daemon = Daemon(args=["--checkpoint-interval-s", "1"])
        state = {}  # id -> ("upsert", version) | ABSENT, as acknowledged
        self.acknowledged = 0
        try:
            for cycle in range(CYCLES):
                daemon.start()
                session = requests.Session()
                if cycle == 0:
                    self.assertEqual(session.put(daemon.url + "/v1/collections/c",
                                                 data=json.dumps({"dimension": DIM, "index": {"type": "hnsw"}}), timeout=30).status_code, 201)
                self.check(session, daemon.url, state, cycle)
                pendings = [{} for _ in range(WRITERS)]
                writers = [Writer(daemon.url, w, state, pendings[w], rng.random()) for w in range(WRITERS)]
                for w in writers:
                    w.start()
                time.sleep(rng.uniform(0.05, 2.5))
                daemon.kill()
                for w in writers:
                    w.stop = True
                    w.join(30)
                    self.acknowledged += w.acknowledged
                # An unacknowledged write may have landed: take the server's word for those ids
                # at the next check, but only between the two possible outcomes.
                self.in_flight = {}
                for pending in pendings:
                    self.in_flight.update(pending)
                state_before = dict(state)
                daemon.start()
                session = requests.Session()
                resolved = self.check(session, daemon.url, state_before, cycle, self.in_flight)
                state.clear()
                state.update(resolved)
                daemon.kill()
        finally:
            daemon.cleanup()
        self.assertGreater(self.acknowledged, 20 * CYCLES, "the writers wrote between the kills")
        self.assertGreater(sum(1 for v in state.values() if v != ABSENT), 100)

    def check(self, session, url, state, cycle, in_flight=None):
        """Compares the server with `state` (ids in `in_flight` may also hold that outcome);
        returns the state the server has."""
        in_flight = in_flight or {}
        universe = list(range(WRITERS * IDS_PER_WRITER))
        got = session.post(url + "/v1/collections/c/points/get",
                           data=json.dumps({"ids": universe, "with_vector": True}), timeout=30).json()["points"]
        present = {p["id"]: p for p in got}
        resolved = {}
        for i in universe:
            allowed = {state.get(i, ABSENT)}
            if i in in_flight:
                allowed.add(in_flight[i])
            if i in present:
                p = present[i]
                actual = ("upsert", p["payload"]["v"])
                self.assertEqual(p["vector"], vector_for(i, p["payload"]["v"]), f"cycle {cycle}: id {i} has its exact vector")
            else:
                actual = ABSENT
            self.assertIn(actual, allowed, f"cycle {cycle}: id {i}")
            resolved[i] = actual
        count = session.post(url + "/v1/collections/c/points/count", data="{}", timeout=30).json()["count"]
        self.assertEqual(count, len(present), f"cycle {cycle}: no id that was never written, no duplicates")
        for i in list(present)[:20]:
            hits = session.post(url + "/v1/collections/c/search",
                                data=json.dumps({"vector": present[i]["vector"], "k": 1, "params": {"exact": True}}), timeout=30).json()["results"]
            self.assertEqual(hits[0]["id"], i, f"cycle {cycle}: search finds {i}")
        return resolved


if __name__ == "__main__":
    unittest.main(verbosity=2)
