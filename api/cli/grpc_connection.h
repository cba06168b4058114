// The vecmesh command line's connection over gRPC (vecmesh.v1.VectorStore, and gRPC's health
// protocol for Health), its answers turned into API.md's JSON forms.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "api/cli/connection.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "vecmesh/v1/vector_store.grpc.pb.h"

namespace vecmesh::cli {

class GrpcConnection : public Connection {
 public:
  // `target` is HOST:PORT; `tls` from a grpcs:// URL.
  GrpcConnection(const std::string& target, bool tls, const ConnectionOptions& options);

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
  // A context with the call's deadline and key.
  std::unique_ptr<grpc::ClientContext> Context() const;
  // The reply for a call that ended with `status`: Ok(`body()`) when it is OK.
  template <typename Body>
  Reply Finish(const grpc::Status& status, Body body) const;

  const std::string target_;
  const ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::VectorStore::Stub> store_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace vecmesh::cli
