#!/usr/bin/python3
"""A real, private RabbitMQ node for the tests (Debian rabbitmq-server 3.10).

Python API, for a test that owns its node:

    with RabbitMQServer() as rmq:           # free loopback ports, fresh directory, own node name
        pika.BlockingConnection(pika.URLParameters(rmq.amqp_url))
        rmq.add_vhost("/sutazai")           # guest may use it: rmq.vhost_url("/sutazai")
        rmq.ctl("list_queues", "-p", "/sutazai", "name")
        rmq.restart()                       # stop, start again on the same ports and data
        rmq.kill()                          # SIGKILL every process of the node
        rmq.start()

    with RabbitMQServer(prometheus=True) as rmq:   # the rabbitmq_prometheus plugin, own port
        rmq.prometheus_url                  # http://127.0.0.1:PROMETHEUS_PORT (GET /metrics...)

    with RabbitMQServer(tls=True) as rmq:   # also a TLS listener, on a port of its own
        rmq.amqps_url("/sutazai")           # amqps://guest:guest@localhost:TLS_PORT/%2Fsutazai
        rmq.ca_file                         # the PEM file of the CA that signed the node's cert

CLI, for CTest fixtures (tests/integration/CMakeLists.txt) that share one node across tests:

    rabbitmq_server.py start --state DIR    # node files in DIR/data, log in DIR; DIR/url once up
    rabbitmq_server.py stop --state DIR

The fixture's node also has the platform's virtual host /sutazai (guest may use it). A test under
the fixture finds the node with url_from_env() (optionally for a vhost), and can administer it
with fixture_node() (e.g. a vhost of its own, so that tests running side by side do not share
queues).

Isolation: the node is RABBITMQ_NODENAME=vecmesh-<random>@localhost, listens on 127.0.0.1 only,
on its own AMQP port (RABBITMQ_NODE_PORT) and distribution port (RABBITMQ_DIST_PORT), and keeps
everything (database, logs, pid file, plugins list, config files, Erlang cookie) in its own
directory; it reads none of /etc/rabbitmq nor /var/lib/rabbitmq, so a system node (rabbit@HOST on
5672/25672) neither disturbs it nor is disturbed. Only epmd (port 4369, one per machine) is shared:
it is started here if none runs, never killed here.

As root, the node and its CLI tools run as the `rabbitmq` user (as Debian's wrappers in /usr/sbin
do, but without `su`, which would move the node into a session of its own and read the system
cookie); otherwise as the current user. The Erlang cookie is read from $HOME/.erlang.cookie by the
node and the CLI alike, so both get HOME=<node directory>.

The node's processes do not all stay in its process group (erl_child_setup and the port programs
it starts, inet_gethost and the disk monitor, call setsid), so the node is "marked"
(server_process.marker_env): kill, stop and the watchdog kill every process that carries the mark,
except epmd.

TLS (tls=True): at its first start the node gets a throwaway CA and a server certificate signed by
it, made with the `openssl` CLI in DIR/tls (EC P-256, valid CERT_DAYS days, for DNS:localhost and
IP:127.0.0.1; kept, with the node, across restarts), and a TLS listener on 127.0.0.1:tls_port
beside the plain one. The node asks clients for no certificate (verify_none), so a client only
needs to trust ca_file. The node's account (rabbitmq, when we are root) owns the server's key,
mode 0600; the CA's key is never given to it.

Prometheus (prometheus=True): the node enables the rabbitmq_prometheus plugin (and no other: the
management plugin's fixed port 15672 may be taken), its listener on 127.0.0.1:prometheus_port
(prometheus.tcp.ip/port), for deploy/prometheus's `rabbitmq` job. Without it the node enables no
plugin.

Stdlib only; run it with /usr/bin/python3. Needs rabbitmq-server (scripts/install-deps; it brings
erlang-ssl and openssl, which TLS uses).
"""
import json
import os
import pwd
import secrets
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

from server_process import (HOST, MAX_LIFETIME_S, ManagedServer, fixture_parser, fixture_start,
                            fixture_stop, free_port, marker_env, run_fixture_cli, terminate_leader)
from server_process import url_from_env as server_url_from_env

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
EPMD = "/usr/bin/epmd"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
CTL_TIMEOUT_S = 60
LABEL, WHAT, LOG_NAME = "rabbitmq_server", "RabbitMQ node", "rabbitmq.log"
USER, PASSWORD = "guest", "guest"  # the broker's default user: it may connect from loopback only
PLATFORM_VHOST = "/sutazai"
URL_FORMAT = f"amqp://{USER}:{PASSWORD}@{{host}}:{{port}}/%2F"
NODE_FILE = "node.json"
# TLS: the host name amqps URLs use (the certificate names it and 127.0.0.1), and the files.
TLS_HOST = "localhost"
TLS_SUBJECT_ALT_NAMES = "DNS:localhost, IP:127.0.0.1"
TLS_DIR = "tls"
CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.pem", "ca_key.pem", "server.pem", "server_key.pem"
CERT_DAYS = 7  # a node lives 2 hours at most (MAX_LIFETIME_S); restarts keep its certificates
OPENSSL_TIMEOUT_S = 30
# The openssl CLI's configuration for those certificates, so that /etc/ssl/openssl.cnf (its
# default extensions) does not matter.
OPENSSL_CONFIG = f"""\
# Throwaway certificates of a private RabbitMQ node for vecmesh's tests
# (tests/support/rabbitmq_server.py). Subjects are given on the command line.
[req]
distinguished_name = subject
prompt = no
[subject]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {TLS_SUBJECT_ALT_NAMES}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

# Written into the node's directory at each start, so that no file of /etc/rabbitmq is read.
NODE_CONFIG = """\
# A private RabbitMQ node for vecmesh's tests (tests/support/rabbitmq_server.py). Node name, ports
# and directories come from the environment (RABBITMQ_*).
# guest may connect from loopback only (the default): the node listens on 127.0.0.1 only.
loopback_users.guest = true
# Test machines have small disks: the default (50 MB) alarm blocks publishers on a full /tmp.
disk_free_limit.absolute = 50MB
"""


DEPLOY_RABBITMQ = Path(__file__).resolve().parent.parent.parent / "deploy" / "rabbitmq"


def deploy_config():
    """deploy/rabbitmq/rabbitmq.conf for a node of ours (Node's config): its listener lines left
    out (the node's ports come from the environment; the Prometheus plugin's from Node's
    prometheus_port), load_definitions pointed at the repository's
    definitions.json. Such a node has the vhost /sutazai and the topology of API.md, but neither
    the user guest nor the vhost / (deploy/rabbitmq/README.md): its clients need a user of their
    own (Node.add_user)."""
    lines = []
    for line in (DEPLOY_RABBITMQ / "rabbitmq.conf").read_text().splitlines():
        if line.startswith(("listeners.", "prometheus.tcp.")):
            continue
        if line.startswith("load_definitions"):
            line = f"load_definitions = {DEPLOY_RABBITMQ / 'definitions.json'}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def amqp_url(port, vhost="/"):
    """The AMQP URL of vhost on the node at port. The vhost is percent-encoded ("/" is "%2F"): a
    URL ending in a bare "/" names the EMPTY vhost for rabbitmq-c's amqp_parse_url."""
    return f"amqp://{USER}:{PASSWORD}@{HOST}:{port}/{urllib.parse.quote(vhost, safe='')}"


def amqps_url(port, vhost="/"):
    """The amqps URL of vhost on the node's TLS listener at port, by the name its certificate
    gives (TLS_HOST)."""
    return f"amqps://{USER}:{PASSWORD}@{TLS_HOST}:{port}/{urllib.parse.quote(vhost, safe='')}"


def with_vhost(url, vhost):
    """url (an AMQP URL) with its vhost replaced by vhost."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(vhost, safe="")))


def _run_as():
    """The account the node runs as: `rabbitmq` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("rabbitmq")
    except KeyError:
        raise RuntimeError("no user rabbitmq: install rabbitmq-server (scripts/install-deps)") from None


def _check_reachable(path, account):
    """Raises when account cannot reach path (every directory above needs x for it)."""
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == account.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == account.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            raise RuntimeError(f"user {account.pw_name} cannot enter {directory}, so the RabbitMQ "
                               f"node cannot use {path}: put its directory elsewhere")


def ensure_epmd():
    """Starts epmd (shared by the machine's Erlang nodes) unless one answers on port 4369, with a
    clean environment and no file of ours open, so that it never carries a node's mark and
    nothing waits on it. Never stopped here: other nodes may use it."""
    with socket.socket() as s:
        s.settimeout(1)
        if s.connect_ex((HOST, 4369)) == 0:
            return
    subprocess.run([EPMD, "-daemon"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd="/", env={"PATH": "/usr/bin:/bin"},
                   start_new_session=True, timeout=30, check=True)


class Node:
    """One private node's identity and files: its name, its ports and its directory `base`. The
    identity is kept in base/node.json, so a node started again on the same directory is the same
    node (RabbitMQ's database is per node name). tls_port: the TLS listener's port (None: none)."""

    def __init__(self, base, name, port, dist_port, config="", tls_port=None,
                 prometheus_port=None):
        self.base = Path(base).resolve()
        self.name = name
        self.port = port
        self.dist_port = dist_port
        self.config = config
        self.tls_port = tls_port
        self.prometheus_port = prometheus_port
        self.account = _run_as()

    @classmethod
    def create(cls, base, port, dist_port, config="", tls_port=None, prometheus_port=None):
        """A new node (a fresh name) in base. config: rabbitmq.conf lines added to NODE_CONFIG.
        prometheus_port: the rabbitmq_prometheus plugin enabled, listening on HOST:that port."""
        node = cls(base, f"vecmesh-{secrets.token_hex(4)}@localhost", port, dist_port, config,
                   tls_port, prometheus_port)
        node._prepare()
        return node

    @classmethod
    def load(cls, base):
        try:
            spec = json.loads((Path(base) / NODE_FILE).read_text())
        except (OSError, ValueError) as e:
            raise RuntimeError(f"no RabbitMQ node in {base}: {e}") from e
        return cls(base, spec["name"], spec["port"], spec["dist_port"], spec.get("config", ""),
                   spec.get("tls_port"), spec.get("prometheus_port"))

    def url(self, vhost="/"):
        return amqp_url(self.port, vhost)

    @property
    def prometheus_url(self):
        """http://HOST:PORT of the rabbitmq_prometheus plugin's listener (None: not enabled)."""
        if self.prometheus_port is None:
            return None
        return f"http://{HOST}:{self.prometheus_port}"

    @property
    def ca_file(self):
        """The PEM certificate of the CA that signed the TLS listener's certificate."""
        return self.base / TLS_DIR / CA_CERT

    def amqps_url(self, vhost="/"):
        if self.tls_port is None:
            raise RuntimeError(f"the RabbitMQ node {self.name} has no TLS listener")
        return amqps_url(self.tls_port, vhost)

    def _own(self, path):
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _prepare(self):
        """The node's directory, cookie, config, certificates (with TLS) and empty plugin list
        (idempotent)."""
        if self.account is not None:
            _check_reachable(self.base.parent, self.account)
        for directory in (self.base, self.base / "conf.d", self.base / "mnesia", self.base / "log"):
            directory.mkdir(parents=True, exist_ok=True)
            self._own(directory)
        cookie = self.base / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)  # Erlang refuses a cookie that others may read
        tls_config = ""
        if self.tls_port is not None:
            tls = self._make_certificates()
            tls_config = (f"# TLS beside the plain listener; clients show no certificate.\n"
                          f"listeners.ssl.1 = {HOST}:{self.tls_port}\n"
                          f"ssl_options.cacertfile = {tls / CA_CERT}\n"
                          f"ssl_options.certfile = {tls / SERVER_CERT}\n"
                          f"ssl_options.keyfile = {tls / SERVER_KEY}\n"
                          f"ssl_options.verify = verify_none\n"
                          f"ssl_options.fail_if_no_peer_cert = false\n")
        plugins, prometheus_config = "[].\n", ""
        if self.prometheus_port is not None:
            plugins = "[rabbitmq_prometheus].\n"
            prometheus_config = (f"# The rabbitmq_prometheus plugin's listener, on loopback.\n"
                                 f"prometheus.tcp.ip = {HOST}\n"
                                 f"prometheus.tcp.port = {self.prometheus_port}\n")
        files = {"rabbitmq.conf": NODE_CONFIG + tls_config + self.config + prometheus_config,
                 "enabled_plugins": plugins, "rabbitmq-env.conf": "",
                 NODE_FILE: json.dumps({"name": self.name, "port": self.port,
                                        "dist_port": self.dist_port, "config": self.config,
                                        "tls_port": self.tls_port,
                                        "prometheus_port": self.prometheus_port}) + "\n"}
        for name, text in files.items():
            (self.base / name).write_text(text)
        for path in [cookie] + [self.base / name for name in files]:
            self._own(path)

    def _make_certificates(self):
        """base/tls: a throwaway CA and a server certificate it signed for TLS_SUBJECT_ALT_NAMES,
        unless they are there already (a restart keeps them). Returns the directory."""
        tls = self.base / TLS_DIR
        tls.mkdir(exist_ok=True)
        tls.chmod(0o755)
        self._own(tls)
        if all((tls / name).exists() for name in (CA_CERT, SERVER_CERT, SERVER_KEY)):
            return tls
        (tls / "openssl.cnf").write_text(OPENSSL_CONFIG)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        common = ["-config", "openssl.cnf"]
        for command in (
                ["req", "-x509", *common, "-extensions", "ca", *ec, "-days", str(CERT_DAYS),
                 "-subj", f"/CN=vecmesh test CA {self.name}", "-keyout", CA_KEY, "-out", CA_CERT],
                ["req", "-new", *common, *ec, "-subj", f"/CN={TLS_HOST}", "-keyout", SERVER_KEY,
                 "-out", "server.csr"],
                ["x509", "-req", "-in", "server.csr", "-CA", CA_CERT, "-CAkey", CA_KEY,
                 "-set_serial", str(secrets.randbits(63)), "-days", str(CERT_DAYS),
                 "-extfile", "openssl.cnf", "-extensions", "server", "-out", SERVER_CERT]):
            try:
                done = subprocess.run(["openssl", *command], cwd=tls, stdin=subprocess.DEVNULL,
                                      capture_output=True, text=True, timeout=OPENSSL_TIMEOUT_S)
            except FileNotFoundError:
                raise RuntimeError("no openssl: install openssl (scripts/install-deps)") from None
            except subprocess.TimeoutExpired as e:
                raise RuntimeError(f"openssl {command[0]} took more than {OPENSSL_TIMEOUT_S} s") from e
            if done.returncode != 0:
                raise RuntimeError(f"openssl {' '.join(command)} failed ({done.returncode}):\n"
                                   f"{done.stdout}{done.stderr}")
        for name in (CA_KEY, SERVER_KEY):
            (tls / name).chmod(0o600)
        for name in (CA_CERT, SERVER_CERT):
            (tls / name).chmod(0o644)
        self._own(tls / SERVER_KEY)  # the node reads it; the CA's key stays ours
        self._own(tls / SERVER_CERT)
        self._own(tls / CA_CERT)
        return tls

    def _env(self):
        """What the node and its CLI tools share: the cookie (in HOME) and no system files."""
        b = self.base
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(HOME=str(b), RABBITMQ_CONF_ENV_FILE=str(b / "rabbitmq-env.conf"),
                   RABBITMQ_CONFIG_FILE=str(b / "rabbitmq.conf"),
                   RABBITMQ_CONFIG_FILES=str(b / "conf.d"),
                   RABBITMQ_ADVANCED_CONFIG_FILE=str(b / "advanced.config"),
                   RABBITMQ_ENABLED_PLUGINS_FILE=str(b / "enabled_plugins"),
                   RABBITMQ_MNESIA_BASE=str(b / "mnesia"), RABBITMQ_LOG_BASE=str(b / "log"),
                   LANG="C.UTF-8", LC_ALL="C.UTF-8")
        if self.account is not None:
            env.update(USER=self.account.pw_name, LOGNAME=self.account.pw_name)
        return env

    def _user_args(self):
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def launch(self, log_path):
        """Starts the node in a new session (its own process group; the script is the leader and
        turns SIGTERM into an orderly stop), log (RABBITMQ_LOGS=-) appended to log_path. Returns
        the Popen of the group leader."""
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            raise RuntimeError(f"no {RABBITMQ_BIN}/rabbitmq-server: install rabbitmq-server "
                               "(scripts/install-deps)")
        self._prepare()
        ensure_epmd()
        env = self._env()
        env.update(marker_env(self.base), RABBITMQ_NODENAME=self.name,
                   RABBITMQ_NODE_IP_ADDRESS=HOST, RABBITMQ_NODE_PORT=str(self.port),
                   RABBITMQ_DIST_PORT=str(self.dist_port),
                   RABBITMQ_PID_FILE=str(self.base / "node.pid"), RABBITMQ_LOGS="-",
                   # Distribution on loopback only, too.
                   RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
        with open(log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} rabbitmq-server {self.name} amqp {self.port} "
                      f"dist {self.dist_port} in {self.base}\n".encode())
            log.flush()
            return subprocess.Popen([str(RABBITMQ_BIN / "rabbitmq-server")], cwd=self.base, env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, **self._user_args())

    def cli(self, tool, *args, timeout_s=CTL_TIMEOUT_S, check=True):
        """Runs a CLI tool (rabbitmqctl, rabbitmq-diagnostics...) with -n NODE: the
        CompletedProcess (text). check: raise RuntimeError, with its output, when it fails."""
        env = self._env()
        # The CLI is an Erlang node too: by default it listens on 35672-35682 (RABBITMQ_DIST_PORT
        # + 10000 when that is set), ports every CLI call of the machine shares. 0: any free port.
        env.update(RABBITMQ_CTL_DIST_PORT_MIN="0", RABBITMQ_CTL_DIST_PORT_MAX="0")
        command = [str(RABBITMQ_BIN / tool), "-n", self.name, *args]
        try:
            done = subprocess.run(command, env=env, cwd=self.base, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout_s,
                                  **self._user_args())
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"{tool} {' '.join(args)} took more than {timeout_s} s") from e
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}")
        return done

    def ctl(self, *args, timeout_s=CTL_TIMEOUT_S, check=True):
        """rabbitmqctl -n NODE args: the CompletedProcess (text)."""
        return self.cli("rabbitmqctl", *args, timeout_s=timeout_s, check=check)

    def ready(self, _url=None):
        """Whether the listeners are up (AMQP, TLS and Prometheus, those it has): the ports
        accept, then the node says so (`ping` answers earlier, before the listeners are)."""
        for port in (self.port, self.tls_port, self.prometheus_port):
            if port is None:
                continue
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex((HOST, port)) != 0:
                    return False
        return self.cli("rabbitmq-diagnostics", "check_port_connectivity", timeout_s=20,
                        check=False).returncode == 0

    def add_user(self, user, password, vhost):
        """Creates user with password (given to rabbitmqctl on stdin, so no process list shows
        it) and lets it configure, write and read everything in vhost."""
        env = self._env()
        env.update(RABBITMQ_CTL_DIST_PORT_MIN="0", RABBITMQ_CTL_DIST_PORT_MAX="0")
        command = [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, "add_user", user]
        try:
            done = subprocess.run(command, env=env, cwd=self.base, input=password + "\n",
                                  capture_output=True, text=True, timeout=CTL_TIMEOUT_S,
                                  **self._user_args())
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"rabbitmqctl add_user {user} took more than {CTL_TIMEOUT_S} "
                               "s") from e
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl add_user {user} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}")
        self.ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")

    def add_vhost(self, vhost, user=USER):
        """Creates vhost (if it is not there) and lets user configure, write and read everything
        in it. Returns its AMQP URL."""
        if vhost not in self.ctl("list_vhosts", "--quiet", "--no-table-headers").stdout.split("\n"):
            self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        return self.url(vhost)


# --- for the tests -------------------------------------------------------------------------------

def url_from_env(vhost=None):
    """The AMQP URL of the fixture's node (its default vhost "/", or vhost): the file
    VECMESH_AMQP_URL_FILE names holds it (CTest sets the variable for tests that require the
    fixture `rabbitmq`)."""
    url = server_url_from_env("VECMESH_AMQP_URL_FILE", WHAT, "rabbitmq", "rabbitmq_server_start")
    return url if vhost is None else with_vhost(url, vhost)


def fixture_node():
    """The fixture's node (a Node: ctl, add_vhost...), from the state directory that holds the
    file VECMESH_AMQP_URL_FILE names."""
    url_from_env()  # says clearly when there is no fixture
    return Node.load(Path(os.environ["VECMESH_AMQP_URL_FILE"]).parent / "data")


# --- the Python API ------------------------------------------------------------------------------

class RabbitMQServer(ManagedServer):
    """A private RabbitMQ node on loopback ports, for one test (see ManagedServer and the module's
    docstring).

    data_dir: the node's directory (default: a fresh temporary one, removed on exit).
    port, dist_port: the AMQP and distribution ports (default: free ones, chosen at the first
    start and kept across restarts). config: rabbitmq.conf lines for the node (e.g.
    load_definitions = FILE). tls: a TLS listener too, on tls_port (default: a free one, chosen
    and kept as the others); see the module's docstring. prometheus: the rabbitmq_prometheus
    plugin, listening on prometheus_port (chosen and kept as the others). The node's log goes to
    `log_path`."""

    label, what, log_name = LABEL, WHAT, LOG_NAME
    marked = True
    extra_ports = ("dist_port",)
    stop_timeout_s = STOP_TIMEOUT_S

    def __init__(self, data_dir=None, port=None, dist_port=None, config="", tls=False,
                 tls_port=None, prometheus=False, prometheus_port=None,
                 start_timeout_s=START_TIMEOUT_S, max_lifetime_s=MAX_LIFETIME_S):
        self.extra_ports = (RabbitMQServer.extra_ports + (("tls_port",) if tls else ())
                            + (("prometheus_port",) if prometheus else ()))
        super().__init__(data_dir, port, start_timeout_s, max_lifetime_s)
        self.dist_port = dist_port
        self.tls = tls
        self.tls_port = tls_port
        self.prometheus = prometheus
        self.prometheus_port = prometheus_port
        self.config = config
        self._node = None
        os.chmod(self._scratch, 0o711)  # the rabbitmq user must reach data_dir inside it

    @property
    def node(self):
        """The node's name (NAME@localhost)."""
        return self.node_spec.name

    @property
    def node_spec(self):
        if self._node is None:
            if (self.data_dir / NODE_FILE).exists():
                self._node = Node.load(self.data_dir)
            else:
                self._node = Node.create(self.data_dir, self.port, self.dist_port, self.config,
                                         self.tls_port, self.prometheus_port)
        return self._node

    @property
    def url(self):
        return self.amqp_url

    @property
    def amqp_url(self):
        """amqp://guest:guest@127.0.0.1:PORT/%2F (the default vhost "/")."""
        return amqp_url(self.port)

    def vhost_url(self, vhost):
        return amqp_url(self.port, vhost)

    def amqps_url(self, vhost="/"):
        """amqps://guest:guest@localhost:TLS_PORT/VHOST (vhost percent-encoded): the TLS
        listener, by the name its certificate gives. Only with tls=True, once started."""
        if not self.tls or self.tls_port is None:
            raise RuntimeError("this RabbitMQ node has no TLS listener: RabbitMQServer(tls=True)")
        return amqps_url(self.tls_port, vhost)

    @property
    def prometheus_url(self):
        """http://127.0.0.1:PROMETHEUS_PORT: the rabbitmq_prometheus plugin's listener. Only with
        prometheus=True, once started."""
        if not self.prometheus or self.prometheus_port is None:
            raise RuntimeError("this RabbitMQ node has no Prometheus listener: "
                               "RabbitMQServer(prometheus=True)")
        return f"http://{HOST}:{self.prometheus_port}"

    @property
    def ca_file(self):
        """The PEM file of the throwaway CA that signed the TLS listener's certificate (a str).
        Only with tls=True, once started."""
        if not self.tls or self._node is None:
            raise RuntimeError("this RabbitMQ node has no TLS listener: RabbitMQServer(tls=True)")
        return str(self._node.ca_file)

    def _launch(self, port):
        node = self.node_spec
        node.port, node.dist_port, node.tls_port = port, self.dist_port, self.tls_port
        node.prometheus_port = self.prometheus_port
        return node.launch(self.log_path)

    def _ready(self, url):
        return self.node_spec.ready(url)

    def _terminate(self, pgid):
        terminate_leader(pgid)

    def ctl(self, *args, timeout_s=CTL_TIMEOUT_S, check=True):
        """rabbitmqctl -n NODE args: the CompletedProcess (text); raises when it fails (check)."""
        return self.node_spec.ctl(*args, timeout_s=timeout_s, check=check)

    def add_vhost(self, vhost, user=USER):
        """Creates vhost and gives user every permission in it; returns its AMQP URL."""
        return self.node_spec.add_vhost(vhost, user)


# --- the CLI, for CTest fixtures -----------------------------------------------------------------

def cli_start(args):
    nodes = []

    def launch(data_dir, port, log_path):
        nodes.append(Node.create(data_dir, port, _other_free_port(port)))
        return nodes[-1].launch(log_path)

    started = time.monotonic()
    state, url, pgid, owner = fixture_start(
        args.state, args.owner_pid, launch, lambda url: nodes[-1].ready(url), LABEL, WHAT,
        LOG_NAME, args.max_lifetime_s, args.timeout_s, url_format=URL_FORMAT, marked=True,
        terminate=terminate_leader)
    nodes[-1].add_vhost(PLATFORM_VHOST)
    print(f"rabbitmq_server: node {nodes[-1].name} at {url} (process group {pgid}) up in "
          f"{time.monotonic() - started:.1f} s, vhosts / and {PLATFORM_VHOST}; files in "
          f"{state / 'data'}, log in {state / LOG_NAME}, for process {owner}; the URL is in "
          f"{state / 'url'}")


def _other_free_port(port):
    other = free_port()
    while other == port:
        other = free_port()
    return other


def cli_stop(args):
    fixture_stop(args.state, args.timeout_s, LABEL, WHAT, LOG_NAME, terminate=terminate_leader)


def main():
    parser, _, _, stop = fixture_parser(__doc__.split("\n\n")[0], "node", START_TIMEOUT_S,
                                        "the AMQP listener")
    stop.set_defaults(timeout_s=STOP_TIMEOUT_S)
    run_fixture_cli(parser.parse_args(), cli_start, cli_stop, LABEL)


if __name__ == "__main__":
    main()
