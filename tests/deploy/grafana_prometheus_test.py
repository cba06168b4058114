"""deploy/grafana and deploy/prometheus/alerts.yml, against a real Prometheus scraping a live
vecmeshd.

No Grafana server installs here, so the dashboard's queries are sent to Prometheus the way Grafana
sends them (its variables substituted, timeseries panels as range queries, stat panels also as
instant queries), and the provisioning files are checked on their own.

Static (no server):
  - the datasource is provisioned with a fixed uid that every panel and variable of the dashboard
    names; the dashboard provider reads the folder compose mounts (/etc/grafana/dashboards);
  - every metric the dashboard reads is one vecmeshd exports (a "# TYPE" line of
    api/service/metrics.cc) or one of RABBITMQ_METRICS (tests/support/prometheus_server.py, the
    list the alerts' test uses too), counters only inside rate()/increase(), histograms through
    their buckets, every vecmeshd selector filtered by the `instance` variable and every RabbitMQ
    one by job="rabbitmq" (the variable lists vecmeshd instances), every legend label kept by the
    aggregation; the dead-letter queue's depth has a panel; panel ids are unique and panels do
    not overlap.
Live (Debian's Prometheus with deploy/prometheus's configuration, scraping every second, a vecmeshd
registered in the Consul double, with Chroma configured at a port where nothing listens, so the
store panels and alerts see a store that is down):
  - after a small load (a collection, upserts, searches, 4xx and 503 answers), every panel
    expression and every alert expression evaluates without error (the RabbitMQ ones too: no
    broker runs here, so they are empty, and the dead-letter alert is inactive);
  - the core panels (CORE below) show the load: requests and latency per operation, 4xx and 5xx,
    collections and points, index state, writes pending for Chroma, its breaker open, Consul;
  - every alert rule evaluates with health "ok", VecmeshBreakerOpen is pending for chroma, and
    VecmeshInstanceDown and VecmeshNotRegistered are not.

Run: /usr/bin/python3 tests/deploy/grafana_prometheus_test.py [PATH/TO/vecmeshd]
(or VECMESH_DAEMON=PATH; default build/api/daemon/vecmeshd).
"""
import calendar
import json
import math
import os
import re
import sys
import time
import unittest

import requests
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
from consul_double import ConsulDouble  # noqa: E402
from prometheus_server import RABBITMQ_JOB, RABBITMQ_METRICS, PrometheusServer  # noqa: E402
from server_process import free_port  # noqa: E402
from vecmeshd import Daemon  # noqa: E402

GRAFANA = os.path.join(SOURCE, "deploy", "grafana")
DATASOURCE = os.path.join(GRAFANA, "provisioning", "datasources", "prometheus.yml")
PROVIDER = os.path.join(GRAFANA, "provisioning", "dashboards", "vecmesh.yml")
DASHBOARD = os.path.join(GRAFANA, "dashboards", "vecmesh.json")
ALERTS = os.path.join(SOURCE, "deploy", "prometheus", "alerts.yml")
DEAD_QUEUE = "vector.indexing.tasks.dead"
METRICS_SOURCE = os.path.join(SOURCE, "api", "service", "metrics.cc")
# Where compose mounts deploy/grafana/dashboards (read-only) in the Grafana container.
DASHBOARDS_MOUNT = "/etc/grafana/dashboards"

SCRAPE_S = 1
# What Grafana puts in place of its variables. $__rate_interval is at least four scrape intervals
# (Grafana: max(4 x scrape interval, $__interval + scrape interval)); "All" instances is .*.
GRAFANA_VARIABLES = {"__rate_interval": f"{4 * SCRAPE_S}s", "__interval": f"{SCRAPE_S}s",
                     "__range": "5m", "instance": ".*"}
WAIT_S = 30          # the longest any one wait of the test may take
DIMENSION = 8
COLLECTION = "docs"  # Chroma takes names of 3 characters or more
WAVES = 3            # each wave of load is scraped before the next: rate() sees every series grow
UPSERTS_PER_WAVE = 10
SEARCHES_PER_WAVE = 10


def substitute(expr, variables=None):
    """expr with Grafana's variables ($name, ${name}, ${name:format}) replaced; an unknown one is
    a KeyError naming it."""
    variables = GRAFANA_VARIABLES if variables is None else variables

    def value(match):
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise KeyError(f"Grafana variable ${name} has no test value")
        return variables[name]
    return re.sub(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))", value, expr)


def panels(dashboard):
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard):
    """(panel, target) for every query of the dashboard."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


def alert_rules():
    with open(ALERTS) as f:
        return [rule for group in yaml.safe_load(f)["groups"] for rule in group["rules"]]


def exported_metrics():
    """{name: kind} of every "# TYPE name kind" line of api/service/metrics.cc."""
    with open(METRICS_SOURCE) as f:
        return dict(re.findall(r"# TYPE (\w+) (\w+)", f.read()))


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


class Provisioning(unittest.TestCase):
    """The files Grafana provisions, without a Grafana server."""

    def test_the_datasource_is_the_compose_prometheus(self):
        config = load_yaml(DATASOURCE)
        self.assertEqual(config["apiVersion"], 1)
        [source] = config["datasources"]
        self.assertEqual(source["name"], "Prometheus")
        self.assertEqual(source["type"], "prometheus")
        self.assertEqual(source["access"], "proxy",
                         "Grafana's server reaches Prometheus, not the browser")
        self.assertEqual(source["url"], "http://prometheus:9090")
        self.assertIs(source["isDefault"], True)
        self.assertRegex(source["uid"], r"^[A-Za-z0-9_-]{1,40}$")
        # $__rate_interval is computed from this: it must be Prometheus's scrape interval.
        prometheus = load_yaml(os.path.join(SOURCE, "deploy", "prometheus", "prometheus.yml"))
        self.assertEqual(source["jsonData"]["timeInterval"],
                         prometheus["global"]["scrape_interval"])

    def test_the_provider_reads_the_mounted_dashboards(self):
        config = load_yaml(PROVIDER)
        self.assertEqual(config["apiVersion"], 1)
        [provider] = config["providers"]
        self.assertEqual(provider["type"], "file")
        self.assertEqual(provider["options"]["path"], DASHBOARDS_MOUNT)

    def test_every_panel_uses_the_provisioned_datasource(self):
        [source] = load_yaml(DATASOURCE)["datasources"]
        dashboard = load_dashboard()
        users = [("variable " + v["name"], v["datasource"])
                 for v in dashboard["templating"]["list"]]
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            users.append((panel["title"], panel["datasource"]))
            users += [(f"{panel['title']} {t['refId']}", t["datasource"])
                      for t in panel["targets"] if "datasource" in t]
        self.assertGreater(len(users), 20)
        for who, datasource in users:
            self.assertEqual(datasource, {"type": "prometheus", "uid": source["uid"]}, who)

    def test_the_dashboard_reads_metrics_vecmeshd_or_rabbitmq_exports(self):
        exported = exported_metrics()
        self.assertGreaterEqual(len(exported), 30, "the # TYPE lines of metrics.cc")
        kinds = dict(exported, **RABBITMQ_METRICS)
        read = set()
        dead_letter_depth = []
        for panel, target in queries(load_dashboard()):
            where = f"{panel['title']} {target['refId']}: {target['expr']}"
            expr = target["expr"]
            selectors = re.findall(r"([A-Za-z_:][\w:]*)?\{([^}]*)\}", expr)
            self.assertTrue(selectors, where)
            # Every metric is selected with its labels (no bare name escapes the filters).
            names = re.findall(r"\b(?:vecmesh_\w+|rabbitmq_\w+)", expr)
            self.assertEqual(len(names), len(selectors), where)
            for name, matchers in selectors:
                if name in RABBITMQ_METRICS:
                    # The broker's, from the job that scrapes it; the instance variable lists
                    # vecmeshd instances, which are not the broker.
                    self.assertIn(f'job="{RABBITMQ_JOB}"', matchers, where)
                    self.assertNotIn("$instance", matchers, where)
                    if (name == "rabbitmq_detailed_queue_messages"
                            and f'queue="{DEAD_QUEUE}"' in matchers):
                        dead_letter_depth.append(panel["title"])
                else:
                    self.assertIn('instance=~"$instance"', matchers, where)
                base = re.sub(r"_bucket$", "", name)
                self.assertIn(base, kinds, f"{where}: {name} is neither a metric vecmeshd exports "
                              "nor one of RABBITMQ_METRICS (tests/support/prometheus_server.py)")
                if name != base:
                    self.assertEqual(kinds[base], "histogram", where)
                else:
                    self.assertNotEqual(kinds[base], "histogram", f"{where}: read its buckets")
                read.add(base)
                # A counter only makes sense as a rate (its raw value restarts with the process);
                # a gauge never is one.
                in_rate = re.search(r"\b(rate|increase)\(" + name + r"\{", expr) is not None
                self.assertEqual(in_rate, kinds[base] in ("counter", "histogram"), where)
            # Each legend label is one the aggregation keeps.
            kept = set()
            for group in re.findall(r"\bby \(([^)]*)\)", expr):
                kept |= {label.strip() for label in group.split(",")} - {"le"}
            for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")):
                self.assertIn(label, kept, where)
        # Requests, latency, collections, points, index state, stores, breakers, jobs, Consul, GPU.
        for name in ["vecmesh_requests_total", "vecmesh_request_duration_seconds",
                     "vecmesh_collections", "vecmesh_collection_points",
                     "vecmesh_collection_index_state", "vecmesh_backend_pending_deliveries",
                     "vecmesh_backend_breaker_state", "vecmesh_backend_request_duration_seconds",
                     "vecmesh_jobs_total", "vecmesh_consul_registered", "vecmesh_gpu_queue_depth"]:
            self.assertIn(name, read)
        # Issue 15: what waits in the dead-letter queue, as the broker counts it (beside the
        # panel of vecmeshd's dead_lettered events).
        self.assertEqual(dead_letter_depth, ["Dead-letter queue depth"])

    def test_the_layout(self):
        dashboard = load_dashboard()
        self.assertEqual(dashboard["uid"], "vecmesh")
        self.assertEqual(dashboard["schemaVersion"], 38)
        [variable] = dashboard["templating"]["list"]
        self.assertEqual((variable["name"], variable["allValue"]), ("instance", ".*"))
        all_panels = list(panels(dashboard))
        self.assertEqual(len({p["id"] for p in all_panels}), len(all_panels), "unique panel ids")
        taken = set()
        for panel in all_panels:
            self.assertIn(panel["type"], ("row", "timeseries", "stat"), panel["title"])
            pos = panel["gridPos"]
            self.assertLessEqual(pos["x"] + pos["w"], 24, panel["title"])
            cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                     for y in range(pos["y"], pos["y"] + pos["h"])}
            self.assertFalse(cells & taken, f"{panel['title']} overlaps another panel")
            taken |= cells
            if panel["type"] != "row":
                self.assertTrue(panel["description"], panel["title"])
                refs = [t["refId"] for t in panel["targets"]]
                self.assertEqual(len(set(refs)), len(refs), panel["title"])
        self.assertEqual(len({p["title"] for p in all_panels}), len(all_panels), "unique titles")

    def test_substitution_leaves_no_variable(self):
        dashboard = load_dashboard()
        for _, target in queries(dashboard):
            self.assertNotIn("$", substitute(target["expr"]), target["expr"])
        self.assertEqual(substitute("rate(x{instance=~\"${instance:regex}\"}[$__rate_interval])"),
                         'rate(x{instance=~".*"}[4s])')
        with self.assertRaises(KeyError):
            substitute("x[$__unknown]")


# The core panels, and what each shows after the load: (panel title, refId, the labels a series
# must carry, what its values over the test window must satisfy).
POSITIVE = ("some value > 0", lambda values: any(v > 0 for v in values if math.isfinite(v)))


def last(expected):
    return (f"last value == {expected}", lambda values: bool(values) and values[-1] == expected)


POINTS = WAVES * UPSERTS_PER_WAVE
CORE = [
    ("Instances serving", "A", {}, last(1)),
    ("Requests/s", "A", {}, POSITIVE),
    ("Server errors (5xx)", "A", {}, POSITIVE),
    ("Collections", "A", {}, last(1)),
    ("Points", "A", {}, last(POINTS)),
    ("Writes pending for stores", "A", {}, POSITIVE),
    ("Requests/s by operation", "A", {"transport": "rest", "operation": "Search"}, POSITIVE),
    ("Requests/s by operation", "A", {"transport": "rest", "operation": "Upsert"}, POSITIVE),
    ("Latency p50 by operation", "A", {"operation": "Search"}, POSITIVE),
    ("Latency p99 by operation", "A", {"operation": "Search"}, POSITIVE),
    ("Latency p99 by operation", "A", {"operation": "Upsert"}, POSITIVE),
    ("Client errors (4xx)/s", "A", {"operation": "Search", "code": "INVALID_ARGUMENT"}, POSITIVE),
    ("Client errors (4xx)/s", "A", {"operation": "Search", "code": "NOT_FOUND"}, POSITIVE),
    ("Server errors (5xx)/s", "A", {"operation": "Search", "code": "UNAVAILABLE"}, POSITIVE),
    ("Durable write latency", "B", {}, POSITIVE),
    ("Points per collection", "A", {"collection": COLLECTION}, last(POINTS)),
    ("Collections by index state", "A", {"state": "ready"}, last(1)),
    ("Writes pending per store", "A", {"backend": "chroma"}, POSITIVE),
    ("Deliveries/s per store", "B", {"backend": "chroma"}, POSITIVE),
    ("Circuit breakers not closed", "A", {"backend": "chroma", "state": "open"}, last(1)),
    ("Store call latency", "B", {"backend": "chroma"}, POSITIVE),
    ("Store call errors/s", "A", {"backend": "chroma", "kind": "transport"}, POSITIVE),
    ("Registered in Consul", "A", {}, last(1)),
    ("Store instances found in Consul", "A", {"backend": "qdrant", "service": "qdrant"}, last(0)),
]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class LivePrometheus(unittest.TestCase):
    """One vecmeshd under load, scraped by one Prometheus, for every test of the class."""

    @classmethod
    def setUpClass(cls):
        started = time.time()
        cls.consul = ConsulDouble(min_check_interval_s=0.5)
        cls.addClassCleanup(cls.consul.close)
        cls.consul.start()
        cls.daemon = Daemon(args=[
            "--consul-addr", cls.consul.address, "--consul-check-interval-ms", "500",
            "--consul-sync-interval-ms", "500",
            # A Chroma where nothing listens: writes wait for it, its breaker opens and stays so.
            "--chroma-url", f"http://127.0.0.1:{free_port()}", "--delivery-wait-ms", "50",
            "--backend-attempts", "1", "--breaker-failures", "2", "--breaker-cooldown-ms", "600000",
            # A Qdrant found through Consul, where none is registered.
            "--qdrant-url", "consul://qdrant",
            "--access-log", "false"])
        cls.addClassCleanup(cls.daemon.cleanup)
        cls.daemon.start(timeout_s=WAIT_S)
        target = f"127.0.0.1:{cls.daemon.port}"
        cls.prometheus = PrometheusServer([target], scrape_interval_s=SCRAPE_S)
        cls.addClassCleanup(cls.prometheus.close)
        cls.prometheus.start()
        cls.instance = target
        # A first scrape before the load: rate() sees every series that exists from the start grow.
        cls.wait_value('up{job="faiss"}', lambda v: v == 1, "vecmeshd scraped")
        cls.wait_value("vecmesh_consul_registered", lambda v: v == 1, "registered in Consul")
        cls.window_start = time.time() - 2 * SCRAPE_S
        cls.load()
        cls.load_end = time.time()
        log(f"servers and load: {cls.load_end - started:.1f} s")

    @classmethod
    def wait_value(cls, expr, predicate, what):
        """Waits (bounded) until the instant query's one value satisfies predicate."""
        deadline = time.time() + WAIT_S
        answer = None
        while time.time() < deadline:
            answer = cls.prometheus.query(expr)
            result = answer.get("data", {}).get("result", [])
            if len(result) == 1 and predicate(float(result[0]["value"][1])):
                return
            time.sleep(0.2)
        raise AssertionError(f"{what}: {expr} did not come within {WAIT_S} s; last answer {answer}")

    @classmethod
    def load(cls):
        """Waves of writes, searches and refused requests, each scraped before the next."""
        http = requests.Session()
        cls.addClassCleanup(http.close)

        def check(holds, what):
            if not holds:
                raise AssertionError(f"the load: {what}")

        def call(method, path, body, expected, collection=COLLECTION):
            answer = http.request(method, f"{cls.daemon.url}/v1/collections/{collection}{path}",
                                  json=body, timeout=30)
            check(answer.status_code == expected,
                  f"{method} {path}: {answer.status_code} {answer.text}, not {expected}")
            return answer.json()

        created = call("PUT", "", {"dimension": DIMENSION, "metric": "l2",
                                   "backends": ["faiss", "chroma"]}, 201)
        check(created["stores"]["chroma"]["status"] == "pending", created)
        searches = 0
        for wave in range(WAVES):
            ids = range(wave * UPSERTS_PER_WAVE, (wave + 1) * UPSERTS_PER_WAVE)
            points = [{"id": i, "vector": [float(i % (d + 2)) for d in range(DIMENSION)],
                       "payload": {"wave": wave}} for i in ids]
            call("PUT", "/points", {"points": points}, 200)
            for i in range(SEARCHES_PER_WAVE):
                found = call("POST", "/search", {"vector": points[i]["vector"], "k": 3}, 200)
                check(found["results"][0]["id"] == points[i]["id"], found)
            vector = points[0]["vector"]
            call("POST", "/search", {"vector": vector[:-1], "k": 3}, 400)       # wrong dimension
            call("POST", "/search", {"vector": vector, "k": 3}, 404, "absent")  # no such collection
            call("POST", "/search", {"vector": vector, "k": 3, "store": "chroma"}, 503)  # down
            searches += SEARCHES_PER_WAVE + 3
            cls.wait_value('sum(vecmesh_requests_total{operation="Search"})',
                           lambda v, n=searches: v == n, f"wave {wave + 1} scraped")

    def range_query(self, expr):
        """The range query of expr from before the load to now, a step each scrape interval, the
        last step now (steps count from the start: one after the last scrape must be there)."""
        end = time.time()
        start = end - SCRAPE_S * math.ceil((end - self.window_start) / SCRAPE_S)
        return self.prometheus.api("query_range", query=expr, start=f"{start:.3f}",
                                   end=f"{end:.3f}", step=f"{SCRAPE_S}s")

    def series(self, expr):
        """range_query's series: [(labels, [values])]."""
        answer = self.range_query(expr)
        self.assertEqual(answer["status"], "success", f"{expr}: {answer}")
        return [(s["metric"], [float(v) for _, v in s["values"]]) for s in answer["data"]["result"]]

    def test_every_panel_expression_evaluates(self):
        dashboard = load_dashboard()
        count = 0
        for panel, target in queries(dashboard):
            expr = substitute(target["expr"])
            count += 1
            with self.subTest(panel=panel["title"], ref=target["refId"]):
                # Timeseries panels ask for a range; stat panels marked instant for one value.
                answer = self.range_query(expr)
                self.assertEqual(answer["status"], "success", f"{expr}: {answer}")
                self.assertNotIn("warnings", answer, expr)
                answer = self.prometheus.query(expr)
                self.assertEqual(answer["status"], "success", f"{expr}: {answer}")
        self.assertGreaterEqual(count, 40)
        # The instance variable: Grafana asks label_values(METRIC, LABEL) of
        # /api/v1/label/LABEL/values?match[]=METRIC.
        for variable in dashboard["templating"]["list"]:
            metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)",
                                         variable["definition"]).groups()
            answer = self.prometheus.api(f"label/{label}/values", **{"match[]": metric})
            self.assertEqual(answer["status"], "success", answer)
            self.assertEqual(answer["data"], [self.instance], variable["name"])

    def test_the_core_panels_show_the_load(self):
        by_title = {panel["title"]: panel for panel in panels(load_dashboard())}
        for title, ref, labels, (what, holds) in CORE:
            with self.subTest(panel=title, ref=ref, labels=labels):
                [target] = [t for t in by_title[title]["targets"] if t["refId"] == ref]
                found = self.series(substitute(target["expr"]))
                self.assertTrue(found, f"{title}: no data")
                matching = [values for metric, values in found
                            if all(metric.get(k) == v for k, v in labels.items())]
                self.assertEqual(len(matching), 1, f"{title}: one series with {labels} in {found}")
                self.assertTrue(holds(matching[0]), f"{title} {labels}: not {what}: {matching[0]}")

    def test_the_instance_variable_selects_one_instance(self):
        expr = 'sum(vecmesh_collections{instance=~"$instance"})'
        # Grafana escapes a selected value's regex characters, and the backslash for PromQL.
        selected = re.escape(self.instance).replace("\\", "\\\\")
        one = self.prometheus.query(substitute(expr, dict(GRAFANA_VARIABLES, instance=selected)))
        self.assertEqual(one["status"], "success", one)
        other = self.prometheus.query(
            substitute(expr, dict(GRAFANA_VARIABLES, instance="elsewhere:1")))
        self.assertEqual(float(one["data"]["result"][0]["value"][1]), 1)
        self.assertEqual(other["data"]["result"], [])

    def test_every_alert_expression_evaluates(self):
        rules = alert_rules()
        self.assertEqual(len(rules), 7)
        for rule in rules:
            with self.subTest(alert=rule["alert"]):
                self.assertNotIn("$", rule["expr"], "an alert expression holds no Grafana variable")
                answer = self.prometheus.query(rule["expr"])
                self.assertEqual(answer["status"], "success", f"{rule['expr']}: {answer}")
                self.assertNotIn("warnings", answer)

    def test_the_rules_evaluate_and_the_breaker_alert_is_pending(self):
        expected = {rule["alert"] for rule in alert_rules()}
        deadline = time.time() + WAIT_S
        while True:
            answer = self.prometheus.api("rules")
            self.assertEqual(answer["status"], "success", answer)
            rules = {rule["name"]: rule for group in answer["data"]["groups"]
                     for rule in group["rules"] if rule["type"] == "alerting"}
            evaluated = set(rules) == expected and all(
                rule["health"] != "unknown" and rule["state"] is not None
                and _timestamp(rule.get("lastEvaluation")) > self.load_end
                for rule in rules.values())
            if evaluated or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(set(rules), expected, "Prometheus loaded deploy/prometheus/alerts.yml")
        self.assertTrue(evaluated, f"not every rule was evaluated after the load: {rules}")
        for name, rule in rules.items():
            self.assertEqual(rule["health"], "ok", f"{name}: {rule.get('lastError')}")
        # Chroma is down: its breaker is open, the alert waits its `for` (5 min) before firing.
        breaker = rules["VecmeshBreakerOpen"]
        self.assertEqual(breaker["state"], "pending", breaker)
        chroma = [a for a in breaker["alerts"] if a["labels"]["backend"] == "chroma"]
        self.assertEqual(len(chroma), 1, breaker)
        self.assertEqual(chroma[0]["labels"]["instance"], self.instance)
        for name in ("VecmeshInstanceDown", "VecmeshNotRegistered", "VecmeshDeliveriesPending",
                     "VecmeshDeadLetters"):
            self.assertEqual(rules[name]["state"], "inactive", rules[name])


def _timestamp(text):
    """Seconds since the epoch of an RFC 3339 time as Prometheus writes it (nanoseconds, Z)."""
    if not text:
        return 0.0
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text}")
    seconds = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    if match.group(3) != "Z":
        sign = 1 if match.group(3)[0] == "+" else -1
        hours, minutes = match.group(3)[1:].split(":")
        seconds -= sign * (int(hours) * 3600 + int(minutes) * 60)
    return seconds + float("0." + (match.group(2) or "0"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        os.environ["VECMESH_DAEMON"] = os.path.abspath(sys.argv.pop(1))
    os.environ.setdefault("VECMESH_DAEMON",
                          os.path.join(SOURCE, "build", "api", "daemon", "vecmeshd"))
    unittest.main(verbosity=2)
