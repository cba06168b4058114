// CollectionCache: what a remote store knows of its server's collections (Chroma's uuid and
// space, Qdrant's dimension and distance), by name, so that a call need not ask first.
//
// A lookup that began before this store dropped or created the name must not cache what it found
// (it may describe the collection before the change): the store reads Generation() before asking
// the server and hands it to Put(), which keeps the answer only if no Changed() came between.
//
// Thread safety: every method is safe for concurrent calls.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace vecmesh::adapters {

template <typename T>
class CollectionCache {
 public:
  std::optional<T> Get(const std::string& name) const {
    std::lock_guard lock(mu_);
    if (auto it = known_.find(name); it != known_.end()) return it->second;
    return std::nullopt;
  }
  uint64_t Generation(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = generations_.find(name);
    return it == generations_.end() ? 0 : it->second;
  }
  void Put(const std::string& name, uint64_t generation, T value) {
    std::lock_guard lock(mu_);
    auto it = generations_.find(name);
    if ((it == generations_.end() ? 0 : it->second) == generation) known_[name] = std::move(value);
  }
  // The server no longer has the name (or answered with something else): forgotten.
  void Erase(const std::string& name) {
    std::lock_guard lock(mu_);
    known_.erase(name);
  }
  // This store dropped or created the name: forgotten, and lookups begun before it not kept.
  void Changed(const std::string& name) {
    std::lock_guard lock(mu_);
    known_.erase(name);
    ++generations_[name];
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, T> known_;
  std::map<std::string, uint64_t> generations_;
};

}  // namespace vecmesh::adapters
