"""The RabbitMQ test harness itself (tests/support/rabbitmq_server.py): a durable queue's confirmed
persistent messages survive restart() and kill() + start() on the same ports; every process of the
node (in its process group or not) is gone after stop, kill and the context manager, even when the
test fails inside it, while the shared epmd stays; the CLI's watchdog kills a node whose owner is
gone; a client of a stopped node is refused at once. With tls=True: pika connects to the TLS
listener trusting ca_file alone and is refused trusting the system's bundle, the plain listener
still answers, and a restart keeps the TLS port, the certificates and the messages; the server's
key belongs to the node's account, mode 0600."""
import json
import os
import pwd
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import pika
import pika.exceptions

SUPPORT = Path(__file__).resolve().parent.parent / "support"
sys.path.insert(0, str(SUPPORT))
from rabbitmq_server import RabbitMQServer  # noqa: E402
from server_process import (group_alive, marked_processes, marker_of, read_state,  # noqa: E402
                            wait_for)


def connect(url):
    params = url if isinstance(url, pika.connection.Parameters) else pika.URLParameters(url)
    params.socket_timeout = params.blocked_connection_timeout = 10
    params.connection_attempts = 1
    return pika.BlockingConnection(params)


def tls_parameters(rmq, cafile):
    """pika's parameters for the node's TLS listener (vhost /), trusting cafile (None: the
    system's bundle), checking the host name."""
    context = ssl.create_default_context(cafile=cafile)
    params = pika.URLParameters(rmq.amqps_url("/"))
    params.ssl_options = pika.SSLOptions(context, params.host)
    params.socket_timeout = params.blocked_connection_timeout = 10
    params.connection_attempts = 1
    return params


def publish(url, queue, bodies):
    connection = connect(url)
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True)
        channel.confirm_delivery()
        for body in bodies:
            channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()


def drain(url, queue):
    connection = connect(url)
    try:
        channel = connection.channel()
        got = []
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return got
            got.append(body)
    finally:
        connection.close()


def epmd_pids():
    return {p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _comm(p) == "epmd"}


def _comm(p):
    try:
        return (p / "comm").read_text().strip()
    except OSError:
        return None


class RabbitMQServerTest(unittest.TestCase):
    def assert_gone(self, group, marker):
        self.assertFalse(group_alive(group))
        self.assertEqual(marked_processes(marker), [])

    def test_persistent_messages_survive_restart_and_kill(self):
        with RabbitMQServer() as rmq:
            url, port, dist_port = rmq.amqp_url, rmq.port, rmq.dist_port
            # The node's processes leave its group (erl_child_setup calls setsid): the mark finds them.
            names = {_comm(Path(f"/proc/{pid}")) for pid, _ in marked_processes(rmq.marker)}
            self.assertTrue({"beam.smp", "erl_child_setup"} <= names, names)
            publish(url, "durable.q", [b"one", b"two"])

            group = rmq.process.pid
            started = time.monotonic()
            rmq.restart()
            print(f"restart (stop + start): {time.monotonic() - started:.1f} s", file=sys.stderr)
            self.assert_gone(group, None)
            self.assertEqual((rmq.amqp_url, rmq.port, rmq.dist_port), (url, port, dist_port))
            self.assertEqual(drain(url, "durable.q"), [b"one", b"two"])

            publish(url, "durable.q", [b"three"])
            group = rmq.process.pid
            rmq.kill()
            self.assert_gone(group, rmq.marker)
            with self.assertRaises(pika.exceptions.AMQPConnectionError) as refused:
                connect(url)
            print(f"a client of the killed node: {refused.exception!r}", file=sys.stderr)
            started = time.monotonic()
            rmq.start()
            print(f"start after kill -9: {time.monotonic() - started:.1f} s", file=sys.stderr)
            self.assertEqual(drain(url, "durable.q"), [b"three"])

    def test_a_tls_listener_trusted_through_ca_file_and_kept_across_restart(self):
        with RabbitMQServer(tls=True) as rmq:
            trusted = tls_parameters(rmq, rmq.ca_file)
            connection = connect(trusted)
            try:
                # The broker's view: one connection, to the TLS port, over TLS.
                listed = json.loads(rmq.ctl("list_connections", "--quiet", "--formatter", "json",
                                            "port", "ssl").stdout)
                self.assertEqual(listed, [{"port": rmq.tls_port, "ssl": True}])
            finally:
                connection.close()
            publish(trusted, "tls.q", [b"over tls"])
            with self.assertRaises(ssl.SSLCertVerificationError):
                connect(tls_parameters(rmq, None))  # the throwaway CA is not in the system's
            publish(rmq.amqp_url, "plain.q", [b"plain"])

            key = Path(rmq.ca_file).parent / "server_key.pem"
            self.assertEqual(key.stat().st_mode & 0o777, 0o600)
            owner = pwd.getpwnam("rabbitmq").pw_uid if os.geteuid() == 0 else os.geteuid()
            self.assertEqual(key.stat().st_uid, owner)

            tls_port, ca = rmq.tls_port, Path(rmq.ca_file).read_bytes()
            rmq.restart()
            self.assertEqual((rmq.tls_port, Path(rmq.ca_file).read_bytes()), (tls_port, ca))
            self.assertEqual(drain(tls_parameters(rmq, rmq.ca_file), "tls.q"), [b"over tls"])
            self.assertEqual(drain(rmq.amqp_url, "plain.q"), [b"plain"])

    def test_stop_leaves_no_process_but_the_shared_epmd(self):
        with RabbitMQServer() as rmq:
            epmd = epmd_pids()
            self.assertTrue(epmd, "no epmd while a node runs")
            group, marker = rmq.process.pid, rmq.marker
            self.assertTrue(marked_processes(marker))
            started = time.monotonic()
            rmq.stop()
            print(f"stop: {time.monotonic() - started:.1f} s", file=sys.stderr)
            self.assert_gone(group, marker)
            # The shared epmd survives (others on the machine may start nodes meanwhile: only
            # the ones that were there are checked).
            self.assertLessEqual(epmd, epmd_pids())

    def test_the_context_manager_stops_the_node_when_the_test_fails(self):
        with self.assertRaises(ZeroDivisionError):
            with RabbitMQServer() as rmq:
                group, marker, scratch = rmq.process.pid, rmq.marker, rmq._scratch
                1 / 0
        self.assert_gone(group, marker)
        self.assertFalse(os.path.exists(scratch))

    def test_the_cli_watchdog_kills_the_node_when_its_owner_is_gone(self):
        owner = subprocess.Popen(["sleep", "600"])
        with tempfile.TemporaryDirectory(prefix="vecmesh-rabbitmq-cli-") as state:
            os.chmod(state, 0o755)  # the rabbitmq user must reach the node's directory
            cli = [sys.executable, str(SUPPORT / "rabbitmq_server.py")]
            try:
                subprocess.run(cli + ["start", "--state", state, "--owner-pid", str(owner.pid)],
                               check=True, timeout=120)
                url = Path(state, "url").read_text().strip()
                connect(url).close()
                group = int(read_state(Path(state))["pgid"])
                marker = marker_of(Path(state, "data"))
                self.assertTrue(marked_processes(marker))
                owner.send_signal(signal.SIGKILL)
                owner.wait()
                self.assertTrue(wait_for(lambda: not group_alive(group) and not
                                         marked_processes(marker), 20),
                                "the node outlived its owner")
                with self.assertRaises(pika.exceptions.AMQPConnectionError):
                    connect(url)
            finally:
                owner.kill()
                owner.wait()
                subprocess.run(cli + ["stop", "--state", state], check=False, timeout=60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
