"""End to end, one write into every store (API.md "Backends: one write, every store"): a collection
in FAISS, Qdrant and Chroma, written through vecmeshd while Qdrant is killed and restarted, then
read back through each store's own REST API and searched through each store.

The test owns three servers: a ChromaServer (tests/support/chroma_server.py) and a QdrantDouble
(tests/support/qdrant_double.py, Qdrant 1.19's REST API checked against its OpenAPI document), each
on a free loopback port, and vecmeshd (vecmeshd.py) started with --chroma-url and --qdrant-url.
Collection `e2e_stores`, backends ["faiss", "qdrant", "chroma"], dimension 16, metric l2, a flat
(exact) index:

1. PUT /v1/collections/e2e_stores -> 201.
2. 20,000 points in batches of 500 (integer ids; digit strings like "6" beside the integer 6;
   unicode strings; UUID-looking strings, some in upper case; integers near 2^64; strings starting
   with "s:" or "0", which Chroma's id map prefixes or keeps), payloads of flat scalars, and among
   them: batches that overwrite earlier points (with fewer keys or an empty payload; some of them
   deleted before, so they come back), payload updates (merge and replace), a delete by ids and a
   delete by filter. Every write answer: faiss "ok", qdrant and chroma "ok" or "pending", never
   "failed"; an update and a delete answer the count the test expects.
   The Qdrant double is SIGKILLed before the 11th batch of new points and restarted on the same port
   and data after at least 5 s, writes going on meanwhile: each answer says qdrant "pending", its
   count of pending writes growing with every write. During the outage a search with "store":
   "all" answers 200 with qdrant "error" (and a message), faiss and chroma "ok"; /health/deep says
   "warning" and qdrant is not "healthy".
3. Within 120 s of the last write the collection info says every store "ok" with 0 pending. Then:
   - vecmesh (scrolled from faiss, with vectors and payloads) holds every acknowledged write in its
     last version and nothing else (deleted points absent);
   - Qdrant, read through its own REST API (scroll, paging by next_page_offset), and Chroma,
     through its REST API v2, hold exactly vecmesh's points: ids mapped as README "Remote backends"
     documents (Qdrant: an integer is itself, a string the UUID v5 of "vecmesh:id:" + it, the
     string kept in payload key "_vecmesh_id"), vectors within 1e-6, payloads equal;
   - for 20 queries, "store": "all", "qdrant" and "faiss" return the exact l2 top-10 that numpy
     computes from vecmesh's points (where an id differs, the scores tie within 1e-4; every score
     is the true distance of its id within 1e-4);
   - get and search with "store" set to each of faiss, qdrant and chroma give every kind of id back
     as written ("6" stays the string "6", apart from the integer 6; unicode and UUID-looking
     strings unchanged);
   - /health/deep is "healthy" again, and the Qdrant double recorded no violation of Qdrant's
     OpenAPI document.

What it shares with backends_test.py (id maps, reading the stores back, the checks of write
answers, outages and health) is in remote_stores.py. Run by CTest (label e2e) with VECMESH_DAEMON
set; needs tests/integration's npm packages (scripts/install-deps) for the Chroma server, and
Debian's python3-numpy.
"""
import os
import sys
import time
import unittest
import uuid

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))

from chroma_server import ChromaServer  # noqa: E402
from qdrant_double import QdrantDouble  # noqa: E402
from remote_stores import (QDRANT_ID_KEY, StoresTestCase, chroma_id, compare_records, key, log,  # noqa: E402
                           qdrant_id, read_chroma, read_qdrant, same_scalars, scroll_vecmesh, wait_caught_up)

NAME = "e2e_stores"
C = "/v1/collections/" + NAME
DIM = 16
N = 20_000
BATCH = 500
STORES = ("faiss", "qdrant", "chroma")
REMOTE = ("qdrant", "chroma")
QDRANT_KILL_AT = 10   # the Qdrant double is killed before this batch of new points
OUTAGE_S = 5          # and restarted once this long has passed (at least)
CONVERGE_S = 120
QUERIES = 20
K = 10
# One call to a store may take 2 s; an open breaker probes again after 0.5 s.
DAEMON_ARGS = ["--delivery-wait-ms", "1000", "--backend-timeout-ms", "2000",
               "--breaker-cooldown-ms", "500"]
# After these batches of new points come other writes (see plan()).
OVERWRITE_AFTER = (4, 9, 19, 27)
MERGE_AFTER = (10, 25)
REPLACE_AFTER = (13,)
DELETE_IDS_AFTER = (11,)
DELETE_FILTER_AFTER = (22,)
DELETE_FILTER = {"must": [{"key": "grp", "match": {"value": 3}}]}


# --- the data ------------------------------------------------------------------------------------

KINDS = ("int", "digits", "unicode", "uuid", "big", "chroma-prefixed")


def point_id(i):
    """The id of point i: a mix of integers and strings."""
    c = i % 6
    if c == 0:
        return i                                        # an integer
    if c == 1:
        return str(i - 1)                               # the digit string of the integer id before it
    if c == 2:
        return f"doc-ключ-{i}-✓🙂"                        # unicode
    if c == 3:
        u = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"point-{i}"))
        return u.upper() if (i // 6) % 2 else u         # looks like a UUID (Qdrant's other id form)
    if c == 4:
        return 2**64 - 1 - i                            # an integer near 2^64
    return f"s:{i}" if (i // 6) % 2 else f"0{i}"        # what Chroma's id map prefixes, or keeps


def vector(i, version):
    """Point i's vector in one version, float32-exact (vecmesh gives it back bit for bit)."""
    return np.random.default_rng([i, version, 16]).uniform(-1, 1, DIM).astype(np.float32).tolist()


def payload(i, version):
    """Flat scalars (string, int, float, bool): what all three stores hold. A later version has
    other keys (the old ones must be gone), and now and then none at all."""
    if version == 1:
        return {"i": i, "v": 1, "kind": KINDS[i % 6], "name": f"名前-{i}-é", "score": i + 0.25,
                "flag": i % 2 == 0, "neg": -3 * i, "big": 2**62 + i, "grp": i % 37}
    if i % 50 == 7:
        return {}
    return {"i": i, "v": version, "note": "rewritten ✓", "score": -(i + 0.75), "flag": i % 3 == 0}


def plan():
    """The writes, in order, and the state they leave: (operations, {i: (version, payload)} of the
    points that exist at the end). An operation is a (kind, request body, expected answer count)."""
    rng = np.random.default_rng(20261201)
    state = {}     # i -> (version, payload): the points that exist
    versions = {}  # i -> its last version, deleted or not
    ops = []

    def upsert(items):
        for i, v in items:
            versions[i] = v
            state[i] = (v, payload(i, v))
        ops.append(("upsert", {"points": [{"id": point_id(i), "vector": vector(i, v), "payload": payload(i, v)}
                                          for i, v in items]}, len(items)))

    def alive_sample(n):
        return sorted(int(i) for i in rng.choice(sorted(state), n, replace=False))

    for b in range(N // BATCH):
        upsert([(i, 1) for i in range(b * BATCH, (b + 1) * BATCH)])
        written = (b + 1) * BATCH
        if b in OVERWRITE_AFTER:  # deleted points among them come back
            ids = sorted(int(i) for i in rng.choice(written, BATCH, replace=False))
            upsert([(i, versions[i] + 1) for i in ids])
        if b in MERGE_AFTER:
            ids = alive_sample(300)
            update = {"tag": f"merged ✓ {b}", "v": 100 + b, "flag": False}
            for i in ids:
                state[i] = (state[i][0], {**state[i][1], **update})
            ops.append(("merge", {"ids": [point_id(i) for i in ids], "payload": update, "mode": "merge"}, len(ids)))
        if b in REPLACE_AFTER:
            ids = alive_sample(100)
            update = {"replaced": True, "r": 1.5}
            for i in ids:
                state[i] = (state[i][0], dict(update))
            ops.append(("replace", {"ids": [point_id(i) for i in ids], "payload": update, "mode": "replace"},
                        len(ids)))
        if b in DELETE_IDS_AFTER:
            ids = alive_sample(400)
            for i in ids:
                del state[i]
            ops.append(("delete", {"ids": [point_id(i) for i in ids]}, len(ids)))
        if b in DELETE_FILTER_AFTER:
            ids = [i for i, (v, p) in state.items() if type(p.get("grp")) is int and p["grp"] == 3]
            for i in ids:
                del state[i]
            ops.append(("delete", {"filter": DELETE_FILTER}, len(ids)))
    return ops, state


ROUTES = {"upsert": ("PUT", C + "/points", "upserted"), "merge": ("POST", C + "/points/payload", "updated"),
          "replace": ("POST", C + "/points/payload", "updated"), "delete": ("POST", C + "/points/delete", "deleted")}


# --- the test ------------------------------------------------------------------------------------

class Stores(StoresTestCase):
    def test_every_store_holds_what_vecmesh_holds(self):
        self.run_scenario()

    def write(self, n, op, down):
        """One write; checks its answer (down: as check_write_stores takes it). Returns qdrant's
        (status, pending, message)."""
        kind, body, count = op
        method, path, field = ROUTES[kind]
        answer = self.ok(method, path, body)
        self.assertEqual(answer.get(field), count, f"write {n} ({kind}): {str(answer)[:500]}")
        stores = self.check_write_stores(f"write {n} ({kind})", answer, REMOTE, down)
        return stores["qdrant"]["status"], stores["qdrant"].get("pending"), stores["qdrant"].get("message")

    # --- the scenario ------------------------------------------------------------------------

    def scenario(self):
        ops, expected = plan()
        log(f"plan: {len(ops)} writes, {len(expected)} points at the end")

        self.chroma = self.start_server(ChromaServer())
        self.qdrant = self.start_server(QdrantDouble())
        self.start_daemon(["--chroma-url", self.chroma.url, "--qdrant-url", self.qdrant.url] + DAEMON_ARGS)

        # 1. The collection, in every store.
        created = self.ok("PUT", C, {"dimension": DIM, "metric": "l2", "index": {"type": "flat"},
                                     "backends": list(STORES)}, status=201)
        self.assertEqual(created.get("backends"), list(STORES), created)

        # 2. The writes, through Qdrant's outage.
        self.write_through_outage(ops)

        # 3. Every store catches up, and holds what vecmesh holds.
        done, info = wait_caught_up(self.ok, C, STORES, CONVERGE_S)
        self.assertTrue(done, f"within {CONVERGE_S} s the collection info says every store ok, 0 pending: {info}")
        self.assertEqual(info.get("points"), len(expected), info)
        vecmesh = scroll_vecmesh(self.ok, C, store="faiss")
        self.check_vecmesh(C, vecmesh, {key(point_id(i)): (vector(i, v), p) for i, (v, p) in expected.items()})
        self.check_qdrant(vecmesh)
        self.check_chroma(vecmesh)
        self.check_exact_searches(vecmesh)
        self.check_ids_given_back(expected)
        self.check_health_recovers(REMOTE)
        violations = self.qdrant.violations()
        self.assertEqual(violations, [], "the Qdrant double recorded no violation of Qdrant's OpenAPI document")
        log("done")

    def write_through_outage(self, ops):
        new_batches = 0
        qdrant_down, killed_at, checked = False, None, False
        last_pending = 0
        statuses = {"ok": 0, "pending": 0}
        t_writes = time.monotonic()
        for n, op in enumerate(ops):
            if op[0] == "upsert" and op[1]["points"][0]["payload"].get("v") == 1:
                if new_batches == QDRANT_KILL_AT:
                    self.qdrant.kill()
                    qdrant_down, killed_at = True, time.monotonic()
                    log(f"SIGKILLed the Qdrant double before write {n}")
                new_batches += 1
            status, pending, message = self.write(n, op, {"qdrant": last_pending} if qdrant_down else None)
            statuses[status] += 1
            if qdrant_down:
                last_pending = pending
                log(f"write {n} ({op[0]}): qdrant pending, {pending} ({message})")
                if not checked and n >= 1:
                    probe = op[1]["points"][0]["vector"] if op[0] == "upsert" else vector(0, 1)
                    self.check_outage("outage", C, "qdrant", ("faiss", "chroma"), probe)
                    checked = True
                if checked and time.monotonic() - killed_at >= OUTAGE_S:
                    t = time.monotonic()
                    self.qdrant.start()
                    qdrant_down = False
                    log(f"Qdrant double restarted on port {self.qdrant.port} after {t - killed_at:.1f} s down "
                        f"(start took {time.monotonic() - t:.1f} s)")
            elif n % 10 == 0:
                log(f"write {n}/{len(ops)} ({op[0]}): qdrant {status}")
        self.assertIsNotNone(killed_at, "Qdrant was killed during the writes")
        self.assertFalse(qdrant_down, "the outage ended within the writes")
        log(f"all {len(ops)} writes acknowledged in {time.monotonic() - t_writes:.1f} s; "
            f"qdrant status in write answers: {statuses}")

    def check_qdrant(self, vecmesh):
        """Qdrant, read through its own REST API, holds exactly what vecmesh holds."""
        info, records = read_qdrant(self.qdrant.url, NAME)
        vectors = info["config"]["params"]["vectors"]
        self.assertEqual((vectors.get("size"), vectors.get("distance")), (DIM, "Euclid"), info)
        expected = {qdrant_id(p["id"]): p for p in vecmesh.values()}
        self.assertEqual(len(expected), len(vecmesh), "the id map is one to one")
        bad_keys = []

        def stored_payload(qid, held):
            held = dict(held)
            original = held.pop(QDRANT_ID_KEY, None)
            pid = expected[qid]["id"]
            if original != (pid if isinstance(pid, str) else None):
                bad_keys.append((qid, pid, original))
            return held
        problems = compare_records("Qdrant", expected, records, stored_payload, DIM)
        self.assertFalse(problems, "\n".join(problems))
        self.assertFalse(bad_keys, f"{len(bad_keys)} points of Qdrant do not keep their string id (only) under "
                                   f"{QDRANT_ID_KEY}, e.g. {bad_keys[:5]}")
        log(f"Qdrant holds exactly vecmesh's points: ids, vectors (within 1e-6), payloads "
            f"(string ids under {QDRANT_ID_KEY})")

    def check_chroma(self, vecmesh):
        """Chroma, read through its own REST API, holds exactly what vecmesh holds."""
        collection, records = read_chroma(self.chroma.url, NAME)
        self.assertEqual(collection.get("dimension"), DIM, collection)
        expected = {chroma_id(p["id"]): p for p in vecmesh.values()}
        self.assertEqual(len(expected), len(vecmesh), "the id map is one to one")
        problems = compare_records("Chroma", expected, records, lambda cid, held: held, DIM)
        self.assertFalse(problems, "\n".join(problems))
        log("Chroma holds exactly vecmesh's points: ids, vectors (within 1e-6), metadata == payload")

    def check_exact_searches(self, vecmesh):
        """store all, qdrant and faiss: the exact l2 top-k of vecmesh's points."""
        points = list(vecmesh.values())
        matrix = np.array([p["vector"] for p in points], dtype=np.float64)
        rng = np.random.default_rng(7)
        queries = rng.uniform(-1, 1, (QUERIES, DIM)).astype(np.float32)
        queries[:5] = matrix[rng.choice(len(points), 5, replace=False)]  # some on a point itself
        index = {key(p["id"]): n for n, p in enumerate(points)}
        for q in queries:
            distances = np.sqrt(((matrix - q.astype(np.float64)) ** 2).sum(axis=1))
            order = np.argsort(distances, kind="stable")[:K]
            exact = [(points[n]["id"], distances[n]) for n in order]
            for store in ("all", "qdrant", "faiss"):
                answer = self.ok("POST", C + "/search", {"vector": q.tolist(), "k": K, "store": store})
                results = answer["results"]
                where = f"store={store}, query {q.tolist()[:3]}...: {[(r['id'], r['score']) for r in results]} " \
                        f"vs exact {[(i, round(float(d), 6)) for i, d in exact]}"
                self.assertEqual(len(results), K, where)
                if store == "all":
                    for s in STORES:
                        self.assertEqual(answer.get("stores", {}).get(s, {}).get("status"), "ok", answer.get("stores"))
                for r, (eid, edist) in zip(results, exact):
                    true = distances[index[key(r["id"])]]
                    self.assertAlmostEqual(r["score"], true, delta=1e-4, msg=f"{r['id']!r}'s score: {where}")
                    if key(r["id"]) != key(eid):
                        self.assertAlmostEqual(r["score"], edist, delta=1e-4, msg=f"a tie, else wrong: {where}")
                self.assertEqual(len({key(r["id"]) for r in results}), K, f"each id once: {where}")
        log(f"{QUERIES} searches with store=all, qdrant and faiss: the exact l2 top-{K}")

    def check_ids_given_back(self, expected):
        """get and search through each store give every kind of id back as written."""
        chosen = []
        for kind in range(6):  # two points of each kind that exist at the end
            chosen += [i for i in sorted(expected) if i % 6 == kind][:2]
        pairs = [i for i in sorted(expected) if i % 6 == 0 and i > 0 and i + 1 in expected][:1]  # 6 and "6"
        chosen = sorted(set(chosen + [j for i in pairs for j in (i, i + 1)]))
        ids = [point_id(i) for i in chosen]
        for store in STORES:
            answer = self.ok("POST", C + "/points/get", {"ids": ids, "with_vector": True, "with_payload": True,
                                                         "store": store})
            got = {key(p["id"]): p for p in answer["points"]}
            self.assertEqual(sorted(map(str, got)), sorted(map(str, map(key, ids))), f"store={store}: {answer}")
            for i in chosen:
                p = got[key(point_id(i))]
                self.assertTrue(same_scalars(p.get("payload") or {}, expected[i][1]), f"store={store}: {p}")
                self.assertLess(max(abs(a - b) for a, b in zip(p["vector"], vector(i, expected[i][0]))), 1e-6,
                                f"store={store}: {p}")
            for i in chosen:
                pid, (v, p) = point_id(i), expected[i]
                answer = self.ok("POST", C + "/search", {"vector": vector(i, v), "k": 3, "store": store,
                                                         "with_payload": True})
                top = answer["results"][0]
                self.assertEqual(key(top["id"]), key(pid), f"store={store}: a point's own vector finds it first: "
                                                           f"{answer['results']}")
                self.assertLess(top["score"], 1e-3, f"store={store}: {top}")
                self.assertTrue(same_scalars(top.get("payload") or {}, p), f"store={store}: {top}")
        log(f"get and search through faiss, qdrant and chroma give ids back as written: {ids}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
