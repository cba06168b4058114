#include "adapters/remote/remote_checks.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace vecmesh::adapters {

using engine::Status;

namespace {

// InvalidArgument naming the first value of `v` that is not finite, from `field`.
Status CheckFinite(const std::vector<float>& v, const std::string& field) {
  for (size_t j = 0; j < v.size(); ++j) {
    if (!std::isfinite(v[j])) {
      return Status::InvalidArgument(field + "[" + std::to_string(j) + "] is not a finite number");
    }
  }
  return Status::Ok();
}

Status CheckDimension(const std::vector<float>& v, std::optional<uint32_t> dimension,
                      const std::string& field, const std::string& collection) {
  if (!dimension || v.size() == *dimension) return Status::Ok();
  return Status::InvalidArgument(field + " has " + std::to_string(v.size()) +
                                 " values; collection '" + collection + "' has dimension " +
                                 std::to_string(*dimension));
}

}  // namespace

Status CheckPoints(const std::vector<engine::Point>& points, const engine::Limits& limits,
                   const PayloadCheck& check_payload) {
  const size_t max_id_bytes = limits.max_id_bytes;
  std::map<engine::PointId, size_t> seen;
  for (size_t i = 0; i < points.size(); ++i) {
    const std::string field = "points[" + std::to_string(i) + "]";
    if (const auto* id = std::get_if<std::string>(&points[i].id)) {
      if (id->empty()) return Status::InvalidArgument(field + ".id is empty");
      if (id->size() > max_id_bytes) {
        return Status::InvalidArgument(field + ".id is " + std::to_string(id->size()) +
                                       " bytes; the limit is " + std::to_string(max_id_bytes));
      }
    }
    if (auto [it, fresh] = seen.emplace(points[i].id, i); !fresh) {
      return Status::InvalidArgument(field + ".id repeats points[" + std::to_string(it->second) +
                                     "].id");
    }
    Status s = CheckFinite(points[i].vector, field + ".vector");
    if (s.ok()) s = check_payload(points[i].payload, field + ".payload");
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status CheckPayloadUpdate(const engine::Payload& payload, const PayloadCheck& check_payload) {
  if (!payload.is_object()) {
    return Status::InvalidArgument(std::string("payload must be a JSON object, got ") +
                                   payload.type_name());
  }
  return check_payload(payload, "payload");
}

Status CheckPointsAgainst(const std::vector<engine::Point>& points,
                          std::optional<uint32_t> dimension, engine::Metric metric,
                          const std::string& collection) {
  for (size_t i = 0; i < points.size(); ++i) {
    const std::string field = "points[" + std::to_string(i) + "].vector";
    const std::vector<float>& v = points[i].vector;
    Status s = CheckDimension(v, dimension, field, collection);
    if (!s.ok()) return s;
    if (metric == engine::Metric::kCosine &&
        std::all_of(v.begin(), v.end(), [](float x) { return x == 0; })) {
      return Status::InvalidArgument(field + " is zero: a cosine collection needs a direction");
    }
  }
  return Status::Ok();
}

Status CheckIds(const std::vector<engine::PointId>& ids, const engine::Limits& limits) {
  if (ids.size() <= limits.max_ids_per_request) return Status::Ok();
  return Status::InvalidArgument("ids has " + std::to_string(ids.size()) +
                                 " entries; the limit is " +
                                 std::to_string(limits.max_ids_per_request));
}

Status CheckScrollLimit(int64_t limit, const engine::Limits& limits) {
  if (limit >= 1 && limit <= limits.max_scroll_limit) return Status::Ok();
  return Status::InvalidArgument("limit must be in [1, " + std::to_string(limits.max_scroll_limit) +
                                 "], got " + std::to_string(limit));
}

Status CheckSearches(const std::vector<engine::SearchRequest>& requests,
                     std::optional<uint32_t> dimension, const std::string& collection,
                     const engine::Limits& limits) {
  if (requests.size() > limits.max_searches_per_batch) {
    return Status::InvalidArgument("searches has " + std::to_string(requests.size()) +
                                   " entries; the limit is " +
                                   std::to_string(limits.max_searches_per_batch));
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::string field = "searches[" + std::to_string(i) + "]";
    const engine::SearchRequest& r = requests[i];
    if (r.k < 1 || r.k > limits.max_k) {
      return Status::InvalidArgument(field + ".k must be in [1, " + std::to_string(limits.max_k) +
                                     "], got " + std::to_string(r.k));
    }
    if (r.params.ef_search && (*r.params.ef_search < 1 || *r.params.ef_search > 32768)) {
      return Status::InvalidArgument(field + ".params.ef_search must be in [1, 32768], got " +
                                     std::to_string(*r.params.ef_search));
    }
    if (r.params.nprobe && (*r.params.nprobe < 1 || *r.params.nprobe > 65536)) {
      return Status::InvalidArgument(field + ".params.nprobe must be in [1, 65536], got " +
                                     std::to_string(*r.params.nprobe));
    }
    if (r.score_threshold && !std::isfinite(*r.score_threshold)) {
      return Status::InvalidArgument(field + ".score_threshold must be finite");
    }
    Status s = CheckFinite(requests[i].vector, field + ".vector");
    if (s.ok()) s = CheckDimension(requests[i].vector, dimension, field + ".vector", collection);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Unbatched(const Status& status) {
  const std::string prefix = "searches[0].";
  std::string message = status.message();
  if (message.starts_with(prefix)) message.erase(0, prefix.size());
  return Status::WithCode(status.code(), message);
}

void NormalizeVector(std::vector<float>* v) {
  double norm = 0;
  for (float x : *v) norm += double{x} * x;
  if (norm <= 0) return;
  const float scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : *v) x *= scale;
}

bool WithinThreshold(engine::Metric metric, float score, std::optional<float> threshold) {
  if (!threshold) return true;
  return metric == engine::Metric::kL2 ? score <= *threshold : score >= *threshold;
}

}  // namespace vecmesh::adapters
