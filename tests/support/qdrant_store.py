"""The state of the Qdrant test double: collections and points, exact search with numpy, and an
append-only operation log that makes every acknowledged write survive SIGKILL.

Semantics follow Qdrant 1.19 (sources named where they matter):
  - Point ids are unsigned 64-bit integers or UUIDs. A UUID is kept, compared and returned in its
    canonical form (lowercase, hyphenated): Qdrant parses ids with the uuid crate, which accepts
    upper case, 32 hex digits without hyphens, {braces} and urn:uuid:.
  - Id order (scroll, a query's ties): integers ascending, then UUIDs ascending (ExtendedPointId's
    derived Ord: the NumId variant first).
  - Vectors are f32. Cosine collections store the vector normalised (CosineMetric::preprocess; a
    vector of length ~0 is kept as it is) and return it so; the query is normalised too.
  - Scores (f32): Cosine and Dot the dot product, Euclid sqrt(sum (a-b)^2), Manhattan sum |a-b|
    (EuclidMetric::postprocess is score.abs().sqrt()). Cosine and Dot: larger is better; Euclid
    and Manhattan: smaller is better. score_threshold keeps score >= t for the former and
    score <= t for the latter (qdrant-client's local mode, which mirrors the server).
  - A retrieve returns the found points in the order of the request's ids, each once
    (LocalShard::internal_scroll_by_id: `point_ids.iter().filter_map(records_map.remove)`).
  - set_payload merges top-level keys into the payload; overwrite_payload replaces it; an upsert
    replaces the whole point. set_payload / overwrite_payload on an id that does not exist is 404
    "Not found: No point with id ID found"; a delete of a missing id is not an error.

Log format (DATA_DIR/operations.jsonl): one JSON object a line, written and flushed before the
request is answered (fsync too with fsync=True): {"op": "create", "name", "config"},
{"op": "drop", "name"}, {"op": "upsert", "name", "points": [[id, vector, payload], ...]},
{"op": "delete", "name", "ids"}, {"op": "payload", "name", "ids", "payload", "mode": set|overwrite,
"key"}. Vectors are logged after normalisation, ids in canonical form, filters already resolved to
ids, so replay is exact. A last line without its newline (a write cut by SIGKILL, never answered)
is dropped at start.

Thread safety: Store's public methods are safe to call from many threads; one lock (`_lock`)
guards all state and the log.
"""
import json
import os
import threading
import uuid
from pathlib import Path

import numpy as np

from qdrant_filter import Unsupported, check_filter, map_ids, select_payload
from qdrant_schema import ApiError, is_uuid

LOG_NAME = "operations.jsonl"
_F32_EPSILON = float(np.finfo(np.float32).eps)
SIMILARITIES = ("Cosine", "Dot")
DEFAULT_HNSW = {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000,
                "max_indexing_threads": 0, "on_disk": False}


def not_found(name):
    return ApiError(404, f"Not found: Collection `{name}` doesn't exist!")


def canonical_id(value):
    """A point id in canonical form: an int, or a UUID string in lowercase hyphenated form."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 64:
        return value
    if is_uuid(value):
        return str(uuid.UUID(value))
    raise ApiError(400, f"Format error in JSON body: value {value} is not a valid point ID, valid "
                        f"values are either an unsigned integer or a UUID")


def id_order(point_id):
    return (0, point_id) if isinstance(point_id, int) else (1, point_id)


def f32(value):
    """A f32 as the JSON number Qdrant writes (serde's shortest round-trip form for f32)."""
    return float(str(np.float32(value)))


def f32_list(vector):
    return [float(str(x)) for x in vector]


class Collection:
    """A collection's state. Guarded by the Store's lock."""

    def __init__(self, name, config):
        self.name = name
        self.config = config
        self.size = config["vectors"]["size"]
        self.distance = config["vectors"]["distance"]
        self.points = {}  # id -> [vector (np.float32), payload dict, version]
        self.next_operation_id = 0
        self._cache = None  # (ids in id order, matrix n x size, positions) until the next write

    def changed(self):
        self._cache = None

    def ordered(self):
        if self._cache is None:
            ids = sorted(self.points, key=id_order)
            matrix = (np.stack([self.points[i][0] for i in ids]) if ids
                      else np.zeros((0, self.size), dtype=np.float32))
            self._cache = (ids, matrix)
        return self._cache


class Store:
    """Collections and points, persisted in data_dir's operation log."""

    def __init__(self, data_dir, fsync=False):
        self._lock = threading.Lock()
        self._collections = {}
        self._fsync = fsync
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = data_dir / LOG_NAME
        self._replay()
        self._log = open(self._log_path, "ab")

    def close(self):
        with self._lock:
            self._log.close()

    # --- persistence ---------------------------------------------------------------------------

    def _replay(self):
        if not self._log_path.exists():
            return
        data = self._log_path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a record cut by SIGKILL: it was never acknowledged
            with open(self._log_path, "r+b") as f:
                f.truncate(end)
        for number, line in enumerate(data[:end].splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError as e:
                raise RuntimeError(f"{self._log_path}:{number}: not a log record: {e}") from e
            self._apply(record)

    def _commit(self, record):
        """Logs record (flushed, and fsynced when asked) and applies it. Returns its result."""
        self._log.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._log.flush()
        if self._fsync:
            os.fsync(self._log.fileno())
        return self._apply(record)

    def _apply(self, record):
        op, name = record["op"], record["name"]
        if op == "create":
            self._collections[name] = Collection(name, record["config"])
            return True
        if op == "drop":
            return self._collections.pop(name, None) is not None
        c = self._collections[name]
        operation_id = c.next_operation_id
        c.next_operation_id += 1
        if op == "upsert":
            for point_id, vector, payload in record["points"]:
                c.points[point_id] = [np.asarray(vector, dtype=np.float32), payload, operation_id]
        elif op == "delete":
            for point_id in record["ids"]:
                c.points.pop(point_id, None)
        elif op == "payload":
            for point_id in record["ids"]:
                point = c.points[point_id]
                if record["mode"] == "overwrite":
                    point[1] = dict(record["payload"])
                elif record.get("key"):
                    target = point[1]
                    for step in record["key"].split("."):
                        if not isinstance(target.get(step), dict):
                            target[step] = {}
                        target = target[step]
                    target.update(record["payload"])
                else:
                    point[1] = {**point[1], **record["payload"]}
                point[2] = operation_id
        else:
            raise RuntimeError(f"unknown log record {op!r}")
        c.changed()
        return operation_id

    # --- collections ---------------------------------------------------------------------------

    def _get(self, name):
        c = self._collections.get(name)
        if c is None:
            raise not_found(name)
        return c

    def create_collection(self, name, body):
        vectors = body.get("vectors")
        if not (isinstance(vectors, dict) and "size" in vectors and "distance" in vectors):
            raise Unsupported("the double supports one unnamed dense vector per collection "
                              "(vectors: {size, distance})")
        if body.get("sparse_vectors"):
            raise Unsupported("the double does not support sparse vectors")
        config = {"vectors": {k: v for k, v in vectors.items() if v is not None},
                  "hnsw_config": {**DEFAULT_HNSW, **{k: v for k, v in (body.get("hnsw_config") or {}).items()
                                                     if v is not None}}}
        with self._lock:
            if name in self._collections:
                raise ApiError(409, f"Wrong input: Collection `{name}` already exists!")
            return self._commit({"op": "create", "name": name, "config": config})

    def delete_collection(self, name):
        with self._lock:
            if name not in self._collections:
                return False
            return self._commit({"op": "drop", "name": name})

    def collection_names(self):
        with self._lock:
            return sorted(self._collections)

    def exists(self, name):
        with self._lock:
            return name in self._collections

    def collection_info(self, name):
        with self._lock:
            c = self._get(name)
            count = len(c.points)
            config = c.config
        return {
            "status": "green",
            "optimizer_status": "ok",
            "indexed_vectors_count": 0,
            "points_count": count,
            "segments_count": 1,
            "config": {
                "params": {"vectors": config["vectors"], "shard_number": 1,
                           "replication_factor": 1, "write_consistency_factor": 1,
                           "on_disk_payload": True},
                "hnsw_config": config["hnsw_config"],
                "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                                     "default_segment_number": 0, "max_segment_size": None,
                                     "memmap_threshold": None, "indexing_threshold": 10000,
                                     "flush_interval_sec": 5, "max_optimization_threads": None},
                "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
                "quantization_config": None,
                "strict_mode_config": {"enabled": False},
            },
            "payload_schema": {},
        }

    # --- writes --------------------------------------------------------------------------------

    def _vector(self, c, vector):
        if not (isinstance(vector, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                 for x in vector)):
            raise Unsupported("the double supports dense vectors only (a list of numbers)")
        if len(vector) != c.size:
            raise ApiError(400, f"Wrong input: Vector dimension error: expected dim: {c.size}, "
                                f"got {len(vector)}")
        v = np.asarray(vector, dtype=np.float32)
        if c.distance == "Cosine":
            length = float(np.sqrt(np.dot(v, v)))
            if length > _F32_EPSILON:
                v = (v / np.float32(length)).astype(np.float32)
        return v

    def _selected_ids(self, c, selector):
        """The ids a PointsSelector / SetPayload names: `points` (canonical, as given) or those
        matching `filter`."""
        if selector.get("points") is not None:
            return [canonical_id(p) for p in selector["points"]]
        if selector.get("filter") is not None:
            flt = map_ids(selector["filter"], canonical_id)
            return [i for i in sorted(c.points, key=id_order)
                    if check_filter(flt, i, c.points[i][1])]
        raise ApiError(400, "Wrong input: Either list of point ids or filter must be provided")

    def update(self, name, operations):
        """Applies update operations in order: (kind, body) with kind upsert | delete | set_payload
        | overwrite_payload. Returns their operation ids. Like Qdrant's batch, the operations
        before a failing one stay applied."""
        results = []
        with self._lock:
            for kind, body in operations:
                c = self._get(name)
                if kind == "upsert":
                    record = self._upsert_record(c, body)
                elif kind == "delete":
                    record = {"op": "delete", "name": name, "ids": self._selected_ids(c, body)}
                elif kind in ("set_payload", "overwrite_payload"):
                    ids = self._selected_ids(c, body)
                    for point_id in ids:
                        if point_id not in c.points:
                            raise ApiError(404, f"Not found: No point with id {point_id} found")
                    record = {"op": "payload", "name": name, "ids": ids, "payload": body["payload"],
                              "mode": "set" if kind == "set_payload" else "overwrite"}
                    if kind == "set_payload" and body.get("key"):
                        record["key"] = body["key"]
                else:
                    raise Unsupported(f"the double does not implement the update operation {kind}")
                results.append(self._commit(record))
        return results

    def _upsert_record(self, c, body):
        for key in ("update_filter", "update_mode", "shard_key"):
            if body.get(key) is not None:
                raise Unsupported(f"the double does not implement upsert's {key}")
        if "batch" in body:
            batch = body["batch"]
            ids, vectors = batch["ids"], batch["vectors"]
            payloads = batch.get("payloads") or [None] * len(ids)
            if not (len(ids) == len(vectors) == len(payloads)):
                raise ApiError(400, "Wrong input: number of ids, vectors and payloads must be equal")
            items = zip(ids, vectors, payloads)
        else:
            items = ((p["id"], p["vector"], p.get("payload")) for p in body["points"])
        points = []
        for point_id, vector, payload in items:
            v = self._vector(c, vector)
            points.append([canonical_id(point_id), [float(x) for x in v], payload or {}])
        return {"op": "upsert", "name": c.name, "points": points}

    # --- reads ---------------------------------------------------------------------------------

    @staticmethod
    def _record(point_id, point, with_payload, with_vector, score=None):
        out = {"id": point_id}
        if score is not None:
            out["version"] = point[2]
            out["score"] = f32(score)
        out["payload"] = select_payload(point[1], with_payload)
        out["vector"] = f32_list(point[0]) if with_vector not in (None, False, []) else None
        return out

    def retrieve(self, name, ids, with_payload=True, with_vector=False):
        wanted = []
        for point_id in map(canonical_id, ids):
            if point_id not in wanted:
                wanted.append(point_id)
        with self._lock:
            c = self._get(name)
            return [self._record(i, c.points[i], with_payload, with_vector)
                    for i in wanted if i in c.points]

    def count(self, name, flt=None):
        with self._lock:
            c = self._get(name)
            if flt is None:
                return len(c.points)
            flt = map_ids(flt, canonical_id)
            return sum(1 for i, p in c.points.items() if check_filter(flt, i, p[1]))

    def scroll(self, name, flt=None, limit=10, offset=None, with_payload=True, with_vector=False):
        """(records, next_page_offset): points in id order from offset (inclusive)."""
        start = id_order(canonical_id(offset)) if offset is not None else None
        flt = map_ids(flt, canonical_id) if flt is not None else None
        with self._lock:
            c = self._get(name)
            ids, _ = c.ordered()
            page = []
            for point_id in ids:
                if start is not None and id_order(point_id) < start:
                    continue
                point = c.points[point_id]
                if flt is not None and not check_filter(flt, point_id, point[1]):
                    continue
                if len(page) == limit:
                    return page, point_id
                page.append(self._record(point_id, point, with_payload, with_vector))
            return page, None

    def query(self, name, request):
        """The points of a QueryRequest with a dense query vector, best first."""
        for key in ("prefetch", "lookup_from", "shard_key"):
            if request.get(key) is not None:
                raise Unsupported(f"the double does not implement query's {key}")
        if request.get("using") not in (None, ""):
            raise Unsupported("the double has no named vectors (query's using)")
        query = request.get("query")
        if isinstance(query, dict) and set(query) <= {"nearest", "mmr"} and query.get("mmr") is None:
            query = query.get("nearest")
        if not isinstance(query, list):
            raise Unsupported("the double implements queries by a dense vector only "
                              "(query: [..] or {nearest: [..]})")
        limit = request.get("limit") or 10
        offset = request.get("offset") or 0
        threshold = request.get("score_threshold")
        flt = request.get("filter")
        flt = map_ids(flt, canonical_id) if flt is not None else None
        with self._lock:
            c = self._get(name)
            q = self._vector(c, query)
            ids, matrix = c.ordered()
            if matrix.shape[0] == 0:
                return []
            if c.distance in SIMILARITIES:
                scores = matrix @ q
            elif c.distance == "Euclid":
                diff = matrix - q
                scores = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            else:
                scores = np.abs(matrix - q).sum(axis=1, dtype=np.float32)
            scores = scores.astype(np.float32)
            keep = np.ones(len(ids), dtype=bool)
            if threshold is not None:
                t = np.float32(threshold)
                keep &= (scores >= t) if c.distance in SIMILARITIES else (scores <= t)
            if flt is not None:
                for n, point_id in enumerate(ids):
                    if keep[n] and not check_filter(flt, point_id, c.points[point_id][1]):
                        keep[n] = False
            candidates = np.nonzero(keep)[0]
            key = -scores[candidates] if c.distance in SIMILARITIES else scores[candidates]
            # Ties in id order: candidates are already in id order and lexsort is stable.
            order = candidates[np.lexsort((candidates, key))][offset:offset + limit]
            # A query returns neither payload nor vector unless asked (QueryRequest's defaults).
            with_payload = request.get("with_payload")
            with_payload = False if with_payload is None else with_payload
            with_vector = request.get("with_vector")
            return [self._record(ids[n], c.points[ids[n]], with_payload, with_vector, scores[n])
                    for n in order]
