// HttpClient: outbound HTTP/1.1 to one endpoint (a base URL), on Boost.Beast. The adapters'
// one way to call a remote store (Chroma, Qdrant) or an agent (Consul).
//
// - A keep-alive connection pool: idle connections are reused (the most recently used first), at
//   most max_idle_connections kept. An idle connection the server closed is noticed before use
//   and dropped. If the server closes one just as a request goes out on it (the first write or
//   read on a reused connection fails before any byte of a response arrives, and not by timing
//   out), the request is sent once more on a fresh connection, idempotent or not: a server closes
//   an idle keep-alive connection instead of reading from it, so the request was not processed.
// - TLS for https:// URLs: the peer's certificate is verified against the system store or ca_file
//   and must name the host (DNS name or IP address); SNI is sent for DNS names.
// - Deadlines: every call ends by the earlier of its CallOptions deadline and request_timeout_ms
//   from its start. Establishing a connection (resolving the name, connecting, the TLS handshake)
//   is also bounded by connect_timeout_ms; running out of that is a transient failure, running
//   out of the deadline ends the call. No wait, the backoff between attempts included, outlasts
//   the deadline. Responses larger than max_response_bytes are refused.
// - Retries, only for requests marked idempotent, with full-jitter exponential backoff, only for
//   transient failures: connection refused or reset, a timeout while connecting, a response of
//   5xx or 429. A 429 or 503 with Retry-After (in seconds) is retried after that wait instead,
//   when it ends before the deadline; otherwise that response is returned as it is (so is one
//   whose Retry-After is an HTTP date). When the attempts run out or the next wait would pass
//   the deadline, the call returns the last response if an attempt got one, else the last error.
// - A circuit breaker for the endpoint. It counts calls, not attempts: a call fails when its
//   final outcome (after its retries) is a transport error, a timeout included, or a 5xx. After
//   breaker_failures consecutive failed calls it opens and refuses calls at once (Unavailable)
//   for breaker_cooldown_ms; then one probe call goes through (half-open) while every other call
//   is refused: success closes the breaker, failure opens it for another cooldown. The probe
//   makes one attempt, without retries, so that it settles the state quickly. An answer below
//   500 other than 429 is a success: the server is up. Neutral, changing nothing: a 429 (up but
//   busy; Retry-After paces us), a response refused as too large, a call whose deadline passed
//   before it tried the server; a neutral probe hands the probe to the next call. Outcomes of calls
//   let in while the breaker was closed that end after it opened are ignored: the probe decides.
// - Metrics: stats().
//
// Thread safety: every method is safe for concurrent calls from any number of threads.
// Blocking: Send blocks the calling thread until the answer or the deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/call_options.h"
#include "engine/latency_histogram.h"
#include "engine/status.h"

namespace vecmesh::adapters {

// An endpoint parsed from "http://host:port/base" or "https://...". The port defaults to 80 or
// 443; base_path ("" or "/base", no trailing slash) prefixes every request target. An IPv6
// address is written in brackets in the URL ("http://[::1]:8000") and kept without them in host.
struct HttpEndpoint {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
  std::string base_path;
  // "http://host:port/base", for messages.
  std::string ToString() const;
};
// InvalidArgument naming `url` when it is not an http:// or https:// URL with a host. A base URL
// has no user info, query or fragment.
engine::StatusOr<HttpEndpoint> ParseHttpUrl(const std::string& url);
// `text` percent-encoded for a URL's path segment, query value or user info: RFC 3986's
// unreserved characters (letters, digits, '-', '.', '_', '~') stay as they are.
std::string PercentEncode(std::string_view text);

struct HttpClientOptions {
  int connect_timeout_ms = 2000;             // 0 or less: only the deadline bounds connecting
  int request_timeout_ms = 30000;            // 0 or less: only the caller's deadline bounds a call
  uint64_t max_response_bytes = 256u << 20;  // of the body
  size_t max_idle_connections = 16;
  // Attempts of one idempotent call (1 = no retry), and the backoff between them: the n-th wait
  // (n = 0, 1, ...) is a random duration in [0, min(retry_max_ms, retry_base_ms * 2^n)] ("full
  // jitter").
  int max_attempts = 3;
  int retry_base_ms = 50;
  int retry_max_ms = 2000;
  int breaker_failures = 5;  // 0 or less: no breaker
  int breaker_cooldown_ms = 5000;
  // https only: a PEM file of trusted CAs; empty: the system's default store.
  std::string ca_file;
};

enum class HttpMethod { kGet, kPost, kPut, kDelete };

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  std::string target;  // path and query ("/..." or empty), appended to the endpoint's base_path
  std::string body;    // sent with Content-Type: application/json when not empty
  // Sent after the client's own (Host, User-Agent, Accept, Content-Type), replacing one of the
  // same name. Host, Content-Length, Transfer-Encoding and Connection belong to the client.
  std::vector<std::pair<std::string, std::string>> headers;
  // Whether sending it twice has the effect of sending it once: only then is it retried.
  bool idempotent = false;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  // The value of the first header named `name` (case-insensitive), or nullptr.
  const std::string* Header(std::string_view name) const;
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
const char* BreakerStateName(BreakerState state);  // "closed", "open", "half_open"

// One instance of a service a BalancedHttpClient spreads requests over, for /metrics.
struct HttpInstanceStats {
  std::string instance;  // "http://host:port"
  uint64_t requests = 0;
  int outstanding = 0;
  BreakerState breaker = BreakerState::kClosed;
};

// What a client did, for /metrics. Counters only grow.
struct HttpStats {
  uint64_t requests = 0;          // calls made (each attempt counts once)
  uint64_t transport_errors = 0;  // attempts that got no HTTP answer (refused, reset, timeout)
  uint64_t http_errors = 0;       // attempts answered with a status >= 500 or 429
  uint64_t retries = 0;
  uint64_t breaker_rejections = 0;  // calls refused because the breaker was open
  uint64_t connections_opened = 0;  // TCP connections established (TLS handshake included)
  // Idle connections found closed by the server: dropped before use, or (the race) failed on
  // first use and the request sent again on a fresh connection.
  uint64_t stale_connections = 0;
  BreakerState breaker = BreakerState::kClosed;
  engine::LatencyHistogram::Counts latency;  // per attempt, answered or not
  std::vector<HttpInstanceStats> instances;  // a balanced client's, one per instance
};

// What the adapters send their requests with: an HttpClient (one endpoint) or a
// BalancedHttpClient (the instances of a service found in Consul).
class HttpSender {
 public:
  virtual ~HttpSender() = default;
  // As HttpClient::Send.
  virtual engine::StatusOr<HttpResponse> Send(const engine::CallOptions& options,
                                              const HttpRequest& request) = 0;
  virtual HttpStats stats() const = 0;
};

class HttpClient : public HttpSender {
 public:
  using Stats = HttpStats;

  // An https endpoint whose TLS setup fails (an unreadable ca_file) gives a client whose every
  // call returns that error.
  HttpClient(HttpEndpoint endpoint, HttpClientOptions options);
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` and returns the server's answer, whatever its status (after retries for the
  // transient ones). Errors, their messages naming the endpoint and the cause: Unavailable
  // (refused, reset, TLS failure, breaker open, a response too large), DeadlineExceeded (the
  // deadline or request_timeout_ms passed), InvalidArgument (a target or header that cannot be
  // sent as it is). Never throws.
  engine::StatusOr<HttpResponse> Send(const engine::CallOptions& options,
                                      const HttpRequest& request) override;

  Stats stats() const
      override;  // Whether the breaker would refuse a call now (CircuitBreaker::Refuses): cheap.
  bool BreakerRefuses() const;
  const HttpEndpoint& endpoint() const { return endpoint_; }

 private:
  struct Impl;
  const HttpEndpoint endpoint_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecmesh::adapters
