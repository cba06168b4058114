"""The Consul double (tests/support/consul_double.py) held to Consul's documented semantics.

The registration cases (RegistrationCases) run against a double this test starts, and the same
cases against a real Consul agent whenever CONSUL_HTTP_ADDR is set (its token from
CONSUL_HTTP_TOKEN): registration with an HTTP and a gRPC check against small servers started here,
which turn passing, then critical, with ?passing leaving the instance out; TTL checks; a critical
service deregistered after DeregisterCriticalServiceAfter; blocking queries; KV; the ACL token;
malformed registrations refused. On the double every request a case did not mean to be malformed
must be free of violations. The harness cases (DoubleHarness) need the double itself: a restart
forgets registrations and keeps KV, the index reset, kill and start, the fixture CLI whose stop
fails on violations.

    consul_double_test.py            the cases on the double, and the harness
    consul_double_test.py --live     the cases on the agent at CONSUL_HTTP_ADDR; without it, says
                                     SKIPPED and why, and exits 77 (CTest's SKIP_RETURN_CODE)
    consul_double_test.py --fixture  a round trip on the fixture's double (VECMESH_CONSUL_URL_FILE)

The real agent runs the checks, so it must reach this machine's 127.0.0.1 (an agent on this
machine: `consul agent -dev`); with CONSUL_HTTP_TOKEN set, its default ACL policy must be deny, as
the platform's. On a real agent the deregistration case waits Consul's minimum (1 min) plus one reap
interval (30 s).
"""
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent.parent / "support"
sys.path.insert(0, str(SUPPORT))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import consul_double  # noqa: E402
from consul_double import ConsulDouble, request  # noqa: E402
from consul_types import NS_PER_S, parse_go_duration  # noqa: E402
from server_process import free_port, group_alive, http_ok, wait_for  # noqa: E402

DOUBLE = str(SUPPORT / "consul_double.py")
SKIP_CODE = 77
HOST = "127.0.0.1"


# --- what the checks look at ---------------------------------------------------------------------

class HealthServer:
    """An HTTP server on a free loopback port: GET /health answers `status` (with body "ok"),
    /slow answers 200 after slow_s. Remembers each request (method, path, headers)."""

    def __init__(self):
        self.status, self.slow_s, self.requests = 200, 3.0, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                outer.requests.append((self.command, self.path, dict(self.headers)))
                if self.path == "/slow":
                    time.sleep(outer.slow_s)
                status = 200 if self.path == "/slow" else outer.status
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):  # the check timed out and left
                    pass

            do_GET = do_POST = _answer

            def log_message(self, format, *args):  # noqa: A002
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{HOST}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class GrpcHealthServer:
    """grpc.health.v1.Health/Check on a free loopback port, written with raw bytes so that it does
    not share the double's encoding: `serving` maps a service name ("" for the server) to SERVING
    (1) or NOT_SERVING (2)."""

    def __init__(self):
        import grpc
        self.serving = {"": 1}

        def check(request, context):
            # HealthCheckRequest{service}: absent, or tag 0x0a, a one-byte length, the name.
            service = request[2:2 + request[1]].decode() if request else ""
            if service not in self.serving:
                context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
            return b"\x08" + bytes([self.serving[service]])  # HealthCheckResponse{status}

        handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(check)})
        self.server = grpc.server(ThreadPoolExecutor(max_workers=4), handlers=[handler])
        self.target = f"{HOST}:{self.server.add_insecure_port(f'{HOST}:0')}"
        self.server.start()

    def close(self):
        self.server.stop(None).wait(10)


# --- the cases, on the double and on a real agent ------------------------------------------------

class RegistrationCases:
    """Set by the subclass: url, token, double (or None), and the profile: interval (a check
    Interval), ttl, deregister_after (DeregisterCriticalServiceAfter), deregister_min_s (what
    the agent raises a smaller one to), reap_s (its reap interval), settle_s (how long a check's
    result may take to show)."""

    # --- helpers ---

    def setUp(self):
        self.name = f"vecmesh-test-{uuid.uuid4().hex[:10]}"
        self.prefix = f"vecmesh-test/{uuid.uuid4().hex[:10]}"
        self.registered = []
        self.addCleanup(self._clean_up)

    def _clean_up(self):
        for service_id in self.registered:
            self.call("PUT", f"/v1/agent/service/deregister/{service_id}")
        self.call("DELETE", f"/v1/kv/{self.prefix}?recurse")

    def call(self, method, path, body=None, token=None, headers=None, timeout_s=30):
        return request(self.url, method, path, body, self.token if token is None else token,
                       timeout_s, headers)

    def ok(self, method, path, body=None):
        status, headers, answer = self.call(method, path, body)
        self.assertEqual(status, 200, f"{method} {path}: {answer}")
        return answer, headers

    def register(self, definition, query=""):
        self.registered.append(definition.get("ID") or definition["Name"])
        self.ok("PUT", f"/v1/agent/service/register{query}", definition)

    def agent_checks(self):
        return self.ok("GET", "/v1/agent/checks")[0]

    def wait_check(self, check_id, status, contains="", timeout_s=None):
        """Waits until the agent's check check_id has status (and its output holds contains)."""
        seen = {}

        def there():
            seen.update(self.agent_checks().get(check_id) or {"missing": True})
            return seen.get("Status") == status and contains in seen.get("Output", "")
        self.assertTrue(wait_for(there, timeout_s or self.settle_s, 0.1),
                        f"check {check_id} is not {status} (with {contains!r}): {seen}")
        return seen

    def health(self, query=""):
        answer, headers = self.ok("GET", f"/v1/health/service/{self.name}{query}")
        return answer, int(headers["x-consul-index"])

    def passing_ids(self):
        return sorted(e["Service"]["ID"] for e in self.health("?passing")[0])

    def take_violations(self):
        """The violations recorded since the last call (None on a real agent)."""
        return None

    # --- cases ---

    def test_http_and_grpc_checks_run_and_passing_leaves_a_failing_instance_out(self):
        http, grpc = HealthServer(), GrpcHealthServer()
        self.addCleanup(http.close)
        self.addCleanup(grpc.close)
        sid, other = f"{self.name}-rest", f"{self.name}-ttl"
        self.register({"ID": sid, "Name": self.name, "Tags": ["vecmesh", "rest", "grpc"],
                       "Address": HOST, "Port": 8000,
                       "Meta": {"grpc_port": "50051", "version": "t"},
                       "Checks": [{"HTTP": f"{http.url}/health", "Header": {"X-Probe": ["vecmesh"]},
                                   "Interval": self.interval, "Timeout": "2s"},
                                  {"GRPC": grpc.target, "Interval": self.interval}]})
        self.register({"ID": other, "Name": self.name, "Tags": ["vecmesh"], "Address": HOST,
                       "Port": 8001, "Check": {"CheckID": f"{other}-ttl", "TTL": "10m"}})
        self.ok("PUT", f"/v1/agent/check/pass/{other}-ttl")
        http_check, grpc_check = f"service:{sid}:1", f"service:{sid}:2"  # Consul's default IDs
        seen = self.wait_check(http_check, "passing")
        self.assertEqual((seen["Type"], seen["ServiceID"], seen["ServiceName"]),
                         ("http", sid, self.name))
        self.assertEqual(seen["Output"], f"HTTP GET {http.url}/health: 200 OK Output: ok")
        seen = self.wait_check(grpc_check, "passing")
        self.assertEqual((seen["Type"], seen["Output"]),
                         ("grpc", f"gRPC check {grpc.target}: success"))
        method, path, headers = http.requests[-1]
        self.assertEqual((method, path, headers.get("User-Agent"), headers.get("X-Probe")),
                         ("GET", "/health", "Consul Health Check", "vecmesh"))

        entries, _ = self.health("?passing")
        self.assertEqual(sorted(e["Service"]["ID"] for e in entries), sorted([other, sid]))
        entry = next(e for e in entries if e["Service"]["ID"] == sid)
        self.assertEqual({k: entry["Service"][k] for k in ("Service", "Address", "Port", "Tags",
                                                           "Meta")},
                         {"Service": self.name, "Address": HOST, "Port": 8000,
                          "Tags": ["vecmesh", "rest", "grpc"],
                          "Meta": {"grpc_port": "50051", "version": "t"}})
        self.assertTrue(entry["Node"]["Node"] and entry["Node"]["Address"])
        checks = {c["CheckID"]: c for c in entry["Checks"]}
        self.assertEqual(checks["serfHealth"]["Status"], "passing")  # the node's own check
        self.assertEqual({checks[c]["Status"] for c in (http_check, grpc_check)}, {"passing"})
        self.assertEqual(sorted(e["Service"]["ID"] for e in self.health("?tag=rest")[0]), [sid])
        self.assertEqual(self.health("?tag=rest&tag=grpc&passing=true")[0][0]["Service"]["ID"], sid)
        self.assertEqual(self.health("?tag=absent")[0], [])
        catalog, _ = self.ok("GET", f"/v1/catalog/service/{self.name}")
        self.assertEqual(sorted((e["ServiceID"], e["ServicePort"]) for e in catalog),
                         sorted([(sid, 8000), (other, 8001)]))
        services, _ = self.ok("GET", "/v1/catalog/services")
        self.assertEqual(sorted(services[self.name]), ["grpc", "rest", "vecmesh"])

        # The HTTP server answers 503: critical, out of ?passing, still in the plain listing.
        http.status = 503
        self.wait_check(http_check, "critical", "503")
        self.assertEqual(self.passing_ids(), [other])
        self.assertEqual(sorted(e["Service"]["ID"] for e in self.health()[0]), sorted([other, sid]))
        # 429 is a warning, which ?passing leaves out too; 200 brings it back.
        http.status = 429
        self.wait_check(http_check, "warning", "429")
        self.assertEqual(self.passing_ids(), [other])
        http.status = 200
        self.wait_check(http_check, "passing")
        self.assertTrue(wait_for(lambda: self.passing_ids() == sorted([other, sid]), self.settle_s))
        # The gRPC server stops serving: critical, out again.
        grpc.serving[""] = 2
        self.wait_check(grpc_check, "critical", "NOT_SERVING")
        self.assertEqual(self.passing_ids(), [other])

    def test_an_http_check_that_times_out_is_critical(self):
        http = HealthServer()
        self.addCleanup(http.close)
        self.register({"ID": self.name, "Name": self.name, "Port": 1, "Check": {
            "CheckID": f"{self.name}-slow", "HTTP": f"{http.url}/slow", "Interval": self.interval,
            "Timeout": "500ms"}})
        self.wait_check(f"{self.name}-slow", "critical", "deadline exceeded")

    def test_ttl_checks_pass_warn_fail_and_expire(self):
        check = f"{self.name}-heartbeat"
        self.register({"Name": self.name, "Port": 1, "Check": {
            "CheckID": check, "Name": "heartbeat", "TTL": self.ttl, "Notes": "vecmeshd beats"}})
        seen = self.agent_checks()[check]
        self.assertEqual((seen["Status"], seen["Name"], seen["Notes"], seen["Type"]),
                         ("critical", "heartbeat", "vecmeshd beats", "ttl"))  # critical at first
        for verb, status, note in (("pass", "passing", "alive"), ("warn", "warning", "slow"),
                                   ("fail", "critical", "down"), ("pass", "passing", "again")):
            self.ok("PUT", f"/v1/agent/check/{verb}/{check}?note={note}")
            seen = self.agent_checks()[check]
            self.assertEqual((seen["Status"], seen["Output"]), (status, note))
        # Not passed again within its TTL: critical, with the last output.
        self.wait_check(check, "critical",
                        "TTL expired (last output before timeout follows): again",
                        timeout_s=self.settle_s + 5)
        status, _, answer = self.call("PUT", f"/v1/agent/check/pass/{self.name}-absent")
        self.assertEqual(status, 404, answer)
        self.assertIn("Unknown check ID", answer)
        self.register({"Name": f"{self.name}-http", "Port": 1, "Check": {
            "CheckID": f"{self.name}-http", "HTTP": f"http://{HOST}:{free_port()}/",
            "Interval": self.interval}})
        status, _, answer = self.call("PUT", f"/v1/agent/check/pass/{self.name}-http")
        self.assertEqual(status, 500, answer)
        self.assertIn("does not have associated TTL", answer)

    def test_a_critical_service_is_deregistered_after_deregister_critical_service_after(self):
        closed = f"http://{HOST}:{free_port()}/health"  # nothing listens: always critical
        started = time.monotonic()
        for suffix, after in (("given", self.deregister_after), ("raised", "10ms"), ("kept", None)):
            check = {"HTTP": closed, "Interval": self.interval}
            if after:
                check["DeregisterCriticalServiceAfter"] = after
            self.register({"ID": f"{self.name}-{suffix}", "Name": self.name, "Port": 1,
                           "Check": check})
        given_s = max(self.deregister_min_s, parse_go_duration(self.deregister_after) / NS_PER_S)
        gone_at = {}

        def both_gone():
            services = self.ok("GET", "/v1/agent/services")[0]
            for suffix in ("given", "raised"):
                if f"{self.name}-{suffix}" not in services:
                    gone_at.setdefault(suffix, time.monotonic() - started)
            return len(gone_at) == 2
        self.assertTrue(wait_for(both_gone, given_s + self.reap_s + self.settle_s + 10, 0.1),
                        f"still registered: {self.ok('GET', '/v1/agent/services')[0].keys()}")
        # Not before: critical since its registration, for longer than the timeout (a 10 ms one
        # raised to the agent's minimum).
        self.assertGreaterEqual(gone_at["given"], given_s)
        self.assertGreaterEqual(gone_at["raised"], self.deregister_min_s)
        self.assertIn(f"{self.name}-kept", self.ok("GET", "/v1/agent/services")[0])
        self.assertEqual(self.passing_ids(), [])

    def test_blocking_queries_wait_for_a_change_or_for_wait(self):
        _, start = self.health()
        self.assertGreater(start, 0)
        began = time.monotonic()
        entries, same = self.health(f"?index={start}&wait=1s")
        took = time.monotonic() - began
        self.assertEqual(entries, [])
        # Consul may answer early with another index (a spurious wake-up); with the same index,
        # not before the wait.
        if same == start or self.double:
            self.assertEqual(same, start)
            self.assertGreaterEqual(took, 0.95)
        self.assertLess(took, 1 + 1 / 16 + 2)

        def later(path):
            """Starts a blocking read (wait=20s) in the background; returns a function that waits
            for its answer: (status, headers, body, seconds it took)."""
            result = {}

            def read():
                t = time.monotonic()
                result["answer"] = self.call("GET", f"{path}&wait=20s", timeout_s=40) + (
                    time.monotonic() - t,)
            thread = threading.Thread(target=read)
            thread.start()
            time.sleep(0.3)

            def answer():
                thread.join(45)
                self.assertIn("answer", result, f"the blocking read of {path} failed")
                return result["answer"]
            return answer

        answer = later(f"/v1/health/service/{self.name}?index={start}")
        check = f"{self.name}-ttl"
        self.register({"Name": self.name, "Port": 1, "Check": {"CheckID": check, "TTL": "10m"}})
        status, headers, entries, took = answer()
        registered = int(headers["x-consul-index"])
        self.assertEqual((status, len(entries)), (200, 1))
        self.assertGreater(registered, start)
        self.assertLess(took, 10)
        # A check's status changing moves the service's index too.
        answer = later(f"/v1/health/service/{self.name}?passing&index={registered}")
        self.ok("PUT", f"/v1/agent/check/pass/{check}")
        status, headers, entries, took = answer()
        passed = int(headers["x-consul-index"])
        self.assertEqual((status, [e["Service"]["ID"] for e in entries]), (200, [self.name]))
        self.assertGreater(passed, registered)
        self.assertLess(took, 10)
        # The list of services, and a key that does not exist yet.
        _, headers = self.ok("GET", "/v1/catalog/services")
        answer = later(f"/v1/catalog/services?index={headers['x-consul-index']}")
        self.register({"Name": f"{self.name}-more", "Port": 2})
        status, headers, services, took = answer()
        self.assertIn(f"{self.name}-more", services)
        self.assertGreater(int(headers["x-consul-index"]), passed)
        key = f"/v1/kv/{self.prefix}/watched"
        status, headers, _ = self.call("GET", key)
        self.assertEqual(status, 404)
        missing = int(headers["x-consul-index"])  # a missing key has an index too
        answer = later(f"{key}?index={missing}")
        self.ok("PUT", key, "v1")
        status, headers, entries, took = answer()
        self.assertEqual((status, entries[0]["Value"]), (200, "djE="))
        self.assertEqual(int(headers["x-consul-index"]), entries[0]["ModifyIndex"])
        self.assertGreater(entries[0]["ModifyIndex"], missing)
        self.assertLess(took, 10)
        status, _, answer = self.call("GET", f"/v1/health/service/{self.name}?index=1&wait=soon")
        self.assertEqual((status, answer), (400, "Invalid wait time"))
        violations = self.take_violations()
        if violations is not None:
            self.assertEqual([v["message"] for v in violations], ["400 Invalid wait time"])

    def test_kv_put_get_cas_raw_recurse_keys_and_delete(self):
        p = f"/v1/kv/{self.prefix}"
        self.assertIs(self.ok("PUT", f"{p}/a", "one")[0], True)
        (entry,), headers = self.ok("GET", f"{p}/a")
        self.assertEqual({k: entry[k] for k in ("Key", "Value", "Flags", "LockIndex")},
                         {"Key": f"{self.prefix}/a", "Value": "b25l", "Flags": 0, "LockIndex": 0})
        self.assertEqual(entry["CreateIndex"], entry["ModifyIndex"])
        self.assertEqual(int(headers["x-consul-index"]), entry["ModifyIndex"])
        self.assertEqual(self.ok("GET", f"{p}/a?raw")[0], "one")
        self.ok("PUT", f"{p}/a", "two")
        (second,), _ = self.ok("GET", f"{p}/a")
        self.assertEqual(second["CreateIndex"], entry["CreateIndex"])
        self.assertGreater(second["ModifyIndex"], entry["ModifyIndex"])
        # Check-and-set: a stale index is refused, the current one taken; 0 only creates.
        self.assertIs(self.ok("PUT", f"{p}/a?cas={entry['ModifyIndex']}", "stale")[0], False)
        self.assertEqual(self.ok("GET", f"{p}/a?raw")[0], "two")
        self.assertIs(self.ok("PUT", f"{p}/a?cas={second['ModifyIndex']}", "three")[0], True)
        self.assertIs(self.ok("PUT", f"{p}/a?cas=0", "again")[0], False)
        self.assertIs(self.ok("PUT", f"{p}/b?cas=0", "new")[0], True)
        self.ok("PUT", f"{p}/c/d?flags=42", "x")
        self.ok("PUT", f"{p}/empty")
        listed, _ = self.ok("GET", f"{p}?recurse")
        self.assertEqual([(e["Key"][len(self.prefix):], e["Value"], e["Flags"]) for e in listed],
                         [("/a", "dGhyZWU=", 0), ("/b", "bmV3", 0), ("/c/d", "eA==", 42),
                          ("/empty", None, 0)])
        keys = [k[len(self.prefix):] for k in self.ok("GET", f"{p}/?keys")[0]]
        self.assertEqual(keys, ["/a", "/b", "/c/d", "/empty"])
        keys = [k[len(self.prefix):] for k in self.ok("GET", f"{p}/?keys&separator=/")[0]]
        self.assertEqual(keys, ["/a", "/b", "/c/", "/empty"])
        status, headers, _ = self.call("GET", f"{p}/absent")
        self.assertEqual(status, 404)
        self.assertGreater(int(headers["x-consul-index"]), 0)
        (b,), _ = self.ok("GET", f"{p}/b")
        self.assertIs(self.ok("DELETE", f"{p}/b?cas={b['ModifyIndex'] - 1}")[0], False)
        self.assertEqual(self.ok("GET", f"{p}/b?raw")[0], "new")
        self.assertIs(self.ok("DELETE", f"{p}/b?cas={b['ModifyIndex']}")[0], True)
        self.assertEqual(self.call("GET", f"{p}/b")[0], 404)
        self.assertIs(self.ok("DELETE", f"{p}?recurse")[0], True)
        self.assertEqual(self.call("GET", f"{p}?recurse")[0], 404)

    def test_the_acl_token_is_required_and_accepted_in_each_form(self):
        if not self.token:
            self.skipTest("CONSUL_HTTP_TOKEN is not set: the agent's ACLs are not exercised")
        definition = {"Name": self.name, "Port": 1}
        status, _, answer = self.call("PUT", "/v1/agent/service/register", definition, token="")
        self.assertEqual(status, 403, answer)
        self.assertTrue(answer.startswith("Permission denied"), answer)
        status, _, answer = self.call("PUT", "/v1/agent/service/register", definition,
                                      token=str(uuid.uuid4()))
        self.assertEqual((status, answer), (403, "ACL not found"))
        self.assertNotIn(self.name, self.ok("GET", "/v1/agent/services")[0])
        self.assertEqual(self.call("GET", f"/v1/kv/{self.prefix}/x", token="")[0], 403)
        self.register(definition)
        self.assertIn(self.name, self.ok("GET", "/v1/agent/services")[0])
        status, _, services = self.call("GET", f"/v1/agent/services?token={self.token}", token="")
        self.assertIn(self.name, services)
        status, _, services = self.call("GET", "/v1/agent/services", token="",
                                        headers={"Authorization": f"Bearer {self.token}"})
        self.assertIn(self.name, services)
        self.assertEqual(self.call("GET", "/v1/status/leader", token="")[0], 200)

    def test_malformed_registrations_are_refused(self):
        name = self.name
        cases = [({"Name": name, "Port": 1, "Bogus": True}, 'unknown field "Bogus"'),
                 ({"Name": name, "Check": {"TTL": "ten seconds"}},
                  'time: invalid duration "ten seconds"'),
                 ({"ID": name, "Port": 1}, "Missing service name"),
                 ({"Name": name, "Port": "8000"}, "cannot unmarshal string"),
                 ({"Name": name, "Check": {"HTTP": f"http://{HOST}:1/", "Timeout": "1s"}},
                  "Interval must be > 0")]
        for definition, expected in cases:
            status, _, answer = self.call("PUT", "/v1/agent/service/register", definition)
            self.assertEqual(status, 400, f"{definition}: {answer}")
            self.assertIn(expected, answer)
        self.assertNotIn(name, self.ok("GET", "/v1/agent/services")[0])
        violations = self.take_violations()
        if violations is not None:  # each recorded, with Consul's message
            self.assertEqual(len(violations), len(cases), violations)
            for v, (_, expected) in zip(violations, cases):
                self.assertEqual((v["method"], v["path"]), ("PUT", "/v1/agent/service/register"))
                self.assertIn(expected, v["message"])


class OnTheDouble(RegistrationCases, unittest.TestCase):
    """The cases on one double, with an ACL token and the reaper's times shrunk."""
    interval, ttl, deregister_after = "300ms", "1s", "1s"
    deregister_min_s, reap_s, settle_s = 1.0, 0.2, 10.0

    @classmethod
    def setUpClass(cls):
        cls.double = ConsulDouble(token="double-token", deregister_min_s=cls.deregister_min_s,
                                  reap_interval_s=cls.reap_s, min_check_interval_s=0.1)
        cls.double.__enter__()
        cls.url, cls.token = cls.double.url, cls.double.token

    @classmethod
    def tearDownClass(cls):
        cls.double.close()

    def setUp(self):
        super().setUp()
        self._seen = len(self.double.violations())
        self.addCleanup(self._no_new_violations)

    def take_violations(self):
        new = self.double.violations()[self._seen:]
        self._seen += len(new)
        return new

    def _no_new_violations(self):
        self.assertEqual(self.take_violations(), [], "requests Consul would refuse")


class OnARealAgent(RegistrationCases, unittest.TestCase):
    """The cases on the agent at CONSUL_HTTP_ADDR (with or without http://), with Consul's times."""
    interval, ttl, deregister_after = "1s", "2s", "1m"
    deregister_min_s, reap_s, settle_s = 60.0, 30.0, 20.0
    double = None

    @classmethod
    def setUpClass(cls):
        address = os.environ.get("CONSUL_HTTP_ADDR")
        if not address:
            raise unittest.SkipTest("CONSUL_HTTP_ADDR is not set")
        cls.url = address if "://" in address else f"http://{address}"
        cls.token = os.environ.get("CONSUL_HTTP_TOKEN") or None


# --- the harness: what only the double does ------------------------------------------------------

class DoubleHarness(unittest.TestCase):
    def test_a_restart_forgets_registrations_and_keeps_kv_on_the_same_port(self):
        with ConsulDouble() as c:
            url = c.url
            c.request("PUT", "/v1/agent/service/register", {"Name": "faiss", "Port": 8000,
                                                            "Check": {"TTL": "1m"}})
            c.set_kv("vecmesh/keys", "k1")
            _, headers, _ = c.request("GET", "/v1/health/service/faiss")
            before = int(headers["x-consul-index"])
            c.restart()
            self.assertEqual(c.url, url)
            self.assertEqual((c.services(), c.checks()), ({}, {}))
            status, headers, entries = c.request("GET", "/v1/health/service/faiss")
            self.assertEqual((status, entries), (200, []))
            self.assertGreater(int(headers["x-consul-index"]), before)  # the index never goes back
            self.assertEqual(c.get_kv("vecmesh/keys"), "k1")
            self.assertEqual(c.violations(), [])

    def test_reset_index_sends_indexes_back_and_wakes_blocking_reads(self):
        with ConsulDouble() as c:
            for i in range(10):  # k4 written last, and 6 times
                c.set_kv(f"k{min(i, 4)}", str(i))
            _, headers, (entry,) = c.request("GET", "/v1/kv/k4")
            high = int(headers["x-consul-index"])
            result = {}

            def blocked():
                t = time.monotonic()
                result["answer"] = c.request("GET", f"/v1/kv/k4?index={high}&wait=20s",
                                             timeout_s=40)
                result["took"] = time.monotonic() - t
            thread = threading.Thread(target=blocked)
            thread.start()
            time.sleep(0.3)
            c.reset_index()
            thread.join(45)
            self.assertIn("answer", result, "the blocking read failed")
            status, headers, (renumbered,) = result["answer"]
            self.assertLess(result["took"], 10)
            self.assertLess(int(headers["x-consul-index"]), high)
            self.assertEqual(renumbered["ModifyIndex"], int(headers["x-consul-index"]))
            c.set_kv("k4", "again")  # and the index climbs from there
            _, _, (before,) = c.request("GET", "/v1/kv/k4")
            c.restart(reset_index=True)
            _, headers, (entry,) = c.request("GET", "/v1/kv/k4")
            self.assertLess(entry["ModifyIndex"], before["ModifyIndex"])
            self.assertEqual(c.get_kv("k4"), "again")
            self.assertEqual(c.violations(), [])

    def test_kill_makes_it_unreachable_until_start_on_the_same_port(self):
        with ConsulDouble() as c:
            c.set_kv("kept", "yes")
            url, group = c.url, c.process.pid
            c.kill()
            self.assertFalse(group_alive(group))
            self.assertFalse(http_ok(url + "/v1/status/leader"))
            with self.assertRaises(OSError):
                request(url, "GET", "/v1/agent/services", timeout_s=5)
            c.start()
            self.assertEqual((c.url, c.get_kv("kept")), (url, "yes"))

    def test_endpoints_methods_and_parameters_outside_the_api_are_violations(self):
        with ConsulDouble() as c:
            self.assertEqual(c.request("GET", "/v1/agent/self")[0], 404)
            self.assertEqual(c.request("GET", "/v1/agent/service/register")[0], 405)
            status, _, _ = c.request("GET", "/v1/health/service/faiss?pasing")
            self.assertEqual(status, 200)  # answered, as Consul would, but recorded
            self.assertEqual(c.request("GET", "/v1/health/service/faiss?filter=x")[0], 200)
            status, _, answer = c.request("PUT", "/v1/agent/service/register", {
                "Name": "faiss", "Check": {"HTTP": "http://a/", "GRPC": "a:1", "Interval": "1s"}})
            self.assertEqual(status, 400, answer)
            messages = [v["message"] for v in c.violations()]
            self.assertEqual(len(messages), 5, messages)
            self.assertIn("not an endpoint", messages[0])
            self.assertIn("not GET", messages[1])
            self.assertIn("'pasing'", messages[2])
            self.assertIn("does not implement", messages[3])
            self.assertIn("HTTP and GRPC", messages[4])
            status, _, listed = c.request("GET", "/__double/violations")
            self.assertEqual((status, len(listed)), (200, 5))

    def test_the_fixture_cli_stop_fails_when_violations_were_recorded(self):
        for malformed in (False, True):
            with tempfile.TemporaryDirectory(prefix="vecmesh-consul-cli-") as state:
                try:
                    subprocess.run([sys.executable, DOUBLE, "start", "--state", state,
                                    "--owner-pid", str(os.getpid()), "--token", "t"],
                                   check=True, timeout=60)
                    url = Path(state, "url").read_text().strip()
                    status, _, _ = request(url, "PUT", "/v1/agent/service/register",
                                           {"Name": "faiss", "Port": 1}, token="t")
                    self.assertEqual(status, 200)
                    if malformed:
                        request(url, "PUT", "/v1/agent/service/register",
                                {"Name": "faiss", "port": 1}, token="t")
                finally:
                    stop = subprocess.run([sys.executable, DOUBLE, "stop", "--state", state],
                                          capture_output=True, text=True, timeout=60)
                self.assertEqual(stop.returncode, 1 if malformed else 0, stop.stdout + stop.stderr)
                if malformed:
                    self.assertIn('unknown field "port"', stop.stdout)
                self.assertFalse(http_ok(url + "/v1/status/leader"))


def fixture_round_trip():
    """The fixture's double (CTest fixture consul) registers, checks and deregisters."""
    url = consul_double.url_from_env()
    name = f"vecmesh-smoke-{uuid.uuid4().hex[:10]}"
    steps = [("PUT", "/v1/agent/service/register", {"Name": name, "Port": 1, "Check": {
        "CheckID": name, "TTL": "1m"}}, 200), ("PUT", f"/v1/agent/check/pass/{name}", None, 200),
        ("GET", f"/v1/health/service/{name}?passing", None, 200),
        ("PUT", f"/v1/agent/service/deregister/{name}", None, 200)]
    for method, path, body, expected in steps:
        status, _, answer = request(url, method, path, body)
        if status != expected:
            sys.exit(f"{method} {path}: {status}, expected {expected}: {answer}")
        if path.endswith("?passing") and [e["Service"]["ID"] for e in answer] != [name]:
            sys.exit(f"{path}: {answer}")
    print(f"consul_double smoke: {name} registered, passing and deregistered at {url}")


def main():
    if "--fixture" in sys.argv:
        fixture_round_trip()
        return
    live = "--live" in sys.argv
    if live and not os.environ.get("CONSUL_HTTP_ADDR"):
        print("SKIPPED: CONSUL_HTTP_ADDR is not set: no real Consul agent for this run (set it, "
              "and CONSUL_HTTP_TOKEN if the agent has ACLs, to run the registration cases against "
              "a real agent; they ran against the double in consul_double_harness)")
        sys.exit(SKIP_CODE)
    loader = unittest.TestLoader()
    classes = [OnARealAgent] if live else [OnTheDouble, DoubleHarness]
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(c) for c in classes)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
