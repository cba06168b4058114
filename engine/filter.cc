#include "engine/filter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace vecmesh::engine {
namespace {

using nlohmann::json;

std::string TypeName(const json& v) { return v.type_name(); }

class FilterParser {
 public:
  explicit FilterParser(const FilterLimits& limits) : limits_(limits) {}

  Status ParseFilter(const json& j, const std::string& field, int depth, Filter* out) {
    if (depth > limits_.max_depth) {
      return Status::InvalidArgument(field + " is nested " + std::to_string(depth) +
                                     " levels deep; the limit is " +
                                     std::to_string(limits_.max_depth));
    }
    if (!j.is_object()) {
      return Status::InvalidArgument(
          field + " must be an object with must, should or must_not, got " + TypeName(j));
    }
    for (const auto& [name, value] : j.items()) {
      std::vector<Condition>* part = nullptr;
      if (name == "must")
        part = &out->must;
      else if (name == "should")
        part = &out->should;
      else if (name == "must_not")
        part = &out->must_not;
      else {
        return Status::InvalidArgument(
            field + "." + name + " is not a filter clause; expected must, should or must_not");
      }
      std::string part_field = field + "." + name;
      if (value.is_null()) continue;
      if (!value.is_array()) {
        return Status::InvalidArgument(part_field + " must be an array of conditions, got " +
                                       TypeName(value));
      }
      for (size_t i = 0; i < value.size(); ++i) {
        Condition c;
        Status s = ParseCondition(value[i], part_field + "[" + std::to_string(i) + "]", depth, &c);
        if (!s.ok()) return s;
        part->push_back(std::move(c));
      }
    }
    return Status::Ok();
  }

 private:
  Status CountCondition(const std::string& field) {
    if (++conditions_ > limits_.max_conditions) {
      return Status::InvalidArgument(
          field + ": the filter has more than " + std::to_string(limits_.max_conditions) +
          " conditions; the limit is " + std::to_string(limits_.max_conditions));
    }
    return Status::Ok();
  }

  Status ParseKey(const json& j, const std::string& field, std::string* key) {
    if (!j.is_string()) {
      return Status::InvalidArgument(field + " must be a string, got " + TypeName(j));
    }
    *key = j.get<std::string>();
    if (key->empty() || key->size() > limits_.max_key_bytes) {
      return Status::InvalidArgument(field + " must be 1 to " +
                                     std::to_string(limits_.max_key_bytes) + " bytes, got " +
                                     std::to_string(key->size()));
    }
    return Status::Ok();
  }

  // match values are keywords, integers or booleans: floats have no exact equality.
  Status ParseMatchScalar(const json& v, const std::string& field, std::string* out) {
    if (v.is_string() || v.is_number_integer() || v.is_boolean()) {
      *out = *CanonicalScalar(v);
      return Status::Ok();
    }
    return Status::InvalidArgument(field + " must be a string, an integer or a boolean, got " +
                                   TypeName(v));
  }

  Status ParseMatchList(const json& v, const std::string& field, std::vector<std::string>* out) {
    if (!v.is_array()) {
      return Status::InvalidArgument(field + " must be an array, got " + TypeName(v));
    }
    if (v.size() > limits_.max_values) {
      return Status::InvalidArgument(field + " has " + std::to_string(v.size()) +
                                     " values; the limit is " + std::to_string(limits_.max_values));
    }
    for (size_t i = 0; i < v.size(); ++i) {
      std::string s;
      Status st = ParseMatchScalar(v[i], field + "[" + std::to_string(i) + "]", &s);
      if (!st.ok()) return st;
      out->push_back(std::move(s));
    }
    return Status::Ok();
  }

  Status ParseCondition(const json& j, const std::string& field, int depth, Condition* c) {
    if (!j.is_object()) {
      return Status::InvalidArgument(field + " must be a condition object, got " + TypeName(j));
    }
    Status counted = CountCondition(field);
    if (!counted.ok()) return counted;

    if (j.contains("must") || j.contains("should") || j.contains("must_not")) {
      auto nested = std::make_shared<Filter>();
      Status s = ParseFilter(j, field, depth + 1, nested.get());
      if (!s.ok()) return s;
      c->kind = Condition::Kind::kNested;
      c->nested = std::move(nested);
      return Status::Ok();
    }
    if (j.contains("has_id")) {
      if (j.size() != 1) return Status::InvalidArgument(field + ": has_id takes no other fields");
      const json& ids = j["has_id"];
      if (!ids.is_array()) {
        return Status::InvalidArgument(field + ".has_id must be an array of ids, got " +
                                       TypeName(ids));
      }
      if (ids.size() > limits_.max_values) {
        return Status::InvalidArgument(field + ".has_id has " + std::to_string(ids.size()) +
                                       " ids; the limit is " + std::to_string(limits_.max_values));
      }
      c->kind = Condition::Kind::kHasId;
      for (size_t i = 0; i < ids.size(); ++i) {
        const json& id = ids[i];
        if (id.is_number_unsigned() || (id.is_number_integer() && id.get<int64_t>() >= 0)) {
          c->ids.emplace_back(id.get<uint64_t>());
        } else if (id.is_string()) {
          c->ids.emplace_back(id.get<std::string>());
        } else {
          return Status::InvalidArgument(field + ".has_id[" + std::to_string(i) +
                                         "] must be an unsigned integer or a string, got " +
                                         (id.is_number() ? id.dump() : TypeName(id)));
        }
      }
      return Status::Ok();
    }
    if (j.contains("is_empty")) {
      if (j.size() != 1) return Status::InvalidArgument(field + ": is_empty takes no other fields");
      const json& e = j["is_empty"];
      if (!e.is_object() || !e.contains("key") || e.size() != 1) {
        return Status::InvalidArgument(field + ".is_empty must be {\"key\": KEY}");
      }
      c->kind = Condition::Kind::kIsEmpty;
      return ParseKey(e["key"], field + ".is_empty.key", &c->key);
    }
    if (!j.contains("key")) {
      return Status::InvalidArgument(
          field +
          " is not a condition: expected key with match or range, has_id, is_empty, "
          "or a nested filter");
    }
    Status s = ParseKey(j["key"], field + ".key", &c->key);
    if (!s.ok()) return s;
    for (const auto& [name, value] : j.items()) {
      if (name != "key" && name != "match" && name != "range") {
        return Status::InvalidArgument(field + "." + name +
                                       " is not a condition field; expected match or range");
      }
    }
    if (j.contains("match") == j.contains("range")) {
      return Status::InvalidArgument(field + " needs exactly one of match or range");
    }
    if (j.contains("match")) {
      const json& m = j["match"];
      std::string mfield = field + ".match";
      if (!m.is_object() || m.size() != 1) {
        return Status::InvalidArgument(mfield +
                                       " must be an object with one of value, any or except");
      }
      const auto only = m.begin();
      const std::string& op = only.key();
      const json& arg = only.value();
      if (op == "value") {
        c->kind = Condition::Kind::kMatchValue;
        c->values.emplace_back();
        return ParseMatchScalar(arg, mfield + ".value", &c->values.back());
      }
      if (op == "any") {
        c->kind = Condition::Kind::kMatchAny;
        return ParseMatchList(arg, mfield + ".any", &c->values);
      }
      if (op == "except") {
        c->kind = Condition::Kind::kMatchExcept;
        return ParseMatchList(arg, mfield + ".except", &c->values);
      }
      return Status::InvalidArgument(mfield + ": unknown operator '" + op +
                                     "'; expected value, any or except");
    }
    const json& r = j["range"];
    std::string rfield = field + ".range";
    if (!r.is_object() || r.empty()) {
      return Status::InvalidArgument(rfield + " must be an object with gt, gte, lt or lte");
    }
    c->kind = Condition::Kind::kRange;
    for (const auto& [op, bound] : r.items()) {
      std::optional<double>* slot = nullptr;
      if (op == "gt")
        slot = &c->range.gt;
      else if (op == "gte")
        slot = &c->range.gte;
      else if (op == "lt")
        slot = &c->range.lt;
      else if (op == "lte")
        slot = &c->range.lte;
      else {
        return Status::InvalidArgument(rfield + ": unknown operator '" + op +
                                       "'; expected gt, gte, lt or lte");
      }
      if (bound.is_null()) continue;
      if (!bound.is_number() || !std::isfinite(bound.get<double>())) {
        return Status::InvalidArgument(rfield + "." + op + " must be a finite number, got " +
                                       (bound.is_number() ? bound.dump() : TypeName(bound)));
      }
      *slot = bound.get<double>();
    }
    return Status::Ok();
  }

  const FilterLimits& limits_;
  int conditions_ = 0;
};

}  // namespace

StatusOr<Filter> Filter::Parse(const nlohmann::json& json, const FilterLimits& limits,
                               std::string_view field) {
  Filter filter;
  FilterParser parser(limits);
  Status s = parser.ParseFilter(json, std::string(field), 1, &filter);
  if (!s.ok()) return s;
  return filter;
}

std::optional<std::string> CanonicalScalar(const nlohmann::json& v) {
  auto tagged = [](char tag, std::string_view text) {
    std::string out(1, tag);
    out.append(text);
    return out;
  };
  if (v.is_string()) return tagged('s', v.get_ref<const std::string&>());
  if (v.is_boolean()) return tagged('b', v.get<bool>() ? "1" : "0");
  if (v.is_number_unsigned()) return tagged('i', std::to_string(v.get<uint64_t>()));
  if (v.is_number_integer()) return tagged('i', std::to_string(v.get<int64_t>()));
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::trunc(d) == d && d >= -9.2e18 && d <= 9.2e18) {
      return tagged('i', std::to_string(static_cast<int64_t>(d)));
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return tagged('f', buf);
  }
  return std::nullopt;
}

nlohmann::json MatchValueOf(const std::string& canonical) {
  const std::string rest = canonical.substr(std::min<size_t>(1, canonical.size()));
  switch (canonical.empty() ? '\0' : canonical[0]) {
    case 's':
      return rest;
    case 'b':
      return rest == "1";
    case 'i':
      if (rest.starts_with('-')) return std::stoll(rest);
      return std::stoull(rest);
  }
  return nullptr;
}

}  // namespace vecmesh::engine
