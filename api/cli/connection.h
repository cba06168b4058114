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

  // `points`: an array of API.md's points ({"id", "vector", "payload"}). {"upserted": n}, and
  // "stores" when the collection has a remote backend.
  virtual Reply Upsert(const std::string& collection, const nlohmann::json& points) = 0;
  // The same points as an import job: {"job_id": "..."}.
  virtual Reply SubmitImport(const std::string& collection, const nlohmann::json& points) = 0;
  // {"job_id", "collection", "state", "points", "error"}
  virtual Reply GetJob(const std::string& job_id) = 0;
  // `request` is POST .../search's body. {"results": [...]}, and "stores" when the answer says
  // how each store did.
  virtual Reply Search(const std::string& collection, const nlohmann::json& request) = 0;

  // {"snapshot": NAME, "size": bytes}
  virtual Reply CreateSnapshot(const std::string& collection) = 0;
  // {"snapshots": [{"snapshot", "size"}, ...]}
  virtual Reply ListSnapshots(const std::string& collection) = 0;
  // {"restored": true}
  virtual Reply RestoreSnapshot(const std::string& collection, const std::string& snapshot) = 0;
  // Restores the collection from a snapshot file's bytes. {"restored": true}
  virtual Reply UploadSnapshot(const std::string& collection, const std::string& file) = 0;
  // A snapshot's bytes into *file: {"snapshot", "size"}. REST only: gRPC has no such call, and
  // refuses it as UNIMPLEMENTED naming the way that works.
  virtual Reply DownloadSnapshot(const std::string& collection, const std::string& snapshot,
                                 std::string* file) = 0;
};

}  // namespace vecmesh::cli
