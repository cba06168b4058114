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
  Reply Upsert(const std::string& collection, const nlohmann::json& points) override;
  Reply SubmitImport(const std::string& collection, const nlohmann::json& points) override;
  Reply GetJob(const std::string& job_id) override;
  Reply Search(const std::string& collection, const nlohmann::json& request) override;
  Reply CreateSnapshot(const std::string& collection) override;
  Reply ListSnapshots(const std::string& collection) override;
  Reply RestoreSnapshot(const std::string& collection, const std::string& snapshot) override;
  Reply UploadSnapshot(const std::string& collection, const std::string& file) override;
  Reply DownloadSnapshot(const std::string& collection, const std::string& snapshot,
                         std::string* file) override;

 private:
  // Sends `request` with the key. Ok (its body null) with the answer in *response when the
  // status is below 400; else the refusal (the error's code and message) or why none came.
  Reply Exchange(adapters::HttpRequest request, adapters::HttpResponse* response);
  // The JSON answer to `method target` with `body` (JSON, or none), its HTTP status in *status.
  Reply Call(adapters::HttpMethod method, const std::string& target, const nlohmann::json* body,
             int* status = nullptr);

  adapters::HttpClient http_;
  const std::string api_key_;
  const int timeout_ms_;
};

}  // namespace vecmesh::cli
