// The vecmesh command line's connection over REST (API.md's paths, on the adapters' HTTP client:
// keep-alive, TLS, deadlines, retries of idempotent calls on transient failures).
#pragma once

#include <memory>

#include "adapters/http/http_client.h"
#include "api/cli/connection.h"

namespace vecmesh::cli {

class RestConnection : public Connection {
 public:
  RestConnection(adapters::HttpEndpoint endpoint, const ConnectionOptions& options);

  Reply Health() override;
  Reply ListCollections() override;
  Reply GetCollection(const std::string& name) override;
  Reply CreateCollection(const std::string& name, const nlohmann::json& config) override;
  Reply DropCollection(const std::string& name) override;

 private:
  // The answer to `method target` with `body` (JSON, or none), with its HTTP status in *status.
  Reply Call(adapters::HttpMethod method, const std::string& target, const nlohmann::json* body,
             int* status = nullptr);

  adapters::HttpClient http_;
  const std::string api_key_;
  const int timeout_ms_;
};

}  // namespace vecmesh::cli
