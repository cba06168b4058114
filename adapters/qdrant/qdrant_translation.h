// The translations between this API and Qdrant's (API.md "Backends"): exact, or refused with
// InvalidArgument naming the field or the condition and Qdrant. Pure functions: no network.
//
// Ids (Qdrant's are unsigned 64-bit integers and UUIDs):
//   - an integer id is itself: 7 is 7;
//   - a string id s is the UUID version 5 (RFC 4122) of "vecmesh:id:" + s in the URL namespace
//     (Python: uuid.uuid5(uuid.NAMESPACE_URL, "vecmesh:id:" + s)), and the point's payload
//     there keeps s under the key "_vecmesh_id", which gives it back: "7" and 7 stay distinct.
//     A UUID point that does not carry the key (written there by someone else) reads back with
//     its UUID as a string id; that id maps to another UUID, so such a point is read-only
//     through vecmesh.
// Payloads: any JSON object is held as it is; a top-level key "_vecmesh_id" is refused (it is
//   the adapter's own). An empty payload reads back as {}.
// Filters: the same language (API.md's filters are Qdrant's), condition by condition; has_id
//   through the id map; lists without repeats (Qdrant's are sets). Where Qdrant reads or compares
//   differently, the condition is rewritten:
//   - keys: a level of a dotted key may be an object or an array of objects here, while Qdrant's
//     path says which ("a.b" or "a[].b"): a condition on "a.b" holds on either path (is_empty
//     on both). Keys of more than 5 levels are refused (their paths double at each level). A
//     level of other characters than [A-Za-z0-9_-] is quoted ("a.\"x y\"");
//   - match of an integer n with |n| < 2^53 is the range [n, n]: Qdrant matches an integer only
//     against integer values, while here an integral float value equals that integer. A larger
//     integer is matched as an integer (where a float value of that size would not equal it);
//   - match.any of mixed kinds is a should of one condition per kind and value; an empty any
//     matches nothing.
//   Refused, naming the condition: match.except of anything but strings (Qdrant takes an
//   integral float value as outside a list of integers, and has no except of booleans) or of
//   none, an integer past 2^63 - 1 in a match, a key with a '"', and the key "_vecmesh_id".
//   Left as Qdrant reads them (no filter could say otherwise): a payload key that itself holds a
//   '.' (a filter's dotted key is a path), arrays nested in arrays, [null] (empty here, not
//   there), and an object value under match.except (outside the list there, no value here).
// Scores: Qdrant's Euclid (the distance), Dot and Cosine (similarities) are this API's l2, ip and
//   cosine scores as they are.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "engine/filter.h"
#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::adapters::qdrant {

// The payload key that keeps a string id.
inline constexpr std::string_view kIdKey = "_vecmesh_id";

// The UUID of string id `id`, in lowercase hyphenated form.
std::string UuidOf(std::string_view id);
// Qdrant's id of `id`: a number, or the UUID of a string.
nlohmann::json ToQdrantId(const engine::PointId& id);
// The id of the point Qdrant gives as `id` (a number or a UUID string) with `payload` (its
// payload as given, null when not asked for).
engine::PointId FromQdrantId(const nlohmann::json& id, const nlohmann::json& payload);

// Ok if Qdrant can hold `payload` (an object, or null); errors name its fields from `field`.
engine::Status CheckPayload(const engine::Payload& payload, const std::string& field);
// The payload to write for point `id`: `payload` (null: {}) with the id key for a string id.
nlohmann::json ToQdrantPayload(const engine::Payload& payload, const engine::PointId& id);
// The payload Qdrant gives back, without the id key (null: {}).
engine::Payload FromQdrantPayload(nlohmann::json payload);

// Qdrant's filter for `filter`.
engine::StatusOr<nlohmann::json> ToQdrantFilter(const engine::Filter& filter);

// Qdrant's distance for `metric` ("Euclid", "Dot", "Cosine"), and back (nullopt for one this API
// does not have, Manhattan).
std::string ToDistance(engine::Metric metric);
std::optional<engine::Metric> FromDistance(std::string_view distance);

}  // namespace vecmesh::adapters::qdrant
