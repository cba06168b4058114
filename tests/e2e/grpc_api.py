"""A gRPC client with the REST client's interface: call(method, path, body) maps the REST request
onto its vecmesh.v1 RPC (Python grpcio with stubs from proto/), and the reply back onto the REST
answer's shape, with API.md's HTTP status for the gRPC code. The same scenario then runs over
both transports and their answers can be compared as they are.

Snapshot downloads and the legacy endpoints have no RPC in API.md; they go to `rest_fallback`.
"""
import os
import re
import sys

import grpc
from google.protobuf import json_format

sys.path.insert(0, os.environ["VECMESH_PROTO_PY"])
from vecmesh.v1 import vector_store_pb2 as pb  # noqa: E402
from vecmesh.v1 import vector_store_pb2_grpc as pb_grpc  # noqa: E402

HTTP_STATUS = {
    "OK": 200, "INVALID_ARGUMENT": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "FAILED_PRECONDITION": 409,
    "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504, "INTERNAL": 500,
}


class NotExpressible(Exception):
    """The REST request cannot be written as a protobuf message (a wrong JSON type, say)."""


def pid(value):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise NotExpressible(f"id {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise NotExpressible(f"id {value!r}")
        return {"num": str(value)}
    return {"str": value}


def from_pid(message):
    return int(message["num"]) if "num" in message else message.get("str")


def points_dict(points):
    if not isinstance(points, list):
        raise NotExpressible("points")
    out = []
    for p in points:
        if not isinstance(p, dict):
            raise NotExpressible("point")
        item = {"vector": p.get("vector", [])}
        if "id" in p:
            item["id"] = pid(p["id"])
        if p.get("payload") is not None:
            item["payload"] = p["payload"]
        out.append(item)
    return out


def search_dict(body, collection=None):
    # The JSON mapping of protobuf takes "3" for an int64; the REST API does not.
    if not isinstance(body.get("k", 0), int):
        raise NotExpressible("k")
    item = {k: v for k, v in body.items() if k in ("vector", "k", "score_threshold", "with_payload", "with_vector", "store")}
    if body.get("filter") is not None:
        item["filter"] = body["filter"]
    if body.get("params") is not None:
        item["params"] = body["params"]
    unknown = set(body) - {"vector", "k", "filter", "score_threshold", "params", "with_payload", "with_vector", "store"}
    if unknown:
        raise NotExpressible(f"fields {unknown}")
    if collection:
        item["collection"] = collection
    return item


def record(message):
    d = json_format.MessageToDict(message, preserving_proto_field_name=True)
    out = {"id": from_pid(d["id"])}
    if message.HasField("payload"):
        out["payload"] = json_format.MessageToDict(message.payload)
    if len(message.vector):
        out["vector"] = list(message.vector)
    return out


def scored(message):
    out = record(message)
    out["score"] = message.score
    return out


def search_answer(message):
    out = {"results": [scored(p) for p in message.results]}
    if message.stores:
        out["stores"] = {name: ({"status": r.status, "took_ms": r.took_ms, "pending": r.pending}
                                if r.status == "ok" else
                                {"status": r.status, "message": r.message, "took_ms": r.took_ms,
                                 "pending": r.pending})
                         for name, r in message.stores.items()}
    return out


def collection_info(message):
    d = json_format.MessageToDict(message, preserving_proto_field_name=True)
    d["points"] = int(d.get("points", 0))
    d["indexed_points"] = int(d.get("indexed_points", 0))
    return d


class GrpcApi:
    def __init__(self, target, key=None, rest_fallback=None, credentials=None):
        options = [("grpc.max_send_message_length", 256 << 20)]
        self.channel = (grpc.secure_channel(target, credentials, options=options) if credentials
                        else grpc.insecure_channel(target, options=options))
        self.stub = pb_grpc.VectorStoreStub(self.channel)
        self.metadata = (("api-key", key),) if key else ()
        self.rest = rest_fallback

    def rpc(self, name, request_type, fields):
        try:
            request = json_format.ParseDict(fields, request_type())
        except (json_format.ParseError, TypeError, ValueError) as e:
            raise NotExpressible(str(e))
        return getattr(self.stub, name)(request, metadata=self.metadata, timeout=60)

    def call(self, method, path, body=None, raw=None, headers=None):
        if raw is not None and not path.endswith("/snapshots/upload"):
            raise NotExpressible("raw bytes")
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise NotExpressible("a body that is not an object")
        try:
            return self.dispatch(method, path, body, raw)
        except grpc.RpcError as e:
            code = e.code().name
            return HTTP_STATUS[code], {"error": {"code": code, "message": e.details()}}

    def dispatch(self, method, path, body, raw):
        m = re.fullmatch(r"/v1/collections/([^/]+)(/.*)?", path)
        rest_only = path in ("/create_index", "/add_vectors", "/search") or (
            method == "GET" and re.fullmatch(r"/v1/collections/[^/]+/snapshots/[^/]+", path))
        if rest_only:
            if self.rest is None:
                raise NotExpressible(f"{path}: a REST-only route")
            return self.rest.call(method, path, body, raw=raw)
        if path == "/v1/collections" and method == "GET":
            r = self.rpc("ListCollections", pb.ListCollectionsRequest, {})
            return 200, {"collections": [collection_info(c) for c in r.collections]}
        job = re.fullmatch(r"/v1/jobs/([^/]+)", path)
        if job and method == "GET":
            r = self.rpc("GetJob", pb.GetJobRequest, {"job_id": job.group(1)})
            d = json_format.MessageToDict(r, preserving_proto_field_name=True)
            return 200, {"job_id": d["job_id"], "collection": d["collection"], "state": d["state"],
                         "points": int(d.get("points", 0)), "error": d.get("error")}
        if not m:
            raise NotExpressible(path)
        name, rest = m.group(1), m.group(2) or ""
        if rest == "" and method == "PUT":
            fields = dict(body, name=name)
            if set(body) - {"dimension", "metric", "index", "backends"}:
                raise NotExpressible("fields")
            r = self.rpc("CreateCollection", pb.CreateCollectionRequest, fields)
            return (201 if r.created else 200), collection_info(r.collection)
        if rest == "" and method == "GET":
            return 200, collection_info(self.rpc("GetCollection", pb.GetCollectionRequest, {"name": name}))
        if rest == "" and method == "DELETE":
            self.rpc("DeleteCollection", pb.DeleteCollectionRequest, {"name": name})
            return 200, {"deleted": True}
        if rest == "/points" and method == "PUT":
            r = self.rpc("Upsert", pb.UpsertRequest, {"collection": name, "points": points_dict(body.get("points"))})
            return 200, {"upserted": r.upserted}
        if rest == "/points/get":
            fields = {"collection": name, "ids": [pid(i) for i in body.get("ids", [])]}
            fields.update({k: body[k] for k in ("with_payload", "with_vector") if k in body})
            r = self.rpc("GetPoints", pb.GetPointsRequest, fields)
            return 200, {"points": [record(p) for p in r.points]}
        if rest == "/points/delete":
            fields = {"collection": name}
            if "ids" in body:
                fields["ids"] = {"ids": [pid(i) for i in body["ids"]]}
            if "filter" in body:
                fields["filter"] = body["filter"]
            return 200, {"deleted": self.rpc("DeletePoints", pb.DeletePointsRequest, fields).deleted}
        if rest == "/points/payload":
            fields = {"collection": name, "ids": [pid(i) for i in body.get("ids", [])],
                      "payload": body.get("payload"), "mode": body.get("mode", "")}
            return 200, {"updated": self.rpc("UpdatePayload", pb.UpdatePayloadRequest, fields).updated}
        if rest == "/points/count":
            fields = {"collection": name}
            if body.get("filter") is not None:
                fields["filter"] = body["filter"]
            return 200, {"count": self.rpc("Count", pb.CountRequest, fields).count}
        if rest == "/points/scroll":
            fields = {"collection": name}
            fields.update({k: v for k, v in body.items() if v is not None})
            r = self.rpc("Scroll", pb.ScrollRequest, fields)
            return 200, {"points": [record(p) for p in r.points],
                         "next_cursor": r.next_cursor if r.HasField("next_cursor") else None}
        if rest == "/points/import":
            r = self.rpc("SubmitImport", pb.SubmitImportRequest, {"collection": name, "points": points_dict(body.get("points"))})
            return 202, {"job_id": r.job_id}
        if rest == "/search":
            return 200, search_answer(self.rpc("Search", pb.SearchRequest, search_dict(body, name)))
        if rest == "/search/batch":
            searches = body.get("searches")
            if not isinstance(searches, list) or not all(isinstance(s, dict) for s in searches):
                raise NotExpressible("searches")
            r = self.rpc("SearchBatch", pb.SearchBatchRequest,
                         {"collection": name, "searches": [search_dict(s) for s in searches]})
            answers = [search_answer(a) for a in r.results]
            out = {"results": [a["results"] for a in answers]}
            if any("stores" in a for a in answers):
                out["stores"] = [a.get("stores") for a in answers]
            return 200, out
        if rest == "/snapshots" and method == "POST":
            r = self.rpc("CreateSnapshot", pb.CreateSnapshotRequest, {"collection": name})
            return 200, {"snapshot": r.snapshot, "size": r.size}
        if rest == "/snapshots" and method == "GET":
            r = self.rpc("ListSnapshots", pb.ListSnapshotsRequest, {"collection": name})
            return 200, {"snapshots": [{"snapshot": s.snapshot, "size": s.size} for s in r.snapshots]}
        if rest == "/snapshots/upload" and method == "PUT":
            request = pb.RestoreSnapshotRequest(collection=name, file=raw or b"")
            self.stub.RestoreSnapshot(request, metadata=self.metadata, timeout=60)
            return 200, {"restored": True}
        restore = re.fullmatch(r"/snapshots/([^/]+)/restore", rest)
        if restore and method == "POST":
            self.rpc("RestoreSnapshot", pb.RestoreSnapshotRequest, {"collection": name, "snapshot": restore.group(1)})
            return 200, {"restored": True}
        raise NotExpressible(f"{method} {path}")
