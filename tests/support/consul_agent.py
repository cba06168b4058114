"""The state behind the Consul double (consul_double.py): one Consul agent and the catalog of its
servers, on one node, with Consul's semantics. Sources: Consul's code (agent/agent.go: AddService,
AddCheck, reapServicesInternal; agent/agent_endpoint.go; agent/checks/check.go and grpc.go;
agent/structs/check_type.go; agent/config/default.go; lib/json.go; acl/errors.go; the indexes of
agent/consul/state: service_last_extinction in catalog.go, kvsListTxn in kvs.go) and the API docs
pages "Blocking Queries", "KV Store Endpoints" and "Health HTTP Endpoint".

Services and checks
  - A registration replaces the service with the same ID. Checks without a CheckID are named
    service:ID, or service:ID:1, :2, ... when there are several (Check first, then Checks); a
    check's Name defaults to "Service 'NAME' check". A check starts critical unless its Status says
    otherwise; a check re-registered under the same CheckID keeps its status and output (Consul
    snapshots and restores check state around AddService). Checks of the service that the new
    registration does not name stay, unless ?replace-existing-checks.
  - HTTP and gRPC checks run in the double, at their Interval (raised to min_check_interval_s,
    Consul's 1 s minimum), with their Timeout (10 s by default): the first run right after the
    registration, or after a random pause within one Interval with stagger_first_check (as Consul
    does: lib.RandomStagger). TTL checks turn critical ("TTL expired") when not updated within
    their TTL.
  - The reaper runs every reap_interval_s (Consul's CheckReapInterval, 30 s) and deregisters a
    service one of whose checks has been critical for longer than its
    DeregisterCriticalServiceAfter, raised to deregister_min_s (Consul's
    CheckDeregisterIntervalMin, 1 min). So a service goes between that time and that time plus one
    reap interval after its check turned critical.
  - The node (node_name, the double's address, datacenter dc1) has Consul's serfHealth check,
    always passing, and the catalog holds the servers' own service "consul" (port 8300), as on a
    dev agent; neither appears under /v1/agent/.

Indexes (X-Consul-Index) and blocking
  - One raft-like index counts every change: a registration or deregistration that changes the
    catalog, a check whose status changes, a KV write. It is > 0 and never goes back, across
    restarts too (it is kept in DATA_DIR/state.json), except through reset_index.
  - A health or catalog read of service NAME answers with the index of the last change to NAME's
    instances or their checks' status; when NAME has no instance, the index at which some service
    last lost its last instance (Consul's "service_last_extinction"). /v1/catalog/services answers
    with the last change to any registration. A key answers with its ModifyIndex, a missing key
    with the last KV write; a prefix (recurse, keys) with the highest ModifyIndex or deletion under
    it. A check's output changing without its status does not move the index (Consul syncs such
    changes to the catalog at most every 5 minutes).
  - A blocking read (index N > 0) waits until its index exceeds N or its wait passes, and then
    answers with the current state either way; reset_index wakes them all at once.
  - reset_index() renumbers everything from 1, as when the servers' state is restored from a
    snapshot or a dev agent restarts: a client must see that the index went backwards and start
    again from 0 (the blocking query docs, "Implementation details").

KV entries and the index live in DATA_DIR/state.json, rewritten (atomically) on every change, so
they survive a restart or SIGKILL of the double as they survive an agent restart (they live in the
servers); services and checks live in memory only and are forgotten by a restart, as an agent
without a kept data directory (a dev agent, a container's) forgets what was registered through its
API.

Thread safety: one lock (the condition `lock`) guards all state; blocking reads wait on it.
"""
import dataclasses
import json
import os
import random
import threading
import time
import uuid
from pathlib import Path

import consul_probes
from consul_types import NS_PER_S, RequestError, ServiceDefinition, format_go_duration

STATE_NAME = "state.json"
DEFAULT_CHECK_TIMEOUT_S = 10.0
CONSUL_SERVER_PORT = 8300
SERF_CHECK_ID, SERF_CHECK_NAME = "serfHealth", "Serf Health Status"
SERF_OUTPUT = "Agent alive and reachable"


@dataclasses.dataclass
class Knobs:
    """The double's settings that Consul fixes; Consul's values are the defaults."""
    deregister_min_s: float = 60.0      # CheckDeregisterIntervalMin
    reap_interval_s: float = 30.0       # CheckReapInterval
    min_check_interval_s: float = 1.0   # checks.MinInterval
    stagger_first_check: bool = False   # Consul: True (the first run within one Interval)
    node_name: str = "consul-double"    # Consul: the host name
    datacenter: str = "dc1"


@dataclasses.dataclass(eq=False)
class Service(ServiceDefinition):
    create_index: int = 0
    modify_index: int = 0


@dataclasses.dataclass(eq=False)
class Check:
    id: str
    name: str
    service_id: str
    service_name: str
    definition: object  # consul_types.CheckDefinition; None for serfHealth
    status: str = "critical"
    output: str = ""
    notes: str = ""
    create_index: int = 0
    modify_index: int = 0
    critical_since: float = None   # monotonic time it turned critical
    ttl_deadline: float = None     # monotonic time a TTL check expires
    last_ttl_output: str = ""
    runner: object = None


@dataclasses.dataclass(eq=False)
class KvEntry:
    key: str
    value: bytes
    flags: int = 0
    create_index: int = 0
    modify_index: int = 0


def _truncated(output):
    if len(output) <= consul_probes.OUTPUT_MAX:
        return output
    return (f"{output[:consul_probes.OUTPUT_MAX]} ... (captured {consul_probes.OUTPUT_MAX} of "
            f"{len(output)} bytes)")


class _Runner(threading.Thread):
    """Runs one HTTP or gRPC check: first after first_delay_s, then interval_s after each run
    ends."""

    def __init__(self, agent, check, interval_s, first_delay_s):
        super().__init__(name=f"check {check.id}", daemon=True)
        self.agent, self.check = agent, check
        self.interval_s, self.first_delay_s = interval_s, first_delay_s
        self.stopped = threading.Event()

    def probe(self):
        d = self.check.definition
        timeout_s = d.timeout_ns / NS_PER_S if d.timeout_ns > 0 else DEFAULT_CHECK_TIMEOUT_S
        if d.kind == "http":
            return consul_probes.http_probe(d.target, d.method, d.header, timeout_s,
                                            d.tls_skip_verify)
        return consul_probes.grpc_probe(d.target, timeout_s, d.grpc_use_tls, d.tls_skip_verify)

    def run(self):
        if self.stopped.wait(self.first_delay_s):
            return
        while True:
            status, output = self.probe()
            self.agent.check_result(self.check, status, output)
            if self.stopped.wait(self.interval_s):
                return


class Agent:
    """The agent and its catalog. data_dir holds state.json (KV and the index)."""

    def __init__(self, data_dir, knobs=None, address="127.0.0.1", reset_index=False):
        self.knobs = knobs or Knobs()
        self.address = address
        self.lock = threading.Condition()  # guards everything below
        self.closed = False
        self.generation = 0  # bumped by reset_index: blocking reads in progress answer at once
        self._path = Path(data_dir) / STATE_NAME
        self.services = {}   # id -> Service
        self.checks = {}     # check id -> Check (the agent's; serfHealth is apart)
        self.kv = {}         # key -> KvEntry
        self.tombstones = {}  # key -> the index that deleted it
        self.service_index = {}  # service name -> index of the last change to its instances
        self.services_table = self.last_extinction = self.kv_index = self.index = 0
        self._load()
        self.node_id = self._state.get("node_id") or str(uuid.uuid4())
        self.node_index = self._state.get("node_index", 0)
        if reset_index:
            self._renumber()
        # The start: the node, its serfHealth check and the servers' "consul" service register,
        # and whatever the previous run had registered is gone from the catalog.
        start = self._next_index()
        self.node_index = self.node_index or start
        self.serf = Check(SERF_CHECK_ID, SERF_CHECK_NAME, "", "", None, "passing", SERF_OUTPUT,
                          create_index=self.node_index, modify_index=self.node_index)
        consul = Service("consul", "consul", [], "", CONSUL_SERVER_PORT, {},
                         create_index=start, modify_index=start)
        self.services["consul"] = consul
        self.service_index["consul"] = self.services_table = self.last_extinction = start
        self._save()
        self._housekeeper = threading.Thread(target=self._housekeeping, name="housekeeping",
                                             daemon=True)
        self._housekeeper.start()

    # --- persistence and the index -------------------------------------------------------------

    def _load(self):
        try:
            self._state = json.loads(self._path.read_text())
        except FileNotFoundError:
            self._state = {}
        self.index = self._state.get("index", 0)
        self.kv_index = self._state.get("kv_index", 0)
        self.tombstones = dict(self._state.get("tombstones", {}))
        for e in self._state.get("kv", []):
            self.kv[e["key"]] = KvEntry(e["key"], bytes.fromhex(e["value"]), e["flags"],
                                        e["create_index"], e["modify_index"])

    def _save(self):
        state = {"index": self.index, "kv_index": self.kv_index, "node_id": self.node_id,
                 "node_index": self.node_index, "tombstones": self.tombstones,
                 "kv": [{"key": e.key, "value": e.value.hex(), "flags": e.flags,
                         "create_index": e.create_index, "modify_index": e.modify_index}
                        for e in self.kv.values()]}
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self._path)

    def _next_index(self):
        self.index += 1
        return self.index

    def _commit(self):
        """After a change: persist, and wake the blocking reads and the housekeeper."""
        self._save()
        self.lock.notify_all()

    def _renumber(self):
        """Every index from 1 again (reset_index): the node, then each key, then each service."""
        self.index = 0
        self.node_index = self._next_index()
        for key in sorted(self.kv):
            entry = self.kv[key]
            entry.create_index = entry.modify_index = self._next_index()
        self.tombstones = {}
        self.kv_index = self.index
        self.service_index = {}
        for service in sorted(self.services.values(), key=lambda s: s.id):
            index = service.create_index = service.modify_index = self._next_index()
            for check in self._checks_of(service.id):
                check.create_index = check.modify_index = index
            self.service_index[service.name] = index
        self.services_table = self.last_extinction = self.index
        self.generation += 1

    def reset_index(self):
        with self.lock:
            self._renumber()
            self._commit()

    def close(self):
        with self.lock:
            self.closed = True
            for check in self.checks.values():
                self._stop(check)
            self.lock.notify_all()

    # --- services and checks -------------------------------------------------------------------

    def _checks_of(self, service_id):
        return [c for c in self.checks.values() if c.service_id == service_id]

    @staticmethod
    def _stop(check):
        if check.runner is not None:
            check.runner.stopped.set()
            check.runner = None

    def _catalog_view(self, service_id):
        """What the catalog shows of a service (indexes aside), to tell a change from a repeat."""
        service = self.services.get(service_id)
        if service is None:
            return None
        return (self._service_fields(service),
                sorted((c.id, c.name, c.status, c.notes, c.definition.kind,
                        c.definition.interval_ns, c.definition.timeout_ns)
                       for c in self._checks_of(service_id)))

    def _set_status(self, check, status, output):
        """Sets a check's status and output; returns whether the catalog changed (the status)."""
        check.output = output
        if status == check.status:
            return False
        check.status = status
        check.critical_since = time.monotonic() if status == "critical" else None
        check.modify_index = index = self._next_index()
        self.service_index[check.service_name] = index
        return True

    def register(self, reg, replace_existing_checks=False):
        """PUT /v1/agent/service/register, reg a consul_types.Registration (already validated)."""
        sid, name = reg.service.id, reg.service.name
        with self.lock:
            old = self.services.get(sid)
            before = self._catalog_view(sid)
            index = self.index + 1  # the index of this change, if it is one
            service = Service(**dataclasses.asdict(reg.service),
                              create_index=old.create_index if old else index, modify_index=index)
            self.services[sid] = service
            now = time.monotonic()
            new_checks = []
            for number, d in enumerate(reg.checks, start=1):
                check_id = d.check_id or (f"service:{sid}" +
                                          (f":{number}" if len(reg.checks) > 1 else ""))
                check = Check(check_id, d.name or f"Service '{name}' check", sid, name, d,
                              d.status or "critical", notes=d.notes, create_index=index,
                              modify_index=index)
                previous = self.checks.get(check_id)
                if previous is not None:  # keeps its state, as Consul restores it
                    self._stop(previous)
                    check.status, check.output = previous.status, previous.output
                    check.critical_since = previous.critical_since
                    check.create_index = previous.create_index
                    check.modify_index = previous.modify_index
                if check.status == "critical" and check.critical_since is None:
                    check.critical_since = now
                if d.kind == "ttl":
                    check.ttl_deadline = now + d.ttl_ns / NS_PER_S
                new_checks.append(check)
            named = {c.id for c in new_checks}
            for stale in self._checks_of(sid):
                if stale.id not in named and replace_existing_checks:
                    self._stop(stale)
                    del self.checks[stale.id]
                elif stale.id not in named:
                    stale.service_name = name
            for check in new_checks:
                self.checks[check.id] = check
            if self._catalog_view(sid) != before:
                self._next_index()
                self.service_index[name] = self.services_table = index
                for check in new_checks:
                    check.modify_index = index
                if old is not None and old.name != name:
                    self._forget_name(old.name, index)
            else:  # a repeat: the catalog does not change
                service.modify_index = old.modify_index
            for check in new_checks:
                if check.definition.kind != "ttl":
                    self._start_runner(check)
            self._commit()

    def _start_runner(self, check):
        d = check.definition
        interval_s = max(d.interval_ns / NS_PER_S, self.knobs.min_check_interval_s)
        first = random.uniform(0, interval_s) if self.knobs.stagger_first_check else 0.0
        check.runner = _Runner(self, check, interval_s, first)
        check.runner.start()

    def _forget_name(self, name, index):
        """After NAME lost an instance at index: its index moves, or NAME is extinct."""
        if any(s.name == name for s in self.services.values()):
            self.service_index[name] = index
        else:
            self.service_index.pop(name, None)
            self.last_extinction = index

    def _remove_service(self, service):
        index = self._next_index()
        del self.services[service.id]
        for check in self._checks_of(service.id):
            self._stop(check)
            del self.checks[check.id]
        self.services_table = index
        self._forget_name(service.name, index)

    def deregister(self, service_id):
        """PUT /v1/agent/service/deregister/ID; False when the agent does not know ID."""
        with self.lock:
            service = self.services.get(service_id)
            if service is None or service_id == "consul":
                return False
            self._remove_service(service)
            self._commit()
            return True

    def check_result(self, check, status, output):
        """A runner's result; dropped when its check was replaced or removed meanwhile."""
        with self.lock:
            if self.checks.get(check.id) is check and self._set_status(check, status,
                                                                        _truncated(output)):
                self._commit()

    def update_ttl(self, check_id, status, output):
        """PUT /v1/agent/check/pass|warn|fail/ID: Consul's 404 and 500 as RequestError."""
        with self.lock:
            check = self.checks.get(check_id)
            if check is None:
                raise RequestError(404, f'Unknown check ID "{check_id}". Ensure that the check '
                                        f'ID is passed, not the check name.')
            if check.definition.kind != "ttl":
                raise RequestError(500, f'CheckID "{check_id}" does not have associated TTL')
            output = _truncated(output)
            check.last_ttl_output = output
            check.ttl_deadline = time.monotonic() + check.definition.ttl_ns / NS_PER_S
            self._set_status(check, status, output)
            self._commit()

    def _housekeeping(self):
        """Expires TTL checks and reaps services critical for too long."""
        with self.lock:
            next_reap = time.monotonic() + self.knobs.reap_interval_s
            while not self.closed:
                now = time.monotonic()
                changed = False
                for check in list(self.checks.values()):
                    if check.ttl_deadline is not None and now >= check.ttl_deadline:
                        check.ttl_deadline = None
                        output = "TTL expired" + (
                            f" (last output before timeout follows): {check.last_ttl_output}"
                            if check.last_ttl_output else "")
                        changed |= self._set_status(check, "critical", output)
                if now >= next_reap:
                    changed |= self._reap(now)
                    next_reap = now + self.knobs.reap_interval_s
                if changed:
                    self._commit()
                deadlines = [next_reap] + [c.ttl_deadline for c in self.checks.values()
                                           if c.ttl_deadline is not None]
                self.lock.wait(max(0.0, min(deadlines) - time.monotonic()))

    def _reap(self, now):
        reaped = set()
        for check in list(self.checks.values()):
            after_ns = check.definition.deregister_after_ns
            if after_ns <= 0 or check.status != "critical" or check.service_id in reaped:
                continue
            timeout_s = max(after_ns / NS_PER_S, self.knobs.deregister_min_s)
            service = self.services.get(check.service_id)
            if service is not None and now - check.critical_since > timeout_s:
                reaped.add(service.id)
                self._remove_service(service)
                print(f"consul_double: check {check.id!r} of service {service.id!r} has been "
                      f"critical for more than {timeout_s:g} s: deregistered the service",
                      flush=True)
        return bool(reaped)

    # --- blocking reads --------------------------------------------------------------------------

    def blocking(self, compute, min_index, wait_s):
        """compute() -> (index, result) under the lock, at once when min_index is 0, else once the
        index exceeds min_index or wait_s has passed (or reset_index ran): (index >= 1, result)."""
        deadline = time.monotonic() + wait_s
        with self.lock:
            generation = self.generation
            while True:
                index, result = compute()
                index = max(index, 1)
                remaining = deadline - time.monotonic()
                if (min_index <= 0 or index > min_index or remaining <= 0 or self.closed
                        or generation != self.generation):
                    return index, result
                self.lock.wait(remaining)

    def service_index_of(self, name):
        if any(s.name == name for s in self.services.values()):
            return self.service_index.get(name, self.services_table)
        return self.last_extinction or self.services_table

    # --- views (JSON values, built under the lock) -----------------------------------------------

    @staticmethod
    def _service_fields(service):
        return {"ID": service.id, "Service": service.name, "Tags": list(service.tags),
                "Address": service.address, "Meta": dict(service.meta), "Port": service.port,
                "Weights": {"Passing": 1, "Warning": 1},
                "EnableTagOverride": service.enable_tag_override}

    def node_view(self):
        return {"ID": self.node_id, "Node": self.knobs.node_name, "Address": self.address,
                "Datacenter": self.knobs.datacenter,
                "TaggedAddresses": {"lan": self.address, "lan_ipv4": self.address,
                                    "wan": self.address, "wan_ipv4": self.address},
                "Meta": {"consul-network-segment": ""},
                "CreateIndex": self.node_index, "ModifyIndex": self.node_index}

    def check_view(self, check):
        d = check.definition
        service = self.services.get(check.service_id)
        return {"Node": self.knobs.node_name, "CheckID": check.id, "Name": check.name,
                "Status": check.status, "Notes": check.notes, "Output": check.output,
                "ServiceID": check.service_id, "ServiceName": check.service_name,
                "ServiceTags": list(service.tags) if service else [],
                "Type": d.kind if d else "",
                "Interval": format_go_duration(d.interval_ns) if d and d.interval_ns else "",
                "Timeout": format_go_duration(d.timeout_ns) if d and d.timeout_ns else "",
                "ExposedPort": 0, "Definition": {},
                "CreateIndex": check.create_index, "ModifyIndex": check.modify_index}

    def agent_services(self):
        """GET /v1/agent/services: {id: service}, without the servers' "consul"."""
        with self.lock:
            return {s.id: dict(self._service_fields(s), Datacenter=self.knobs.datacenter)
                    for s in sorted(self.services.values(), key=lambda s: s.id) if s.id != "consul"}

    def agent_checks(self):
        with self.lock:
            return {c.id: self.check_view(c)
                    for c in sorted(self.checks.values(), key=lambda c: c.id)}

    def _instances(self, name, tags):
        wanted = [t.lower() for t in tags]  # Consul's tag filter ignores case
        return [s for s in sorted(self.services.values(), key=lambda s: s.id)
                if s.name == name and all(t in (x.lower() for x in s.tags) for t in wanted)]

    def health_service(self, name, tags=(), passing=False, min_index=0, wait_s=0.0):
        """GET /v1/health/service/NAME: (index, entries); passing: only instances all of whose
        checks (serfHealth too) pass."""
        def compute():
            entries = []
            for s in self._instances(name, tags):
                checks = sorted([self.serf] + self._checks_of(s.id), key=lambda c: c.id.lower())
                if passing and any(c.status != "passing" for c in checks):
                    continue
                entries.append({"Node": self.node_view(),
                                "Service": dict(self._service_fields(s), CreateIndex=s.create_index,
                                                ModifyIndex=s.modify_index),
                                "Checks": [self.check_view(c) for c in checks]})
            return self.service_index_of(name), entries
        return self.blocking(compute, min_index, wait_s)

    def catalog_service(self, name, tags=(), min_index=0, wait_s=0.0):
        def compute():
            node = self.node_view()
            return self.service_index_of(name), [{
                "ID": node["ID"], "Node": node["Node"], "Address": node["Address"],
                "Datacenter": node["Datacenter"], "TaggedAddresses": node["TaggedAddresses"],
                "NodeMeta": node["Meta"], "ServiceKind": "", "ServiceID": s.id,
                "ServiceName": s.name, "ServiceTags": list(s.tags), "ServiceAddress": s.address,
                "ServiceWeights": {"Passing": 1, "Warning": 1}, "ServiceMeta": dict(s.meta),
                "ServicePort": s.port, "ServiceEnableTagOverride": s.enable_tag_override,
                "CreateIndex": s.create_index, "ModifyIndex": s.modify_index}
                for s in self._instances(name, tags)]
        return self.blocking(compute, min_index, wait_s)

    def catalog_services(self, min_index=0, wait_s=0.0):
        """GET /v1/catalog/services: {name: tags of all its instances, each once}."""
        def compute():
            names = {}
            for s in sorted(self.services.values(), key=lambda s: s.id):
                tags = names.setdefault(s.name, [])
                tags += [t for t in s.tags if t not in tags]
            return self.services_table, dict(sorted(names.items()))
        return self.blocking(compute, min_index, wait_s)

    # --- KV --------------------------------------------------------------------------------------

    @staticmethod
    def _kv_view(e):
        return {"Key": e.key, "Value": e.value, "Flags": e.flags, "CreateIndex": e.create_index,
                "ModifyIndex": e.modify_index, "LockIndex": 0}

    def _prefix_index(self, prefix, entries):
        if prefix == "":
            return self.kv_index
        deleted = [i for key, i in self.tombstones.items() if key.startswith(prefix)]
        return max([e.modify_index for e in entries] + deleted, default=0) or self.kv_index

    def _under(self, prefix):
        return [self.kv[k] for k in sorted(self.kv) if k.startswith(prefix)]

    def kv_get(self, key, min_index=0, wait_s=0.0):
        """(index, entry or None): the entry's ModifyIndex, or the last KV write when missing."""
        def compute():
            e = self.kv.get(key)
            return (e.modify_index, self._kv_view(e)) if e else (self.kv_index, None)
        return self.blocking(compute, min_index, wait_s)

    def kv_list(self, prefix, min_index=0, wait_s=0.0):
        def compute():
            entries = self._under(prefix)
            return self._prefix_index(prefix, entries), [self._kv_view(e) for e in entries]
        return self.blocking(compute, min_index, wait_s)

    def kv_keys(self, prefix, separator="", min_index=0, wait_s=0.0):
        """The keys under prefix; with a separator, each cut after the first separator that
        follows the prefix, listed once."""
        def compute():
            entries, keys = self._under(prefix), []
            for e in entries:
                key = e.key
                cut = key.find(separator, len(prefix)) if separator else -1
                if cut >= 0:
                    key = key[:cut + len(separator)]
                if not keys or keys[-1] != key:
                    keys.append(key)
            return self._prefix_index(prefix, entries), keys
        return self.blocking(compute, min_index, wait_s)

    def kv_put(self, key, value, flags=0, cas=None):
        """PUT /v1/kv/KEY: whether it was written (cas 0: only a new key; cas N: only when the
        key's ModifyIndex is N)."""
        with self.lock:
            e = self.kv.get(key)
            if cas is not None and ((cas == 0 and e is not None) or
                                    (cas > 0 and (e is None or e.modify_index != cas))):
                return False
            index = self._next_index()
            self.kv[key] = KvEntry(key, bytes(value), flags, e.create_index if e else index, index)
            self.kv_index = index
            self._commit()
            return True

    def kv_delete(self, key, recurse=False, cas=None):
        """DELETE /v1/kv/KEY (?recurse: every key under KEY; ?cas=N: only when its ModifyIndex is
        N). Deleting nothing changes nothing."""
        with self.lock:
            if recurse:
                doomed = [e.key for e in self._under(key)]
            else:
                e = self.kv.get(key)
                if e is not None and cas is not None and e.modify_index != cas:
                    return False
                doomed = [key] if e is not None else []
            if doomed:
                index = self.kv_index = self._next_index()
                for k in doomed:
                    del self.kv[k]
                    self.tombstones[k] = index
                self._commit()
            return True
