// The points of one collection, by slot. A slot is an internal point number (the label the
// approximate indexes store); an upsert always takes a new slot, so a slot's vector never
// changes and a replaced point's old slot simply dies. Dead slots are dropped when the
// collection compacts (which renumbers the slots into a fresh table).
//
// Not thread-safe: the owning Collection guards it (shared for reading, exclusive for writing).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/filter.h"
#include "engine/segment/bitset.h"
#include "engine/segment/payload_index.h"
#include "engine/types.h"

namespace vecmesh::engine {

// Append-only vector storage in fixed-size chunks, so that a chunk never moves once written.
class VectorArena {
 public:
  static constexpr size_t kChunkVectors = 4096;
  explicit VectorArena(size_t dim) : dim_(dim) {}

  size_t dim() const { return dim_; }
  size_t size() const { return size_; }
  const float* At(size_t slot) const {
    return chunks_[slot / kChunkVectors].get() + (slot % kChunkVectors) * dim_;
  }
  // Vectors [chunk * kChunkVectors, ...) are contiguous, at most kChunkVectors of them.
  const float* Chunk(size_t chunk) const { return chunks_[chunk].get(); }
  void Append(const float* v);

 private:
  size_t dim_;
  size_t size_ = 0;
  std::vector<std::unique_ptr<float[]>> chunks_;
};

class PointTable {
 public:
  explicit PointTable(uint32_t dim) : vectors_(dim) {}

  uint32_t num_slots() const { return static_cast<uint32_t>(ids_.size()); }
  size_t num_live() const { return slot_of_.size(); }
  const Bitset& live() const { return live_; }
  bool IsLive(uint32_t slot) const { return live_.Test(slot); }
  const VectorArena& vectors() const { return vectors_; }
  const float* Vector(uint32_t slot) const { return vectors_.At(slot); }
  // ||v||^2 of every slot, indexed by slot.
  const float* SquaredNorms() const { return sq_norms_.data(); }
  const PointId& Id(uint32_t slot) const { return ids_[slot]; }
  const Payload& PayloadOf(uint32_t slot) const { return payloads_[slot]; }
  const std::map<PointId, uint32_t>& slots_by_id() const { return slot_of_; }

  // The live slot of `id`, or -1.
  int64_t Find(const PointId& id) const;
  // Appends a live point (replacing and killing the live point with the same id, if any).
  // `vector` is already normalised for cosine. Returns its slot.
  uint32_t Insert(const PointId& id, const float* vector, Payload payload);
  // Appends a dead slot: keeps slot numbers aligned with an index built before the point died.
  void InsertDead(const float* vector);
  // Kills the live point `id`; false if there is none.
  bool Kill(const PointId& id);
  void SetPayload(uint32_t slot, Payload payload);

  // Reading the table as of one moment while writes go on (a checkpoint's export, in pieces):
  // from KeepPayloadsAsOfNow(n) until ForgetKeptPayloads, the first change to the payload of a
  // slot below n (killing it, or setting its payload) keeps the payload it had, and
  // PayloadAsKept reads that. Slots' vectors and ids never change, so with a copy of live()
  // taken at the same moment the table reads as it was.
  void KeepPayloadsAsOfNow(uint32_t num_slots);
  void ForgetKeptPayloads();
  // The payload `slot` (below the kept count) had at KeepPayloadsAsOfNow.
  const Payload& PayloadAsKept(uint32_t slot) const;

  // The live slots that satisfy `filter`.
  Bitset Matching(const Filter& filter) const;

 private:
  void KillSlot(uint32_t slot);
  void KeepPayload(uint32_t slot);  // before the payload of `slot` changes
  Bitset Resolve(const Condition& c) const;

  VectorArena vectors_;
  std::vector<float> sq_norms_;
  std::vector<PointId> ids_;
  std::vector<Payload> payloads_;  // null once the slot is dead
  Bitset live_;
  std::map<PointId, uint32_t> slot_of_;                  // live points only
  PayloadIndex payload_index_;                           // live points only
  uint32_t keep_payloads_below_ = 0;                     // 0: none kept (KeepPayloadsAsOfNow)
  std::unordered_map<uint32_t, Payload> kept_payloads_;  // by slot: as of KeepPayloadsAsOfNow
};

}  // namespace vecmesh::engine
