"""One source of truth for deploy/: what the files of deploy/ say about vecmeshd agrees with
vecmeshd itself, and with each other.

The truth is vecmeshd (its defaults, from `vecmeshd --help`; its queue, from
adapters/amqp/topology.h) and API.md (Consul service `faiss`, the queue's topology as
tests/support/rabbitmq_topology.py holds it). Against it:
  - ports: the image's EXPOSE, compose's replicas, Kong's service and upstream, the k8s Service and
    containers;
  - names: the Consul service Kong resolves and Prometheus discovers, Consul's address in compose
    and Prometheus, the compose services the other files name;
  - health paths: Kong's active check, compose's image healthcheck, the k8s probes;
  - the body limit: Kong's request-size-limiting, and the upload route's limit;
  - the queue: definitions.json's name and arguments, rabbitmq.conf's message size, the vhost in
    compose's AMQP URL;
  - every VECMESH_* variable compose or k8s sets is one vecmeshd reads.
The runtime image's libraries are checked by tests/deploy/image_test.py.

argv[1] (or VECMESH_DAEMON): the vecmeshd binary.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest
from urllib.parse import unquote, urlsplit

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(SOURCE, "deploy")
sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))
import rabbitmq_topology  # noqa: E402

VECMESHD = os.environ.get("VECMESH_DAEMON", "")
MEBIBYTE = 1 << 20
CONSUL_VARIABLES = {"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE"}


def load(*path):
    with open(os.path.join(DEPLOY, *path)) as f:
        return json.load(f) if path[-1].endswith(".json") else yaml.safe_load(f)


def vecmeshd_help():
    """(`vecmeshd --help`'s {VARIABLE: default}, every VECMESH_* variable its text names)."""
    run = subprocess.run([VECMESHD, "--help"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    defaults = dict(re.findall(r"\((VECMESH_[A-Z0-9_]+), default '([^']*)'\)", run.stdout))
    return defaults, set(re.findall(r"\bVECMESH_[A-Z0-9_]+", run.stdout))


def resolved_compose():
    """compose.yaml as docker-compose reads it, with deploy/.env.example's values."""
    run = subprocess.run(["docker-compose", "--env-file", os.path.join(DEPLOY, ".env.example"), "-f",
                          os.path.join(DEPLOY, "compose.yaml"), "config"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return yaml.safe_load(run.stdout)


def dockerfile_final_stage():
    """The instructions of the Dockerfile's last stage, as (INSTRUCTION, arguments) pairs, with
    line continuations joined."""
    with open(os.path.join(DEPLOY, "docker", "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages, current = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            current = []
            stages.append(current)
        current.append((instruction.upper(), arguments.strip()))
    return stages[-1]


def rabbitmq_conf():
    """deploy/rabbitmq/rabbitmq.conf's settings."""
    with open(os.path.join(DEPLOY, "rabbitmq", "rabbitmq.conf")) as f:
        return dict(re.findall(r"^([\w.]+)\s*=\s*(\S+)", f.read(), re.M))


def published(service):
    """{container port: host port} of a resolved compose service."""
    return {int(p["target"]): int(p["published"]) for p in service.get("ports", [])}


def topology_header():
    """The queue names vecmeshd declares (adapters/amqp/topology.h)."""
    with open(os.path.join(SOURCE, "adapters", "amqp", "topology.h")) as f:
        return dict(re.findall(r'constexpr std::string_view (k\w+) = "([^"]+)"', f.read()))


def kustomize():
    """The rendered objects of deploy/k8s, or None without kubectl (deploy_k8s says so too)."""
    kubectl = shutil.which(os.environ.get("KUBECTL", "kubectl"))
    if kubectl is None:
        return None
    run = subprocess.run([kubectl, "kustomize", os.path.join(DEPLOY, "k8s")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


class Consistency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.defaults, cls.variables = vecmeshd_help()
        cls.rest_port = int(cls.defaults["VECMESH_REST_PORT"])
        cls.grpc_port = int(cls.defaults["VECMESH_GRPC_PORT"])
        cls.compose = resolved_compose()
        cls.kong = load("kong", "kong.yml")
        cls.k8s = kustomize()

    def k8s_object(self, kind, name):
        for obj in self.k8s:
            if obj["kind"] == kind and (obj["metadata"]["name"] == name):
                return obj
        self.fail(f"k8s: no {kind} {name}")

    def replicas(self):
        return {name: s for name, s in self.compose["services"].items() if name.startswith("vecmesh-")}

    def test_vecmeshds_defaults_are_the_contracts(self):
        self.assertEqual((self.rest_port, self.grpc_port), (8000, 50051), "API.md's defaults")

    def test_ports(self):
        stage = dict(dockerfile_final_stage())
        exposed = {int(p.split("/")[0]) for p in stage["EXPOSE"].split()}
        self.assertEqual(exposed, {self.rest_port, self.grpc_port}, "Dockerfile EXPOSE")
        for name, replica in self.replicas().items():
            for target in published(replica):
                self.assertIn(target, (self.rest_port, self.grpc_port), name)
            self.assertNotIn("VECMESH_REST_PORT", replica["environment"], f"{name}: the default port")
        [service] = self.kong["services"]
        self.assertEqual(service["port"], self.rest_port, "kong.yml service port")
        [upstream] = self.kong["upstreams"]
        for target in upstream["targets"]:
            self.assertEqual(int(target["target"].rsplit(":", 1)[1]), self.rest_port, "kong.yml target")

    def test_names(self):
        # The Consul service vecmeshd registers (API.md): Kong resolves it, Prometheus discovers it.
        [upstream] = self.kong["upstreams"]
        self.assertEqual([t["target"].split(":")[0] for t in upstream["targets"]], ["faiss.service.consul"])
        prometheus = load("prometheus", "prometheus.yml")
        [job] = [j for j in prometheus["scrape_configs"] if "consul_sd_configs" in j]
        [consul_sd] = job["consul_sd_configs"]
        self.assertEqual(consul_sd["services"], ["faiss"])
        # Consul's address, as compose names it.
        host, port = consul_sd["server"].split(":")
        self.assertIn(host, self.compose["services"], "prometheus.yml's Consul is compose's")
        consul = load("consul", "consul.json")
        for name, replica in self.replicas().items():
            self.assertEqual(replica["environment"]["CONSUL_HTTP_ADDR"], consul_sd["server"], name)
        self.assertEqual(published(self.compose["services"]["consul"]).get(int(port)), int(port))
        self.assertEqual(consul["ports"]["dns"], int(
            self.compose["services"]["kong"]["environment"]["KONG_DNS_RESOLVER"].split(":")[1]))
        # The backends' Consul services exist, and Grafana's Prometheus is compose's.
        datasources = load("grafana", "provisioning", "datasources", "prometheus.yml")["datasources"]
        for source in datasources:
            url = urlsplit(source["url"])
            self.assertIn(url.hostname, self.compose["services"], f"Grafana datasource {source['url']}")
            self.assertIn(url.port, published(self.compose["services"][url.hostname]))

    def test_health_paths(self):
        [upstream] = self.kong["upstreams"]
        self.assertEqual(upstream["healthchecks"]["active"]["http_path"], "/health")
        stage = dict(dockerfile_final_stage())
        self.assertRegex(stage["HEALTHCHECK"],
                         rf"127\.0\.0\.1:(\$\{{VECMESH_REST_PORT:-{self.rest_port}\}}|{self.rest_port})/health\b")

    def test_body_limits(self):
        plugins = {p["name"]: p["config"] for p in self.kong["plugins"]}
        limit = plugins["request-size-limiting"]
        self.assertEqual(limit["size_unit"], "megabytes")
        self.assertEqual(limit["allowed_payload_size"] * MEBIBYTE, int(self.defaults["VECMESH_MAX_BODY_BYTES"]),
                         "Kong's body limit is vecmeshd's --max-body-bytes")
        [service] = self.kong["services"]
        [upload] = [r for r in service["routes"] if r["name"] == "faiss-snapshot-upload"]
        [upload_limit] = [p["config"] for p in upload["plugins"] if p["name"] == "request-size-limiting"]
        self.assertEqual(upload_limit["allowed_payload_size"] * MEBIBYTE,
                         int(self.defaults["VECMESH_MAX_UPLOAD_BYTES"]), "uploads: --max-upload-bytes")
        # A job's message is at most one request body (an import), and the broker takes it.
        conf = rabbitmq_conf()
        self.assertGreaterEqual(int(conf["max_message_size"]), int(self.defaults["VECMESH_MAX_BODY_BYTES"]))

    def test_the_queue(self):
        header = topology_header()
        self.assertEqual((header["kJobQueue"], header["kDeadLetterExchange"], header["kDeadLetterRoutingKey"]),
                         (rabbitmq_topology.QUEUE, rabbitmq_topology.DLX, rabbitmq_topology.DEAD_QUEUE),
                         "vecmeshd declares API.md's topology")
        definitions = load("rabbitmq", "definitions.json")
        [vhost] = [v["name"] for v in definitions["vhosts"]]
        got = rabbitmq_topology.definitions_topology(definitions, vhost)
        self.assertEqual(rabbitmq_topology.differences(rabbitmq_topology.API_TOPOLOGY, got), [])
        for name, replica in self.replicas().items():
            url = urlsplit(replica["environment"]["VECMESH_AMQP_URL"])
            self.assertEqual(unquote(url.path[1:]), vhost, f"{name}: the AMQP URL's vhost")
            self.assertEqual(url.hostname, "rabbitmq")
            self.assertIn(url.hostname, self.compose["services"])
        self.assertIn("load_definitions", rabbitmq_conf())

    def test_every_variable_is_one_vecmeshd_reads(self):
        known = self.variables | CONSUL_VARIABLES
        for name, replica in self.replicas().items():
            for variable in replica["environment"]:
                self.assertIn(variable, known, f"compose {name}: {variable}")
        for instruction, arguments in dockerfile_final_stage():
            if instruction == "ENV":
                for variable in re.findall(r"(\w+)=", arguments):
                    if variable.startswith("VECMESH_"):
                        self.assertIn(variable, known, f"Dockerfile ENV {variable}")

    def test_kubernetes(self):
        if self.k8s is None:
            self.skipTest("no kubectl to render deploy/k8s (deploy_k8s is skipped too)")
        svc = self.k8s_object("Service", "vecmesh")
        self.assertEqual({p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]},
                         {"rest": (self.rest_port, "rest"), "grpc": (self.grpc_port, "grpc")})
        [container] = self.k8s_object("StatefulSet", "vecmesh")["spec"]["template"]["spec"]["containers"]
        self.assertEqual({p["name"]: p["containerPort"] for p in container["ports"]},
                         {"rest": self.rest_port, "grpc": self.grpc_port})
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/health")
        self.assertEqual(container["startupProbe"]["httpGet"]["path"], "/health")
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/health/live")
        known = self.variables | CONSUL_VARIABLES
        for entry in container.get("env", []):
            self.assertIn(entry["name"], known, f"k8s env {entry['name']}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        VECMESHD = sys.argv.pop(1)
    unittest.main(verbosity=2)
