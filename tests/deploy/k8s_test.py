"""deploy/k8s, the kustomize base, rendered by `kubectl kustomize` and checked object by object.

No cluster runs here: what a cluster would be given is what `kubectl kustomize deploy/k8s`
prints, so the test reads that.

1. The objects: StatefulSet, Services `vecmesh` and `vecmesh-headless`, PodDisruptionBudget,
   ConfigMap `vecmesh-config` and Secrets `vecmesh-api-keys`, `vecmesh-amqp`, the generated ones
   with kustomize's hash suffix (so a changed setting or key rolls the pods).
2. The StatefulSet: replicas, image, ports `rest` 8000 and `grpc` 50051, the three probes on the
   health paths vecmeshd serves, the volume claim at /data, the security context (non-root uid
   10001, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp),
   resources, a termination grace period longer than vecmeshd's own shutdown.
3. The Services and the PDB select the StatefulSet's pods and name its ports.
4. Every ConfigMap and Secret the pod reads is one that was rendered (hash suffix resolved), with
   the key asked for; the keys file is mounted where VECMESH_API_KEYS_FILE points; every VECMESH_*
   variable is an option of vecmeshd (`vecmeshd --help`), so a misspelt one cannot be ignored.
5. The base holds no secret: the keys file holds no key, the RabbitMQ password is a placeholder.
6. The overlay that kustomization.yaml documents (image, merged ConfigMap, replaced Secrets)
   renders, and the pods then read the overlay's Secrets.

Run: VECMESH_DAEMON=build/api/daemon/vecmeshd /usr/bin/python3 tests/deploy/k8s_test.py; KUBECTL
picks the kubectl binary (default: the one on PATH). Skipped only when there is no kubectl (exit
status 77, CTest's SKIP_RETURN_CODE).
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from urllib.parse import urlsplit

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
BASE = os.path.join(SOURCE, "deploy", "k8s")
KUBECTL = os.environ.get("KUBECTL", "kubectl")
# vecmeshd, as the e2e tests take it (CTest passes $<TARGET_FILE:vecmeshd>).
VECMESHD = os.environ.get("VECMESH_DAEMON",
                          os.path.join(SOURCE, "build", "api", "daemon", "vecmeshd"))

UID = 10001
GENERATED = {("ConfigMap", "vecmesh-config"), ("Secret", "vecmesh-api-keys"),
             ("Secret", "vecmesh-amqp")}
EXPECTED = GENERATED | {("StatefulSet", "vecmesh"), ("Service", "vecmesh"),
                        ("Service", "vecmesh-headless"), ("PodDisruptionBudget", "vecmesh")}


def kustomize(directory):
    """The documents `kubectl kustomize DIRECTORY` prints (its warnings go to stderr)."""
    run = subprocess.run([KUBECTL, "kustomize", directory], capture_output=True, text=True,
                         timeout=60)
    if run.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed ({run.returncode}):\n"
                             f"{run.stdout}{run.stderr}")
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


def kubectl_minor():
    run = subprocess.run([KUBECTL, "version", "--client", "-o", "json"], capture_output=True,
                         text=True, timeout=30)
    return int(re.match(r"\d+", json.loads(run.stdout)["clientVersion"]["minor"]).group())


class Rendered:
    """Rendered objects by kind and name; generated names found from the names in the sources."""

    def __init__(self, docs):
        self.docs = docs
        self.by_key = {}
        for doc in docs:
            key = (doc["kind"], doc["metadata"]["name"])
            if key in self.by_key:
                raise AssertionError(f"{key[0]}/{key[1]} rendered twice")
            self.by_key[key] = doc

    def name_of(self, kind, base):
        """The rendered name of the object written as BASE (BASE-<hash> once generated)."""
        hashed = re.escape(base) + r"-[a-z0-9]{6,}" if (kind, base) in GENERATED else None
        found = [name for k, name in self.by_key if k == kind and
                 (name == base or (hashed and re.fullmatch(hashed, name)))]
        if len(found) != 1:
            raise AssertionError(f"{kind}/{base}: expected one rendered object, found {found}")
        return found[0]

    def get(self, kind, base):
        return self.by_key[(kind, self.name_of(kind, base))]

    def base_of(self, kind, name):
        for k, base in EXPECTED:
            if k == kind and (name == base or ((kind, base) in GENERATED and
                                               re.fullmatch(re.escape(base) + r"-[a-z0-9]{6,}",
                                                            name))):
                return base
        return None


def field(obj, path):
    """obj's value at a dotted path; a failure names the object and the path."""
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']}: {path} is not set")
        value = value[part]
    return value


def where(obj, path):
    return f"{obj['kind']}/{obj['metadata']['name']} {path}"


def quantity(text):
    """A Kubernetes quantity ("500m", "2", "4Gi", "20G") as a number."""
    units = {"m": 1e-3, "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    if not match or match.group(2) not in units:
        raise AssertionError(f"{text!r} is not a quantity")
    return float(match.group(1)) * units[match.group(2)]


def secret_text(secret, key):
    return base64.b64decode(field(secret, "data." + key)).decode()


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which(KUBECTL) is None:
            raise unittest.SkipTest(f"{KUBECTL} not found: install kubectl (or Debian's "
                                    "kubernetes-client) to render deploy/k8s")
        cls.r = Rendered(kustomize(BASE))
        cls.sts = cls.r.get("StatefulSet", "vecmesh")
        cls.pod = field(cls.sts, "spec.template.spec")
        containers = cls.pod["containers"]
        assert len(containers) == 1, "StatefulSet/vecmesh: one container, vecmeshd"
        cls.c = containers[0]
        cls.cpath = f"spec.template.spec.containers[{cls.c['name']}]"

    def env(self):
        """The container's environment as vecmeshd sees it: envFrom first, env over it. Values
        from a ConfigMap or a Secret are read from the rendered objects."""
        result = {}
        for source in self.c.get("envFrom", []):
            self.assertIn("configMapRef", source, where(self.sts, self.cpath + ".envFrom"))
            ref = source["configMapRef"]["name"]
            config = self.r.by_key.get(("ConfigMap", ref))
            self.assertIsNotNone(config, where(self.sts, self.cpath + ".envFrom") +
                                 f": ConfigMap {ref} is not rendered")
            result.update({name: ("value", value) for name, value in config["data"].items()})
        for var in self.c.get("env", []):
            if "value" in var:
                result[var["name"]] = ("value", var["value"])
            else:
                result[var["name"]] = ("from", var["valueFrom"])
        return result

    def value(self, name):
        kind, value = self.env().get(name, (None, None))
        self.assertEqual(kind, "value", where(self.sts, self.cpath + f".env {name}") +
                         " is not a plain value (ConfigMap or env)")
        return value

    def volume(self, name):
        for volume in self.pod.get("volumes", []):
            if volume["name"] == name:
                return volume
        return None

    def mount(self, path):
        for mount in self.c.get("volumeMounts", []):
            if mount["mountPath"] == path:
                return mount
        self.fail(where(self.sts, self.cpath + ".volumeMounts") + f": nothing at {path}")

    # 1. The objects.
    def test_the_objects_and_their_names(self):
        rendered = {(kind, self.r.base_of(kind, name) or name) for kind, name in self.r.by_key}
        self.assertEqual(rendered, EXPECTED, "kinds and names rendered from deploy/k8s")
        for kind, base in GENERATED:
            self.assertNotEqual(self.r.name_of(kind, base), base,
                                f"{kind}/{base}: generated with a hash suffix, so that a change "
                                "rolls the pods")
        for (kind, name), obj in self.r.by_key.items():
            self.assertEqual(obj["metadata"].get("labels", {}).get("app.kubernetes.io/name"),
                             "vecmesh", f"{kind}/{name} metadata.labels app.kubernetes.io/name")

    # 2. The StatefulSet.
    def test_statefulset(self):
        s = self.sts
        self.assertEqual(field(s, "spec.replicas"), 2, where(s, "spec.replicas"))
        self.assertEqual(field(s, "spec.serviceName"), "vecmesh-headless",
                         where(s, "spec.serviceName"))
        self.assertEqual(self.c.get("image"), "vecmesh:0.1.0", where(s, self.cpath + ".image"))
        selector = field(s, "spec.selector.matchLabels")
        labels = field(s, "spec.template.metadata.labels")
        self.assertLessEqual(selector.items(), labels.items(),
                             where(s, "spec.selector.matchLabels") + " selects the pod labels")
        self.assertIs(self.pod.get("automountServiceAccountToken"), False,
                      where(s, "spec.template.spec.automountServiceAccountToken"))
        # Service links would set VECMESH_<SERVICE>_... variables, which vecmeshd may read.
        self.assertIs(self.pod.get("enableServiceLinks"), False,
                      where(s, "spec.template.spec.enableServiceLinks"))

    def test_container_ports(self):
        ports = {p.get("name"): p for p in self.c.get("ports", [])}
        for name, number in (("rest", 8000), ("grpc", 50051)):
            self.assertIn(name, ports, where(self.sts, self.cpath + f".ports {name}"))
            self.assertEqual(ports[name]["containerPort"], number,
                             where(self.sts, self.cpath + f".ports[{name}].containerPort"))
            self.assertEqual(ports[name].get("protocol", "TCP"), "TCP",
                             where(self.sts, self.cpath + f".ports[{name}].protocol"))
        # vecmeshd listens where the ports say, on every interface of the pod.
        self.assertEqual(self.value("VECMESH_REST_PORT"), "8000")
        self.assertEqual(self.value("VECMESH_GRPC_PORT"), "50051")
        self.assertEqual(self.value("VECMESH_HOST"), "0.0.0.0")

    def test_probes(self):
        for probe, path in (("startupProbe", "/health"), ("readinessProbe", "/health"),
                            ("livenessProbe", "/health/live")):
            at = f"{self.cpath}.{probe}"
            self.assertIn(probe, self.c, where(self.sts, at))
            get = self.c[probe].get("httpGet")
            self.assertIsNotNone(get, where(self.sts, at + ".httpGet"))
            self.assertEqual(get.get("path"), path, where(self.sts, at + ".httpGet.path"))
            self.assertEqual(get.get("port"), "rest", where(self.sts, at + ".httpGet.port"))
            self.assertEqual(get.get("scheme", "HTTP"), "HTTP", where(self.sts, at + ".scheme"))
        # Recovery replays the write-ahead log with /health at 503: the startup probe waits
        # minutes, not the liveness probe's seconds, before the pod is restarted.
        startup = self.c["startupProbe"]
        allowed_s = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
        self.assertGreaterEqual(allowed_s, 300, where(self.sts, self.cpath + ".startupProbe") +
                                ": periodSeconds x failureThreshold, the time recovery may take")

    def test_volume_claim_at_data(self):
        templates = self.sts["spec"].get("volumeClaimTemplates", [])
        claims = {t["metadata"]["name"]: t for t in templates}
        self.assertIn("data", claims, where(self.sts, "spec.volumeClaimTemplates data"))
        spec = claims["data"]["spec"]
        self.assertEqual(spec.get("accessModes"), ["ReadWriteOnce"],
                         where(self.sts, "spec.volumeClaimTemplates[data].spec.accessModes"))
        storage = spec.get("resources", {}).get("requests", {}).get("storage")
        self.assertIsNotNone(storage, where(
            self.sts, "spec.volumeClaimTemplates[data].spec.resources.requests.storage"))
        self.assertGreaterEqual(quantity(storage), 2**30, where(
            self.sts, "spec.volumeClaimTemplates[data].spec.resources.requests.storage"))
        mount = self.mount("/data")
        self.assertEqual(mount["name"], "data", where(self.sts, self.cpath + ".volumeMounts /data"))
        self.assertFalse(mount.get("readOnly", False), where(self.sts, self.cpath +
                                                             ".volumeMounts /data readOnly"))
        self.assertIsNone(self.volume("data"), where(self.sts, "spec.template.spec.volumes") +
                          ": a pod volume named data would hide the claim")
        self.assertEqual(self.value("VECMESH_DATA_DIR"), "/data")

    def test_security_context(self):
        pod = self.pod.get("securityContext", {})
        at = "spec.template.spec.securityContext"
        for key, expected in (("runAsNonRoot", True), ("runAsUser", UID), ("runAsGroup", UID),
                              ("fsGroup", UID)):
            self.assertEqual(pod.get(key), expected, where(self.sts, f"{at}.{key}"))
        self.assertEqual(pod.get("seccompProfile", {}).get("type"), "RuntimeDefault",
                         where(self.sts, at + ".seccompProfile.type"))
        container = self.c.get("securityContext", {})
        at = self.cpath + ".securityContext"
        for key, expected in (("allowPrivilegeEscalation", False),
                              ("readOnlyRootFilesystem", True)):
            self.assertIs(container.get(key), expected, where(self.sts, f"{at}.{key}"))
        self.assertEqual(container.get("capabilities", {}).get("drop"), ["ALL"],
                         where(self.sts, at + ".capabilities.drop"))
        self.assertFalse(container.get("capabilities", {}).get("add"),
                         where(self.sts, at + ".capabilities.add"))
        self.assertIsNot(container.get("privileged"), True, where(self.sts, at + ".privileged"))
        # Whatever the container sets wins over the pod: it must not undo the pod's.
        self.assertIsNot(container.get("runAsNonRoot"), False,
                         where(self.sts, at + ".runAsNonRoot"))
        for key in ("runAsUser", "runAsGroup"):
            self.assertIn(container.get(key, UID), (UID,), where(self.sts, f"{at}.{key}"))
        self.assertIn(container.get("seccompProfile", {}).get("type", "RuntimeDefault"),
                      ("RuntimeDefault",), where(self.sts, at + ".seccompProfile.type"))
        # With a read-only root, what is written goes to the claim or to emptyDirs only.
        for mount in self.c.get("volumeMounts", []):
            if mount.get("readOnly") or mount["name"] == "data":
                continue
            volume = self.volume(mount["name"])
            self.assertTrue(volume and "emptyDir" in volume,
                            where(self.sts, self.cpath + f".volumeMounts {mount['mountPath']}") +
                            ": a writable mount is the claim or an emptyDir")
        for volume in self.pod.get("volumes", []):
            self.assertNotIn("hostPath", volume, where(self.sts, "spec.template.spec.volumes"))

    def test_resources(self):
        resources = self.c.get("resources", {})
        at = self.cpath + ".resources"
        for resource in ("cpu", "memory"):
            request = resources.get("requests", {}).get(resource)
            limit = resources.get("limits", {}).get(resource)
            self.assertIsNotNone(request, where(self.sts, f"{at}.requests.{resource}"))
            self.assertIsNotNone(limit, where(self.sts, f"{at}.limits.{resource}"))
            self.assertLessEqual(quantity(request), quantity(limit),
                                 where(self.sts, f"{at}.requests.{resource}") + " <= limits")
        # 0 threads means one per core of the node, not of the container's CPU limit.
        cpus = quantity(resources["limits"]["cpu"])
        for name in ("VECMESH_WORKERS", "VECMESH_SEARCH_THREADS"):
            self.assertEqual(float(self.value(name)), cpus,
                             f"{name} equals {where(self.sts, at + '.limits.cpu')}")

    def test_termination_grace_covers_vecmeshds_shutdown(self):
        env = self.env()
        drain_ms = int(env.get("VECMESH_SHUTDOWN_DRAIN_MS", ("value", "0"))[1])
        grace_s = int(env.get("VECMESH_SHUTDOWN_GRACE_S", ("value", "10"))[1])
        self.assertGreater(drain_ms, 0, "VECMESH_SHUTDOWN_DRAIN_MS: endpoints and gateways drop "
                           "the pod while it still serves")
        period = self.pod.get("terminationGracePeriodSeconds", 30)
        self.assertGreater(period, drain_ms / 1000 + grace_s + 10,
                           where(self.sts, "spec.template.spec.terminationGracePeriodSeconds") +
                           " above drain + grace (+ time to checkpoint)")

    # 3. Services and PDB.
    def check_selects_the_pods(self, obj, path, selector):
        labels = self.sts["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(selector, where(obj, path) + " is empty")
        self.assertLessEqual(selector.items(), labels.items(),
                             where(obj, path) + " selects the StatefulSet's pods")

    def check_ports(self, service):
        container_ports = {p["name"]: p["containerPort"] for p in self.c["ports"]}
        ports = {p.get("name"): p for p in field(service, "spec.ports")}
        self.assertEqual(set(ports), {"rest", "grpc"}, where(service, "spec.ports names"))
        for name, number in (("rest", 8000), ("grpc", 50051)):
            port = ports[name]
            self.assertEqual(port["port"], number, where(service, f"spec.ports[{name}].port"))
            target = port.get("targetPort", port["port"])
            self.assertIn(target, (name, number), where(service, f"spec.ports[{name}].targetPort"))
            self.assertEqual(container_ports.get(name), number,
                             where(service, f"spec.ports[{name}].targetPort") +
                             " reaches the container port")
        self.assertEqual(ports["grpc"].get("appProtocol"), "grpc",
                         where(service, "spec.ports[grpc].appProtocol"))
        self.check_selects_the_pods(service, "spec.selector", field(service, "spec.selector"))

    def test_service(self):
        service = self.r.get("Service", "vecmesh")
        self.assertEqual(service["spec"].get("type", "ClusterIP"), "ClusterIP",
                         where(service, "spec.type"))
        self.assertNotEqual(service["spec"].get("clusterIP"), "None", where(service,
                                                                            "spec.clusterIP"))
        self.check_ports(service)

    def test_headless_service(self):
        service = self.r.get("Service", "vecmesh-headless")
        self.assertEqual(service["spec"].get("clusterIP"), "None", where(service, "spec.clusterIP"))
        self.assertIs(service["spec"].get("publishNotReadyAddresses"), True,
                      where(service, "spec.publishNotReadyAddresses"))
        self.check_ports(service)

    def test_pod_disruption_budget(self):
        pdb = self.r.get("PodDisruptionBudget", "vecmesh")
        self.assertEqual(pdb["apiVersion"], "policy/v1", where(pdb, "apiVersion"))
        self.assertEqual(pdb["spec"].get("maxUnavailable"), 1, where(pdb, "spec.maxUnavailable"))
        self.assertNotIn("minAvailable", pdb["spec"], where(pdb, "spec.minAvailable"))
        self.check_selects_the_pods(pdb, "spec.selector.matchLabels",
                                    field(pdb, "spec.selector.matchLabels"))

    # 4. What the pod reads.
    def test_config_and_secrets_are_the_rendered_ones(self):
        refs = [source["configMapRef"]["name"] for source in self.c.get("envFrom", [])]
        self.assertEqual(refs, [self.r.name_of("ConfigMap", "vecmesh-config")],
                         where(self.sts, self.cpath + ".envFrom[].configMapRef.name"))
        env = self.env()
        for name, (kind, source) in env.items():
            if kind != "from":
                continue
            at = where(self.sts, self.cpath + f".env[{name}].valueFrom")
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                secret = self.r.by_key.get(("Secret", ref["name"]))
                self.assertIsNotNone(secret,
                                     f"{at}.secretKeyRef.name: {ref['name']} is not rendered")
                self.assertIn(ref["key"], secret.get("data", {}), f"{at}.secretKeyRef.key")
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                config = self.r.by_key.get(("ConfigMap", ref["name"]))
                self.assertIsNotNone(config, f"{at}.configMapKeyRef.name: {ref['name']}")
                self.assertIn(ref["key"], config.get("data", {}), f"{at}.configMapKeyRef.key")
            else:
                self.assertIn("fieldRef", source, at)
        for volume in self.pod.get("volumes", []):
            if "secret" in volume:
                self.assertIn(("Secret", volume["secret"]["secretName"]), self.r.by_key,
                              where(self.sts, f"spec.template.spec.volumes[{volume['name']}]"
                                    ".secret.secretName"))
        # The values the deployment depends on.
        advertise = env.get("VECMESH_ADVERTISE_HOST", (None, {}))
        self.assertEqual(advertise[1].get("fieldRef", {}).get("fieldPath") if advertise[0] == "from"
                         else None, "status.podIP",
                         where(self.sts, self.cpath + ".env[VECMESH_ADVERTISE_HOST]"))
        amqp = env.get("VECMESH_AMQP_URL", (None, {}))
        self.assertEqual(amqp[0], "from", where(self.sts, self.cpath + ".env[VECMESH_AMQP_URL]") +
                         " comes from a Secret, never a plain value")
        self.assertIn("secretKeyRef", amqp[1], where(self.sts, self.cpath +
                                                     ".env[VECMESH_AMQP_URL].valueFrom"))
        self.assertEqual(amqp[1]["secretKeyRef"]["name"], self.r.name_of("Secret", "vecmesh-amqp"),
                         where(self.sts, self.cpath + ".env[VECMESH_AMQP_URL]"))
        self.assertTrue(self.value("CONSUL_HTTP_ADDR"))
        self.assertEqual(self.value("VECMESH_CHROMA_URL"), "consul://chromadb")
        self.assertEqual(self.value("VECMESH_QDRANT_URL"), "consul://qdrant")

    def test_keys_file_is_mounted_where_vecmeshd_reads_it(self):
        path = self.value("VECMESH_API_KEYS_FILE")
        directory, key = os.path.split(path)
        mount = self.mount(directory)
        at = where(self.sts, self.cpath + f".volumeMounts {directory}")
        self.assertTrue(mount.get("readOnly"), at + " readOnly")
        # A subPath mount would never see the Secret change.
        self.assertNotIn("subPath", mount, at + " subPath")
        volume = self.volume(mount["name"])
        self.assertTrue(volume and "secret" in volume, at + " is a Secret volume")
        secret_name = volume["secret"]["secretName"]
        self.assertEqual(secret_name, self.r.name_of("Secret", "vecmesh-api-keys"),
                         where(self.sts, f"spec.template.spec.volumes[{volume['name']}]"
                               ".secret.secretName"))
        items = {item["path"]: item["key"] for item in volume["secret"].get("items", [])}
        data_key = items.get(key, key) if items else key
        secret = self.r.by_key[("Secret", secret_name)]
        self.assertIn(data_key, secret.get("data", {}),
                      where(secret, f"data.{data_key}") + f" (VECMESH_API_KEYS_FILE={path})")
        mode = volume["secret"].get("defaultMode", 0o644)
        self.assertEqual(mode & 0o007, 0, where(self.sts, f"spec.template.spec.volumes["
                                                f"{volume['name']}].secret.defaultMode") +
                         ": not readable by others")
        self.assertTrue(mode & 0o040 or self.pod["securityContext"].get("fsGroup") is None,
                        "the keys file is readable by the pod's fsGroup")

    def test_env_names_are_vecmeshd_options(self):
        self.assertTrue(os.access(VECMESHD, os.X_OK),
                        f"vecmeshd not found at {VECMESHD}: give its path in VECMESH_DAEMON")
        run = subprocess.run([VECMESHD, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        options = dict(re.findall(r"\((VECMESH_[A-Z0-9_]+), default '([^']*)'\)", run.stdout))
        self.assertIn("VECMESH_HOST", options, "vecmeshd --help lists its variables")
        # Consul's own variables, which vecmeshd reads when its options are empty.
        known = set(options) | {"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE"}
        for name in self.env():
            self.assertIn(name, known, where(self.sts, self.cpath + f".env {name}") +
                          ": not a variable vecmeshd reads")
        self.assertIn("CONSUL_HTTP_ADDR", run.stdout)
        # The ports here are vecmeshd's defaults, which the image and compose also use.
        self.assertEqual(options.get("VECMESH_REST_PORT"), "8000")
        self.assertEqual(options.get("VECMESH_GRPC_PORT"), "50051")

    # 5. No secret in the base.
    def test_the_base_holds_no_secret(self):
        secret = self.r.get("Secret", "vecmesh-api-keys")
        keys_file = secret_text(secret, "api-keys")
        lines = [line.strip() for line in keys_file.splitlines()]
        self.assertTrue(any(lines), where(secret, "data.api-keys") + " explains itself")
        self.assertEqual([line for line in lines if line and not line.startswith("#")], [],
                         where(secret, "data.api-keys") + ": holds no key (a placeholder key "
                         "would be a working key known to everyone)")
        self.assertIn("PLACEHOLDER", keys_file, where(secret, "data.api-keys"))
        amqp = self.r.get("Secret", "vecmesh-amqp")
        url = urlsplit(secret_text(amqp, "amqp-url"))
        self.assertEqual((url.scheme, url.hostname, url.port, url.path),
                         ("amqp", "rabbitmq", 5672, "/%2Fsutazai"),
                         where(amqp, "data.amqp-url") + ": the broker and the vhost /sutazai")
        self.assertEqual(url.password, "REPLACE_ME", where(amqp, "data.amqp-url") +
                         ": its password is a placeholder")

    # 6. The documented overlay.
    def test_the_documented_overlay(self):
        old = kubectl_minor() < 21  # kustomize v2.0.3: `bases:` and `env:`
        with tempfile.TemporaryDirectory() as work:
            overlay = os.path.join(work, "prod")
            os.mkdir(overlay)
            with open(os.path.join(overlay, "api-keys"), "w") as f:
                f.write("admin overlay-admin-key\nread_only overlay-read-key\n")
            with open(os.path.join(overlay, "amqp.env"), "w") as f:
                f.write("amqp-url=amqp://vecmesh:overlay-pw@rabbitmq.mq.svc:5672/%2Fsutazai\n")
            kustomization = {
                "bases" if old else "resources": [os.path.relpath(BASE, overlay)],
                "namespace": "vecmesh",
                "images": [{"name": "vecmesh", "newName": "registry.example.com/vecmesh",
                            "newTag": "0.1.1"}],
                "configMapGenerator": [{"name": "vecmesh-config", "behavior": "merge",
                                        "literals": ["CONSUL_HTTP_ADDR=consul.consul.svc:8500"]}],
                "secretGenerator": [
                    {"name": "vecmesh-api-keys", "behavior": "replace",
                     "files": ["api-keys=api-keys"]},
                    dict({"name": "vecmesh-amqp", "behavior": "replace"},
                         **({"env": "amqp.env"} if old else {"envs": ["amqp.env"]})),
                ],
            }
            with open(os.path.join(overlay, "kustomization.yaml"), "w") as f:
                yaml.safe_dump(kustomization, f)
            r = Rendered(kustomize(overlay))
        sts = r.get("StatefulSet", "vecmesh")
        container = sts["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(container["image"], "registry.example.com/vecmesh:0.1.1",
                         where(sts, "containers[0].image") + " set by the overlay's images")
        for obj in r.docs:
            self.assertEqual(obj["metadata"].get("namespace"), "vecmesh",
                             where(obj, "metadata.namespace"))
        config = r.get("ConfigMap", "vecmesh-config")
        self.assertEqual(config["data"]["CONSUL_HTTP_ADDR"], "consul.consul.svc:8500",
                         where(config, "data.CONSUL_HTTP_ADDR") + " merged from the overlay")
        self.assertEqual(config["data"]["VECMESH_HOST"], "0.0.0.0",
                         where(config, "data.VECMESH_HOST") + " kept from the base")
        self.assertEqual(container["envFrom"][0]["configMapRef"]["name"],
                         config["metadata"]["name"], where(sts, "envFrom configMapRef"))
        keys = r.get("Secret", "vecmesh-api-keys")
        self.assertIn("admin overlay-admin-key", secret_text(keys, "api-keys"),
                      where(keys, "data.api-keys") + " replaced by the overlay's file")
        volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual([v["secret"]["secretName"] for v in volumes.values() if "secret" in v],
                         [keys["metadata"]["name"]], where(sts, "volumes secret.secretName"))
        amqp = r.get("Secret", "vecmesh-amqp")
        self.assertEqual(secret_text(amqp, "amqp-url"),
                         "amqp://vecmesh:overlay-pw@rabbitmq.mq.svc:5672/%2Fsutazai",
                         where(amqp, "data.amqp-url") + " from the overlay, no trailing newline")
        refs = [e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]
                if "secretKeyRef" in e.get("valueFrom", {})]
        self.assertEqual(refs, [amqp["metadata"]["name"]], where(sts, "env secretKeyRef.name"))


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.skipped and result.testsRun <= len(result.skipped):
        sys.exit(77)  # nothing ran: no kubectl
