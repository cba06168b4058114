// HttpConnection: one connection of HttpClient's pool, plain or TLS, with the io_context its
// operations run on. Owning its io_context lets a connection move between the calling threads
// freely: a call runs the connection's io_context on its own thread until its operation ends, and
// every operation is bounded by the stream's expiry, so no wait outlives the deadline it was given.
//
// Thread safety: none; one thread uses a connection at a time (the pool hands it over).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "adapters/http/http_client.h"
#include "engine/status.h"

namespace vecmesh::adapters {

class HttpConnection {
 public:
  using Clock = std::chrono::steady_clock;
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  // Why an operation got no answer. The status is Unavailable or DeadlineExceeded, its message
  // the step and the cause ("connect: Connection refused"), without the endpoint.
  struct Failure {
    engine::Status status;
    bool transient = false;  // the same request may well succeed on another try
    // Nothing of a response arrived and the failure was no timeout: on a reused connection, the
    // mark of a connection the server had closed.
    bool nothing_received = false;
    // Whether it counts against the endpoint in the circuit breaker: a response refused for its
    // size does not (the server is up and answering).
    bool endpoint_fault = true;
  };

  // Resolves the endpoint's host, connects and, for https (`tls` set), handshakes, all by
  // `connect_until`: the earlier of the connect timeout and the call's `deadline`. Running out of
  // time before `deadline` is a transient failure (Unavailable); at `deadline`, DeadlineExceeded.
  // Null, `failure` filled, when it fails.
  static std::unique_ptr<HttpConnection> Open(const HttpEndpoint& endpoint,
                                              boost::asio::ssl::context* tls,
                                              Clock::time_point connect_until,
                                              Clock::time_point deadline, Failure* failure);

  // Sends `request` and reads the response, its body at most `max_body_bytes`, by `deadline`.
  // Fills `response` or `failure`; returns whether it got a response.
  bool RoundTrip(const Request& request, uint64_t max_body_bytes, Clock::time_point deadline,
                 Response* response, Failure* failure);

  // Whether the connection may carry another request: the last response kept it alive and
  // nothing beyond it arrived.
  bool reusable() const { return reusable_; }
  // Whether an idle connection still looks open: nothing to read on it (no FIN from the server,
  // no stray bytes). Does not wait.
  bool LooksOpen();

  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

 private:
  explicit HttpConnection(boost::asio::ssl::context* tls);

  boost::beast::tcp_stream& Tcp();
  // Runs the io_context until the operations started on it have completed.
  void Run();

  // Declared first: destroyed last, after the streams bound to it.
  boost::asio::io_context io_;
  std::optional<boost::beast::tcp_stream> plain_;                                 // http
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_stream_;  // https
  boost::beast::flat_buffer buffer_;  // bytes read and not yet parsed
  bool reusable_ = false;
};

}  // namespace vecmesh::adapters
