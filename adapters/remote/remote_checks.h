// The checks and conversions every store over the network (Chroma, Qdrant) makes the same way
// on this API's side, so that each refuses bad input with the same message as the local store,
// naming the field and the limit (engine::Limits), before anything is sent.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::adapters {

// What a store checks of a payload: Ok, or InvalidArgument naming its fields from `field`.
using PayloadCheck = std::function<engine::Status(const engine::Payload&, const std::string&)>;

// ValidateUpsert's checks (engine/vector_store.h) that need no server: ids (not empty, at most
// limits.max_id_bytes, none repeated), finite values, and payloads by `check_payload`. Errors
// name "points[i]...".
engine::Status CheckPoints(const std::vector<engine::Point>& points, const engine::Limits& limits,
                           const PayloadCheck& check_payload);
// At most limits.max_ids_per_request ids. Errors name "ids".
engine::Status CheckIds(const std::vector<engine::PointId>& ids, const engine::Limits& limits);
// A scroll's limit in [1, limits.max_scroll_limit].
engine::Status CheckScrollLimit(int64_t limit, const engine::Limits& limits);
// ValidateSetPayload's check: an object that `check_payload` accepts. Errors name "payload".
engine::Status CheckPayloadUpdate(const engine::Payload& payload,
                                  const PayloadCheck& check_payload);
// What the collection there decides of `points`: their dimension, and no zero vector in a
// cosine collection.
engine::Status CheckPointsAgainst(const std::vector<engine::Point>& points,
                                  std::optional<uint32_t> dimension, engine::Metric metric,
                                  const std::string& collection);
// The checks of a batch of searches: their number, and for each k, ef_search, nprobe, a finite
// score_threshold, finite values, the dimension when known. Errors name "searches[i]...".
engine::Status CheckSearches(const std::vector<engine::SearchRequest>& requests,
                             std::optional<uint32_t> dimension, const std::string& collection,
                             const engine::Limits& limits);
// A batch's error for a single search, which names its fields directly ("k", not
// "searches[0].k").
engine::Status Unbatched(const engine::Status& status);

// `v` scaled to unit length, as the local store keeps the vectors of a cosine collection (left
// as it is if zero).
void NormalizeVector(std::vector<float>* v);
// Whether `score` passes a search's score_threshold under `metric` (engine/types.h).
bool WithinThreshold(engine::Metric metric, float score, std::optional<float> threshold);

}  // namespace vecmesh::adapters
