#include "proto/struct_json.h"

#include <cmath>

namespace vecmesh::proto_json {
namespace {

using google::protobuf::Value;
using nlohmann::json;

std::string Join(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

engine::StatusOr<json> ValueToJson(const Value& v, const std::string& field) {
  switch (v.kind_case()) {
    case Value::kNullValue:
    case Value::KIND_NOT_SET:
      return json(nullptr);
    case Value::kNumberValue: {
      const double d = v.number_value();
      if (!std::isfinite(d))
        return engine::Status::InvalidArgument(field + " is not a finite number");
      // Struct numbers are doubles: integral ones are integers, as they are over REST.
      if (d == std::trunc(d) && std::fabs(d) < 9007199254740992.0) {
        return json(static_cast<int64_t>(d));
      }
      return json(d);
    }
    case Value::kStringValue:
      return json(v.string_value());
    case Value::kBoolValue:
      return json(v.bool_value());
    case Value::kStructValue:
      return StructToJson(v.struct_value(), field);
    case Value::kListValue: {
      json list = json::array();
      for (int i = 0; i < v.list_value().values_size(); ++i) {
        auto item = ValueToJson(v.list_value().values(i), Index(field, i));
        if (!item.ok()) return item.status();
        list.push_back(std::move(*item));
      }
      return list;
    }
  }
  return json(nullptr);
}

void JsonToValue(const json& j, Value* out) {
  switch (j.type()) {
    case json::value_t::object:
      JsonToStruct(j, out->mutable_struct_value());
      break;
    case json::value_t::array:
      for (const json& item : j) JsonToValue(item, out->mutable_list_value()->add_values());
      break;
    case json::value_t::string:
      out->set_string_value(j.get<std::string>());
      break;
    case json::value_t::boolean:
      out->set_bool_value(j.get<bool>());
      break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      out->set_number_value(j.get<double>());
      break;
    default:
      out->set_null_value(google::protobuf::NULL_VALUE);
  }
}

}  // namespace

engine::StatusOr<json> StructToJson(const google::protobuf::Struct& s, const std::string& field) {
  json object = json::object();
  for (const auto& [key, value] : s.fields()) {
    auto item = ValueToJson(value, Join(field, key));
    if (!item.ok()) return item.status();
    object[key] = std::move(*item);
  }
  return object;
}

void JsonToStruct(const json& object, google::protobuf::Struct* out) {
  for (const auto& [key, value] : object.items())
    JsonToValue(value, &(*out->mutable_fields())[key]);
}

json IndexToJson(const v1::IndexConfig& index) {
  json out = {{"type", index.type()}};
  if (index.has_m()) out["m"] = index.m();
  if (index.has_ef_construction()) out["ef_construction"] = index.ef_construction();
  if (index.has_ef_search()) out["ef_search"] = index.ef_search();
  if (index.has_nlist()) out["nlist"] = index.nlist();
  if (index.has_nprobe()) out["nprobe"] = index.nprobe();
  if (index.has_nbits()) out["nbits"] = index.nbits();
  return out;
}

}  // namespace vecmesh::proto_json
