// The wire's floors for bench/api: the least each framework does to answer a call, beside which
// vecmeshd's own no-search call is measured with the same clients.
//   GrpcFloor  a gRPC callback server (the API vecmeshd's api/grpc uses) for vecmesh.v1's
//              GetCollection, answering an empty CollectionInfo on gRPC's own thread: it decodes
//              the request and answers, nothing else. The bench's GetCollection stub calls it
//              unchanged.
//   RestFloor  a Boost.Beast HTTP/1.1 server on one I/O thread (as vecmeshd's REST runs by
//              default), keep-alive, a strand per connection and a read deadline, as Beast's
//              own async server example; every request is answered with one fixed body.
// Both listen on 127.0.0.1, any free port.
//
// Thread safety: Start and Stop from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace vecmesh::bench {

class GrpcFloor {
 public:
  GrpcFloor();
  ~GrpcFloor();
  bool Start();
  uint16_t port() const { return port_; }
  void Stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

class RestFloor {
 public:
  // Every answer is 200 with `body` as `content_type`.
  RestFloor(std::string body, std::string content_type);
  ~RestFloor();
  bool Start();
  uint16_t port() const { return port_; }
  void Stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace vecmesh::bench
