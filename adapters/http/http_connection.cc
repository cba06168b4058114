#include "adapters/http/http_connection.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vecmesh::adapters {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = HttpConnection::Clock;

namespace {

// A response header larger than this is refused: real ones are a few hundred bytes.
constexpr uint32_t kMaxHeaderBytes = 64 << 10;
// What one read can take: see the constructor.
constexpr size_t kReadBufferBytes = 64 << 10;

std::string Millis(Clock::duration duration) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count()) +
         " ms";
}

void ExpireAt(beast::tcp_stream& stream, Clock::time_point until) {
  if (until == Clock::time_point::max()) {
    stream.expires_never();
  } else {
    stream.expires_at(until);
  }
}

// The connection broke under a request, the way a server restarting or an idle connection
// closing breaks it: another connection may well succeed.
bool IsTransient(const beast::error_code& error) {
  return error == asio::error::connection_reset || error == asio::error::connection_aborted ||
         error == asio::error::broken_pipe || error == asio::error::eof ||
         error == asio::error::network_reset || error == http::error::end_of_stream ||
         error == http::error::partial_message || error == asio::ssl::error::stream_truncated;
}

// A name resolution in flight. getaddrinfo cannot be cancelled, so it runs on a thread of its
// own that shares only this with the caller: a caller that stops waiting leaves it to finish.
struct Resolution {
  std::mutex mu;  // guards the fields below
  std::condition_variable done_cv;
  bool done = false;
  beast::error_code error;
  std::vector<tcp::endpoint> endpoints;
};

// Resolves `host` (an address needs no resolving) by `until`: false if the time ran out first.
bool Resolve(const std::string& host, uint16_t port, Clock::time_point until,
             std::vector<tcp::endpoint>* endpoints, beast::error_code* error) {
  beast::error_code not_an_address;
  const asio::ip::address address = asio::ip::make_address(host, not_an_address);
  if (!not_an_address) {
    endpoints->assign(1, tcp::endpoint(address, port));
    return true;
  }
  auto resolution = std::make_shared<Resolution>();
  std::thread([resolution, host, port] {
    beast::error_code ec;
    std::vector<tcp::endpoint> found;
    try {
      asio::io_context io;
      tcp::resolver resolver(io);
      for (const auto& entry : resolver.resolve(host, std::to_string(port), ec)) {
        found.push_back(entry.endpoint());
      }
    } catch (const std::exception&) {
      ec = asio::error::no_memory;
    }
    std::lock_guard lock(resolution->mu);
    resolution->done = true;
    resolution->error = ec;
    resolution->endpoints = std::move(found);
    resolution->done_cv.notify_all();
  }).detach();
  std::unique_lock lock(resolution->mu);
  const auto done = [&resolution] { return resolution->done; };
  if (until == Clock::time_point::max()) {
    resolution->done_cv.wait(lock, done);
  } else if (!resolution->done_cv.wait_until(lock, until, done)) {
    return false;
  }
  *error = resolution->error;
  *endpoints = std::move(resolution->endpoints);
  return true;
}

// Makes the TLS session check that the certificate names `host` (OpenSSL's own check, so that a
// mismatch reads as such in the verify result), and sends SNI for a DNS name.
bool SetPeerName(SSL* ssl, const std::string& host) {
  beast::error_code not_an_address;
  asio::ip::make_address(host, not_an_address);
  if (!not_an_address) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

}  // namespace

HttpConnection::HttpConnection(asio::ssl::context* tls) {
  // Beast reads as much as the buffer has room for (at least 512 bytes): room for large answers
  // (a get of a batch's metadata) in few reads.
  buffer_.reserve(kReadBufferBytes);
  if (tls != nullptr) {
    tls_stream_.emplace(io_, *tls);
  } else {
    plain_.emplace(io_);
  }
}

beast::tcp_stream& HttpConnection::Tcp() {
  return tls_stream_ ? beast::get_lowest_layer(*tls_stream_) : *plain_;
}

void HttpConnection::Run() {
  io_.restart();
  io_.run();
}

std::unique_ptr<HttpConnection> HttpConnection::Open(const HttpEndpoint& endpoint,
                                                     asio::ssl::context* tls,
                                                     Clock::time_point connect_until,
                                                     Clock::time_point deadline, Failure* failure) {
  const Clock::time_point start = Clock::now();
  const auto fail = [failure](engine::Status status, bool transient) {
    *failure = Failure{std::move(status), transient, false};
    return nullptr;
  };
  // Running out of connect_timeout_ms is worth another try; running out of the deadline is not.
  const auto timed_out = [&](const std::string& step) {
    if (connect_until >= deadline) {
      return fail(engine::Status::DeadlineExceeded(step + ": deadline exceeded"), false);
    }
    return fail(
        engine::Status::Unavailable(step + ": timed out after " + Millis(Clock::now() - start)),
        true);
  };

  std::vector<tcp::endpoint> endpoints;
  beast::error_code ec;
  if (!Resolve(endpoint.host, endpoint.port, connect_until, &endpoints, &ec)) {
    return timed_out("resolve " + endpoint.host);
  }
  // A name that does not resolve now may resolve soon (a container starting, DNS flapping).
  if (ec)
    return fail(engine::Status::Unavailable("resolve " + endpoint.host + ": " + ec.message()),
                true);

  std::unique_ptr<HttpConnection> connection(new HttpConnection(tls));
  beast::tcp_stream& stream = connection->Tcp();
  ExpireAt(stream, connect_until);
  stream.async_connect(endpoints, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
  connection->Run();
  if (ec == beast::error::timeout) return timed_out("connect");
  // Nothing was sent: any failure to connect is worth another try.
  if (ec) return fail(engine::Status::Unavailable("connect: " + ec.message()), true);
  stream.socket().set_option(tcp::no_delay(true), ec);

  if (tls != nullptr) {
    SSL* ssl = connection->tls_stream_->native_handle();
    if (!SetPeerName(ssl, endpoint.host)) {
      return fail(engine::Status::Unavailable("tls: cannot set the peer name to verify"), false);
    }
    connection->tls_stream_->async_handshake(asio::ssl::stream_base::client,
                                             [&ec](beast::error_code e) { ec = e; });
    connection->Run();
    if (ec == beast::error::timeout) return timed_out("tls handshake");
    if (ec) {
      std::string cause = "tls handshake: " + ec.message();
      const long verified = SSL_get_verify_result(ssl);
      if (verified != X509_V_OK) {
        cause += std::string(" (") + X509_verify_cert_error_string(verified) + ")";
      }
      return fail(engine::Status::Unavailable(std::move(cause)),
                  verified == X509_V_OK && IsTransient(ec));
    }
  }
  return connection;
}

bool HttpConnection::RoundTrip(const Request& request, uint64_t max_body_bytes,
                               Clock::time_point deadline, Response* response, Failure* failure) {
  reusable_ = false;
  ExpireAt(Tcp(), deadline);
  beast::error_code ec;
  const auto on_done = [&ec](beast::error_code e, size_t) { ec = e; };
  const auto send = [&](auto& stream) {
    http::async_write(stream, request, on_done);
    Run();
  };
  if (tls_stream_) {
    send(*tls_stream_);
  } else {
    send(*plain_);
  }
  if (ec == beast::error::timeout) {
    *failure = Failure{engine::Status::DeadlineExceeded("sending the request: deadline exceeded"),
                       false, false};
    return false;
  }
  if (ec) {
    *failure = Failure{engine::Status::Unavailable("sending the request: " + ec.message()),
                       IsTransient(ec), true};
    return false;
  }

  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(max_body_bytes);
  // The header first, then the body: Beast 1.74's async_read parses eagerly, and an eager parse
  // that gets the header and body bytes in one go drops the body_limit error of a Content-Length
  // over the limit, then reads the whole body anyway. Reading the header alone reports it.
  const auto receive = [&](auto& stream) {
    http::async_read_header(stream, buffer_, parser, on_done);
    Run();
    if (ec) return;
    http::async_read(stream, buffer_, parser, on_done);
    Run();
  };
  if (tls_stream_) {
    receive(*tls_stream_);
  } else {
    receive(*plain_);
  }
  if (ec == beast::error::timeout) {
    *failure =
        Failure{engine::Status::DeadlineExceeded("waiting for the response: deadline exceeded"),
                false, false};
    return false;
  }
  if (ec == http::error::body_limit) {
    *failure = Failure{
        engine::Status::Unavailable("response too large: the body is over " +
                                    std::to_string(max_body_bytes) + " bytes (max_response_bytes)"),
        false, false, false};
    return false;
  }
  if (ec == http::error::header_limit) {
    *failure = Failure{engine::Status::Unavailable("response too large: the header is over " +
                                                   std::to_string(kMaxHeaderBytes) + " bytes"),
                       false, false, false};
    return false;
  }
  if (ec) {
    const bool received = parser.got_some() || buffer_.size() > 0;
    *failure = Failure{engine::Status::Unavailable("reading the response: " + ec.message()),
                       IsTransient(ec), !received};
    return false;
  }
  *response = parser.release();
  reusable_ = response->keep_alive() && buffer_.size() == 0;
  return true;
}

bool HttpConnection::LooksOpen() {
  if (buffer_.size() > 0) return false;
  tcp::socket& socket = Tcp().socket();
  if (!socket.is_open()) return false;
  // POLLRDHUP: the server's FIN. Any readable byte on an idle connection is as bad.
  pollfd descriptor{socket.native_handle(), POLLIN | POLLRDHUP, 0};
  return ::poll(&descriptor, 1, 0) == 0;
}

}  // namespace vecmesh::adapters
