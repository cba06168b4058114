"""The Consul double's health probes, run as Consul's agent runs its HTTP and gRPC checks
(agent/checks/check.go, agent/checks/grpc.go). Each returns (status, output).

HTTP: the check's Method (GET by default) and Header (User-Agent "Consul Health Check" and Accept
"text/plain, text/*, */*" unless given; a Host header sets the request's host), no keep-alive,
redirects followed, TLS verification off with TLSSkipVerify; 2xx is passing, 429 warning, anything
else critical; output "HTTP GET URL: 200 OK Output: BODY" keeping the body's last 4 KiB, or Go's
error text when there is no answer ('Get "URL": ...'). The timeout bounds connecting and each read
(Go's bounds the whole exchange).

gRPC: grpc.health.v1.Health/Check on "host:port" or "host:port/service" (the request's service),
with TLS when GRPCUseTLS; SERVING is passing ("gRPC check TARGET: success"), anything else critical
("gRPC TARGET serving status: NOT_SERVING", or Go's "rpc error: code = ... desc = ..."). It needs
python3-grpcio, and speaks the two messages as raw bytes (no generated stubs): the request's field 1
is the service name, the response's field 1 the status. grpcio cannot skip TLS verification, so a
check with GRPCUseTLS and TLSSkipVerify is critical and says why.
"""
import socket
import ssl
import urllib.error
import urllib.request

OUTPUT_MAX = 4 * 1024  # Consul's DefaultBufSize
_BODY_READ_MAX = 1 << 20
USER_AGENT = "Consul Health Check"
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class _NoProxy(urllib.request.ProxyHandler):
    def __init__(self):
        super().__init__({})


def _go_op(method):
    """Go's url.Error Op for a method: "Get", "Post"."""
    return method[:1] + method[1:].lower()


def _timed_out(method, url):
    return (f'{_go_op(method)} "{url}": context deadline exceeded (Client.Timeout exceeded while '
            f'awaiting headers)')


def http_probe(url, method="", header=None, timeout_s=10.0, tls_skip_verify=False):
    """One HTTP check run: (status, output)."""
    method = method or "GET"
    headers = {name: ", ".join(values) for name, values in (header or {}).items()}
    headers.setdefault("User-Agent", USER_AGENT)
    headers.setdefault("Accept", "text/plain, text/*, */*")
    headers["Connection"] = "close"
    context = ssl.create_default_context()
    if tls_skip_verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    opener = urllib.request.build_opener(_NoProxy(), urllib.request.HTTPSHandler(context=context))
    try:
        request = urllib.request.Request(url, method=method, headers=headers)
        try:
            response = opener.open(request, timeout=timeout_s)
        except urllib.error.HTTPError as e:  # a non-2xx answer is an answer
            response = e
        with response:
            code, reason = response.status, response.reason
            body = response.read(_BODY_READ_MAX)[-OUTPUT_MAX:]
    except (socket.timeout, TimeoutError):
        return "critical", _timed_out(method, url)
    except urllib.error.URLError as e:  # connecting failed (or timed out)
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            return "critical", _timed_out(method, url)
        return "critical", f'{_go_op(method)} "{url}": {e.reason}'
    except (OSError, ValueError) as e:
        return "critical", f'{_go_op(method)} "{url}": {e}'
    output = f"HTTP {method} {url}: {code} {reason} Output: {body.decode(errors='replace')}"
    if 200 <= code <= 299:
        return "passing", output
    if code == 429:
        return "warning", output
    return "critical", output


def _varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data, pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def health_request(service):
    """grpc.health.v1.HealthCheckRequest{service} as bytes."""
    raw = service.encode()
    return b"\x0a" + _varint(len(raw)) + raw if raw else b""


def health_status(data):
    """The status (field 1) of a grpc.health.v1.HealthCheckResponse in bytes (0 when absent)."""
    pos, status = 0, 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            if number == 1:
                status = value
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire} in a HealthCheckResponse")
    return status


def _go_code(code):
    """grpc.StatusCode.DEADLINE_EXCEEDED as Go prints it: DeadlineExceeded."""
    return "".join(part.capitalize() for part in code.name.split("_"))


def grpc_probe(target, timeout_s=10.0, use_tls=False, tls_skip_verify=False):
    """One gRPC check run: (status, output)."""
    try:
        import grpc
    except ImportError:
        return "critical", ("the Consul double runs gRPC checks with python3-grpcio, not "
                            "installed here")
    if use_tls and tls_skip_verify:
        return "critical", ("the Consul double cannot run a gRPC check with GRPCUseTLS and "
                            "TLSSkipVerify: grpcio cannot skip TLS verification")
    server, _, service = target.partition("/")
    channel = (grpc.secure_channel(server, grpc.ssl_channel_credentials()) if use_tls
               else grpc.insecure_channel(server))
    try:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")  # bytes in, bytes out
        status = health_status(check(health_request(service), timeout=timeout_s))
    except grpc.RpcError as e:
        return "critical", f"rpc error: code = {_go_code(e.code())} desc = {e.details()}"
    except ValueError as e:
        return "critical", f"gRPC {target}: a response that is not a HealthCheckResponse: {e}"
    finally:
        channel.close()
    if status != 1:
        return "critical", f"gRPC {target} serving status: {SERVING_STATUS.get(status, status)}"
    return "passing", f"gRPC check {target}: success"
