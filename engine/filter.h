// The FILTER language of API.md, parsed and validated once into an immutable tree.
//
//   FILTER := {"must": [COND...], "should": [COND...], "must_not": [COND...]}
//   COND   := {"key": K, "match": {"value": SCALAR}} | {"key": K, "match": {"any": [SCALAR...]}}
//           | {"key": K, "match": {"except": [SCALAR...]}}
//           | {"key": K, "range": {"gt"|"gte"|"lt"|"lte": NUMBER}}
//           | {"has_id": [ID...]} | {"is_empty": {"key": K}} | FILTER
//
// Semantics (Qdrant's): every part is optional; must = all, should = at least one, must_not = none.
// Keys are dotted paths into the payload; arrays anywhere on the path are flattened, so a
// condition holds when any of the values it reaches satisfies it. match compares strings,
// integers and booleans exactly (an integral float payload value equals that integer); except
// holds when the key has at least one value not in the list; range compares numbers; is_empty
// holds when the key is missing, null or an empty array. A Filter is immutable once parsed and
// safe to share between threads.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/point_id.h"
#include "engine/status.h"

namespace vecmesh::engine {

struct FilterLimits {
  int max_depth = 8;           // nesting levels of FILTER objects, the outermost counting 1
  int max_conditions = 128;    // conditions in the whole tree, nested filters included
  size_t max_values = 10'000;  // entries of one match.any / match.except / has_id list
  size_t max_key_bytes = 256;
};

struct Filter;

struct NumericRange {
  std::optional<double> gt, gte, lt, lte;
  bool Contains(double v) const {
    return (!gt || v > *gt) && (!gte || v >= *gte) && (!lt || v < *lt) && (!lte || v <= *lte);
  }
};

struct Condition {
  enum class Kind { kMatchValue, kMatchAny, kMatchExcept, kRange, kHasId, kIsEmpty, kNested };
  Kind kind = Kind::kMatchValue;
  std::string key;                       // all but kHasId and kNested
  std::vector<std::string> values;       // kMatch*: canonical scalars (see CanonicalScalar)
  NumericRange range;                    // kRange
  std::vector<PointId> ids;              // kHasId
  std::shared_ptr<const Filter> nested;  // kNested
};

struct Filter {
  std::vector<Condition> must, should, must_not;

  // Parses and validates `json`. Errors are InvalidArgument naming the offending field by its
  // path from `field` (e.g. "filter.must[2].range.gtx"), and the limit when one is exceeded.
  static StatusOr<Filter> Parse(const nlohmann::json& json, const FilterLimits& limits,
                                std::string_view field = "filter");
};

// The string a scalar is indexed and matched under: "s" + string, "i" + decimal integer,
// "b0"/"b1", or "f" + shortest round-trip decimal for a non-integral number. An integral
// float in int64 range is canonicalised as the integer. Null and containers give nullopt.
std::optional<std::string> CanonicalScalar(const nlohmann::json& value);
// The JSON scalar of a match value (Condition::values): a string, a boolean, or an integer
// (signed 64-bit, or unsigned past 2^63 - 1).
nlohmann::json MatchValueOf(const std::string& canonical);

}  // namespace vecmesh::engine
