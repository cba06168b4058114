// Inverted indexes over every payload field, so that a filter resolves to a set of slots
// without evaluating any payload. Every scalar at every dotted path is indexed (arrays are
// flattened): equality postings for strings, integers and booleans, an ordered index for numeric
// ranges, and a presence set for is_empty. Not thread-safe: the owning table guards it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "engine/bitset.h"
#include "engine/filter.h"

namespace vecmesh::engine {

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
    std::unordered_map<std::string, std::unordered_set<uint32_t>> postings;  // canonical value
    std::set<std::pair<double, uint32_t>> numbers;
    std::unordered_set<uint32_t> present;
    bool empty() const { return postings.empty() && numbers.empty() && present.empty(); }
  };
  template <typename Visit>
  static void Walk(const nlohmann::json& node, std::string& path, Visit&& visit);

  std::unordered_map<std::string, Field> fields_;
};

}  // namespace vecmesh::engine
