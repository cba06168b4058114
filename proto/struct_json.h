// google.protobuf.Struct, the payloads and filters of proto/vecmesh/v1, as JSON and back: one
// mapping for both ends of the gRPC API (api/grpc, the server; api/cli, the command line).
#pragma once

#include <google/protobuf/struct.pb.h>

#include <nlohmann/json.hpp>
#include <string>

#include "engine/status.h"

namespace vecmesh::proto_json {

// A Struct as a JSON object: integral numbers become integers (as they are over REST); NaN and
// infinities are refused, InvalidArgument naming `field` and the key's path under it.
engine::StatusOr<nlohmann::json> StructToJson(const google::protobuf::Struct& s,
                                              const std::string& field);
// A JSON object as a Struct (numbers become doubles).
void JsonToStruct(const nlohmann::json& object, google::protobuf::Struct* out);

}  // namespace vecmesh::proto_json
