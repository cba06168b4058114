#include "api/grpc/proto_codec.h"

#include <cmath>

namespace vecmesh::api::proto {
namespace {

using engine::Status;

std::string Join(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

StatusOr<engine::PointId> DecodeId(const v1::PointId& id, const std::string& field) {
  switch (id.kind_case()) {
    case v1::PointId::kNum:
      return engine::PointId(id.num());
    case v1::PointId::kStr:
      return engine::PointId(id.str());
    case v1::PointId::KIND_NOT_SET:
      break;
  }
  return Status::InvalidArgument(field + " is required (num or str)");
}

StatusOr<engine::Payload> DecodePayload(bool present, const google::protobuf::Struct& s,
                                        const std::string& field) {
  if (!present) return engine::Payload::object();
  return StructToJson(s, field);
}

}  // namespace

CreateCollectionRequest Decode(const v1::CreateCollectionRequest& r) {
  CreateCollectionRequest request;
  request.name = r.name();
  request.dimension = r.dimension();
  request.metric = r.metric();
  if (r.has_index()) request.index = proto_json::IndexToJson(r.index());
  if (r.backends_size() > 0) request.backends.assign(r.backends().begin(), r.backends().end());
  return request;
}

StatusOr<std::vector<engine::Point>> DecodePoints(
    const google::protobuf::RepeatedPtrField<v1::Point>& points) {
  std::vector<engine::Point> out;
  out.reserve(points.size());
  for (int i = 0; i < points.size(); ++i) {
    const std::string field = Index("points", i);
    const v1::Point& p = points.Get(i);
    if (!p.has_id()) return Status::InvalidArgument(field + ".id is required");
    auto id = DecodeId(p.id(), field + ".id");
    if (!id.ok()) return id.status();
    // An empty repeated field is an absent one: no collection has dimension 0.
    if (p.vector_size() == 0) return Status::InvalidArgument(field + ".vector is required");
    auto payload = DecodePayload(p.has_payload(), p.payload(), field + ".payload");
    if (!payload.ok()) return payload.status();
    out.push_back({std::move(*id), {p.vector().begin(), p.vector().end()}, std::move(*payload)});
  }
  return out;
}

StatusOr<std::vector<engine::PointId>> DecodeIds(
    const google::protobuf::RepeatedPtrField<v1::PointId>& ids, const std::string& field) {
  std::vector<engine::PointId> out;
  out.reserve(ids.size());
  for (int i = 0; i < ids.size(); ++i) {
    auto id = DecodeId(ids.Get(i), Index(field, i));
    if (!id.ok()) return id.status();
    out.push_back(std::move(*id));
  }
  return out;
}

StatusOr<std::optional<engine::Filter>> DecodeFilter(bool present,
                                                     const google::protobuf::Struct& filter,
                                                     const engine::Limits& limits,
                                                     const std::string& field) {
  if (!present) return std::optional<engine::Filter>();
  auto j = StructToJson(filter, field);
  if (!j.ok()) return j.status();
  auto parsed = engine::Filter::Parse(*j, limits.filter, field);
  if (!parsed.ok()) return parsed.status();
  return std::optional<engine::Filter>(std::move(*parsed));
}

StatusOr<DeletePointsRequest> Decode(const v1::DeletePointsRequest& r,
                                     const engine::Limits& limits) {
  DeletePointsRequest request;
  if (r.has_ids()) {
    auto ids = DecodeIds(r.ids().ids(), "ids");
    if (!ids.ok()) return ids.status();
    request.ids = std::move(*ids);
  }
  auto filter = DecodeFilter(r.has_filter(), r.filter(), limits, "filter");
  if (!filter.ok()) return filter.status();
  request.filter = std::move(*filter);
  return request;
}

StatusOr<UpdatePayloadRequest> Decode(const v1::UpdatePayloadRequest& r) {
  UpdatePayloadRequest request;
  auto ids = DecodeIds(r.ids(), "ids");
  if (!ids.ok()) return ids.status();
  request.ids = std::move(*ids);
  if (!r.has_payload()) return Status::InvalidArgument("payload is required");
  auto payload = StructToJson(r.payload(), "payload");
  if (!payload.ok()) return payload.status();
  request.payload = std::move(*payload);
  if (r.mode() == "replace") {
    request.mode = engine::PayloadMode::kReplace;
  } else if (!r.mode().empty() && r.mode() != "merge") {
    return Status::InvalidArgument("mode is '" + r.mode() + "'; it must be merge or replace");
  }
  return request;
}

StatusOr<engine::ScrollRequest> Decode(const v1::ScrollRequest& r, const engine::Limits& limits) {
  engine::ScrollRequest request;
  auto filter = DecodeFilter(r.has_filter(), r.filter(), limits, "filter");
  if (!filter.ok()) return filter.status();
  request.filter = std::move(*filter);
  if (r.has_limit()) request.limit = r.limit();
  if (r.has_cursor()) request.cursor = r.cursor();
  request.with_payload = !r.has_with_payload() || r.with_payload();
  request.with_vector = r.with_vector();
  return request;
}

StatusOr<Search> Decode(const v1::SearchRequest& r, const engine::Limits& limits,
                        const std::string& field) {
  Search search;
  engine::SearchRequest& s = search.request;
  if (r.vector_size() == 0) return Status::InvalidArgument(Join(field, "vector") + " is required");
  s.vector.assign(r.vector().begin(), r.vector().end());
  if (r.has_k()) s.k = r.k();
  auto filter = DecodeFilter(r.has_filter(), r.filter(), limits, Join(field, "filter"));
  if (!filter.ok()) return filter.status();
  s.filter = std::move(*filter);
  if (r.has_score_threshold()) s.score_threshold = r.score_threshold();
  if (r.has_params()) {
    if (r.params().has_ef_search()) s.params.ef_search = r.params().ef_search();
    if (r.params().has_nprobe()) s.params.nprobe = r.params().nprobe();
    s.params.exact = r.params().exact();
  }
  s.with_payload = !r.has_with_payload() || r.with_payload();
  s.with_vector = r.with_vector();
  search.store = Store(r.store());
  return search;
}

void Encode(const CollectionView& view, v1::CollectionInfo* out) {
  const auto& info = view.info;
  out->set_name(info.config.name);
  out->set_dimension(info.config.dimension);
  out->set_metric(std::string(engine::MetricName(info.config.metric)));
  const json index = engine::IndexConfigToJson(info.config.index);
  v1::IndexConfig* i = out->mutable_index();
  i->set_type(index["type"].get<std::string>());
  if (index.contains("m")) i->set_m(index["m"].get<int>());
  if (index.contains("ef_construction"))
    i->set_ef_construction(index["ef_construction"].get<int>());
  if (index.contains("ef_search")) i->set_ef_search(index["ef_search"].get<int>());
  if (index.contains("nlist")) i->set_nlist(index["nlist"].get<int>());
  if (index.contains("nprobe")) i->set_nprobe(index["nprobe"].get<int>());
  if (index.contains("nbits")) i->set_nbits(index["nbits"].get<int>());
  for (const auto& b : view.info.config.backends) out->add_backends(b);
  out->set_points(info.points);
  out->set_indexed_points(info.indexed_points);
  out->set_status(info.status);
  Encode(view.stores, out->mutable_stores());
}

void Encode(const StoreStates& states, google::protobuf::Map<std::string, v1::StoreState>* out) {
  for (const StoreState& s : states) {
    v1::StoreState& state = (*out)[s.store];
    state.set_status(std::string(DeliveryStateName(s.status.state)));
    state.set_pending(s.status.pending);
    state.set_message(s.status.message);
  }
}

void Encode(const engine::PointId& id, v1::PointId* out) {
  if (const auto* n = std::get_if<uint64_t>(&id)) {
    out->set_num(*n);
  } else {
    out->set_str(std::get<std::string>(id));
  }
}

void Encode(const engine::Record& record, v1::Record* out) {
  Encode(record.id, out->mutable_id());
  if (record.payload) JsonToStruct(*record.payload, out->mutable_payload());
  if (record.vector) out->mutable_vector()->Assign(record.vector->begin(), record.vector->end());
}

void Encode(const SearchAnswer& answer, v1::SearchResponse* out) {
  for (const auto& p : answer.results) {
    v1::ScoredPoint* r = out->add_results();
    Encode(p.id, r->mutable_id());
    r->set_score(p.score);
    if (p.payload) JsonToStruct(*p.payload, r->mutable_payload());
    if (p.vector) r->mutable_vector()->Assign(p.vector->begin(), p.vector->end());
  }
  Encode(answer.stores, out->mutable_stores());
}

void Encode(const std::vector<StoreOutcome>& outcomes,
            google::protobuf::Map<std::string, v1::StoreReport>* out) {
  for (const auto& s : outcomes) {
    v1::StoreReport& report = (*out)[s.store];
    report.set_status(s.status.ok() ? "ok" : "error");
    report.set_took_ms(s.took_ms);
    report.set_pending(s.pending);
    if (!s.status.ok()) report.set_message(s.status.ToString());
  }
}

std::optional<std::string> Store(const std::string& store) {
  if (store.empty()) return std::nullopt;
  return store;
}

void Encode(const Job& job, v1::Job* out) {
  out->set_job_id(job.id);
  out->set_collection(job.collection);
  out->set_state(std::string(JobStateName(job.state)));
  out->set_points(job.points);
  if (job.error) out->set_error(*job.error);
}

}  // namespace vecmesh::api::proto
