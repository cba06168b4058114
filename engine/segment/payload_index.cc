#include "engine/segment/payload_index.h"

#include <unordered_set>

namespace vecmesh::engine {

void Postings::Insert(uint32_t slot) {
  if (dense_) {
    if (slot >= dense_->size()) dense_->Resize(std::max<size_t>(slot + 1, dense_->size() * 2));
    if (dense_->Test(slot)) return;
    dense_->Set(slot);
    ++count_;
    return;
  }
  if (!sparse_.insert(slot).second) return;
  ++count_;
  uint32_t max_slot = slot;
  if (count_ >= kDenseMinCount && count_ * 64 > max_slot) {
    for (uint32_t s : sparse_) max_slot = std::max(max_slot, s);
    if (count_ * 64 > max_slot) {
      dense_.emplace(max_slot + 1);
      for (uint32_t s : sparse_) dense_->Set(s);
      sparse_ = {};
    }
  }
}

void Postings::Erase(uint32_t slot) {
  if (dense_) {
    if (!dense_->Test(slot)) return;
    dense_->Reset(slot);
    --count_;
  } else {
    count_ -= sparse_.erase(slot);
  }
}

void Postings::OrInto(Bitset* out) const {
  if (dense_) {
    *out |= *dense_;
  } else {
    for (uint32_t slot : sparse_) out->Set(slot);
  }
}

// visit(path, node) is called for every non-null, non-array node below the root object
// (objects included, for presence); array elements are visited under the array's own path.
template <typename Visit>
void PayloadIndex::Walk(const nlohmann::json& node, std::string& path, Visit&& visit) {
  if (node.is_null()) return;
  if (node.is_array()) {
    for (const auto& element : node) Walk(element, path, visit);
    return;
  }
  if (!path.empty()) visit(path, node);
  if (node.is_object()) {
    for (const auto& [name, child] : node.items()) {
      size_t mark = path.size();
      if (!path.empty()) path += '.';
      path += name;
      Walk(child, path, visit);
      path.resize(mark);
    }
  }
}

void PayloadIndex::Add(uint32_t slot, const nlohmann::json& payload) {
  std::string path;
  Walk(payload, path, [&](const std::string& key, const nlohmann::json& value) {
    Field& f = fields_[key];
    f.present.Insert(slot);
    if (auto canonical = CanonicalScalar(value)) f.postings[*canonical].Insert(slot);
    if (value.is_number()) f.numbers.emplace(value.get<double>(), slot);
  });
}

void PayloadIndex::Remove(uint32_t slot, const nlohmann::json& payload) {
  std::string path;
  Walk(payload, path, [&](const std::string& key, const nlohmann::json& value) {
    auto it = fields_.find(key);
    if (it == fields_.end()) return;
    Field& f = it->second;
    f.present.Erase(slot);
    if (auto canonical = CanonicalScalar(value)) {
      auto p = f.postings.find(*canonical);
      if (p != f.postings.end()) {
        p->second.Erase(slot);
        if (p->second.empty()) f.postings.erase(p);
      }
    }
    if (value.is_number()) f.numbers.erase({value.get<double>(), slot});
    if (f.empty()) fields_.erase(it);
  });
}

void PayloadIndex::MatchAny(const std::string& key, const std::vector<std::string>& values,
                            Bitset* out) const {
  auto it = fields_.find(key);
  if (it == fields_.end()) return;
  for (const std::string& v : values) {
    auto p = it->second.postings.find(v);
    if (p != it->second.postings.end()) p->second.OrInto(out);
  }
}

void PayloadIndex::MatchExcept(const std::string& key, const std::vector<std::string>& values,
                               Bitset* out) const {
  auto it = fields_.find(key);
  if (it == fields_.end()) return;
  std::unordered_set<std::string> excluded(values.begin(), values.end());
  for (const auto& [value, slots] : it->second.postings) {
    if (!excluded.count(value)) slots.OrInto(out);
  }
}

void PayloadIndex::Range(const std::string& key, const NumericRange& range, Bitset* out) const {
  auto it = fields_.find(key);
  if (it == fields_.end()) return;
  const auto& numbers = it->second.numbers;
  // Start at the later of the two lower bounds; Contains() checks every bound anyway.
  auto begin = numbers.begin();
  auto later = [&](auto a, auto b) {
    if (a == numbers.end() || b == numbers.end()) return numbers.end();
    return *a < *b ? b : a;
  };
  if (range.gte) begin = later(begin, numbers.lower_bound({*range.gte, 0}));
  if (range.gt) begin = later(begin, numbers.upper_bound({*range.gt, UINT32_MAX}));
  for (auto n = begin; n != numbers.end(); ++n) {
    if ((range.lt && n->first >= *range.lt) || (range.lte && n->first > *range.lte)) break;
    if (range.Contains(n->first)) out->Set(n->second);
  }
}

void PayloadIndex::Present(const std::string& key, Bitset* out) const {
  auto it = fields_.find(key);
  if (it == fields_.end()) return;
  it->second.present.OrInto(out);
}

}  // namespace vecmesh::engine
