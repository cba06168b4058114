// QdrantStore: the calls, the collections and the writes (reads are in qdrant_reads.cc).
#include "adapters/qdrant/qdrant_store.h"

#include <algorithm>

#include "adapters/qdrant/qdrant_translation.h"
#include "adapters/remote/remote_checks.h"

namespace vecmesh::adapters {

using engine::CallOptions;
using engine::Status;
using engine::StatusCode;
using engine::StatusOr;
using json = nlohmann::json;

namespace {

// Qdrant's largest vector size.
constexpr uint32_t kMaxDimension = 65536;

// The vectors of a collection Qdrant describes (GET /collections/NAME's result).
StatusOr<QdrantStore::Remote> ParseRemote(const json& described, const std::string& name) {
  const json* vectors = nullptr;
  if (described.is_object() && described.contains("config") &&
      described["config"].contains("params") && described["config"]["params"].contains("vectors")) {
    vectors = &described["config"]["params"]["vectors"];
  }
  if (vectors == nullptr || !vectors->is_object() || !vectors->contains("size") ||
      !(*vectors)["size"].is_number_unsigned() || !vectors->contains("distance") ||
      !(*vectors)["distance"].is_string()) {
    return Status::FailedPrecondition("qdrant's collection '" + name +
                                      "' has named vectors or none: vecmesh uses one unnamed "
                                      "vector per point");
  }
  // Vectors kept in another type than float32, or several per point, would not give back what
  // was written.
  const std::string datatype = vectors->value("datatype", std::string("float32"));
  if (datatype != "float32" || vectors->contains("multivector_config")) {
    return Status::FailedPrecondition(
        "qdrant's collection '" + name + "' keeps " +
        (datatype != "float32" ? datatype + " vectors" : std::string("multivectors")) +
        ": vecmesh keeps one float32 vector per point");
  }
  auto metric = qdrant::FromDistance((*vectors)["distance"].get<std::string>());
  if (!metric) {
    return Status::FailedPrecondition("qdrant's collection '" + name + "' has the distance " +
                                      (*vectors)["distance"].dump() +
                                      ", which vecmesh does not have");
  }
  return QdrantStore::Remote{(*vectors)["size"].get<uint32_t>(), *metric};
}

std::string ErrorMessage(const json& body) {
  if (body.is_object() && body.contains("status") && body["status"].is_object() &&
      body["status"].contains("error") && body["status"]["error"].is_string()) {
    return body["status"]["error"].get<std::string>();
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> Credentials(const std::string& api_key) {
  if (api_key.empty()) return {};
  return {{"api-key", api_key}};
}

// A point as Qdrant's upsert takes it.
json ToQdrantPoint(const engine::Point& p) {
  return {{"id", qdrant::ToQdrantId(p.id)},
          {"vector", p.vector},
          {"payload", qdrant::ToQdrantPayload(p.payload, p.id)}};
}

json QdrantIds(const std::vector<engine::PointId>& ids) {
  json out = json::array();
  for (const engine::PointId& id : ids) out.push_back(qdrant::ToQdrantId(id));
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<QdrantStore>> QdrantStore::Create(QdrantOptions options) {
  std::shared_ptr<HttpSender> http = options.sender;
  if (!http) {
    auto endpoint = ParseHttpUrl(options.url);
    if (!endpoint.ok()) return endpoint.status();
    http = std::make_shared<HttpClient>(*endpoint, options.http);
  }
  return std::unique_ptr<QdrantStore>(new QdrantStore(std::move(options), std::move(http)));
}

QdrantStore::QdrantStore(QdrantOptions options, std::shared_ptr<HttpSender> http)
    : options_(std::move(options)),
      http_(std::move(http)),
      api_("qdrant", http_.get(), ErrorMessage, Credentials(options_.api_key)) {}

QdrantStore::~QdrantStore() = default;

HttpStats QdrantStore::http_stats() const { return http_->stats(); }

std::string QdrantStore::Path(const std::string& collection, const std::string& rest) {
  return "/collections/" + collection + rest;
}

StatusOr<json> QdrantStore::Call(const CallOptions& options, HttpMethod method,
                                 const std::string& target, const json* body,
                                 bool idempotent) const {
  auto answer = api_.Call(options, method, target, body, idempotent);
  if (!answer.ok()) return answer.status();
  if (!answer->is_object() || !answer->contains("result")) return json();
  return std::move((*answer)["result"]);
}

Status QdrantStore::Heartbeat(const CallOptions& options) {
  // Not GET / (Qdrant answers it without the key): the probe also says when the key is refused.
  auto answer = api_.Call(options, HttpMethod::kGet, "/collections", nullptr, true);
  return answer.ok() ? Status::Ok() : answer.status();
}

StatusOr<bool> QdrantStore::Exists(const CallOptions& options, const std::string& name) const {
  auto answer = Call(options, HttpMethod::kGet, Path(name, "/exists"), nullptr, true);
  if (!answer.ok()) return answer.status();
  if (!answer->is_object() || !answer->contains("exists") || !(*answer)["exists"].is_boolean()) {
    return Status::Internal("qdrant's answer to whether '" + name + "' exists is not a boolean");
  }
  return (*answer)["exists"].get<bool>();
}

StatusOr<json> QdrantStore::Describe(const CallOptions& options, const std::string& name) const {
  auto described = Call(options, HttpMethod::kGet, Path(name), nullptr, true);
  if (!described.ok() && described.status().code() == StatusCode::kNotFound) {
    remotes_.Erase(name);
    return Status::NotFound("collection '" + name + "' does not exist in Qdrant");
  }
  return described;
}

StatusOr<QdrantStore::Remote> QdrantStore::Vectors(const CallOptions& options,
                                                   const std::string& name) const {
  if (std::optional<Remote> cached = remotes_.Get(name)) return *cached;
  const uint64_t generation = remotes_.Generation(name);
  auto described = Describe(options, name);
  if (!described.ok()) return described.status();
  auto remote = ParseRemote(*described, name);
  if (!remote.ok()) return remote.status();
  remotes_.Put(name, generation, *remote);
  return remote;
}

Status QdrantStore::ValidateCreateCollection(const CallOptions& options,
                                             const engine::CollectionConfig& config) const {
  Status s = options.CheckStart("ValidateCreateCollection");
  if (!s.ok()) return s;
  if (config.dimension > kMaxDimension) {
    return Status::InvalidArgument("dimension is " + std::to_string(config.dimension) +
                                   "; Qdrant holds vectors of at most " +
                                   std::to_string(kMaxDimension) + " values");
  }
  return Status::Ok();
}

StatusOr<bool> QdrantStore::CreateCollection(const CallOptions& options,
                                             const engine::CollectionConfig& config) {
  Status s = options.CheckStart("CreateCollection");
  if (s.ok()) s = ValidateCreateCollection(options, config);
  if (!s.ok()) return s;
  // An existing collection of the name is ours if it has the size and the distance.
  auto same = [&]() -> StatusOr<bool> {
    auto described = Describe(options, config.name);
    if (!described.ok()) return described.status();
    auto remote = ParseRemote(*described, config.name);
    if (!remote.ok()) return remote.status();
    if (remote->dimension == config.dimension && remote->metric == config.metric) return false;
    return Status::AlreadyExists("qdrant already has a collection '" + config.name +
                                 "' with distance " + qdrant::ToDistance(remote->metric) +
                                 " and size " + std::to_string(remote->dimension) +
                                 "; this one has distance " + qdrant::ToDistance(config.metric) +
                                 " and size " + std::to_string(config.dimension));
  };
  auto exists = Exists(options, config.name);
  if (!exists.ok()) return exists.status();
  if (*exists) return same();

  json body = {
      {"vectors", {{"size", config.dimension}, {"distance", qdrant::ToDistance(config.metric)}}}};
  if (config.index.type == engine::IndexType::kHnsw) {
    body["hnsw_config"] = {{"m", config.index.hnsw_m},
                           {"ef_construct", config.index.ef_construction}};
  }
  auto created = Call(options, HttpMethod::kPut, Path(config.name), &body, /*idempotent=*/false);
  remotes_.Changed(config.name);
  if (!created.ok()) {
    // Made meanwhile by someone else: it may be the same.
    if (created.status().code() == StatusCode::kAlreadyExists ||
        created.status().message().find("already exists") != std::string::npos) {
      return same();
    }
    return created.status();
  }
  return true;
}

StatusOr<engine::CollectionInfo> QdrantStore::GetCollection(const CallOptions& options,
                                                            const std::string& name) const {
  Status s = options.CheckStart("GetCollection");
  if (!s.ok()) return s;
  auto described = Describe(options, name);
  if (!described.ok()) return described.status();
  auto remote = ParseRemote(*described, name);
  if (!remote.ok()) return remote.status();
  engine::CollectionInfo info;
  info.config.name = name;
  info.config.dimension = remote->dimension;
  info.config.metric = remote->metric;
  info.config.index.type = engine::IndexType::kHnsw;
  const json hnsw = (*described)["config"].value("hnsw_config", json::object());
  info.config.index.hnsw_m = hnsw.value("m", info.config.index.hnsw_m);
  info.config.index.ef_construction = hnsw.value("ef_construct", info.config.index.ef_construction);
  info.config.backends = {"qdrant"};
  auto count = CountMatching(options, name, nullptr);
  if (!count.ok()) return count.status();
  info.points = *count;
  info.indexed_points = info.points;
  // green: optimised; yellow and grey: optimising or waiting to; red: an optimisation failed.
  info.status = described->value("status", "") == "green" ? "ready" : "indexing";
  return info;
}

StatusOr<std::vector<engine::CollectionInfo>> QdrantStore::ListCollections(
    const CallOptions& options) const {
  Status s = options.CheckStart("ListCollections");
  if (!s.ok()) return s;
  auto listed = Call(options, HttpMethod::kGet, "/collections", nullptr, true);
  if (!listed.ok()) return listed.status();
  if (!listed->contains("collections") || !(*listed)["collections"].is_array()) {
    return Status::Internal("qdrant's list of collections is not a list");
  }
  std::vector<engine::CollectionInfo> out;
  for (const json& item : (*listed)["collections"]) {
    const std::string name =
        item.is_object() && item.contains("name") && item["name"].is_string() ? item["name"] : "";
    // A name vecmesh cannot have (Qdrant takes spaces, '#', '%'...) is not one of its collections.
    if (!engine::IsValidCollectionName(name)) continue;
    auto info = GetCollection(options, name);
    // Gone since the list, or not of vecmesh's layout (named vectors, Manhattan): not listed.
    if (!info.ok() && (info.status().code() == StatusCode::kNotFound ||
                       info.status().code() == StatusCode::kFailedPrecondition)) {
      continue;
    }
    if (!info.ok()) return info.status();
    out.push_back(std::move(*info));
  }
  return out;
}

Status QdrantStore::DropCollection(const CallOptions& options, const std::string& name) {
  Status s = options.CheckStart("DropCollection");
  if (!s.ok()) return s;
  auto exists = Exists(options, name);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    return Status::NotFound("collection '" + name + "' does not exist in Qdrant");
  }
  auto dropped = Call(options, HttpMethod::kDelete, Path(name), nullptr, /*idempotent=*/true);
  remotes_.Changed(name);
  return dropped.ok() ? Status::Ok() : dropped.status();
}

Status QdrantStore::ValidateUpsert(const CallOptions& options, const std::string& collection,
                                   const std::vector<engine::Point>& points) const {
  Status s = options.CheckStart("ValidateUpsert");
  if (!s.ok()) return s;
  // What Qdrant can hold: it needs no call (engine/vector_store.h).
  return CheckPoints(points, options_.limits, qdrant::CheckPayload);
}

StatusOr<size_t> QdrantStore::Upsert(const CallOptions& options, const std::string& collection,
                                     std::vector<engine::Point> points) {
  Status s = options.CheckStart("Upsert");
  if (s.ok()) s = ValidateUpsert(options, collection, points);
  if (!s.ok()) return s;
  auto remote = Vectors(options, collection);
  if (!remote.ok()) return remote.status();
  s = CheckPointsAgainst(points, remote->dimension, remote->metric, collection);
  if (!s.ok()) return s;
  // Requests of at most about max_request_bytes: a float is at most 24 bytes of JSON (a double's
  // shortest form, and the comma). A batch larger than one request is applied request by
  // request: a failure midway leaves the requests before it applied (idempotent by id: a
  // delivery retried applies the whole batch again).
  json batch = json::array();
  size_t bytes = 0;
  auto send = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    const json body = {{"points", std::move(batch)}};
    batch = json::array();
    bytes = 0;
    auto answer = Call(options, HttpMethod::kPut, Path(collection, "/points?wait=true"), &body,
                       /*idempotent=*/true);
    if (answer.ok()) return Status::Ok();
    // What was cached of the collection may be what refused it (dropped or made again there).
    remotes_.Erase(collection);
    return answer.status();
  };
  for (const engine::Point& p : points) {
    const std::string* string_id = std::get_if<std::string>(&p.id);
    const size_t size = 24 * p.vector.size() + p.payload.dump().size() +
                        2 * (string_id ? string_id->size() : 0) + 128;
    if (bytes + size > options_.max_request_bytes) {
      s = send();
      if (!s.ok()) return s;
    }
    batch.push_back(ToQdrantPoint(p));
    bytes += size;
  }
  s = send();
  if (!s.ok()) return s;
  return points.size();
}

StatusOr<size_t> QdrantStore::Delete(const CallOptions& options, const std::string& collection,
                                     const std::vector<engine::PointId>& ids) {
  Status s = options.CheckStart("Delete");
  if (s.ok()) s = CheckIds(ids, options_.limits);
  if (!s.ok()) return s;
  auto existing = Existing(options, collection, ids);
  if (!existing.ok()) return existing.status();
  if (existing->empty()) return size_t{0};
  const json body = {{"points", QdrantIds(*existing)}};
  auto answer = Call(options, HttpMethod::kPost, Path(collection, "/points/delete?wait=true"),
                     &body, /*idempotent=*/true);
  if (!answer.ok()) return answer.status();
  return existing->size();
}

StatusOr<size_t> QdrantStore::DeleteByFilter(const CallOptions& options,
                                             const std::string& collection,
                                             const engine::Filter& filter) {
  Status s = options.CheckStart("DeleteByFilter");
  if (!s.ok()) return s;
  auto translated = qdrant::ToQdrantFilter(filter);
  if (!translated.ok()) return translated.status();
  // How many there are just before: Qdrant's delete does not say.
  auto matching = CountMatching(options, collection, &*translated);
  if (!matching.ok() || *matching == 0) return matching;
  const json body = {{"filter", *translated}};
  auto answer = Call(options, HttpMethod::kPost, Path(collection, "/points/delete?wait=true"),
                     &body, /*idempotent=*/true);
  if (!answer.ok()) return answer.status();
  return matching;
}

Status QdrantStore::ValidateSetPayload(const CallOptions& options, const std::string& collection,
                                       const engine::Payload& payload) const {
  Status s = options.CheckStart("ValidateSetPayload");
  if (!s.ok()) return s;
  return CheckPayloadUpdate(payload, qdrant::CheckPayload);
}

StatusOr<size_t> QdrantStore::SetPayload(const CallOptions& options, const std::string& collection,
                                         const std::vector<engine::PointId>& ids,
                                         const engine::Payload& payload, engine::PayloadMode mode) {
  Status s = options.CheckStart("SetPayload");
  if (s.ok()) s = CheckIds(ids, options_.limits);
  if (s.ok()) s = ValidateSetPayload(options, collection, payload);
  if (!s.ok()) return s;
  // Qdrant refuses a payload update of a point it does not have: only the existing ones go, and
  // when one goes meanwhile (another writer there), the update is made again without it.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    auto existing = Existing(options, collection, ids);
    if (!existing.ok()) return existing.status();
    if (existing->empty()) return size_t{0};
    auto answer = mode == engine::PayloadMode::kMerge
                      ? MergePayload(options, collection, *existing, payload)
                      : ReplacePayload(options, collection, *existing, payload);
    if (answer.ok()) return existing->size();
    const bool vanished = answer.status().code() == StatusCode::kNotFound &&
                          answer.status().message().find("No point") != std::string::npos;
    if (!vanished || attempt == kAttempts) return answer.status();
  }
}

StatusOr<json> QdrantStore::MergePayload(const CallOptions& options, const std::string& collection,
                                         const std::vector<engine::PointId>& existing,
                                         const engine::Payload& payload) {
  // Top-level keys set, the others (the id key of a string id among them) kept.
  const json body = {{"payload", payload}, {"points", QdrantIds(existing)}};
  return Call(options, HttpMethod::kPost, Path(collection, "/points/payload?wait=true"), &body,
              /*idempotent=*/true);
}

StatusOr<json> QdrantStore::ReplacePayload(const CallOptions& options,
                                           const std::string& collection,
                                           const std::vector<engine::PointId>& existing,
                                           const engine::Payload& payload) {
  // Each string id keeps its id key, so each gets a payload of its own; the integers share one.
  json operations = json::array();
  json integers = json::array();
  for (const engine::PointId& id : existing) {
    if (std::holds_alternative<uint64_t>(id)) {
      integers.push_back(qdrant::ToQdrantId(id));
      continue;
    }
    operations.push_back({{"overwrite_payload",
                           {{"payload", qdrant::ToQdrantPayload(payload, id)},
                            {"points", json::array({qdrant::ToQdrantId(id)})}}}});
  }
  if (!integers.empty()) {
    operations.push_back(
        {{"overwrite_payload", {{"payload", payload}, {"points", std::move(integers)}}}});
  }
  const json body = {{"operations", std::move(operations)}};
  return Call(options, HttpMethod::kPost, Path(collection, "/points/batch?wait=true"), &body,
              /*idempotent=*/true);
}

}  // namespace vecmesh::adapters
