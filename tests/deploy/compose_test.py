"""deploy/compose.yaml and what it mounts (Kong, Consul, RabbitMQ), checked without a container
engine.

1. Debian's docker-compose accepts the file with deploy/.env.example (`config -q`), and refuses it,
   naming the variable, when a secret is not set.
2. yamllint is clean on deploy/ (settings: deploy/.yamllint).
3. The mesh: two vecmeshd replicas, each with its own named volume at /data; every other part
   named; one network; every service with a healthcheck (vecmeshd's comes with its image); Consul
   at the fixed address Kong's DNS resolver names; every secret from the .env, whose example holds
   none.
4. kong.yml: the route /api/faiss strips only /api/faiss and captures the collection's name the
   upstream hashes on (the regular expressions run here, as PCRE would run them); the upstream
   reaches faiss.service.consul with active health checks that are on (thresholds above 0); the
   plugins the issue asks for, key-auth on the header vecmeshd reads.
5. kong/start.sh appends the consumers from the environment, and refuses a key it cannot quote
   and a start without keys. rabbitmq/start.sh (with the broker and rabbitmqctl recorded) waits
   for the node's cookie and its start, sets both users from the environment, passwords on stdin,
   and passes SIGTERM on to the broker.
6. consul.json defines the services vecmeshd's consul:// backends look for, with health checks.
"""
import os
import re
import signal
import stat
import subprocess
import tempfile
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(SOURCE, "deploy")
COMPOSE = os.path.join(DEPLOY, "compose.yaml")
ENV_EXAMPLE = os.path.join(DEPLOY, ".env.example")


def load(*path):
    with open(os.path.join(DEPLOY, *path)) as f:
        return yaml.safe_load(f)


def run(*command, env=None, timeout_s=60):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)


def env_example():
    values = {}
    with open(ENV_EXAMPLE) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                values[name] = value
    return values


def pcre_to_python(pattern):
    """A Kong regex path (leading `~`, PCRE named groups) as Python's re takes it."""
    assert pattern.startswith("~"), pattern
    return re.compile(pattern[1:].replace("(?<", "(?P<"))


def route_match(route, path):
    """What Kong does with `path` on this route: None when no path matches, else (the path that
    reaches the service with strip_path, the captures). Kong anchors regex paths at the start."""
    for pattern in route["paths"]:
        match = pcre_to_python(pattern).match(path)
        if match:
            stripped = path[match.end():] if route.get("strip_path", True) else path
            return (stripped or "/"), match.groupdict()
    return None


class Compose(unittest.TestCase):
    def test_docker_compose_accepts_the_file_with_the_example_env(self):
        check = run("docker-compose", "--env-file", ENV_EXAMPLE, "-f", COMPOSE, "config", "-q")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_a_missing_secret_is_refused_by_name(self):
        with tempfile.TemporaryDirectory() as work:
            partial = os.path.join(work, ".env")
            with open(partial, "w") as f:
                f.writelines(f"{k}={v}\n" for k, v in env_example().items() if k != "QDRANT_API_KEY")
            env = {k: v for k, v in os.environ.items() if k != "QDRANT_API_KEY"}
            check = run("docker-compose", "--env-file", partial, "-f", COMPOSE, "config", "-q", env=env)
        self.assertNotEqual(check.returncode, 0)
        self.assertIn("set it in deploy/.env", check.stderr)

    def test_yamllint_is_clean_on_deploy(self):
        check = run("yamllint", "--strict", "-c", os.path.join(DEPLOY, ".yamllint"), DEPLOY)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_the_mesh(self):
        compose = load("compose.yaml")
        services = compose["services"]
        self.assertEqual(set(services), {"vecmesh-1", "vecmesh-2", "kong", "consul", "rabbitmq", "qdrant",
                                         "chromadb", "prometheus", "grafana"})
        self.assertEqual(list(compose["networks"]), ["mesh"])
        data_volumes = set()
        for name in ("vecmesh-1", "vecmesh-2"):
            replica = services[name]
            self.assertRegex(replica["image"], r"^vecmesh:")
            [data] = [v for v in replica["volumes"] if v.endswith(":/data")]
            volume = data.split(":")[0]
            self.assertIn(volume, compose["volumes"], f"{name}: /data on a named volume")
            data_volumes.add(volume)
            self.assertEqual(replica["environment"]["CONSUL_HTTP_ADDR"], "consul:8500")
        self.assertEqual(len(data_volumes), 2, "each replica has its own data")
        for name, service in services.items():
            if not name.startswith("vecmesh-"):
                self.assertIn("healthcheck", service, f"{name}: a healthcheck")
            self.assertIn("mesh", service["networks"], name)
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if not source.startswith("./"):
                    self.assertIn(source, compose["volumes"], f"{name}: {volume} on a named volume")
                else:
                    self.assertTrue(volume.endswith(":ro"), f"{name}: {volume}: configuration read-only")
                    self.assertTrue(os.path.exists(os.path.join(DEPLOY, source)), f"{name}: {source} exists")
        # Kong's DNS resolver is Consul's fixed address, on Consul's DNS port (consul.json).
        resolver = services["kong"]["environment"]["KONG_DNS_RESOLVER"]
        address = services["consul"]["networks"]["mesh"]["ipv4_address"]
        self.assertEqual(resolver, f"{address}:{load('consul', 'consul.json')['ports']['dns']}")
        # kong.yml's lookaheads need the PCRE router (3.x's default checks regexes without them).
        self.assertEqual(services["kong"]["environment"]["KONG_ROUTER_FLAVOR"], "traditional")
        # A node named after its container would start with an empty database when it is made again.
        self.assertEqual(services["rabbitmq"]["hostname"], "rabbitmq")
        self.assertEqual(services["consul"]["hostname"], load("consul", "consul.json")["node_name"])

    def test_secrets_come_from_the_env_whose_example_holds_none(self):
        with open(COMPOSE) as f:
            text = f.read()
        required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
        self.assertGreaterEqual(required, {"RABBITMQ_VECMESH_PASSWORD", "QDRANT_API_KEY", "VECMESH_ADMIN_KEYS",
                                           "GRAFANA_ADMIN_PASSWORD"})
        example = env_example()
        for name in required | set(re.findall(r"\$\{([A-Z_]+)", text)):
            self.assertIn(name, example, f"{name}: in .env.example")
        for name, value in example.items():
            if re.search(r"KEY|PASSWORD|SECRET|TOKEN", name):
                self.assertTrue(value == "" or value.startswith("replace-with-"),
                                f"{name}: a placeholder in .env.example, not a secret")
        ignored = run("git", "-C", SOURCE, "check-ignore", "-q", "deploy/.env")
        self.assertEqual(ignored.returncode, 0, "deploy/.env is git-ignored")


class Kong(unittest.TestCase):
    def setUp(self):
        self.kong = load("kong", "kong.yml")
        [self.service] = self.kong["services"]
        self.routes = {route["name"]: route for route in self.service["routes"]}

    def route_for(self, method, path):
        """The route Kong picks: among the matching ones, the highest regex_priority."""
        matching = [(route.get("regex_priority", 0), name, route_match(route, path))
                    for name, route in self.routes.items()
                    if route_match(route, path) and method in route.get("methods", [method])]
        if not matching:
            return None
        _, name, (stripped, captures) = max(matching)
        return name, stripped, captures

    def test_format(self):
        self.assertEqual(self.kong["_format_version"], "3.0")

    def test_the_route_strips_api_faiss_and_captures_the_collection(self):
        cases = {
            ("GET", "/api/faiss/health"): ("faiss", "/health", None),
            ("GET", "/api/faiss"): ("faiss", "/", None),
            ("GET", "/api/faiss/v1/collections"): ("faiss", "/v1/collections", None),
            ("POST", "/api/faiss/v1/collections/docs/search"): ("faiss", "/v1/collections/docs/search", "docs"),
            ("PUT", "/api/faiss/v1/collections/docs"): ("faiss", "/v1/collections/docs", "docs"),
            ("GET", "/api/faiss/v1/collections/docs?x=1"): ("faiss", "/v1/collections/docs?x=1", "docs"),
            ("PUT", "/api/faiss/v1/collections/docs/snapshots/upload"):
                ("faiss-snapshot-upload", "/v1/collections/docs/snapshots/upload", "docs"),
            ("GET", "/api/faiss/v1/collections/docs/snapshots/upload"):
                ("faiss", "/v1/collections/docs/snapshots/upload", "docs"),
        }
        for (method, path), (name, stripped, collection) in cases.items():
            with self.subTest(path=path):
                chosen = self.route_for(method, path)
                self.assertIsNotNone(chosen, path)
                self.assertEqual(chosen[:2], (name, stripped))
                self.assertEqual(chosen[2].get("collection"), collection)
        for path in ("/api/faissx/health", "/api/faiss-other", "/v1/collections", "/api/other"):
            self.assertIsNone(self.route_for("GET", path), path)

    def test_the_upstream_reaches_the_replicas_through_consul_with_health_checks_on(self):
        [upstream] = self.kong["upstreams"]
        self.assertEqual(self.service["host"], upstream["name"])
        self.assertEqual([t["target"] for t in upstream["targets"]], ["faiss.service.consul:8000"])
        self.assertEqual((upstream["hash_on"], upstream["hash_on_uri_capture"]), ("uri_capture", "collection"))
        active = upstream["healthchecks"]["active"]
        self.assertEqual(active["http_path"], "/health")
        for section, keys in {"healthy": ("interval", "successes"),
                              "unhealthy": ("interval", "http_failures", "tcp_failures", "timeouts")}.items():
            for key in keys:
                self.assertGreater(active[section][key], 0, f"active.{section}.{key}: 0 turns it off")
        self.assertIn(503, active["unhealthy"]["http_statuses"], "vecmeshd's /health answers 503 when not serving")

    def test_the_plugins(self):
        plugins = {plugin["name"]: plugin["config"] for plugin in self.kong["plugins"]}
        self.assertEqual(set(plugins), {"key-auth", "rate-limiting", "request-size-limiting", "cors",
                                        "correlation-id"})
        self.assertEqual(plugins["key-auth"]["key_names"], ["api-key"], "the header vecmeshd reads (API.md)")
        self.assertFalse(plugins["key-auth"]["hide_credentials"], "vecmeshd checks the key's role")
        self.assertEqual(plugins["rate-limiting"]["policy"], "local", "DB-less Kong")
        self.assertEqual(plugins["correlation-id"]["header_name"], "X-Request-Id")
        self.assertIn("api-key", plugins["cors"]["headers"])
        for plugin in self.kong["plugins"]:
            self.assertEqual(plugin["service"], "faiss")
        self.assertNotIn("consumers", self.kong, "keys are secrets: start.sh adds them")


class KongStart(unittest.TestCase):
    def start(self, **keys):
        with tempfile.TemporaryDirectory() as work:
            entrypoint = os.path.join(work, "entrypoint")
            with open(entrypoint, "w") as f:
                f.write('#!/bin/sh\ncp "$KONG_DECLARATIVE_CONFIG" "$RESULT"; echo "$@" > "$RESULT.args"\n')
            os.chmod(entrypoint, stat.S_IRWXU)
            result = os.path.join(work, "result.yml")
            env = {"PATH": os.environ["PATH"], "RESULT": result,
                   "VECMESH_KONG_SOURCE": os.path.join(DEPLOY, "kong", "kong.yml"),
                   "VECMESH_KONG_CONFIG": os.path.join(work, "rendered", "kong.yml"),
                   "VECMESH_KONG_ENTRYPOINT": entrypoint, **keys}
            check = run(os.path.join(DEPLOY, "kong", "start.sh"), env=env)
            if check.returncode != 0:
                return check, None
            with open(result) as f, open(result + ".args") as args:
                self.assertEqual(args.read().split(), ["kong", "docker-start"])
                return check, yaml.safe_load(f)

    def test_consumers_from_the_environment(self):
        check, config = self.start(VECMESH_ADMIN_KEYS="a1", VECMESH_READ_WRITE_KEYS="w1,w-2.x_y~z",
                                   VECMESH_READ_ONLY_KEYS="")
        self.assertEqual(check.returncode, 0, check.stderr)
        consumers = {c["username"]: [k["key"] for k in c["keyauth_credentials"]] for c in config["consumers"]}
        self.assertEqual(consumers, {"admin": ["a1"], "read_write": ["w1", "w-2.x_y~z"]})
        check, config = self.start(VECMESH_ADMIN_KEYS=",", VECMESH_READ_WRITE_KEYS=",w1,,")
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertEqual(config["consumers"], [{"username": "read_write", "keyauth_credentials": [{"key": "w1"}]}])
        self.assertEqual(config["services"], load("kong", "kong.yml")["services"], "kong.yml kept whole")

    def test_a_key_it_cannot_quote_is_refused(self):
        for key in ('a"b', "a b", "a*", "a:b"):
            check, _ = self.start(VECMESH_ADMIN_KEYS=key)
            self.assertNotEqual(check.returncode, 0, key)
            self.assertIn("a key of admin", check.stderr)

    def test_no_key_is_refused(self):
        for keys in ({}, {"VECMESH_ADMIN_KEYS": ",,"}):
            check, _ = self.start(**keys)
            self.assertNotEqual(check.returncode, 0, keys)
            self.assertIn("no API key", check.stderr)


class RabbitmqStart(unittest.TestCase):
    """deploy/rabbitmq/start.sh, with the image's entrypoint and rabbitmqctl replaced by scripts
    that record what they are asked (the real rabbitmqctl takes add_user's password on stdin:
    rabbitmq_server.Node.add_user does so against a real node)."""

    def test_users_from_the_environment_and_sigterm_reaches_the_broker(self):
        with tempfile.TemporaryDirectory() as work:
            stubs, home, calls = os.path.join(work, "bin"), os.path.join(work, "home"), os.path.join(work, "calls")
            os.makedirs(stubs)
            os.makedirs(home)
            scripts = {
                # The broker: writes its cookie a moment after it starts, runs until SIGTERM.
                "docker-entrypoint.sh": '#!/bin/bash\necho "entrypoint $*" >> "$CALLS"\n'
                                        'trap \'echo "broker stopped" >> "$CALLS"; exit 0\' TERM\n'
                                        'sleep 0.5; echo cookie > "$HOME/.erlang.cookie"\n'
                                        'while :; do sleep 0.1; done\n',
                "rabbitmqctl": '#!/bin/bash\n[[ -s "$HOME/.erlang.cookie" ]] || echo "ctl before cookie" >> "$CALLS"\n'
                               'echo "ctl $*" >> "$CALLS"\n'
                               '[[ " $* " == *" add_user "* ]] && echo "stdin $(cat)" >> "$CALLS"\nexit 0\n',
            }
            for name, text in scripts.items():
                path = os.path.join(stubs, name)
                with open(path, "w") as f:
                    f.write(text)
                os.chmod(path, stat.S_IRWXU)
            env = {"PATH": f"{stubs}:{os.environ['PATH']}", "HOME": home, "CALLS": calls,
                   "RABBITMQ_VECMESH_PASSWORD": "pw-vecmesh", "RABBITMQ_ADMIN_PASSWORD": "pw-admin"}
            output = open(os.path.join(work, "output"), "w+")
            # A session of its own: whatever is left of it (the stand-in broker) is killed at the end.
            start = subprocess.Popen([os.path.join(DEPLOY, "rabbitmq", "start.sh")], env=env, stdout=output,
                                     stderr=subprocess.STDOUT, start_new_session=True)

            def recorded():
                try:
                    with open(calls) as f:
                        return f.read().splitlines()
                except FileNotFoundError:
                    return []
            try:
                deadline = time.monotonic() + 30
                while "ctl --quiet set_user_tags admin administrator" not in recorded():
                    self.assertIsNone(start.poll(), recorded())
                    self.assertLess(time.monotonic(), deadline, recorded())
                    time.sleep(0.05)
                lines = recorded()
                self.assertEqual(lines[0], "entrypoint rabbitmq-server")
                self.assertNotIn("ctl before cookie", lines)
                self.assertEqual(lines[1], "ctl --quiet await_startup --timeout 300")
                for user, password in (("vecmesh", "pw-vecmesh"), ("admin", "pw-admin")):
                    i = lines.index(f"ctl --quiet add_user {user}")
                    self.assertEqual(lines[i - 1], f"ctl --quiet delete_user {user}", "made again at every start")
                    self.assertEqual(lines[i + 1], f"stdin {password}", "the password on stdin")
                    self.assertEqual(lines[i + 2], f"ctl --quiet set_permissions -p /sutazai {user} .* .* .*")
                self.assertIn("ctl --quiet set_user_tags admin administrator", lines)
                self.assertFalse([line for line in lines if "pw-" in line and not line.startswith("stdin")],
                                 "no password in an argument")
                start.terminate()
                self.assertEqual(start.wait(timeout=10), 0)
                self.assertEqual(recorded()[-1], "broker stopped", "SIGTERM reaches the broker")
                output.seek(0)
                self.assertIn("users vecmesh and admin set from deploy/.env", output.read())
            finally:
                try:
                    os.killpg(start.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                start.wait()
                output.close()

    def test_a_missing_password_stops_the_start(self):
        check = run(os.path.join(DEPLOY, "rabbitmq", "start.sh"),
                    env={"PATH": os.environ["PATH"], "RABBITMQ_VECMESH_PASSWORD": "x"})
        self.assertNotEqual(check.returncode, 0)
        self.assertIn("RABBITMQ_ADMIN_PASSWORD", check.stderr)


class Consul(unittest.TestCase):
    def test_the_backends_vecmeshd_looks_for_are_defined_with_checks(self):
        consul = load("consul", "consul.json")
        compose = load("compose.yaml")
        services = {s["name"]: s for s in consul["services"]}
        for name, url_variable in (("qdrant", "VECMESH_QDRANT_URL"), ("chromadb", "VECMESH_CHROMA_URL")):
            self.assertEqual(compose["services"]["vecmesh-1"]["environment"][url_variable], f"consul://{name}")
            self.assertIn(name, compose["services"], f"{name}: the compose service its address names")
            self.assertEqual(services[name]["address"], name)
            [check] = services[name]["checks"]
            self.assertTrue(check["http"].startswith(f"http://{name}:{services[name]['port']}/"))
        self.assertNotIn("faiss", services, "vecmeshd registers itself")


if __name__ == "__main__":
    unittest.main(verbosity=2)
