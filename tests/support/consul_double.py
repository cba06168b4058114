#!/usr/bin/python3
"""An in-tree test double of a Consul agent's HTTP API (no Consul agent can be installed on our
machines). It answers the subset vecmeshd uses with Consul's documented semantics, runs the
registered HTTP and gRPC checks itself, and records every request Consul would refuse or not
understand as a contract violation.

Endpoints (semantics: consul_agent.py, what a registration may hold: consul_types.py, how checks
run: consul_probes.py):
  PUT /v1/agent/service/register (?replace-existing-checks)   PUT /v1/agent/service/deregister/ID
  GET /v1/agent/services   GET /v1/agent/service/ID (404 when unknown)   GET /v1/agent/checks
  PUT /v1/agent/check/pass|warn|fail/CHECK_ID (?note=)
  GET /v1/health/service/NAME (?passing, ?tag= repeated)   GET /v1/catalog/service/NAME (?tag=)
  GET /v1/catalog/services   GET /v1/status/leader, /v1/status/peers (no token needed)
  GET /v1/kv/KEY (?recurse, ?keys, ?separator=, ?raw)   PUT /v1/kv/KEY (raw body; ?flags=, ?cas=)
  DELETE /v1/kv/KEY (?recurse, ?cas=)
Health, catalog and KV reads answer with X-Consul-Index and block with ?index=N&wait=D (wait: a Go
duration, default 5 min, at most 10 min, plus up to wait/16 of jitter, as Consul).

Violations: a request Consul refuses as malformed (400: an unknown or wrongly typed field, a bad
duration, no Name, ...; consul_types.py lists them and where the double is stricter than Consul), a
path or method that is not an endpoint the double implements (404, 405), a query parameter the
endpoint does not take or that the double does not implement (answered, ignoring it), a KV value
over 512 KiB (413). Each is logged, appended to DATA_DIR/violations.jsonl and listed by GET
/__double/violations ([{kind, method, path, message}]). Answers that are Consul's normal flow are
not violations: 404 for an unknown service or check ID, 500 for a check without a TTL, 403, cas
false.

ACL: with a token, every request but /v1/status/* and /__double/* must carry it (header
X-Consul-Token, Authorization: Bearer TOKEN, or ?token=), else 403 with Consul's texts: no token,
"Permission denied: anonymous token lacks permission 'service:write' on "NAME". The anonymous
token is used implicitly when a request does not specify a token."; another token, "ACL not found".
(A real agent filters what the anonymous token may not read out of health, catalog and agent
listings rather than refusing them; the double refuses, so that a request sent without the token is
seen.)

Knobs (Python keyword, CLI option; Consul's value is the default):
  token=None            --token (or $VECMESH_CONSUL_DOUBLE_TOKEN)   the ACL token; none: ACLs off
  deregister_min_s=60   --deregister-min-s     Consul's CheckDeregisterIntervalMin: the least
                        DeregisterCriticalServiceAfter (a smaller one is raised to it)
  reap_interval_s=30    --reap-interval-s      Consul's CheckReapInterval: how often the reaper
                        looks
  min_check_interval_s=1  --min-check-interval-s  the least check Interval (a smaller one is raised)
  stagger_first_check=False  --stagger-first-check  first run of a check after a random pause within
                        one Interval, as Consul does; by default right after the registration
Tests shrink the first two (e.g. 1 s and 0.2 s) to see a critical service reaped within seconds.

Python API, for a test that owns its double:

    with ConsulDouble(token="t", deregister_min_s=1, reap_interval_s=0.2) as c:  # free port
        c.url; c.address            # "http://127.0.0.1:PORT"; "127.0.0.1:PORT" (CONSUL_HTTP_ADDR)
        c.request("GET", "/v1/health/service/faiss?passing")   # (status, headers, body), token sent
        c.services(); c.checks()    # /v1/agent/services, /v1/agent/checks
        c.set_kv("k", b"v"); c.get_kv("k")
        c.violations()              # recorded so far, also across restarts
        c.restart()                 # an agent restart: registrations forgotten, KV kept, same port
        c.restart(reset_index=True) # ... and every index renumbered from 1 (it goes backwards)
        c.reset_index()             # the same renumbering in place, blocking reads answer at once
        c.kill(); c.start()         # SIGKILL (unreachable until start); start on the same port

CLI, for CTest fixtures (tests/integration/CMakeLists.txt) that share one double across tests:

    consul_double.py start --state DIR [--token T] [knobs]   # DIR/url once it answers
    consul_double.py stop --state DIR      # exits 1, listing them, when violations were recorded
    consul_double.py serve --data DIR --port N [--token T] [knobs] [--reset-index]   # the server

A test under the fixture finds it with url_from_env() or address_from_env(). Run it with
/usr/bin/python3; gRPC checks need python3-grpcio (scripts/install-deps), the rest the stdlib.
"""
import base64
import hashlib
import json
import os
import random
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import double_http
import server_process
from consul_agent import Agent, Knobs
from consul_types import NS_PER_S, RequestError, decode_registration, parse_go_duration

LABEL, WHAT, LOG_NAME = "consul_double", "Consul double", "consul.log"
START_TIMEOUT_S = 30
TOKEN_ENV = "VECMESH_CONSUL_DOUBLE_TOKEN"
DEFAULT_WAIT_S, MAX_WAIT_S, JITTER_FRACTION = 300.0, 600.0, 16
KV_MAX_VALUE = 512 * 1024
LEADER = "127.0.0.1:8300"
_TTL_STATUS = {"pass": "passing", "warn": "warning", "fail": "critical"}


class Reply:
    """A response: status, body (a JSON value, text, bytes or None), content type, headers."""

    def __init__(self, status, body=None, content_type=None, headers=None):
        self.status, self.body, self.headers = status, body, headers or {}
        self.pretty = False  # ?pretty: JSON indented
        self.content_type = content_type or (
            "text/plain; charset=utf-8" if body is None or isinstance(body, (str, bytes))
            else "application/json")


def _index_headers(index):
    return {"X-Consul-Index": str(index), "X-Consul-KnownLeader": "true",
            "X-Consul-LastContact": "0"}


# Each route: path pattern, {method: operation}. First match wins.
_ROUTES = [(re.compile(pattern), methods) for pattern, methods in [
    (r"/v1/status/leader", {"GET": "status_leader"}),
    (r"/v1/status/peers", {"GET": "status_peers"}),
    (r"/v1/agent/service/register", {"PUT": "register"}),
    (r"/v1/agent/service/deregister/(?P<id>.+)", {"PUT": "deregister"}),
    (r"/v1/agent/services", {"GET": "agent_services"}),
    (r"/v1/agent/service/(?P<id>.+)", {"GET": "agent_service"}),
    (r"/v1/agent/checks", {"GET": "agent_checks"}),
    (r"/v1/agent/check/(?P<status>pass|warn|fail)/(?P<id>.+)", {"PUT": "check_update"}),
    (r"/v1/health/service/(?P<name>.+)", {"GET": "health_service"}),
    (r"/v1/catalog/service/(?P<name>.+)", {"GET": "catalog_service"}),
    (r"/v1/catalog/services", {"GET": "catalog_services"}),
    (r"/v1/kv/(?P<key>.*)", {"GET": "kv_get", "PUT": "kv_put", "DELETE": "kv_delete"}),
    (r"/__double/violations", {"GET": "violations"}),
    (r"/__double/reset-index", {"PUT": "reset_index"}),
]]
_READ = {"dc", "stale", "consistent", "cached", "index", "wait"}
_PARAMS = {"register": {"replace-existing-checks"}, "check_update": {"note"},
           "health_service": _READ | {"passing", "tag"}, "catalog_service": _READ | {"tag"},
           "catalog_services": _READ, "kv_get": _READ | {"recurse", "raw", "keys", "separator"},
           "kv_put": {"dc", "flags", "cas"}, "kv_delete": {"dc", "recurse", "cas"}}
_ANYWHERE = {"token", "pretty"}
# Query parameters Consul takes on these endpoints that the double does not implement.
_CONSUL_ONLY = {"filter", "near", "node-meta", "ns", "partition", "peer", "sg", "hash", "acquire",
                "release", "merge-central-config", "service-meta", "index-only"}
_ACL_FREE = ("status_leader", "status_peers", "violations", "reset_index")


def _first(query, name, default=None):
    return query[name][0] if name in query else default


def _uint(query, name, message):
    value = _first(query, name)
    if value is None:
        return None
    if not value.isdigit():
        raise RequestError(400, message)
    return int(value)


def _bool_param(query, name):
    """Consul's getBoolQueryParam: present and empty is true, else Go's strconv.ParseBool."""
    value = _first(query, name)
    if value is None:
        return False
    if value in ("", "1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise RequestError(400, f"Invalid value for ?{name}")


def _blocking(query):
    """(min_index, wait_s) of ?index=N&wait=D, with Consul's default, cap and jitter."""
    wait_s = DEFAULT_WAIT_S
    if _first(query, "wait"):
        try:
            wait_s = parse_go_duration(_first(query, "wait")) / NS_PER_S
        except ValueError:
            raise RequestError(400, "Invalid wait time")
    min_index = _uint(query, "index", "Invalid index") or 0
    wait_s = DEFAULT_WAIT_S if wait_s <= 0 else min(wait_s, MAX_WAIT_S)
    return min_index, wait_s + random.uniform(0, wait_s / JITTER_FRACTION)


def _kv_json(entry):
    value = entry["Value"]
    return dict(entry, Value=base64.b64encode(value).decode() if value else None)


class ConsulHttp:
    """The double's request handling, independent of the HTTP server (double_http serves it).
    Thread safe (the agent has its lock, the violation log its own)."""

    def __init__(self, data_dir, token=None, knobs=None, address=server_process.HOST,
                 reset_index=False):
        self.agent = Agent(data_dir, knobs, address, reset_index)
        self.token = token
        self._violations = double_http.ViolationLog(data_dir, LABEL)

    def violation(self, method, path, message):
        self._violations.record("request", method, path, message)

    def respond(self, method, target, headers, body):
        reply = self.handle(method, target, headers, body)
        return reply.status, reply.content_type, _encode(reply), reply.headers

    def crashed(self, method, target, error):
        self.violation(method, target, f"the double crashed: {error!r}")
        reply = Reply(500, f"the Consul double crashed: {error!r}")
        return reply.status, reply.content_type, _encode(reply), {}

    def _token(self, headers, query):
        token = _first(query, "token") or headers.get("x-consul-token")
        if not token:
            scheme, _, value = (headers.get("authorization") or "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else ""
        return token

    def _acl_resource(self, op, params, raw_body):
        """(resource, access, name) a request needs, for the text of Consul's 403."""
        if op == "register":
            try:
                return "service", "write", json.loads(raw_body).get("Name", "")
            except (ValueError, AttributeError):
                return "service", "write", ""
        if op == "deregister":
            found = self.agent.agent_services().get(params["id"])
            return "service", "write", found["Service"] if found else params["id"]
        if op == "check_update":
            found = self.agent.agent_checks().get(params["id"])
            return "service", "write", found["ServiceName"] if found else ""
        if op.startswith("kv_"):
            return "key", "read" if op == "kv_get" else "write", params["key"]
        return "service", "read", params.get("name", "")

    def _denied(self, op, params, raw_body, headers, query):
        if self.token is None or op in _ACL_FREE:
            return None
        token = self._token(headers, query)
        if token == self.token:
            return None
        if token:
            return Reply(403, "ACL not found")
        resource, access, name = self._acl_resource(op, params, raw_body)
        return Reply(403, "Permission denied: anonymous token lacks permission "
                          f"'{resource}:{access}'" + (f' on "{name}"' if name else "")
                          + ". The anonymous token is used implicitly when a request does not "
                            "specify a token.")

    def handle(self, method, target, headers, raw_body):
        """The Reply to one request (headers: lower-case names)."""
        url = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        for pattern, methods in _ROUTES:
            match = pattern.fullmatch(path)
            if match:
                break
        else:
            self.violation(method, target, "not an endpoint of Consul's HTTP API that the double "
                                           "implements")
            return Reply(404, "Invalid URL path: not a recognized HTTP API endpoint")
        op = methods.get(method)
        if op is None:
            self.violation(method, target, f"{path} takes {', '.join(methods)}, not {method}")
            return Reply(405, f"method {method} not allowed")
        params = match.groupdict()
        denied = self._denied(op, params, raw_body, headers, query)
        if denied is not None:
            return denied
        for name in query:
            if name in _ANYWHERE or name in _PARAMS.get(op, ()):
                continue
            self.violation(method, target, f"query parameter {name!r}: " + (
                "Consul takes it here, the double does not implement it" if name in _CONSUL_ONLY
                else f"not one that {path} takes in Consul's API (Consul ignores it)"))
        if _first(query, "dc", "") not in ("", self.agent.knobs.datacenter):
            return Reply(500, "No path to datacenter")
        try:
            reply = getattr(self, "op_" + op)(params, query, raw_body)
        except RequestError as e:  # a request Consul refuses as malformed
            self.violation(method, target, f"{e.status} {e.message}")
            return Reply(e.status, e.message)
        reply.pretty = "pretty" in query
        return reply

    # --- status and agent ----------------------------------------------------------------------

    def op_status_leader(self, params, query, raw_body):
        return Reply(200, LEADER, "application/json")

    def op_status_peers(self, params, query, raw_body):
        return Reply(200, [LEADER])

    def op_register(self, params, query, raw_body):
        try:
            if not raw_body.strip():
                raise ValueError("EOF")
            body = json.loads(raw_body)
        except ValueError as e:
            raise RequestError(400, f"Request decode failed: {e}")
        replace = _first(query, "replace-existing-checks") in ("", "true")
        self.agent.register(decode_registration(body), replace)
        return Reply(200)

    def op_deregister(self, params, query, raw_body):
        if not self.agent.deregister(params["id"]):
            return Reply(404, f'Unknown service ID "{params["id"]}". Ensure that the service ID is '
                              f'passed, not the service name.')
        return Reply(200)

    def op_agent_services(self, params, query, raw_body):
        return Reply(200, self.agent.agent_services())

    def op_agent_service(self, params, query, raw_body):
        service = self.agent.agent_services().get(params["id"])
        if service is None:
            return Reply(404, f"unknown service ID: {params['id']}")
        digest = hashlib.sha256(json.dumps(service, sort_keys=True).encode()).hexdigest()[:16]
        return Reply(200, dict(service, ContentHash=digest))

    def op_agent_checks(self, params, query, raw_body):
        return Reply(200, self.agent.agent_checks())

    def op_check_update(self, params, query, raw_body):
        try:
            self.agent.update_ttl(params["id"], _TTL_STATUS[params["status"]],
                                  _first(query, "note", ""))
        except RequestError as e:  # an unknown check, a check without TTL: Consul's normal answers
            return Reply(e.status, e.message)
        return Reply(200)

    # --- health and catalog (blocking) ---------------------------------------------------------

    def op_health_service(self, params, query, raw_body):
        index, entries = self.agent.health_service(
            params["name"], query.get("tag", []), _bool_param(query, "passing"), *_blocking(query))
        return Reply(200, entries, headers=_index_headers(index))

    def op_catalog_service(self, params, query, raw_body):
        index, entries = self.agent.catalog_service(params["name"], query.get("tag", []),
                                                    *_blocking(query))
        return Reply(200, entries, headers=_index_headers(index))

    def op_catalog_services(self, params, query, raw_body):
        index, services = self.agent.catalog_services(*_blocking(query))
        return Reply(200, services, headers=_index_headers(index))

    # --- KV ------------------------------------------------------------------------------------

    def op_kv_get(self, params, query, raw_body):
        key, blocking = params["key"], _blocking(query)
        if "keys" in query:
            index, found = self.agent.kv_keys(key, _first(query, "separator", ""), *blocking)
        elif "recurse" in query:
            index, found = self.agent.kv_list(key, *blocking)
        elif not key:
            raise RequestError(400, "Missing key name")
        else:
            index, entry = self.agent.kv_get(key, *blocking)
            found = [entry] if entry else []
        headers = _index_headers(index)
        if not found:
            return Reply(404, None, headers=headers)
        if "raw" in query and "keys" not in query:  # Consul: the first entry's value
            return Reply(200, found[0]["Value"], "text/plain; charset=utf-8",
                         dict(headers, **{"X-Content-Type-Options": "nosniff"}))
        return Reply(200, found if "keys" in query else [_kv_json(e) for e in found],
                     headers=headers)

    def op_kv_put(self, params, query, raw_body):
        if not params["key"]:
            raise RequestError(400, "Missing key name")
        if len(raw_body) > KV_MAX_VALUE:
            raise RequestError(413, f"Request body({len(raw_body)} bytes) too large, max size: "
                                    f"{KV_MAX_VALUE} bytes. See https://developer.hashicorp.com/"
                                    f"docs/agent/config/config-files#kv_max_value_size.")
        flags = _uint(query, "flags", "Invalid flags") or 0
        cas = _uint(query, "cas", "Invalid cas value")
        return Reply(200, self.agent.kv_put(params["key"], raw_body, flags, cas))

    def op_kv_delete(self, params, query, raw_body):
        recurse = "recurse" in query
        if not params["key"] and not recurse:
            raise RequestError(400, "Missing key name")
        cas = _uint(query, "cas", "Invalid cas value")
        return Reply(200, self.agent.kv_delete(params["key"], recurse, cas))

    # --- the double's own ----------------------------------------------------------------------

    def op_violations(self, params, query, raw_body):
        return Reply(200, self._violations.entries())

    def op_reset_index(self, params, query, raw_body):
        self.agent.reset_index()
        return Reply(200)


# --- HTTP ----------------------------------------------------------------------------------------

def _encode(reply):
    if reply.body is None:
        return b""
    if isinstance(reply.body, bytes):
        return reply.body
    if reply.content_type == "application/json":
        if reply.pretty:
            return json.dumps(reply.body, indent=4).encode()
        return json.dumps(reply.body, separators=(",", ":")).encode()
    return str(reply.body).encode()


def serve(data_dir, port, token=None, knobs=None, host=server_process.HOST, reset_index=False):
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    double = ConsulHttp(data_dir, token, knobs, host, reset_index)
    print(f"consul_double: serving a Consul agent's HTTP API at http://{host}:{port}, data in "
          f"{data_dir}, index {double.agent.index}, {double.agent.knobs}"
          + (", with an ACL token" if token else ""), flush=True)
    double_http.serve(double, host, port)


# --- for the tests -------------------------------------------------------------------------------

def request(url, method, path, body=None, token=None, timeout_s=30, headers=None):
    """One request to url + path: (status, headers with lower-case names, body). A dict or list
    body goes as JSON, bytes or str as they are; token goes in X-Consul-Token; the answer's body is
    decoded JSON when it is JSON, else text, or None when empty. HTTP errors are answers, not
    exceptions."""
    data = body.encode() if isinstance(body, str) else body
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
    headers = dict(headers or {}, **({"X-Consul-Token": token} if token else {}))
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:
            status, got, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        status, got, raw = e.code, e.headers, e.read()
    got = {k.lower(): v for k, v in got.items()}
    if not raw:
        return status, got, None
    if got.get("content-type", "").startswith("application/json"):
        return status, got, json.loads(raw)
    return status, got, raw.decode(errors="replace")


def url_from_env():
    """The URL of the fixture's double: the file VECMESH_CONSUL_URL_FILE names holds it (CTest sets
    the variable for tests that require the fixture `consul`)."""
    return server_process.url_from_env("VECMESH_CONSUL_URL_FILE", "Consul double", "consul",
                                       "consul_double_start")


def address_from_env():
    """The fixture's double as CONSUL_HTTP_ADDR takes it: 127.0.0.1:PORT."""
    return url_from_env().split("://", 1)[1]


def _knob_arguments(knobs):
    return (["--deregister-min-s", str(knobs.deregister_min_s), "--reap-interval-s",
             str(knobs.reap_interval_s), "--min-check-interval-s", str(knobs.min_check_interval_s)]
            + (["--stagger-first-check"] if knobs.stagger_first_check else []))


def _launch(data_dir, port, log_path, token=None, knobs=None, reset_index=False):
    """Starts `consul_double.py serve` in a new session (its own process group), output appended
    to log_path. Returns the Popen of the group leader."""
    return double_http.launch(__file__, data_dir, port, log_path,
                              _knob_arguments(knobs or Knobs())
                              + (["--reset-index"] if reset_index else []), TOKEN_ENV, token)


def _leader(url):
    return server_process.http_ok(url + "/v1/status/leader")


class ConsulDouble(server_process.ManagedServer):
    """The Consul double on a loopback port, for one test (see ManagedServer and the module's
    docstring for the knobs)."""

    label, what, log_name = LABEL, WHAT, LOG_NAME

    def __init__(self, token=None, deregister_min_s=60.0, reap_interval_s=30.0,
                 min_check_interval_s=1.0, stagger_first_check=False, data_dir=None, port=None,
                 start_timeout_s=START_TIMEOUT_S, max_lifetime_s=server_process.MAX_LIFETIME_S):
        super().__init__(data_dir, port, start_timeout_s, max_lifetime_s)
        self.token = token
        self.knobs = Knobs(deregister_min_s, reap_interval_s, min_check_interval_s,
                           stagger_first_check)
        self._reset_index_on_start = False

    @property
    def address(self):
        """host:port, as CONSUL_HTTP_ADDR takes it."""
        return f"{server_process.HOST}:{self.port}"

    def _launch(self, port):
        return _launch(self.data_dir, port, self.log_path, self.token, self.knobs,
                       self._reset_index_on_start)

    def _ready(self, url):
        return _leader(url)

    def request(self, method, path, body=None, token=None, timeout_s=30, headers=None):
        """request() with the double's token unless another is given (the module's request() sends
        none)."""
        return request(self.url, method, path, body, token or self.token, timeout_s, headers)

    def _ok(self, method, path, body=None):
        status, _, answer = self.request(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}: {answer}")
        return answer

    def services(self):
        return self._ok("GET", "/v1/agent/services")

    def checks(self):
        return self._ok("GET", "/v1/agent/checks")

    def set_kv(self, key, value):
        """PUT /v1/kv/KEY with value (bytes or str); raises unless Consul's answer is true."""
        if self._ok("PUT", f"/v1/kv/{urllib.parse.quote(key)}", value) is not True:
            raise RuntimeError(f"PUT /v1/kv/{key} answered false")

    def get_kv(self, key):
        """The value of key as text, None when there is none."""
        status, _, value = self.request("GET", f"/v1/kv/{urllib.parse.quote(key)}?raw")
        return None if status == 404 else value or ""

    def violations(self):
        """The violations recorded so far (also across restarts on the same data)."""
        return double_http.read_violations(self.data_dir)

    def restart(self, timeout_s=None, reset_index=False):
        """As an agent restart: stop, then start on the same port and data. Registrations are
        forgotten, KV and the index kept (renumbered from 1 with reset_index)."""
        self._reset_index_on_start = reset_index
        try:
            return super().restart(timeout_s)
        finally:
            self._reset_index_on_start = False

    def reset_index(self):
        self._ok("PUT", "/__double/reset-index")


# --- the CLI, for CTest fixtures -----------------------------------------------------------------

def _knobs_from(args):
    return Knobs(args.deregister_min_s, args.reap_interval_s, args.min_check_interval_s,
                 args.stagger_first_check)


def cli_start(args):
    double_http.start_fixture(
        args, lambda data_dir, port, log_path: _launch(data_dir, port, log_path, args.token,
                                                       _knobs_from(args)),
        _leader, LABEL, WHAT, LOG_NAME)


def cli_stop(args):
    double_http.stop_fixture(
        args.state, args.timeout_s, LABEL, WHAT, LOG_NAME, "request(s) that Consul would refuse, "
        "or that the double does not implement, were sent during the run",
        "no violations of Consul's HTTP API were recorded")


def _add_knob_arguments(parser):
    defaults = Knobs()
    parser.add_argument("--token", default=None, help=f"the ACL token (default: ${TOKEN_ENV}, "
                                                      "else none: ACLs off)")
    parser.add_argument("--deregister-min-s", type=float, default=defaults.deregister_min_s,
                        help="the least DeregisterCriticalServiceAfter (Consul: 60)")
    parser.add_argument("--reap-interval-s", type=float, default=defaults.reap_interval_s,
                        help="how often critical services are reaped (Consul: 30)")
    parser.add_argument("--min-check-interval-s", type=float,
                        default=defaults.min_check_interval_s,
                        help="the least check Interval (Consul: 1)")
    parser.add_argument("--stagger-first-check", action="store_true",
                        help="first run of a check within one Interval, as Consul (default: at "
                             "once)")


def main():
    parser, commands, start, stop = server_process.fixture_parser(
        __doc__.split("\n\n")[0], "double", START_TIMEOUT_S, "/v1/status/leader")
    _add_knob_arguments(start)
    stop.description = "exits 1 when the double recorded violations"
    run = commands.add_parser("serve", help="run the double in the foreground")
    run.add_argument("--data", required=True)
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--host", default=server_process.HOST)
    run.add_argument("--reset-index", action="store_true",
                     help="renumber the kept KV from index 1, as a restored or dev agent")
    _add_knob_arguments(run)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.data, args.port, args.token or os.environ.get(TOKEN_ENV), _knobs_from(args),
              args.host, args.reset_index)
        return
    if args.command == "start" and args.token is None:
        args.token = os.environ.get(TOKEN_ENV)
    server_process.run_fixture_cli(args, cli_start, cli_stop, LABEL)


if __name__ == "__main__":
    main()
