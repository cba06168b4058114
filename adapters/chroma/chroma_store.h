// ChromaStore: a VectorStore over a Chroma 1.x server's REST v2 API
// (../shared/contracts/chroma-openapi-1.0.0.json), in one tenant and database.
//
// Translation (API.md "Backends"; adapters/chroma/chroma_translation.h has the rules): ids map
// to Chroma's string ids one to one (7 is "7"; a string id is kept unless it would collide),
// payloads to flat scalar metadata, filters to `where`, and Chroma's distances (squared l2,
// 1 - cos, 1 - dot) back to this API's scores. What Chroma cannot hold or express is refused
// before anything is sent, naming the field or the condition.
//
// A collection is Chroma's collection of the same name (Chroma asks for 3 to 512 characters
// starting and ending with a letter or a digit: other names are refused at creation). Its uuid,
// by which Chroma addresses it, is cached, and looked up again when Chroma no longer knows it.
// Writes replace a point's whole payload (Chroma's upsert merges metadata: keys the new payload
// does not name are removed explicitly). Search parameters (ef_search, nprobe, exact) are not
// Chroma's to take: its own HNSW answers, with the ef_search the collection was created with.
//
// Thread safety: safe for concurrent calls from any number of threads (the VectorStore
// contract). Every call is bounded by its CallOptions deadline (and the HTTP client's timeouts).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adapters/http/http_client.h"
#include "adapters/http/json_api.h"
#include "adapters/remote/collection_cache.h"
#include "engine/vector_store.h"

namespace vecmesh::adapters {

struct ChromaOptions {
  std::string url;  // the server, e.g. http://127.0.0.1:8000
  std::string tenant = "default_tenant";
  std::string database = "default_database";
  HttpClientOptions http;
  // Set: requests go through it (the instances of a consul:// service), and `url` only names
  // the store in messages; unset: an HttpClient of `url` with `http`.
  std::shared_ptr<HttpSender> sender;
  // The local store's limits, which reads through this store obey too (k, ids per request,
  // searches per batch, scroll page, id bytes).
  engine::Limits limits;
};

class ChromaStore : public engine::VectorStore {
 public:
  // Without a sender, InvalidArgument if options.url is not an http(s) URL. Connects lazily.
  static engine::StatusOr<std::unique_ptr<ChromaStore>> Create(ChromaOptions options);
  ~ChromaStore() override;

  // GET /api/v2/heartbeat: Ok if the server answers.
  engine::Status Heartbeat(const engine::CallOptions& options);
  // The HTTP client's counters and breaker, for /metrics.
  HttpStats http_stats() const;

  engine::Status ValidateCreateCollection(const engine::CallOptions& options,
                                          const engine::CollectionConfig& config) const override;
  engine::StatusOr<bool> CreateCollection(const engine::CallOptions& options,
                                          const engine::CollectionConfig& config) override;
  engine::StatusOr<engine::CollectionInfo> GetCollection(const engine::CallOptions& options,
                                                         const std::string& name) const override;
  engine::StatusOr<std::vector<engine::CollectionInfo>> ListCollections(
      const engine::CallOptions& options) const override;
  engine::Status DropCollection(const engine::CallOptions& options,
                                const std::string& name) override;

  engine::Status ValidateUpsert(const engine::CallOptions& options, const std::string& collection,
                                const std::vector<engine::Point>& points) const override;
  engine::StatusOr<size_t> Upsert(const engine::CallOptions& options, const std::string& collection,
                                  std::vector<engine::Point> points) override;
  engine::StatusOr<size_t> Delete(const engine::CallOptions& options, const std::string& collection,
                                  const std::vector<engine::PointId>& ids) override;
  engine::StatusOr<size_t> DeleteByFilter(const engine::CallOptions& options,
                                          const std::string& collection,
                                          const engine::Filter& filter) override;
  engine::Status ValidateSetPayload(const engine::CallOptions& options,
                                    const std::string& collection,
                                    const engine::Payload& payload) const override;
  engine::StatusOr<size_t> SetPayload(const engine::CallOptions& options,
                                      const std::string& collection,
                                      const std::vector<engine::PointId>& ids,
                                      const engine::Payload& payload,
                                      engine::PayloadMode mode) override;

  engine::StatusOr<std::vector<engine::Record>> Get(const engine::CallOptions& options,
                                                    const std::string& collection,
                                                    const std::vector<engine::PointId>& ids,
                                                    bool with_payload,
                                                    bool with_vector) const override;
  engine::StatusOr<size_t> Count(const engine::CallOptions& options, const std::string& collection,
                                 const engine::Filter* filter) const override;
  engine::StatusOr<engine::ScrollPage> Scroll(const engine::CallOptions& options,
                                              const std::string& collection,
                                              const engine::ScrollRequest& request) const override;
  engine::StatusOr<std::vector<engine::ScoredPoint>> Search(
      const engine::CallOptions& options, const std::string& collection,
      const engine::SearchRequest& request) const override;
  engine::StatusOr<std::vector<std::vector<engine::ScoredPoint>>> SearchBatch(
      const engine::CallOptions& options, const std::string& collection,
      const std::vector<engine::SearchRequest>& requests) const override;

  // What Chroma says of a collection.
  struct Remote {
    std::string uuid;
    engine::Metric metric = engine::Metric::kL2;
    std::optional<uint32_t> dimension;  // unknown until it holds a point (or we created it)
    nlohmann::json hnsw;                // configuration_json.hnsw
  };

 private:
  ChromaStore(ChromaOptions options, std::shared_ptr<HttpSender> http);

  // The collection as Chroma has it now (NotFound if it has none of that name).
  engine::StatusOr<Remote> Fetch(const engine::CallOptions& options, const std::string& name) const;
  // Runs `call` on the collection's cached Remote; if Chroma no longer knows its uuid (the
  // collection was dropped and made again), looks the name up again and runs it once more.
  template <typename T>
  engine::StatusOr<T> WithRemote(
      const engine::CallOptions& options, const std::string& name,
      const std::function<engine::StatusOr<T>(const Remote&)>& call) const {
    if (std::optional<Remote> cached = remotes_.Get(name)) {
      engine::StatusOr<T> result = call(*cached);
      if (result.ok() || result.status().code() != engine::StatusCode::kNotFound) return result;
    }
    auto remote = Fetch(options, name);
    if (!remote.ok()) return remote.status();
    return call(*remote);
  }
  // The collection's description, with its count.
  engine::StatusOr<engine::CollectionInfo> Info(const engine::CallOptions& options,
                                                const std::string& name,
                                                const Remote& remote) const;
  // The collection's target prefix, P/collections/UUID.
  std::string CollectionPath(const Remote& remote) const;
  engine::StatusOr<size_t> MaxBatchSize(const engine::CallOptions& options) const;
  // POST .../get: the records of `ids` (all of them: ids empty and no where), or of the
  // points `where` matches, with what `include` names, in Chroma's order.
  engine::StatusOr<nlohmann::json> GetRecords(const engine::CallOptions& options,
                                              const Remote& remote, const nlohmann::json& ids,
                                              const std::optional<nlohmann::json>& where,
                                              const std::vector<std::string>& include,
                                              std::optional<size_t> limit, size_t offset) const;
  // The Chroma ids of the points `where` matches (every point when nullopt).
  engine::StatusOr<std::vector<std::string>> MatchingIds(
      const engine::CallOptions& options, const Remote& remote,
      const std::optional<nlohmann::json>& where) const;
  // Runs `each` on the points of `ids` that exist there, a max_batch_size chunk at a time, with
  // their metadata by Chroma id; returns how many existed.
  engine::StatusOr<size_t> ForExisting(
      const engine::CallOptions& options, const Remote& remote,
      const std::vector<engine::PointId>& ids,
      const std::function<engine::Status(const std::map<std::string, nlohmann::json>& existing)>&
          each) const;
  // The metadata Chroma holds for each of `ids` that exists, by Chroma id.
  engine::StatusOr<std::map<std::string, nlohmann::json>> ExistingMetadata(
      const engine::CallOptions& options, const Remote& remote,
      const std::vector<std::string>& ids) const;
  engine::StatusOr<std::vector<std::vector<engine::ScoredPoint>>> Query(
      const engine::CallOptions& options, const Remote& remote,
      const std::vector<const engine::SearchRequest*>& requests,
      const std::optional<nlohmann::json>& where) const;

  const ChromaOptions options_;
  const std::shared_ptr<HttpSender> http_;
  // Requests to Chroma: the answer's JSON body, or the error Chroma gave as a Status naming it.
  const JsonApi api_;
  const std::string prefix_;  // /api/v2/tenants/T/databases/D

  mutable std::mutex mu_;                         // guards max_batch_size_
  mutable std::optional<size_t> max_batch_size_;  // pre-flight-checks
  mutable CollectionCache<Remote> remotes_;
};

}  // namespace vecmesh::adapters
