#include "adapters/http/http_client.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <cctype>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <thread>

#include "adapters/http/circuit_breaker.h"
#include "adapters/http/http_connection.h"

namespace vecmesh::adapters {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

http::verb VerbOf(HttpMethod method) {
  switch (method) {
    case HttpMethod::kGet:
      return http::verb::get;
    case HttpMethod::kPost:
      return http::verb::post;
    case HttpMethod::kPut:
      return http::verb::put;
    case HttpMethod::kDelete:
      return http::verb::delete_;
  }
  return http::verb::unknown;
}

// RFC 9110 5.6.2: what a header name may be.
bool IsToken(std::string_view text) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           kSymbols.find(c) != std::string_view::npos;
  });
}

// A header value, or a request target, must not end the line early or smuggle a control byte.
bool HasControl(std::string_view text, bool space_too) {
  return std::any_of(text.begin(), text.end(), [space_too](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte == 0x7f || (byte < 0x20 && byte != '\t') || (space_too && byte <= 0x20);
  });
}

// Retry-After in delta-seconds (RFC 9110 10.2.3); nullopt for anything else (an HTTP date).
std::optional<std::chrono::seconds> DeltaSeconds(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  // Nine digits are 31 years: more is no wait we would keep.
  if (value.empty() || value.size() > 9) return std::nullopt;
  int64_t seconds = 0;
  for (const char c : value) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    seconds = seconds * 10 + (c - '0');
  }
  return std::chrono::seconds(seconds);
}

std::string Millis(Clock::duration duration) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(duration).count()) + " ms";
}

// What one attempt got: a response, or why not.
struct Outcome {
  bool answered = false;
  HttpConnection::Response response;  // when answered
  HttpConnection::Failure failure;    // when not
};

}  // namespace

struct HttpClient::Impl {
  Impl(const HttpEndpoint& endpoint, HttpClientOptions options);

  engine::StatusOr<HttpResponse> Send(const engine::CallOptions& call, const HttpRequest& request);

  engine::Status Build(const HttpRequest& request, HttpConnection::Request* out) const;
  // One attempt: on an idle connection if there is one, else a new one; a reused connection
  // that turns out closed is replaced once (see http_client.h).
  Outcome Attempt(const HttpConnection::Request& request, Clock::time_point deadline);
  std::unique_ptr<HttpConnection> Open(Clock::time_point deadline,
                                       HttpConnection::Failure* failure);
  std::unique_ptr<HttpConnection> TakeIdle();
  void PutIdle(std::unique_ptr<HttpConnection> connection);
  // How long to wait before sending again what got `outcome`, or nullopt: do not send it again.
  // `retry` counts the retries before this one.
  std::optional<Clock::duration> RetryWait(const Outcome& outcome, int retry) const;

  const HttpEndpoint& endpoint;
  const std::string name;         // endpoint.ToString(), the prefix of every message
  const std::string host_header;  // "host" or "host:port" when the port is not the scheme's
  const HttpClientOptions options;
  std::optional<asio::ssl::context> tls;  // https: shared by the connections, set up once
  engine::Status tls_error;               // why tls could not be set up; every call returns it
  CircuitBreaker breaker;

  std::mutex idle_mu;                                 // guards idle
  std::vector<std::unique_ptr<HttpConnection>> idle;  // the most recently used last

  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> transport_errors{0};
  std::atomic<uint64_t> http_errors{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> breaker_rejections{0};
  std::atomic<uint64_t> connections_opened{0};
  std::atomic<uint64_t> stale_connections{0};
  engine::LatencyHistogram latency;
};

namespace {

std::string HostHeader(const HttpEndpoint& endpoint) {
  std::string host =
      endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host;
  if (endpoint.port != (endpoint.tls ? 443 : 80)) host += ":" + std::to_string(endpoint.port);
  return host;
}

}  // namespace

HttpClient::Impl::Impl(const HttpEndpoint& endpoint, HttpClientOptions options)
    : endpoint(endpoint),
      name(endpoint.ToString()),
      host_header(HostHeader(endpoint)),
      options(std::move(options)),
      breaker(this->options.breaker_failures, milliseconds(this->options.breaker_cooldown_ms)) {
  if (!endpoint.tls) return;
  const std::string store = this->options.ca_file.empty()
                                ? std::string("the system's CA store")
                                : "ca_file '" + this->options.ca_file + "'";
  try {
    tls.emplace(asio::ssl::context::tls_client);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    tls->set_verify_mode(asio::ssl::verify_peer);
    beast::error_code ec;
    if (this->options.ca_file.empty()) {
      tls->set_default_verify_paths(ec);
    } else {
      tls->load_verify_file(this->options.ca_file, ec);
    }
    if (ec)
      tls_error =
          engine::Status::Unavailable(name + ": tls: cannot load " + store + ": " + ec.message());
  } catch (const std::exception& e) {
    tls_error = engine::Status::Unavailable(name + ": tls: cannot set up: " + e.what());
  }
}

engine::Status HttpClient::Impl::Build(const HttpRequest& request,
                                       HttpConnection::Request* out) const {
  if (!request.target.empty() && request.target.front() != '/') {
    return engine::Status::InvalidArgument("target '" + request.target +
                                           "' does not start with '/'");
  }
  if (HasControl(request.target, true)) {
    return engine::Status::InvalidArgument("target '" + request.target +
                                           "' has a space or a control character");
  }
  std::string target = endpoint.base_path + request.target;
  out->version(11);
  out->method(VerbOf(request.method));
  out->target(target.empty() ? "/" : target);
  out->set(http::field::host, host_header);
  out->set(http::field::user_agent, "vecmesh");
  out->set(http::field::accept, "application/json");
  if (!request.body.empty()) out->set(http::field::content_type, "application/json");
  for (const auto& [field, value] : request.headers) {
    if (!IsToken(field)) {
      return engine::Status::InvalidArgument("header name '" + field + "' is not a token");
    }
    if (HasControl(value, false)) {
      return engine::Status::InvalidArgument("header '" + field + "' has a control character");
    }
    for (const char* own : {"host", "content-length", "transfer-encoding", "connection"}) {
      if (beast::iequals(field, own)) {
        return engine::Status::InvalidArgument("header '" + field + "' is the client's to set");
      }
    }
    out->set(field, value);
  }
  out->body() = request.body;
  out->prepare_payload();
  return engine::Status::Ok();
}

std::unique_ptr<HttpConnection> HttpClient::Impl::Open(Clock::time_point deadline,
                                                       HttpConnection::Failure* failure) {
  Clock::time_point connect_until = deadline;
  if (options.connect_timeout_ms > 0) {
    connect_until = std::min(deadline, Clock::now() + milliseconds(options.connect_timeout_ms));
  }
  std::unique_ptr<HttpConnection> connection =
      HttpConnection::Open(endpoint, tls ? &*tls : nullptr, connect_until, deadline, failure);
  if (connection) ++connections_opened;
  return connection;
}

std::unique_ptr<HttpConnection> HttpClient::Impl::TakeIdle() {
  for (;;) {
    std::unique_ptr<HttpConnection> connection;
    {
      std::lock_guard lock(idle_mu);
      if (idle.empty()) return nullptr;
      connection = std::move(idle.back());
      idle.pop_back();
    }
    if (connection->LooksOpen()) return connection;
    ++stale_connections;
  }
}

void HttpClient::Impl::PutIdle(std::unique_ptr<HttpConnection> connection) {
  std::unique_ptr<HttpConnection> dropped;  // closed once the lock is released
  std::lock_guard lock(idle_mu);
  if (options.max_idle_connections == 0) {
    dropped = std::move(connection);
    return;
  }
  if (idle.size() >= options.max_idle_connections) {
    // The oldest goes: it is the likeliest to be closed by the server soon.
    dropped = std::move(idle.front());
    idle.erase(idle.begin());
  }
  idle.push_back(std::move(connection));
}

Outcome HttpClient::Impl::Attempt(const HttpConnection::Request& request,
                                  Clock::time_point deadline) {
  const Clock::time_point start = Clock::now();
  ++requests;
  Outcome outcome;
  std::unique_ptr<HttpConnection> connection = TakeIdle();
  const bool reused = connection != nullptr;
  if (!connection) connection = Open(deadline, &outcome.failure);
  if (connection) {
    outcome.answered = connection->RoundTrip(request, options.max_response_bytes, deadline,
                                             &outcome.response, &outcome.failure);
    if (!outcome.answered && reused && outcome.failure.nothing_received) {
      ++stale_connections;
      connection = Open(deadline, &outcome.failure);
      if (connection) {
        outcome.answered = connection->RoundTrip(request, options.max_response_bytes, deadline,
                                                 &outcome.response, &outcome.failure);
      }
    }
  }
  if (outcome.answered) {
    const int status = outcome.response.result_int();
    if (status >= 500 || status == 429) ++http_errors;
    if (connection->reusable()) PutIdle(std::move(connection));
  } else {
    ++transport_errors;
  }
  latency.Record(std::chrono::duration<double>(Clock::now() - start).count());
  return outcome;
}

std::optional<Clock::duration> HttpClient::Impl::RetryWait(const Outcome& outcome,
                                                           int retry) const {
  if (!outcome.answered && !outcome.failure.transient) return std::nullopt;
  if (outcome.answered) {
    const int status = outcome.response.result_int();
    if (status < 500 && status != 429) return std::nullopt;
    const auto retry_after = outcome.response.find(http::field::retry_after);
    if ((status == 429 || status == 503) && retry_after != outcome.response.end()) {
      // The server said when; an HTTP date is not worth parsing to guess it better.
      const beast::string_view value = retry_after->value();
      const std::optional<std::chrono::seconds> wait =
          DeltaSeconds(std::string_view(value.data(), value.size()));
      if (!wait) return std::nullopt;
      return *wait;
    }
  }
  const int64_t base = std::max(0, options.retry_base_ms);
  const int64_t cap =
      std::min<int64_t>(std::max(0, options.retry_max_ms), base << std::min(retry, 30));
  thread_local std::mt19937_64 random(std::random_device{}());
  return milliseconds(std::uniform_int_distribution<int64_t>(0, cap)(random));
}

engine::StatusOr<HttpResponse> HttpClient::Impl::Send(const engine::CallOptions& call,
                                                      const HttpRequest& request) {
  const Clock::time_point start = Clock::now();
  Clock::time_point deadline = call.deadline;
  bool request_timeout_first = false;
  if (options.request_timeout_ms > 0 &&
      milliseconds(options.request_timeout_ms) < deadline - start) {
    deadline = start + milliseconds(options.request_timeout_ms);
    request_timeout_first = true;
  }
  HttpConnection::Request wire;
  if (engine::Status built = Build(request, &wire); !built.ok()) return built.WithContext(name);
  if (!tls_error.ok()) return tls_error;
  if (start >= deadline) {
    return engine::Status::DeadlineExceeded(name + ": the deadline passed before the call");
  }
  const CircuitBreaker::Admission admission = breaker.Admit(start);
  if (!admission.admitted) {
    ++breaker_rejections;
    return engine::Status::Unavailable(name + ": " + admission.refusal);
  }

  const int max_attempts =
      admission.probe || !request.idempotent ? 1 : std::max(1, options.max_attempts);
  Outcome outcome;
  int attempts = 0;
  try {
    for (;;) {
      Outcome latest = Attempt(wire, deadline);
      ++attempts;
      const std::optional<Clock::duration> wait =
          attempts < max_attempts ? RetryWait(latest, attempts - 1) : std::nullopt;
      // A response tells the caller more than a later failure to get one (a timeout at the
      // deadline, say): the last response stays the answer.
      if (latest.answered || !outcome.answered) outcome = std::move(latest);
      // Never sleep into the deadline.
      if (!wait || *wait >= deadline - Clock::now()) break;
      std::this_thread::sleep_for(*wait);
      ++retries;
    }
  } catch (...) {
    breaker.Finish(admission.probe, CircuitBreaker::Verdict::kNeutral, "", Clock::now());
    throw;
  }

  if (outcome.answered) {
    const int status = outcome.response.result_int();
    const CircuitBreaker::Verdict verdict = status >= 500   ? CircuitBreaker::Verdict::kFailure
                                            : status == 429 ? CircuitBreaker::Verdict::kNeutral
                                                            : CircuitBreaker::Verdict::kSuccess;
    breaker.Finish(admission.probe, verdict, "HTTP " + std::to_string(status), Clock::now());
    HttpResponse response{status, std::move(outcome.response.body()), {}};
    for (const auto& field : outcome.response) {
      response.headers.emplace_back(field.name_string(), field.value());
    }
    return response;
  }
  const engine::Status& failure = outcome.failure.status;
  breaker.Finish(admission.probe,
                 outcome.failure.endpoint_fault ? CircuitBreaker::Verdict::kFailure
                                                : CircuitBreaker::Verdict::kNeutral,
                 failure.message(), Clock::now());
  std::string message = name + ": " + failure.message();
  if (failure.code() == engine::StatusCode::kDeadlineExceeded) {
    message += " after " + Millis(Clock::now() - start) +
               (request_timeout_first ? " (request_timeout_ms)" : "");
  }
  if (attempts > 1) message += " (" + std::to_string(attempts) + " attempts)";
  return engine::Status::WithCode(failure.code(), std::move(message));
}

const std::string* HttpResponse::Header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (boost::beast::iequals(field, boost::beast::string_view(name.data(), name.size()))) {
      return &value;
    }
  }
  return nullptr;
}

HttpClient::HttpClient(HttpEndpoint endpoint, HttpClientOptions options)
    : endpoint_(std::move(endpoint)),
      impl_(std::make_unique<Impl>(endpoint_, std::move(options))) {}

HttpClient::~HttpClient() = default;

engine::StatusOr<HttpResponse> HttpClient::Send(const engine::CallOptions& options,
                                                const HttpRequest& request) {
  try {
    return impl_->Send(options, request);
  } catch (const std::exception& e) {
    return engine::Status::Internal(endpoint_.ToString() + ": " + e.what());
  } catch (...) {
    return engine::Status::Internal(endpoint_.ToString() + ": an unknown exception");
  }
}

bool HttpClient::BreakerRefuses() const { return impl_->breaker.Refuses(Clock::now()); }

HttpClient::Stats HttpClient::stats() const {
  Stats stats;
  stats.requests = impl_->requests.load();
  stats.transport_errors = impl_->transport_errors.load();
  stats.http_errors = impl_->http_errors.load();
  stats.retries = impl_->retries.load();
  stats.breaker_rejections = impl_->breaker_rejections.load();
  stats.connections_opened = impl_->connections_opened.load();
  stats.stale_connections = impl_->stale_connections.load();
  stats.breaker = impl_->breaker.state();
  stats.latency = impl_->latency.Read();
  return stats;
}

}  // namespace vecmesh::adapters
