#include "api/cli/grpc_connection.h"

#include <array>
#include <chrono>
#include <fstream>
#include <sstream>

#include "proto/struct_json.h"

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
      {"index", proto_json::IndexToJson(info.index())},
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

void IdToProto(const json& id, v1::PointId* out) {
  if (id.is_string()) {
    out->set_str(id.get<std::string>());
  } else {
    out->set_num(id.get<uint64_t>());
  }
}

json IdToJson(const v1::PointId& id) {
  if (id.kind_case() == v1::PointId::kStr) return id.str();
  return id.num();
}

// API.md's points (made by the command line: ids, vectors and payloads of the right types).
void PointsToProto(const json& points, google::protobuf::RepeatedPtrField<v1::Point>* out) {
  for (const json& point : points) {
    v1::Point* p = out->Add();
    IdToProto(point.at("id"), p->mutable_id());
    for (const json& x : point.at("vector")) p->add_vector(x.get<float>());
    if (point.contains("payload") && point["payload"].is_object()) {
      proto_json::JsonToStruct(point["payload"], p->mutable_payload());
    }
  }
}

// A payload the server sent: its numbers are finite (it refuses any other), so the mapping
// cannot fail; a refusal here would be a server's bug, shown as what it is.
json PayloadToJson(const google::protobuf::Struct& payload) {
  auto converted = proto_json::StructToJson(payload, "payload");
  return converted.ok() ? *converted : json(converted.status().message());
}

// POST .../search's body as the request (the command line builds it: fields of API.md's types).
v1::SearchRequest SearchToProto(const std::string& collection, const json& body) {
  v1::SearchRequest request;
  request.set_collection(collection);
  for (const json& x : body.at("vector")) request.add_vector(x.get<float>());
  if (body.contains("k")) request.set_k(body["k"].get<int64_t>());
  if (body.contains("filter")) proto_json::JsonToStruct(body["filter"], request.mutable_filter());
  if (body.contains("score_threshold")) {
    request.set_score_threshold(body["score_threshold"].get<float>());
  }
  if (body.contains("params")) {
    const json& params = body["params"];
    if (params.contains("ef_search")) {
      request.mutable_params()->set_ef_search(params["ef_search"].get<int32_t>());
    }
    if (params.contains("nprobe"))
      request.mutable_params()->set_nprobe(params["nprobe"].get<int32_t>());
    if (params.contains("exact")) request.mutable_params()->set_exact(params["exact"].get<bool>());
  }
  if (body.contains("with_payload")) request.set_with_payload(body["with_payload"].get<bool>());
  if (body.contains("with_vector")) request.set_with_vector(body["with_vector"].get<bool>());
  if (body.contains("store")) request.set_store(body["store"].get<std::string>());
  return request;
}

json SearchToJson(const v1::SearchResponse& response) {
  json results = json::array();
  for (const v1::ScoredPoint& point : response.results()) {
    json r = {{"id", IdToJson(point.id())}, {"score", point.score()}};
    if (point.has_payload()) r["payload"] = PayloadToJson(point.payload());
    if (point.vector_size() > 0) {
      r["vector"] = std::vector<float>(point.vector().begin(), point.vector().end());
    }
    results.push_back(std::move(r));
  }
  json out = {{"results", std::move(results)}};
  for (const auto& [name, report] : response.stores()) {
    json& store = out["stores"][name];
    store = {{"status", report.status()}, {"took_ms", report.took_ms()}};
    if (!report.message().empty()) store["message"] = report.message();
    if (report.pending() > 0) store["pending"] = report.pending();
  }
  return out;
}

// The path of the first integer in `value` that a double cannot hold exactly (beyond 2^53), if
// any: google.protobuf.Struct carries numbers as doubles.
std::optional<std::string> InexactNumber(const json& value, const std::string& path) {
  constexpr uint64_t kExact = uint64_t{1} << 53;
  if (value.is_number_unsigned() && value.get<uint64_t>() > kExact) return path;
  if (value.is_number_integer() && !value.is_number_unsigned()) {
    const int64_t v = value.get<int64_t>();
    if (v > static_cast<int64_t>(kExact) || v < -static_cast<int64_t>(kExact)) return path;
  }
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      if (auto found = InexactNumber(item, path + "." + key)) return found;
    }
  }
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      if (auto found = InexactNumber(value[i], path + "[" + std::to_string(i) + "]")) return found;
    }
  }
  return std::nullopt;
}

// Refused before anything is sent, rather than changed on the way.
Reply RefuseInexact(const std::string& path) {
  return Reply::Refused(
      "INVALID_ARGUMENT",
      path +
          " is an integer beyond 2^53, which the gRPC API's Struct (numbers are "
          "doubles) cannot carry exactly: use REST (--rest, or an http(s):// URL)");
}

std::optional<Reply> InexactPayload(const json& points) {
  for (size_t i = 0; i < points.size(); ++i) {
    if (!points[i].contains("payload")) continue;
    if (const auto path =
            InexactNumber(points[i]["payload"], "points[" + std::to_string(i) + "].payload")) {
      return RefuseInexact(*path);
    }
  }
  return std::nullopt;
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
  // UNAVAILABLE with no connection up is gRPC's own, not the server's: the server was never
  // reached (or went away mid-call). No answer in time is "unreachable" too, as over REST.
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
       channel_->GetState(false) != GRPC_CHANNEL_READY)) {
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

Reply GrpcConnection::Upsert(const std::string& collection, const json& points) {
  if (auto inexact = InexactPayload(points)) return *inexact;
  v1::UpsertRequest request;
  request.set_collection(collection);
  PointsToProto(points, request.mutable_points());
  v1::UpsertResponse response;
  const grpc::Status status = store_->Upsert(Context().get(), request, &response);
  return Finish(status, [&] {
    json out = {{"upserted", response.upserted()}};
    if (!response.stores().empty()) out["stores"] = StoresToJson(response.stores());
    return out;
  });
}

Reply GrpcConnection::SubmitImport(const std::string& collection, const json& points) {
  if (auto inexact = InexactPayload(points)) return *inexact;
  v1::SubmitImportRequest request;
  request.set_collection(collection);
  PointsToProto(points, request.mutable_points());
  v1::SubmitImportResponse response;
  const grpc::Status status = store_->SubmitImport(Context().get(), request, &response);
  return Finish(status, [&] { return json{{"job_id", response.job_id()}}; });
}

Reply GrpcConnection::GetJob(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job response;
  const grpc::Status status = store_->GetJob(Context().get(), request, &response);
  return Finish(status, [&] {
    return json{{"job_id", response.job_id()},
                {"collection", response.collection()},
                {"state", response.state()},
                {"points", response.points()},
                {"error", response.has_error() ? json(response.error()) : json(nullptr)}};
  });
}

Reply GrpcConnection::Search(const std::string& collection, const json& body) {
  if (body.contains("filter")) {
    if (const auto path = InexactNumber(body["filter"], "filter")) return RefuseInexact(*path);
  }
  const v1::SearchRequest request = SearchToProto(collection, body);
  v1::SearchResponse response;
  const grpc::Status status = store_->Search(Context().get(), request, &response);
  return Finish(status, [&] { return SearchToJson(response); });
}

Reply GrpcConnection::CreateSnapshot(const std::string& collection) {
  v1::CreateSnapshotRequest request;
  request.set_collection(collection);
  v1::Snapshot response;
  const grpc::Status status = store_->CreateSnapshot(Context().get(), request, &response);
  return Finish(status, [&] {
    return json{{"snapshot", response.snapshot()}, {"size", response.size()}};
  });
}

Reply GrpcConnection::ListSnapshots(const std::string& collection) {
  v1::ListSnapshotsRequest request;
  request.set_collection(collection);
  v1::ListSnapshotsResponse response;
  const grpc::Status status = store_->ListSnapshots(Context().get(), request, &response);
  return Finish(status, [&] {
    json list = json::array();
    for (const v1::Snapshot& s : response.snapshots()) {
      list.push_back({{"snapshot", s.snapshot()}, {"size", s.size()}});
    }
    return json{{"snapshots", std::move(list)}};
  });
}

Reply GrpcConnection::RestoreSnapshot(const std::string& collection, const std::string& snapshot) {
  v1::RestoreSnapshotRequest request;
  request.set_collection(collection);
  request.set_snapshot(snapshot);
  v1::RestoreSnapshotResponse response;
  const grpc::Status status = store_->RestoreSnapshot(Context().get(), request, &response);
  return Finish(status, [&] { return json{{"restored", response.restored()}}; });
}

Reply GrpcConnection::UploadSnapshot(const std::string& collection, const std::string& file) {
  v1::RestoreSnapshotRequest request;
  request.set_collection(collection);
  request.set_file(file);
  v1::RestoreSnapshotResponse response;
  const grpc::Status status = store_->RestoreSnapshot(Context().get(), request, &response);
  return Finish(status, [&] { return json{{"restored", response.restored()}}; });
}

Reply GrpcConnection::DownloadSnapshot(const std::string&, const std::string&, std::string*) {
  return Reply::Refused("UNIMPLEMENTED",
                        "the gRPC API has no download of a snapshot: use REST (--rest, or an "
                        "http(s):// URL)");
}

}  // namespace vecmesh::cli
