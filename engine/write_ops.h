// The write operations as the store applies and logs them: validated, vectors normalised,
// deletes resolved to ids. Each encodes to one write-ahead-log record (docs/storage.md).
// Plain values: safe to copy and share.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::engine {

struct CreateCollectionOp {
  CollectionConfig config;
};
struct DropCollectionOp {};
struct UpsertOp {
  std::vector<Point> points;
};
struct DeleteOp {
  std::vector<PointId> ids;
};
struct SetPayloadOp {
  std::vector<PointId> ids;
  Payload payload;
  PayloadMode mode = PayloadMode::kMerge;
};
using WriteOp =
    std::variant<CreateCollectionOp, DropCollectionOp, UpsertOp, DeleteOp, SetPayloadOp>;

// One log record: the operation and the collection it applies to.
std::string EncodeWriteOp(const std::string& collection, const WriteOp& op);
// Internal (naming what is malformed) if `record` is not an encoded operation.
Status DecodeWriteOp(std::string_view record, std::string* collection, WriteOp* op);

}  // namespace vecmesh::engine
