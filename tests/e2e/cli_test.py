"""The vecmesh command line against a real vecmeshd, over gRPC and over REST: what it prints
(tables and --json, the JSON checked against what vecmeshd's REST API says, read with requests),
and its exit codes: 0 ok, 1 usage, 2 refused by the server, 3 unreachable.

The binary comes from VECMESH_CLI, the daemon from VECMESH_DAEMON (CTest sets both).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import numpy
import requests

from vecmeshd import Daemon

CLI = os.environ["VECMESH_CLI"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, env=None, timeout_s=60):
    """The command's exit code, stdout and stderr (VECMESH_* from the test's own environment are
    dropped, so that only `env` sets them)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VECMESH_")}
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout_s,
                            env=dict(clean, **(env or {})))
    return result.returncode, result.stdout, result.stderr


class WithDaemon(unittest.TestCase):
    """A vecmeshd for the class, and the command line pointed at it over either transport."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(args=["--access-log", "false"]).start()
        cls.urls = {"grpc": f"grpc://127.0.0.1:{cls.daemon.grpc_port}", "rest": cls.daemon.url}

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def cli(self, transport, *args):
        return run("--url", self.urls[transport], *args)


class Collections(WithDaemon):
    def test_create_info_list_drop_over_both_transports(self):
        for transport in ("grpc", "rest"):
            with self.subTest(transport=transport):
                name = f"docs_{transport}"
                code, out, err = self.cli(transport, "collections", "create", name, "--dimension", "8",
                                          "--metric", "cosine", "--index", "hnsw", "--m", "12",
                                          "--ef-search", "40", "--json")
                self.assertEqual(code, 0, err)
                created = json.loads(out)
                self.assertTrue(created["created"])
                # What the CLI says is what the server holds, read through REST by another client.
                server = requests.get(f"{self.daemon.url}/v1/collections/{name}", timeout=10).json()
                self.assertEqual(created["collection"], server)
                self.assertEqual(server["index"], {"type": "hnsw", "m": 12, "ef_construction": 200,
                                                   "ef_search": 40})
                self.assertEqual(server["metric"], "cosine")

                code, out, _ = self.cli(transport, "collections", "create", name, "--dimension", "8",
                                        "--metric", "cosine", "--index", "hnsw", "--m", "12",
                                        "--ef-search", "40", "--json")
                self.assertEqual(code, 0)
                self.assertFalse(json.loads(out)["created"])

                code, out, _ = self.cli(transport, "collections", "info", name, "--json")
                self.assertEqual(code, 0)
                self.assertEqual(json.loads(out), server)

                code, out, _ = self.cli(transport, "collections", "info", name)
                self.assertEqual(code, 0)
                self.assertIn("hnsw ef_construction=200 ef_search=40 m=12", out)
                self.assertRegex(out, r"(?m)^dimension\s+8$")

                code, out, _ = self.cli(transport, "collections", "list", "--json")
                self.assertEqual(code, 0)
                self.assertIn(server, json.loads(out)["collections"])
                code, out, _ = self.cli(transport, "collections", "list")
                self.assertEqual(code, 0)
                header, *rows = out.splitlines()
                self.assertEqual(header.split(), ["NAME", "DIMENSION", "METRIC", "INDEX", "POINTS",
                                                  "STATUS", "BACKENDS"])
                self.assertTrue(any(r.split()[:3] == [name, "8", "cosine"] for r in rows), out)

                code, out, _ = self.cli(transport, "collections", "drop", name, "--json")
                self.assertEqual((code, json.loads(out)), (0, {"deleted": True}))
                self.assertEqual(
                    requests.get(f"{self.daemon.url}/v1/collections/{name}", timeout=10).status_code, 404)

    def test_a_refusal_exits_2_with_the_servers_code_and_message(self):
        for transport in ("grpc", "rest"):
            with self.subTest(transport=transport):
                code, out, err = self.cli(transport, "collections", "info", "missing", "--json")
                self.assertEqual(code, 2)
                self.assertEqual(json.loads(out)["error"]["code"], "NOT_FOUND")
                self.assertIn("missing", json.loads(out)["error"]["message"])
                self.assertIn("NOT_FOUND", err)

                name = f"conflict_{transport}"
                self.assertEqual(self.cli(transport, "collections", "create", name, "--dimension", "4")[0], 0)
                code, _, err = self.cli(transport, "collections", "create", name, "--dimension", "5")
                self.assertEqual(code, 2, err)
                self.assertRegex(err, "ALREADY_EXISTS|FAILED_PRECONDITION")
                # The server names the limit; the CLI passes it on, and nothing is created.
                code, _, err = self.cli(transport, "collections", "create", "bad name!", "--dimension", "4")
                self.assertEqual(code, 2)
                self.assertIn("INVALID_ARGUMENT", err)

    def test_health(self):
        code, out, _ = self.cli("rest", "health", "--json")
        self.assertEqual(code, 0)
        report = json.loads(out)
        self.assertEqual(report["status"], "healthy")
        self.assertIn("engine", report["dependencies"])
        code, out, _ = self.cli("grpc", "health", "--json")
        self.assertEqual((code, json.loads(out)), (0, {"status": "serving"}))
        code, out, _ = self.cli("grpc", "health")
        self.assertEqual((code, out.split()), (0, ["status", "serving"]))


class Data(WithDaemon):
    """search, jobs status and snapshots, each checked against what vecmeshd's REST API says."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = f"{cls.daemon.url}/v1/collections/pts"
        requests.put(cls.api, json={"dimension": 4, "metric": "l2"}, timeout=10).raise_for_status()
        points = [{"id": i, "vector": [i, i % 3, 1.5, -i / 7], "payload": {"i": i, "even": i % 2 == 0}}
                  for i in range(40)]
        points.append({"id": "7", "vector": [7, 1, 1.5, -1], "payload": {"name": "string seven"}})
        requests.put(f"{cls.api}/points", json={"points": points}, timeout=10).raise_for_status()

    def count(self):
        return requests.post(f"{self.api}/points/count", json={}, timeout=10).json()["count"]

    def test_search_answers_what_rest_answers(self):
        request = {"vector": [7, 1, 1.5, -1], "k": 5, "filter": {"must_not": [{"key": "i", "match": {"value": 8}}]}}
        expected = requests.post(f"{self.api}/search", json=request, timeout=10).json()["results"]
        self.assertIn("7", [r["id"] for r in expected])  # the string id among the integers
        for transport in ("grpc", "rest"):
            with self.subTest(transport=transport):
                code, out, err = self.cli(transport, "search", "--collection", "pts", "--vector", "[7, 1, 1.5, -1]",
                                          "-k", "5", "--filter", json.dumps(request["filter"]), "--json")
                self.assertEqual(code, 0, err)
                got = json.loads(out)["results"]
                self.assertEqual([r["id"] for r in got], [r["id"] for r in expected])
                self.assertEqual([r["payload"] for r in got], [r["payload"] for r in expected])
                for g, e in zip(got, expected):
                    self.assertAlmostEqual(g["score"], e["score"], places=5)
                code, out, _ = self.cli(transport, "search", "--collection", "pts", "--vector", "[7, 1, 1.5, -1]",
                                        "-k", "3")
                self.assertEqual(code, 0)
                header, *rows = out.splitlines()
                self.assertEqual(header.split(), ["RANK", "ID", "SCORE", "PAYLOAD"])
                self.assertEqual(len(rows), 3)
                # 7 and "7" stay apart in the table too.
                self.assertEqual({r.split()[1] for r in rows[:2]}, {"7", '"7"'})

    def test_search_refusals(self):
        for transport in ("grpc", "rest"):
            with self.subTest(transport=transport):
                code, _, err = self.cli(transport, "search", "--collection", "pts", "--vector", "[1, 2]")
                self.assertEqual(code, 2)
                self.assertIn("INVALID_ARGUMENT", err)
                self.assertIn("dimension", err)
        code, _, err = run("search", "--collection", "pts", "--vector", "[1, \"x\"]")
        self.assertEqual(code, 1)
        self.assertIn("--vector is not a JSON array of numbers", err)

    def test_jobs_status(self):
        job = requests.post(f"{self.api}/points/import",
                            json={"points": [{"id": 1000, "vector": [0, 0, 0, 0]}]}, timeout=10).json()["job_id"]
        deadline = time.time() + 30
        while requests.get(f"{self.daemon.url}/v1/jobs/{job}", timeout=10).json()["state"] != "done":
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        expected = requests.get(f"{self.daemon.url}/v1/jobs/{job}", timeout=10).json()
        for transport in ("grpc", "rest"):
            with self.subTest(transport=transport):
                code, out, err = self.cli(transport, "jobs", "status", job, "--json")
                self.assertEqual(code, 0, err)
                self.assertEqual(json.loads(out), expected)
                code, out, _ = self.cli(transport, "jobs", "status", "no-such-job", "--json")
                self.assertEqual((code, json.loads(out)["error"]["code"]), (2, "NOT_FOUND"))
        requests.post(f"{self.api}/points/delete", json={"ids": [1000]}, timeout=10).raise_for_status()

    def test_snapshots_round_trip(self):
        before = self.count()
        code, out, err = self.cli("grpc", "snapshots", "create", "--collection", "pts", "--json")
        self.assertEqual(code, 0, err)
        snapshot = json.loads(out)
        code, out, _ = self.cli("rest", "snapshots", "list", "--collection", "pts", "--json")
        self.assertIn(snapshot, json.loads(out)["snapshots"])

        with tempfile.TemporaryDirectory() as scratch:
            path = os.path.join(scratch, "pts.snapshot")
            code, _, err = self.cli("rest", "snapshots", "download", "--collection", "pts", snapshot["snapshot"],
                                    "--output", path)
            self.assertEqual(code, 0, err)
            served = requests.get(f"{self.api}/snapshots/{snapshot['snapshot']}", timeout=30).content
            with open(path, "rb") as f:
                self.assertEqual(f.read(), served)
            self.assertEqual(len(served), snapshot["size"])
            code, _, err = self.cli("grpc", "snapshots", "download", "--collection", "pts", snapshot["snapshot"],
                                    "--output", path + ".grpc")
            self.assertEqual(code, 2)
            self.assertIn("UNIMPLEMENTED", err)
            self.assertFalse(os.path.exists(path + ".grpc"))

            extra = {"points": [{"id": 5000 + i, "vector": [0, 0, 0, i]} for i in range(3)]}
            for transport, how in (("grpc", "restore"), ("rest", "restore"), ("grpc", "upload"), ("rest", "upload")):
                with self.subTest(transport=transport, how=how):
                    requests.put(f"{self.api}/points", json=extra, timeout=10).raise_for_status()
                    self.assertEqual(self.count(), before + 3)
                    source = snapshot["snapshot"] if how == "restore" else path
                    code, _, err = self.cli(transport, "snapshots", how, "--collection", "pts", source)
                    self.assertEqual(code, 0, err)
                    self.assertEqual(self.count(), before)


def write_vecs(path, rows, dtype):
    """An .fvecs (float32), .bvecs (uint8) or .ivecs (int32) file of `rows`."""
    with open(path, "wb") as f:
        for row in rows:
            numpy.int32(len(row)).tofile(f)
            numpy.asarray(row, dtype=dtype).tofile(f)


class Import(WithDaemon):
    """vecmesh import of every format, read back point by point through REST; --resume after a
    kill -9 of the client; bad lines; --via-jobs; and the progress bar on a terminal (tmux)."""

    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="vecmesh-cli-")
        self.env = {"VECMESH_STATE_DIR": os.path.join(self.scratch, "state")}

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.scratch], check=False)

    def path(self, name):
        return os.path.join(self.scratch, name)

    def import_(self, transport, *args):
        return run("--url", self.urls[transport], "import", *args, env=self.env, timeout_s=300)

    def create(self, name, dim):
        requests.put(f"{self.daemon.url}/v1/collections/{name}", json={"dimension": dim},
                     timeout=10).raise_for_status()

    def held(self, name, ids):
        """The collection's points with those ids, by id, read through REST."""
        got = requests.post(f"{self.daemon.url}/v1/collections/{name}/points/get",
                            json={"ids": ids, "with_vector": True, "with_payload": True}, timeout=30)
        got.raise_for_status()
        return {p["id"]: p for p in got.json()["points"]}

    def count(self, name):
        return requests.post(f"{self.daemon.url}/v1/collections/{name}/points/count", json={},
                             timeout=10).json()["count"]

    def test_every_format_is_imported_point_by_point(self):
        rng = numpy.random.default_rng(3)
        base = rng.normal(size=(300, 6)).astype(numpy.float32)
        write_vecs(self.path("a.fvecs"), base, numpy.float32)
        bytes_ = rng.integers(0, 256, size=(300, 6)).astype(numpy.uint8)
        write_vecs(self.path("a.bvecs"), bytes_, numpy.uint8)
        ids = [[1000 + 7 * i] for i in range(300)]
        write_vecs(self.path("a.ivecs"), ids, numpy.int32)
        numpy.save(self.path("a.npy"), base)
        halves = (rng.integers(-2048, 2048, size=(300, 6)) / 8).astype(numpy.float16)  # exact in float16
        numpy.save(self.path("b.npy"), halves)
        with open(self.path("a.jsonl"), "w") as f:
            for i in range(300):
                point = {"id": f"doc-{i}" if i % 2 else i, "vector": base[i].tolist()}
                if i % 3 == 0:
                    point["payload"] = {"i": i, "tag": "ü" * (i % 4), "nested": {"even": i % 2 == 0}}
                f.write(json.dumps(point) + "\n")
                if i == 150:
                    f.write("\n")  # a blank line is skipped
        cases = [
            ("fvecs", "grpc", ["a.fvecs"], list(range(300)), base),
            ("bvecs", "rest", ["a.bvecs", "--ids", self.path("a.ivecs")], [r[0] for r in ids], bytes_),
            ("npy32", "rest", ["a.npy"], list(range(300)), base),
            ("npy16", "grpc", ["b.npy"], list(range(300)), halves),
        ]
        for name, transport, args, want_ids, vectors in cases:
            with self.subTest(format=name):
                self.create(name, 6)
                code, out, err = self.import_(transport, self.path(args[0]), *args[1:], "--collection", name,
                                              "--batch", "64", "--json")
                self.assertEqual(code, 0, err)
                self.assertEqual(json.loads(out)["points"], 300)
                self.assertEqual(self.count(name), 300)
                held = self.held(name, want_ids)
                for i, id_ in enumerate(want_ids):
                    self.assertEqual(held[id_]["vector"], [float(x) for x in vectors[i].astype(numpy.float32)], id_)
        self.create("jsonl", 6)
        code, out, err = self.import_("grpc", self.path("a.jsonl"), "--collection", "jsonl", "--json")
        self.assertEqual(code, 0, err)
        want = [f"doc-{i}" if i % 2 else i for i in range(300)]
        held = self.held("jsonl", want)
        self.assertEqual(len(held), 300)
        for i, id_ in enumerate(want):
            self.assertEqual(held[id_]["vector"], [float(x) for x in base[i]])
            self.assertEqual(held[id_]["payload"],
                             {"i": i, "tag": "ü" * (i % 4), "nested": {"even": i % 2 == 0}} if i % 3 == 0 else {})

    def test_search_takes_its_query_from_a_file_row(self):
        self.create("rows", 6)
        base = numpy.random.default_rng(4).normal(size=(50, 6)).astype(numpy.float32)
        write_vecs(self.path("rows.fvecs"), base, numpy.float32)
        numpy.save(self.path("rows.npy"), base)
        self.assertEqual(self.import_("grpc", self.path("rows.fvecs"), "--collection", "rows")[0], 0)
        for transport, name in (("grpc", "rows.fvecs"), ("rest", "rows.npy")):
            with self.subTest(file=name):
                code, out, err = run("--url", self.urls[transport], "search", "--collection", "rows", "--from",
                                     self.path(name), "--row", "17", "-k", "3", "--json")
                self.assertEqual(code, 0, err)
                results = json.loads(out)["results"]
                self.assertEqual(results[0]["id"], 17)  # row 17 is point 17: its own nearest
                self.assertAlmostEqual(results[0]["score"], 0.0, places=5)
        code, _, err = run("--url", self.urls["grpc"], "search", "--collection", "rows", "--from",
                           self.path("rows.fvecs"), "--row", "50")
        self.assertEqual(code, 1)
        self.assertIn("50", err)

    def test_bad_lines_are_reported_with_their_number(self):
        self.create("bad", 2)
        with open(self.path("bad.jsonl"), "w") as f:
            f.write('{"id": 1, "vector": [1, 2]}\n\n{"id": 2, "vector": [1, "x"]}\n{"id": 3, "vector": [3, 4]}\n'
                    '{"id": 4, "vector": [5, 6], "payload": 7}\n{"id": 5, "vector": [7, 8]}\n')
        code, _, err = self.import_("rest", self.path("bad.jsonl"), "--collection", "bad")
        self.assertEqual(code, 1)
        self.assertIn("line 3", err)
        self.assertIn("stopped at a bad record", err)
        self.assertEqual(self.count("bad"), 1)  # the line before it, and nothing after
        code, _, err = self.import_("rest", self.path("bad.jsonl"), "--collection", "bad", "--skip-bad", "1")
        self.assertEqual(code, 1)
        self.assertIn("line 5", err)
        code, out, err = self.import_("grpc", self.path("bad.jsonl"), "--collection", "bad", "--skip-bad", "2",
                                      "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["skipped"], 2)
        self.assertEqual(sorted(self.held("bad", [1, 2, 3, 4, 5])), [1, 3, 5])

    def test_batches_shrink_to_the_servers_limits(self):
        # A body past 32 MiB at the default batch: 400 points of 12,000 values (about 55 MB of JSON).
        wide = numpy.random.default_rng(6).normal(size=(400, 12_000)).astype(numpy.float32)
        write_vecs(self.path("wide.fvecs"), wide, numpy.float32)
        self.create("wide", 12_000)
        code, out, err = self.import_("rest", self.path("wide.fvecs"), "--collection", "wide", "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.count("wide"), 400)
        self.assertEqual(self.held("wide", [399])[399]["vector"], [float(x) for x in wide[399]])
        # A server whose body limit (1 MiB) is below a batch's: it answers 413 as soon as it has read
        # the headers, often while the body is still being sent.
        tight = Daemon(args=["--access-log", "false", "--max-body-bytes", "1048576"]).start()
        try:
            requests.put(f"{tight.url}/v1/collections/t", json={"dimension": 1000}, timeout=10).raise_for_status()
            write_vecs(self.path("t.fvecs"), numpy.random.default_rng(8).normal(size=(300, 1000)), numpy.float32)
            for url in (f"grpc://127.0.0.1:{tight.grpc_port}", tight.url):
                with self.subTest(url=url):
                    code, _, err = run("--url", url, "import", self.path("t.fvecs"), "--collection", "t",
                                       env=self.env, timeout_s=300)
                    self.assertEqual(code, 0, err)
            self.assertEqual(requests.post(f"{tight.url}/v1/collections/t/points/count", json={},
                                           timeout=10).json()["count"], 300)
        finally:
            tight.cleanup()
        # A server whose limit on points per upsert is below --batch.
        small = Daemon(args=["--access-log", "false", "--max-points-per-upsert", "50"]).start()
        try:
            requests.put(f"{small.url}/v1/collections/c", json={"dimension": 8}, timeout=10).raise_for_status()
            write_vecs(self.path("p.fvecs"), numpy.ones((500, 8)), numpy.float32)
            for url in (f"grpc://127.0.0.1:{small.grpc_port}", small.url):
                code, _, err = run("--url", url, "import", self.path("p.fvecs"), "--collection", "c",
                                   "--batch", "200", env=self.env)
                self.assertEqual(code, 0, err)
            self.assertEqual(requests.post(f"{small.url}/v1/collections/c/points/count", json={},
                                           timeout=10).json()["count"], 500)
        finally:
            small.cleanup()

    def test_payload_integers_beyond_2_53_travel_exactly_or_not_at_all(self):
        self.create("big", 2)
        with open(self.path("big.jsonl"), "w") as f:
            f.write('{"id": 1, "vector": [1, 2], "payload": {"n": 9007199254740993, "x": 1.5}}\n')
        code, _, err = self.import_("grpc", self.path("big.jsonl"), "--collection", "big")
        self.assertEqual(code, 2)
        self.assertIn("points[0].payload.n is an integer beyond 2^53", err)
        self.assertEqual(self.count("big"), 0)
        code, _, err = self.import_("rest", self.path("big.jsonl"), "--collection", "big")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.held("big", [1])[1]["payload"], {"n": 9007199254740993, "x": 1.5})

    def test_import_exit_codes(self):
        self.create("dims", 3)
        write_vecs(self.path("d4.fvecs"), numpy.ones((5, 4)), numpy.float32)
        code, _, err = self.import_("grpc", self.path("d4.fvecs"), "--collection", "dims")
        self.assertEqual(code, 2)
        self.assertIn("INVALID_ARGUMENT", err)
        self.assertEqual(self.count("dims"), 0)
        code, _, err = self.import_("grpc", self.path("missing.fvecs"), "--collection", "dims")
        self.assertEqual(code, 1)
        self.assertIn("missing.fvecs", err)
        code, _, err = run("--url", f"grpc://127.0.0.1:{free_port()}", "--timeout-ms", "500", "import",
                           self.path("d4.fvecs"), "--collection", "dims", env=self.env, timeout_s=120)
        self.assertEqual(code, 3, err)

    def test_via_jobs(self):
        self.create("jobs", 6)
        base = numpy.random.default_rng(5).normal(size=(1000, 6)).astype(numpy.float32)
        write_vecs(self.path("j.fvecs"), base, numpy.float32)
        code, out, err = self.import_("rest", self.path("j.fvecs"), "--collection", "jobs", "--via-jobs",
                                      "--batch", "250", "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["jobs"], 4)
        self.assertEqual(self.count("jobs"), 1000)  # every job done before the command returned
        held = self.held("jobs", [0, 999])
        self.assertEqual(held[999]["vector"], [float(x) for x in base[999]])

    def test_resume_after_the_client_is_killed(self):
        n = 200_000
        self.create("resume", 8)
        base = numpy.random.default_rng(9).normal(size=(n, 8)).astype(numpy.float32)
        write_vecs(self.path("r.fvecs"), base, numpy.float32)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("VECMESH_")}
        client = subprocess.Popen([CLI, "--url", self.urls["grpc"], "import", self.path("r.fvecs"),
                                   "--collection", "resume", "--batch", "200"],
                                  env=dict(clean, **self.env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 120
            while self.count("resume") < n // 5:
                self.assertLess(time.time(), deadline, "the import made no progress")
                self.assertIsNone(client.poll(), "the import ended before it could be killed")
                time.sleep(0.02)
        finally:
            client.kill()
            client.wait()
        written = self.count("resume")
        self.assertLess(written, n)
        # Resumed with another batch size; the same server, the same URL (the state is kept per URL).
        code, out, err = self.import_("grpc", self.path("r.fvecs"), "--collection", "resume", "--batch", "2000",
                                      "--resume", "--json")
        self.assertEqual(code, 0, err)
        resumed_after = int(re.search(r"after (\d+) records", err).group(1))
        self.assertGreater(resumed_after, 0)
        self.assertLessEqual(resumed_after, written)  # never past what the server holds
        self.assertEqual(self.count("resume"), n)  # every point, each once (ids are the rows)
        held = self.held("resume", [0, resumed_after - 1, resumed_after, n - 1])
        for i in (0, resumed_after - 1, resumed_after, n - 1):
            self.assertEqual(held[i]["vector"], [float(x) for x in base[i]])
        # Done: nothing is left to resume.
        code, _, err = self.import_("grpc", self.path("r.fvecs"), "--collection", "resume", "--resume")
        self.assertEqual(code, 0)
        self.assertIn("nothing to resume", err)

    @unittest.skipUnless(shutil.which("tmux"), "tmux is not installed (scripts/install-deps installs it)")
    def test_the_progress_bar_draws_on_a_terminal_and_ends_at_100(self):
        self.create("bar", 8)
        write_vecs(self.path("bar.fvecs"),
                   numpy.random.default_rng(2).normal(size=(100_000, 8)).astype(numpy.float32), numpy.float32)
        session = f"vecmesh-cli-{os.getpid()}"
        command = (f"VECMESH_STATE_DIR={self.env['VECMESH_STATE_DIR']} {CLI} --url {self.urls['grpc']} "
                   f"import {self.path('bar.fvecs')} --collection bar --batch 100; echo EXIT=$?; sleep 60")
        socket_dir = self.path("tmux")
        os.mkdir(socket_dir)
        tmux = ["tmux", "-S", os.path.join(socket_dir, "socket")]
        # 80 columns: the bar's line must not wrap (a wrapped line is redrawn a row at a time).
        subprocess.run(tmux + ["new-session", "-d", "-s", session, "-x", "80", "-y", "10", command], check=True)
        try:
            partial, screen = None, ""
            deadline = time.time() + 120
            while "EXIT=" not in screen:
                self.assertLess(time.time(), deadline, screen)
                screen = subprocess.run(tmux + ["capture-pane", "-p", "-t", session], capture_output=True,
                                        text=True).stdout
                match = re.search(r"\[(#*) *\] import bar\.fvecs: (\d+)/100000 points +([\d.]+)%", screen)
                if match and float(match.group(3)) < 100 and partial is None:
                    partial = match.groups()
                time.sleep(0.05)
        finally:
            subprocess.run(tmux + ["kill-server"], check=False)
        self.assertIsNotNone(partial, "no partial bar was seen")
        self.assertEqual(len(partial[0]), round(float(partial[2]) * 30 / 100), partial)
        self.assertRegex(screen, r"\[#{30}\] import bar\.fvecs: 100000/100000 points 100\.0%")
        self.assertIn("EXIT=0", screen)
        # The bar's rows never reach the edge (a line that long would have wrapped).
        self.assertFalse(any(len(row) >= 80 for row in screen.splitlines() if "import bar.fvecs:" in row),
                         screen)
        self.assertIn("imported 100000 points", screen)


class ExitCodes(unittest.TestCase):
    def test_usage_errors_exit_1_and_name_the_problem(self):
        cases = [
            (["frobnicate"], "'frobnicate' is not a command"),
            ([], "no command"),
            (["collections", "create", "x"], "needs --dimension"),
            (["collections", "create", "x", "--dimension", "0"], "--dimension is '0'"),
            (["collections", "create", "x", "--dimension", "4", "--colour", "red"],
             "--colour is not an option of 'collections create'"),
            (["collections", "info"], "takes one NAME"),
            (["--rest", "--url", "grpc://127.0.0.1:1", "health"], "--rest needs an http"),
            (["--url", "ftp://x", "health"], "is not grpc://"),
            (["--timeout-ms", "soon", "health"], "--timeout-ms is 'soon'"),
            (["health", "--url"], "--url needs a value"),
            (["--tls-ca-file", "/nonexistent/ca.pem", "health"], "the CA file '/nonexistent/ca.pem'"),
            (["--api-key", "a\x01b", "health"], "the key holds a control character"),
            (["search", "--collection", "c", "--vector", "[1e39]"], "--vector[0] is 1e+39: beyond float32's range"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                code, _, err = run(*args)
                self.assertEqual(code, 1, err)
                self.assertIn(message, err)

    def test_help_exits_0(self):
        code, out, _ = run("--help")
        self.assertEqual(code, 0)
        self.assertIn("Exit codes", out)

    def test_an_unreachable_server_exits_3(self):
        port = free_port()  # nothing listens there
        for url in (f"grpc://127.0.0.1:{port}", f"http://127.0.0.1:{port}"):
            with self.subTest(url=url):
                code, out, err = run("--url", url, "--timeout-ms", "3000", "collections", "list", "--json")
                self.assertEqual(code, 3, err)
                self.assertEqual(json.loads(out)["error"]["code"], "UNREACHABLE")
                self.assertIn("unreachable", err)


class Keys(unittest.TestCase):
    """The key from --api-key, VECMESH_API_KEY or --api-key-file, over both transports."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(args=["--access-log", "false"],
                            env={"VECMESH_ADMIN_KEYS": "adm-key", "VECMESH_READ_ONLY_KEYS": "ro-key"}).start()
        cls.key_file = tempfile.NamedTemporaryFile("w", suffix=".key", delete=False)
        cls.key_file.write("adm-key\r\n")  # written on Windows: the \r is not part of the key
        cls.key_file.close()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()
        os.unlink(cls.key_file.name)

    def test_keys(self):
        for url in (f"grpc://127.0.0.1:{self.daemon.grpc_port}", self.daemon.url):
            with self.subTest(url=url):
                code, _, err = run("--url", url, "collections", "list")
                self.assertEqual(code, 2)
                self.assertIn("UNAUTHENTICATED", err)
                code, _, err = run("--url", url, "--api-key", "ro-key", "collections", "create", "k",
                                   "--dimension", "4")
                self.assertEqual(code, 2)
                self.assertIn("PERMISSION_DENIED", err)
                self.assertEqual(run("collections", "list", env={"VECMESH_URL": url,
                                                                "VECMESH_API_KEY": "ro-key"})[0], 0)
                code, _, err = run("--url", url, "--api-key-file", self.key_file.name,
                                   "collections", "create", "k", "--dimension", "4")
                self.assertEqual(code, 0, err)
                # The environment's key file; the command line's key before its key file.
                self.assertEqual(run("--url", url, "collections", "list",
                                     env={"VECMESH_API_KEY_FILE": self.key_file.name})[0], 0)
                code, _, err = run("--url", url, "--api-key", "ro-key", "--api-key-file", self.key_file.name,
                                   "collections", "create", "k3", "--dimension", "4")
                self.assertEqual(code, 2)
                self.assertIn("PERMISSION_DENIED", err)
                # The command line's key file before the environment's key.
                code, _, err = run("--url", url, "--api-key-file", self.key_file.name, "collections", "create",
                                   "k2", "--dimension", "4", env={"VECMESH_API_KEY": "ro-key"})
                self.assertEqual(code, 0, err)


if __name__ == "__main__":
    unittest.main()
