#include "engine/segment/point_table.h"

#include <algorithm>
#include <cstring>

#include "engine/index/distance.h"

namespace vecmesh::engine {

void VectorArena::Append(const float* v) {
  if (size_ % kChunkVectors == 0) {
    chunks_.push_back(std::make_unique<float[]>(kChunkVectors * dim_));
  }
  std::memcpy(chunks_.back().get() + (size_ % kChunkVectors) * dim_, v, dim_ * sizeof(float));
  ++size_;
}

int64_t PointTable::Find(const PointId& id) const {
  auto it = slot_of_.find(id);
  return it == slot_of_.end() ? int64_t{-1} : int64_t{it->second};
}

uint32_t PointTable::Insert(const PointId& id, const float* vector, Payload payload) {
  Kill(id);
  auto slot = static_cast<uint32_t>(ids_.size());
  vectors_.Append(vector);
  sq_norms_.push_back(InnerProduct(vector, vector, vectors_.dim()));
  ids_.push_back(id);
  payload_index_.Add(slot, payload);
  payloads_.push_back(std::move(payload));
  live_.Resize(slot + 1);
  live_.Set(slot);
  slot_of_.emplace(id, slot);
  return slot;
}

void PointTable::InsertDead(const float* vector) {
  vectors_.Append(vector);
  sq_norms_.push_back(0);
  ids_.emplace_back(uint64_t{0});
  payloads_.emplace_back();
  live_.Resize(ids_.size());
}

bool PointTable::Kill(const PointId& id) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return false;
  uint32_t slot = it->second;
  slot_of_.erase(it);
  KillSlot(slot);
  return true;
}

void PointTable::KillSlot(uint32_t slot) {
  KeepPayload(slot);
  live_.Reset(slot);
  payload_index_.Remove(slot, payloads_[slot]);
  payloads_[slot] = nullptr;
}

void PointTable::SetPayload(uint32_t slot, Payload payload) {
  KeepPayload(slot);
  payload_index_.Remove(slot, payloads_[slot]);
  payload_index_.Add(slot, payload);
  payloads_[slot] = std::move(payload);
}

void PointTable::KeepPayload(uint32_t slot) {
  if (slot < keep_payloads_below_) kept_payloads_.try_emplace(slot, payloads_[slot]);
}

void PointTable::KeepPayloadsAsOfNow(uint32_t num_slots) {
  kept_payloads_.clear();
  keep_payloads_below_ = num_slots;
}

void PointTable::ForgetKeptPayloads() {
  keep_payloads_below_ = 0;
  kept_payloads_ = {};
}

const Payload& PointTable::PayloadAsKept(uint32_t slot) const {
  auto it = kept_payloads_.find(slot);
  return it == kept_payloads_.end() ? payloads_[slot] : it->second;
}

Bitset PointTable::Matching(const Filter& filter) const {
  Bitset result = live_;
  for (const Condition& c : filter.must) result &= Resolve(c);
  if (!filter.should.empty()) {
    Bitset any(num_slots());
    for (const Condition& c : filter.should) any |= Resolve(c);
    result &= any;
  }
  for (const Condition& c : filter.must_not) result.Subtract(Resolve(c));
  return result;
}

Bitset PointTable::Resolve(const Condition& c) const {
  Bitset out(num_slots());
  switch (c.kind) {
    case Condition::Kind::kMatchValue:
    case Condition::Kind::kMatchAny:
      payload_index_.MatchAny(c.key, c.values, &out);
      break;
    case Condition::Kind::kMatchExcept:
      payload_index_.MatchExcept(c.key, c.values, &out);
      break;
    case Condition::Kind::kRange:
      payload_index_.Range(c.key, c.range, &out);
      break;
    case Condition::Kind::kHasId:
      for (const PointId& id : c.ids) {
        int64_t slot = Find(id);
        if (slot >= 0) out.Set(slot);
      }
      break;
    case Condition::Kind::kIsEmpty: {
      Bitset present(num_slots());
      payload_index_.Present(c.key, &present);
      out = live_;
      out.Subtract(present);
      break;
    }
    case Condition::Kind::kNested:
      out = Matching(*c.nested);
      break;
  }
  return out;
}

}  // namespace vecmesh::engine
