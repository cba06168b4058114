"""The Chroma test harness itself (tests/support/chroma_server.py): records survive kill -9 and a
restart on the same port and data; the server's whole process group goes with stop() and with the
context manager, even when the test fails inside it; the CLI's watchdog kills a server whose owner
disappears."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent.parent / "support"
sys.path.insert(0, str(SUPPORT))
from chroma_server import ChromaServer, _group_alive, _heartbeat, rest  # noqa: E402

P = "/api/v2/tenants/default_tenant/databases/default_database"


def wait_for(predicate, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class ChromaServerTest(unittest.TestCase):
    def test_records_survive_kill_and_restart_on_the_same_port_and_data(self):
        with ChromaServer() as chroma:
            url = chroma.url
            status, created = rest(url, "POST", f"{P}/collections",
                                   {"name": "survivors", "configuration": {"hnsw": {"space": "cosine"}}})
            self.assertEqual(status, 200, created)
            c = f"{P}/collections/{created['id']}"
            status, body = rest(url, "POST", f"{c}/add", {
                "ids": ["a", "b"], "embeddings": [[1, 0], [0, 1]], "metadatas": [{"n": 1}, {"n": 2}]})
            self.assertEqual(status, 201, body)

            group = chroma.process.pid
            chroma.kill()
            self.assertFalse(_group_alive(group))
            self.assertFalse(_heartbeat(url))

            chroma.start()
            self.assertEqual(chroma.url, url)
            self.assertEqual(rest(url, "GET", f"{c}/count"), (200, 2))
            status, got = rest(url, "POST", f"{c}/get", {"ids": ["a", "b"], "include": ["metadatas"]})
            self.assertEqual(status, 200, got)
            self.assertEqual(got["ids"], ["a", "b"])
            self.assertEqual(got["metadatas"], [{"n": 1}, {"n": 2}])

            group = chroma.process.pid
            chroma.stop()
            self.assertFalse(_group_alive(group))

    def test_the_context_manager_stops_the_server_when_the_test_fails(self):
        with self.assertRaises(ZeroDivisionError):
            with ChromaServer() as chroma:
                group, url, scratch = chroma.process.pid, chroma.url, chroma._scratch
                1 / 0
        self.assertFalse(_group_alive(group))
        self.assertFalse(_heartbeat(url))
        self.assertFalse(os.path.exists(scratch))

    def test_the_cli_watchdog_kills_the_server_when_its_owner_is_gone(self):
        owner = subprocess.Popen(["sleep", "600"])
        with tempfile.TemporaryDirectory(prefix="vecmesh-chroma-cli-") as state:
            try:
                subprocess.run([sys.executable, str(SUPPORT / "chroma_server.py"), "start",
                                "--state", state, "--owner-pid", str(owner.pid)],
                               check=True, timeout=120)
                url = Path(state, "url").read_text().strip()
                self.assertTrue(_heartbeat(url))
                group = int(dict(line.split("=", 1) for line in
                                 Path(state, "server").read_text().splitlines())["pgid"])
                owner.send_signal(signal.SIGKILL)
                owner.wait()
                self.assertTrue(wait_for(lambda: not _group_alive(group), 15),
                                "the server outlived its owner")
                self.assertFalse(_heartbeat(url))
            finally:
                owner.kill()
                owner.wait()
                subprocess.run([sys.executable, str(SUPPORT / "chroma_server.py"), "stop",
                                "--state", state], check=False, timeout=60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
