// QdrantStore: a VectorStore over a Qdrant server's REST API (1.19:
// ../shared/contracts/qdrant-openapi-1.19.0.json).
//
// Translation (API.md "Backends"; adapters/qdrant/qdrant_translation.h has the rules): integer
// ids are Qdrant's own, a string id is a deterministic UUID whose point keeps the string in its
// payload; payloads are held as they are; filters map condition by condition; Qdrant's scores
// (Euclid distance, Dot, Cosine similarity) are this API's.
//
// A collection is Qdrant's collection of the same name, with one unnamed vector of the
// collection's size and distance; an hnsw index gives its m and ef_construction (Qdrant indexes
// every collection with HNSW; other index types get Qdrant's defaults). Searches take ef_search
// (as hnsw_ef) and exact; nprobe has no meaning there. Every write is sent with wait=true, so it
// is applied when its call returns. A collection's size and distance are cached by name.
//
// Scroll: pages in id order, as the local store's and with its cursor (engine/scroll_cursor.h):
// integer ids in Qdrant's own order, then string ids, which a page orders by listing them all.
//
// Credentials: api_key, when set, goes in the `api-key` header of every request, and nowhere else.
//
// Thread safety: safe for concurrent calls from any number of threads (the VectorStore
// contract). Every call is bounded by its CallOptions deadline (and the HTTP client's timeouts).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adapters/http/http_client.h"
#include "adapters/http/json_api.h"
#include "adapters/remote/collection_cache.h"
#include "engine/vector_store.h"

namespace vecmesh::adapters {

struct QdrantOptions {
  std::string url;      // the server, e.g. http://127.0.0.1:6333
  std::string api_key;  // empty: none sent
  HttpClientOptions http;
  // Set: requests go through it (the instances of a consul:// service), and `url` only names
  // the store in messages; unset: an HttpClient of `url` with `http`.
  std::shared_ptr<HttpSender> sender;
  // The local store's limits, which reads through this store obey too (k, ids per request,
  // searches per batch, scroll page, id bytes).
  engine::Limits limits;
  // An upsert is sent in requests of at most about this many bytes (Qdrant refuses bodies over
  // its max_request_size_mb, 32 MiB by default).
  size_t max_request_bytes = 16u << 20;
};

class QdrantStore : public engine::VectorStore {
 public:
  // Without a sender, InvalidArgument if options.url is not an http(s) URL. Connects lazily.
  static engine::StatusOr<std::unique_ptr<QdrantStore>> Create(QdrantOptions options);
  ~QdrantStore() override;

  // GET /collections: Ok if the server answers and takes the key.
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

  // What Qdrant says of a collection's vectors.
  struct Remote {
    uint32_t dimension = 0;
    engine::Metric metric = engine::Metric::kL2;
  };

 private:
  QdrantStore(QdrantOptions options, std::shared_ptr<HttpSender> http);

  // "/collections/NAME" + `rest`.
  static std::string Path(const std::string& collection, const std::string& rest = "");
  // One call; the answer's `result` (null when it has none).
  engine::StatusOr<nlohmann::json> Call(const engine::CallOptions& options, HttpMethod method,
                                        const std::string& target, const nlohmann::json* body,
                                        bool idempotent) const;
  // GET /collections/NAME/exists.
  engine::StatusOr<bool> Exists(const engine::CallOptions& options, const std::string& name) const;
  // GET /collections/NAME: the collection's description (NotFound naming it).
  engine::StatusOr<nlohmann::json> Describe(const engine::CallOptions& options,
                                            const std::string& name) const;
  // The collection's vectors, cached.
  engine::StatusOr<Remote> Vectors(const engine::CallOptions& options,
                                   const std::string& name) const;
  // The exact number of points `filter` (null: all) matches.
  engine::StatusOr<size_t> CountMatching(const engine::CallOptions& options,
                                         const std::string& collection,
                                         const nlohmann::json* filter) const;
  // Those of `ids` that exist there, once each, in the order of `ids`.
  engine::StatusOr<std::vector<engine::PointId>> Existing(
      const engine::CallOptions& options, const std::string& collection,
      const std::vector<engine::PointId>& ids) const;
  // SetPayload's one call, on points that exist there.
  engine::StatusOr<nlohmann::json> MergePayload(const engine::CallOptions& options,
                                                const std::string& collection,
                                                const std::vector<engine::PointId>& existing,
                                                const engine::Payload& payload);
  engine::StatusOr<nlohmann::json> ReplacePayload(const engine::CallOptions& options,
                                                  const std::string& collection,
                                                  const std::vector<engine::PointId>& existing,
                                                  const engine::Payload& payload);
  // The records of the points with Qdrant ids `ids` (those that exist), as Qdrant gives them.
  engine::StatusOr<nlohmann::json> Retrieve(const engine::CallOptions& options,
                                            const std::string& collection,
                                            const nlohmann::json& ids, bool with_payload,
                                            bool with_vector) const;
  // One page of Qdrant's own scroll: up to `limit` points from `offset` (null: the start), and
  // the id the next page starts from (null: none).
  struct ScrollAnswer {
    nlohmann::json points;
    nlohmann::json next;
  };
  engine::StatusOr<ScrollAnswer> ScrollFrom(const engine::CallOptions& options,
                                            const std::string& collection,
                                            const std::optional<nlohmann::json>& filter,
                                            const nlohmann::json& offset, size_t limit,
                                            bool with_payload, bool with_vector) const;

  const QdrantOptions options_;
  const std::shared_ptr<HttpSender> http_;
  // Requests to Qdrant: the answer's JSON body, or the error Qdrant gave as a Status naming it.
  const JsonApi api_;
  mutable CollectionCache<Remote> remotes_;
};

}  // namespace vecmesh::adapters
