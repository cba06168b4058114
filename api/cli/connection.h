// Connection: one vecmeshd as the vecmesh command line talks to it, over gRPC (the default) or
// REST. Every call answers in API.md's JSON forms whichever the transport, so that the commands
// print one thing; what each transport sends is its own (rest_connection.cc, grpc_connection.cc).
//
// Thread safety: one thread at a time.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/status.h"

namespace vecmesh::cli {

// How a call ended: answered, refused by the server (its code and message), or no answer at all
// (the server could not be reached, or did not answer in time).
struct Reply {
  enum class Outcome { kOk, kRefused, kUnreachable };
  Outcome outcome = Outcome::kOk;
  // kOk: the answer, in API.md's JSON form; kRefused: a report that came with the refusal
  // (an unhealthy server's health), else null.
  nlohmann::json body;
  std::string code;     // kRefused: gRPC's canonical name (INVALID_ARGUMENT, NOT_FOUND, ...)
  std::string message;  // kRefused, kUnreachable: why, in the server's or the transport's words

  static Reply Ok(nlohmann::json body) { return {Outcome::kOk, std::move(body), "", ""}; }
  static Reply Refused(std::string code, std::string message) {
    return {Outcome::kRefused, nullptr, std::move(code), std::move(message)};
  }
  static Reply Unreachable(std::string message) {
    return {Outcome::kUnreachable, nullptr, "", std::move(message)};
  }
};

struct ConnectionOptions {
  // grpc://HOST:PORT or grpcs://HOST:PORT (gRPC, TLS with grpcs), http://HOST:PORT or
  // https://HOST:PORT (REST).
  std::string url;
  std::string api_key;     // sent as `api-key` (header or metadata) when not empty
  std::string ca_file;     // TLS: a PEM file of trusted CAs; empty: the system's
  int timeout_ms = 30000;  // the deadline of each call
};

class Connection {
 public:
  virtual ~Connection() = default;

  // A connection to `options.url` (nothing is sent yet). InvalidArgument naming the URL when it
  // is not one of the four forms.
  static engine::StatusOr<std::unique_ptr<Connection>> Open(const ConnectionOptions& options);

  // REST: GET /health/deep's answer. gRPC: grpc.health.v1's, as {"status": "serving"} or
  // "not_serving".
  virtual Reply Health() = 0;
  // {"collections": [INFO, ...]}
  virtual Reply ListCollections() = 0;
  // INFO
  virtual Reply GetCollection(const std::string& name) = 0;
  // `config` is PUT /v1/collections/{name}'s body. {"created": bool, "collection": INFO}, and
  // "stores" when the collection has a remote backend.
  virtual Reply CreateCollection(const std::string& name, const nlohmann::json& config) = 0;
  // {"deleted": true}, and "stores" when the collection had a remote backend.
  virtual Reply DropCollection(const std::string& name) = 0;
};

}  // namespace vecmesh::cli
