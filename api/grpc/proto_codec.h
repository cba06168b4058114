// The protobuf forms of API.md (proto/vecmesh/v1): gRPC requests into the service layer's types,
// and its answers back. Like json_codec.h, decoding checks only what the wire form leaves open
// (a missing id, a payload that is not a finite JSON value); the service layer and the engine
// check values and limits, so both transports refuse the same things with the same messages.
#pragma once

#include <nlohmann/json.hpp>

#include "api/service/service.h"
#include "proto/struct_json.h"
#include "vecmesh/v1/vector_store.pb.h"

namespace vecmesh::api::proto {

namespace v1 = ::vecmesh::v1;
using nlohmann::json;

using proto_json::JsonToStruct;
using proto_json::StructToJson;

CreateCollectionRequest Decode(const v1::CreateCollectionRequest& r);
StatusOr<std::vector<engine::Point>> DecodePoints(
    const google::protobuf::RepeatedPtrField<v1::Point>& points);
StatusOr<std::vector<engine::PointId>> DecodeIds(
    const google::protobuf::RepeatedPtrField<v1::PointId>& ids, const std::string& field);
StatusOr<std::optional<engine::Filter>> DecodeFilter(bool present,
                                                     const google::protobuf::Struct& filter,
                                                     const engine::Limits& limits,
                                                     const std::string& field);
StatusOr<DeletePointsRequest> Decode(const v1::DeletePointsRequest& r,
                                     const engine::Limits& limits);
StatusOr<UpdatePayloadRequest> Decode(const v1::UpdatePayloadRequest& r);
StatusOr<engine::ScrollRequest> Decode(const v1::ScrollRequest& r, const engine::Limits& limits);
// `field`: "" for a single search, "searches[i]" inside a batch.
StatusOr<Search> Decode(const v1::SearchRequest& r, const engine::Limits& limits,
                        const std::string& field);

void Encode(const CollectionView& view, v1::CollectionInfo* out);
void Encode(const StoreStates& states, google::protobuf::Map<std::string, v1::StoreState>* out);
void Encode(const std::vector<StoreOutcome>& outcomes,
            google::protobuf::Map<std::string, v1::StoreReport>* out);
// A read's store: proto3's empty string is "not given".
std::optional<std::string> Store(const std::string& store);
void Encode(const engine::PointId& id, v1::PointId* out);
void Encode(const engine::Record& record, v1::Record* out);
void Encode(const SearchAnswer& answer, v1::SearchResponse* out);
void Encode(const Job& job, v1::Job* out);

}  // namespace vecmesh::api::proto
