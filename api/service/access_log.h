// The access log: one JSON line per request, REST or gRPC, on the daemon's log (log.h): its
// request id, transport, route or RPC, status, latency and bytes. On by default; vecmeshd's
// --access-log false turns it off.
//
// Thread safety: Write is safe from any thread (each line is written whole).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vecmesh::api {

struct AccessEntry {
  std::string_view transport;   // "rest" or "grpc"
  std::string_view request_id;  // REST: X-Request-Id; gRPC: x-request-id metadata, or made
  std::string_view route;       // the operation (as its gRPC method), a route, or "unmatched"
  int status = 0;               // REST: the HTTP status; gRPC: the numeric status code
  std::string_view code;        // the canonical code name: "OK", "INVALID_ARGUMENT", ...
  double seconds = 0;           // from the request's arrival to its answer
  size_t bytes_in = 0;          // request body (REST) or message (gRPC)
  size_t bytes_out = 0;         // response body or message
};

// The request id of a call: the client's (X-Request-Id, or x-request-id metadata) if it is short
// and printable, otherwise one made for it.
std::string RequestIdOf(std::string_view given);

class AccessLog {
 public:
  explicit AccessLog(bool enabled) : enabled_(enabled) {}
  // Whether Write writes: callers skip measuring what would not be written.
  bool enabled() const { return enabled_; }
  void Write(const AccessEntry& entry) const;

 private:
  const bool enabled_;
};

}  // namespace vecmesh::api
