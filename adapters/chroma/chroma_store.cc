// ChromaStore: the calls, the collections and the writes (reads are in chroma_reads.cc).
#include "adapters/chroma/chroma_store.h"

#include <algorithm>
#include <cmath>

#include "adapters/chroma/chroma_translation.h"
#include "adapters/remote/remote_checks.h"

namespace vecmesh::adapters {

using engine::CallOptions;
using engine::Status;
using engine::StatusCode;
using engine::StatusOr;
using json = nlohmann::json;

namespace {

// The ids of `points`, as Chroma's.
std::vector<std::string> ChromaIds(const std::vector<engine::PointId>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const auto& id : ids) out.push_back(chroma::ToChromaId(id));
  return out;
}

// A collection as Chroma describes it (GET P/collections/NAME, or an item of the list).
StatusOr<ChromaStore::Remote> ParseRemote(const json& a, const std::string& name) {
  ChromaStore::Remote remote;
  if (!a.is_object() || !a.contains("id") || !a["id"].is_string()) {
    return Status::Internal("chroma described collection '" + name + "' without an id");
  }
  remote.uuid = a["id"].get<std::string>();
  const json config = a.value("configuration_json", json::object());
  const json hnsw = config.is_object() ? config.value("hnsw", json::object()) : json::object();
  remote.hnsw = hnsw.is_object() ? hnsw : json::object();
  const json space = remote.hnsw.value("space", json("l2"));
  auto metric = space.is_string() ? chroma::FromSpace(space.get<std::string>()) : std::nullopt;
  if (!metric) {
    return Status::FailedPrecondition("chroma's collection '" + name + "' has the space " +
                                      space.dump() + ", which vecmesh does not know");
  }
  remote.metric = *metric;
  const json metadata = a.value("metadata", json::object());
  if (a.contains("dimension") && a["dimension"].is_number_unsigned()) {
    remote.dimension = a["dimension"].get<uint32_t>();
  } else if (metadata.is_object() && metadata.contains("vecmesh_dimension") &&
             metadata["vecmesh_dimension"].is_number_integer()) {
    remote.dimension = metadata["vecmesh_dimension"].get<uint32_t>();
  }
  return remote;
}

}  // namespace

StatusOr<std::unique_ptr<ChromaStore>> ChromaStore::Create(ChromaOptions options) {
  std::shared_ptr<HttpSender> http = options.sender;
  if (!http) {
    auto endpoint = ParseHttpUrl(options.url);
    if (!endpoint.ok()) return endpoint.status();
    http = std::make_shared<HttpClient>(*endpoint, options.http);
  }
  return std::unique_ptr<ChromaStore>(new ChromaStore(std::move(options), std::move(http)));
}

ChromaStore::ChromaStore(ChromaOptions options, std::shared_ptr<HttpSender> http)
    : options_(std::move(options)),
      http_(std::move(http)),
      api_("chroma", http_.get(),
           [](const json& body) {
             return body.is_object() && body.contains("message") && body["message"].is_string()
                        ? body["message"].get<std::string>()
                        : std::string();
           }),
      prefix_("/api/v2/tenants/" + options_.tenant + "/databases/" + options_.database) {}

ChromaStore::~ChromaStore() = default;

HttpStats ChromaStore::http_stats() const { return http_->stats(); }

Status ChromaStore::Heartbeat(const CallOptions& options) {
  auto answer = api_.Call(options, HttpMethod::kGet, "/api/v2/heartbeat", nullptr, true);
  return answer.ok() ? Status::Ok() : answer.status();
}

StatusOr<size_t> ChromaStore::MaxBatchSize(const CallOptions& options) const {
  {
    std::lock_guard lock(mu_);
    if (max_batch_size_) return *max_batch_size_;
  }
  auto answer = api_.Call(options, HttpMethod::kGet, "/api/v2/pre-flight-checks", nullptr, true);
  if (!answer.ok()) return answer.status();
  const json& size = (*answer)["max_batch_size"];
  if (!size.is_number_unsigned() || size.get<uint64_t>() == 0) {
    return Status::Internal("chroma's pre-flight-checks give no max_batch_size");
  }
  std::lock_guard lock(mu_);
  max_batch_size_ = size.get<size_t>();
  return *max_batch_size_;
}

std::string ChromaStore::CollectionPath(const Remote& remote) const {
  return prefix_ + "/collections/" + remote.uuid;
}

StatusOr<ChromaStore::Remote> ChromaStore::Fetch(const CallOptions& options,
                                                 const std::string& name) const {
  const uint64_t generation = remotes_.Generation(name);
  auto answer =
      api_.Call(options, HttpMethod::kGet, prefix_ + "/collections/" + name, nullptr, true);
  if (!answer.ok()) {
    remotes_.Erase(name);
    if (answer.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("collection '" + name + "' does not exist in Chroma");
    }
    return answer.status();
  }
  auto remote = ParseRemote(*answer, name);
  if (!remote.ok()) return remote.status();
  remotes_.Put(name, generation, *remote);
  return remote;
}

Status ChromaStore::ValidateCreateCollection(const CallOptions& options,
                                             const engine::CollectionConfig& config) const {
  Status s = options.CheckStart("ValidateCreateCollection");
  if (!s.ok()) return s;
  return chroma::CheckCollectionName(config.name);
}

StatusOr<bool> ChromaStore::CreateCollection(const CallOptions& options,
                                             const engine::CollectionConfig& config) {
  Status s = options.CheckStart("CreateCollection");
  if (s.ok()) s = ValidateCreateCollection(options, config);
  if (!s.ok()) return s;
  const std::string space = chroma::ToSpace(config.metric);
  // An existing collection of the name is ours if it has the space and the dimension.
  auto same = [&](const Remote& remote) -> StatusOr<bool> {
    if (remote.metric == config.metric &&
        (!remote.dimension || *remote.dimension == config.dimension)) {
      return false;
    }
    return Status::AlreadyExists(
        "chroma already has a collection '" + config.name + "' with space '" +
        chroma::ToSpace(remote.metric) + "' and dimension " +
        (remote.dimension ? std::to_string(*remote.dimension) : std::string("unknown")) +
        "; this one has space '" + space + "' and dimension " + std::to_string(config.dimension));
  };
  auto existing = Fetch(options, config.name);
  if (existing.ok()) return same(*existing);
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();

  json hnsw = {{"space", space}};
  if (config.index.type == engine::IndexType::kHnsw) {
    hnsw["max_neighbors"] = config.index.hnsw_m;
    hnsw["ef_construction"] = config.index.ef_construction;
    hnsw["ef_search"] = config.index.ef_search;
  }
  const json body = {{"name", config.name},
                     {"configuration", {{"hnsw", hnsw}}},
                     {"metadata", {{"vecmesh_dimension", config.dimension}}}};
  auto created =
      api_.Call(options, HttpMethod::kPost, prefix_ + "/collections", &body, /*idempotent=*/false);
  remotes_.Changed(config.name);
  if (!created.ok()) {
    // Made meanwhile by someone else: it may be the same.
    if (created.status().code() != StatusCode::kAlreadyExists) return created.status();
    auto raced = Fetch(options, config.name);
    if (!raced.ok()) return raced.status();
    return same(*raced);
  }
  auto fetched = Fetch(options, config.name);
  if (!fetched.ok()) return fetched.status();
  return true;
}

StatusOr<engine::CollectionInfo> ChromaStore::Info(const CallOptions& options,
                                                   const std::string& name,
                                                   const Remote& remote) const {
  engine::CollectionInfo info;
  info.config.name = name;
  info.config.dimension = remote.dimension.value_or(0);
  info.config.metric = remote.metric;
  info.config.index.type = engine::IndexType::kHnsw;
  info.config.index.hnsw_m = remote.hnsw.value("max_neighbors", info.config.index.hnsw_m);
  info.config.index.ef_construction =
      remote.hnsw.value("ef_construction", info.config.index.ef_construction);
  info.config.index.ef_search = remote.hnsw.value("ef_search", info.config.index.ef_search);
  info.config.backends = {"chroma"};
  auto count =
      api_.Call(options, HttpMethod::kGet, CollectionPath(remote) + "/count", nullptr, true);
  if (!count.ok()) return count.status();
  if (!count->is_number_unsigned()) {
    return Status::Internal("chroma's count of '" + name + "' is not a number");
  }
  info.points = count->get<size_t>();
  info.indexed_points = info.points;
  info.status = "ready";
  return info;
}

StatusOr<engine::CollectionInfo> ChromaStore::GetCollection(const CallOptions& options,
                                                            const std::string& name) const {
  Status s = options.CheckStart("GetCollection");
  if (!s.ok()) return s;
  auto remote = Fetch(options, name);
  if (!remote.ok()) return remote.status();
  return Info(options, name, *remote);
}

StatusOr<std::vector<engine::CollectionInfo>> ChromaStore::ListCollections(
    const CallOptions& options) const {
  Status s = options.CheckStart("ListCollections");
  if (!s.ok()) return s;
  constexpr size_t kPage = 100;
  std::vector<engine::CollectionInfo> out;
  for (size_t offset = 0;; offset += kPage) {
    auto page = api_.Call(options, HttpMethod::kGet,
                          prefix_ + "/collections?limit=" + std::to_string(kPage) +
                              "&offset=" + std::to_string(offset),
                          nullptr, true);
    if (!page.ok()) return page.status();
    if (!page->is_array()) return Status::Internal("chroma's list of collections is not a list");
    for (const json& item : *page) {
      const std::string name = item.value("name", "");
      auto remote = ParseRemote(item, name);
      if (!remote.ok()) return remote.status();
      auto info = Info(options, name, *remote);
      if (!info.ok()) return info.status();
      out.push_back(std::move(*info));
    }
    if (page->size() < kPage) return out;
  }
}

Status ChromaStore::DropCollection(const CallOptions& options, const std::string& name) {
  Status s = options.CheckStart("DropCollection");
  if (!s.ok()) return s;
  auto answer = api_.Call(options, HttpMethod::kDelete, prefix_ + "/collections/" + name, nullptr,
                          /*idempotent=*/false);
  remotes_.Changed(name);
  if (!answer.ok() && answer.status().code() == StatusCode::kNotFound) {
    return Status::NotFound("collection '" + name + "' does not exist in Chroma");
  }
  return answer.ok() ? Status::Ok() : answer.status();
}

Status ChromaStore::ValidateUpsert(const CallOptions& options, const std::string& collection,
                                   const std::vector<engine::Point>& points) const {
  Status s = options.CheckStart("ValidateUpsert");
  if (!s.ok()) return s;
  // What Chroma can hold: it needs no call (engine/vector_store.h).
  return CheckPoints(points, options_.limits, chroma::CheckPayload);
}

StatusOr<std::map<std::string, json>> ChromaStore::ExistingMetadata(
    const CallOptions& options, const Remote& remote, const std::vector<std::string>& ids) const {
  auto records = GetRecords(options, remote, ids, std::nullopt, {"metadatas"}, std::nullopt, 0);
  if (!records.ok()) return records.status();
  std::map<std::string, json> out;
  const json& found = (*records)["ids"];
  const json& metadatas = (*records)["metadatas"];
  for (size_t i = 0; i < found.size(); ++i) {
    out[found[i].get<std::string>()] = metadatas.is_array() ? metadatas[i] : json();
  }
  return out;
}

StatusOr<size_t> ChromaStore::Upsert(const CallOptions& options, const std::string& collection,
                                     std::vector<engine::Point> points) {
  Status s = options.CheckStart("Upsert");
  if (s.ok()) s = ValidateUpsert(options, collection, points);
  if (!s.ok()) return s;
  auto batch = MaxBatchSize(options);
  if (!batch.ok()) return batch.status();
  return WithRemote<size_t>(options, collection, [&](const Remote& remote) -> StatusOr<size_t> {
    Status fits = CheckPointsAgainst(points, remote.dimension, remote.metric, collection);
    if (!fits.ok()) return fits;
    for (size_t from = 0; from < points.size(); from += *batch) {
      const size_t to = std::min(points.size(), from + *batch);
      std::vector<std::string> ids;
      for (size_t i = from; i < to; ++i) ids.push_back(chroma::ToChromaId(points[i].id));
      // Chroma's upsert merges metadata: a key the new payload lacks is removed explicitly.
      auto existing = ExistingMetadata(options, remote, ids);
      if (!existing.ok()) return existing.status();
      json embeddings = json::array();
      json metadatas = json::array();
      for (size_t i = from; i < to; ++i) {
        std::vector<float>& v = points[i].vector;
        // As the local store does: a cosine collection keeps unit vectors.
        if (remote.metric == engine::Metric::kCosine) NormalizeVector(&v);
        embeddings.push_back(v);
        json metadata = chroma::ToMetadata(points[i].payload);
        if (auto it = existing->find(ids[i - from]); it != existing->end()) {
          metadata = chroma::Replacing(std::move(metadata), it->second);
        }
        metadatas.push_back(std::move(metadata));
      }
      const json body = {
          {"ids", ids}, {"embeddings", std::move(embeddings)}, {"metadatas", std::move(metadatas)}};
      auto answer = api_.Call(options, HttpMethod::kPost, CollectionPath(remote) + "/upsert", &body,
                              /*idempotent=*/true);
      if (!answer.ok()) return answer.status();
    }
    return points.size();
  });
}

StatusOr<size_t> ChromaStore::ForExisting(
    const CallOptions& options, const Remote& remote, const std::vector<engine::PointId>& ids,
    const std::function<Status(const std::map<std::string, json>& existing)>& each) const {
  auto batch = MaxBatchSize(options);
  if (!batch.ok()) return batch.status();
  const std::vector<std::string> all = ChromaIds(ids);
  size_t found = 0;
  for (size_t from = 0; from < all.size(); from += *batch) {
    const std::vector<std::string> part(all.begin() + from,
                                        all.begin() + std::min(all.size(), from + *batch));
    auto existing = ExistingMetadata(options, remote, part);
    if (!existing.ok()) return existing.status();
    if (existing->empty()) continue;
    Status s = each(*existing);
    if (!s.ok()) return s;
    found += existing->size();
  }
  return found;
}

StatusOr<size_t> ChromaStore::Delete(const CallOptions& options, const std::string& collection,
                                     const std::vector<engine::PointId>& ids) {
  Status s = options.CheckStart("Delete");
  if (s.ok()) s = CheckIds(ids, options_.limits);
  if (!s.ok()) return s;
  return WithRemote<size_t>(options, collection, [&](const Remote& remote) {
    return ForExisting(options, remote, ids, [&](const std::map<std::string, json>& existing) {
      json present = json::array();
      for (const auto& [id, metadata] : existing) present.push_back(id);
      const json body = {{"ids", present}};
      auto answer = api_.Call(options, HttpMethod::kPost, CollectionPath(remote) + "/delete", &body,
                              /*idempotent=*/true);
      return answer.ok() ? Status::Ok() : answer.status();
    });
  });
}

StatusOr<size_t> ChromaStore::DeleteByFilter(const CallOptions& options,
                                             const std::string& collection,
                                             const engine::Filter& filter) {
  Status s = options.CheckStart("DeleteByFilter");
  if (!s.ok()) return s;
  auto where = chroma::ToWhere(filter);
  if (!where.ok()) return where.status();
  auto batch = MaxBatchSize(options);
  if (!batch.ok()) return batch.status();
  return WithRemote<size_t>(options, collection, [&](const Remote& remote) -> StatusOr<size_t> {
    // Deleted by id, so that the count is exact.
    auto ids = MatchingIds(options, remote, *where);
    if (!ids.ok()) return ids.status();
    for (size_t from = 0; from < ids->size(); from += *batch) {
      const json body = {
          {"ids", json(std::vector<std::string>(
                      ids->begin() + from, ids->begin() + std::min(ids->size(), from + *batch)))}};
      auto answer = api_.Call(options, HttpMethod::kPost, CollectionPath(remote) + "/delete", &body,
                              /*idempotent=*/true);
      if (!answer.ok()) return answer.status();
    }
    return ids->size();
  });
}

Status ChromaStore::ValidateSetPayload(const CallOptions& options, const std::string& collection,
                                       const engine::Payload& payload) const {
  Status s = options.CheckStart("ValidateSetPayload");
  if (!s.ok()) return s;
  return CheckPayloadUpdate(payload, chroma::CheckPayload);
}

StatusOr<size_t> ChromaStore::SetPayload(const CallOptions& options, const std::string& collection,
                                         const std::vector<engine::PointId>& ids,
                                         const engine::Payload& payload, engine::PayloadMode mode) {
  Status s = options.CheckStart("SetPayload");
  if (s.ok()) s = CheckIds(ids, options_.limits);
  if (s.ok()) s = ValidateSetPayload(options, collection, payload);
  if (!s.ok()) return s;
  const json given = chroma::ToMetadata(payload);
  return WithRemote<size_t>(options, collection, [&](const Remote& remote) {
    return ForExisting(options, remote, ids, [&](const std::map<std::string, json>& existing) {
      json present = json::array();
      json metadatas = json::array();
      for (const auto& [id, old] : existing) {
        present.push_back(id);
        metadatas.push_back(mode == engine::PayloadMode::kReplace ? chroma::Replacing(given, old)
                                                                  : given);
      }
      const json body = {{"ids", present}, {"metadatas", metadatas}};
      auto answer = api_.Call(options, HttpMethod::kPost, CollectionPath(remote) + "/update", &body,
                              /*idempotent=*/true);
      return answer.ok() ? Status::Ok() : answer.status();
    });
  });
}

}  // namespace vecmesh::adapters
