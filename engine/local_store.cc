#include "engine/local_store.h"

#include <cblas-openblas.h>

#include <algorithm>

namespace vecmesh::engine {

StatusOr<CollectionConfig> ValidateCollectionConfig(CollectionConfig config, const Limits& limits) {
  const std::string& name = config.name;
  bool name_ok =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
      });
  if (!name_ok) {
    return Status::InvalidArgument("collection name '" + name +
                                   "' is invalid: it must match [A-Za-z0-9_-]{1,64}");
  }
  if (config.dimension < 1 || config.dimension > limits.max_dimension) {
    return Status::InvalidArgument("dimension must be in [1, " +
                                   std::to_string(limits.max_dimension) + "], got " +
                                   std::to_string(config.dimension));
  }
  config.index = ResolveIndexDefaults(config.index, config.dimension);
  Status s = ValidateIndexConfig(config.index, config.dimension);
  if (!s.ok()) return s;
  return config;
}

LocalStore::LocalStore(LocalStoreOptions options)
    : options_([&] {
        if (options.search_threads <= 0) {
          options.search_threads = std::max(1u, std::thread::hardware_concurrency());
        }
        if (options.build_threads <= 0) {
          options.build_threads = std::max(1u, std::thread::hardware_concurrency());
        }
        options.index_threads = std::max(1, options.index_threads);
        return options;
      }()) {
  // Parallelism comes from our own OpenMP loops over queries; a multi-threaded sgemm inside
  // them would oversubscribe the cores.
  openblas_set_num_threads(1);
  for (int i = 0; i < options_.index_threads; ++i) {
    index_workers_.emplace_back([this] { RunIndexWorker(); });
  }
}

LocalStore::~LocalStore() {
  {
    std::lock_guard lock(collections_mu_);
    for (auto& [name, collection] : collections_) collection->Cancel();
  }
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (std::thread& t : index_workers_) t.join();
}

void LocalStore::Schedule(std::weak_ptr<Collection> collection) {
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(std::move(collection));
  }
  queue_cv_.notify_one();
}

void LocalStore::RunIndexWorker() {
  for (;;) {
    std::weak_ptr<Collection> next;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    // A dropped collection has expired (or was cancelled): its work is simply skipped.
    if (auto collection = next.lock(); collection && collection->MaintainIndex()) {
      Schedule(collection);
    }
  }
}

StatusOr<std::shared_ptr<Collection>> LocalStore::Find(const std::string& name) const {
  std::shared_lock lock(collections_mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) return Status::NotFound("collection '" + name + "' not found");
  return it->second;
}

StatusOr<bool> LocalStore::CreateCollection(const CollectionConfig& requested) {
  auto config = ValidateCollectionConfig(requested, options_.limits);
  if (!config.ok()) return config.status();
  std::lock_guard lock(collections_mu_);
  if (auto it = collections_.find(config->name); it != collections_.end()) {
    if (it->second->config() == *config) return false;
    return Status::AlreadyExists("collection '" + config->name +
                                 "' already exists with another configuration");
  }
  if (collections_.size() >= options_.limits.max_collections) {
    return Status::ResourceExhausted("there are already " + std::to_string(collections_.size()) +
                                     " collections; the limit is " +
                                     std::to_string(options_.limits.max_collections));
  }
  MaintenanceScheduler* scheduler = this;
  collections_.emplace(
      config->name, std::make_shared<Collection>(*config, options_.limits, options_.search_threads,
                                                 options_.build_threads, scheduler));
  return true;
}

StatusOr<CollectionInfo> LocalStore::GetCollection(const std::string& name) const {
  auto c = Find(name);
  if (!c.ok()) return c.status();
  return (*c)->Info();
}

std::vector<CollectionInfo> LocalStore::ListCollections() const {
  std::vector<std::shared_ptr<Collection>> all;
  {
    std::shared_lock lock(collections_mu_);
    for (const auto& [name, c] : collections_) all.push_back(c);
  }
  std::vector<CollectionInfo> out;
  for (const auto& c : all) out.push_back(c->Info());
  return out;
}

Status LocalStore::DropCollection(const std::string& name) {
  std::shared_ptr<Collection> dropped;
  {
    std::lock_guard lock(collections_mu_);
    auto it = collections_.find(name);
    if (it == collections_.end()) return Status::NotFound("collection '" + name + "' not found");
    dropped = std::move(it->second);
    collections_.erase(it);
  }
  // Requests already holding it finish; a build in progress stops at its next check.
  dropped->Cancel();
  return Status::Ok();
}

StatusOr<size_t> LocalStore::Upsert(const std::string& collection, std::vector<Point> points) {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Upsert(std::move(points));
}

StatusOr<size_t> LocalStore::Delete(const std::string& collection,
                                    const std::vector<PointId>& ids) {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Delete(ids);
}

StatusOr<size_t> LocalStore::DeleteByFilter(const std::string& collection, const Filter& filter) {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->DeleteByFilter(filter);
}

StatusOr<size_t> LocalStore::SetPayload(const std::string& collection,
                                        const std::vector<PointId>& ids, const Payload& payload,
                                        PayloadMode mode) {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->SetPayload(ids, payload, mode);
}

StatusOr<std::vector<Record>> LocalStore::Get(const std::string& collection,
                                              const std::vector<PointId>& ids, bool with_payload,
                                              bool with_vector) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Get(ids, with_payload, with_vector);
}

StatusOr<size_t> LocalStore::Count(const std::string& collection, const Filter* filter) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Count(filter);
}

StatusOr<ScrollPage> LocalStore::Scroll(const std::string& collection,
                                        const ScrollRequest& request) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Scroll(request);
}

StatusOr<std::vector<std::vector<ScoredPoint>>> LocalStore::SearchBatch(
    const std::string& collection, const std::vector<SearchRequest>& requests) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Search(requests, "searches");
}

StatusOr<std::vector<ScoredPoint>> LocalStore::Search(const std::string& collection,
                                                      const SearchRequest& request) const {
  auto c = Find(collection);
  if (!c.ok()) return c.status();
  auto results = (*c)->Search({request}, "");
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

}  // namespace vecmesh::engine
