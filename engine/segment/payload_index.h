// Inverted indexes over every payload field, so that a filter resolves to a set of slots
// without evaluating any payload. Every scalar at every dotted path is indexed (arrays are
// flattened): equality postings for strings, integers and booleans, an ordered index for numeric
// ranges, and a presence set for is_empty. Not thread-safe: the owning table guards it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "engine/segment/bitset.h"
#include "engine/filter.h"

namespace vecmesh::engine {

// The slots holding one value: a hash set while sparse, a bitset once it holds more than
// 1/64 of the slots (a bitset is then smaller, and resolving a filter is a word-wise OR).
class Postings {
 public:
  void Insert(uint32_t slot);
  void Erase(uint32_t slot);
  bool empty() const { return count_ == 0; }
  void OrInto(Bitset* out) const;

 private:
  static constexpr size_t kDenseMinCount = 256;
  size_t count_ = 0;
  std::unordered_set<uint32_t> sparse_;
  std::optional<Bitset> dense_;  // once set, sparse_ stays empty
};

class PayloadIndex {
 public:
  void Add(uint32_t slot, const nlohmann::json& payload);
  // `payload` must be the one that was added for `slot`.
  void Remove(uint32_t slot, const nlohmann::json& payload);

  // Each sets (ORs) into `out` the slots that satisfy the condition.
  void MatchAny(const std::string& key, const std::vector<std::string>& canonical_values,
                Bitset* out) const;
  void MatchExcept(const std::string& key, const std::vector<std::string>& canonical_values,
                   Bitset* out) const;
  void Range(const std::string& key, const NumericRange& range, Bitset* out) const;
  // Slots that have a non-null value at `key`.
  void Present(const std::string& key, Bitset* out) const;

 private:
  struct Field {
    std::unordered_map<std::string, Postings> postings;  // by canonical value
    std::set<std::pair<double, uint32_t>> numbers;
    Postings present;
    bool empty() const { return postings.empty() && numbers.empty() && present.empty(); }
  };
  template <typename Visit>
  static void Walk(const nlohmann::json& node, std::string& path, Visit&& visit);

  std::unordered_map<std::string, Field> fields_;
};

}  // namespace vecmesh::engine
