#!/usr/bin/python3
"""A real Prometheus server (Debian's `prometheus`) running deploy/prometheus's configuration.

    with PrometheusServer(["127.0.0.1:8000"]) as prometheus:    # free loopback port
        prometheus.query("up")                                   # the result of one instant query

    PrometheusServer(["127.0.0.1:8000"], job_targets={"rabbitmq": ["127.0.0.1:15692"]})

deploy/prometheus/prometheus.yml finds vecmeshd through Consul, but Debian's Prometheus is built
without Consul discovery (../shared/contracts/README.md). static_configuration() therefore turns
every consul_sd_configs block into static targets; everything else (scrape and rule settings,
alerts.yml) is the file's own. The same conversion is what tests/deploy/prometheus_test.py
gives promtool. job_targets points other jobs elsewhere (the `rabbitmq` job scrapes the compose
host name rabbitmq:15692: a test points it at a node of its own, RabbitMQServer(prometheus=True));
a job it does not name keeps the file's targets.

RABBITMQ_METRICS: the RabbitMQ metrics (of its rabbitmq_prometheus plugin, scraped by the job
`rabbitmq`) that deploy/prometheus/alerts.yml and deploy/grafana's dashboard may read; the tests
check every other name they read against what vecmeshd exports, and tests/deploy/mesh_test.py
checks these against a live broker.

Stdlib and PyYAML only; run it with /usr/bin/python3.
"""
import copy
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from server_process import MAX_LIFETIME_S, ManagedServer, http_ok

DEPLOY_PROMETHEUS = Path(__file__).resolve().parent.parent.parent / "deploy" / "prometheus"
START_TIMEOUT_S = 60
# {name: kind} of the RabbitMQ metrics deploy/ reads, all from the job `rabbitmq`
# (/metrics/detailed, family queue_coarse_metrics; labels vhost and queue).
RABBITMQ_JOB = "rabbitmq"
RABBITMQ_METRICS = {
    "rabbitmq_detailed_queue_messages": "gauge",  # ready + unacknowledged: the queue's depth
}


def static_configuration(targets, scrape_interval_s=None, job_targets=None):
    """deploy/prometheus/prometheus.yml as a dict, its Consul-discovered jobs scraping `targets`
    (["host:port", ...]) instead, its rule files named by absolute path. job_targets ({job name:
    ["host:port", ...]}): those jobs scrape these static targets instead of theirs (a name that is
    no job of the file is an error); the others keep the file's. With scrape_interval_s, scrapes
    and rule evaluations run that often (a test wants data within seconds, not 15 s)."""
    with open(DEPLOY_PROMETHEUS / "prometheus.yml") as f:
        config = yaml.safe_load(f)
    config = copy.deepcopy(config)
    job_targets = dict(job_targets or {})
    unknown = set(job_targets) - {job["job_name"] for job in config["scrape_configs"]}
    if unknown:
        raise ValueError(f"no job {', '.join(sorted(unknown))} in "
                         f"{DEPLOY_PROMETHEUS / 'prometheus.yml'}")
    for job in config["scrape_configs"]:
        if job["job_name"] in job_targets:
            job.pop("consul_sd_configs", None)
            job["static_configs"] = [{"targets": list(job_targets[job["job_name"]])}]
        elif "consul_sd_configs" in job:
            del job["consul_sd_configs"]
            job["static_configs"] = [{"targets": list(targets)}]
    config["rule_files"] = [str(DEPLOY_PROMETHEUS / name) for name in config.get("rule_files", [])]
    if scrape_interval_s is not None:
        config["global"]["scrape_interval"] = f"{scrape_interval_s}s"
        config["global"]["evaluation_interval"] = f"{scrape_interval_s}s"
    return config


def launch(targets, config_path, data_dir, port, log_path, scrape_interval_s=None,
           job_targets=None):
    """Writes static_configuration(targets, scrape_interval_s, job_targets) to config_path and
    starts Prometheus on 127.0.0.1:port with it, its TSDB in data_dir, in a new session (its own
    process group), output appended to log_path. Returns the Popen of the group leader."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not on the PATH: scripts/install-deps installs it")
    with open(config_path, "w") as f:
        yaml.safe_dump(static_configuration(targets, scrape_interval_s, job_targets), f)
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%H:%M:%S')} prometheus on port {port}\n".encode())
        log.flush()
        return subprocess.Popen(
            [binary, f"--config.file={config_path}", f"--storage.tsdb.path={data_dir}",
             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)


def ready(url):
    """Whether the Prometheus at url is ready to serve queries."""
    return http_ok(url + "/-/ready")


class PrometheusServer(ManagedServer):
    """Debian's Prometheus on a loopback port, scraping `targets` (and job_targets) with
    deploy/prometheus's configuration (static_configuration), its TSDB in data_dir."""

    label, what, log_name = "prometheus_server", "Prometheus server", "prometheus.log"

    def __init__(self, targets, scrape_interval_s=1, data_dir=None, port=None,
                 start_timeout_s=START_TIMEOUT_S, max_lifetime_s=MAX_LIFETIME_S, job_targets=None):
        super().__init__(data_dir, port, start_timeout_s, max_lifetime_s)
        self.targets = list(targets)
        self.job_targets = dict(job_targets or {})
        self.scrape_interval_s = scrape_interval_s
        self.config_path = Path(self._scratch) / "prometheus.yml"

    def _launch(self, port):
        return launch(self.targets, self.config_path, self.data_dir, port, self.log_path,
                      self.scrape_interval_s, self.job_targets)

    def _ready(self, url):
        return ready(url)

    def api(self, path, **params):
        """GET /api/v1/PATH?params: the decoded answer (its "status" is "success" or "error";
        an error answer is returned, not raised)."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            return json.load(error)

    def query(self, expression):
        """One instant query: the API's answer (see api)."""
        return self.api("query", query=expression)
