// The encoding half of json_codec.h: answers and errors as API.md's JSON.
#include "api/json/json_codec.h"

namespace vecmesh::api {

using engine::PointId;

json EncodeId(const PointId& id) {
  if (const auto* n = std::get_if<uint64_t>(&id)) return *n;
  return std::get<std::string>(id);
}

json EncodeStoreStates(const StoreStates& states) {
  json out = json::object();
  for (const StoreState& s : states) {
    json one = {{"status", DeliveryStateName(s.status.state)}, {"pending", s.status.pending}};
    if (!s.status.message.empty()) one["message"] = s.status.message;
    out[s.store] = std::move(one);
  }
  return out;
}

json EncodeCollection(const CollectionView& view) {
  const auto& info = view.info;
  json out = {{"name", info.config.name},
              {"dimension", info.config.dimension},
              {"metric", engine::MetricName(info.config.metric)},
              {"index", engine::IndexConfigToJson(info.config.index)},
              {"backends", view.info.config.backends},
              {"points", info.points},
              {"indexed_points", info.indexed_points},
              {"status", info.status}};
  if (!view.stores.empty()) out["stores"] = EncodeStoreStates(view.stores);
  return out;
}

json EncodeRecord(const engine::Record& record) {
  json out = {{"id", EncodeId(record.id)}};
  if (record.payload) out["payload"] = *record.payload;
  if (record.vector) out["vector"] = *record.vector;
  return out;
}

json EncodeScoredPoint(const engine::ScoredPoint& point) {
  json out = {{"id", EncodeId(point.id)}, {"score", point.score}};
  if (point.payload) out["payload"] = *point.payload;
  if (point.vector) out["vector"] = *point.vector;
  return out;
}

json EncodeStoreOutcomes(const std::vector<StoreOutcome>& outcomes) {
  json stores = json::object();
  for (const auto& s : outcomes) {
    if (s.status.ok()) {
      stores[s.store] = {{"status", "ok"}, {"took_ms", s.took_ms}, {"pending", s.pending}};
    } else {
      stores[s.store] = {{"status", "error"},
                         {"message", s.status.ToString()},
                         {"took_ms", s.took_ms},
                         {"pending", s.pending}};
    }
  }
  return stores;
}

json EncodeSearchAnswer(const SearchAnswer& answer) {
  json results = json::array();
  for (const auto& p : answer.results) results.push_back(EncodeScoredPoint(p));
  json out = {{"results", std::move(results)}};
  if (!answer.stores.empty()) out["stores"] = EncodeStoreOutcomes(answer.stores);
  return out;
}

json EncodeJob(const Job& job) {
  return {{"job_id", job.id},
          {"collection", job.collection},
          {"state", JobStateName(job.state)},
          {"points", job.points},
          {"error", job.error ? json(*job.error) : json(nullptr)}};
}

json EncodeError(const engine::Status& status) {
  return {{"error", {{"code", engine::CodeName(status.code())}, {"message", status.message()}}}};
}

}  // namespace vecmesh::api
