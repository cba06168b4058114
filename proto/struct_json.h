// google.protobuf.Struct, the payloads and filters of proto/vecmesh/v1, as JSON and back, and
// an index's config as JSON: one mapping for both ends of the gRPC API (api/grpc, the server;
// api/cli, the command line).
#pragma once

#include <google/protobuf/struct.pb.h>

#include <nlohmann/json.hpp>
#include <string>

#include "engine/status.h"
#include "vecmesh/v1/vector_store.pb.h"

namespace vecmesh::proto_json {

// A Struct as a JSON object: integral numbers become integers (as they are over REST); NaN and
// infinities are refused, InvalidArgument naming `field` and the key's path under it.
engine::StatusOr<nlohmann::json> StructToJson(const google::protobuf::Struct& s,
                                              const std::string& field);
// A JSON object as a Struct (numbers become doubles).
void JsonToStruct(const nlohmann::json& object, google::protobuf::Struct* out);

// An IndexConfig as API.md's index object: its type and the parameters that are set.
nlohmann::json IndexToJson(const v1::IndexConfig& index);

}  // namespace vecmesh::proto_json
