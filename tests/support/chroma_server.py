#!/usr/bin/python3
"""A real Chroma 1.0 server for the tests (npm chromadb 3.0.14: `npx chroma run`).

Python API, for a test that owns its server:

    with ChromaServer() as chroma:          # free loopback port, fresh data directory
        requests.get(chroma.url + "/api/v2/heartbeat")
        chroma.kill()                       # SIGKILL the server's process group
        chroma.start()                      # the same port and data again

CLI, for CTest fixtures (tests/integration/CMakeLists.txt) that share one server across tests:

    chroma_server.py start --state DIR      # data and log in DIR; DIR/url once it answers
    chroma_server.py stop --state DIR

A test under the fixture finds the server with url_from_env(); rest() makes one JSON request.

Every server runs in a process group of its own (npx runs sh, which runs node: the group is killed,
never one pid), and a detached watchdog kills that group when its owner disappears (the test
process for the API; the ctest that ran the fixture for the CLI), and in any case after a maximum
lifetime, so no server outlives a test run that was killed.

Stdlib only; run it with /usr/bin/python3. Needs `npm ci` in tests/integration (scripts/install-deps).
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

from server_process import (HOST, MAX_LIFETIME_S, ManagedServer, add_watchdog_arguments,
                            fixture_parser, fixture_start, fixture_stop, http_ok, json_request,
                            run_fixture_cli, run_watchdog)
from server_process import url_from_env as server_url_from_env
from server_process import group_alive as _group_alive  # noqa: F401 (the harness test uses it)

INTEGRATION_DIR = Path(__file__).resolve().parent.parent / "integration"
START_TIMEOUT_S = 60
LABEL, WHAT, LOG_NAME = "chroma_server", "Chroma server", "chroma.log"


def _heartbeat(url, timeout_s=1.0):
    return http_ok(url + "/api/v2/heartbeat", timeout_s)


def _launch(data_dir, port, log_path):
    """Starts `npx chroma run` in a new session (its own process group), output appended to
    log_path. Returns the Popen of the group leader."""
    npx = shutil.which("npx")
    if npx is None:
        raise RuntimeError("npx is not on the PATH: install node and npm (scripts/install-deps)")
    if not (INTEGRATION_DIR / "node_modules" / ".bin" / "chroma").exists():
        raise RuntimeError(f"{INTEGRATION_DIR}/node_modules has no chroma: run scripts/install-deps "
                           "(npm ci in tests/integration)")
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False", NO_COLOR="1")
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%H:%M:%S')} chroma run --port {port} --path {data_dir}\n".encode())
        log.flush()
        # --no: never fetch a package; only the locked one in tests/integration/node_modules runs.
        return subprocess.Popen(
            [npx, "--no", "chroma", "run", "--host", HOST, "--port", str(port), "--path", str(data_dir)],
            cwd=INTEGRATION_DIR, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)


# --- for the tests -------------------------------------------------------------------------------

def url_from_env():
    """The URL of the fixture's server: the file VECMESH_CHROMA_URL_FILE names holds it (CTest sets
    the variable for tests that require the fixture `chroma`)."""
    return server_url_from_env("VECMESH_CHROMA_URL_FILE", "Chroma server", "chroma",
                               "chroma_server_start")


def rest(url, method, path, body=None, timeout_s=30):
    """One JSON request to url + path: (status, decoded JSON body, or the text when it is not JSON,
    or None when empty). HTTP errors are answers, not exceptions."""
    return json_request(url, method, path, body, timeout_s=timeout_s)


# --- the Python API ------------------------------------------------------------------------------

class ChromaServer(ManagedServer):
    """A real Chroma server on a loopback port, for one test.

    data_dir: where Chroma keeps its data (default: a fresh temporary directory, removed on exit).
    port: the port (default: a free one, chosen at the first start and kept across restarts).
    The server's output goes to `log_path` (in a temporary directory, removed on exit)."""

    label, what, log_name = LABEL, WHAT, LOG_NAME

    def __init__(self, data_dir=None, port=None, start_timeout_s=START_TIMEOUT_S,
                 max_lifetime_s=MAX_LIFETIME_S):
        super().__init__(data_dir, port, start_timeout_s, max_lifetime_s)

    def _launch(self, port):
        return _launch(self.data_dir, port, self.log_path)

    def _ready(self, url):
        return _heartbeat(url)


# --- the CLI, for CTest fixtures -----------------------------------------------------------------

def cli_start(args):
    state, url, pgid, owner = fixture_start(
        args.state, args.owner_pid, _launch, _heartbeat, LABEL, WHAT, LOG_NAME,
        args.max_lifetime_s, args.timeout_s)
    print(f"chroma_server: Chroma at {url} (process group {pgid}), data and log in {state}, "
          f"for process {owner}; the URL is in {state / 'url'}")


def cli_stop(args):
    fixture_stop(args.state, args.timeout_s, LABEL, WHAT, LOG_NAME)


def main():
    parser, commands, _, _ = fixture_parser(__doc__.split("\n\n")[0], "server", START_TIMEOUT_S,
                                            "the heartbeat")
    watchdog = commands.add_parser("watchdog", help="(internal) what start runs beside the server")
    add_watchdog_arguments(watchdog)
    args = parser.parse_args()
    if args.command == "watchdog":
        run_watchdog(args.pgid, args.owner_pid, args.owner_start, args.deadline, LABEL, WHAT)
        return
    run_fixture_cli(args, cli_start, cli_stop, LABEL)


if __name__ == "__main__":
    main()
