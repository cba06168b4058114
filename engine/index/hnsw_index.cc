// HNSW: the AnnIndex over our own graph (hnsw_graph.h), built on options.threads threads.
#include "engine/index/ann_index.h"
#include "engine/index/hnsw_graph.h"

namespace vecmesh::engine {
namespace {

class HnswIndex : public AnnIndex {
 public:
  explicit HnswIndex(std::unique_ptr<HnswGraph> graph) : graph_(std::move(graph)) {}

  // A broken graph is not saved: the restarted collection builds a new one.
  std::string Save() const override { return broken_ ? std::string() : graph_->Save(); }

  std::vector<Neighbor> Search(const float* query, size_t k, const Bitset* allowed,
                               const AnnSearchParams& params) const override {
    if (broken_) return {};
    return graph_->Search(query, k, params.ef_search, allowed);
  }

  bool can_grow() const override { return true; }
  StatusOr<std::unique_ptr<AnnIndex>> Grown(size_t n, const float* x, const uint32_t* slots,
                                            const BuildOptions& options) const override {
    auto graph = graph_->Copy(graph_->size() + n);
    const uint32_t first = graph->Append(n, x, slots);
    if (!graph->LinkAll(first, options.threads, options.cancelled)) {
      return std::unique_ptr<AnnIndex>();
    }
    return std::unique_ptr<AnnIndex>(std::make_unique<HnswIndex>(std::move(graph)));
  }

  std::vector<uint8_t> Encode(size_t, const float*) const override { return {}; }
  void AddEncoded(size_t n, const float* x, const uint8_t*, const uint32_t* slots) override {
    const uint32_t first = graph_->Append(n, x, slots);
    try {
      for (uint32_t node = first; node < first + n; ++node) graph_->Link(node);
    } catch (...) {
      // Appended nodes that are not all linked: the caller does not count them as added, so a
      // retry would add them twice. The graph answers nothing more and is rebuilt.
      broken_ = true;
      throw;
    }
  }
  bool needs_rebuild() const override { return broken_; }
  // About a millisecond of graph insertion per chunk: the longest a search waits for an add.
  size_t AddBatchSize() const override { return 16; }
  bool exact_vectors() const override { return true; }
  size_t dim() const override { return graph_->dim(); }

 private:
  std::unique_ptr<HnswGraph> graph_;
  bool broken_ = false;  // written by AddEncoded, which runs alone
};

}  // namespace

StatusOr<std::unique_ptr<AnnIndex>> BuildHnswIndex(const CollectionConfig& config, size_t n,
                                                   const float* x, const uint32_t* slots,
                                                   const BuildOptions& options) {
  auto graph = std::make_unique<HnswGraph>(config.dimension, config.metric == Metric::kL2,
                                           config.index.hnsw_m, config.index.ef_construction);
  graph->Reserve(n);
  graph->Append(n, x, slots);
  if (!graph->LinkAll(0, options.threads, options.cancelled)) return std::unique_ptr<AnnIndex>();
  return std::unique_ptr<AnnIndex>(std::make_unique<HnswIndex>(std::move(graph)));
}

StatusOr<std::unique_ptr<AnnIndex>> LoadHnswIndex(const CollectionConfig& config,
                                                  std::string_view image, uint32_t slots) {
  auto graph = HnswGraph::Load(image, config.dimension, config.metric == Metric::kL2,
                               config.index.hnsw_m, config.index.ef_construction, slots);
  if (!graph.ok()) {
    return Status::Internal("the saved hnsw index of collection '" + config.name +
                            "' is unusable: " + graph.status().message());
  }
  return std::unique_ptr<AnnIndex>(std::make_unique<HnswIndex>(std::move(*graph)));
}

}  // namespace vecmesh::engine
