// VectorStore: the interface every store implements (the FAISS-backed LocalStore here; the
// Qdrant and Chroma adapters later). The service layer composes stores through it.
//
// Contract for implementations: every method is safe for concurrent calls from any number of
// threads; a call that fails changes nothing (a batch is applied whole or not at all); errors
// are Status values (InvalidArgument naming the field and the limit, NotFound for an unknown
// collection...), never exceptions.
#pragma once

#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::engine {

class VectorStore {
 public:
  virtual ~VectorStore() = default;

  // true if created; false if an identical collection already exists; AlreadyExists if one
  // exists with another configuration.
  virtual StatusOr<bool> CreateCollection(const CollectionConfig& config) = 0;
  virtual StatusOr<CollectionInfo> GetCollection(const std::string& name) const = 0;
  virtual std::vector<CollectionInfo> ListCollections() const = 0;
  virtual Status DropCollection(const std::string& name) = 0;

  // Inserts or replaces; returns the number of points written.
  virtual StatusOr<size_t> Upsert(const std::string& collection, std::vector<Point> points) = 0;
  // Returns how many of the ids existed (and are now deleted).
  virtual StatusOr<size_t> Delete(const std::string& collection,
                                  const std::vector<PointId>& ids) = 0;
  virtual StatusOr<size_t> DeleteByFilter(const std::string& collection, const Filter& filter) = 0;
  // Returns how many of the ids existed (and were updated). `payload` must be an object.
  virtual StatusOr<size_t> SetPayload(const std::string& collection,
                                      const std::vector<PointId>& ids, const Payload& payload,
                                      PayloadMode mode) = 0;

  // Unknown ids are left out; the others come in request order.
  virtual StatusOr<std::vector<Record>> Get(const std::string& collection,
                                            const std::vector<PointId>& ids, bool with_payload,
                                            bool with_vector) const = 0;
  // Exact count of the points matching `filter` (all points when null).
  virtual StatusOr<size_t> Count(const std::string& collection, const Filter* filter) const = 0;
  virtual StatusOr<ScrollPage> Scroll(const std::string& collection,
                                      const ScrollRequest& request) const = 0;

  // One result list per request, best first.
  virtual StatusOr<std::vector<std::vector<ScoredPoint>>> SearchBatch(
      const std::string& collection, const std::vector<SearchRequest>& requests) const = 0;
};

}  // namespace vecmesh::engine
