"""End to end, indexing jobs on RabbitMQ over TLS (README "Indexing jobs on RabbitMQ": amqps://
and --amqp-ca-file): vecmeshd as a process, a RabbitMQ node of the test's own with a TLS listener
whose certificate a throwaway CA signed (tests/support/rabbitmq_server.py, tls=True), and pika as
the independent client. vecmeshd logs in as a user of its own whose password must never show.

1. --amqp-url amqps://... --amqp-ca-file CA: POST .../points/import answers 202 and the job is
   done; a job pika publishes over the TLS listener is applied; /health/deep says rabbitmq is
   healthy; the broker lists every connection of vecmeshd's on its TLS port, over TLS.
2. The same URL without --amqp-ca-file (the system's bundle, which does not hold the CA): vecmeshd
   serves, /health/deep says rabbitmq is unhealthy (overall warning) because the broker's
   certificate was not verified against that bundle, naming the certificate, and an import
   answers 503 saying so.
3. The host: by 127.0.0.1 (the certificate gives that IP address) vecmeshd connects too; by 127.1
   (the same address, a name the certificate does not give) it is refused, saying so.
4. --amqp-ca-file with an amqp:// URL, with no URL, with a missing file and with a file that holds
   no certificate: vecmeshd refuses to start (exit code 2), naming the flag (and the file).

Run by CTest (label e2e) with VECMESH_DAEMON set; needs Debian's rabbitmq-server, openssl and
python3-pika (scripts/install-deps).
"""
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

import pika
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "support"))

from rabbitmq_server import RabbitMQServer  # noqa: E402
from rabbitmq_topology import declare_topology  # noqa: E402
from vecmeshd import Daemon, wait_for  # noqa: E402

QUEUE = "vector.indexing.tasks"
C = "/v1/collections/docs"
USER = "indexer"
# Config errors: main prints the reason and exits 2 (api/daemon/main.cc).
CONFIG_ERROR_EXIT = 2
REFUSAL_TIMEOUT_S = 30


def as_user(url, user, password, host=None):
    """url (an AMQP URL) logging in as user with password (and to host instead of its own)."""
    parts = urllib.parse.urlsplit(url)
    netloc = (f"{user}:{urllib.parse.quote(password, safe='')}@{host or parts.hostname}:"
              f"{parts.port}")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def tls_connection(url, ca_file):
    """A pika connection to an amqps URL, trusting ca_file alone and checking the host name."""
    params = pika.URLParameters(url)
    params.ssl_options = pika.SSLOptions(ssl.create_default_context(cafile=ca_file), params.host)
    params.socket_timeout = params.blocked_connection_timeout = 10
    params.connection_attempts = 1
    return pika.BlockingConnection(params)


class JobsOverTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rmq = RabbitMQServer(tls=True)
        cls.addClassCleanup(cls.rmq.close)
        cls.rmq.start()
        cls.password = "tls-" + os.urandom(12).hex()
        cls.rmq.ctl("add_user", USER, cls.password)

    def broker(self, vhost):
        """A vhost of this test's own with the API.md topology (declared by pika over TLS, as a
        producer does): its amqps URL, logging in as USER."""
        self.rmq.add_vhost(vhost, user=USER)
        url = as_user(self.rmq.amqps_url(vhost), USER, self.password)
        connection = tls_connection(url, self.rmq.ca_file)
        try:
            declare_topology(connection.channel())
        finally:
            connection.close()
        return url

    def daemon(self, args):
        daemon = Daemon(args=args + ["--access-log", "false"])
        self.addCleanup(daemon.cleanup)
        daemon.start()
        r = requests.put(daemon.url + C, json={"dimension": 2}, timeout=30)
        self.assertEqual(r.status_code, 201, r.text)
        return daemon

    def assert_no_password(self, daemon, *texts):
        for text in list(texts) + daemon.log:
            self.assertNotIn(self.password, text)

    @staticmethod
    def count(daemon):
        r = requests.post(daemon.url + C + "/points/count", json={}, timeout=30)
        return r.json()["count"]

    @staticmethod
    def rabbitmq_health(daemon):
        deep = requests.get(daemon.url + "/health/deep", timeout=30).json()
        return deep["status"], deep["dependencies"]["rabbitmq"]

    def test_jobs_over_tls_with_the_ca_file(self):
        url = self.broker("/tls-trusted")
        daemon = self.daemon(["--amqp-url", url, "--amqp-ca-file", self.rmq.ca_file])
        self.assertTrue(any('"ca_file"' in line and self.rmq.ca_file in line
                            for line in daemon.log), "the start names the CA file")

        r = requests.post(daemon.url + C + "/points/import",
                          json={"points": [{"id": i, "vector": [i, 1]} for i in range(7)]},
                          timeout=30)
        self.assertEqual(r.status_code, 202, r.text)
        job = r.json()["job_id"]
        self.assertTrue(wait_for(
            lambda: requests.get(f"{daemon.url}/v1/jobs/{job}", timeout=10)
            .json().get("state") == "done", timeout_s=30), "the import was consumed")
        self.assertEqual(self.count(daemon), 7)

        connection = tls_connection(url, self.rmq.ca_file)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish(
                "", QUEUE, json.dumps({"job_id": "from-pika", "collection": "docs",
                                       "op": "upsert",
                                       "points": [{"id": 100, "vector": [1, 2]}]}).encode(),
                pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                     message_id="from-pika"),
                mandatory=True)
        finally:
            connection.close()
        self.assertTrue(wait_for(lambda: self.count(daemon) == 8, timeout_s=30),
                        "the job pika published over TLS was applied")
        r = requests.get(daemon.url + "/v1/jobs/from-pika", timeout=10)
        self.assertEqual(r.json()["state"], "done", r.text)

        status, rabbitmq = self.rabbitmq_health(daemon)
        self.assertEqual((status, rabbitmq["status"]), ("healthy", "healthy"), rabbitmq)

        # The broker's view: vecmeshd's connections (the consumer's, the publisher's) are TLS ones
        # on the TLS port, not plain ones.
        listed = json.loads(self.rmq.ctl("list_connections", "--quiet", "--formatter", "json",
                                         "user", "port", "ssl", "client_properties").stdout)
        ours = [c for c in listed
                if ["connection_name", "longstr", "vecmeshd"] in c["client_properties"]]
        self.assertGreaterEqual(len(ours), 2, listed)
        self.assertEqual({(c["user"], c["port"], c["ssl"]) for c in ours},
                         {(USER, self.rmq.tls_port, True)}, listed)
        self.assert_no_password(daemon)

    def test_without_the_ca_file_the_broker_is_not_trusted(self):
        url = self.broker("/tls-untrusted")
        daemon = self.daemon(["--amqp-url", url])
        self.assertTrue(any("the system's bundle" in line for line in daemon.log))
        # Unhealthy from the start (no consumer yet), with the reason once the first try failed.
        self.assertTrue(wait_for(lambda: self.rabbitmq_health(daemon)[1]["message"] != "",
                                 timeout_s=30), "the consumer says why it cannot connect")
        status, rabbitmq = self.rabbitmq_health(daemon)
        self.assertEqual((status, rabbitmq["status"]), ("warning", "unhealthy"),
                         "vecmeshd serves, a dependency is down")
        reason = rabbitmq["message"]
        print(f"/health/deep rabbitmq: {reason}", file=sys.stderr)
        for fragment in ("certificate was not verified", "/etc/ssl/certs/ca-certificates.crt",
                         "vecmesh test CA"):  # and OpenSSL's reason, naming the CA's certificate
            self.assertIn(fragment, reason)

        r = requests.post(daemon.url + C + "/points/import",
                          json={"points": [{"id": 1, "vector": [1, 1]}]}, timeout=60)
        self.assertEqual(r.status_code, 503, r.text)
        self.assertEqual(r.json()["error"]["code"], "UNAVAILABLE", r.text)
        self.assertIn("certificate was not verified", r.json()["error"]["message"])
        self.assertEqual(self.count(daemon), 0)
        self.assertTrue(daemon.alive())
        self.assert_no_password(daemon, r.text, json.dumps(rabbitmq))

    def test_the_certificate_must_be_for_the_host_of_the_url(self):
        """The broker's certificate gives DNS:localhost and IP:127.0.0.1: by its IP address
        vecmeshd connects too; by 127.1, the same address under a name the certificate does not
        give, it refuses to."""
        url = self.broker("/tls-hosts")
        daemon = self.daemon(["--amqp-url", as_user(url, USER, self.password, "127.0.0.1"),
                              "--amqp-ca-file", self.rmq.ca_file])
        r = requests.post(daemon.url + C + "/points/import",
                          json={"points": [{"id": 1, "vector": [1, 1]}]}, timeout=30)
        self.assertEqual(r.status_code, 202, r.text)
        self.assertTrue(wait_for(lambda: self.count(daemon) == 1, timeout_s=30),
                        "the import was consumed")
        self.assertEqual(self.rabbitmq_health(daemon)[1]["status"], "healthy")

        other = self.daemon(["--amqp-url", as_user(url, USER, self.password, "127.1"),
                             "--amqp-ca-file", self.rmq.ca_file])
        self.assertTrue(wait_for(lambda: self.rabbitmq_health(other)[1]["message"] != "",
                                 timeout_s=30), "the consumer says why it cannot connect")
        reason = self.rabbitmq_health(other)[1]["message"]
        print(f"/health/deep rabbitmq: {reason}", file=sys.stderr)
        self.assertIn("certificate was not verified: it is not for '127.1'", reason)
        r = requests.post(other.url + C + "/points/import",
                          json={"points": [{"id": 1, "vector": [1, 1]}]}, timeout=60)
        self.assertEqual(r.status_code, 503, r.text)
        self.assertIn("it is not for '127.1'", r.json()["error"]["message"])

    def test_a_ca_file_needs_an_amqps_url_and_a_certificate(self):
        scratch = tempfile.mkdtemp(prefix="vecmesh-e2e-tls-")
        self.addCleanup(shutil.rmtree, scratch, True)
        amqps = as_user(self.rmq.amqps_url("/"), USER, self.password)
        plain = as_user(self.rmq.amqp_url, USER, self.password)
        missing = os.path.join(scratch, "missing-ca.pem")
        empty = os.path.join(scratch, "empty.pem")
        open(empty, "w").close()
        cases = [
            (["--amqp-url", plain, "--amqp-ca-file", self.rmq.ca_file],
             ["--amqp-ca-file", "amqps://", "--amqp-url", "not amqp://"]),
            (["--amqp-ca-file", self.rmq.ca_file], ["--amqp-ca-file", "amqps://", "--amqp-url"]),
            (["--amqp-url", amqps, "--amqp-ca-file", missing],
             ["--amqp-ca-file", missing, "cannot be read"]),
            (["--amqp-url", amqps, "--amqp-ca-file", empty],
             ["--amqp-ca-file", empty, "no PEM certificate"]),
        ]
        for args, fragments in cases:
            with self.subTest(args=args[-1]):
                done = subprocess.run(
                    [os.environ["VECMESH_DAEMON"], "--rest-port", "0", "--grpc-port", "0",
                     "--data-dir", os.path.join(scratch, "data")] + args,
                    capture_output=True, text=True, timeout=REFUSAL_TIMEOUT_S)
                self.assertEqual(done.returncode, CONFIG_ERROR_EXIT, done.stdout + done.stderr)
                for fragment in fragments:
                    self.assertIn(fragment, done.stderr)
                self.assertNotIn(self.password, done.stdout + done.stderr)
                self.assertFalse(os.path.exists(os.path.join(scratch, "data")),
                                 "refused before the data directory was touched")


if __name__ == "__main__":
    unittest.main(verbosity=2)
