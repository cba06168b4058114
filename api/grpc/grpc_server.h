// The gRPC transport: vecmesh.v1.VectorStore over the service layer, plus grpc.health.v1.Health
// and server reflection. Handlers run on the callback API's threads only long enough to check the
// key and hand the call to the worker pool (a full pool answers RESOURCE_EXHAUSTED at once); the
// worker decodes, calls the service and finishes the call.
//
// Thread safety: Start, SetServing and Stop from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "api/service/access_log.h"
#include "api/service/metrics.h"
#include "api/service/service.h"
#include "api/service/worker_pool.h"

namespace vecmesh::api {

struct GrpcServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 50051;  // 0: any free port (see GrpcServer::port)
  size_t max_message_bytes = 32u << 20;
  // Both set: TLS only, from PEM files.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class GrpcServer {
 public:
  GrpcServer(Service& service, Metrics& metrics, const AccessLog& access_log, WorkerPool& pool,
             GrpcServerOptions options);
  ~GrpcServer();

  engine::Status Start();
  uint16_t port() const { return port_; }
  // What grpc.health.v1.Health answers (NOT_SERVING while recovering and shutting down).
  void SetServing(bool serving);
  // Stops accepting and cancels what is still running after `grace`.
  void Stop(std::chrono::milliseconds grace);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace vecmesh::api
