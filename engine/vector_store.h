// VectorStore: the interface every store implements (the FAISS-backed LocalStore here; the
// Qdrant and Chroma adapters over REST). The service layer composes stores through it; what only
// the local store can do is behind LocalAdmin (engine/local_admin.h).
//
// Contract for implementations: every method is safe for concurrent calls from any number of
// threads; a call that fails changes nothing (a batch is applied whole or not at all); errors
// are Status values (InvalidArgument naming the field and the limit, NotFound for an unknown
// collection...), never exceptions.
//
// Every method takes the call's CallOptions first. A call whose deadline has passed before it
// starts answers DeadlineExceeded, naming the operation, and changes nothing. Past that check,
// what the deadline interrupts is the implementation's to say: LocalStore never interrupts work
// in memory; a store over the network stops waiting for its backend at the deadline.
#pragma once

#include <string>
#include <vector>

#include "engine/call_options.h"
#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::engine {

class VectorStore {
 public:
  virtual ~VectorStore() = default;

  // Every check CreateCollection makes of `config` itself (the name, the dimension, the index
  // parameters: what this store can hold), without looking at what exists and writing nothing.
  virtual Status ValidateCreateCollection(const CallOptions& options,
                                          const CollectionConfig& config) const = 0;
  // true if created; false if an identical collection already exists; AlreadyExists if one
  // exists with another configuration.
  virtual StatusOr<bool> CreateCollection(const CallOptions& options,
                                          const CollectionConfig& config) = 0;
  virtual StatusOr<CollectionInfo> GetCollection(const CallOptions& options,
                                                 const std::string& name) const = 0;
  virtual StatusOr<std::vector<CollectionInfo>> ListCollections(
      const CallOptions& options) const = 0;
  virtual Status DropCollection(const CallOptions& options, const std::string& name) = 0;

  // Every check an upsert of `points` into `collection` makes (dimension, finite values, ids,
  // payload sizes, no repeated id) except the limit on points per request, writing nothing:
  // so that a batch or a job can be refused whole before any of it is written. A remote store
  // checks here only what it can without asking its server (what it can hold: ids, values,
  // payloads); what the collection there decides (that it exists, its dimension) its Upsert
  // checks, refusing the whole batch the same way.
  virtual Status ValidateUpsert(const CallOptions& options, const std::string& collection,
                                const std::vector<Point>& points) const = 0;
  // Inserts or replaces; returns the number of points written.
  virtual StatusOr<size_t> Upsert(const CallOptions& options, const std::string& collection,
                                  std::vector<Point> points) = 0;
  // Returns how many of the ids existed (and are now deleted).
  virtual StatusOr<size_t> Delete(const CallOptions& options, const std::string& collection,
                                  const std::vector<PointId>& ids) = 0;
  virtual StatusOr<size_t> DeleteByFilter(const CallOptions& options, const std::string& collection,
                                          const Filter& filter) = 0;
  // Every check SetPayload makes of `payload` itself (an object this store can hold), writing
  // nothing. Errors name its fields from "payload".
  virtual Status ValidateSetPayload(const CallOptions& options, const std::string& collection,
                                    const Payload& payload) const = 0;
  // Returns how many of the ids existed (and were updated). `payload` must be an object.
  virtual StatusOr<size_t> SetPayload(const CallOptions& options, const std::string& collection,
                                      const std::vector<PointId>& ids, const Payload& payload,
                                      PayloadMode mode) = 0;

  // Unknown ids are left out; the others come in request order.
  virtual StatusOr<std::vector<Record>> Get(const CallOptions& options,
                                            const std::string& collection,
                                            const std::vector<PointId>& ids, bool with_payload,
                                            bool with_vector) const = 0;
  // Exact count of the points matching `filter` (all points when null).
  virtual StatusOr<size_t> Count(const CallOptions& options, const std::string& collection,
                                 const Filter* filter) const = 0;
  virtual StatusOr<ScrollPage> Scroll(const CallOptions& options, const std::string& collection,
                                      const ScrollRequest& request) const = 0;

  // One search, best first; error messages name its fields directly ("k").
  virtual StatusOr<std::vector<ScoredPoint>> Search(const CallOptions& options,
                                                    const std::string& collection,
                                                    const SearchRequest& request) const = 0;
  // One result list per request, best first; error messages name a request's fields by its
  // place ("searches[2].k").
  virtual StatusOr<std::vector<std::vector<ScoredPoint>>> SearchBatch(
      const CallOptions& options, const std::string& collection,
      const std::vector<SearchRequest>& requests) const = 0;
};

}  // namespace vecmesh::engine
