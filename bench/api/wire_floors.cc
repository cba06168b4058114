#include "bench/api/wire_floors.h"

#include <grpcpp/grpcpp.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>

#include "vecmesh/v1/vector_store.grpc.pb.h"

namespace vecmesh::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// ---- gRPC

class GrpcFloor::Impl final : public v1::VectorStore::CallbackService {
 public:
  // Answered on gRPC's own thread, at once: the request has been decoded, the answer is empty.
  grpc::ServerUnaryReactor* GetCollection(grpc::CallbackServerContext* context,
                                          const v1::GetCollectionRequest*,
                                          v1::CollectionInfo*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  std::unique_ptr<grpc::Server> server_;
};

GrpcFloor::GrpcFloor() : impl_(std::make_unique<Impl>()) {}
GrpcFloor::~GrpcFloor() { Stop(); }

bool GrpcFloor::Start() {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(impl_.get());
  impl_->server_ = builder.BuildAndStart();
  if (!impl_->server_ || port == 0) return false;
  port_ = static_cast<uint16_t>(port);
  return true;
}

void GrpcFloor::Stop() {
  if (!impl_->server_) return;
  impl_->server_->Shutdown(std::chrono::system_clock::now());
  impl_->server_->Wait();
  impl_->server_.reset();
}

// ---- REST

class RestFloor::Impl {
 public:
  Impl(std::string body, std::string content_type)
      : body_(std::move(body)),
        content_type_(std::move(content_type)),
        acceptor_(asio::make_strand(io_)) {}

  // In the order that makes destruction safe: destroying io_ destroys the sessions its pending
  // handlers hold, which read body_ and content_type_.
  const std::string body_;
  const std::string content_type_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;

  void Accept();
};

namespace {

// One keep-alive connection: read a request, answer the fixed body, read the next.
class FloorSession : public std::enable_shared_from_this<FloorSession> {
 public:
  FloorSession(const RestFloor::Impl& floor, tcp::socket socket)
      : floor_(floor), stream_(std::move(socket)) {}

  void Read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->Answer();
                     });
  }

 private:
  void Answer() {
    response_ = {};
    response_.result(http::status::ok);
    response_.version(11);
    response_.set(http::field::content_type, floor_.content_type_);
    response_.keep_alive(request_.keep_alive());
    response_.body() = floor_.body_;
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec || !self->response_.keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  const RestFloor::Impl& floor_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

}  // namespace

void RestFloor::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) return;  // closed by Stop
    std::make_shared<FloorSession>(*this, std::move(socket))->Read();
    Accept();
  });
}

RestFloor::RestFloor(std::string body, std::string content_type)
    : impl_(std::make_unique<Impl>(std::move(body), std::move(content_type))) {}
RestFloor::~RestFloor() { Stop(); }

bool RestFloor::Start() {
  Impl& s = *impl_;
  beast::error_code ec;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  s.acceptor_.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor_.bind(endpoint, ec);
  if (!ec) s.acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return false;
  port_ = s.acceptor_.local_endpoint().port();
  s.Accept();
  s.thread_ = std::thread([&s] { s.io_.run(); });
  return true;
}

void RestFloor::Stop() {
  Impl& s = *impl_;
  if (!s.thread_.joinable()) return;
  s.io_.stop();
  s.thread_.join();
}

}  // namespace vecmesh::bench
