// The translations between this API and Chroma's (API.md "Backends"): exact, or refused with
// InvalidArgument naming the field or the condition and Chroma. Pure functions: no network.
//
// Ids (Chroma's are strings):
//   - an integer id n is its decimal form: 7 is "7";
//   - a string id is kept as it is, unless it is itself the decimal form of an integer id
//     ("7", not "007") or starts with "s:": then it gets the prefix "s:" ("7" is "s:7", "s:x"
//     is "s:s:x").
//   So the map is one to one, and every id reads back as exactly the id written (type included).
// Payloads: Chroma keeps flat metadata of scalars (string, bool, signed 64-bit integer, float).
//   A payload holding anything else (an object, an array, null, an integer past 2^63 - 1) or a
//   key starting with "chroma:" (Chroma's own, which it drops or misreads) is refused. An empty
//   payload is no metadata.
// Filters to `where`: match value and match any become $eq / $in (and $ne / $nin under
//   must_not: like this API, Chroma's negations match points without the key), ranges become
//   $gt/$gte/$lt/$lte, must/should/must_not become $and/$or with the negations pushed down.
//   Chroma compares a non-integral number with an integer field after truncating it toward zero
//   ({"n": {"$lt": 1.5}} leaves out n = 1): such range bounds are rewritten so that the answer
//   is exact. Refused, naming the condition: has_id, is_empty, match except, a range
//   under must_not (Chroma cannot say "the key is missing"), a dotted key (a nested path: Chroma
//   holds no nested metadata), an integer past 2^63 - 1.
// Scores: Chroma's distances (squared l2, 1 - cos, 1 - dot) become l2 distance, cosine
//   similarity and inner product.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/filter.h"
#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::adapters::chroma {

std::string ToChromaId(const engine::PointId& id);
engine::PointId FromChromaId(const std::string& id);

// Ok if Chroma can hold `payload` (an object, or null); errors name its fields from `field`
// ("points[3].payload.tags").
engine::Status CheckPayload(const engine::Payload& payload, const std::string& field);
// The metadata of `payload` (checked): null for an empty one.
nlohmann::json ToMetadata(const engine::Payload& payload);
// What to send so that a record's metadata `previous` becomes `next` (ToMetadata) under Chroma's
// upsert and update, which merge: every key of `previous` that `next` lacks, set to null.
nlohmann::json Replacing(nlohmann::json next, const nlohmann::json& previous);
// The payload of Chroma's `metadata` (null: {}).
engine::Payload FromMetadata(const nlohmann::json& metadata);

// The `where` of `filter`; nullopt when it matches everything (no where is sent).
engine::StatusOr<std::optional<nlohmann::json>> ToWhere(const engine::Filter& filter);

// Chroma's hnsw space for `metric` ("l2", "ip", "cosine"), and back (nullopt if unknown).
std::string ToSpace(engine::Metric metric);
std::optional<engine::Metric> FromSpace(const std::string& space);
// This API's score of Chroma's `distance` under `metric`.
float ToScore(engine::Metric metric, double distance);

// Ok if Chroma takes `name` as a collection name: 3 to 512 characters of [A-Za-z0-9._-],
// starting and ending with a letter or digit.
engine::Status CheckCollectionName(const std::string& name);

}  // namespace vecmesh::adapters::chroma
