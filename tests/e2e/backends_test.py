"""End to end, one write into every store (API.md "Backends: one write, every store"): a collection
in FAISS and in a real Chroma 1.0 server, written through vecmeshd while Chroma is killed and
restarted and vecmeshd itself is killed with SIGKILL once.

The test owns both servers: a ChromaServer (tests/support/chroma_server.py) on a free loopback
port, and vecmeshd (vecmeshd.py) started with --chroma-url. Collection `e2e_docs`, backends
["faiss", "chroma"], dimension 16, metric l2:

1. PUT /v1/collections/e2e_docs -> 201.
2. 50,000 points in batches of 500 (integer ids; digit strings like "5" beside the integer 5;
   strings starting with "s:"; unicode strings; "0"-prefixed digit strings; integers near 2^64),
   payloads of flat scalars, plus batches that overwrite earlier points (with fewer keys, or an
   empty payload: a write replaces the whole payload). Meanwhile Chroma is SIGKILLed for about
   10 s and restarted on the same port and data, and vecmeshd is SIGKILLed while a write is in
   flight (during Chroma's outage, so writes are pending at the crash) and restarted on the same
   data directory; the batch whose request failed is retried (at least once, from the client).
   Every write answer: faiss "ok", chroma "ok" or "pending", never "failed"; "pending" while
   Chroma is down, its count of pending writes growing with every write.
3. During the outage (before and after vecmeshd's restart): a search with "store": "all" answers
   200 with chroma "error" (and a message) and faiss "ok"; /health/deep says "warning" and chroma
   is not "healthy"; the collection info says chroma has pending writes.
4. After Chroma is back, within 180 s the collection info says chroma "ok" with 0 pending. Then,
   read through Chroma's own REST API, Chroma holds exactly the points vecmesh holds (ids mapped
   as adapters/chroma/chroma_translation.h documents), vectors within 1e-6, metadata equal to the
   payloads; and both hold every acknowledged write, in its last version. Searches with "store":
   "chroma" and "all" answer 200 with chroma "ok".
5. An upsert whose payload Chroma cannot hold (a nested object) is a 400 naming the field, and
   writes nothing anywhere.

Run by CTest (label e2e) with VECMESH_DAEMON set; needs tests/integration's npm packages
(scripts/install-deps) for the Chroma server.
"""
import json
import os
import random
import struct
import sys
import threading
import time
import unittest

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))

from chroma_server import ChromaServer  # noqa: E402
from remote_stores import (CHROMA_API as P, StoresTestCase, chroma_id, compare_records, key, log,  # noqa: E402
                           read_chroma, same_scalars, scroll_vecmesh, wait_caught_up)

NAME = "e2e_docs"
C = "/v1/collections/" + NAME
DIM = 16
N = 50_000
BATCH = 500
OVERWRITE_AFTER = (30, 50, 70, 90)  # an overwrite batch follows these batches of new points
CHROMA_KILL_AT = 20                 # Chroma is killed before this operation
OUTAGE_S = 10                       # and restarted once this long has passed (at least)
CONVERGE_S = 180
# One call to Chroma may take 2 s; an open breaker probes again after 0.5 s.
DAEMON_ARGS = ["--delivery-wait-ms", "1000", "--backend-timeout-ms", "2000",
               "--breaker-cooldown-ms", "500"]


# --- the data ------------------------------------------------------------------------------------

KINDS = ("int", "digits", "prefixed", "unicode", "other")


def point_id(i):
    """The id of point i: a mix of integers and strings, with every case of the Chroma id map."""
    c = i % 5
    if c == 0:
        return i                      # an integer: "i" in Chroma
    if c == 1:
        return str(i - 1)             # the digit string of the integer id before it: "s:..." in Chroma
    if c == 2:
        return f"s:{i}"               # starts with "s:": "s:s:..." in Chroma
    if c == 3:
        return f"doc-ключ-{i}-✓🙂"      # unicode, kept as is
    return f"0{i}" if (i // 5) % 2 == 0 else 2**64 - 1 - i  # "0"-prefixed digits (kept); a big integer


def vector(i, version):
    """Point i's vector in one version, float32-exact (vecmesh gives it back bit for bit)."""
    rng = random.Random(i * 1_000_003 + version * 7_919 + 17)
    return list(struct.unpack(f"{DIM}f", struct.pack(f"{DIM}f", *(rng.uniform(-1, 1) for _ in range(DIM)))))


def payload(i, version):
    """Flat scalars (string, int, float, bool). A later version has other keys (the old ones must be
    gone), and now and then none at all."""
    if version == 1:
        return {"i": i, "v": 1, "kind": KINDS[i % 5], "name": f"名前-{i}-é", "score": i + 0.25,
                "flag": i % 2 == 0, "neg": -3 * i, "big": 2**62 + i}
    if i % 50 == 7:
        return {}
    return {"i": i, "v": version, "note": "rewritten ✓", "score": -(i + 0.75), "flag": i % 3 == 0}


def plan():
    """The writes, in order: batches of (i, version)."""
    rng = random.Random(20261201)
    version = {}
    batches = []
    for b in range(N // BATCH):
        batch = [(i, 1) for i in range(b * BATCH, (b + 1) * BATCH)]
        version.update(batch)
        batches.append(batch)
        if b in OVERWRITE_AFTER:
            ids = sorted(rng.sample(range((b + 1) * BATCH), BATCH))
            batch = [(i, version[i] + 1) for i in ids]
            version.update(batch)
            batches.append(batch)
    return batches, version


def body_of(batch):
    return {"points": [{"id": point_id(i), "vector": vector(i, v), "payload": payload(i, v)} for i, v in batch]}


# --- the test ------------------------------------------------------------------------------------

class DaemonDied(Exception):
    pass


class Backends(StoresTestCase):
    def setUp(self):
        super().setUp()
        self.chroma = None
        self.killer = None
        self.daemon_restarted = False

    def test_one_write_every_store_through_outages_and_a_crash(self):
        self.run_scenario()

    # --- helpers -----------------------------------------------------------------------------

    def call(self, method, path, body=None, timeout=60):
        """One request to vecmeshd: (status, JSON answer). DaemonDied when the process is gone."""
        try:
            return super().call(method, path, body, timeout)
        except requests.RequestException as e:
            if self.daemon.process.poll() is not None or self.kill_pending():
                raise DaemonDied(str(e)) from e
            raise AssertionError(f"{method} {path}: vecmeshd is running but the request failed: {e!r}") from e

    def chroma_rest(self, method, path, body=None):
        r = requests.request(method, self.chroma.url + path, json=body, timeout=60)
        self.assertEqual(r.status_code, 200, f"Chroma {method} {path}: {r.text[:2000]}")
        return r.json()

    def kill_pending(self):
        return self.killer is not None and self.killer.is_alive()

    def restart_daemon(self):
        if self.killer is not None:
            self.killer.join(30)
        self.assertFalse(self.daemon.alive(), "vecmeshd is gone")
        self.old_logs.append(list(self.daemon.log))
        t = time.monotonic()
        self.daemon.start()
        log(f"vecmeshd restarted on the same data directory in {time.monotonic() - t:.1f} s "
            f"(REST port {self.daemon.port})")

    def write(self, n, batch, down):
        """Upserts one batch, retried after vecmeshd dies (restarted on the same data); checks the
        answer's stores (down: as check_write_stores takes it). Returns chroma's status."""
        body = body_of(batch)
        while True:
            try:
                code, answer = self.call("PUT", C + "/points", body)
                break
            except DaemonDied as e:
                log(f"batch {n}: the request failed, vecmeshd is gone ({type(e.__cause__).__name__}): "
                    "restarting it and retrying the batch")
                self.restart_daemon()
                self.daemon_restarted = True
        self.assertEqual(code, 200, f"batch {n}: {str(answer)[:2000]}")
        self.assertEqual(answer.get("upserted"), len(batch), f"batch {n}: {answer}")
        stores = self.check_write_stores(f"batch {n}", answer, ("chroma",), down)
        chroma = stores["chroma"]
        return chroma["status"], chroma.get("pending"), chroma.get("message")

    def outage_checks(self, when, probe_vector, last_pending):
        """What vecmeshd says while Chroma is down (the last write answer said last_pending)."""
        self.check_outage(when, C, "chroma", ("faiss",), probe_vector)

        info = self.ok("GET", C)
        chroma = info.get("stores", {}).get("chroma", {})
        self.assertIn(chroma.get("status"), ("pending", "unavailable"), f"{when}: collection info: {info}")
        self.assertIsInstance(chroma.get("pending"), int, f"{when}: collection info: {info}")
        self.assertGreaterEqual(chroma["pending"], max(last_pending, 1),
                                f"{when}: the collection info counts at least the pending writes the last "
                                f"write answer counted ({last_pending}): {info}")
        log(f"{when}: collection info: chroma {chroma}")

    # --- the scenario ------------------------------------------------------------------------

    def scenario(self):
        batches, last_version = plan()
        log(f"plan: {len(batches)} batches, {sum(map(len, batches))} point writes, {len(last_version)} points")

        self.chroma = self.start_server(ChromaServer())
        self.start_daemon(["--chroma-url", self.chroma.url] + DAEMON_ARGS)

        # 1. The collection, in both stores.
        created = self.ok("PUT", C, {"dimension": DIM, "metric": "l2", "index": {"type": "hnsw"},
                                     "backends": ["faiss", "chroma"]}, status=201)
        self.assertEqual(created.get("backends"), ["faiss", "chroma"], created)
        log(f"created {NAME}: {json.dumps(created)[:300]}")

        # 2 and 3. The writes, through Chroma's outage and a crash of vecmeshd.
        statuses = {"ok": 0, "pending": 0}
        chroma_down = False
        killed_at = None
        checks_done = 0
        last_pending = 0  # what the last write answer said while Chroma is down
        probe = vector(0, 1)
        t_writes = time.monotonic()
        for n, batch in enumerate(batches):
            if n == CHROMA_KILL_AT:
                self.chroma.kill()
                chroma_down, killed_at = True, time.monotonic()
                log(f"SIGKILLed Chroma before batch {n}")
            if chroma_down and checks_done == 0 and n >= CHROMA_KILL_AT + 2:
                self.outage_checks("outage", probe, last_pending)
                checks_done = 1
                # SIGKILL vecmeshd while the next write is in flight (writes wait for Chroma now).
                delay = random.Random(n).uniform(0.05, 0.5)
                self.killer = threading.Timer(delay, self.daemon.kill)
                self.killer.start()
                log(f"vecmeshd will be SIGKILLed in {delay:.2f} s, during batch {n}")
            status, pending, message = self.write(n, batch, {"chroma": last_pending} if chroma_down else None)
            statuses[status] += 1
            if chroma_down:
                last_pending = pending
            if n % 10 == 0 or chroma_down:
                log(f"batch {n}/{len(batches)}: chroma {status}"
                    + (f", {pending} pending ({message})" if status == "pending" else ""))
            if chroma_down and self.daemon_restarted and checks_done == 1:
                self.outage_checks("outage, after vecmeshd's restart", probe, last_pending)
                checks_done = 2
            near_the_end = n >= len(batches) - 20
            if chroma_down and checks_done == 2 and (time.monotonic() - killed_at >= OUTAGE_S or near_the_end):
                # (Writes that go fast while Chroma is down must not use up the batches first.)
                time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - killed_at)))
                t = time.monotonic()
                self.chroma.start()
                chroma_down = False
                log(f"Chroma restarted on port {self.chroma.port} after {t - killed_at:.1f} s down "
                    f"(start took {time.monotonic() - t:.1f} s)")
        self.assertFalse(chroma_down, "the outage ended within the writes")
        self.assertTrue(self.daemon_restarted, "vecmeshd was killed and restarted during the writes")
        log(f"all {len(batches)} batches acknowledged in {time.monotonic() - t_writes:.1f} s; "
            f"chroma status in write answers: {statuses}")

        # 4. Chroma catches up.
        done, info = wait_caught_up(self.ok, C, ("chroma",), CONVERGE_S)
        self.assertTrue(done, f"within {CONVERGE_S} s the collection info says chroma ok, 0 pending: {info}")
        self.assertEqual(info.get("points"), N, info)

        vecmesh = scroll_vecmesh(self.ok, C)
        self.assertEqual(len(last_version), N)
        self.check_vecmesh(C, vecmesh, {key(point_id(i)): (vector(i, v), payload(i, v))
                                        for i, v in last_version.items()})
        uuid = self.check_chroma(vecmesh)
        self.check_searches(last_version)
        self.check_health_recovers(("chroma",))

        # 5. A payload Chroma cannot hold is refused, and nothing is written anywhere.
        self.check_refused_payload(uuid, last_version)
        log("done")

    def check_chroma(self, vecmesh):
        """Chroma, read through its own REST API, holds exactly what vecmesh holds."""
        collection, records = read_chroma(self.chroma.url, NAME)
        uuid = collection["id"]
        self.assertEqual(collection.get("dimension"), DIM, collection)
        config = collection.get("configuration_json") or {}
        spaces = [c.get("space") for c in (config.get("hnsw"), config.get("spann")) if isinstance(c, dict)]
        self.assertIn("l2", spaces, f"Chroma's collection is l2: {collection}")
        self.assertEqual(len(records), N, "Chroma's count")
        expected = {chroma_id(p["id"]): p for p in vecmesh.values()}
        self.assertEqual(len(expected), len(vecmesh), "the id map is one to one")
        problems = compare_records("Chroma", expected, records, lambda cid, metadata: metadata, DIM)
        self.assertFalse(problems, "\n".join(problems))
        log("Chroma holds exactly vecmesh's points: ids, vectors (within 1e-6), metadata == payload")
        return uuid

    def check_searches(self, last_version):
        """Searches answered by Chroma, and by both: every kind of id comes back as written."""
        for i in (5, 6, 7, 8, 9, 14, 30001):  # one of each kind of id, and two more
            pid, v = point_id(i), last_version[i]
            for store in ("chroma", "all"):
                answer = self.ok("POST", C + "/search", {"vector": vector(i, v), "k": 10, "store": store,
                                                         "with_payload": True})
                stores = answer.get("stores", {})
                self.assertEqual(stores.get("chroma", {}).get("status"), "ok", f"store={store}: {answer}")
                if store == "all":
                    self.assertEqual(stores.get("faiss", {}).get("status"), "ok", f"store=all: {answer}")
                results = answer["results"]
                self.assertTrue(results, f"store={store}: {answer}")
                top = results[0]
                self.assertEqual((type(top["id"]), top["id"]), (type(pid), pid),
                                 f"store={store}: a point's own vector finds it first: {results[:3]}")
                self.assertLess(top["score"], 1e-2, f"store={store}: l2 distance to itself: {top}")
                self.assertTrue(same_scalars(top.get("payload") or {}, payload(i, v)), f"store={store}: {top}")
        log("searches with store=chroma and store=all: 200, chroma ok, every kind of id given back as written")

    def check_refused_payload(self, uuid, last_version):
        before = self.ok("POST", C + "/points/count", {})["count"]
        chroma_before = self.chroma_rest("GET", P + f"/collections/{uuid}/count")
        bad = {"id": "nested-1", "vector": vector(10**6, 1), "payload": {"ok": 1, "tags": {"a": 1}}}
        good = {"id": "good-beside-nested", "vector": vector(10**6 + 1, 1), "payload": {"ok": 2}}
        old = {"id": point_id(3), "vector": vector(10**6 + 2, 1), "payload": {"ok": 3}}  # an existing point
        for points, field in (([bad], "points[0].payload.tags"), ([good, old, bad], "points[2].payload.tags")):
            code, answer = self.call("PUT", C + "/points", {"points": points})
            self.assertEqual(code, 400, answer)
            self.assertEqual(answer.get("error", {}).get("code"), "INVALID_ARGUMENT", answer)
            self.assertIn(field, answer["error"].get("message", ""), answer)
            log(f"nested payload refused: 400 {answer['error']['message']!r}")
        time.sleep(1.5)  # anything that had been accepted would be on its way to Chroma by now
        self.assertEqual(self.ok("POST", C + "/points/count", {})["count"], before, "vecmesh count unchanged")
        got = self.ok("POST", C + "/points/get", {"ids": ["nested-1", "good-beside-nested", point_id(3)],
                                                  "with_vector": True, "with_payload": True})["points"]
        self.assertEqual([(p["id"], p["vector"], p["payload"]) for p in got],
                         [(point_id(3), vector(3, last_version[3]), payload(3, last_version[3]))],
                         "vecmesh: nothing of a refused batch")
        self.assertEqual(self.chroma_rest("GET", P + f"/collections/{uuid}/count"), chroma_before,
                         "Chroma count unchanged")
        held = self.chroma_rest("POST", P + f"/collections/{uuid}/get",
                                {"ids": ["nested-1", "good-beside-nested", chroma_id(point_id(3))],
                                 "include": ["embeddings", "metadatas"]})
        self.assertEqual(held["ids"], [chroma_id(point_id(3))], f"Chroma: nothing of a refused batch: {held}")
        self.assertTrue(same_scalars(held["metadatas"][0] or {}, payload(3, last_version[3])), held)
        chroma = self.ok("GET", C).get("stores", {}).get("chroma", {})
        self.assertEqual((chroma.get("status"), chroma.get("pending")), ("ok", 0), chroma)
        log("the refused batches wrote nothing in vecmesh or Chroma")


if __name__ == "__main__":
    unittest.main(verbosity=2)
