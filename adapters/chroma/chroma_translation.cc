#include "adapters/chroma/chroma_translation.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>

namespace vecmesh::adapters::chroma {
namespace {

using engine::Condition;
using engine::Filter;
using engine::Status;
using engine::StatusOr;
using json = nlohmann::json;

constexpr std::string_view kEscape = "s:";
constexpr std::string_view kChromaKeys = "chroma:";

// Whether `s` is the decimal form an integer id is written as (no sign, no leading zero).
bool IsIntegerForm(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t value = 0;
  auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  return error == std::errc() && end == s.data() + s.size();
}

Status Refuse(const std::string& what) {
  return Status::InvalidArgument(what + ": Chroma cannot express it");
}

// The where value of a match value (strings, integers and booleans: floats have no exact
// equality), within what Chroma holds.
StatusOr<json> FromCanonical(const std::string& canonical, const std::string& where) {
  json value = engine::MatchValueOf(canonical);
  if (value.is_number_unsigned() &&
      value.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
    return Refuse(where + " (" + value.dump() + " is past Chroma's signed 64-bit integers)");
  }
  return value;
}

json Field(const std::string& key, const char* op, json value) {
  return json{{key, json{{op, std::move(value)}}}};
}

json All(json parts) {
  if (parts.size() == 1) return std::move(parts[0]);
  return json{{"$and", std::move(parts)}};
}
json Any(json parts) {
  if (parts.size() == 1) return std::move(parts[0]);
  return json{{"$or", std::move(parts)}};
}

StatusOr<json> Match(const Condition& c, bool negated, const std::string& where) {
  json values = json::array();
  bool same_type = true;
  for (const std::string& canonical : c.values) {
    auto v = FromCanonical(canonical, where);
    if (!v.ok()) return v.status();
    same_type = same_type && (values.empty() || v->type() == values[0].type());
    values.push_back(std::move(*v));
  }
  const char* equal = negated ? "$ne" : "$eq";
  if (c.kind == Condition::Kind::kMatchValue) return Field(c.key, equal, values.at(0));
  // match any: $in (negated: $nin) when Chroma takes the list as it is (one type, not empty);
  // else one comparison per value.
  if (same_type && !values.empty()) return Field(c.key, negated ? "$nin" : "$in", values);
  json parts = json::array();
  for (json& v : values) parts.push_back(Field(c.key, equal, std::move(v)));
  // An empty list: nothing matches any of it ($or of nothing), and everything is outside it.
  return negated ? json{{"$and", std::move(parts)}} : json{{"$or", std::move(parts)}};
}

// One bound of a range. Chroma truncates a fractional bound toward zero before comparing it
// with an integer field, so a fractional b gets a second, integral bound that corrects the
// integers (and holds for every float the first one lets through): x > b or x >= ceil(b);
// x >= b and x > floor(b); x < b or x <= floor(b); x <= b and x < ceil(b).
json Bound(const std::string& key, const std::string& op, double b) {
  // Past the integers (2^63), no integer field is near the bound: the float comparison holds.
  if (std::fabs(b) >= 9.2e18) return Field(key, op.c_str(), b);
  if (std::trunc(b) == b) return Field(key, op.c_str(), static_cast<int64_t>(b));
  const auto floor = static_cast<int64_t>(std::floor(b));
  const auto ceil = static_cast<int64_t>(std::ceil(b));
  const json first = Field(key, op.c_str(), b);
  if (op == "$gt") return json{{"$or", json::array({first, Field(key, "$gte", ceil)})}};
  if (op == "$gte") return json{{"$and", json::array({first, Field(key, "$gt", floor)})}};
  if (op == "$lt") return json{{"$or", json::array({first, Field(key, "$lte", floor)})}};
  return json{{"$and", json::array({first, Field(key, "$lt", ceil)})}};  // $lte
}

StatusOr<json> Translate(const Filter& filter, bool negated, const std::string& where);

StatusOr<json> Translate(const Condition& c, bool negated, const std::string& where) {
  if (c.kind != Condition::Kind::kNested && c.kind != Condition::Kind::kHasId &&
      c.key.find('.') != std::string::npos) {
    return Refuse(where + " (key '" + c.key +
                  "' is a nested path; Chroma holds flat metadata only)");
  }
  switch (c.kind) {
    case Condition::Kind::kMatchValue:
    case Condition::Kind::kMatchAny:
      return Match(c, negated, where);
    case Condition::Kind::kMatchExcept:
      return Refuse(where + ".match.except (Chroma's $nin also matches points without the key)");
    case Condition::Kind::kRange: {
      if (negated) {
        return Refuse(where + ".range under must_not (Chroma cannot match points without the key)");
      }
      json parts = json::array();
      if (c.range.gt) parts.push_back(Bound(c.key, "$gt", *c.range.gt));
      if (c.range.gte) parts.push_back(Bound(c.key, "$gte", *c.range.gte));
      if (c.range.lt) parts.push_back(Bound(c.key, "$lt", *c.range.lt));
      if (c.range.lte) parts.push_back(Bound(c.key, "$lte", *c.range.lte));
      return All(std::move(parts));
    }
    case Condition::Kind::kHasId:
      return Refuse(where + ".has_id (Chroma's where cannot name ids)");
    case Condition::Kind::kIsEmpty:
      return Refuse(where + ".is_empty (Chroma cannot match points without the key)");
    case Condition::Kind::kNested:
      return Translate(*c.nested, negated, where);
  }
  return Status::Internal(where + ": unknown condition kind");
}

// The filter, or its negation (De Morgan: not(all of must, any of should, none of must_not) is
// any of not-must, none of should, any of must_not).
StatusOr<json> Translate(const Filter& filter, bool negated, const std::string& where) {
  json parts = json::array();
  auto add = [&](const std::vector<Condition>& conditions, const char* name, bool negate,
                 json* into) -> Status {
    for (size_t i = 0; i < conditions.size(); ++i) {
      auto part =
          Translate(conditions[i], negate, where + "." + name + "[" + std::to_string(i) + "]");
      if (!part.ok()) return part.status();
      into->push_back(std::move(*part));
    }
    return Status::Ok();
  };
  Status s = add(filter.must, "must", negated, &parts);
  if (s.ok() && !filter.should.empty()) {
    json should = json::array();
    s = add(filter.should, "should", negated, &should);
    if (s.ok()) parts.push_back(negated ? All(std::move(should)) : Any(std::move(should)));
  }
  if (s.ok()) s = add(filter.must_not, "must_not", !negated, &parts);
  if (!s.ok()) return s;
  if (parts.empty()) {
    // Matches everything; negated, nothing.
    return negated ? json{{"$or", json::array()}} : json{{"$and", json::array()}};
  }
  return negated ? Any(std::move(parts)) : All(std::move(parts));
}

}  // namespace

std::string ToChromaId(const engine::PointId& id) {
  if (const auto* n = std::get_if<uint64_t>(&id)) return std::to_string(*n);
  const std::string& s = std::get<std::string>(id);
  if (IsIntegerForm(s) || s.starts_with(kEscape)) return std::string(kEscape) + s;
  return s;
}

engine::PointId FromChromaId(const std::string& id) {
  if (id.starts_with(kEscape)) return id.substr(kEscape.size());
  if (IsIntegerForm(id)) return static_cast<uint64_t>(std::stoull(id));
  return id;
}

Status CheckPayload(const engine::Payload& payload, const std::string& field) {
  if (payload.is_null()) return Status::Ok();
  if (!payload.is_object()) {
    return Status::InvalidArgument(field + " must be a JSON object, got " + payload.type_name());
  }
  for (const auto& [key, value] : payload.items()) {
    const std::string name = field + "." + key;
    if (key.starts_with(kChromaKeys)) {
      return Status::InvalidArgument(name + ": keys starting with \"chroma:\" are Chroma's own");
    }
    if (value.is_object() || value.is_array() || value.is_null()) {
      return Status::InvalidArgument(name + " is " + value.type_name() +
                                     ": Chroma holds scalar metadata only (a string, a number "
                                     "or a boolean)");
    }
    if (value.is_number_unsigned() &&
        value.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
      return Status::InvalidArgument(name + " is " + value.dump() +
                                     ": Chroma holds integers up to 2^63 - 1");
    }
  }
  return Status::Ok();
}

json ToMetadata(const engine::Payload& payload) {
  if (payload.is_null() || payload.empty()) return nullptr;
  json metadata = json::object();
  for (const auto& [key, value] : payload.items()) {
    // Chroma keeps integers as signed 64-bit ones (CheckPayload bounds them).
    metadata[key] = value.is_number_unsigned() ? json(value.get<int64_t>()) : value;
  }
  return metadata;
}

json Replacing(json next, const json& previous) {
  if (!previous.is_object()) return next;
  for (const auto& [key, value] : previous.items()) {
    if (!next.is_object() || !next.contains(key)) next[key] = nullptr;
  }
  return next;
}

engine::Payload FromMetadata(const json& metadata) {
  if (!metadata.is_object()) return json::object();
  return metadata;
}

StatusOr<std::optional<json>> ToWhere(const Filter& filter) {
  auto where = Translate(filter, false, "filter");
  if (!where.ok()) return where.status();
  if (*where == json{{"$and", json::array()}}) return std::optional<json>();
  return std::optional<json>(std::move(*where));
}

std::string ToSpace(engine::Metric metric) {
  switch (metric) {
    case engine::Metric::kL2:
      return "l2";
    case engine::Metric::kIp:
      return "ip";
    case engine::Metric::kCosine:
      return "cosine";
  }
  return "l2";
}

std::optional<engine::Metric> FromSpace(const std::string& space) {
  if (space == "l2") return engine::Metric::kL2;
  if (space == "ip") return engine::Metric::kIp;
  if (space == "cosine") return engine::Metric::kCosine;
  return std::nullopt;
}

float ToScore(engine::Metric metric, double distance) {
  switch (metric) {
    case engine::Metric::kL2:
      return static_cast<float>(std::sqrt(std::max(distance, 0.0)));
    case engine::Metric::kIp:
    case engine::Metric::kCosine:
      return static_cast<float>(1.0 - distance);
  }
  return static_cast<float>(distance);
}

Status CheckCollectionName(const std::string& name) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  bool ok = name.size() >= 3 && name.size() <= 512 && alnum(name.front()) && alnum(name.back());
  for (char c : name) ok = ok && (alnum(c) || c == '_' || c == '-' || c == '.');
  if (ok) return Status::Ok();
  return Status::InvalidArgument("name '" + name +
                                 "' cannot be a Chroma collection: Chroma takes 3 to 512 "
                                 "characters of [A-Za-z0-9._-], starting and ending with a "
                                 "letter or a digit");
}

}  // namespace vecmesh::adapters::chroma
