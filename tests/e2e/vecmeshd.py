"""Starts and stops vecmeshd as a process for the end-to-end tests.

The binary comes from the VECMESH_DAEMON environment variable (CTest sets it). Each daemon gets
its own data directory and free ports (--rest-port 0 --grpc-port 0; the ports are read from its
log).
"""
import json
import os
import signal
import subprocess
import tempfile
import threading
import time

import requests


class Daemon:
    def __init__(self, data_dir=None, args=(), env=None):
        self.binary = os.environ["VECMESH_DAEMON"]
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="vecmesh-e2e-")
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.process = None
        self.port = None
        self.grpc_port = None
        self.log = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s=60):
        self.log = []
        self.process = subprocess.Popen(
            [self.binary, "--rest-port", "0", "--grpc-port", "0", "--data-dir", self.data_dir] + self.args,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env, text=True)
        ready = threading.Event()  # serving, or the daemon exited
        serving = threading.Event()

        def read():
            for line in self.process.stdout:
                self.log.append(line.rstrip("\n"))
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("msg") == "listening":
                    self.port = entry["rest_port"]
                    self.grpc_port = entry["grpc_port"]
                if entry.get("msg") == "serving":
                    serving.set()
                    ready.set()
            ready.set()  # the daemon exited: no need to wait any longer
        threading.Thread(target=read, daemon=True).start()
        ready.wait(timeout_s)
        if not serving.is_set():
            self.kill()
            raise RuntimeError("vecmeshd did not start:\n" + "\n".join(self.log))
        return self

    def stop(self, timeout_s=60):
        """SIGTERM, and the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def alive(self):
        return self.process.poll() is None

    def cleanup(self):
        self.kill()
        if self._own_dir:
            subprocess.run(["rm", "-rf", self.data_dir], check=False)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def wait_for(predicate, timeout_s=60, interval_s=0.05):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return False
