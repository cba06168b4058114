// The store router: between the service layer and the stores (../shared/DESIGN.md, "The unified
// store"). It knows the stores by name (API.md's backend names: faiss, qdrant, chroma), reads
// each collection's backends from the durable catalog, routes reads to the store asked for (by
// default the first backend), and fans a search out to every backend with a per-store outcome.
//
// The catalog is the catalog store's collection configurations (CollectionConfig::backends),
// kept with each collection in its write-ahead log and checkpoints: the catalog store is the
// local store, vecmesh's system of record, which holds every collection. Writes go to it;
// delivering them to a collection's remote backends is the delivery log's job (issue 11).
//
// Thread safety: every method is safe for concurrent use; the router itself is immutable.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "engine/types.h"
#include "engine/vector_store.h"

namespace vecmesh::api {

using engine::CallOptions;
using engine::Status;
using engine::StatusOr;

// How one store fared in a fanned-out call.
struct StoreOutcome {
  std::string store;
  Status status;
  double took_ms = 0;
  uint64_t pending = 0;  // writes not yet applied there (a remote store's answer may be stale)
};

// A search answered by every backend, merged.
struct FannedOutSearch {
  std::vector<engine::ScoredPoint> results;  // merged by score, deduplicated by id, best k
  std::vector<StoreOutcome> stores;          // one per backend, in the collection's order
};

class StoreRouter {
 public:
  // `stores` by name; `catalog` names the one that holds the catalog (and every collection).
  StoreRouter(std::map<std::string, std::shared_ptr<engine::VectorStore>> stores,
              std::string catalog);

  // Whether a store of that name is configured.
  bool Has(std::string_view store) const { return stores_.count(std::string(store)) > 0; }
  // The store of that name; null if none is configured.
  std::shared_ptr<engine::VectorStore> Store(std::string_view store) const;
  // The store that holds the catalog. Writes go to it.
  engine::VectorStore& catalog() const { return *catalog_; }

  // The backends of `collection`, from the catalog, in their order (never empty).
  StatusOr<std::vector<std::string>> BackendsOf(const CallOptions& options,
                                                const std::string& collection) const;
  // The store that answers a read of `collection`: `store` when given (it must be one of the
  // collection's backends; `field` names it in errors), else the collection's first backend.
  StatusOr<std::shared_ptr<engine::VectorStore>> ReadStore(const CallOptions& options,
                                                           const std::string& collection,
                                                           const std::optional<std::string>& store,
                                                           std::string_view field) const;

  // Searches every backend of `collection` at once and merges their answers by score (for the
  // collection's metric), keeping the best of each id. A store that fails is reported in its
  // outcome and does not fail the search, unless every store failed: then the error of the one
  // store of a single-backend collection as it is; for several, UNAVAILABLE with each store's
  // message, or the request's own INVALID_ARGUMENT when every store refused it.
  // Search's errors name the request's fields directly ("k").
  StatusOr<FannedOutSearch> SearchAll(const CallOptions& options, const std::string& collection,
                                      const engine::SearchRequest& request) const;
  // The same for a batch, each store asked once for all of it; one answer per request, in
  // order, each with every store's outcome. Errors name fields as searches[i].field.
  StatusOr<std::vector<FannedOutSearch>> SearchBatchAll(
      const CallOptions& options, const std::string& collection,
      const std::vector<engine::SearchRequest>& requests) const;

 private:
  using Results = std::vector<std::vector<engine::ScoredPoint>>;
  // Asks every backend of `collection` with `ask` at once, and merges request by request.
  StatusOr<std::vector<FannedOutSearch>> FanOut(
      const CallOptions& options, const std::string& collection,
      const std::vector<engine::SearchRequest>& requests,
      const std::function<StatusOr<Results>(const engine::VectorStore&)>& ask) const;

  const std::map<std::string, std::shared_ptr<engine::VectorStore>> stores_;
  const std::shared_ptr<engine::VectorStore> catalog_;
};

}  // namespace vecmesh::api
