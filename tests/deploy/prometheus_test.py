"""deploy/prometheus, checked without a container engine.

1. `promtool check rules` accepts alerts.yml.
2. `promtool check config` accepts prometheus.yml once its consul_sd_configs blocks are replaced
   by static targets (static_configuration of tests/support/prometheus_server.py): Debian's
   Prometheus is built without Consul discovery and rejects the blocks
   (../shared/contracts/README.md), while the upstream image in compose takes them.
3. The Consul blocks hold only keys of Prometheus's consul_sd_config, name the agent as
   host:port, and look for the service vecmeshd registers (`faiss`, API.md).
4. Every vecmesh_* metric an alert reads is one vecmeshd exports (a "# TYPE" line of
   api/service/metrics.cc).
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))
from prometheus_server import static_configuration  # noqa: E402

PROMETHEUS = os.path.join(SOURCE, "deploy", "prometheus")
METRICS_SOURCE = os.path.join(SOURCE, "api", "service", "metrics.cc")

# Prometheus's consul_sd_config (prometheus.io/docs/prometheus/latest/configuration/configuration/
# #consul_sd_config), with the HTTP client keys every discovery takes.
CONSUL_SD_KEYS = {
    "server", "path_prefix", "token", "datacenter", "namespace", "partition", "scheme",
    "username", "password", "services", "tags", "node_meta", "tag_separator", "allow_stale",
    "refresh_interval", "basic_auth", "authorization", "oauth2", "proxy_url", "no_proxy",
    "proxy_from_environment", "proxy_connect_header", "follow_redirects", "enable_http2",
    "tls_config",
}


def load(name):
    with open(os.path.join(PROMETHEUS, name)) as f:
        return yaml.safe_load(f)


def promtool(*args):
    return subprocess.run(["promtool", "check", *args], capture_output=True, text=True,
                          timeout=60)


class Prometheus(unittest.TestCase):
    def test_promtool_accepts_the_rules(self):
        check = promtool("rules", os.path.join(PROMETHEUS, "alerts.yml"))
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("SUCCESS: 7 rules found", check.stdout)

    def test_promtool_accepts_the_configuration_without_its_consul_blocks(self):
        jobs = load("prometheus.yml")["scrape_configs"]
        self.assertEqual([job["job_name"] for job in jobs if "consul_sd_configs" in job], ["faiss"],
                         "the faiss job finds vecmeshd through Consul")
        config = static_configuration(["127.0.0.1:8000"])
        with tempfile.TemporaryDirectory() as work:
            path = os.path.join(work, "prometheus.yml")
            with open(path, "w") as f:
                yaml.safe_dump(config, f)
            check = promtool("config", path)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        # And the file as it is fails only on Consul discovery, as the contracts say it does.
        as_is = promtool("config", os.path.join(PROMETHEUS, "prometheus.yml"))
        if as_is.returncode != 0:
            self.assertIn("consul_sd_configs", as_is.stdout + as_is.stderr)

    def test_the_consul_blocks_find_vecmeshd(self):
        jobs = {job["job_name"]: job for job in load("prometheus.yml")["scrape_configs"]}
        blocks = jobs["faiss"]["consul_sd_configs"]
        self.assertEqual(len(blocks), 1)
        for block in blocks:
            self.assertLessEqual(set(block), CONSUL_SD_KEYS, "only consul_sd_config keys")
            self.assertRegex(block["server"], r"^[A-Za-z0-9.-]+:\d+$")
            self.assertEqual(block["services"], ["faiss"])
        self.assertEqual(jobs["faiss"]["metrics_path"], "/metrics")

    def test_the_alerts_read_metrics_vecmeshd_exports(self):
        with open(METRICS_SOURCE) as f:
            exported = f.read()
        rules = [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]]
        read = set()
        for rule in rules:
            self.assertTrue(rule["annotations"]["summary"] and rule["annotations"]["description"],
                            rule["alert"])
            for name in re.findall(r"\bvecmesh_[a-z_]+", rule["expr"]):
                read.add(re.sub(r"_(bucket|sum|count)$", "", name))
        self.assertGreaterEqual(len(read), 6)
        for name in sorted(read):
            # Every metric vecmeshd exports has its "# TYPE NAME KIND" line.
            self.assertTrue(f"# TYPE {name} " in exported, f"{name}: not a metric vecmeshd exports")


if __name__ == "__main__":
    unittest.main(verbosity=2)
