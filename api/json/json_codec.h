// The JSON forms of API.md: decoding request bodies into the service layer's types, and
// encoding its answers. Decoding checks shape and types only (unknown fields, wrong types,
// missing fields), naming the field by its path ("searches[2].params.nprobe"); the service layer
// and the engine check values and limits. Used by the REST transport and by the indexing jobs'
// messages, and fuzzed.
//
// Thread safety: plain functions over values.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/service/service.h"

namespace vecmesh::api {

using nlohmann::json;

// Parses a request body: INVALID_ARGUMENT naming the byte offset if it is not JSON, or if it is
// not an object. An empty body is an empty object.
StatusOr<json> ParseBody(std::string_view body);

StatusOr<CreateCollectionRequest> DecodeCreateCollection(const std::string& name, const json& body);
StatusOr<std::vector<engine::Point>> DecodePoints(const json& body);
StatusOr<GetPointsRequest> DecodeGetPoints(const json& body);
StatusOr<DeletePointsRequest> DecodeDeletePoints(const json& body, const engine::Limits& limits);
StatusOr<UpdatePayloadRequest> DecodeUpdatePayload(const json& body);
StatusOr<CountRequest> DecodeCount(const json& body, const engine::Limits& limits);
StatusOr<ScrollPointsRequest> DecodeScroll(const json& body, const engine::Limits& limits);
StatusOr<Search> DecodeSearch(const json& body, const engine::Limits& limits);
StatusOr<std::vector<Search>> DecodeSearchBatch(const json& body, const engine::Limits& limits);

struct LegacyCreateIndex {
  std::string name;
  int64_t dimension = 0;  // range-checked by the service, as for CreateCollection
};
struct LegacySearchRequest {
  std::string index;
  std::vector<float> vector;
  int64_t k = 5;
};
StatusOr<LegacyCreateIndex> DecodeLegacyCreateIndex(const json& body);
StatusOr<LegacyAddVectorsRequest> DecodeLegacyAddVectors(const json& body);
StatusOr<LegacySearchRequest> DecodeLegacySearch(const json& body);

json EncodeId(const engine::PointId& id);
json EncodeCollection(const CollectionView& view);
json EncodeRecord(const engine::Record& record);
json EncodeScoredPoint(const engine::ScoredPoint& point);
// {"STORE": {"status": "ok|pending|failed|unavailable", "pending": n, "message"?: "..."}}
json EncodeStoreStates(const StoreStates& states);
// {"STORE": {"status": "ok|error", "took_ms", "pending", "message"?}}: how each store answered.
json EncodeStoreOutcomes(const std::vector<StoreOutcome>& outcomes);
json EncodeSearchAnswer(const SearchAnswer& answer);  // {"results": [...], "stores"?: {...}}
json EncodeJob(const Job& job);
json EncodeError(const engine::Status& status);  // {"error": {"code", "message"}}

}  // namespace vecmesh::api
