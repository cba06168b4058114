// The write operations as the store applies and logs them: validated, vectors normalised,
// deletes resolved to ids. Each encodes to one write-ahead-log record (docs/storage.md).
// Plain values: safe to copy and share.
#pragma once

#include <cstdint>
#include <optional>
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

// The two below appear only in checkpoints (docs/storage.md), which save a collection slot by
// slot with its index, so that the index's slot numbers stay valid when it is read back.
struct SavedSlot {
  Point point;  // a dead slot keeps only its vector (the index may hold it)
  bool live = true;
};
struct SlotsOp {
  std::vector<SavedSlot> slots;  // the next slots, in order
};
// One part of an AnnIndex::Save image that covers slots [0, indexed_slots); the parts follow
// each other until image_bytes are read.
struct IndexPartOp {
  uint32_t indexed_slots = 0;
  uint64_t image_bytes = 0;
  std::string part;
};
// Replaces the collection (creating it if missing) by the snapshot file `file`, a path relative
// to the data directory (restores/restore-SEGMENT-SEQ.vms, docs/storage.md): the restore is this
// one record, so a crash leaves the collection as it was before it or as the snapshot holds it.
// Appears only in log segments.
struct RestoreOp {
  std::string file;
};
// A write applied as a job (API.md "Indexing jobs"): the job's id and when it was applied. The
// write is logged with its tag in one record, so that the job is remembered exactly when its
// write is durable, never one without the other.
struct JobTag {
  std::string id;
  int64_t applied_unix_ms = 0;
  bool operator==(const JobTag&) const = default;
};
// The jobs applied within the retention: store-wide (its collection name is empty), and only in
// checkpoints, which keep what the log segments they replace remembered.
struct JobsOp {
  std::vector<JobTag> jobs;
};
using WriteOp = std::variant<CreateCollectionOp, DropCollectionOp, UpsertOp, DeleteOp, SetPayloadOp,
                             SlotsOp, IndexPartOp, RestoreOp, JobsOp>;

// std::visit over a WriteOp with one lambda per kind: Overloaded{[](const UpsertOp&) {...}, ...}.
// Without a catch-all lambda, a kind added to WriteOp fails to compile where it is not handled.
template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
// C++20 deduces it without this guide, but clang does so only from version 17 on.
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

// One log record: the operation and the collection it applies to, and the job it belongs to (an
// upsert, delete or payload update only; null: none).
std::string EncodeWriteOp(const std::string& collection, const WriteOp& op,
                          const JobTag* job = nullptr);
// Internal (naming what is malformed) if `record` is not an encoded operation. Only the format
// is checked: a collection's configuration is read as it was logged, not against today's API
// ranges (a reader of an untrusted file validates it). `job` (when given) is set to the record's
// job, or reset when it has none; a reader that passes none gets the write alone.
Status DecodeWriteOp(std::string_view record, std::string* collection, WriteOp* op,
                     std::optional<JobTag>* job = nullptr);

// Where a checkpoint's image of a collection stands in the log (kind 12, checkpoints of format
// version 6 on, after the collection's slots and index): the image holds exactly the
// collection's records that end at or before offset `offset` of log segment `segment`. Not an
// operation (WriteOp): recovery reads it to skip those records when it replays the log.
struct AppliedThrough {
  std::string collection;
  uint64_t segment = 0;
  uint64_t offset = 0;
};
std::string EncodeAppliedThrough(const AppliedThrough& applied);
// Whether `record` is of kind 12 (DecodeWriteOp refuses it as an unknown kind).
bool IsAppliedThrough(std::string_view record);
// Internal if `record` is not a well-formed kind 12 record.
Status DecodeAppliedThrough(std::string_view record, AppliedThrough* applied);

}  // namespace vecmesh::engine
