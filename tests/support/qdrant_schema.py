"""Qdrant's OpenAPI document as request and response validators, for the Qdrant test double.

OpenApi(path) reads the document (tests/contracts/qdrant-openapi-1.19.0.json), converts its
OpenAPI 3.0 schemas to JSON Schema (draft 7) once, and compiles per operation: the request body's
validator, the query parameters' validators and a validator per response status. match(method,
path) finds the operation of a request.

Conversion (OpenAPI 3.0 -> JSON Schema):
  - `nullable: true` admits null: a `type` gains "null", a $ref / anyOf / oneOf / allOf is wrapped in
    anyOf [..., {"type": "null"}], and a bare `{"nullable": true}` (Option<T> in schemars' output)
    means null;
  - formats are checked here: uint* and int* ranges, `uuid` in the forms Rust's uuid crate parses
    (hyphenated, simple 32 hex, braced, urn:uuid:), date-time;
  - `integer` does not admit 1.0 (serde refuses a float for an integer field).

Errors are classified as Qdrant's actix handlers do (src/actix/mod.rs, validation_error_handler):
a value serde cannot deserialize (wrong type, missing field, bad id, unknown enum value) is 400
"Format error in JSON body: ..."; a value that deserializes but breaks a `validator` constraint
(minimum, maxItems, ...) is 422 "Validation error in JSON body: ...". Query parameters the same way
("... in query parameters").

Thread safety: after construction everything here is read-only; validators may be used from many
threads at once.
"""
import copy
import datetime
import json
import re
import urllib.parse

import jsonschema
from jsonschema import Draft7Validator, FormatChecker, RefResolver
from jsonschema.exceptions import best_match

# Keywords whose failure Qdrant reports as a validation error (422), not a format error (400).
VALIDATION_KEYWORDS = frozenset({
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "minItems", "maxItems", "uniqueItems", "multipleOf", "minProperties", "maxProperties"})

_UINT_BITS = {"uint": 64, "uint64": 64, "uint32": 32, "uint16": 16, "uint8": 8}
_INT_BITS = {"int64": 64, "int32": 32}
_HEX = "[0-9a-fA-F]"
_HYPHENATED = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_UUID_RE = re.compile(
    f"^(?:{_HYPHENATED}|{_HEX}{{32}}|\\{{{_HYPHENATED}\\}}|urn:uuid:{_HYPHENATED})$")


def is_uuid(text):
    """Whether text is a UUID in a form Qdrant accepts as a point id."""
    return isinstance(text, str) and _UUID_RE.match(text) is not None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _format_checker():
    checker = FormatChecker(formats=())
    for name, bits in _UINT_BITS.items():
        checker.checks(name)(lambda v, bits=bits: not _is_int(v) or 0 <= v < 2 ** bits)
    for name, bits in _INT_BITS.items():
        checker.checks(name)(lambda v, bits=bits: not _is_int(v) or -2 ** (bits - 1) <= v < 2 ** (bits - 1))
    checker.checks("uuid")(lambda v: not isinstance(v, str) or is_uuid(v))

    def date_time(value):
        if not isinstance(value, str):
            return True
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return True
        except ValueError:
            return False
    checker.checks("date-time")(date_time)
    return checker


def _fast_items(validator, items, instance, schema):
    """`items` with a shortcut for the common dense vector (items: number): one pass over the list
    instead of a validator call per element, which makes 1000 x 768 floats cheap."""
    if (isinstance(instance, list) and isinstance(items, dict) and items.get("type") == "number"
            and len(items) <= 2 and set(items) <= {"type", "format"}):
        if all(type(x) is float or type(x) is int for x in instance):
            return
    yield from _draft7_items(validator, items, instance, schema)


_draft7_items = Draft7Validator.VALIDATORS["items"]
_TYPE_CHECKER = Draft7Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, instance: _is_int(instance))
_Validator = jsonschema.validators.extend(
    Draft7Validator, validators={"items": _fast_items}, type_checker=_TYPE_CHECKER)

_COMPOSITE = ("$ref", "anyOf", "oneOf", "allOf")
_ANNOTATIONS = ("description", "default", "deprecated", "example", "title")


def openapi_to_json_schema(node):
    """The JSON Schema form of an OpenAPI 3.0 schema (or of a whole document: every nested schema
    is converted). Returns a new object."""
    if isinstance(node, list):
        return [openapi_to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_json_schema(v) for k, v in node.items() if k not in ("example", "nullable")}
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else out["type"] + ["null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        elif any(k in out for k in _COMPOSITE):
            keep = {k: out.pop(k) for k in list(out) if k in _ANNOTATIONS}
            return {**keep, "anyOf": [out, {"type": "null"}]}
        elif all(k in _ANNOTATIONS for k in out):
            return {**out, "type": "null"}
    return out


def _where(path):
    """A JSON path like Qdrant's messages: points[0].id."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class ApiError(Exception):
    """An error Qdrant answers with its envelope: HTTP status and message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class RequestError(ApiError):
    """A request that does not fit the document: status (400 or 422) and Qdrant's message."""


class Operation:
    """One operation of the document (method + path template), with its compiled validators."""

    def __init__(self, api, method, template, spec):
        self.method = method
        self.template = template
        self.operation_id = spec.get("operationId", f"{method} {template}")
        names = re.findall(r"{([^}]+)}", template)
        pattern = re.escape(template)
        for name in names:
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)")
        self.regex = re.compile(f"^{pattern}$")
        self.literal_segments = len([s for s in template.split("/") if s and "{" not in s])
        body = spec.get("requestBody", {}).get("content", {}).get("application/json", {})
        self.body_validator = api.validator(body["schema"]) if "schema" in body else None
        self.body_required = self.body_validator is not None
        self.query = {}
        for param in spec.get("parameters", []):
            if param.get("in") == "query":
                schema = param.get("schema", {})
                self.query[param["name"]] = (api.validator(schema), api.resolve_types(schema))
        self.responses = {}
        for status, response in spec.get("responses", {}).items():
            content = response.get("content", {})
            json_schema = content.get("application/json", {}).get("schema")
            text_schema = content.get("text/plain", {}).get("schema")
            self.responses[status] = (
                api.validator(json_schema) if json_schema is not None else None,
                api.validator(text_schema) if text_schema is not None else None)

    def check_body(self, body):
        """Raises RequestError when body (decoded JSON) does not fit the request schema."""
        if self.body_validator is None:
            return
        error = best_match(self.body_validator.iter_errors(body))
        if error is None:
            return
        raise RequestError(*_describe(error, "JSON body"))

    def parse_query(self, query):
        """The typed values of the query parameters (a dict of name to list of strings, as
        urllib.parse.parse_qs gives it). Raises RequestError for a value that does not fit; returns
        (values, unknown names)."""
        values, unknown = {}, []
        for name, texts in query.items():
            if name not in self.query:
                unknown.append(name)
                continue
            validator, types = self.query[name]
            value = _typed(texts[-1], types)
            error = best_match(validator.iter_errors(value))
            if error is not None:
                status, message = _describe(error, "query parameters")
                if status == 400:
                    message = (f"Deserialize error in query parameters: {name}: "
                               f"{error.message}")
                raise RequestError(status, message)
            values[name] = value
        return values, unknown

    def check_response(self, status, content_type, body):
        """None when the response fits the document, else what is wrong with it."""
        entry = (self.responses.get(str(status))
                 or (self.responses.get("4XX") if 400 <= status < 500 else None)
                 or self.responses.get("default"))
        if entry is None:
            return f"status {status} is not among the operation's responses"
        json_validator, text_validator = entry
        validator = json_validator if content_type.startswith("application/json") else text_validator
        if validator is None:
            if json_validator is None and text_validator is None:
                return None  # the document gives no schema ("4XX": {"description": "error"})
            return f"content type {content_type} is not among the operation's responses"
        error = best_match(validator.iter_errors(body))
        return None if error is None else f"at {_where(error.absolute_path) or 'top'}: {error.message}"


def _typed(text, types):
    """A query string value as the JSON value the parameter's schema expects."""
    if "boolean" in types:
        return {"true": True, "false": False}.get(text, text)
    if "integer" in types and re.fullmatch(r"-?\d+", text):
        return int(text)
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            return text
    return text


def _describe(error, where):
    """(status, message) of a validation error (best_match's, a leaf), as Qdrant words them."""
    point_id = _bad_point_id(error)
    if point_id is not None:
        return 400, (f"Format error in {where}: value {point_id} is not a valid point ID, valid "
                     f"values are either an unsigned integer or a UUID")
    path = _where(error.absolute_path)
    if error.validator in VALIDATION_KEYWORDS:
        return 422, f"Validation error in {where}: [{path or 'body'}: {error.message}]"
    return 400, f"Format error in {where}: {error.message}" + (f" at {path}" if path else "")


def _is_point_id_schema(schema):
    """Whether schema is ExtendedPointId's (anyOf: uint64 integer, uuid string)."""
    branches = schema.get("anyOf", []) if isinstance(schema, dict) else []
    return any(isinstance(b, dict) and b.get("format") == "uuid" for b in branches)


def _bad_point_id(error):
    """The offending value when error is about a point id (ExtendedPointId), else None."""
    e = error
    while e is not None:
        if _is_point_id_schema(e.schema):
            value = e.instance
            return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
        e = e.parent
    return None


class OpenApi:
    """The operations of an OpenAPI document, each with compiled validators."""

    def __init__(self, path):
        with open(path) as f:
            document = json.load(f)
        self.version = document.get("info", {}).get("version")
        self.root = openapi_to_json_schema(document)
        self._resolver = RefResolver.from_schema(self.root)
        self._formats = _format_checker()
        self.operations = []
        for template, methods in document["paths"].items():
            for method, spec in methods.items():
                if method in ("get", "put", "post", "delete", "patch", "head"):
                    self.operations.append(Operation(self, method.upper(), template, spec))
        # Literal segments win over parameters (/points/scroll before /points/{id}).
        self.operations.sort(key=lambda op: -op.literal_segments)

    def validator(self, openapi_schema):
        schema = openapi_to_json_schema(copy.deepcopy(openapi_schema))
        return _Validator(schema, resolver=self._resolver, format_checker=self._formats)

    def resolve_types(self, openapi_schema, depth=0):
        """The JSON types a (query parameter's) schema admits, following $ref and anyOf."""
        schema = openapi_to_json_schema(openapi_schema)
        if "$ref" in schema and depth < 8:
            _, target = self._resolver.resolve(schema["$ref"])
            return self.resolve_types(target, depth + 1)
        types = set()
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                types |= self.resolve_types(sub, depth + 1)
        t = schema.get("type")
        if t is not None:
            types |= {t} if isinstance(t, str) else set(t)
        return types

    def match(self, method, path):
        """(operation, path parameters) of a request, or (None, None) when the document has no
        such operation."""
        for op in self.operations:
            if op.method != method:
                continue
            m = op.regex.match(path)
            if m:
                return op, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
        return None, None
