// Collection: the checks of points, ids and payloads that every write (and ValidatePoints, for
// imports) makes before anything is logged or applied.
#include <cmath>
#include <map>
#include <string>
#include <variant>

#include "engine/collection/collection.h"
#include "engine/index/distance.h"

namespace vecmesh::engine {

Status Collection::ValidatePayloadSize(const Payload& payload, const std::string& field) const {
  size_t bytes = payload.dump().size();
  if (bytes > limits_.max_payload_bytes) {
    return Status::InvalidArgument(field + " is " + std::to_string(bytes) +
                                   " bytes serialized; the limit is " +
                                   std::to_string(limits_.max_payload_bytes));
  }
  return Status::Ok();
}

Status Collection::ValidateSetPayload(const Payload& payload) const {
  if (!payload.is_object()) {
    return Status::InvalidArgument(std::string("payload must be a JSON object, got ") +
                                   payload.type_name());
  }
  return ValidatePayloadSize(payload, "payload");
}

Status Collection::ValidatePoint(const Point& point, const std::string& field) const {
  if (const auto* s = std::get_if<std::string>(&point.id); s && s->size() > limits_.max_id_bytes) {
    return Status::InvalidArgument(field + ".id is " + std::to_string(s->size()) +
                                   " bytes; the limit is " + std::to_string(limits_.max_id_bytes));
  }
  if (point.vector.size() != config_.dimension) {
    return Status::InvalidArgument(field + ".vector has " + std::to_string(point.vector.size()) +
                                   " values; collection '" + config_.name + "' has dimension " +
                                   std::to_string(config_.dimension));
  }
  for (size_t i = 0; i < point.vector.size(); ++i) {
    if (!std::isfinite(point.vector[i])) {
      return Status::InvalidArgument(field + ".vector[" + std::to_string(i) + "] is " +
                                     (std::isnan(point.vector[i]) ? "NaN" : "infinite") +
                                     "; vectors must be finite");
    }
  }
  if (config_.metric == Metric::kCosine &&
      InnerProduct(point.vector.data(), point.vector.data(), point.vector.size()) == 0) {
    return Status::InvalidArgument(field +
                                   ".vector is all zeros; a cosine collection needs a non-zero "
                                   "vector");
  }
  if (!point.payload.is_null() && !point.payload.is_object()) {
    return Status::InvalidArgument(field + ".payload must be a JSON object, got " +
                                   point.payload.type_name());
  }
  return ValidatePayloadSize(point.payload, field + ".payload");
}

Status Collection::ValidateIds(const std::vector<PointId>& ids, const std::string& field) const {
  if (ids.size() > limits_.max_ids_per_request) {
    return Status::InvalidArgument(field + " has " + std::to_string(ids.size()) +
                                   " entries; the limit is " +
                                   std::to_string(limits_.max_ids_per_request));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (const auto* s = std::get_if<std::string>(&ids[i]); s && s->size() > limits_.max_id_bytes) {
      return Status::InvalidArgument(field + "[" + std::to_string(i) + "] is " +
                                     std::to_string(s->size()) + " bytes; the limit is " +
                                     std::to_string(limits_.max_id_bytes));
    }
  }
  return Status::Ok();
}

Status Collection::ValidatePoints(const std::vector<Point>& points) const {
  std::map<PointId, size_t> seen;
  for (size_t i = 0; i < points.size(); ++i) {
    std::string field = "points[" + std::to_string(i) + "]";
    Status s = ValidatePoint(points[i], field);
    if (!s.ok()) return s;
    auto [it, inserted] = seen.emplace(points[i].id, i);
    if (!inserted) {
      return Status::InvalidArgument(field + ".id " + PointIdToString(points[i].id) +
                                     " repeats points[" + std::to_string(it->second) +
                                     "].id; ids must be unique within a batch");
    }
  }
  return Status::Ok();
}

}  // namespace vecmesh::engine
