#include "http_test_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace vecmesh::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct TestHttpServer::Impl {
  explicit Impl(Script script) : script(std::move(script)) {}

  void Accept();
  void Serve(tcp::socket& socket, int connection);
  template <typename Stream>
  void Exchange(Stream& stream, int connection);

  asio::io_context io;  // owns the sockets; the blocking calls on them never run it
  tcp::acceptor acceptor{io};
  std::optional<asio::ssl::context> tls;
  std::atomic<bool> stopping{false};
  std::atomic<int> connections{0};
  std::atomic<int> requests{0};

  std::mutex mu;                    // guards the fields below
  std::condition_variable stop_cv;  // wakes scripted delays when stopping
  Script script;
  std::vector<Request> seen;
  std::list<tcp::socket> sockets;  // every accepted one, closed on destruction
  std::list<std::thread> threads;  // one per connection
  std::thread acceptor_thread;
};

TestHttpServer::TestHttpServer(Script script, const Tls* tls)
    : impl_(std::make_unique<Impl>(std::move(script))) {
  if (tls != nullptr) {
    impl_->tls.emplace(asio::ssl::context::tls_server);
    impl_->tls->use_certificate_chain(asio::buffer(tls->cert_pem));
    impl_->tls->use_private_key(asio::buffer(tls->key_pem), asio::ssl::context::pem);
  }
  const tcp::endpoint loopback(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(loopback.protocol());
  impl_->acceptor.bind(loopback);
  impl_->acceptor.listen();
  impl_->acceptor_thread = std::thread([this] { impl_->Accept(); });
}

TestHttpServer::~TestHttpServer() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->stop_cv.notify_all();
    // shutdown(2) wakes a thread blocked in accept or read on the descriptor; closing it under
    // that thread's feet would not.
    ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
    for (tcp::socket& socket : impl_->sockets) ::shutdown(socket.native_handle(), SHUT_RDWR);
  }
  impl_->acceptor_thread.join();
  // No new threads once the acceptor thread is gone.
  for (std::thread& thread : impl_->threads) thread.join();
}

void TestHttpServer::Impl::Accept() {
  for (int connection = 0;; ++connection) {
    tcp::socket socket(io);
    beast::error_code ec;
    acceptor.accept(socket, ec);
    if (ec || stopping) return;
    ++connections;
    std::lock_guard lock(mu);
    if (stopping) return;
    tcp::socket& kept = sockets.emplace_back(std::move(socket));
    threads.emplace_back([this, &kept, connection] { Serve(kept, connection); });
  }
}

void TestHttpServer::Impl::Serve(tcp::socket& socket, int connection) {
  if (tls) {
    beast::ssl_stream<tcp::socket&> stream(socket, *tls);
    beast::error_code ec;
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (!ec) Exchange(stream, connection);
  } else {
    Exchange(socket, connection);
  }
  // A FIN to the client; the descriptor stays open until the server goes.
  ::shutdown(socket.native_handle(), SHUT_RDWR);
}

template <typename Stream>
void TestHttpServer::Impl::Exchange(Stream& stream, int connection) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> wire;
    beast::error_code ec;
    http::read(stream, buffer, wire, ec);
    if (ec) return;
    Request request;
    request.method = std::string(wire.method_string());
    request.target = std::string(wire.target());
    for (const auto& field : wire) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers[name] = std::string(field.value());
    }
    request.body = wire.body();
    request.connection = connection;
    Script current;
    int index = 0;
    {
      std::lock_guard lock(mu);
      seen.push_back(request);
      current = script;
      index = requests++;
    }
    const Reply reply = current(request, index);
    if (reply.delay.count() > 0) {
      std::unique_lock lock(mu);
      if (stop_cv.wait_for(lock, reply.delay, [this] { return stopping.load(); })) return;
    }
    if (reply.drop) return;
    http::response<http::string_body> response(static_cast<http::status>(reply.status), 11);
    for (const auto& [name, value] : reply.headers) response.set(name, value);
    response.body() = reply.body;
    response.keep_alive(!reply.close);
    if (reply.chunked) {
      response.chunked(true);
    } else {
      response.prepare_payload();
    }
    http::write(stream, response, ec);
    if (ec || reply.close || reply.close_silently) return;
  }
}

uint16_t TestHttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string TestHttpServer::url() const {
  return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}

void TestHttpServer::SetScript(Script script) {
  std::lock_guard lock(impl_->mu);
  impl_->script = std::move(script);
}

int TestHttpServer::connections() const { return impl_->connections.load(); }
int TestHttpServer::requests() const { return impl_->requests.load(); }

std::vector<TestHttpServer::Request> TestHttpServer::seen() const {
  std::lock_guard lock(impl_->mu);
  return impl_->seen;
}

TestHttpServer::Tls TestHttpServer::MakeSelfSignedCert() {
  // Each OpenSSL object is freed by its unique_ptr, whatever returns or throws.
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  const std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) throw std::runtime_error("cannot make a key or a certificate");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("vecmesh test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    if (extension == nullptr) throw std::runtime_error("cannot make a certificate extension");
    X509_add_ext(cert.get(), extension, -1);
    X509_EXTENSION_free(extension);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    throw std::runtime_error("cannot sign the certificate");
  }
  const auto pem = [](auto write) {
    const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(size));
  };
  Tls tls;
  tls.cert_pem = pem([&](BIO* bio) { PEM_write_bio_X509(bio, cert.get()); });
  tls.key_pem = pem([&](BIO* bio) {
    PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  return tls;
}

uint16_t ClosedPort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, {boost::asio::ip::make_address("127.0.0.1"), uint16_t{0}});
  return acceptor.local_endpoint().port();
}

}  // namespace vecmesh::testing
