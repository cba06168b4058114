#!/usr/bin/python3
"""Process management for the test servers (tests/support/chroma_server.py, qdrant_double.py,
rabbitmq_server.py).

A test server runs in a process group of its own (the group is killed, never one pid), and a
detached watchdog kills that group when its owner disappears (the test process for the Python API;
the ctest that ran the fixture for the CLI), and in any case after a maximum lifetime, so no server
outlives a test run that was killed. A server some of whose processes leave its group (Erlang's
port programs start sessions of their own) is also "marked": its environment carries
VECMESH_SERVER_MARKER=<its data directory>, which every child inherits, and whatever carries the
mark is killed with the group (except the shared daemons in SHARED_DAEMONS, such as Erlang's epmd).

What is here:
  - processes: start times (a pid with its start time names one process, even after reuse), groups
    alive / stopped / killed, free loopback ports, a log's tail;
  - ManagedServer: the base of a Python API that owns one server (start, kill -9, restart on the
    same port and data, stop, context manager), with the watchdog;
  - fixture_start / fixture_stop: the CLI of a CTest fixture that shares one server across tests
    (state directory with the data, the log and DIR/url once the server answers);
  - `server_process.py watchdog ...`: the watchdog itself (started by spawn_watchdog).

Stdlib only; run it with /usr/bin/python3.
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

HOST = "127.0.0.1"
STOP_TIMEOUT_S = 10
MAX_LIFETIME_S = 2 * 3600
MARKER_ENV = "VECMESH_SERVER_MARKER"
# Daemons a server may start that outlive it and serve other servers too: never killed by a mark.
# Erlang's epmd (port 4369) is shared by every Erlang node of the machine.
SHARED_DAEMONS = ("epmd",)


# --- processes -----------------------------------------------------------------------------------

def start_time(pid):
    """The start time of process pid (clock ticks since boot), or None when there is none. With the
    pid it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return int(stat[stat.rindex(")") + 2:].split()[19])


def process_alive(pid, started):
    """Whether process pid (started at `started`) still runs: a zombie (killed, not yet reaped by
    its parent or init) does not."""
    if started is None or start_time(pid) != started:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")


def group_alive(pgid):
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


def signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate_leader(pgid):
    """SIGTERM to the group's leader only, for a server whose leader stops the rest in order (the
    rabbitmq-server script stops the Erlang VM, which stops its port programs)."""
    try:
        os.kill(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def terminate_group(pgid):
    signal_group(pgid, signal.SIGTERM)


def marker_of(data_dir):
    """The mark of the server whose data is in data_dir (unique while the directory is)."""
    return str(Path(data_dir).resolve())


def marker_env(data_dir):
    """The environment entry that marks a server's processes (see marked_processes)."""
    return {MARKER_ENV: marker_of(data_dir)}


def marked_processes(marker):
    """The live processes (pid, start time) whose environment holds VECMESH_SERVER_MARKER=marker,
    except the shared daemons (SHARED_DAEMONS) and zombies. Reading another user's environment
    needs root; a server launched as this user is always readable."""
    if marker is None:
        return []
    needle = f"\0{MARKER_ENV}={marker}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in b"\0" + (entry / "environ").read_bytes():
                continue
            if (entry / "comm").read_text().strip() in SHARED_DAEMONS:
                continue
        except OSError:
            continue
        pid = int(entry.name)
        started = start_time(pid)
        if process_alive(pid, started):
            found.append((pid, started))
    return found


def server_alive(pgid, marker=None):
    """Whether anything of the server is left: its process group, or a process with its mark."""
    return group_alive(pgid) or bool(marked_processes(marker))


def recorded_server_alive(server):
    """Whether the server a state file records (read_state) is still there. A record outlives its
    server (a reboot, a run killed outright): when the pid of the group's leader now names a process
    that started at another time, the group id was reused by another program, and nothing of it is
    ours."""
    pgid = int(server["pgid"])
    recorded = server.get("pgid_start")
    if recorded and start_time(pgid) not in (None, int(recorded)):
        return False
    return server_alive(pgid, server.get("marker") or None)


def signal_server(pgid, marker, sig):
    signal_group(pgid, sig)
    for pid, started in marked_processes(marker):
        if start_time(pid) == started:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def wait_for(predicate, timeout_s, interval_s=0.1):
    """Polls predicate until it holds or timeout_s passes; returns whether it held."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True


def wait_group_gone(pgid, timeout_s, marker=None):
    return wait_for(lambda: not server_alive(pgid, marker), timeout_s, 0.05)


def kill_group(pgid, what="server", marker=None):
    """SIGKILL to the group and to the processes with the server's mark; raises when any is still
    there after 10 s."""
    signal_server(pgid, marker, signal.SIGKILL)
    # A marked process may have been forked while the first signals went out: signal again.
    if not wait_for(lambda: (signal_server(pgid, marker, signal.SIGKILL)
                             or not server_alive(pgid, marker)), 10, 0.05):
        raise RuntimeError(f"the {what}'s process group {pgid} (or a process marked {marker}) "
                           f"survived SIGKILL for 10 s")


def stop_group(pgid, timeout_s=STOP_TIMEOUT_S, what="server", marker=None,
               terminate=terminate_group):
    """terminate(pgid) (default: SIGTERM to the group), then SIGKILL when anything of the server is
    still there after timeout_s."""
    terminate(pgid)
    if not wait_group_gone(pgid, timeout_s, marker):
        kill_group(pgid, what, marker)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_free(port):
    with socket.socket() as s:
        # As the server binds (SO_REUSEADDR): connections of a killed server in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def http_ok(url, timeout_s=1.0):
    """Whether GET url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def json_request(url, method, path, body=None, headers=None, timeout_s=30):
    """One JSON request to url + path: (status, decoded JSON body, or the text when it is not JSON,
    or None when empty). HTTP errors are answers, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    headers = dict(headers or {})
    if body is not None:
        headers.setdefault("content-type", "application/json")
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


def url_from_env(variable, what, fixture, start_test):
    """The URL of a fixture's server: the file environment variable `variable` names holds it
    (CTest sets the variable for tests that require the fixture)."""
    path = os.environ.get(variable)
    if not path:
        raise RuntimeError(f"{variable} is not set: run the test through ctest, which starts the "
                           f"{what} (fixture {fixture}) and sets it")
    try:
        return Path(path).read_text().strip()
    except OSError as e:
        raise RuntimeError(f"no {what} URL in {path} (did {start_test} fail?): {e}") from e


def log_tail(log_path, lines=40):
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(process, url, ready, log_path, timeout_s, what):
    """Waits until ready(url) holds. Raises, with the log's tail, when process exits first or
    timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the {what} exited with status {process.returncode} before it "
                               f"answered at {url}; its log ({log_path}) ends:\n{log_tail(log_path)}")
        if ready(url):
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"the {what} did not answer at {url} within {timeout_s} s; its log "
                               f"({log_path}) ends:\n{log_tail(log_path)}")
        time.sleep(0.1)


def spawn_watchdog(pgid, owner_pid, max_lifetime_s, log_path, label, what, marker=None):
    """A detached process that kills process group pgid (and the processes marked marker) when
    process owner_pid disappears or max_lifetime_s passes. It exits by itself once the server is
    gone. label and what name the server in the watchdog's message ("chroma_server", "Chroma
    server")."""
    owner_start = start_time(owner_pid)
    if owner_start is None:
        raise RuntimeError(f"the watchdog's owner, process {owner_pid}, does not exist")
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "watchdog", "--pgid", str(pgid),
             "--owner-pid", str(owner_pid), "--owner-start", str(owner_start),
             "--deadline", str(time.time() + max_lifetime_s), "--label", label, "--what", what]
            + ([] if marker is None else ["--marker", marker]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def run_watchdog(pgid, owner_pid, owner_start, deadline, label="server_process", what="server",
                 marker=None):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while server_alive(pgid, marker):
        if not process_alive(owner_pid, owner_start):
            reason = f"its owner, process {owner_pid}, is gone"
        elif time.time() >= deadline:
            reason = "it reached its maximum lifetime"
        else:
            time.sleep(0.5)
            continue
        print(f"{label} watchdog: killing the {what}'s process group {pgid}: {reason}", flush=True)
        try:
            kill_group(pgid, what, marker)
        except RuntimeError as e:
            print(f"{label} watchdog: {e}", flush=True)
        return


def add_watchdog_arguments(parser):
    parser.add_argument("--pgid", type=int, required=True)
    parser.add_argument("--owner-pid", type=int, required=True)
    parser.add_argument("--owner-start", type=int, required=True)
    parser.add_argument("--deadline", type=float, required=True)
    parser.add_argument("--marker", default=None,
                        help="also kill the processes whose environment carries this mark")


# --- the Python API: one server owned by one test -------------------------------------------------

class ManagedServer:
    """A server on a loopback port, for one test. Subclasses say how to launch it and when it is
    ready:
      label, what: names in messages ("chroma_server", "Chroma server");
      _launch(port): starts it in a new session (its own process group), output appended to
                     self.log_path; returns the Popen of the group leader;
      _ready(url): whether it answers;
      marked: whether _launch puts marker_env(self.data_dir) in its environment (then kill and
              stop also kill the processes that carry the mark);
      extra_ports: names of attributes holding further ports (chosen free with port, and kept);
      _terminate(pgid): how stop asks it to stop (default: SIGTERM to the group).

    data_dir: where the server keeps its data (default: a fresh temporary directory, removed on exit).
    port: the port (default: a free one, chosen at the first start and kept across restarts).
    The server's output goes to `log_path` (in a temporary directory, removed on exit)."""

    label = "server"
    what = "server"
    log_name = "server.log"
    marked = False
    extra_ports = ()
    stop_timeout_s = STOP_TIMEOUT_S

    def __init__(self, data_dir=None, port=None, start_timeout_s=60, max_lifetime_s=MAX_LIFETIME_S):
        self._scratch = tempfile.mkdtemp(prefix=f"vecmesh-{self.label}-")
        self.data_dir = Path(data_dir) if data_dir is not None else Path(self._scratch) / "data"
        self.log_path = Path(self._scratch) / self.log_name
        self.port = port
        for name in self.extra_ports:
            setattr(self, name, None)
        self.start_timeout_s = start_timeout_s
        self.max_lifetime_s = max_lifetime_s
        self.process = None
        self._watchdog = None

    def _launch(self, port):
        raise NotImplementedError

    def _ready(self, url):
        raise NotImplementedError

    def _terminate(self, pgid):
        terminate_group(pgid)

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    @property
    def marker(self):
        return marker_of(self.data_dir) if self.marked else None

    def running(self):
        return self.process is not None and server_alive(self.process.pid, self.marker)

    def _choose_ports(self):
        """A free port for self.port and each of extra_ports, all different."""
        chosen = set()
        for name in ("port",) + tuple(self.extra_ports):
            port = free_port()
            while port in chosen:
                port = free_port()
            chosen.add(port)
            setattr(self, name, port)

    def start(self):
        """Starts the server (on the same port and data as before, after a kill or stop) and
        returns once it answers."""
        if self.running():
            raise RuntimeError(f"the {self.what} at {self.url} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        chosen_here = self.port is None
        for attempt in range(3):
            if chosen_here:
                self._choose_ports()
            ports = [self.port] + [getattr(self, name) for name in self.extra_ports]
            taken = [port for port in ports if not port_free(port)]
            if taken:
                if chosen_here:
                    continue
                raise RuntimeError(f"port {taken[0]} is taken: the {self.what} cannot start there")
            self.process = self._launch(self.port)
            self._watchdog = spawn_watchdog(self.process.pid, os.getpid(), self.max_lifetime_s,
                                            self.log_path, self.label, self.what, self.marker)
            try:
                wait_ready(self.process, self.url, self._ready, self.log_path, self.start_timeout_s,
                           self.what)
                return self
            except RuntimeError:
                self.kill()
                # A free port chosen here may have been taken before the server bound it: once more.
                if not chosen_here or attempt == 2:
                    raise
        raise RuntimeError(f"no free port for the {self.what}")

    def kill(self):
        """SIGKILL to the server's process group (and marked processes); returns once they are
        gone."""
        if self.process is not None:
            kill_group(self.process.pid, self.what, self.marker)
            self.process.wait()
        self._end_watchdog()

    def stop(self, timeout_s=None):
        """Asks the server to stop (_terminate), SIGKILL when anything of it is still there after
        timeout_s (default: stop_timeout_s)."""
        timeout_s = self.stop_timeout_s if timeout_s is None else timeout_s
        if self.process is not None:
            stop_group(self.process.pid, timeout_s, self.what, self.marker, self._terminate)
            self.process.wait()
        self._end_watchdog()

    def restart(self, timeout_s=None):
        """stop, then start on the same port(s) and data."""
        self.stop(timeout_s)
        return self.start()

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


# --- the CLI of a CTest fixture: one server shared by the tests of a run --------------------------

def ancestor_named(name):
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


def read_state(state):
    try:
        return dict(line.split("=", 1) for line in (state / "server").read_text().splitlines())
    except (OSError, ValueError):
        return None


def stop_state(state, timeout_s=STOP_TIMEOUT_S, what="server", terminate=terminate_group):
    """Stops the server recorded in state (terminate(pgid), then SIGKILL after timeout_s). Returns
    whether one was running."""
    (state / "url").unlink(missing_ok=True)
    server = read_state(state)
    if server is None:
        return False
    marker = server.get("marker") or None
    running = recorded_server_alive(server)
    if running:
        stop_group(int(server["pgid"]), timeout_s, what, marker, terminate)
    (state / "server").unlink()
    return running


def fixture_start(state, owner_pid, launch, ready, label, what, log_name, max_lifetime_s, timeout_s,
                  url_format="http://{host}:{port}", marked=False, terminate=terminate_group):
    """Starts a fresh server for a test run, with its data in state/data and its log in
    state/log_name, and writes state/url (url_format with host and port) once ready(url) holds.
    launch(data_dir, port, log_path) starts it in a process group of its own (with
    marker_env(data_dir) in its environment when marked). The server dies with process owner_pid
    (default: the nearest ctest ancestor, else the parent). terminate(pgid) stops a server left by
    an earlier run. Exits the process with a message on failure."""
    state = Path(state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    owner = owner_pid or ancestor_named("ctest") or os.getppid()
    server = read_state(state)
    if server is not None and recorded_server_alive(server):
        if process_alive(int(server["owner_pid"]), int(server["owner_start"])):
            sys.exit(f"{label}: {state} already has a server, started for process "
                     f"{server['owner_pid']} (another test run?), which is still there")
        print(f"{label}: stopping the server left in {state} by a run that is gone")
    stop_state(state, what=what, terminate=terminate)
    # A fresh server for each test run.
    shutil.rmtree(state / "data", ignore_errors=True)
    log_path = state / log_name
    log_path.unlink(missing_ok=True)
    (state / "watchdog.log").unlink(missing_ok=True)
    marker = marker_of(state / "data") if marked else None
    for attempt in range(3):
        port = free_port()
        url = url_format.format(host=HOST, port=port)
        process = launch(state / "data", port, log_path)
        (state / "server").write_text(f"pgid={process.pid}\npgid_start={start_time(process.pid)}\n"
                                      f"owner_pid={owner}\n"
                                      f"owner_start={start_time(owner)}\nurl={url}\n"
                                      f"marker={marker or ''}\n")
        spawn_watchdog(process.pid, owner, max_lifetime_s, state / "watchdog.log", label, what,
                       marker)
        try:
            wait_ready(process, url, ready, log_path, timeout_s, what)
            break
        except RuntimeError as e:
            kill_group(process.pid, what, marker)
            (state / "server").unlink()
            if attempt == 2:
                sys.exit(f"{label}: {e}")
    tmp = state / "url.tmp"
    tmp.write_text(url + "\n")
    tmp.replace(state / "url")
    return state, url, process.pid, owner


def fixture_stop(state, timeout_s, label, what, log_name, terminate=terminate_group):
    """Stops the server of fixture_start (terminate(pgid), SIGKILL after timeout_s) and says so.
    Returns the state file's record (None when there was none)."""
    state = Path(state).resolve()
    server = read_state(state)
    if stop_state(state, timeout_s, what, terminate):
        print(f"{label}: stopped the {what} at {server['url']}")
    elif server is not None:
        print(f"{label}: the {what} at {server['url']} was already gone; its log: "
              f"{state / log_name}, its watchdog's: {state / 'watchdog.log'}")
    else:
        print(f"{label}: no server in {state}")
    return server


def fixture_parser(description, what, start_timeout_s, ready_what):
    """The argument parser of a fixture CLI: commands start (--state, --owner-pid,
    --max-lifetime-s, --timeout-s) and stop (--state, --timeout-s). Returns (parser, commands,
    start, stop) for a caller to add its own arguments and commands."""
    parser = argparse.ArgumentParser(description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help=f"start a {what}; DIR/url once it answers")
    start.add_argument("--state", required=True, help="directory for the data, log and DIR/url")
    start.add_argument("--owner-pid", type=int, default=None,
                       help=f"the {what} dies with this process (default: the nearest ctest "
                            "ancestor, else the parent)")
    start.add_argument("--max-lifetime-s", type=float, default=MAX_LIFETIME_S)
    start.add_argument("--timeout-s", type=float, default=start_timeout_s,
                       help=f"how long to wait for {ready_what}")
    stop = commands.add_parser("stop", help=f"stop the {what} started with the same --state")
    stop.add_argument("--state", required=True)
    stop.add_argument("--timeout-s", type=float, default=STOP_TIMEOUT_S,
                      help="SIGKILL after this long")
    return parser, commands, start, stop


def run_fixture_cli(args, cli_start, cli_stop, label):
    """Runs command start or stop; a RuntimeError ends the process with its message."""
    try:
        cli_start(args) if args.command == "start" else cli_stop(args)
    except RuntimeError as e:
        sys.exit(f"{label}: {e}")


def main():
    parser = argparse.ArgumentParser(description="(internal) the watchdog of a test server")
    commands = parser.add_subparsers(dest="command", required=True)
    watchdog = commands.add_parser("watchdog", help="kill a process group when its owner is gone")
    add_watchdog_arguments(watchdog)
    watchdog.add_argument("--label", default="server_process")
    watchdog.add_argument("--what", default="server")
    args = parser.parse_args()
    run_watchdog(args.pgid, args.owner_pid, args.owner_start, args.deadline, args.label, args.what,
                 args.marker)


if __name__ == "__main__":
    main()
