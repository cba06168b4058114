"""End to end, vecmeshd in Consul (API.md "Service discovery (Consul)"): vecmeshd as processes,
registered in the project's Consul agent double (tests/support/consul_double.py), which runs the
registered HTTP and gRPC checks itself as an agent does. The double's "deregister after" minimum
and reap interval are shrunk (1 s, 0.2 s) so that a dead instance is reaped within seconds.

1. Two instances register as API.md says (ID, address, port, tags, meta, an HTTP and a gRPC
   check), and both are passing. One SIGTERMed is deregistered while its /health still answers
   503 (the listeners close only after --shutdown-drain-ms). One SIGKILLed turns critical, leaves
   ?passing, and is deregistered by the agent.
2. An agent restart forgets both; both are registered again within one anti-entropy interval.
3. Consul down at start: vecmeshd serves, /health/deep says warning (consul unhealthy); once the
   agent is up it registers. A wrong ACL token is reported; TTL checks are passed by vecmeshd.
4. API keys in Consul KV: a rotated-out key is refused within seconds and the new one taken, a
   malformed update is refused and the last good keys stay; the keys file is read again on SIGHUP.
The double records any request Consul would refuse: none may be made.

Run by CTest (label e2e) with VECMESH_DAEMON set; needs python3-grpcio for the gRPC checks.
"""
import json
import os
import signal
import sys
import tempfile
import time
import unittest

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))

from consul_double import ConsulDouble  # noqa: E402
from vecmeshd import Daemon, wait_for  # noqa: E402

TOKEN = "e2e-consul-token"
SYNC_S = 1.0  # --consul-sync-interval-ms
# Checks every 0.5 s, deregistered after 2 s critical, anti-entropy every second.
CONSUL_ARGS = ["--consul-check-interval-ms", "500", "--consul-deregister-after-s", "2",
               "--consul-sync-interval-ms", str(int(SYNC_S * 1000)), "--access-log", "false"]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class ConsulTestCase(unittest.TestCase):
    token = TOKEN

    def setUp(self):
        self.consul = ConsulDouble(token=self.token, deregister_min_s=1, reap_interval_s=0.2,
                                   min_check_interval_s=0.2)
        self.consul.start()
        self.addCleanup(self.consul.close)
        # Consul would have refused or not understood nothing vecmeshd sent.
        self.addCleanup(lambda: self.assertEqual(self.consul.violations(), []))

    def daemon(self, args=(), env=None, via_env=False):
        """A vecmeshd registered in the double: its address and token by flag or by Consul's own
        variables."""
        consul = ({"CONSUL_HTTP_ADDR": self.consul.address, "CONSUL_HTTP_TOKEN": self.token or ""}
                  if via_env else {})
        flags = [] if via_env else ["--consul-addr", self.consul.address] + (
            ["--consul-token", self.token] if self.token else [])
        d = Daemon(args=flags + CONSUL_ARGS + list(args), env=dict(consul, **(env or {})))
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def health(self, passing=True):
        status, _, body = self.consul.request(
            "GET", "/v1/health/service/faiss" + ("?passing" if passing else ""))
        self.assertEqual(status, 200, body)
        return {entry["Service"]["ID"]: entry for entry in body}

    @staticmethod
    def service_id(d):
        return f"faiss-127.0.0.1-{d.port}"

    @staticmethod
    def deep(d):
        return requests.get(d.url + "/health/deep", timeout=10).json()


class Registration(ConsulTestCase):
    def test_two_instances_register_one_leaves_on_sigterm_one_is_reaped_after_sigkill(self):
        a = self.daemon(["--shutdown-drain-ms", "2000"])
        b = self.daemon(via_env=True)
        ids = {self.service_id(a), self.service_id(b)}
        self.assertTrue(wait_for(lambda: set(self.health()) == ids, timeout_s=20),
                        f"both passing: {self.health(passing=False)}")
        log(f"both passing: {sorted(ids)}")

        entry = self.health()[self.service_id(a)]
        service = entry["Service"]
        version = requests.get(a.url + "/health", timeout=10).json()["version"]
        self.assertEqual((service["Service"], service["Address"], service["Port"]),
                         ("faiss", "127.0.0.1", a.port))
        self.assertEqual(service["Tags"], ["vecmesh", "rest", "grpc"])
        self.assertEqual(service["Meta"], {"grpc_port": str(a.grpc_port), "version": version})
        checks = {c["CheckID"]: c for c in entry["Checks"] if c["ServiceID"]}
        self.assertEqual(set(checks), {self.service_id(a) + ":http", self.service_id(a) + ":grpc"})
        for check in checks.values():
            self.assertEqual(check["Status"], "passing", check)
        self.assertEqual(checks[self.service_id(a) + ":http"]["Type"], "http")
        self.assertEqual(checks[self.service_id(a) + ":grpc"]["Type"], "grpc")
        consul = self.deep(a)["dependencies"]["consul"]
        self.assertEqual(consul["status"], "healthy", consul)
        self.assertIn("vecmesh_consul_registered 1",
                      requests.get(a.url + "/metrics", timeout=10).text)

        # SIGTERM: /health turns 503, the registration goes, then the listeners close.
        a.process.send_signal(signal.SIGTERM)
        self.assertTrue(wait_for(lambda: self.service_id(a) not in self.consul.services(),
                                 timeout_s=10, interval_s=0.01), "a left the agent")
        r = requests.get(a.url + "/health", timeout=5)
        self.assertEqual(r.status_code, 503, "a was deregistered while its /health answers 503")
        self.assertEqual(a.process.wait(30), 0)
        # In that order: /health turned 503 (the part "serving" stopped), then deregistered.
        order = [e.get("part", e["msg"]) for e in map(json.loads, a.log)
                 if e["msg"] == "consul: deregistered" or e.get("part") in ("serving", "transports")]
        self.assertEqual(order, ["serving", "consul: deregistered", "transports"])
        log("a: deregistered while answering 503, then stopped")

        # SIGKILL: the agent's checks find b dead; it leaves ?passing, then the agent reaps it.
        b.kill()
        self.assertTrue(wait_for(lambda: self.service_id(b) not in self.health(), timeout_s=10),
                        "b left ?passing")
        critical = self.health(passing=False).get(self.service_id(b))
        if critical is not None:  # not reaped yet: its checks say why
            self.assertIn("critical", {c["Status"] for c in critical["Checks"]})
        self.assertTrue(wait_for(lambda: self.service_id(b) not in self.consul.services(),
                                 timeout_s=15), "b deregistered by the agent")
        log("b: critical, out of ?passing, reaped")

    def test_an_agent_restart_is_followed_by_registering_again(self):
        a, b = self.daemon(), self.daemon(via_env=True)
        ids = {self.service_id(a), self.service_id(b)}
        self.assertTrue(wait_for(lambda: set(self.consul.services()) == ids, timeout_s=20))
        self.consul.restart()  # it forgets both
        restarted = time.monotonic()
        self.assertTrue(wait_for(lambda: set(self.consul.services()) == ids, timeout_s=10))
        took = time.monotonic() - restarted
        log(f"both registered again {took:.2f} s after the agent's restart")
        # Within one anti-entropy interval (and the calls it takes, on a busy machine).
        self.assertLess(took, SYNC_S + 3.0)
        for d in (a, b):  # registered again, not merely still there
            self.assertTrue(wait_for(lambda: "vecmesh_consul_registrations_total 2" in requests.get(
                d.url + "/metrics", timeout=10).text, timeout_s=10))
        self.assertTrue(wait_for(lambda: set(self.health()) == ids, timeout_s=20))

    def test_consul_down_at_start_then_up(self):
        self.consul.kill()
        d = self.daemon()
        self.assertEqual(requests.get(d.url + "/health", timeout=10).status_code, 200)
        deep = self.deep(d)
        self.assertEqual(deep["status"], "warning", deep)
        self.assertEqual(deep["dependencies"]["consul"]["status"], "unhealthy", deep)
        self.assertIn("Connection refused", deep["dependencies"]["consul"]["message"])
        self.consul.start()
        self.assertTrue(wait_for(lambda: self.service_id(d) in self.health(), timeout_s=20))
        self.assertTrue(wait_for(lambda: self.deep(d)["status"] == "healthy", timeout_s=10),
                        self.deep(d))

    def test_a_wrong_token_is_reported(self):
        d = Daemon(args=["--consul-addr", self.consul.address, "--consul-token", "not-it"]
                   + CONSUL_ARGS)
        self.addCleanup(d.cleanup)
        d.start()
        self.assertTrue(wait_for(
            lambda: "ACL not found" in self.deep(d)["dependencies"]["consul"]["message"],
            timeout_s=10), self.deep(d))
        consul = self.deep(d)["dependencies"]["consul"]
        self.assertEqual(consul["status"], "unhealthy")
        self.assertIn("PERMISSION_DENIED", consul["message"])
        self.assertNotIn("not-it", "\n".join(d.log), "the token is never logged")
        self.assertEqual(self.consul.services(), {})

    def test_ttl_checks_are_passed_by_vecmeshd(self):
        d = self.daemon(["--consul-checks", "ttl"])
        self.assertTrue(wait_for(lambda: self.service_id(d) in self.health(), timeout_s=20))
        checks = [c for c in self.health()[self.service_id(d)]["Checks"] if c["ServiceID"]]
        self.assertEqual([(c["CheckID"], c["Type"], c["Output"]) for c in checks],
                         [(self.service_id(d) + ":ttl", "ttl", "serving")])
        d.kill()  # no one passes the TTL (1.5 s) any more: critical, then reaped
        self.assertTrue(wait_for(lambda: self.service_id(d) not in self.consul.services(),
                                 timeout_s=15))


PREFIX = "vecmesh/api-keys"


class Keys(ConsulTestCase):
    token = None  # ACLs off: the keys are the daemon's

    def status_with(self, d, key):
        return requests.get(d.url + "/v1/collections", headers={"api-key": key},
                            timeout=10).status_code

    def test_keys_rotated_in_kv_take_effect_without_a_restart(self):
        self.consul.set_kv(f"{PREFIX}/admin/old", "old-key")
        self.consul.set_kv(f"{PREFIX}/read_only/reader", "reader-key\n")
        d = self.daemon(["--consul-keys-prefix", PREFIX])
        self.assertEqual(self.status_with(d, "old-key"), 200)
        self.assertEqual(self.status_with(d, "reader-key"), 200)
        self.assertEqual(self.status_with(d, "new-key"), 401)
        self.assertEqual(requests.get(d.url + "/v1/collections", timeout=10).status_code, 401)

        # Rotation: the new key in, then the old one out.
        self.consul.set_kv(f"{PREFIX}/admin/new", "new-key")
        self.assertTrue(wait_for(lambda: self.status_with(d, "new-key") == 200, timeout_s=5))
        status, _, _ = self.consul.request("DELETE", f"/v1/kv/{PREFIX}/admin/old")
        self.assertEqual(status, 200)
        rotated = time.monotonic()
        self.assertTrue(wait_for(lambda: self.status_with(d, "old-key") == 401, timeout_s=5),
                        "the rotated-out key is refused within seconds")
        log(f"the old key refused {time.monotonic() - rotated:.2f} s after its deletion")
        self.assertEqual(self.status_with(d, "new-key"), 200)

        # A malformed update: refused whole, the last good keys stay.
        self.consul.set_kv(f"{PREFIX}/superuser/x", "intruder-key")
        self.assertTrue(wait_for(lambda: 'vecmesh_consul_kv_reloads_total{result="refused"} 1'
                                 in requests.get(d.url + "/metrics", timeout=10).text,
                                 timeout_s=5))
        self.assertEqual(self.status_with(d, "new-key"), 200)
        self.assertEqual(self.status_with(d, "intruder-key"), 401)
        refused = [json.loads(line) for line in d.log if "keys from consul refused" in line]
        self.assertTrue(refused and f"{PREFIX}/superuser/x" in refused[-1]["error"], refused)
        self.assertNotIn("intruder-key", "\n".join(d.log), "no key is ever logged")

        # An entry beside the prefix (its name merely starts the same) is not a key.
        self.consul.set_kv(f"{PREFIX}_admin/x", "beside-key")
        status, _, _ = self.consul.request("DELETE", f"/v1/kv/{PREFIX}/superuser/x")
        self.assertEqual(status, 200)
        # Applied: the first read, the new key, the old one out, the malformed entry out.
        self.assertTrue(wait_for(lambda: 'vecmesh_consul_kv_reloads_total{result="applied"} 4'
                                 in requests.get(d.url + "/metrics", timeout=10).text,
                                 timeout_s=5))
        self.assertEqual(self.status_with(d, "beside-key"), 401)
        self.assertEqual(self.status_with(d, "new-key"), 200)

    def test_the_keys_file_is_read_again_on_sighup(self):
        keys = tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False)
        self.addCleanup(os.unlink, keys.name)
        keys.write("admin first-key\n")
        keys.close()
        d = Daemon(args=["--api-keys-file", keys.name, "--access-log", "false"])
        self.addCleanup(d.cleanup)
        d.start()
        self.assertEqual(self.status_with(d, "first-key"), 200)
        with open(keys.name, "w") as f:
            f.write("read_only second-key\n")
        d.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.status_with(d, "second-key") == 200, timeout_s=5))
        self.assertEqual(self.status_with(d, "first-key"), 401)
        with open(keys.name, "w") as f:
            f.write("superuser third-key\n")
        d.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: any("keys file was not reloaded" in line
                                             for line in d.log), timeout_s=5))
        self.assertEqual(self.status_with(d, "second-key"), 200, "the last good keys stay")
        self.assertEqual(self.status_with(d, "third-key"), 401)
        self.assertTrue(d.alive())
        # An emptied file: no key works, and authentication stays on.
        with open(keys.name, "w") as f:
            f.write("# every key revoked\n")
        d.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.status_with(d, "second-key") == 401, timeout_s=5))
        self.assertEqual(requests.get(d.url + "/v1/collections", timeout=10).status_code, 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
