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
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

INTEGRATION_DIR = Path(__file__).resolve().parent.parent / "integration"
HOST = "127.0.0.1"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10
MAX_LIFETIME_S = 2 * 3600


# --- processes -----------------------------------------------------------------------------------

def _start_time(pid):
    """The start time of process pid (clock ticks since boot), or None when there is none. With the
    pid it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return int(stat[stat.rindex(")") + 2:].split()[19])


def _process_alive(pid, start_time):
    """Whether process pid (started at start_time) still runs: a zombie (killed, not yet reaped by
    its parent or init) does not."""
    if start_time is None or _start_time(pid) != start_time:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group whose members are all zombies is dead for our purposes. Only the group leader (a
    # child of whoever started it) can stay a zombie for long, so look at the members.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_group_gone(pgid, timeout_s):
    deadline = time.monotonic() + timeout_s
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _stop_group(pgid, timeout_s=STOP_TIMEOUT_S):
    """SIGTERM to the group, then SIGKILL when it is still there after timeout_s."""
    _signal_group(pgid, signal.SIGTERM)
    if not _wait_group_gone(pgid, timeout_s):
        _kill_group(pgid)


def _kill_group(pgid):
    _signal_group(pgid, signal.SIGKILL)
    if not _wait_group_gone(pgid, 10):
        raise RuntimeError(f"the Chroma server's process group {pgid} survived SIGKILL for 10 s")


def _free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _port_free(port):
    with socket.socket() as s:
        # As the server binds (SO_REUSEADDR): connections of a killed server in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _heartbeat(url, timeout_s=1.0):
    try:
        with urllib.request.urlopen(url + "/api/v2/heartbeat", timeout=timeout_s) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _log_tail(log_path, lines=40):
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


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


def _wait_ready(process, url, log_path, timeout_s):
    """Waits until the server at url answers its heartbeat. Raises, with the log's tail, when
    process exits first or timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the Chroma server exited with status {process.returncode} before it "
                               f"answered at {url}; its log ({log_path}) ends:\n{_log_tail(log_path)}")
        if _heartbeat(url):
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"the Chroma server did not answer at {url}/api/v2/heartbeat within "
                               f"{timeout_s} s; its log ({log_path}) ends:\n{_log_tail(log_path)}")
        time.sleep(0.1)


def _spawn_watchdog(pgid, owner_pid, max_lifetime_s, log_path):
    """A detached process that kills process group pgid when process owner_pid disappears or
    max_lifetime_s passes. It exits by itself once the group is gone."""
    owner_start = _start_time(owner_pid)
    if owner_start is None:
        raise RuntimeError(f"the watchdog's owner, process {owner_pid}, does not exist")
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "watchdog", "--pgid", str(pgid),
             "--owner-pid", str(owner_pid), "--owner-start", str(owner_start),
             "--deadline", str(time.time() + max_lifetime_s)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _watchdog(pgid, owner_pid, owner_start, deadline):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while _group_alive(pgid):
        if not _process_alive(owner_pid, owner_start):
            reason = f"its owner, process {owner_pid}, is gone"
        elif time.time() >= deadline:
            reason = "it reached its maximum lifetime"
        else:
            time.sleep(0.5)
            continue
        print(f"chroma_server watchdog: killing the Chroma server's process group {pgid}: {reason}",
              flush=True)
        _signal_group(pgid, signal.SIGKILL)
        _wait_group_gone(pgid, 10)
        return


# --- for the tests -------------------------------------------------------------------------------

def url_from_env():
    """The URL of the fixture's server: the file VECMESH_CHROMA_URL_FILE names holds it (CTest sets
    the variable for tests that require the fixture `chroma`)."""
    path = os.environ.get("VECMESH_CHROMA_URL_FILE")
    if not path:
        raise RuntimeError("VECMESH_CHROMA_URL_FILE is not set: run the test through ctest, which "
                           "starts the Chroma server (fixture chroma) and sets it")
    try:
        return Path(path).read_text().strip()
    except OSError as e:
        raise RuntimeError(f"no Chroma URL in {path} (did chroma_server_start fail?): {e}") from e


def rest(url, method, path, body=None, timeout_s=30):
    """One JSON request to url + path: (status, decoded JSON body, or the text when it is not JSON,
    or None when empty). HTTP errors are answers, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"content-type": "application/json"}
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if not text:
        return status, None
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


# --- the Python API ------------------------------------------------------------------------------

class ChromaServer:
    """A real Chroma server on a loopback port, for one test.

    data_dir: where Chroma keeps its data (default: a fresh temporary directory, removed on exit).
    port: the port (default: a free one, chosen at the first start and kept across restarts).
    The server's output goes to `log_path` (in a temporary directory, removed on exit)."""

    def __init__(self, data_dir=None, port=None, start_timeout_s=START_TIMEOUT_S,
                 max_lifetime_s=MAX_LIFETIME_S):
        self._scratch = tempfile.mkdtemp(prefix="vecmesh-chroma-")
        self.data_dir = Path(data_dir) if data_dir is not None else Path(self._scratch) / "data"
        self.log_path = Path(self._scratch) / "chroma.log"
        self.port = port
        self.start_timeout_s = start_timeout_s
        self.max_lifetime_s = max_lifetime_s
        self.process = None
        self._watchdog = None

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    def running(self):
        return self.process is not None and _group_alive(self.process.pid)

    def start(self):
        """Starts the server (on the same port and data as before, after a kill or stop) and
        returns once it answers its heartbeat."""
        if self.running():
            raise RuntimeError(f"the Chroma server at {self.url} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        chosen_here = self.port is None
        for attempt in range(3):
            if chosen_here:
                self.port = _free_port()
            if not _port_free(self.port):
                if chosen_here:
                    continue
                raise RuntimeError(f"port {self.port} is taken: the Chroma server cannot start there")
            self.process = _launch(self.data_dir, self.port, self.log_path)
            self._watchdog = _spawn_watchdog(self.process.pid, os.getpid(), self.max_lifetime_s,
                                             self.log_path)
            try:
                _wait_ready(self.process, self.url, self.log_path, self.start_timeout_s)
                return self
            except RuntimeError:
                self.kill()
                # A free port chosen here may have been taken before the server bound it: once more.
                if not chosen_here or attempt == 2:
                    raise
        raise RuntimeError("no free port for the Chroma server")

    def kill(self):
        """SIGKILL to the server's process group; returns once the group is gone."""
        if self.process is not None:
            _kill_group(self.process.pid)
            self.process.wait()
        self._end_watchdog()

    def stop(self, timeout_s=STOP_TIMEOUT_S):
        """SIGTERM to the server's process group, SIGKILL when it is still there after timeout_s."""
        if self.process is not None:
            _stop_group(self.process.pid, timeout_s)
            self.process.wait()
        self._end_watchdog()

    def _end_watchdog(self):
        if self._watchdog is not None:
            self._watchdog.terminate()
            self._watchdog.wait()
            self._watchdog = None

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()


# --- the CLI, for CTest fixtures -----------------------------------------------------------------

def _ancestor_named(name):
    """The nearest ancestor process whose command name is name, or None."""
    pid = os.getppid()
    while pid > 1:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("Name", "").strip() == name:
            return pid
        pid = int(fields.get("PPid", "0").strip())
    return None


def _read_state(state):
    try:
        return dict(line.split("=", 1) for line in (state / "server").read_text().splitlines())
    except (OSError, ValueError):
        return None


def _stop_state(state, timeout_s=STOP_TIMEOUT_S):
    """Stops the server recorded in state. Returns whether one was running."""
    (state / "url").unlink(missing_ok=True)
    server = _read_state(state)
    if server is None:
        return False
    running = _group_alive(int(server["pgid"]))
    if running:
        _stop_group(int(server["pgid"]), timeout_s)
    (state / "server").unlink()
    return running


def cli_start(args):
    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    owner = args.owner_pid or _ancestor_named("ctest") or os.getppid()
    server = _read_state(state)
    if server is not None and _group_alive(int(server["pgid"])):
        if _process_alive(int(server["owner_pid"]), int(server["owner_start"])):
            sys.exit(f"chroma_server: {state} already has a server, started for process "
                     f"{server['owner_pid']} (another test run?), which is still there")
        print(f"chroma_server: stopping the server left in {state} by a run that is gone")
    _stop_state(state)
    # A fresh server for each test run.
    shutil.rmtree(state / "data", ignore_errors=True)
    log_path = state / "chroma.log"
    log_path.unlink(missing_ok=True)
    (state / "watchdog.log").unlink(missing_ok=True)
    for attempt in range(3):
        port = _free_port()
        url = f"http://{HOST}:{port}"
        process = _launch(state / "data", port, log_path)
        (state / "server").write_text(f"pgid={process.pid}\nowner_pid={owner}\n"
                                      f"owner_start={_start_time(owner)}\nurl={url}\n")
        _spawn_watchdog(process.pid, owner, args.max_lifetime_s, state / "watchdog.log")
        try:
            _wait_ready(process, url, log_path, args.timeout_s)
            break
        except RuntimeError as e:
            _kill_group(process.pid)
            (state / "server").unlink()
            if attempt == 2:
                sys.exit(f"chroma_server: {e}")
    tmp = state / "url.tmp"
    tmp.write_text(url + "\n")
    tmp.replace(state / "url")
    print(f"chroma_server: Chroma at {url} (process group {process.pid}), data and log in {state}, "
          f"for process {owner}; the URL is in {state / 'url'}")


def cli_stop(args):
    state = Path(args.state).resolve()
    server = _read_state(state)
    if _stop_state(state, args.timeout_s):
        print(f"chroma_server: stopped the Chroma server at {server['url']}")
    elif server is not None:
        print(f"chroma_server: the Chroma server at {server['url']} was already gone; its log: "
              f"{state / 'chroma.log'}, its watchdog's: {state / 'watchdog.log'}")
    else:
        print(f"chroma_server: no server in {state}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a server; DIR/url once it answers")
    start.add_argument("--state", required=True, help="directory for the data, log and DIR/url")
    start.add_argument("--owner-pid", type=int, default=None,
                       help="the server dies with this process (default: the nearest ctest "
                            "ancestor, else the parent)")
    start.add_argument("--max-lifetime-s", type=float, default=MAX_LIFETIME_S)
    start.add_argument("--timeout-s", type=float, default=START_TIMEOUT_S,
                       help="how long to wait for the heartbeat")
    stop = commands.add_parser("stop", help="stop the server started with the same --state")
    stop.add_argument("--state", required=True)
    stop.add_argument("--timeout-s", type=float, default=STOP_TIMEOUT_S,
                      help="SIGKILL after this long")
    watchdog = commands.add_parser("watchdog", help="(internal) what start runs beside the server")
    watchdog.add_argument("--pgid", type=int, required=True)
    watchdog.add_argument("--owner-pid", type=int, required=True)
    watchdog.add_argument("--owner-start", type=int, required=True)
    watchdog.add_argument("--deadline", type=float, required=True)
    args = parser.parse_args()
    if args.command == "watchdog":
        _watchdog(args.pgid, args.owner_pid, args.owner_start, args.deadline)
        return
    try:
        cli_start(args) if args.command == "start" else cli_stop(args)
    except RuntimeError as e:
        sys.exit(f"chroma_server: {e}")


if __name__ == "__main__":
    main()
