"""What the Consul double (consul_double.py) accepts in a service registration, decoded and checked
as Consul's agent decodes and checks it, plus Go durations (parsed and printed as Go does).

A registration is refused (RequestError 400) as Consul refuses it:
  - the body is not a JSON object, or a field has the wrong JSON type: "Request decode failed: json:
    cannot unmarshal ... of type ..." (Go's encoding/json);
  - an unknown field: "Request decode failed: json: unknown field ..." (Consul decodes request
    bodies with DisallowUnknownFields, lib.DecodeJSON);
  - a duration that is not a Go duration string: "Request decode failed: time: invalid duration
    ...";
  - no Name: "Missing service name"; Address 0.0.0.0 or ::, "Invalid service address"; Meta that
    breaks Consul's limits: "Invalid Service Meta: ..." (structs.ValidateMetadata);
  - a check without an Interval for HTTP or gRPC, without a TTL otherwise, with both: "Invalid
    check: ..." (structs.CheckType.Validate); a Status other than passing, warning, critical.
The double is stricter than Consul in four places, each a mistake of the client that Consul would
take silently or take another way, and says so in the message:
  - field names must be spelled as documented (Go matches them case-insensitively, and Consul also
    takes snake_case aliases such as deregister_critical_service_after);
  - a duration given as a JSON number (Consul takes it as nanoseconds: 10 would be 10 ns);
  - a check with more than one of HTTP, GRPC, TTL (Consul silently runs only one of them);
  - a field Consul knows but the double does not implement (Weights, Connect, TCP, ...): refused
    rather than ignored, so that a test never passes on behaviour the double does not have.

Stdlib only.
"""
import ipaddress
import re
from dataclasses import dataclass, field

NS_PER_S = 1_000_000_000
_UNIT_NS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
            "s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S}
STATUSES = ("passing", "warning", "critical")


class RequestError(Exception):
    """A request Consul refuses: status and Consul's message (text/plain)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


# --- Go durations ------------------------------------------------------------------------------

def parse_go_duration(text):
    """Go's time.ParseDuration: "10s", "1m30s", "500ms", "1.5h", "0". Returns nanoseconds (an int);
    raises ValueError with Go's message."""
    s, sign = text, 1
    if s[:1] in ("+", "-"):
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0
    while s:
        number = re.match(r"(\d*)(?:\.(\d*))?", s)
        whole, fraction = number.group(1), number.group(2) or ""
        if not whole and not fraction:
            raise ValueError(f'time: invalid duration "{text}"')
        s = s[number.end():]
        unit = re.match(r"[^\d.]*", s).group(0)
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _UNIT_NS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        s = s[len(unit):]
        scale = _UNIT_NS[unit]
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
    return sign * total


def _with_fraction(value, unit):
    whole, rest = divmod(value, unit)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def format_go_duration(ns):
    """Go's time.Duration.String(): 10 s is "10s", 90 s "1m30s", 60 s "1m0s", 0.5 s "500ms"."""
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_with_fraction(ns, 1_000)}\u00b5s"
    if ns < NS_PER_S:
        return f"{sign}{_with_fraction(ns, 1_000_000)}ms"
    hours, ns = divmod(ns, 3600 * NS_PER_S)
    minutes, ns = divmod(ns, 60 * NS_PER_S)
    head = f"{hours}h{minutes}m" if hours else (f"{minutes}m" if minutes else "")
    return f"{sign}{head}{_with_fraction(ns, NS_PER_S)}s"


# --- the registration ----------------------------------------------------------------------------

@dataclass
class CheckDefinition:
    """One check of a registration. kind: "http", "grpc" or "ttl"; target: the HTTP URL or the gRPC
    host:port[/service]; durations in nanoseconds (0: not given)."""
    kind: str
    target: str = ""
    check_id: str = ""
    name: str = ""
    method: str = ""
    header: dict = field(default_factory=dict)
    tls_skip_verify: bool = False
    grpc_use_tls: bool = False
    interval_ns: int = 0
    timeout_ns: int = 0
    ttl_ns: int = 0
    deregister_after_ns: int = 0
    status: str = ""
    notes: str = ""


@dataclass(eq=False)
class ServiceDefinition:
    """A service as registered. id defaults to name."""
    id: str
    name: str
    tags: list
    address: str
    port: int
    meta: dict
    enable_tag_override: bool = False


@dataclass
class Registration:
    """PUT /v1/agent/service/register, decoded."""
    service: ServiceDefinition
    checks: list  # CheckDefinition, Check first, then Checks in order


_DURATION = "duration"
_CHECK_FIELDS = {"CheckID": str, "Name": str, "HTTP": str, "Method": str, "Header": "header",
                 "TLSSkipVerify": bool, "GRPC": str, "GRPCUseTLS": bool, "TTL": _DURATION,
                 "Interval": _DURATION, "Timeout": _DURATION,
                 "DeregisterCriticalServiceAfter": _DURATION, "Status": str, "Notes": str}
_SERVICE_FIELDS = {"ID": str, "Name": str, "Tags": [str], "Address": str, "Port": int,
                   "Meta": {str: str}, "EnableTagOverride": bool, "Check": "check",
                   "Checks": ["check"]}
# Fields Consul's agent takes that the double does not implement (refused, not ignored).
_CONSUL_SERVICE_ONLY = {"Kind", "TaggedAddresses", "Weights", "Proxy", "Connect", "SocketPath",
                        "Namespace", "Partition", "Locality", "PeerName"}
_CONSUL_CHECK_ONLY = {"ScriptArgs", "Args", "TCP", "UDP", "H2PING", "H2PingUseTLS", "AliasNode",
                      "AliasService", "DockerContainerID", "Shell", "OSService", "TLSServerName",
                      "Body", "DisableRedirects", "SuccessBeforePassing", "FailuresBeforeWarning",
                      "FailuresBeforeCritical", "OutputMaxSize", "ServiceID"}
_GO_TYPES = {str: "string", int: "int", bool: "bool", "header": "map[string][]string"}
_JSON_TYPES = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
               dict: "object"}

_META_KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
META_MAX_PAIRS, META_KEY_MAX, META_VALUE_MAX = 64, 128, 512


def _decode_failed(message):
    return RequestError(400, f"Request decode failed: {message}")


def _type_error(value, struct, name, go_type):
    kind = _JSON_TYPES.get(type(value), "value")
    shown = f" {value}" if kind == "number" else ""
    return _decode_failed(f"json: cannot unmarshal {kind}{shown} into Go struct field "
                          f"{struct}.{name} of type {go_type}")


def _check_type(value, spec, struct, name):
    """value against spec (a type, [spec] or {str: spec}); raises Go's decode error."""
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise _type_error(value, struct, name, "[]string")
        for item in value:
            if not isinstance(item, str):
                raise _type_error(item, struct, name, "string")
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            raise _type_error(value, struct, name, "map[string]string")
        for item in value.values():
            if not isinstance(item, str):
                raise _type_error(item, struct, name, "string")
    elif spec == "header":
        if not isinstance(value, dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values()):
            raise _type_error(value, struct, name, _GO_TYPES["header"])
    elif spec is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(value, struct, name, "int")
    elif not isinstance(value, spec) or (spec is not bool and isinstance(value, bool)):
        raise _type_error(value, struct, name, _GO_TYPES[spec])


def _fields(obj, allowed, consul_only, struct):
    """The non-null fields of obj, each checked against allowed; refuses unknown names."""
    out = {}
    for name, value in obj.items():
        if name not in allowed:
            if name in consul_only:
                raise _decode_failed(f"json: unknown field {name!r}: a field of Consul's that the "
                                     f"Consul double does not implement")
            hint = next((f" (spelled {known!r} in Consul's API)" for known in allowed
                         if known.lower() == name.replace("_", "").lower()), "")
            raise _decode_failed(f'json: unknown field "{name}"{hint}')
        if value is None:  # Go leaves the zero value for null
            continue
        spec = allowed[name]
        if spec != ["check"] and spec not in (_DURATION, "check"):  # those: checked by the caller
            _check_type(value, spec, struct, name)
        out[name] = value
    return out


def _duration(value, name):
    if not isinstance(value, str):
        raise _decode_failed(f"{name}: the Consul double takes durations as Go duration strings "
                             f"(\"10s\"); Consul would take {value!r} as nanoseconds")
    try:
        return parse_go_duration(value)
    except ValueError as e:
        raise _decode_failed(str(e))


def _decode_check(obj, struct):
    if not isinstance(obj, dict):
        raise _decode_failed(f"json: cannot unmarshal {_JSON_TYPES.get(type(obj), 'value')} into "
                             f"Go struct field {struct} of type structs.CheckType")
    f = _fields(obj, _CHECK_FIELDS, _CONSUL_CHECK_ONLY, struct)
    durations = {name: _duration(f[name], name) for name in
                 ("TTL", "Interval", "Timeout", "DeregisterCriticalServiceAfter") if name in f}
    kinds = [k for k in ("HTTP", "GRPC") if f.get(k)] + (["TTL"] if durations.get("TTL") else [])
    if len(kinds) > 1:
        raise RequestError(400, f"Invalid check: {' and '.join(kinds)} in one check: Consul would "
                                f"run only one of them; the Consul double refuses it")
    interval, ttl = durations.get("Interval", 0), durations.get("TTL", 0)
    if interval > 0 and ttl > 0:
        raise RequestError(400, "Invalid check: Interval and TTL cannot both be specified")
    if kinds and kinds[0] != "TTL" and interval <= 0:
        raise RequestError(400, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, "
                                "TCP, UDP or OSService checks")
    if not kinds and ttl <= 0:
        raise RequestError(400, "Invalid check: TTL must be > 0 for TTL checks")
    if f.get("Status", "") not in ("",) + STATUSES:
        raise RequestError(400, "Status for checks must 'passing', 'warning', 'critical'")
    kind = kinds[0].lower() if kinds else "ttl"
    return CheckDefinition(
        kind=kind, target=f.get(kinds[0], "") if kind != "ttl" else "",
        check_id=f.get("CheckID", ""), name=f.get("Name", ""), method=f.get("Method", ""),
        header=f.get("Header", {}),
        tls_skip_verify=f.get("TLSSkipVerify", False), grpc_use_tls=f.get("GRPCUseTLS", False),
        interval_ns=interval, timeout_ns=durations.get("Timeout", 0), ttl_ns=ttl,
        deregister_after_ns=durations.get("DeregisterCriticalServiceAfter", 0),
        status=f.get("Status", ""), notes=f.get("Notes", ""))


def _validate_meta(meta):
    if len(meta) > META_MAX_PAIRS:
        raise RequestError(400, f"Invalid Service Meta: Node metadata cannot contain more than "
                                f"{META_MAX_PAIRS} key/value pairs")
    for key, value in meta.items():
        problem = None
        if key == "":
            problem = "Key cannot be blank"
        elif not _META_KEY.match(key):
            problem = "Key contains invalid characters"
        elif len(key) > META_KEY_MAX:
            problem = f"Key is too long (limit: {META_KEY_MAX} characters)"
        elif key.startswith("consul-"):
            problem = "Key prefix 'consul-' is reserved for internal use"
        elif len(value) > META_VALUE_MAX:
            problem = f"Value is too long (limit: {META_VALUE_MAX} characters)"
        if problem:
            raise RequestError(400, f"Invalid Service Meta: Couldn't load metadata pair "
                                    f"('{key}', '{value}'): {problem}")


def _is_any_address(address):
    try:
        return ipaddress.ip_address(address.strip("[]")).is_unspecified
    except ValueError:
        return False


def decode_registration(body):
    """The Registration in body (a decoded JSON value); raises RequestError as Consul would."""
    if not isinstance(body, dict):
        raise _decode_failed(f"json: cannot unmarshal {_JSON_TYPES.get(type(body), 'value')} into "
                             f"Go value of type structs.ServiceDefinition")
    f = _fields(body, _SERVICE_FIELDS, _CONSUL_SERVICE_ONLY, "ServiceDefinition")
    checks = []
    if "Check" in f and f["Check"] != {}:  # Consul drops an empty Check object
        checks.append(_decode_check(f["Check"], "ServiceDefinition.Check"))
    if "Checks" in f:
        if not isinstance(f["Checks"], list):
            raise _type_error(f["Checks"], "ServiceDefinition", "Checks", "structs.CheckTypes")
        checks += [_decode_check(c, "ServiceDefinition.Checks") for c in f["Checks"]]
    name = f.get("Name", "")
    if not name:
        raise RequestError(400, "Missing service name")
    address = f.get("Address", "")
    if _is_any_address(address):
        raise RequestError(400, "Invalid service address")
    meta = f.get("Meta", {})
    _validate_meta(meta)
    service = ServiceDefinition(f.get("ID") or name, name, list(f.get("Tags", [])), address,
                                f.get("Port", 0), dict(meta), f.get("EnableTagOverride", False))
    return Registration(service, checks)
