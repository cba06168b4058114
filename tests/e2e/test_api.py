"""End-to-end tests of vecmeshd over REST and gRPC, with independent clients: Python requests,
and Python grpcio with stubs generated from proto/ (grpc_api.py maps the same REST-shaped calls
onto the RPCs, so one scenario runs over both transports and their answers are compared).

Each test class starts the real daemon as a process (vecmeshd.py) on free ports with its own
data directory. Run by CTest (label e2e) with VECMESH_DAEMON and VECMESH_PROTO_PY set.
"""
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import grpc
import requests

from grpc_api import GrpcApi, NotExpressible, pb, pb_grpc
from vecmeshd import Daemon, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
DIM = 4


def vec(i):
    return [float(i % 10), float(i // 10), float((i * 7) % 13), 1.0]


def l2(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def points(ids):
    return [{"id": i, "vector": vec(i), "payload": {"group": "even" if i % 2 == 0 else "odd", "i": i}}
            for i in ids]


class Api:
    """A thin client: every call returns (status, body)."""

    def __init__(self, url, key=None):
        self.url = url
        self.session = requests.Session()
        if key:
            self.session.headers["api-key"] = key

    def call(self, method, path, body=None, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        r = self.session.request(method, self.url + path, data=data, headers=headers or {}, timeout=60)
        if r.headers.get("Content-Type", "").startswith("application/json"):
            return r.status_code, r.json()
        return r.status_code, r.content


class Recorder:
    """Wraps a client and keeps every answer, for comparing transports."""

    def __init__(self, client):
        self.client = client
        self.transcript = []

    def call(self, method, path, body=None, **kw):
        status, answer = self.client.call(method, path, body, **kw)
        self.transcript.append((method, path, status, answer))
        return status, answer


def normalized(transcript):
    """The answers with what legitimately differs between two runs made equal: job ids,
    snapshot names (they hold the time) and timings."""
    text = json.dumps([(m, p, s, a if not isinstance(a, bytes) else len(a)) for m, p, s, a in transcript])
    text = re.sub(r"job-[0-9a-f]{16}", "job-X", text)
    text = re.sub(r"docs-\d+-\d+\.vms", "docs-SNAPSHOT.vms", text)
    text = re.sub(r'"took_ms": [0-9.e-]+', '"took_ms": 0', text)
    return json.loads(text)


class Scenario(unittest.TestCase):
    """API.md's operations in order, each answer checked against a reference computed here."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon().start()
        cls.grpc_daemon = Daemon().start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()
        cls.grpc_daemon.cleanup()

    def ok(self, method, path, body=None, status=200, **kw):
        code, answer = self.api.call(method, path, body, **kw)
        self.assertEqual(code, status, answer)
        return answer

    def test_the_scenario_gets_the_same_answers_over_rest_and_grpc(self):
        rest = Recorder(Api(self.daemon.url))
        self.api = rest
        self.scenario()
        grpc_client = GrpcApi(f"127.0.0.1:{self.grpc_daemon.grpc_port}", rest_fallback=Api(self.grpc_daemon.url))
        over_grpc = Recorder(grpc_client)
        self.api = over_grpc
        self.scenario()
        self.assertEqual(len(over_grpc.transcript), len(rest.transcript))
        self.assertGreater(len(rest.transcript), 40)
        served = requests.get(self.grpc_daemon.url + "/metrics", timeout=10).text
        for rpc in ("CreateCollection", "Upsert", "Search", "SearchBatch", "Scroll", "RestoreSnapshot",
                    "UploadSnapshot", "SubmitImport", "GetJob", "DeleteCollection"):
            self.assertIn(f'transport="grpc",operation="{rpc}",code="OK"', served, rpc)
        for a, b in zip(normalized(rest.transcript), normalized(over_grpc.transcript)):
            self.assertEqual(a, b)

    def scenario(self):
        """API.md's operations in order, each answer checked against a reference computed here."""
        c = "/v1/collections/docs"
        info = self.ok("PUT", c, {"dimension": DIM, "metric": "l2", "index": {"type": "hnsw", "m": 8}},
                       status=201)
        self.assertEqual(info["dimension"], DIM)
        self.assertEqual(info["index"]["type"], "hnsw")
        self.assertEqual(info["backends"], ["faiss"])
        self.ok("PUT", c, {"dimension": DIM, "metric": "l2", "index": {"type": "hnsw", "m": 8}}, status=200)
        code, answer = self.api.call("PUT", c, {"dimension": 5})
        self.assertEqual((code, answer["error"]["code"]), (409, "ALREADY_EXISTS"))
        listed = self.ok("GET", "/v1/collections")["collections"]
        self.assertEqual([x["name"] for x in listed], ["docs"])

        self.assertEqual(self.ok("PUT", c + "/points", {"points": points(range(200))})["upserted"], 200)
        self.ok("PUT", c + "/points", {"points": [{"id": "s-1", "vector": [0.5, 0.5, 0.5, 0.5]}]})

        # Search: the point itself first; with a filter, the nearest matching points.
        results = self.ok("POST", c + "/search", {"vector": vec(42), "k": 3})["results"]
        self.assertEqual(results[0]["id"], 42)
        self.assertAlmostEqual(results[0]["score"], 0.0, places=5)
        self.assertEqual(results[0]["payload"], {"group": "even", "i": 42})
        odd = {"must": [{"key": "group", "match": {"value": "odd"}}]}
        results = self.ok("POST", c + "/search", {"vector": vec(42), "k": 5, "filter": odd,
                                                  "with_vector": True})["results"]
        expected = sorted((l2(vec(i), vec(42)), i) for i in range(1, 200, 2))[:5]
        self.assertEqual([r["id"] for r in results], [i for _, i in expected])
        self.assertEqual(results[0]["vector"], vec(expected[0][1]))
        for r, (d, _) in zip(results, expected):
            self.assertAlmostEqual(r["score"], d, places=4)
        answer = self.ok("POST", c + "/search", {"vector": vec(7), "k": 1, "store": "all"})
        self.assertEqual(answer["stores"]["faiss"]["status"], "ok")
        batch = self.ok("POST", c + "/search/batch",
                        {"searches": [{"vector": vec(5), "k": 2}, {"vector": vec(150), "k": 1, "filter": odd}]})
        self.assertEqual(batch["results"][0][0]["id"], 5)
        self.assertEqual(batch["results"][1][0]["id"], min((l2(vec(i), vec(150)), i) for i in range(1, 200, 2))[1])

        # Get, count, scroll.
        got = self.ok("POST", c + "/points/get", {"ids": [1, "s-1", 9999], "with_vector": True})["points"]
        self.assertEqual([p["id"] for p in got], [1, "s-1"])
        self.assertEqual(got[0]["vector"], vec(1))
        self.assertEqual(self.ok("POST", c + "/points/count", {"filter": odd})["count"], 100)
        self.assertEqual(self.ok("POST", c + "/points/count", {})["count"], 201)
        seen, cursor = [], None
        while True:
            page = self.ok("POST", c + "/points/scroll", {"limit": 50, "cursor": cursor})
            seen += [p["id"] for p in page["points"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, list(range(200)) + ["s-1"])

        # Payload updates.
        self.assertEqual(self.ok("POST", c + "/points/payload", {"ids": [1, 77777], "payload": {"tag": "x"}})["updated"], 1)
        got = self.ok("POST", c + "/points/get", {"ids": [1]})["points"]
        self.assertEqual(got[0]["payload"], {"group": "odd", "i": 1, "tag": "x"})
        self.ok("POST", c + "/points/payload", {"ids": [1], "payload": {"only": True}, "mode": "replace"})
        self.assertEqual(self.ok("POST", c + "/points/get", {"ids": [1]})["points"][0]["payload"], {"only": True})

        # Deletes by id and by filter.
        self.assertEqual(self.ok("POST", c + "/points/delete", {"ids": [1, 2, 123456]})["deleted"], 2)
        tail = {"must": [{"key": "i", "range": {"gte": 190}}]}
        self.assertEqual(self.ok("POST", c + "/points/delete", {"filter": tail})["deleted"], 10)
        self.assertEqual(self.ok("POST", c + "/points/count")["count"], 189)

        # Snapshots: take, list, download; restore over later changes; upload into a new collection.
        snap = self.ok("POST", c + "/snapshots")
        self.assertGreater(snap["size"], 0)
        self.assertIn(snap["snapshot"], [s["snapshot"] for s in self.ok("GET", c + "/snapshots")["snapshots"]])
        code, file = self.api.call("GET", c + "/snapshots/" + snap["snapshot"])
        self.assertEqual((code, len(file)), (200, snap["size"]))
        self.ok("POST", c + "/points/delete", {"ids": list(range(3, 50))})
        self.assertEqual(self.ok("POST", c + "/points/count")["count"], 142)
        self.ok("POST", c + "/snapshots/" + snap["snapshot"] + "/restore")
        self.assertEqual(self.ok("POST", c + "/points/count")["count"], 189)
        self.ok("PUT", "/v1/collections/copy/snapshots/upload", raw=file,
                headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(self.ok("POST", "/v1/collections/copy/points/count")["count"], 189)
        self.assertEqual(self.ok("POST", "/v1/collections/copy/points/get", {"ids": [42], "with_vector": True})["points"][0]["vector"], vec(42))

        # Import job.
        job = self.ok("POST", c + "/points/import", {"points": points(range(1000, 1050))}, status=202)["job_id"]
        unrecorded = self.api.client  # how many polls it takes is not part of the answer
        self.assertTrue(wait_for(lambda: unrecorded.call("GET", "/v1/jobs/" + job)[1]["state"] == "done", 60))
        state = self.ok("GET", "/v1/jobs/" + job)
        self.assertEqual((state["collection"], state["points"], state["error"]), ("docs", 50, None))
        self.assertEqual(self.ok("POST", c + "/points/count")["count"], 239)
        code, answer = self.api.call("GET", "/v1/jobs/job-unknown")
        self.assertEqual((code, answer["error"]["code"]), (404, "NOT_FOUND"))

        # Legacy endpoints.
        self.assertEqual(self.ok("POST", "/create_index", {"name": "legacy", "dimension": 2})["status"], "created")
        self.assertEqual(self.ok("POST", "/create_index", {"name": "legacy", "dimension": 2}), {"status": "created"})
        code, answer = self.api.call("POST", "/create_index", {"name": "legacy", "dimension": 3})
        self.assertEqual(code, 409, answer)
        added = self.ok("POST", "/add_vectors", {"index": "legacy", "vectors": [[0, 0], [1, 1]], "metadata": [{"t": "a"}, {"t": "b"}]})
        self.assertEqual(added, {"inserted": 2, "ids": [0, 1]})
        self.assertEqual(self.ok("POST", "/add_vectors", {"index": "legacy", "vectors": [[5, 5]]})["ids"], [2])
        results = self.ok("POST", "/search", {"index": "legacy", "vector": [0.9, 1.2], "k": 2})["results"]
        self.assertEqual([r["id"] for r in results], [1, 0])
        self.assertEqual(results[0]["metadata"], {"t": "b"})
        self.ok("POST", "/create_index", {"name": "full", "dimension": 1})
        self.ok("POST", "/add_vectors", {"index": "full", "vectors": [[1]], "ids": [2 ** 64 - 1]})
        code, answer = self.api.call("POST", "/add_vectors", {"index": "full", "vectors": [[2]]})
        self.assertEqual((code, answer["error"]["code"]), (409, "FAILED_PRECONDITION"), "ids never wrap around")

        # Drop.
        self.assertEqual(self.ok("DELETE", "/v1/collections/copy"), {"deleted": True})
        code, answer = self.api.call("GET", "/v1/collections/copy")
        self.assertEqual((code, answer["error"]["code"]), (404, "NOT_FOUND"))

    def test_every_documented_route_is_served_and_metrics_parse(self):
        self.api = Api(self.daemon.url)
        code, doc = self.api.call("GET", "/openapi.json")
        self.assertEqual(code, 200)
        with open(os.path.join(SOURCE, "api", "openapi.json")) as f:
            self.assertEqual(doc, json.load(f), "the served document is the repository's")
        validator = os.path.join(HERE, "validate_openapi.mjs")
        check = subprocess.run(["node", validator, self.daemon.url + "/openapi.json"],
                               capture_output=True, text=True, cwd=HERE)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        for path, methods in doc["paths"].items():
            concrete = path.replace("{name}", "routecheck").replace("{snapshot}", "none.vms").replace("{job_id}", "job-none")
            for method in methods:
                code, answer = self.api.call(method.upper(), concrete, raw=b"" if method in ("put", "post") else None)
                message = answer["error"]["message"] if isinstance(answer, dict) and "error" in answer else ""
                self.assertNotEqual(code, 405, f"{method} {path}")
                self.assertFalse(message.startswith("no route"), f"{method} {path}: {message}")
        metrics = requests.get(self.daemon.url + "/metrics", timeout=10)
        self.assertTrue(metrics.headers["Content-Type"].startswith("text/plain"))
        check = subprocess.run(["promtool", "check", "metrics"], input=metrics.text, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn('vecmesh_requests_total{transport="rest",operation="GetJob",code="NOT_FOUND"}', metrics.text)
        self.assertIn("vecmesh_log_append_seconds_count", metrics.text)
        self.assertIn("vecmesh_import_jobs_pending", metrics.text)
        self.assertEqual(requests.get(self.daemon.url + "/health/live", timeout=10).json(), {"status": "alive"})
        deep = requests.get(self.daemon.url + "/health/deep", timeout=10).json()
        self.assertEqual(deep["dependencies"]["engine"]["status"], "healthy")
        r = requests.get(self.daemon.url + "/health", headers={"X-Request-Id": "trace-me-1"}, timeout=10)
        self.assertEqual(r.headers["X-Request-Id"], "trace-me-1")
        self.assertEqual(len(requests.get(self.daemon.url + "/health", timeout=10).headers["X-Request-Id"]), 16)


class BadInput(unittest.TestCase):
    """API.md's bad-input matrix: each request gets its status and a message naming the field;
    the server stays up and the data is unchanged."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(args=["--max-body-bytes", "65536", "--max-points-per-upsert", "5"]).start()
        cls.api = Api(cls.daemon.url)
        assert cls.api.call("PUT", "/v1/collections/m", {"dimension": DIM})[0] == 201
        assert cls.api.call("PUT", "/v1/collections/m/points", {"points": points(range(5))})[0] == 200

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def state(self):
        _, got = self.api.call("POST", "/v1/collections/m/points/get",
                               {"ids": list(range(10)), "with_vector": True})
        _, listed = self.api.call("GET", "/v1/collections")
        return got, [c["name"] for c in listed["collections"]]

    def cases(self):
        search, upsert = "/v1/collections/m/search", "/v1/collections/m/points"
        deep = {"must": [{"key": "a", "match": {"value": 1}}]}
        for _ in range(9):
            deep = {"must": [deep]}
        cases = [
            ("malformed JSON", "PUT", upsert, None, b'{"points": [', 400, "INVALID_ARGUMENT", "not valid JSON"),
            ("not an object", "POST", search, [1, 2], None, 400, "INVALID_ARGUMENT", "JSON object"),
            ("wrong type", "POST", search, {"vector": "abc"}, None, 400, "INVALID_ARGUMENT", "vector must be an array"),
            ("wrong type of k", "POST", search, {"vector": vec(1), "k": "3"}, None, 400, "INVALID_ARGUMENT", "k must be an integer"),
            ("wrong type in a list", "PUT", upsert, {"points": [{"id": 9, "vector": [1, 2, "x", 4]}]}, None, 400, "INVALID_ARGUMENT", "points[0].vector[2] must be a number"),
            ("missing field", "PUT", upsert, {"points": [{"id": 9}]}, None, 400, "INVALID_ARGUMENT", "points[0].vector is required"),
            ("unknown field", "POST", search, {"vector": vec(1), "top": 3}, None, 400, "INVALID_ARGUMENT", "top is not a known field"),
            ("oversize body", "PUT", upsert, None, b'{"points": [' + b" " * 70000 + b"]}", 413, "RESOURCE_EXHAUSTED", "limit of 65536 bytes"),
            ("wrong dimension", "PUT", upsert, {"points": [{"id": 9, "vector": [1, 2, 3]}]}, None, 400, "INVALID_ARGUMENT", "points[0].vector has 3 values; collection 'm' has dimension 4"),
            ("NaN", "PUT", upsert, None, b'{"points": [{"id": 9, "vector": [1, NaN, 3, 4]}]}', 400, "INVALID_ARGUMENT", "NaN and Infinity are not JSON numbers"),
            ("beyond double", "PUT", upsert, None, b'{"points": [{"id": 9, "vector": [1, 1e999, 3, 4]}]}', 400, "INVALID_ARGUMENT", "beyond the range of a double"),
            ("beyond float32", "PUT", upsert, {"points": [{"id": 9, "vector": [1, 1e39, 3, 4]}]}, None, 400, "INVALID_ARGUMENT", "points[0].vector[1] is 1e+39"),
            ("k over the limit", "POST", search, {"vector": vec(1), "k": 10001}, None, 400, "INVALID_ARGUMENT", "k must be in [1, 10000]"),
            ("too many points", "PUT", upsert, {"points": points(range(100, 106))}, None, 400, "INVALID_ARGUMENT", "points has 6 entries; the limit is 5"),
            ("deep payload", "PUT", upsert, None, b'{"points": [{"id": 9, "vector": [1, 2, 3, 4], "payload": {"a": ' + b"[" * 5000 + b"]" * 5000 + b'}}]}', 400, "INVALID_ARGUMENT", "nests 5004 levels deep; the limit is 64"),
            ("deep filter", "POST", search, {"vector": vec(1), "filter": deep}, None, 400, "INVALID_ARGUMENT", "levels deep; the limit is 8"),
            ("negative id", "POST", "/v1/collections/m/points/get", {"ids": [-1]}, None, 400, "INVALID_ARGUMENT", "ids[0] must be an unsigned integer or a string"),
            ("unknown collection", "POST", "/v1/collections/nope/search", {"vector": vec(1)}, None, 404, "NOT_FOUND", "collection 'nope' not found"),
            ("bad collection name", "PUT", "/v1/collections/bad.name", {"dimension": 4}, None, 400, "INVALID_ARGUMENT", "collection name 'bad.name' is invalid"),
            ("dimension over the limit", "PUT", "/v1/collections/wide", {"dimension": 70000}, None, 400, "INVALID_ARGUMENT", "dimension must be in [1, 65536], got 70000"),
            ("legacy dimension over the limit", "POST", "/create_index", {"name": "wide", "dimension": 5000000000}, None, 400, "INVALID_ARGUMENT", "dimension must be in [1, 65536], got 5000000000"),
            ("GPU index without a GPU", "PUT", "/v1/collections/g", {"dimension": 4, "index": {"type": "gpu_flat"}}, None, 409, "FAILED_PRECONDITION", "index.type 'gpu_flat' needs a CUDA GPU"),
            ("backend not configured", "PUT", "/v1/collections/q", {"dimension": 4, "backends": ["faiss", "qdrant"]}, None, 409, "FAILED_PRECONDITION", "backends[1]: backend 'qdrant' is not configured"),
            ("store not configured", "POST", search, {"vector": vec(1), "store": "chroma"}, None, 409, "FAILED_PRECONDITION", "store: backend 'chroma' is not configured"),
            ("bad snapshot upload", "PUT", "/v1/collections/m/snapshots/upload", None, b"not a snapshot", 400, "INVALID_ARGUMENT", "not a vecmesh snapshot"),
            ("no such route", "GET", "/v2/nothing", None, None, 404, "NOT_FOUND", "no route GET /v2/nothing"),
        ]
        return cases

    def test_matrix_over_rest(self):
        before = self.state()
        for name, method, path, body, raw, status, code, text in self.cases():
            with self.subTest(name):
                got_status, answer = self.api.call(method, path, body, raw=raw)
                self.assertEqual(got_status, status, answer)
                self.assertEqual(answer["error"]["code"], code)
                self.assertIn(text, answer["error"]["message"])
                self.assertTrue(self.daemon.alive())
        self.assertEqual(self.state(), before, "no bad request changed anything")

    def test_a_path_that_is_not_utf8_is_a_404_not_a_crash(self):
        for target in (b"/\xff", b"/v1/collections/\xff\xfe"):
            with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10) as raw:
                raw.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertTrue(raw.recv(4096).startswith(b"HTTP/1.1 404"), target)
        self.assertTrue(self.daemon.alive())

    def test_matrix_over_grpc(self):
        """Every case a protobuf message can express gets the same code and message as over
        REST; the others (JSON syntax and types) cannot reach the server over gRPC. Then the
        cases only gRPC has: NaN as a float, a message over the limit, bytes that are no message."""
        before = self.state()
        client = GrpcApi(f"127.0.0.1:{self.daemon.grpc_port}")
        not_expressible = set()
        for name, method, path, body, raw, status, code, text in self.cases():
            with self.subTest(name):
                try:
                    got_status, answer = client.call(method, path, body, raw=raw)
                except NotExpressible:
                    not_expressible.add(name)
                    continue
                self.assertEqual((got_status, answer["error"]["code"]), (status, code), answer)
                self.assertEqual(answer, self.api.call(method, path, body, raw=raw)[1], "as over REST")
        self.assertEqual(not_expressible, {
            "malformed JSON", "not an object", "wrong type", "wrong type of k", "wrong type in a list",
            "unknown field", "oversize body", "NaN", "beyond double", "deep payload", "beyond float32", "negative id",
            "legacy dimension over the limit", "no such route"})
        upsert = "/v1/collections/m/points"
        cases = [
            ("missing id", {"points": [{"vector": [1, 2, 3, 4]}]}, "INVALID_ARGUMENT", "points[0].id is required"),
            ("message over the limit", {"points": [{"id": 9, "vector": [0.5] * 20000}]}, "RESOURCE_EXHAUSTED", "larger than max"),
            ("filter of the wrong shape", None, "INVALID_ARGUMENT", "filter.must must be an array"),
        ]
        for name, body, code, text in cases:
            with self.subTest(name):
                if body is None:
                    got_status, answer = client.call("POST", "/v1/collections/m/points/count", {"filter": {"must": 3}})
                else:
                    got_status, answer = client.call("PUT", upsert, body)
                self.assertEqual(answer["error"]["code"], code, answer)
                self.assertIn(text, answer["error"]["message"])
        with self.assertRaises(grpc.RpcError) as raised:  # NaN, which JSON cannot carry
            client.stub.Upsert(pb.UpsertRequest(collection="m", points=[
                pb.Point(id=pb.PointId(num=9), vector=[1, float("nan"), 3, 4])]), timeout=10)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(raised.exception.details(), "points[0].vector[1] is NaN; vectors must be finite")
        garbage = client.channel.unary_unary("/vecmesh.v1.VectorStore/Upsert")
        with self.assertRaises(grpc.RpcError) as raised:
            garbage(b"\xff\xff\xff\xff", timeout=10)
        self.assertNotEqual(raised.exception.code(), grpc.StatusCode.OK)
        self.assertTrue(self.daemon.alive())
        self.assertEqual(self.state(), before, "no bad request changed anything")


class Auth(unittest.TestCase):
    """Keys and roles: read-only, read-write and admin, from the environment."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(env={"VECMESH_ADMIN_KEYS": "adm-key", "VECMESH_READ_WRITE_KEYS": "rw-key",
                                 "VECMESH_READ_ONLY_KEYS": "ro-key,ro-key-2"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def test_roles(self):
        admin, rw, ro = (Api(self.daemon.url, k) for k in ("adm-key", "rw-key", "ro-key"))
        self.assertEqual(admin.call("PUT", "/v1/collections/k", {"dimension": 2})[0], 201)
        self.assertEqual(rw.call("PUT", "/v1/collections/k/points", {"points": [{"id": 1, "vector": [1, 2]}]})[0], 200)
        before = admin.call("POST", "/v1/collections/k/points/count")[1]
        cases = [
            ("no key", Api(self.daemon.url), "POST", "/v1/collections/k/search", {"vector": [1, 2]}, 401, "UNAUTHENTICATED", "API key is required"),
            ("wrong key", Api(self.daemon.url, "nope"), "POST", "/v1/collections/k/search", {"vector": [1, 2]}, 401, "UNAUTHENTICATED", "not valid"),
            ("read-only key writes", ro, "PUT", "/v1/collections/k/points", {"points": [{"id": 2, "vector": [1, 2]}]}, 403, "PERMISSION_DENIED", "a read_only key may not call Upsert"),
            ("read-write key drops", rw, "DELETE", "/v1/collections/k", None, 403, "PERMISSION_DENIED", "a read_write key may not call DeleteCollection"),
            ("read-write key snapshots", rw, "POST", "/v1/collections/k/snapshots", None, 403, "PERMISSION_DENIED", "needs a admin key"),
        ]
        for name, client, method, path, body, status, code, text in cases:
            with self.subTest(name):
                got, answer = client.call(method, path, body)
                self.assertEqual((got, answer["error"]["code"]), (status, code), answer)
                self.assertIn(text, answer["error"]["message"])
        self.assertEqual(admin.call("POST", "/v1/collections/k/points/count")[1], before)
        self.assertEqual(ro.call("POST", "/v1/collections/k/search", {"vector": [1, 2]})[0], 200)
        bearer = requests.post(self.daemon.url + "/v1/collections/k/points/count", headers={"Authorization": "Bearer ro-key-2"}, timeout=10)
        self.assertEqual(bearer.status_code, 200)
        lower = requests.post(self.daemon.url + "/v1/collections/k/points/count", headers={"Authorization": "bearer ro-key"}, timeout=10)
        self.assertEqual(lower.status_code, 200, "the Bearer scheme is case-insensitive")
        # A call without a key is refused from its header: the server does not wait for the body.
        with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10) as raw:
            raw.sendall(b"PUT /v1/collections/k/snapshots/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 500000000\r\n\r\n")
            self.assertTrue(raw.recv(4096).startswith(b"HTTP/1.1 401"))
        for path in ("/health", "/health/live", "/health/deep", "/metrics", "/openapi.json"):
            self.assertEqual(requests.get(self.daemon.url + path, timeout=10).status_code, 200, path)
        self.assertNotIn("adm-key", "\n".join(self.daemon.log), "keys are never logged")

    def test_roles_over_grpc(self):
        target = f"127.0.0.1:{self.daemon.grpc_port}"
        admin, rw, ro = (GrpcApi(target, k) for k in ("adm-key", "rw-key", "ro-key"))
        self.assertIn(admin.call("PUT", "/v1/collections/g", {"dimension": 2})[0], (200, 201))
        cases = [
            ("no key", GrpcApi(target), "POST", "/v1/collections/g/search", {"vector": [1, 2]}, "UNAUTHENTICATED"),
            ("wrong key", GrpcApi(target, "nope"), "POST", "/v1/collections/g/search", {"vector": [1, 2]}, "UNAUTHENTICATED"),
            ("read-only key writes", ro, "PUT", "/v1/collections/g/points", {"points": [{"id": 2, "vector": [1, 2]}]}, "PERMISSION_DENIED"),
            ("read-write key drops", rw, "DELETE", "/v1/collections/g", None, "PERMISSION_DENIED"),
        ]
        for name, client, method, path, body, code in cases:
            with self.subTest(name):
                self.assertEqual(client.call(method, path, body)[1]["error"]["code"], code)
        self.assertEqual(rw.call("PUT", "/v1/collections/g/points", {"points": [{"id": 2, "vector": [1, 2]}]})[0], 200)
        self.assertEqual(ro.call("POST", "/v1/collections/g/search", {"vector": [1, 2]})[1]["results"][0]["id"], 2)

    def test_grpc_health_and_reflection_need_no_key(self):
        channel = grpc.insecure_channel(f"127.0.0.1:{self.daemon.grpc_port}")
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        self.assertEqual(check(b"", timeout=10), b"\x08\x01", "HealthCheckResponse{status: SERVING}")
        reflect = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
        answers = b"".join(reflect(iter([b"\x3a\x00"]), timeout=10))  # list_services: ""
        self.assertIn(b"vecmesh.v1.VectorStore", answers)
        self.assertIn(b"grpc.health.v1.Health", answers)


class Overload(unittest.TestCase):
    """One worker and a queue of one: concurrent heavy searches beyond that get 429 at once, the
    others are answered, and /health still answers (it does not wait for a worker). A gRPC call
    whose deadline passes in the queue is dropped, not run."""

    def test_a_full_queue_answers_429_and_health_still_answers(self):
        import random
        import threading
        with Daemon(args=["--workers", "1", "--max-queued-requests", "1"]) as daemon:
            api = Api(daemon.url)
            rng = random.Random(5)
            self.assertEqual(api.call("PUT", "/v1/collections/o", {"dimension": 64})[0], 201)
            for begin in range(0, 10000, 5000):
                batch = [{"id": i, "vector": [rng.random() for _ in range(64)]} for i in range(begin, begin + 5000)]
                self.assertEqual(api.call("PUT", "/v1/collections/o/points", {"points": batch})[0], 200)
            body = json.dumps({"searches": [{"vector": [rng.random() for _ in range(64)], "k": 10,
                                             "params": {"exact": True}, "with_payload": False} for _ in range(1000)]})
            start = threading.Barrier(8)
            statuses, health = [], []

            def search():
                start.wait()
                r = requests.post(daemon.url + "/v1/collections/o/search/batch", data=body, timeout=120)
                statuses.append((r.status_code, r.json().get("error", {}).get("code")))
                if r.status_code == 429:
                    health.append(requests.get(daemon.url + "/health", timeout=10).status_code)
            threads = [threading.Thread(target=search) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertIn((429, "RESOURCE_EXHAUSTED"), statuses)
            self.assertIn((200, None), statuses)
            self.assertEqual(set(health), {200})

            # A gRPC call whose deadline passes while it waits for the busy worker is dropped (the
            # server counts it as DEADLINE_EXCEEDED). A batch of 1,000 exact searches with k=1,000
            # holds the one worker for most of a second (more on a busy machine); the call comes
            # 0.1 s after it, with 0.2 s to live. Should the batch not have reached the worker by
            # then, it gets a few tries.
            slow = json.dumps({"searches": [{"vector": [rng.random() for _ in range(64)], "k": 1000,
                                             "params": {"exact": True}, "with_payload": False}
                                            for _ in range(1000)]})
            client = GrpcApi(f"127.0.0.1:{daemon.grpc_port}")
            dropped = 'transport="grpc",operation="Count",code="DEADLINE_EXCEEDED"'

            def metrics():
                return requests.get(daemon.url + "/metrics", timeout=10).text
            for _ in range(5):
                busy = threading.Thread(target=lambda: requests.post(
                    daemon.url + "/v1/collections/o/search/batch", data=slow, timeout=120))
                busy.start()
                time.sleep(0.1)
                try:
                    client.stub.Count(pb.CountRequest(collection="o"), timeout=0.2)
                except grpc.RpcError as e:
                    self.assertEqual(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
                busy.join()
                if wait_for(lambda: dropped in metrics(), 2):
                    break
            self.assertIn(dropped, metrics())


class Tls(unittest.TestCase):
    """--tls-cert-file / --tls-key-file: HTTPS and gRPC over TLS only, with a certificate made
    here by openssl."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="vecmesh-tls-")
        cls.cert, key = os.path.join(cls.dir, "cert.pem"), os.path.join(cls.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cls.cert], check=True, capture_output=True)
        cls.daemon = Daemon(args=["--tls-cert-file", cls.cert, "--tls-key-file", key]).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_https_and_grpc_over_tls_only(self):
        https = f"https://127.0.0.1:{self.daemon.port}"
        self.assertEqual(requests.put(https + "/v1/collections/t", data=json.dumps({"dimension": 2}),
                                      verify=self.cert, timeout=10).status_code, 201)
        with self.assertRaises(requests.RequestException):
            requests.get(self.daemon.url + "/health", timeout=5)  # plain HTTP
        with open(self.cert, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        secure = GrpcApi(f"127.0.0.1:{self.daemon.grpc_port}", credentials=credentials)
        status, answer = secure.call("GET", "/v1/collections")
        self.assertEqual((status, [c["name"] for c in answer["collections"]]), (200, ["t"]))
        plain = GrpcApi(f"127.0.0.1:{self.daemon.grpc_port}")
        self.assertEqual(plain.call("GET", "/v1/collections")[1]["error"]["code"], "UNAVAILABLE")
        self.assertTrue(self.daemon.alive())


class Lifecycle(unittest.TestCase):
    def test_sigterm_checkpoints_and_exits_zero_and_data_survives(self):
        daemon = Daemon().start()
        try:
            api = Api(daemon.url)
            self.assertEqual(api.call("PUT", "/v1/collections/l", {"dimension": 4, "index": {"type": "hnsw"}})[0], 201)
            self.assertEqual(api.call("PUT", "/v1/collections/l/points", {"points": points(range(50))})[0], 200)
            self.assertEqual(daemon.stop(), 0)
            self.assertTrue(any('"msg":"stopped"' in line for line in daemon.log), daemon.log)
            self.assertTrue(any(n.startswith("checkpoint-") for n in os.listdir(daemon.data_dir)))
            daemon.start()
            api = Api(daemon.url)
            self.assertEqual(api.call("POST", "/v1/collections/l/points/count")[1], {"count": 50})
            recovered = [json.loads(line) for line in daemon.log if '"msg":"recovered"' in line][0]
            self.assertEqual(recovered["records_replayed"], 0, "a clean stop leaves a checkpoint")
        finally:
            daemon.cleanup()


class Operations(unittest.TestCase):
    def entries(self, daemon, msg):
        return [json.loads(line) for line in daemon.log if f'"msg":"{msg}"' in line]

    def test_every_request_gets_an_access_log_line_and_parts_stop_in_reverse_order(self):
        daemon = Daemon().start()
        try:
            r = requests.get(daemon.url + "/v1/collections", headers={"X-Request-Id": "req-rest-1"},
                             timeout=30)
            self.assertEqual(r.status_code, 200)
            r = requests.put(daemon.url + "/v1/collections/bad", data=json.dumps({"dimension": -1}),
                             headers={"X-Request-Id": "req-rest-2"}, timeout=30)
            self.assertEqual(r.status_code, 400)
            with grpc.insecure_channel(f"127.0.0.1:{daemon.grpc_port}") as channel:
                stub = pb_grpc.VectorStoreStub(channel)
                _, call = stub.ListCollections.with_call(
                    pb.ListCollectionsRequest(), timeout=30, metadata=[("x-request-id", "req-grpc-1")])
                self.assertIn(("x-request-id", "req-grpc-1"), call.initial_metadata())
            wait_for(lambda: len(self.entries(daemon, "access")) >= 3, 30)
            by_id = {e["request_id"]: e for e in self.entries(daemon, "access")}
            listed = by_id["req-rest-1"]
            self.assertEqual((listed["transport"], listed["route"], listed["status"], listed["code"]),
                             ("rest", "ListCollections", 200, "OK"))
            self.assertEqual(listed["bytes_out"], len(json.dumps({"collections": []}, separators=(",", ":"))))
            self.assertGreaterEqual(listed["latency_ms"], 0)
            refused = by_id["req-rest-2"]
            self.assertEqual((refused["route"], refused["status"], refused["code"]),
                             ("CreateCollection", 400, "INVALID_ARGUMENT"))
            self.assertEqual(refused["bytes_in"], len(json.dumps({"dimension": -1})))
            over_grpc = by_id["req-grpc-1"]
            self.assertEqual((over_grpc["transport"], over_grpc["route"], over_grpc["status"],
                              over_grpc["code"]), ("grpc", "ListCollections", 0, "OK"))

            self.assertEqual(daemon.stop(), 0)
            stopped = [e["part"] for e in self.entries(daemon, "stopped") if "part" in e]
            # The job consumer first: it stops taking jobs; then /health turns 503, the service
            # leaves Consul, and only then do the transports close.
            self.assertEqual(stopped, ["job consumer", "serving", "registration", "transports", "keys",
                                       "job runner", "router", "store"])
        finally:
            daemon.cleanup()

    def test_the_access_log_can_be_turned_off(self):
        daemon = Daemon(args=["--access-log", "false"]).start()
        try:
            self.assertEqual(requests.get(daemon.url + "/v1/collections", timeout=30).status_code, 200)
            self.assertEqual(daemon.stop(), 0)
            self.assertEqual(self.entries(daemon, "access"), [])
        finally:
            daemon.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
