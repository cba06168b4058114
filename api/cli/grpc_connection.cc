#include "api/cli/grpc_connection.h"

#include <array>
#include <chrono>
#include <fstream>
#include <sstream>

namespace vecmesh::cli {
namespace {

using nlohmann::json;

// gRPC's canonical code names, by value (OK is 0, UNAUTHENTICATED 16).
std::string CodeName(grpc::StatusCode code) {
  static constexpr std::array<const char*, 17> kNames = {"OK",
                                                         "CANCELLED",
                                                         "UNKNOWN",
                                                         "INVALID_ARGUMENT",
                                                         "DEADLINE_EXCEEDED",
                                                         "NOT_FOUND",
                                                         "ALREADY_EXISTS",
                                                         "PERMISSION_DENIED",
                                                         "RESOURCE_EXHAUSTED",
                                                         "FAILED_PRECONDITION",
                                                         "ABORTED",
                                                         "OUT_OF_RANGE",
                                                         "UNIMPLEMENTED",
                                                         "INTERNAL",
                                                         "UNAVAILABLE",
                                                         "DATA_LOSS",
                                                         "UNAUTHENTICATED"};
  const auto index = static_cast<size_t>(code);
  return index < kNames.size() ? kNames[index] : "CODE_" + std::to_string(index);
}

json IndexToJson(const v1::IndexConfig& index) {
  json out = {{"type", index.type()}};
  if (index.has_m()) out["m"] = index.m();
  if (index.has_ef_construction()) out["ef_construction"] = index.ef_construction();
  if (index.has_ef_search()) out["ef_search"] = index.ef_search();
  if (index.has_nlist()) out["nlist"] = index.nlist();
  if (index.has_nprobe()) out["nprobe"] = index.nprobe();
  if (index.has_nbits()) out["nbits"] = index.nbits();
  return out;
}

json StoresToJson(const google::protobuf::Map<std::string, v1::StoreState>& stores) {
  json out = json::object();
  for (const auto& [name, state] : stores) {
    out[name] = {{"status", state.status()}, {"pending", state.pending()}};
    if (!state.message().empty()) out[name]["message"] = state.message();
  }
  return out;
}

// INFO of API.md, as GET /v1/collections/{name} gives it.
json CollectionToJson(const v1::CollectionInfo& info) {
  json out = {
      {"name", info.name()},
      {"dimension", info.dimension()},
      {"metric", info.metric()},
      {"index", IndexToJson(info.index())},
      {"backends", json(std::vector<std::string>(info.backends().begin(), info.backends().end()))},
      {"points", info.points()},
      {"indexed_points", info.indexed_points()},
      {"status", info.status()}};
  if (!info.stores().empty()) out["stores"] = StoresToJson(info.stores());
  return out;
}

// PUT /v1/collections/{name}'s body as the request: the fields the command line sets.
v1::CreateCollectionRequest CreateRequest(const std::string& name, const json& config) {
  v1::CreateCollectionRequest request;
  request.set_name(name);
  request.set_dimension(config.value("dimension", 0u));
  if (config.contains("metric")) request.set_metric(config["metric"].get<std::string>());
  if (config.contains("index")) {
    const json& index = config["index"];
    v1::IndexConfig* out = request.mutable_index();
    out->set_type(index.value("type", ""));
    if (index.contains("m")) out->set_m(index["m"].get<int32_t>());
    if (index.contains("ef_construction")) {
      out->set_ef_construction(index["ef_construction"].get<int32_t>());
    }
    if (index.contains("ef_search")) out->set_ef_search(index["ef_search"].get<int32_t>());
    if (index.contains("nlist")) out->set_nlist(index["nlist"].get<int32_t>());
    if (index.contains("nprobe")) out->set_nprobe(index["nprobe"].get<int32_t>());
    if (index.contains("nbits")) out->set_nbits(index["nbits"].get<int32_t>());
  }
  for (const json& backend : config.value("backends", json::array())) {
    request.add_backends(backend.get<std::string>());
  }
  return request;
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(bool tls, const std::string& ca_file) {
  if (!tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!ca_file.empty()) {
    std::ifstream in(ca_file);
    std::stringstream pem;
    pem << in.rdbuf();
    ssl.pem_root_certs = pem.str();  // unreadable: empty, and the handshake says so
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

GrpcConnection::GrpcConnection(const std::string& target, bool tls,
                               const ConnectionOptions& options)
    : target_(target),
      options_(options),
      channel_(grpc::CreateChannel(target, Credentials(tls, options.ca_file))),
      store_(v1::VectorStore::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> GrpcConnection::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(options_.timeout_ms));
  if (!options_.api_key.empty()) context->AddMetadata("api-key", options_.api_key);
  return context;
}

template <typename Body>
Reply GrpcConnection::Finish(const grpc::Status& status, Body body) const {
  if (status.ok()) return Reply::Ok(body());
  // UNAVAILABLE or DEADLINE_EXCEEDED with no connection up is gRPC's own, not the server's: the
  // server was never reached (or went away mid-call).
  const bool transport = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  if (transport && channel_->GetState(false) != GRPC_CHANNEL_READY) {
    return Reply::Unreachable(target_ + ": " + status.error_message());
  }
  return Reply::Refused(CodeName(status.error_code()), status.error_message());
}

Reply GrpcConnection::Health() {
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health_->Check(Context().get(), request, &response);
  Reply reply = Finish(status, [&] {
    return json{{"status", response.status() == grpc::health::v1::HealthCheckResponse::SERVING
                               ? "serving"
                               : "not_serving"}};
  });
  if (reply.outcome == Reply::Outcome::kOk && reply.body["status"] != "serving") {
    reply = Reply::Refused("UNAVAILABLE", "vecmeshd is not serving");
    reply.body = {{"status", "not_serving"}};
  }
  return reply;
}

Reply GrpcConnection::ListCollections() {
  v1::ListCollectionsRequest request;
  v1::ListCollectionsResponse response;
  const grpc::Status status = store_->ListCollections(Context().get(), request, &response);
  return Finish(status, [&] {
    json list = json::array();
    for (const v1::CollectionInfo& info : response.collections()) {
      list.push_back(CollectionToJson(info));
    }
    return json{{"collections", std::move(list)}};
  });
}

Reply GrpcConnection::GetCollection(const std::string& name) {
  v1::GetCollectionRequest request;
  request.set_name(name);
  v1::CollectionInfo response;
  const grpc::Status status = store_->GetCollection(Context().get(), request, &response);
  return Finish(status, [&] { return CollectionToJson(response); });
}

Reply GrpcConnection::CreateCollection(const std::string& name, const json& config) {
  const v1::CreateCollectionRequest request = CreateRequest(name, config);
  v1::CreateCollectionResponse response;
  const grpc::Status status = store_->CreateCollection(Context().get(), request, &response);
  return Finish(status, [&] {
    json out = {{"created", response.created()},
                {"collection", CollectionToJson(response.collection())}};
    if (!response.stores().empty()) out["stores"] = StoresToJson(response.stores());
    return out;
  });
}

Reply GrpcConnection::DropCollection(const std::string& name) {
  v1::DeleteCollectionRequest request;
  request.set_name(name);
  v1::DeleteCollectionResponse response;
  const grpc::Status status = store_->DeleteCollection(Context().get(), request, &response);
  return Finish(status, [&] {
    json out = {{"deleted", response.deleted()}};
    if (!response.stores().empty()) out["stores"] = StoresToJson(response.stores());
    return out;
  });
}

}  // namespace vecmesh::cli
