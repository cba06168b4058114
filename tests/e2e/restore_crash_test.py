"""A snapshot restore is one logged operation: vecmeshd is killed with SIGKILL at random moments
of a restore, many times, and after every restart the collection is exactly as it was before the
restore or exactly the snapshot's state, never a mix (and never missing).

The collection holds state A when the snapshot is taken, then is rewritten to state B (some
points deleted, others added, payloads changed). Each cycle restores the snapshot over B and
kills the daemon somewhere between the request and a little past its answer.
"""
import hashlib
import json
import random
import threading
import time
import unittest

import requests

from vecmeshd import Daemon

CYCLES = 20
DIM = 16
POINTS = 12_000
BATCH = 1_000


def vector(i, salt):
    rng = random.Random(i * 7919 + salt)
    return [round(rng.uniform(-1, 1), 4) for _ in range(DIM)]


def upsert(url, ids, salt, label):
    for begin in range(0, len(ids), BATCH):
        chunk = ids[begin:begin + BATCH]
        body = {"points": [{"id": i, "vector": vector(i, salt), "payload": {"state": label, "i": i}}
                           for i in chunk]}
        r = requests.put(url + "/v1/collections/docs/points", data=json.dumps(body), timeout=120)
        assert r.status_code == 200, r.text


def digest(url):
    """A digest of every point (id, vector, payload) of the collection, or None if it is gone."""
    r = requests.get(url + "/v1/collections/docs", timeout=60)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    h, cursor, seen = hashlib.sha256(), None, 0
    while True:
        r = requests.post(url + "/v1/collections/docs/points/scroll",
                          data=json.dumps({"limit": 5000, "cursor": cursor, "with_vector": True}),
                          timeout=120)
        assert r.status_code == 200, r.text
        page = r.json()
        for p in page["points"]:
            h.update(json.dumps([p["id"], p["vector"], p["payload"]], sort_keys=True).encode())
            seen += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return f"{seen}:{h.hexdigest()}"


def write_state_b(url):
    r = requests.post(url + "/v1/collections/docs/points/delete",
                      data=json.dumps({"ids": list(range(0, POINTS // 3))}), timeout=120)
    assert r.status_code == 200, r.text
    upsert(url, list(range(POINTS, POINTS + POINTS // 2)), salt=2, label="B")


class RestoreCrashTest(unittest.TestCase):
    def test_a_killed_restore_leaves_the_state_before_or_after_it(self):
        daemon = Daemon().start()
        try:
            url = daemon.url
            r = requests.put(url + "/v1/collections/docs",
                             data=json.dumps({"dimension": DIM, "index": {"type": "flat"}}), timeout=60)
            self.assertEqual(r.status_code, 201, r.text)
            upsert(url, list(range(POINTS)), salt=1, label="A")
            state_a = digest(url)
            r = requests.post(url + "/v1/collections/docs/snapshots", timeout=300)
            self.assertEqual(r.status_code, 200, r.text)
            snapshot = r.json()["snapshot"]
            write_state_b(url)
            state_b = digest(url)
            self.assertNotEqual(state_a, state_b)

            # How long one restore takes here, to aim the kills inside it.
            start = time.monotonic()
            r = requests.post(url + f"/v1/collections/docs/snapshots/{snapshot}/restore", timeout=300)
            self.assertEqual(r.status_code, 200, r.text)
            restore_s = time.monotonic() - start
            self.assertEqual(digest(url), state_a)
            write_state_b(url)
            self.assertEqual(digest(url), state_b)

            rng = random.Random(20261201)
            outcomes = {"before": 0, "after": 0}
            for cycle in range(CYCLES):
                def restore():
                    try:
                        requests.post(url + f"/v1/collections/docs/snapshots/{snapshot}/restore",
                                      timeout=300)
                    except requests.RequestException:
                        pass  # killed under it
                thread = threading.Thread(target=restore, daemon=True)
                thread.start()
                time.sleep(rng.uniform(0, restore_s * 1.2))
                daemon.kill()
                thread.join(60)
                daemon.start()
                url = daemon.url
                now = digest(url)
                self.assertIn(now, (state_a, state_b),
                              f"cycle {cycle}: the collection is neither the state before the restore "
                              f"nor the snapshot's (it is {now}; restore takes {restore_s:.3f} s)")
                if now == state_a:
                    outcomes["after"] += 1
                    write_state_b(url)
                    self.assertEqual(digest(url), state_b)
                else:
                    outcomes["before"] += 1
            print(f"restore takes {restore_s:.3f} s; after {CYCLES} kills: {outcomes}")
        finally:
            daemon.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
