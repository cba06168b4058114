// The REST server on Boost.Beast: HTTP/1.1 with keep-alive, one session object per connection,
// I/O on a small set of threads that only read and write. Each request goes to the worker pool
// (a full pool answers 429 at once); its answer is written back on the connection's executor.
// The body limit is enforced while reading (413 before the body is buffered), reads have a
// deadline, and idle keep-alive connections are closed after a timeout.
//
// Thread safety: Start and Stop from one thread; everything else runs inside the server.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/rest/rest_api.h"
#include "api/service/worker_pool.h"

namespace vecmesh::api {

struct RestServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: any free port (see RestServer::port)
  int io_threads = 1;
  size_t max_body_bytes = 32u << 20;
  size_t max_upload_bytes = 1u << 30;  // PUT .../snapshots/upload
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds idle_timeout{60};
  size_t max_connections = 1024;  // connections beyond are closed as they are accepted
  // Both set: HTTPS only (TLS 1.2 and later), from PEM files.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class RestServer {
 public:
  RestServer(const RestApi& api, WorkerPool& pool, RestServerOptions options);
  ~RestServer();

  // Binds and starts serving. UNAVAILABLE naming the address if it cannot bind.
  engine::Status Start();
  uint16_t port() const { return port_; }
  // Stops accepting, lets requests in flight finish for up to `grace`, then closes everything.
  void Stop(std::chrono::milliseconds grace);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace vecmesh::api
