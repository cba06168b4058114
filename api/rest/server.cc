#include "api/rest/server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <random>

namespace vecmesh::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// What one read of a request can take (a connection keeps this much room): see Session.
constexpr size_t kReadBufferBytes = 16 << 10;

std::optional<std::string> ApiKeyOf(const http::fields& headers) {
  if (auto it = headers.find("api-key"); it != headers.end()) return std::string(it->value());
  if (auto it = headers.find(http::field::authorization); it != headers.end()) {
    const std::string value(it->value());
    // The scheme is case-insensitive (RFC 9110).
    if (value.size() > 7 && beast::iequals(value.substr(0, 7), "bearer ")) return value.substr(7);
  }
  return std::nullopt;
}

}  // namespace

class RestServer::Impl {
 public:
  Impl(const RestApi& api, WorkerPool& pool, RestServerOptions options)
      : api_(api),
        pool_(pool),
        options_(std::move(options)),
        acceptor_(asio::make_strand(io_)),
        retry_timer_(acceptor_.get_executor()) {}

  // Declared in the order that makes destruction safe: io_ goes after the acceptor and timer
  // bound to it, and destroying io_ destroys the sessions its pending handlers hold, which use
  // tls_ and the counters above it.
  const RestApi& api_;
  WorkerPool& pool_;
  const RestServerOptions options_;
  std::optional<asio::ssl::context> tls_;  // set when options_ name a certificate
  std::atomic<int> in_flight_{0};          // requests read and not yet answered
  std::atomic<size_t> connections_{0};
  std::atomic<bool> stopping_{false};
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;  // after a failed accept (out of file descriptors)
  std::vector<std::thread> threads_;

  void Accept();
};

namespace {

// One connection. Stream is beast::tcp_stream, or beast::ssl_stream over one for TLS.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <typename... StreamArgs>
  Session(RestServer::Impl& server, StreamArgs&&... args)
      : stream_(std::forward<StreamArgs>(args)...), server_(server) {
    ++server_.connections_;
    // Beast reads as much as the buffer has room for, and at least 512 bytes: without room a
    // large body (an upsert of 500 points is about 1 MB) comes in 512-byte reads, a system call
    // and a timer update each.
    buffer_.reserve(kReadBufferBytes);
  }
  ~Session() { --server_.connections_; }

  void Start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      ReadHeader();
    } else {
      Lowest().expires_after(server_.options_.read_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();  // not TLS, or a bad handshake
                                self->ReadHeader();
                              });
    }
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(server_.options_.max_upload_bytes);  // narrowed once the route is known
    Lowest().expires_after(server_.options_.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return Close();  // timeout, client gone, or a malformed header
    Begin();
    const auto& header = parser_->get();
    request_.arrival = std::chrono::steady_clock::now();
    request_.method = std::string(header.method_string());
    request_.target = std::string(header.target());
    request_.api_key = ApiKeyOf(header);
    request_.request_id = RequestIdOf(std::string(header["X-Request-Id"]));
    keep_alive_ = header.keep_alive();
    const bool upload = request_.method == "PUT" && request_.target.ends_with("/snapshots/upload");
    limit_ = upload ? server_.options_.max_upload_bytes : server_.options_.max_body_bytes;
    parser_->body_limit(limit_);
    // Keys are checked before the body is read: without a valid key, nobody can make the server
    // buffer a body. The body stays unread, so the connection closes after the answer.
    if (auto refused = server_.api_.RefuseEarly(request_)) {
      keep_alive_ = false;
      return Answer(std::move(*refused));
    }
    if (parser_->content_length() && *parser_->content_length() > limit_) {
      // Refused from the header alone; the body is never read, so the connection must close.
      keep_alive_ = false;
      return Answer(server_.api_.TooLarge(request_, limit_));
    }
    Lowest().expires_after(server_.options_.read_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return Answer(server_.api_.TooLarge(request_, limit_));
    }
    if (ec) return Close();
    request_.body = std::move(parser_->get().body());
    if (server_.api_.IsLight(request_)) return Answer(server_.api_.Handle(request_));
    auto self = this->shared_from_this();
    const bool taken = server_.pool_.TrySubmit([self] {
      HttpResponse response = self->server_.api_.Handle(self->request_);
      asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->Answer(std::move(response));
      });
    });
    if (!taken) Answer(server_.api_.Overloaded(request_));
  }

  // A request is in flight from its header until its answer is written (or the connection
  // drops): Stop waits for those.
  void Begin() {
    ++server_.in_flight_;
    in_flight_ = true;
  }
  void End() {
    if (in_flight_) --server_.in_flight_;
    in_flight_ = false;
  }

  void Answer(HttpResponse response) {
    if (server_.stopping_) keep_alive_ = false;
    if (!response.file.empty()) {
      http::file_body::value_type file;
      beast::error_code ec;
      file.open(response.file.c_str(), beast::file_mode::scan, ec);
      if (!ec) {
        auto message = std::make_shared<http::response<http::file_body>>(
            std::piecewise_construct, std::make_tuple(std::move(file)),
            std::make_tuple(http::status::ok, 11));
        return Write(std::move(message), response);
      }
      response =
          HttpResponse{404, "NOT_FOUND", "application/json",
                       R"({"error":{"code":"NOT_FOUND","message":"the snapshot is gone"}})", ""};
    }
    auto message = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), 11);
    message->body() = std::move(response.body);
    Write(std::move(message), response);
  }

  template <typename Message>
  void Write(std::shared_ptr<Message> message, const HttpResponse& response) {
    message->set(http::field::content_type, response.content_type);
    message->set("X-Request-Id", request_.request_id);
    message->set(http::field::server, "vecmeshd");
    message->keep_alive(keep_alive_);
    message->prepare_payload();
    Lowest().expires_after(server_.options_.read_timeout);
    http::async_write(stream_, *message,
                      [self = this->shared_from_this(), message](beast::error_code ec, size_t) {
                        self->End();
                        if (ec || !self->keep_alive_) return self->Close();
                        self->request_ = {};
                        self->ReadHeader();
                      });
  }

  void Close() {
    End();
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    Lowest().socket().close(ec);
  }

  Stream stream_;
  RestServer::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
  size_t limit_ = 0;
  bool keep_alive_ = true;
  bool in_flight_ = false;
};

}  // namespace

void RestServer::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping_) return;
    if (ec) {
      // Out of file descriptors, say: try again shortly rather than spin.
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([this](beast::error_code) {
        if (!stopping_) Accept();
      });
      return;
    }
    if (connections_ >= options_.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);  // over the limit: refused at once
    } else if (tls_) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(*this, std::move(socket),
                                                                      *tls_)
          ->Start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(*this, std::move(socket))->Start();
    }
    Accept();
  });
}

RestServer::RestServer(const RestApi& api, WorkerPool& pool, RestServerOptions options)
    : impl_(std::make_unique<Impl>(api, pool, std::move(options))) {}

RestServer::~RestServer() { Stop(std::chrono::milliseconds(0)); }

engine::Status RestServer::Start() {
  Impl& s = *impl_;
  beast::error_code ec;
  if (!s.options_.tls_cert_file.empty()) {
    s.tls_.emplace(asio::ssl::context::tls_server);
    s.tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
    s.tls_->use_certificate_chain_file(s.options_.tls_cert_file, ec);
    if (!ec) s.tls_->use_private_key_file(s.options_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return engine::Status::InvalidArgument("TLS certificate " + s.options_.tls_cert_file +
                                             " or key " + s.options_.tls_key_file +
                                             " cannot be used: " + ec.message());
    }
  }
  const auto address = asio::ip::make_address(s.options_.host, ec);
  if (ec)
    return engine::Status::InvalidArgument("host '" + s.options_.host + "' is not an address");
  const tcp::endpoint endpoint(address, s.options_.port);
  s.acceptor_.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor_.bind(endpoint, ec);
  if (!ec) s.acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return engine::Status::Unavailable("REST cannot listen on " + s.options_.host + ":" +
                                       std::to_string(s.options_.port) + ": " + ec.message());
  }
  port_ = s.acceptor_.local_endpoint().port();
  s.Accept();
  for (int i = 0; i < std::max(1, s.options_.io_threads); ++i) {
    s.threads_.emplace_back([&s] { s.io_.run(); });
  }
  return engine::Status::Ok();
}

void RestServer::Stop(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  if (s.threads_.empty()) return;
  s.stopping_ = true;
  asio::post(s.acceptor_.get_executor(), [&s] {  // the acceptor's strand
    beast::error_code ec;
    s.acceptor_.close(ec);
    s.retry_timer_.cancel();
  });
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (s.in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.io_.stop();
  for (auto& t : s.threads_) t.join();
  s.threads_.clear();
}

}  // namespace vecmesh::api
