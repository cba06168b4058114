"""deploy/prometheus, checked without a container engine.

1. `promtool check rules` accepts alerts.yml.
2. `promtool check config` accepts prometheus.yml once its consul_sd_configs blocks are replaced
   by static targets (static_configuration of tests/support/prometheus_server.py): Debian's
   Prometheus is built without Consul discovery and rejects the blocks
   (../shared/contracts/README.md), while the upstream image in compose takes them.
3. The Consul blocks hold only keys of Prometheus's consul_sd_config, name the agent as
   host:port, and look for the service vecmeshd registers (`faiss`, API.md).
4. The job `rabbitmq` scrapes the broker's Prometheus plugin where deploy/rabbitmq puts it: the
   compose service rabbitmq, on rabbitmq.conf's prometheus.tcp.port, with the plugin in
   enabled_plugins (mounted read-only by compose), asking /metrics/detailed for the queues of the
   vhost definitions.json declares.
5. Every metric an alert reads is one vecmeshd exports (a "# TYPE" line of
   api/service/metrics.cc), Prometheus's own `up`, or one of RABBITMQ_METRICS
   (tests/support/prometheus_server.py; tests/deploy/mesh_test.py finds them on a live broker),
   read from the job `rabbitmq`; the dead-letter queue's depth is one of the alerts.
"""
import json
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
from prometheus_server import RABBITMQ_JOB, RABBITMQ_METRICS, static_configuration  # noqa: E402

DEPLOY = os.path.join(SOURCE, "deploy")
PROMETHEUS = os.path.join(DEPLOY, "prometheus")
RABBITMQ = os.path.join(DEPLOY, "rabbitmq")
METRICS_SOURCE = os.path.join(SOURCE, "api", "service", "metrics.cc")
DEAD_QUEUE = "vector.indexing.tasks.dead"
# Metrics Prometheus makes itself for every target.
SYNTHETIC_METRICS = {"up"}
# PromQL words that look like metric names.
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan"}

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


def metric_names(expr):
    """The metric names a PromQL expression reads: its identifiers less functions (followed by a
    parenthesis), label lists of by/without/on/ignoring/group_*, matchers, ranges and strings."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    names = re.findall(r"(?<![\w.])([A-Za-z_:][\w:]*)\b(?!\s*\()", expr)
    return {name for name in names if name.lower() not in PROMQL_WORDS}


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
        for job_targets in (None, {RABBITMQ_JOB: ["127.0.0.1:15692"]}):
            config = static_configuration(["127.0.0.1:8000"], job_targets=job_targets)
            with tempfile.TemporaryDirectory() as work:
                path = os.path.join(work, "prometheus.yml")
                with open(path, "w") as f:
                    yaml.safe_dump(config, f)
                check = promtool("config", path)
                self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            static = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
            self.assertEqual(static["faiss"], [{"targets": ["127.0.0.1:8000"]}])
            self.assertEqual(static[RABBITMQ_JOB], [{"targets": ["127.0.0.1:15692"]}] if job_targets
                             else jobs[[j["job_name"] for j in jobs].index(RABBITMQ_JOB)]
                             ["static_configs"], "without an override a job keeps its targets")
            self.assertEqual(static["prometheus"], [{"targets": ["localhost:9090"]}])
        with self.assertRaises(ValueError):
            static_configuration([], job_targets={"no-such-job": ["127.0.0.1:1"]})
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

    def test_the_rabbitmq_job_scrapes_the_brokers_plugin(self):
        jobs = {job["job_name"]: job for job in load("prometheus.yml")["scrape_configs"]}
        job = jobs[RABBITMQ_JOB]
        [static] = job["static_configs"]
        [target] = static["targets"]
        host, port = target.rsplit(":", 1)
        with open(os.path.join(DEPLOY, "compose.yaml")) as f:
            compose = yaml.safe_load(f)
        self.assertIn(host, compose["services"], "the broker's compose service")
        self.assertEqual(host, "rabbitmq")
        with open(os.path.join(RABBITMQ, "rabbitmq.conf")) as f:
            conf = dict(line.split(" = ", 1) for line in f.read().splitlines()
                        if line and not line.startswith("#"))
        self.assertEqual(port, conf["prometheus.tcp.port"], "the plugin's listener")
        with open(os.path.join(RABBITMQ, "enabled_plugins")) as f:
            plugins = re.fullmatch(r"\[([\w, ]*)\]\.\s*", f.read())
        self.assertIsNotNone(plugins, "enabled_plugins is an Erlang list of atoms")
        self.assertIn("rabbitmq_prometheus", [p.strip() for p in plugins.group(1).split(",")])
        self.assertIn("./rabbitmq/enabled_plugins:/etc/rabbitmq/enabled_plugins:ro",
                      compose["services"]["rabbitmq"]["volumes"])
        with open(os.path.join(RABBITMQ, "definitions.json")) as f:
            [vhost] = [v["name"] for v in json.load(f)["vhosts"]]
        # Per-queue series of that vhost only (plain /metrics sums over all queues).
        self.assertEqual(job["metrics_path"], "/metrics/detailed")
        self.assertEqual(job["params"], {"vhost": [vhost], "family": ["queue_coarse_metrics"]})

    def test_the_alerts_read_metrics_that_exist(self):
        with open(METRICS_SOURCE) as f:
            exported = f.read()
        rules = [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]]
        read, broker = set(), {}
        for rule in rules:
            self.assertTrue(rule["annotations"]["summary"] and rule["annotations"]["description"],
                            rule["alert"])
            names = metric_names(rule["expr"])
            self.assertTrue(names, rule["alert"])
            for name in names:
                if name.startswith("vecmesh_"):
                    read.add(re.sub(r"_(bucket|sum|count)$", "", name))
                elif name not in SYNTHETIC_METRICS:
                    self.assertIn(name, RABBITMQ_METRICS,
                                  f"{rule['alert']}: {name} is neither vecmeshd's nor a RabbitMQ "
                                  "metric of RABBITMQ_METRICS (tests/support/prometheus_server.py)")
                    # From the job that scrapes the broker, not from a namesake elsewhere.
                    self.assertRegex(rule["expr"], name + r'\{[^}]*job="' + RABBITMQ_JOB + '"',
                                     rule["alert"])
                    broker[rule["alert"]] = rule
        self.assertGreaterEqual(len(read), 5)
        for name in sorted(read):
            # Every metric vecmeshd exports has its "# TYPE NAME KIND" line.
            self.assertTrue(f"# TYPE {name} " in exported, f"{name}: not a metric vecmeshd exports")
        # The dead-letter queue's depth (issue 15), not a count of vecmeshd's events.
        dead = [rule for rule in broker.values() if f'queue="{DEAD_QUEUE}"' in rule["expr"]]
        self.assertEqual(len(dead), 1, broker)
        self.assertRegex(dead[0]["expr"],
                         r"\brabbitmq_detailed_queue_messages\{[^}]*\}\s*>\s*0\s*$")
        self.assertNotIn("vecmesh_jobs_total", " ".join(rule["expr"] for rule in rules),
                         "the dead letters are counted by the broker, not by vecmeshd's events")

    def test_metric_names(self):
        self.assertEqual(metric_names('sum by (instance) (rate(a_total{code=~"X|Y"}[5m])) / '
                                      "sum by (instance) (rate(a_total[5m])) > 0.05"), {"a_total"})
        self.assertEqual(metric_names('histogram_quantile(0.99, sum by (le) (rate(b_bucket[5m])))'),
                         {"b_bucket"})
        self.assertEqual(metric_names('up{job="faiss"} == 0 and on(instance) c'), {"up", "c"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
