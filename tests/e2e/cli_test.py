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


class Collections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(args=["--access-log", "false"]).start()
        cls.urls = {"grpc": f"grpc://127.0.0.1:{cls.daemon.grpc_port}", "rest": cls.daemon.url}

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def cli(self, transport, *args):
        return run("--url", self.urls[transport], *args)

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
