#!/usr/bin/python3
"""An in-tree test double of Qdrant 1.19's REST API, held to Qdrant's OpenAPI document
(tests/contracts/qdrant-openapi-1.19.0.json, a copy of ../shared/contracts, or $VECMESH_QDRANT_OPENAPI).
No Qdrant server can run on our machines; QdrantStore's
conformance tests run against this instead.

It answers a subset of the API the way Qdrant 1.19 does (status codes, messages, envelopes,
ordering, id forms: see qdrant_store.py and qdrant_filter.py), and it checks every request it
receives and every response it sends against the document (qdrant_schema.py):
  - a request that does not fit (body, query parameters) is answered as Qdrant answers it (400
    "Format error in JSON body: ...", 422 "Validation error in JSON body: ...") and recorded as a
    violation; so is a call outside the document (404) and an operation of the document the double
    does not implement (501);
  - a response that does not fit is recorded as a violation (and still sent).
GET /__double/violations lists them (not part of Qdrant's API): [{method, path, kind: request |
response, message}]. They are also appended to DATA_DIR/violations.jsonl.

Implemented: GET / /healthz /readyz /livez; GET /collections; PUT GET DELETE /collections/{name};
GET /collections/{name}/exists; PUT /collections/{name}/points (upsert); POST .../points (retrieve);
GET .../points/{id}; POST .../points/delete; POST and PUT .../points/payload (set, overwrite);
POST .../points/batch; POST .../points/query and .../points/query/batch (dense vector); POST
.../points/count; POST .../points/scroll. Writes accept ?wait=true (result status "completed",
else "acknowledged"; either way applied before the answer).

Every acknowledged write is in DATA_DIR/operations.jsonl before the answer, so it survives SIGKILL;
a restart on the same data dir replays it.

With an API key, every request but /, /healthz, /readyz, /livez (and /__double/) needs header
`api-key: KEY` or `Authorization: Bearer KEY`; else 401 with a text body, as Qdrant answers:
"Must provide an API key or an Authorization bearer token" (none given) or "Invalid API key or JWT".

Python API, for a test that owns its double:

    with QdrantDouble(api_key=None) as q:    # free loopback port, fresh data directory
        q.url; q.violations()
        q.kill()                             # SIGKILL the double's process group
        q.start()                            # the same port and data again

CLI, for CTest fixtures (tests/integration/CMakeLists.txt) that share one double across tests:

    qdrant_double.py start --state DIR [--api-key K] [--owner-pid PID]   # DIR/url once it answers
    qdrant_double.py stop --state DIR     # exits 1, listing them, when violations were recorded
    qdrant_double.py serve --data DIR --port N [--api-key K]             # the server itself

A test under the fixture finds the double with url_from_env(). Run it with /usr/bin/python3; it
needs Debian's python3-numpy and python3-jsonschema (scripts/install-deps).
"""
import json
import os
import time
import urllib.parse
from pathlib import Path

import double_http
import server_process
from qdrant_filter import Unsupported
from qdrant_schema import ApiError, OpenApi, RequestError
from qdrant_store import Store, canonical_id

# Qdrant's published OpenAPI document, kept in the tree (tests/contracts) so that a clean checkout
# validates against it.
CONTRACT = Path(__file__).resolve().parents[1] / "contracts" / "qdrant-openapi-1.19.0.json"
VERSION = "1.19.0"
LABEL, WHAT, LOG_NAME = "qdrant_double", "Qdrant double", "qdrant.log"
START_TIMEOUT_S = 30
AUTH_FREE = ("/", "/healthz")
AUTH_FREE_PREFIXES = ("/readyz", "/livez", "/__double/")


def _contract_path():
    """The OpenAPI document: $VECMESH_QDRANT_OPENAPI, else the tree's tests/contracts copy."""
    path = Path(os.environ.get("VECMESH_QDRANT_OPENAPI") or CONTRACT)
    if not path.exists():
        raise RuntimeError(f"no Qdrant OpenAPI document at {path}: set VECMESH_QDRANT_OPENAPI")
    return str(path)


class Reply:
    """A response: status, content type and body (a JSON value, or text)."""

    def __init__(self, status, body, content_type="application/json"):
        self.status, self.body, self.content_type = status, body, content_type


def _ok(result, started):
    return Reply(200, {"result": result, "status": "ok", "time": time.monotonic() - started})


def _error(status, message, started):
    return Reply(status, {"status": {"error": message}, "time": time.monotonic() - started})


def _update_result(operation_id, wait):
    return {"operation_id": operation_id, "status": "completed" if wait else "acknowledged"}


_BATCH_KINDS = ("upsert", "delete", "set_payload", "overwrite_payload")


class Double:
    """The double's request handling, independent of the HTTP server (double_http serves it).
    Thread safe (the store has its lock, the violation log its own)."""

    def __init__(self, data_dir, api_key=None):
        self.api = OpenApi(_contract_path())
        self.store = Store(data_dir)
        self.api_key = api_key
        self._violations = double_http.ViolationLog(data_dir, LABEL)

    def violation(self, method, path, kind, message):
        self._violations.record(kind, method, path, message)

    def violations(self):
        return self._violations.entries()

    def respond(self, method, target, headers, body):
        return _encoded(self.handle(method, target, headers, body))

    def crashed(self, method, target, error):
        self.violation(method, target, "response", f"double crashed: {error!r}")
        return _encoded(Reply(500, {"status": {"error": f"Service internal error: {error!r}"},
                                    "time": 0.0}))

    def _auth(self, path, headers):
        if self.api_key is None or path in AUTH_FREE or path.startswith(AUTH_FREE_PREFIXES):
            return None
        key = headers.get("api-key")
        if key is None:
            authorization = headers.get("authorization") or ""
            key = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else None
        if key is None:
            return Reply(401, "Must provide an API key or an Authorization bearer token", "text/plain")
        if key != self.api_key:
            return Reply(401, "Invalid API key or JWT", "text/plain")
        return None

    def handle(self, method, target, headers, raw_body):
        """The Reply to one request (headers: lower-case names)."""
        started = time.monotonic()
        url = urllib.parse.urlsplit(target)
        path = url.path
        denied = self._auth(path, headers)
        if denied is not None:
            return denied
        if path == "/__double/violations" and method == "GET":
            return Reply(200, self.violations())
        op, params = self.api.match(method, path)
        if op is None:
            self.violation(method, target, "request", "no such operation in Qdrant's OpenAPI document")
            return Reply(404, "", "text/plain")
        reply = self._handle_operation(op, params, method, target, url.query, headers, raw_body, started)
        problem = op.check_response(reply.status, reply.content_type, reply.body)
        if problem is not None:
            self.violation(method, target, "response", f"{op.operation_id} {reply.status}: {problem}")
        return reply

    def _handle_operation(self, op, params, method, target, query_string, headers, raw_body, started):
        try:
            query, unknown = op.parse_query(urllib.parse.parse_qs(query_string, keep_blank_values=True))
            for name in unknown:
                self.violation(method, target, "request",
                               f"{op.operation_id}: query parameter {name!r} is not in the document")
            body = None
            if op.body_validator is not None:
                content_type = headers.get("content-type", "")
                if not content_type.split(";")[0].strip().lower().endswith("json"):
                    raise RequestError(400, "Content type error")
                if not raw_body:
                    raise RequestError(400, "Format error in JSON body: EOF while parsing a value at "
                                            "line 1 column 0")
                try:
                    body = json.loads(raw_body, parse_constant=_no_constant)
                except (ValueError, UnicodeDecodeError) as e:
                    raise RequestError(400, f"Format error in JSON body: {e}")
                op.check_body(body)
        except RequestError as e:
            self.violation(method, target, "request", f"{op.operation_id}: {e.status} {e.message}")
            return _error(e.status, e.message, started)
        handler = getattr(self, "op_" + op.operation_id, None)
        if handler is None:
            message = f"the Qdrant double does not implement {op.operation_id}"
            self.violation(method, target, "request", message)
            return _error(501, message, started)
        try:
            return handler(params, query, body, started)
        except ApiError as e:
            return _error(e.status, e.message, started)
        except Unsupported as e:
            message = f"the Qdrant double does not implement this: {e}"
            self.violation(method, target, "request", f"{op.operation_id}: {message}")
            return _error(501, message, started)

    # --- service -------------------------------------------------------------------------------

    def op_root(self, params, query, body, started):
        return Reply(200, {"title": "qdrant - vector search engine", "version": VERSION,
                           "commit": None})

    def op_healthz(self, params, query, body, started):
        return Reply(200, "healthz check passed", "text/plain")

    def op_readyz(self, params, query, body, started):
        return Reply(200, "all shards are ready", "text/plain")

    def op_livez(self, params, query, body, started):
        return Reply(200, "healthz check passed", "text/plain")

    # --- collections ---------------------------------------------------------------------------

    def op_get_collections(self, params, query, body, started):
        names = self.store.collection_names()
        return _ok({"collections": [{"name": n} for n in names]}, started)

    def op_create_collection(self, params, query, body, started):
        return _ok(self.store.create_collection(params["collection_name"], body), started)

    def op_get_collection(self, params, query, body, started):
        return _ok(self.store.collection_info(params["collection_name"]), started)

    def op_collection_exists(self, params, query, body, started):
        return _ok({"exists": self.store.exists(params["collection_name"])}, started)

    def op_delete_collection(self, params, query, body, started):
        return _ok(self.store.delete_collection(params["collection_name"]), started)

    # --- writes --------------------------------------------------------------------------------

    def _update(self, params, query, operations, started):
        (operation_id,) = self.store.update(params["collection_name"], operations)
        return _ok(_update_result(operation_id, query.get("wait", False)), started)

    def op_upsert_points(self, params, query, body, started):
        return self._update(params, query, [("upsert", body)], started)

    def op_delete_points(self, params, query, body, started):
        return self._update(params, query, [("delete", body)], started)

    def op_set_payload(self, params, query, body, started):
        return self._update(params, query, [("set_payload", body)], started)

    def op_overwrite_payload(self, params, query, body, started):
        return self._update(params, query, [("overwrite_payload", body)], started)

    def op_batch_update(self, params, query, body, started):
        operations = []
        for operation in body["operations"]:
            (kind, inner), = operation.items()
            if kind not in _BATCH_KINDS:
                raise Unsupported(f"batch operation {kind}")
            operations.append((kind, inner))
        ids = self.store.update(params["collection_name"], operations)
        wait = query.get("wait", False)
        return _ok([_update_result(i, wait) for i in ids], started)

    # --- reads ---------------------------------------------------------------------------------

    def op_get_points(self, params, query, body, started):
        with_payload = body.get("with_payload")
        points = self.store.retrieve(params["collection_name"], body["ids"],
                                     True if with_payload is None else with_payload,
                                     body.get("with_vector", False))
        return _ok(points, started)

    def op_get_point(self, params, query, body, started):
        raw = params["id"]
        point_id = int(raw) if raw.isdigit() else raw
        try:
            point_id = canonical_id(point_id)
        except ApiError:
            raise ApiError(400, f"Format error in path parameters: value {raw} is not a valid point "
                                f"ID, valid values are either an unsigned integer or a UUID")
        found = self.store.retrieve(params["collection_name"], [point_id], True, True)
        if not found:
            raise ApiError(404, f"Not found: No point with id {point_id} found")
        return _ok(found[0], started)

    def op_query_points(self, params, query, body, started):
        return _ok({"points": self.store.query(params["collection_name"], body)}, started)

    def op_query_batch_points(self, params, query, body, started):
        name = params["collection_name"]
        return _ok([{"points": self.store.query(name, q)} for q in body["searches"]], started)

    def op_count_points(self, params, query, body, started):
        return _ok({"count": self.store.count(params["collection_name"], body.get("filter"))}, started)

    def op_scroll_points(self, params, query, body, started):
        if body.get("order_by") is not None:
            raise Unsupported("scroll's order_by")
        with_payload = body.get("with_payload")
        points, next_offset = self.store.scroll(
            params["collection_name"], body.get("filter"), body.get("limit") or 10,
            body.get("offset"), True if with_payload is None else with_payload,
            body.get("with_vector", False))
        return _ok({"points": points, "next_page_offset": next_offset}, started)


def _no_constant(name):
    raise ValueError(f"{name} is not valid JSON")


# --- HTTP ----------------------------------------------------------------------------------------

def _encoded(reply):
    if reply.content_type == "application/json":
        data = json.dumps(reply.body, separators=(",", ":")).encode()
    else:
        data = str(reply.body).encode()
    return reply.status, reply.content_type, data, {}


def serve(data_dir, port, api_key=None, host=server_process.HOST):
    double = Double(data_dir, api_key)
    print(f"qdrant_double: serving Qdrant {VERSION}'s REST API at http://{host}:{port}, data in "
          f"{data_dir}" + (", with an API key" if api_key else ""), flush=True)
    double_http.serve(double, host, port)


# --- for the tests -------------------------------------------------------------------------------

def url_from_env():
    """The URL of the fixture's double: the file VECMESH_QDRANT_URL_FILE names holds it (CTest sets
    the variable for tests that require the fixture `qdrant`)."""
    return server_process.url_from_env("VECMESH_QDRANT_URL_FILE", "Qdrant double", "qdrant",
                                       "qdrant_double_start")


def _launch(data_dir, port, log_path, api_key=None):
    """Starts `qdrant_double.py serve` in a new session (its own process group), output appended
    to log_path. Returns the Popen of the group leader."""
    return double_http.launch(__file__, data_dir, port, log_path,
                              secret_env="VECMESH_QDRANT_DOUBLE_API_KEY", secret=api_key)


def _healthz(url):
    return server_process.http_ok(url + "/healthz")


class QdrantDouble(server_process.ManagedServer):
    """The Qdrant double on a loopback port, for one test (see ManagedServer).

    api_key: when given, requests need it (header api-key or Authorization: Bearer)."""

    label, what, log_name = LABEL, WHAT, LOG_NAME

    def __init__(self, api_key=None, data_dir=None, port=None, start_timeout_s=START_TIMEOUT_S,
                 max_lifetime_s=server_process.MAX_LIFETIME_S):
        super().__init__(data_dir, port, start_timeout_s, max_lifetime_s)
        self.api_key = api_key

    def _launch(self, port):
        return _launch(self.data_dir, port, self.log_path, self.api_key)

    def _ready(self, url):
        return _healthz(url)

    def violations(self):
        """The violations recorded so far (also across restarts on the same data)."""
        return double_http.read_violations(self.data_dir)


# --- the CLI, for CTest fixtures -----------------------------------------------------------------

def cli_start(args):
    double_http.start_fixture(
        args, lambda data_dir, port, log_path: _launch(data_dir, port, log_path, args.api_key),
        _healthz, LABEL, WHAT, LOG_NAME)


def cli_stop(args):
    double_http.stop_fixture(
        args.state, args.timeout_s, LABEL, WHAT, LOG_NAME, "request(s) or response(s) broke "
        "Qdrant's OpenAPI document during the run",
        "no violations of Qdrant's OpenAPI document were recorded")


def main():
    parser, commands, start, stop = server_process.fixture_parser(
        __doc__.split("\n\n")[0], "double", START_TIMEOUT_S, "/healthz")
    start.add_argument("--api-key", default=None)
    stop.description = "exits 1 when the double recorded violations"
    run = commands.add_parser("serve", help="run the double in the foreground")
    run.add_argument("--data", required=True)
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--host", default=server_process.HOST)
    run.add_argument("--api-key", default=None,
                     help="default: $VECMESH_QDRANT_DOUBLE_API_KEY, else none")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.data, args.port, args.api_key or os.environ.get("VECMESH_QDRANT_DOUBLE_API_KEY"),
              args.host)
        return
    server_process.run_fixture_cli(args, cli_start, cli_stop, LABEL)


if __name__ == "__main__":
    main()
