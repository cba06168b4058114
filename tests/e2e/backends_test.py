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
import re
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
from vecmeshd import Daemon, wait_for  # noqa: E402

NAME = "e2e_docs"
C = "/v1/collections/" + NAME
DIM = 16
N = 50_000
BATCH = 500
OVERWRITE_AFTER = (30, 50, 70, 90)  # an overwrite batch follows these batches of new points
CHROMA_KILL_AT = 20                 # Chroma is killed before this operation
OUTAGE_S = 10                       # and restarted once this long has passed (at least)
CONVERGE_S = 180
CHROMA_PAGE = 5000
P = "/api/v2/tenants/default_tenant/databases/default_database"
# One call to Chroma may take 2 s; an open breaker probes again after 0.5 s.
DAEMON_ARGS = ["--delivery-wait-ms", "1000", "--backend-timeout-ms", "2000",
               "--breaker-cooldown-ms", "500"]
START = time.monotonic()


def log(message):
    print(f"[{time.monotonic() - START:7.1f}s] {message}", flush=True)


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


DECIMAL = re.compile(r"0|[1-9][0-9]*")


def chroma_id(pid):
    """Chroma's id of a vecmesh id (adapters/chroma/chroma_translation.h): an integer is its decimal
    form; a string is kept unless it is an integer id's decimal form or starts with "s:", which then
    get the prefix "s:"."""
    if isinstance(pid, int):
        return str(pid)
    if pid.startswith("s:") or (DECIMAL.fullmatch(pid) and int(pid) < 2**64):
        return "s:" + pid
    return pid


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


def same_scalars(a, b):
    """Equal payloads, types included (True is not 1, 2 is not 2.0)."""
    if not isinstance(a, dict) or not isinstance(b, dict) or a.keys() != b.keys():
        return False
    return all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


# --- the test ------------------------------------------------------------------------------------

class DaemonDied(Exception):
    pass


class Backends(unittest.TestCase):
    def setUp(self):
        self.chroma = None
        self.daemon = None
        self.old_logs = []
        self.killer = None
        self.daemon_restarted = False
        self.session = requests.Session()

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.cleanup()
        if self.chroma is not None:
            self.chroma.close()

    def test_one_write_every_store_through_outages_and_a_crash(self):
        try:
            self.scenario()
        except BaseException:
            self.dump_logs()
            raise

    # --- helpers -----------------------------------------------------------------------------

    def call(self, method, path, body=None, timeout=60):
        """One request to vecmeshd: (status, JSON answer). DaemonDied when the process is gone."""
        try:
            r = self.session.request(method, self.daemon.url + path,
                                     data=None if body is None else json.dumps(body), timeout=timeout)
        except requests.RequestException as e:
            if self.daemon.process.poll() is not None or self.kill_pending():
                raise DaemonDied(str(e)) from e
            raise AssertionError(f"{method} {path}: vecmeshd is running but the request failed: {e!r}") from e
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text

    def ok(self, method, path, body=None, status=200):
        code, answer = self.call(method, path, body)
        self.assertEqual(code, status, f"{method} {path}: {str(answer)[:2000]}")
        return answer

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

    def dump_logs(self):
        for n, lines in enumerate(self.old_logs + [self.daemon.log if self.daemon else []]):
            notable = [l for l in lines if '"level":"warn' in l or '"level":"err' in l
                       or ("chroma" in l.lower() and '"msg":"access"' not in l)]
            print(f"--- vecmeshd run {n + 1}: {len(lines)} log lines; warnings, errors and chroma lines "
                  f"(last 60):", file=sys.stderr)
            print("\n".join(notable[-60:]), file=sys.stderr)
            print(f"--- vecmeshd run {n + 1}: last 30 lines:", file=sys.stderr)
            print("\n".join(lines[-30:]), file=sys.stderr)
        if self.chroma is not None:
            try:
                text = re.sub(r"\x1b\[[0-9;]*m", "", self.chroma.log_path.read_text(errors="replace"))
                lines = [l for l in text.splitlines() if re.search(r"[A-Za-z]{3}", l)]  # not the banner's art
                print("--- Chroma log (last 40 lines):\n" + "\n".join(lines[-40:]), file=sys.stderr)
            except OSError:
                pass

    def write(self, n, batch, chroma_down):
        """Upserts one batch, retried after vecmeshd dies (restarted on the same data); checks the
        answer's stores. Returns chroma's status."""
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
        stores = answer.get("stores")
        self.assertIsInstance(stores, dict, f"batch {n}: a write answer carries stores: {answer}")
        self.assertEqual(stores.get("faiss", {}).get("status"), "ok", f"batch {n}: {stores}")
        chroma = stores.get("chroma", {})
        self.assertIn(chroma.get("status"), ("ok", "pending"), f"batch {n}: chroma is never 'failed': {stores}")
        if chroma_down:
            self.assertEqual(chroma["status"], "pending", f"batch {n}, Chroma down: {stores}")
        if chroma["status"] == "pending":
            self.assertIsInstance(chroma.get("pending"), int, f"batch {n}: {stores}")
            self.assertGreaterEqual(chroma["pending"], 1, f"batch {n}: {stores}")
        return chroma["status"], chroma.get("pending"), chroma.get("message")

    def outage_checks(self, when, probe_vector, last_pending):
        """What vecmeshd says while Chroma is down (the last write answer said last_pending)."""
        answer = self.ok("POST", C + "/search", {"vector": probe_vector, "k": 5, "store": "all"})
        stores = answer.get("stores", {})
        self.assertEqual(stores.get("faiss", {}).get("status"), "ok", f"{when}: search all: {answer}")
        self.assertEqual(stores.get("chroma", {}).get("status"), "error", f"{when}: search all: {answer}")
        message = stores["chroma"].get("message")
        self.assertTrue(isinstance(message, str) and message, f"{when}: chroma's error has a message: {stores}")
        self.assertGreater(len(answer.get("results", [])), 0, f"{when}: faiss answered: {answer}")
        log(f"{when}: search store=all: 200, faiss ok, chroma error ({message!r})")

        deep = {}

        def warning():
            nonlocal deep
            code, deep = self.call("GET", "/health/deep")
            return (isinstance(deep, dict) and deep.get("status") == "warning"
                    and deep.get("dependencies", {}).get("chroma", {}).get("status") not in (None, "healthy"))
        self.assertTrue(wait_for(warning, timeout_s=20, interval_s=0.25),
                        f"{when}: /health/deep says warning, chroma not healthy, within 20 s: {deep}")
        log(f"{when}: /health/deep: warning, chroma {deep['dependencies']['chroma']}")

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

        self.chroma = ChromaServer().start()
        log(f"Chroma at {self.chroma.url}, data in {self.chroma.data_dir}")
        self.daemon = Daemon(args=["--chroma-url", self.chroma.url] + DAEMON_ARGS)
        self.daemon.start()
        log(f"vecmeshd at {self.daemon.url}, data in {self.daemon.data_dir}")

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
            status, pending, message = self.write(n, batch, chroma_down)
            statuses[status] += 1
            if chroma_down:
                # Nothing reaches Chroma now: every acknowledged write is one more pending there.
                self.assertGreater(pending, last_pending,
                                   f"batch {n}: while Chroma is down each acknowledged write adds to chroma's "
                                   f"pending writes: the answer says {pending}, the one before said {last_pending}")
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
        info = {}

        def caught_up():
            nonlocal info
            info = self.ok("GET", C)
            chroma = info.get("stores", {}).get("chroma", {})
            self.assertNotEqual(chroma.get("status"), "failed", info)
            now = time.monotonic()
            if now - caught_up.last >= 10:
                caught_up.last = now
                log(f"waiting for Chroma to catch up: {chroma}")
            return chroma.get("status") == "ok" and chroma.get("pending") == 0
        caught_up.last = time.monotonic()
        t = time.monotonic()
        self.assertTrue(wait_for(caught_up, timeout_s=CONVERGE_S, interval_s=0.5),
                        f"within {CONVERGE_S} s the collection info says chroma ok, 0 pending: {info}")
        log(f"Chroma caught up {time.monotonic() - t:.1f} s after the last write: {info['stores']}")
        self.assertEqual(info.get("points"), N, info)

        vecmesh = self.scroll_vecmesh()
        self.check_vecmesh(vecmesh, last_version)
        uuid = self.check_chroma(vecmesh)
        self.check_searches(last_version)
        self.check_health_recovers()

        # 5. A payload Chroma cannot hold is refused, and nothing is written anywhere.
        self.check_refused_payload(uuid, last_version)
        log("done")

    def scroll_vecmesh(self):
        points, cursor, pages = {}, None, 0
        while True:
            page = self.ok("POST", C + "/points/scroll", {"limit": 5000, "cursor": cursor,
                                                          "with_vector": True, "with_payload": True})
            pages += 1
            for p in page["points"]:
                key = (type(p["id"]).__name__, p["id"])
                self.assertNotIn(key, points, f"scroll gives every point once: {p['id']!r}")
                points[key] = p
            cursor = page.get("next_cursor")
            if cursor is None:
                break
            self.assertLess(pages, 1000, "scroll ends")
        log(f"vecmesh: {len(points)} points in {pages} scroll pages")
        return points

    def check_vecmesh(self, vecmesh, last_version):
        """Every acknowledged write is in vecmesh, in its last version, and nothing else."""
        count = self.ok("POST", C + "/points/count", {})["count"]
        self.assertEqual(count, N)
        self.assertEqual(len(vecmesh), N, "vecmesh holds exactly the points written")
        for i, v in last_version.items():
            pid = point_id(i)
            p = vecmesh.get((type(pid).__name__, pid))
            self.assertIsNotNone(p, f"acknowledged point {pid!r} is in vecmesh")
            self.assertEqual(p["vector"], vector(i, v), f"point {pid!r}: vecmesh has its last vector (version {v})")
            self.assertTrue(same_scalars(p.get("payload") or {}, payload(i, v)),
                            f"point {pid!r}: vecmesh payload {p.get('payload')} != {payload(i, v)} (version {v})")
        log("vecmesh holds every acknowledged write, in its last version, and nothing else")

    def check_chroma(self, vecmesh):
        """Chroma, read through its own REST API, holds exactly what vecmesh holds."""
        collection = self.chroma_rest("GET", P + "/collections/" + NAME)
        uuid = collection["id"]
        self.assertEqual(collection.get("dimension"), DIM, collection)
        config = collection.get("configuration_json") or {}
        spaces = [c.get("space") for c in (config.get("hnsw"), config.get("spann")) if isinstance(c, dict)]
        self.assertIn("l2", spaces, f"Chroma's collection is l2: {collection}")
        count = self.chroma_rest("GET", P + f"/collections/{uuid}/count")
        self.assertEqual(count, N, "Chroma's count")
        records, offset = {}, 0
        while True:
            page = self.chroma_rest("POST", P + f"/collections/{uuid}/get",
                                    {"include": ["embeddings", "metadatas"], "limit": CHROMA_PAGE, "offset": offset})
            for cid, embedding, metadata in zip(page["ids"], page["embeddings"], page["metadatas"]):
                self.assertNotIn(cid, records, f"Chroma gives {cid!r} once")
                records[cid] = (embedding, metadata)
            if len(page["ids"]) < CHROMA_PAGE:
                break
            offset += CHROMA_PAGE
        log(f"Chroma: {len(records)} records in {offset // CHROMA_PAGE + 1} pages (collection {uuid})")
        expected = {chroma_id(p["id"]): p for p in vecmesh.values()}
        self.assertEqual(len(expected), len(vecmesh), "the id map is one to one")
        missing = sorted(set(expected) - set(records))
        extra = sorted(set(records) - set(expected))
        self.assertFalse(missing or extra, f"Chroma holds exactly vecmesh's ids: {len(missing)} missing "
                         f"(e.g. {missing[:10]}), {len(extra)} extra (e.g. {extra[:10]})")
        bad_vectors, bad_metadata = [], []
        for cid, p in expected.items():
            embedding, metadata = records[cid]
            if len(embedding) != DIM or max(abs(a - b) for a, b in zip(embedding, p["vector"])) > 1e-6:
                bad_vectors.append((cid, embedding, p["vector"]))
            if not same_scalars(metadata or {}, p.get("payload") or {}):
                bad_metadata.append((cid, metadata, p.get("payload")))
        self.assertFalse(bad_vectors, f"{len(bad_vectors)} vectors differ in Chroma, e.g. {bad_vectors[:3]}")
        self.assertFalse(bad_metadata, f"{len(bad_metadata)} metadata differ from the payloads, e.g. {bad_metadata[:5]}")
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

    def check_health_recovers(self):
        deep = {}

        def healthy():
            nonlocal deep
            deep = self.ok("GET", "/health/deep")
            return deep.get("status") == "healthy" and deep["dependencies"].get("chroma", {}).get("status") == "healthy"
        self.assertTrue(wait_for(healthy, timeout_s=30, interval_s=0.5),
                        f"/health/deep healthy again within 30 s of the catch-up: {deep}")
        log(f"/health/deep: healthy, chroma {deep['dependencies']['chroma']}")

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
