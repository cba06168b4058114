// HNSW over hnswlib's graph. hnswlib builds the graph; the search is our own so that it can
// honour a filter (tombstones and payload filters) while traversing, as hnswlib 0.7's filter
// functor does, and it uses the engine's runtime-dispatched SIMD kernels for distances.
#include <hnswlib/hnswlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <queue>
#include <system_error>

#include "engine/index/ann_index.h"

namespace vecmesh::engine {
namespace {

float HnswL2(const void* a, const void* b, const void* dim) {
  return L2Sqr(static_cast<const float*>(a), static_cast<const float*>(b),
               *static_cast<const size_t*>(dim));
}
float HnswNegativeIp(const void* a, const void* b, const void* dim) {
  return -InnerProduct(static_cast<const float*>(a), static_cast<const float*>(b),
                       *static_cast<const size_t*>(dim));
}

// hnswlib's distance plug-in: the engine's kernels instead of hnswlib's compile-time SSE ones.
class KernelSpace : public hnswlib::SpaceInterface<float> {
 public:
  KernelSpace(size_t dim, Metric metric)
      : dim_(dim), func_(metric == Metric::kL2 ? HnswL2 : HnswNegativeIp) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return func_; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
  hnswlib::DISTFUNC<float> func_;
};

// hnswlib 0.6.2 saves to and loads from a path only. An anonymous in-memory file gives it one,
// so its image reaches the disk only through the checkpoint's own checked writes.
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("vecmesh-hnsw", MFD_CLOEXEC)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }
  std::string Read() const {
    struct stat st;
    if (::fstat(fd_, &st) != 0) throw std::system_error(errno, std::generic_category(), "fstat");
    std::string data(st.st_size, '\0');
    for (size_t done = 0; done < data.size();) {
      const ssize_t n = ::pread(fd_, data.data() + done, data.size() - done, done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::system_error(n < 0 ? errno : EIO, std::generic_category(), "pread");
      done += n;
    }
    return data;
  }
  void Write(std::string_view data) {
    for (size_t done = 0; done < data.size();) {
      const ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::system_error(n < 0 ? errno : EIO, std::generic_category(), "pwrite");
      done += n;
    }
  }

 private:
  int fd_;
};

class HnswIndex : public AnnIndex {
 public:
  // An empty graph with room for `capacity` points.
  HnswIndex(const CollectionConfig& config, size_t capacity)
      : dim_(config.dimension),
        space_(config.dimension, config.metric),
        graph_(std::make_unique<hnswlib::HierarchicalNSW<float>>(
            &space_, std::max<size_t>(capacity, 1), config.index.hnsw_m,
            config.index.ef_construction)),
        dist_func_(space_.get_dist_func()) {}
  // The graph saved at `path` by Save's hnswlib format.
  HnswIndex(const CollectionConfig& config, const std::string& path)
      : dim_(config.dimension),
        space_(config.dimension, config.metric),
        graph_(std::make_unique<hnswlib::HierarchicalNSW<float>>(&space_, path)),
        dist_func_(space_.get_dist_func()) {}

  // Why the loaded graph cannot be an index of dim_-dimensional slots [0, slots), or "".
  std::string Check(uint32_t slots) const {
    const auto& g = *graph_;
    if (g.label_offset_ != g.offsetData_ + dim_ * sizeof(float) ||
        g.size_data_per_element_ != g.label_offset_ + sizeof(hnswlib::labeltype)) {
      return "its vectors are not of dimension " + std::to_string(dim_);
    }
    if (g.cur_element_count > 0 && g.enterpoint_node_ >= g.cur_element_count) {
      return "its entry point is out of range";
    }
    for (size_t i = 0; i < g.cur_element_count; ++i) {
      if (g.getExternalLabel(i) >= slots) {
        return "it holds slot " + std::to_string(g.getExternalLabel(i)) + " of only " +
               std::to_string(slots);
      }
    }
    return "";
  }

  std::string Save() const override {
    MemoryFile file;
    graph_->saveIndex(file.path());
    return file.Read();
  }

  std::vector<Neighbor> Search(const float* query, size_t k, const Bitset* allowed,
                               const AnnSearchParams& params) const override;

  std::vector<uint8_t> Encode(size_t, const float*) const override { return {}; }
  void AddEncoded(size_t n, const float* x, const uint8_t*, const uint32_t* slots) override {
    auto& g = *graph_;
    if (g.cur_element_count + n > g.max_elements_) {
      g.resizeIndex(std::max(g.max_elements_ * 2, g.cur_element_count + n));
    }
    for (size_t i = 0; i < n; ++i) g.addPoint(x + i * dim_, slots[i]);
  }
  // About a millisecond of graph insertion per chunk: the longest a search waits for an add.
  size_t AddBatchSize() const override { return 16; }
  bool exact_vectors() const override { return true; }
  size_t dim() const override { return dim_; }

 private:
  float Dist(const float* q, hnswlib::tableint id) const {
    return dist_func_(q, graph_->getDataByInternalId(id), &dim_);
  }

  size_t dim_;
  KernelSpace space_;  // outlives graph_, which points to it
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
  hnswlib::DISTFUNC<float> dist_func_;
};

std::vector<Neighbor> HnswIndex::Search(const float* query, size_t k, const Bitset* allowed,
                                        const AnnSearchParams& params) const {
  using hnswlib::tableint;
  const auto& g = *graph_;
  if (g.cur_element_count == 0 || k == 0) return {};
  const size_t ef = std::max<size_t>(params.ef_search, k);
  auto is_allowed = [&](tableint id) {
    return allowed == nullptr || allowed->Test(g.getExternalLabel(id));
  };

  // Greedy descent through the upper layers, unfiltered: they only route.
  tableint current = g.enterpoint_node_;
  float current_dist = Dist(query, current);
  for (int level = g.maxlevel_; level > 0; --level) {
    for (bool changed = true; changed;) {
      changed = false;
      auto* list = g.get_linklist(current, level);
      const int size = g.getListCount(list);
      const auto* links = reinterpret_cast<const tableint*>(list + 1);
      for (int i = 0; i < size; ++i) {
        float d = Dist(query, links[i]);
        if (d < current_dist) {
          current_dist = d;
          current = links[i];
          changed = true;
        }
      }
    }
  }

  // Beam search in the base layer. Every node routes; only allowed nodes enter the results, and
  // while fewer than ef are found the search keeps expanding (so a filter cannot starve it).
  using Candidate = std::pair<float, tableint>;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>>
      frontier;                            // nearest on top
  std::priority_queue<Candidate> results;  // farthest on top, at most ef
  hnswlib::VisitedList* visited_list = g.visited_list_pool_->getFreeVisitedList();
  hnswlib::vl_type* visited = visited_list->mass;
  const hnswlib::vl_type tag = visited_list->curV;

  visited[current] = tag;
  frontier.emplace(current_dist, current);
  if (is_allowed(current)) results.emplace(current_dist, current);
  float bound = results.empty() ? std::numeric_limits<float>::infinity() : results.top().first;
  while (!frontier.empty()) {
    auto [dist, node] = frontier.top();
    if (dist > bound && results.size() >= ef) break;
    frontier.pop();
    auto* list = g.get_linklist0(node);
    const int size = g.getListCount(list);
    const auto* links = reinterpret_cast<const tableint*>(list + 1);
    for (int i = 0; i < size; ++i) {
      const tableint next = links[i];
      if (i + 1 < size) __builtin_prefetch(g.getDataByInternalId(links[i + 1]));
      if (visited[next] == tag) continue;
      visited[next] = tag;
      const float d = Dist(query, next);
      if (results.size() < ef || d < bound) {
        frontier.emplace(d, next);
        if (is_allowed(next)) {
          results.emplace(d, next);
          if (results.size() > ef) results.pop();
          bound = results.top().first;
        }
      }
    }
  }
  g.visited_list_pool_->releaseVisitedList(visited_list);

  while (results.size() > k) results.pop();
  std::vector<Neighbor> out(results.size());
  for (size_t i = out.size(); i-- > 0; results.pop()) {
    out[i] = {results.top().first, static_cast<uint32_t>(g.getExternalLabel(results.top().second))};
  }
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<AnnIndex>> BuildHnswIndex(const CollectionConfig& config, size_t n,
                                                   const float* x, const uint32_t* slots,
                                                   const BuildOptions& options) {
  // One thread inserts: hnswlib 0.6.2's concurrent addPoint reads the entry point and levels
  // outside its locks (ThreadSanitizer reports those races), so options.threads is not used here.
  auto index = std::make_unique<HnswIndex>(config, n);
  constexpr size_t kCancelCheck = 1024;
  for (size_t begin = 0; begin < n; begin += kCancelCheck) {
    if (options.cancelled && options.cancelled->load()) return std::unique_ptr<AnnIndex>();
    size_t count = std::min(kCancelCheck, n - begin);
    index->AddEncoded(count, x + begin * config.dimension, nullptr, slots + begin);
  }
  return std::unique_ptr<AnnIndex>(std::move(index));
}

StatusOr<std::unique_ptr<AnnIndex>> LoadHnswIndex(const CollectionConfig& config,
                                                  std::string_view image, uint32_t slots) {
  MemoryFile file;
  file.Write(image);
  auto index = std::make_unique<HnswIndex>(config, file.path());
  if (std::string problem = index->Check(slots); !problem.empty()) {
    return Status::Internal("the saved hnsw index of collection '" + config.name +
                            "' is unusable: " + problem);
  }
  return std::unique_ptr<AnnIndex>(std::move(index));
}

}  // namespace vecmesh::engine
