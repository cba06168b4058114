"""The vecmesh command line against a real vecmeshd, over gRPC and over REST: what it prints
(tables and --json, the JSON checked against what vecmeshd's REST API says, read with requests),
and its exit codes: 0 ok, 1 usage, 2 refused by the server, 3 unreachable.

The binary comes from VECMESH_CLI, the daemon from VECMESH_DAEMON (CTest sets both).
"""
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

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
        cls.key_file.write("adm-key\n")
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


if __name__ == "__main__":
    unittest.main()
