"""What the in-tree test doubles (qdrant_double.py, consul_double.py) share: their HTTP server,
their violation log, their fixture CLI's start and stop, and how `DOUBLE.py serve` is launched.

The server speaks HTTP/1.1 with keep-alive (the C++ client pools connections), reads each request
whole (Content-Length or chunked) and hands it to the double, an object with
  respond(method, target, headers, body) -> (status, content_type, data, extra_headers)
      headers: the request's, lower-case names; body, data: bytes; extra_headers: a dict;
  crashed(method, target, error) -> the same: the answer when respond raised (a bug of the double,
      which it records as a violation).

Violations: one JSON object a line in DATA_DIR/violations.jsonl ({kind, method, path, message}), so
that they outlive the double's process, each also printed to its log; a fixture's stop lists them
and fails (stop_fixture).

Stdlib only.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import server_process

VIOLATIONS_NAME = "violations.jsonl"


# --- the server ----------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vecmesh-test-double"
    sys_version = ""
    timeout = 900  # an idle kept-alive connection is closed after this long (> Consul's max wait)

    def setup(self):
        super().setup()
        # One write per response and no Nagle delay behind the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self):
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        double = self.server.double
        try:
            status, content_type, data, extra = double.respond(self.command, self.path, headers,
                                                               body)
        except Exception as e:  # a bug of the double: say so, keep serving
            traceback.print_exc()
            status, content_type, data, extra = double.crashed(self.command, self.path, e)
        head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
                + "".join(f"{name}: {value}\r\n" for name, value in extra.items()))
        if self.close_connection:
            head += "Connection: close\r\n"
        try:
            self.wfile.write(head.encode() + b"\r\n" + data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client left (a long blocking read)
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def serve(double, host, port):
    """Serves double at host:port until the process ends."""
    server = _Server((host, port), _Handler)
    server.double = double
    server.serve_forever()


# --- violations and the fixture CLI --------------------------------------------------------------

class ViolationLog:
    """The violations of the double whose data is in data_dir. Thread safe (_lock guards the
    file)."""

    def __init__(self, data_dir, label):
        self.path, self.label = Path(data_dir) / VIOLATIONS_NAME, label
        self._lock = threading.Lock()

    def record(self, kind, method, path, message):
        entry = {"kind": kind, "method": method, "path": path, "message": message}
        with self._lock:
            with open(self.path, "a") as f:
                f.write(json.dumps(entry) + "\n")
        print(f"{self.label}: violation: {entry}", file=sys.stderr, flush=True)

    def entries(self):
        with self._lock:
            return read_violations(self.path.parent)


def read_violations(data_dir):
    """The violations recorded in data_dir, oldest first."""
    path = Path(data_dir) / VIOLATIONS_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start_fixture(args, launch, ready, label, what, log_name):
    """The start of a double's CTest fixture: server_process.fixture_start with the fixture CLI's
    arguments (server_process.fixture_parser), then says where the double is."""
    state, url, pgid, owner = server_process.fixture_start(
        args.state, args.owner_pid, launch, ready, label, what, log_name, args.max_lifetime_s,
        args.timeout_s)
    print(f"{label}: {what} at {url} (process group {pgid}), data and log in {state}, for process "
          f"{owner}; the URL is in {state / 'url'}")


def stop_fixture(state, timeout_s, label, what, log_name, broke, clean):
    """The stop of a double's CTest fixture: stops the double started in state
    (server_process.fixture_stop), then lists the violations it recorded ("LABEL: N BROKE:") and
    exits 1, or prints "LABEL: CLEAN"."""
    state = Path(state).resolve()
    server_process.fixture_stop(state, timeout_s, label, what, log_name)
    violations = read_violations(state / "data")
    if violations:
        print(f"{label}: {len(violations)} {broke}:")
        for v in violations:
            print(f"  {v['kind']}: {v['method']} {v['path']}: {v['message']}")
        sys.exit(1)
    print(f"{label}: {clean}")


# --- launching -----------------------------------------------------------------------------------

def launch(script, data_dir, port, log_path, arguments=(), secret_env=None, secret=None):
    """Starts `SCRIPT serve --data DATA_DIR --port PORT ARGUMENTS...` in a new session (its own
    process group), output appended to log_path. secret (an API key, a token) goes in the
    environment variable secret_env, not on the command line (ps shows that); without one, the
    variable is cleared. Returns the Popen of the group leader."""
    command = ([sys.executable, "-B", "-W", "ignore::ResourceWarning", str(Path(script).resolve()),
                "serve", "--data", str(data_dir), "--port", str(port)] + list(arguments))
    env = dict(os.environ)
    if secret_env is not None:
        env.pop(secret_env, None)
        if secret is not None:
            env[secret_env] = secret
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%H:%M:%S')} {Path(script).stem} {' '.join(command[5:])}\n"
                  .encode())
        log.flush()
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
