"""The Qdrant double's harness (tests/support/qdrant_double.py): every acknowledged write survives
kill -9 and a restart on the same port and data; the API key is enforced as Qdrant enforces it; a
request that breaks Qdrant's OpenAPI document is refused and listed as a violation, and the CLI's
stop fails the run for it; the watchdog kills a double whose owner is gone; the context manager
stops the double when the test fails inside it."""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent.parent / "support"
sys.path.insert(0, str(SUPPORT))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from qdrant_double import QdrantDouble  # noqa: E402
from server_process import group_alive, http_ok, json_request, wait_for  # noqa: E402

DOUBLE = str(SUPPORT / "qdrant_double.py")


def scroll_all(url, name, headers=None):
    status, body = json_request(url, "POST", f"/collections/{name}/points/scroll",
                                {"limit": 10000, "with_vector": True}, headers)
    assert status == 200, body
    return body["result"]["points"]


class QdrantDoubleTest(unittest.TestCase):
    def test_acknowledged_writes_survive_kill_and_restart_on_the_same_port_and_data(self):
        with QdrantDouble() as q:
            url = q.url
            status, body = json_request(url, "PUT", "/collections/survivors",
                                        {"vectors": {"size": 2, "distance": "Dot"}})
            self.assertEqual(status, 200, body)
            status, body = json_request(url, "PUT", "/collections/survivors/points", {"points": [
                {"id": 1, "vector": [1, 2], "payload": {"a": 1}},
                {"id": "0B2D7C5E-1F3A-4B6C-8D9E-0F1A2B3C4D5E", "vector": [3, 4]}]})
            self.assertEqual((status, body["result"]["status"]), (200, "acknowledged"), body)
            status, body = json_request(url, "POST", "/collections/survivors/points/payload?wait=true",
                                        {"payload": {"b": 2}, "points": [1]})
            self.assertEqual(status, 200, body)

            # A writer that keeps upserting, one point a request, while the double is killed.
            acknowledged, stop = [], threading.Event()

            def writer():
                for i in range(100, 100000):
                    if stop.is_set():
                        return
                    try:
                        status, _ = json_request(url, "PUT", "/collections/survivors/points?wait=true",
                                                 {"points": [{"id": i, "vector": [i, 1]}]}, timeout_s=5)
                    except OSError:
                        return
                    if status != 200:
                        return
                    acknowledged.append(i)

            thread = threading.Thread(target=writer)
            thread.start()
            try:
                self.assertTrue(wait_for(lambda: len(acknowledged) >= 50, 30), "the writer stalled")
                before = scroll_all(url, "survivors")
                group = q.process.pid
                q.kill()
                self.assertFalse(group_alive(group))
            finally:
                stop.set()
                thread.join(30)
            self.assertFalse(http_ok(url + "/healthz"))

            q.start()
            self.assertEqual(q.url, url)
            after = {p["id"]: p for p in scroll_all(url, "survivors")}
            for point in before:
                self.assertEqual(after[point["id"]], point)
            missing = [i for i in acknowledged if i not in after]
            self.assertEqual(missing, [], "acknowledged writes lost by kill -9")
            self.assertEqual(after[1]["payload"], {"a": 1, "b": 2})
            self.assertEqual(after["0b2d7c5e-1f3a-4b6c-8d9e-0f1a2b3c4d5e"]["vector"], [3.0, 4.0])
            status, body = json_request(url, "GET", "/collections/survivors")
            self.assertEqual(body["result"]["points_count"], len(after))
            self.assertEqual(q.violations(), [])

    def test_the_api_key_is_enforced_as_qdrant_enforces_it(self):
        with QdrantDouble(api_key="s3cret") as q:
            self.assertEqual(json_request(q.url, "GET", "/collections"),
                             (401, "Must provide an API key or an Authorization bearer token"))
            self.assertEqual(json_request(q.url, "GET", "/collections", headers={"api-key": "wrong"}),
                             (401, "Invalid API key or JWT"))
            status, body = json_request(q.url, "GET", "/collections", headers={"api-key": "s3cret"})
            self.assertEqual((status, body["result"]), (200, {"collections": []}))
            status, _ = json_request(q.url, "GET", "/collections",
                                     headers={"Authorization": "Bearer s3cret"})
            self.assertEqual(status, 200)
            status, body = json_request(q.url, "PUT", "/collections/c",
                                        {"vectors": {"size": 2, "distance": "Dot"}})
            self.assertEqual(status, 401)
            self.assertEqual(json_request(q.url, "GET", "/collections/c/exists",
                                          headers={"api-key": "s3cret"})[1]["result"], {"exists": False})
            # Qdrant's health endpoints need no key.
            self.assertEqual(json_request(q.url, "GET", "/healthz"), (200, "healthz check passed"))
            self.assertEqual(json_request(q.url, "GET", "/")[1]["version"], "1.19.0")
            self.assertEqual(q.violations(), [])

    def test_requests_outside_the_document_are_refused_and_listed(self):
        with QdrantDouble() as q:
            json_request(q.url, "PUT", "/collections/v", {"vectors": {"size": 2, "distance": "Cosine"}})
            status, body = json_request(q.url, "PUT", "/collections/v/points",
                                        {"points": [{"id": "not-a-uuid", "vector": [1, 2]}]})
            self.assertEqual(status, 400)
            self.assertEqual(body["status"]["error"],
                             "Format error in JSON body: value not-a-uuid is not a valid point ID, "
                             "valid values are either an unsigned integer or a UUID")
            status, body = json_request(q.url, "POST", "/collections/v/points/scroll", {"limit": 0})
            self.assertEqual(status, 422)
            self.assertTrue(body["status"]["error"].startswith("Validation error in JSON body"), body)
            status, body = json_request(q.url, "POST", "/collections/v/points/search",
                                        {"vector": [1, 2], "limit": 3})
            self.assertEqual(status, 404)
            status, body = json_request(q.url, "PUT", "/collections/v/points?wait=maybe",
                                        {"points": [{"id": 1, "vector": [1, 2]}]})
            self.assertEqual(status, 400, body)
            violations = q.violations()
            self.assertEqual([(v["method"], v["path"], v["kind"]) for v in violations], [
                ("PUT", "/collections/v/points", "request"),
                ("POST", "/collections/v/points/scroll", "request"),
                ("POST", "/collections/v/points/search", "request"),
                ("PUT", "/collections/v/points?wait=maybe", "request")])
            status, listed = json_request(q.url, "GET", "/__double/violations")
            self.assertEqual((status, listed), (200, violations))
            # Refused writes changed nothing.
            self.assertEqual(scroll_all(q.url, "v"), [])

    def test_the_context_manager_stops_the_double_when_the_test_fails(self):
        with self.assertRaises(ZeroDivisionError):
            with QdrantDouble() as q:
                group, url, scratch = q.process.pid, q.url, q._scratch
                1 / 0
        self.assertFalse(group_alive(group))
        self.assertFalse(http_ok(url + "/healthz"))
        self.assertFalse(os.path.exists(scratch))

    def test_the_cli_stop_fails_when_violations_were_recorded(self):
        with tempfile.TemporaryDirectory(prefix="vecmesh-qdrant-cli-") as state:
            try:
                subprocess.run([sys.executable, DOUBLE, "start", "--state", state,
                                "--owner-pid", str(os.getpid())], check=True, timeout=60)
                url = Path(state, "url").read_text().strip()
                self.assertEqual(json_request(url, "GET", "/collections")[0], 200)
                json_request(url, "POST", "/collections/x/points/count", {"exact": "yes"})
            finally:
                stop = subprocess.run([sys.executable, DOUBLE, "stop", "--state", state],
                                      capture_output=True, text=True, timeout=60)
            self.assertEqual(stop.returncode, 1, stop.stdout + stop.stderr)
            self.assertIn("POST /collections/x/points/count", stop.stdout)
            self.assertFalse(http_ok(url + "/healthz"))

    def test_the_cli_watchdog_kills_the_double_when_its_owner_is_gone(self):
        owner = subprocess.Popen(["sleep", "600"])
        with tempfile.TemporaryDirectory(prefix="vecmesh-qdrant-cli-") as state:
            try:
                subprocess.run([sys.executable, DOUBLE, "start", "--state", state,
                                "--owner-pid", str(owner.pid)], check=True, timeout=60)
                url = Path(state, "url").read_text().strip()
                self.assertTrue(http_ok(url + "/healthz"))
                group = int(dict(line.split("=", 1) for line in
                                 Path(state, "server").read_text().splitlines())["pgid"])
                owner.send_signal(signal.SIGKILL)
                owner.wait()
                self.assertTrue(wait_for(lambda: not group_alive(group), 15),
                                "the double outlived its owner")
                self.assertFalse(http_ok(url + "/healthz"))
            finally:
                owner.kill()
                owner.wait()
                subprocess.run([sys.executable, DOUBLE, "stop", "--state", state], check=False,
                               timeout=60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
