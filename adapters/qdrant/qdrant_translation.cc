#include "adapters/qdrant/qdrant_translation.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

namespace vecmesh::adapters::qdrant {
namespace {

using engine::Condition;
using engine::Filter;
using engine::Status;
using engine::StatusOr;
using json = nlohmann::json;

constexpr std::string_view kIdPrefix = "vecmesh:id:";
// RFC 4122's name space for URLs, 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
constexpr unsigned char kUrlNamespace[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                             0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
// The most levels a filter key may have: each inner level doubles the paths it takes there.
constexpr size_t kMaxLevels = 5;
// Integers up to this magnitude are exact as doubles, so a range [n, n] matches exactly n.
constexpr double kExactIntegers = 9007199254740992.0;  // 2^53

Status Refuse(const std::string& what) {
  return Status::InvalidArgument(what + ": Qdrant cannot express it");
}

// Qdrant's paths for `key` (see the header): one per way of reading each inner level as an
// object or as an array of them, segments of other characters than [A-Za-z0-9_-] quoted.
StatusOr<std::vector<std::string>> Paths(const std::string& key, const std::string& where) {
  std::vector<std::string> segments;
  for (size_t from = 0;;) {
    const size_t dot = key.find('.', from);
    segments.push_back(key.substr(from, dot == std::string::npos ? dot : dot - from));
    if (dot == std::string::npos) break;
    from = dot + 1;
  }
  if (segments.front() == kIdKey) {
    return Status::InvalidArgument(where + ".key '" + key +
                                   "' is the key that keeps string ids in Qdrant");
  }
  if (segments.size() > kMaxLevels) {
    return Refuse(where + ".key '" + key + "' (more than " + std::to_string(kMaxLevels) +
                  " levels; Qdrant's paths name each array on the way)");
  }
  for (std::string& segment : segments) {
    const bool plain = !segment.empty() && std::all_of(segment.begin(), segment.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
    if (plain) continue;
    if (segment.find('"') != std::string::npos) {
      return Refuse(where + ".key '" + key + "' (a '\"' in a key)");
    }
    segment = "\"" + segment + "\"";
  }
  std::vector<std::string> paths = {segments.front()};
  for (size_t i = 1; i < segments.size(); ++i) {
    std::vector<std::string> longer;
    for (const std::string& path : paths) {
      longer.push_back(path + "." + segments[i]);
      longer.push_back(path + "[]." + segments[i]);
    }
    paths = std::move(longer);
  }
  return paths;
}

// The condition `kind: value` on `key`: on each of its paths, any of which may hold.
StatusOr<json> Field(const std::string& key, const char* kind, const json& value,
                     const std::string& where) {
  auto paths = Paths(key, where);
  if (!paths.ok()) return paths.status();
  json conditions = json::array();
  for (const std::string& path : *paths) conditions.push_back(json{{"key", path}, {kind, value}});
  if (conditions.size() == 1) return conditions[0];
  return json{{"should", std::move(conditions)}};
}

// is_empty of `key`: on every one of its paths (the must_not of a field condition on all of them).
StatusOr<json> IsEmpty(const std::string& key, const std::string& where) {
  auto paths = Paths(key, where);
  if (!paths.ok()) return paths.status();
  json conditions = json::array();
  for (const std::string& path : *paths) conditions.push_back({{"is_empty", {{"key", path}}}});
  if (conditions.size() == 1) return conditions[0];
  return json{{"must", std::move(conditions)}};
}

// `values` once each, in their order (Qdrant's lists are sets).
json Distinct(const json& values) {
  json out = json::array();
  for (const json& v : values) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

// One match value as a Qdrant condition (see the header: integers of double precision and
// below are ranges, so that integral float values match them too).
// `where` names the condition, `value_where` the value in it.
StatusOr<json> MatchOne(const std::string& key, const json& value, const std::string& where,
                        const std::string& value_where) {
  if (value.is_number_unsigned() &&
      value.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
    return Refuse(value_where + " (" + value.dump() + " is past Qdrant's signed 64-bit integers)");
  }
  if (value.is_number() && std::fabs(value.get<double>()) < kExactIntegers) {
    return Field(key, "range", {{"gte", value}, {"lte", value}}, where);
  }
  return Field(key, "match", {{"value", value}}, where);
}

StatusOr<json> Translate(const Filter& filter, const std::string& where);

StatusOr<json> Translate(const Condition& c, const std::string& where) {
  std::vector<json> values;
  for (const std::string& canonical : c.values) values.push_back(engine::MatchValueOf(canonical));
  switch (c.kind) {
    case Condition::Kind::kMatchValue:
      return MatchOne(c.key, values.at(0), where, where + ".match.value");
    case Condition::Kind::kMatchAny: {
      // Nothing matches an empty list: an empty has_id says so.
      if (values.empty()) return json{{"has_id", json::array()}};
      json strings = json::array();
      json parts = json::array();
      for (size_t i = 0; i < values.size(); ++i) {
        if (values[i].is_string()) {
          strings.push_back(values[i]);
          continue;
        }
        auto part =
            MatchOne(c.key, values[i], where, where + ".match.any[" + std::to_string(i) + "]");
        if (!part.ok()) return part.status();
        parts.push_back(std::move(*part));
      }
      if (!strings.empty()) {
        auto part = Field(c.key, "match", {{"any", Distinct(strings)}}, where);
        if (!part.ok()) return part.status();
        parts.push_back(std::move(*part));
      }
      if (parts.size() == 1) return parts[0];
      return json{{"should", std::move(parts)}};
    }
    case Condition::Kind::kMatchExcept: {
      // Qdrant's except of strings holds for a value of another kind, as this API's does; of
      // integers it takes an integral float for a value outside the list, and an empty one
      // holds for an object value: those cannot be said exactly.
      if (values.empty()) {
        return Refuse(where + ".match.except (an empty list: use must_not is_empty)");
      }
      for (size_t i = 0; i < values.size(); ++i) {
        if (!values[i].is_string()) {
          return Refuse(where + ".match.except[" + std::to_string(i) + "] (" + values[i].dump() +
                        "; Qdrant's except is exact for strings only)");
        }
      }
      return Field(c.key, "match", {{"except", Distinct(values)}}, where);
    }
    case Condition::Kind::kRange: {
      json range = json::object();
      if (c.range.gt) range["gt"] = *c.range.gt;
      if (c.range.gte) range["gte"] = *c.range.gte;
      if (c.range.lt) range["lt"] = *c.range.lt;
      if (c.range.lte) range["lte"] = *c.range.lte;
      return Field(c.key, "range", range, where);
    }
    case Condition::Kind::kHasId: {
      json ids = json::array();
      for (const engine::PointId& id : c.ids) ids.push_back(ToQdrantId(id));
      return json{{"has_id", Distinct(ids)}};
    }
    case Condition::Kind::kIsEmpty:
      return IsEmpty(c.key, where);
    case Condition::Kind::kNested:
      return Translate(*c.nested, where);
  }
  return Status::Internal(where + ": unknown condition kind");
}

StatusOr<json> Translate(const Filter& filter, const std::string& where) {
  json out = json::object();
  auto add = [&](const std::vector<Condition>& conditions, const char* name) -> Status {
    if (conditions.empty()) return Status::Ok();
    json parts = json::array();
    for (size_t i = 0; i < conditions.size(); ++i) {
      auto part = Translate(conditions[i], where + "." + name + "[" + std::to_string(i) + "]");
      if (!part.ok()) return part.status();
      parts.push_back(std::move(*part));
    }
    out[name] = std::move(parts);
    return Status::Ok();
  };
  for (auto [conditions, name] : {std::pair{&filter.must, "must"},
                                  {&filter.should, "should"},
                                  {&filter.must_not, "must_not"}}) {
    Status s = add(*conditions, name);
    if (!s.ok()) return s;
  }
  return out;
}

}  // namespace

std::string UuidOf(std::string_view id) {
  std::string name(reinterpret_cast<const char*>(kUrlNamespace), sizeof kUrlNamespace);
  name.append(kIdPrefix);
  name.append(id);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(name.data()), name.size(), digest);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

json ToQdrantId(const engine::PointId& id) {
  if (const auto* n = std::get_if<uint64_t>(&id)) return *n;
  return UuidOf(std::get<std::string>(id));
}

engine::PointId FromQdrantId(const json& id, const json& payload) {
  if (id.is_number_unsigned()) return id.get<uint64_t>();
  if (id.is_number_integer()) return static_cast<uint64_t>(id.get<int64_t>());
  const std::string uuid = id.is_string() ? id.get<std::string>() : id.dump();
  if (payload.is_object()) {
    auto kept = payload.find(kIdKey);
    if (kept != payload.end() && kept->is_string() && UuidOf(kept->get<std::string>()) == uuid) {
      return kept->get<std::string>();
    }
  }
  return uuid;
}

Status CheckPayload(const engine::Payload& payload, const std::string& field) {
  if (payload.is_null()) return Status::Ok();
  if (!payload.is_object()) {
    return Status::InvalidArgument(field + " must be a JSON object, got " + payload.type_name());
  }
  if (payload.contains(kIdKey)) {
    return Status::InvalidArgument(field + "." + std::string(kIdKey) +
                                   ": the key is the one that keeps string ids in Qdrant");
  }
  return Status::Ok();
}

json ToQdrantPayload(const engine::Payload& payload, const engine::PointId& id) {
  json out = payload.is_object() ? payload : json::object();
  if (const auto* s = std::get_if<std::string>(&id)) out[std::string(kIdKey)] = *s;
  return out;
}

engine::Payload FromQdrantPayload(json payload) {
  if (!payload.is_object()) return json::object();
  payload.erase(std::string(kIdKey));
  return payload;
}

StatusOr<json> ToQdrantFilter(const Filter& filter) { return Translate(filter, "filter"); }

std::string ToDistance(engine::Metric metric) {
  switch (metric) {
    case engine::Metric::kL2:
      return "Euclid";
    case engine::Metric::kIp:
      return "Dot";
    case engine::Metric::kCosine:
      return "Cosine";
  }
  return "Euclid";
}

std::optional<engine::Metric> FromDistance(std::string_view distance) {
  if (distance == "Euclid") return engine::Metric::kL2;
  if (distance == "Dot") return engine::Metric::kIp;
  if (distance == "Cosine") return engine::Metric::kCosine;
  return std::nullopt;
}

}  // namespace vecmesh::adapters::qdrant
