"""What the end-to-end tests of the remote backends (backends_test.py, stores_test.py) share: the
id maps of the adapters (README "Remote backends"), reading a collection back through vecmesh and
through each store's own REST API, waiting until vecmesh says a store caught up, and StoresTestCase,
a test that owns vecmeshd and the stores' servers and checks what vecmeshd answers about them.

`ok` below is a test's call to vecmeshd: ok(method, path, body) -> the JSON answer of a 200.
"""
import json
import re
import sys
import time
import unittest
import uuid

import requests

from vecmeshd import Daemon, wait_for

START = time.monotonic()
CHROMA_API = "/api/v2/tenants/default_tenant/databases/default_database"
DECIMAL = re.compile(r"0|[1-9][0-9]*")


def log(message):
    print(f"[{time.monotonic() - START:7.1f}s] {message}", flush=True)


def same_scalars(a, b):
    """Equal payloads of flat scalars, types included (True is not 1, 2 is not 2.0)."""
    if not isinstance(a, dict) or not isinstance(b, dict) or a.keys() != b.keys():
        return False
    return all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


def key(pid):
    """A vecmesh id as a dict key that keeps 7 and "7" apart."""
    return (type(pid).__name__, pid)


# --- the id maps ---------------------------------------------------------------------------------

def chroma_id(pid):
    """Chroma's id of a vecmesh id (adapters/chroma/chroma_translation.h): an integer is its decimal
    form; a string is kept unless it is an integer id's decimal form or starts with "s:", which then
    get the prefix "s:"."""
    if isinstance(pid, int):
        return str(pid)
    if pid.startswith("s:") or (DECIMAL.fullmatch(pid) and int(pid) < 2**64):
        return "s:" + pid
    return pid


QDRANT_ID_KEY = "_vecmesh_id"


def qdrant_id(pid):
    """Qdrant's id of a vecmesh id (adapters/qdrant/): an integer is itself; a string is the UUID v5
    of "vecmesh:id:" + the string in the URL namespace (and the string is in the payload, under
    QDRANT_ID_KEY)."""
    if isinstance(pid, int):
        return pid
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "vecmesh:id:" + pid))


# --- reading a collection back -------------------------------------------------------------------

def scroll_vecmesh(ok, collection_path, store=None, page=5000):
    """Every point of a collection through vecmesh's scroll, with vectors and payloads:
    {key(id): point}. Each point exactly once."""
    points, cursor, pages = {}, None, 0
    while True:
        body = {"limit": page, "cursor": cursor, "with_vector": True, "with_payload": True}
        if store is not None:
            body["store"] = store
        answer = ok("POST", collection_path + "/points/scroll", body)
        pages += 1
        for p in answer["points"]:
            k = key(p["id"])
            assert k not in points, f"scroll gives every point once: {p['id']!r}"
            points[k] = p
        cursor = answer.get("next_cursor")
        if cursor is None:
            break
        assert pages < 10_000, "scroll ends"
    log(f"vecmesh{'' if store is None else ' (' + store + ')'}: {len(points)} points in {pages} scroll pages")
    return points


def rest(method, url, expected=200, body=None):
    """One JSON request to a store's own REST API; its JSON answer."""
    r = requests.request(method, url, json=body, timeout=60)
    assert r.status_code == expected, f"{method} {url}: {r.status_code} {r.text[:2000]}"
    return r.json()


def read_chroma(chroma_url, name, page=5000):
    """A collection read through Chroma's own REST API v2: (the collection, {Chroma id: (embedding,
    metadata)})."""
    collection = rest("GET", chroma_url + CHROMA_API + "/collections/" + name)
    path = chroma_url + CHROMA_API + f"/collections/{collection['id']}"
    records, offset = {}, 0
    while True:
        answer = rest("POST", path + "/get", body={"include": ["embeddings", "metadatas"],
                                                    "limit": page, "offset": offset})
        for cid, embedding, metadata in zip(answer["ids"], answer["embeddings"], answer["metadatas"]):
            assert cid not in records, f"Chroma gives {cid!r} once"
            records[cid] = (embedding, metadata or {})
        if len(answer["ids"]) < page:
            break
        offset += page
    count = rest("GET", path + "/count")
    assert count == len(records), f"Chroma's count {count} == the records it gave, {len(records)}"
    log(f"Chroma: {len(records)} records in {offset // page + 1} pages (collection {collection['id']})")
    return collection, records


def read_qdrant(qdrant_url, name, page=2000):
    """A collection read through Qdrant's own REST API (scroll, paging with next_page_offset):
    (the collection info, {Qdrant id: (vector, payload)})."""
    info = rest("GET", f"{qdrant_url}/collections/{name}")["result"]
    records, offset, pages = {}, None, 0
    while True:
        body = {"limit": page, "with_payload": True, "with_vector": True}
        if offset is not None:
            body["offset"] = offset
        answer = rest("POST", f"{qdrant_url}/collections/{name}/points/scroll", body=body)["result"]
        pages += 1
        for p in answer["points"]:
            assert p["id"] not in records, f"Qdrant gives {p['id']!r} once"
            records[p["id"]] = (p.get("vector"), p.get("payload") or {})
        offset = answer.get("next_page_offset")
        if offset is None:
            break
        assert pages < 10_000, "Qdrant's scroll ends"
    count = rest("POST", f"{qdrant_url}/collections/{name}/points/count", body={"exact": True})["result"]["count"]
    assert count == len(records), f"Qdrant's count {count} == the points it gave, {len(records)}"
    log(f"Qdrant: {len(records)} points in {pages} scroll pages")
    return info, records


def compare_records(store, expected, records, stored_payload, dimension):
    """Whether a store holds exactly `expected` ({store id: vecmesh point}): the same ids, vectors
    within 1e-6, payloads equal (stored_payload(store id, what the store holds) -> the payload as
    vecmesh should give it back). A list of problems, empty when it does."""
    problems = []
    missing = sorted(map(str, set(expected) - set(records)))
    extra = sorted(map(str, set(records) - set(expected)))
    if missing or extra:
        problems.append(f"{store} holds exactly vecmesh's ids: {len(missing)} missing (e.g. {missing[:10]}), "
                        f"{len(extra)} extra (e.g. {extra[:10]})")
    bad_vectors, bad_payloads = [], []
    for sid, p in expected.items():
        if sid not in records:
            continue
        held_vector, held = records[sid]
        if (not isinstance(held_vector, list) or len(held_vector) != dimension
                or max(abs(a - b) for a, b in zip(held_vector, p["vector"])) > 1e-6):
            bad_vectors.append((sid, held_vector, p["vector"]))
        payload = stored_payload(sid, held)
        if not same_scalars(payload, p.get("payload") or {}):
            bad_payloads.append((p["id"], sid, held, p.get("payload")))
    if bad_vectors:
        problems.append(f"{len(bad_vectors)} vectors differ in {store}, e.g. {bad_vectors[:3]}")
    if bad_payloads:
        problems.append(f"{len(bad_payloads)} payloads differ in {store}, e.g. {bad_payloads[:5]}")
    return problems


# --- waiting -------------------------------------------------------------------------------------

def wait_caught_up(ok, collection_path, stores, timeout_s):
    """Waits (at most timeout_s) until the collection info says each of `stores` is "ok" with 0
    pending; never "failed" meanwhile. Returns (whether it did, the last info)."""
    info = {}
    last_log = time.monotonic()

    def caught_up():
        nonlocal info, last_log
        info = ok("GET", collection_path)
        states = info.get("stores", {})
        for store in stores:
            assert states.get(store, {}).get("status") != "failed", f"{store} failed: {info}"
        now = time.monotonic()
        if now - last_log >= 10:
            last_log = now
            log(f"waiting for {', '.join(stores)} to catch up: {states}")
        return all(states.get(s, {}).get("status") == "ok" and states.get(s, {}).get("pending") == 0
                   for s in stores)
    t = time.monotonic()
    done = wait_for(caught_up, timeout_s=timeout_s, interval_s=0.5)
    if done:
        log(f"{', '.join(stores)} caught up in {time.monotonic() - t:.1f} s: {info.get('stores')}")
    return done, info


# --- a test that owns vecmeshd and the stores ----------------------------------------------------

class StoresTestCase(unittest.TestCase):
    """self.daemon (a vecmeshd.Daemon) and self.servers (ChromaServer, QdrantDouble: ManagedServer)
    are stopped after the test, also when it fails; self.old_logs holds the logs of vecmeshd's runs
    before a restart. run_scenario() runs self.scenario() and prints the logs when it fails."""

    def setUp(self):
        self.daemon = None
        self.servers = []
        self.old_logs = []
        self.session = requests.Session()

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.cleanup()
        for server in self.servers:
            try:
                server.close()
            except Exception as e:  # stop the others all the same
                print(f"stopping the {server.what}: {e!r}", file=sys.stderr)

    def start_server(self, server):
        """Starts a ChromaServer or QdrantDouble, which tearDown stops; returns it."""
        self.servers.append(server)
        server.start()
        log(f"{server.what} at {server.url}, data in {server.data_dir}")
        return server

    def start_daemon(self, args):
        """Starts vecmeshd (self.daemon, with its own data directory) with these arguments."""
        self.daemon = Daemon(args=args)
        self.daemon.start()
        log(f"vecmeshd at {self.daemon.url}, data in {self.daemon.data_dir}")

    def run_scenario(self):
        try:
            self.scenario()
        except BaseException:
            self.dump_logs()
            raise

    def call(self, method, path, body=None, timeout=60):
        """One request to vecmeshd: (status, JSON answer, or the text when it is not JSON)."""
        r = self.session.request(method, self.daemon.url + path,
                                 data=None if body is None else json.dumps(body), timeout=timeout)
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text

    def ok(self, method, path, body=None, status=200):
        code, answer = self.call(method, path, body)
        self.assertEqual(code, status, f"{method} {path}: {str(answer)[:2000]}")
        return answer

    def dump_logs(self, watched=("chroma", "qdrant")):
        """vecmeshd's logs (warnings, errors, and lines about the stores) and the servers' own."""
        for n, lines in enumerate(self.old_logs + [self.daemon.log if self.daemon else []]):
            notable = [line for line in lines if '"level":"warn' in line or '"level":"err' in line
                       or (any(w in line.lower() for w in watched) and '"msg":"access"' not in line)]
            print(f"--- vecmeshd run {n + 1}: {len(lines)} log lines; warnings, errors and "
                  f"{'/'.join(watched)} lines (last 60):", file=sys.stderr)
            print("\n".join(notable[-60:]), file=sys.stderr)
            print(f"--- vecmeshd run {n + 1}: last 30 lines:", file=sys.stderr)
            print("\n".join(lines[-30:]), file=sys.stderr)
        for server in self.servers:
            try:
                text = re.sub(r"\x1b\[[0-9;]*m", "", server.log_path.read_text(errors="replace"))
            except OSError:
                continue
            lines = [line for line in text.splitlines() if re.search(r"[A-Za-z]{3}", line)]  # no banner art
            print(f"--- {server.what} log (last 40 lines):\n" + "\n".join(lines[-40:]), file=sys.stderr)

    def check_write_stores(self, where, answer, remote, down=None):
        """A write answer's stores: faiss "ok"; each remote store "ok" or "pending" (with a count of
        pending writes), never "failed". `down`: {store that is down: the pending count the write
        answer before said}: nothing reaches it, so it is "pending" and every acknowledged write is
        one more pending there. Returns stores."""
        down = down or {}
        stores = answer.get("stores")
        self.assertIsInstance(stores, dict, f"{where}: a write answer carries stores: {answer}")
        self.assertEqual(stores.get("faiss", {}).get("status"), "ok", f"{where}: {stores}")
        for store in remote:
            state = stores.get(store, {})
            self.assertIn(state.get("status"), ("ok", "pending"), f"{where}: {store} is never 'failed': {stores}")
            if store in down:
                self.assertEqual(state["status"], "pending", f"{where}, {store} down: {stores}")
            if state["status"] == "pending":
                self.assertIsInstance(state.get("pending"), int, f"{where}: {stores}")
                self.assertGreaterEqual(state["pending"], 1, f"{where}: {stores}")
            if store in down:
                self.assertGreater(state["pending"], down[store],
                                   f"{where}: while {store} is down each acknowledged write adds to its pending "
                                   f"writes: the answer says {state['pending']}, the one before said {down[store]}")
        return stores

    def check_outage(self, when, collection_path, down, up, probe_vector):
        """While the store `down` is down: a search with "store": "all" answers 200 with `down`
        "error" (and a message) and the stores `up` "ok"; /health/deep says "warning" (within
        20 s) and `down` is not "healthy"."""
        answer = self.ok("POST", collection_path + "/search", {"vector": probe_vector, "k": 5, "store": "all"})
        stores = answer.get("stores", {})
        for store in up:
            self.assertEqual(stores.get(store, {}).get("status"), "ok", f"{when}: search all: {answer}")
        self.assertEqual(stores.get(down, {}).get("status"), "error", f"{when}: search all: {answer}")
        message = stores[down].get("message")
        self.assertTrue(isinstance(message, str) and message, f"{when}: {down}'s error has a message: {stores}")
        self.assertEqual(len(answer.get("results", [])), 5, f"{when}: {', '.join(up)} answered: {answer}")
        log(f"{when}: search store=all: 200, {', '.join(up)} ok, {down} error ({message!r})")

        deep = {}

        def warning():
            nonlocal deep
            code, deep = self.call("GET", "/health/deep")
            return (isinstance(deep, dict) and deep.get("status") == "warning"
                    and deep.get("dependencies", {}).get(down, {}).get("status") not in (None, "healthy"))
        self.assertTrue(wait_for(warning, timeout_s=20, interval_s=0.25),
                        f"{when}: /health/deep says warning, {down} not healthy, within 20 s: {deep}")
        log(f"{when}: /health/deep: warning, {down} {deep['dependencies'][down]}")

    def check_vecmesh(self, collection_path, vecmesh, expected):
        """vecmesh (`vecmesh`, from scroll_vecmesh) holds exactly `expected` ({key(id): (vector,
        payload)}): every acknowledged write in its last version, and nothing else."""
        self.assertEqual(self.ok("POST", collection_path + "/points/count", {})["count"], len(expected))
        self.assertEqual(len(vecmesh), len(expected), "vecmesh holds exactly the points that exist")
        for k, (vector, payload) in expected.items():
            point = vecmesh.get(k)
            self.assertIsNotNone(point, f"acknowledged point {k[1]!r} is in vecmesh")
            self.assertEqual(point["vector"], vector, f"point {k[1]!r}: vecmesh has its last vector")
            self.assertTrue(same_scalars(point.get("payload") or {}, payload),
                            f"point {k[1]!r}: vecmesh payload {point.get('payload')} != {payload}")
        log("vecmesh holds every acknowledged write, in its last version, and nothing else")

    def check_health_recovers(self, stores, timeout_s=30):
        deep = {}

        def healthy():
            nonlocal deep
            deep = self.ok("GET", "/health/deep")
            return deep.get("status") == "healthy" and all(
                deep["dependencies"].get(s, {}).get("status") == "healthy" for s in stores)
        self.assertTrue(wait_for(healthy, timeout_s=timeout_s, interval_s=0.5),
                        f"/health/deep healthy again within {timeout_s} s: {deep}")
        log("/health/deep: healthy: " + ", ".join(f"{s} {deep['dependencies'][s]}" for s in stores))
