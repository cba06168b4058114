// The HNSW graph (Malkov and Yashunin, 2016): its construction, its filtered search, and its
// serialisation. Our own, so that several threads can build one graph with every shared field
// behind a lock (hnswlib 0.6.2's concurrent insertion reads the entry point and the levels outside
// its locks), and so that the search loop is laid out for the engine's kernels.
//
// Thread safety: Link may run on any number of threads at once, for distinct nodes. Search,
// Save and Copy may run concurrently with each other, never with Append or Link.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/index/distance.h"
#include "engine/segment/bitset.h"
#include "engine/status.h"

namespace vecmesh::engine {

// Allocates arrays of 2 MiB and more on 2 MiB boundaries and asks the kernel to back them with
// huge pages (where transparent huge pages are set to "madvise"): a search touches a few
// thousand vectors spread over the whole array, and with 4 KiB pages most of those are TLB
// misses.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}
  T* allocate(size_t n);
  void deallocate(T* p, size_t) { std::free(p); }
  bool operator==(const HugePageAllocator&) const { return true; }
};

class HnswGraph {
 public:
  // `m` links per node on the upper layers, 2m on the base layer; `ef_construction` the beam
  // width of an insertion. Distances are squared Euclidean where `l2`, else the negated inner
  // product.
  HnswGraph(size_t dim, bool l2, int m, int ef_construction);
  ~HnswGraph();

  size_t size() const { return slots_.size(); }
  size_t dim() const { return dim_; }

  // A copy of the graph, with room for `capacity` nodes.
  std::unique_ptr<HnswGraph> Copy(size_t capacity) const;

  // Makes room for `capacity` nodes, so that Append does not reallocate below it.
  void Reserve(size_t capacity);
  // Adds n nodes (x: n * dim, row-major) that stand for `slots`, not yet linked: no search reaches
  // them until Link. Returns the first new node's number. If it throws, nothing was added.
  uint32_t Append(size_t n, const float* x, const uint32_t* slots);
  // Links an appended node into the graph.
  void Link(uint32_t node);
  // Links nodes [first, size()) on `threads` threads; polls `cancelled` (may be null) and
  // stops early once it is true. Whether every node was linked. An exception any thread meets
  // stops them all and is thrown here (the graph is then to be dropped).
  bool LinkAll(uint32_t first, int threads, const std::atomic<bool>* cancelled);

  // Up to k nearest nodes' slots, nearest first, with a beam of max(ef, k) on the base layer.
  // Every node routes the search; only slots set in `allowed` (null: all) are returned, and the
  // search keeps expanding until it holds ef of those or runs out of graph.
  std::vector<Neighbor> Search(const float* query, size_t k, size_t ef,
                               const Bitset* allowed) const;

  // The graph as bytes, read back by Load.
  std::string Save() const;
  // Reads a Save image, or an image hnswlib 0.6.2's saveIndex wrote (checkpoints before this
  // graph existed). A graph that does not hold dim-dimensional vectors of exactly the slots
  // [0, slots), one node each, or is not whole, is InvalidArgument, naming what is wrong.
  static StatusOr<std::unique_ptr<HnswGraph>> Load(std::string_view image, size_t dim, bool l2,
                                                   int m, int ef_construction, uint32_t slots);

 private:
  struct Candidate {
    float distance;
    uint32_t node;
    bool operator<(const Candidate& o) const { return distance < o.distance; }
    bool operator>(const Candidate& o) const { return distance > o.distance; }
  };
  class VisitedPool;

  const float* Vector(uint32_t node) const { return vectors_.data() + size_t{node} * dim_; }
  float Distance(const float* a, const float* b) const {
    return l2_ ? L2Sqr(a, b, dim_) : -InnerProduct(a, b, dim_);
  }
  // A node's links on `level`: a count, then the links (max_links(level) words).
  uint32_t* Links(uint32_t node, int level) {
    return level == 0 ? links0_.data() + size_t{node} * (1 + max_links0_)
                      : upper_links_[node].get() + size_t(level - 1) * (1 + max_links_);
  }
  const uint32_t* Links(uint32_t node, int level) const {
    return const_cast<HnswGraph*>(this)->Links(node, level);
  }
  int max_links(int level) const { return level == 0 ? max_links0_ : max_links_; }
  std::mutex& LockOf(uint32_t node) const { return locks_[node % kLockStripes]; }
  int LevelFor(uint32_t node) const;
  // Load: room for `count` nodes, every field zero, their upper links not allocated.
  void ResizeForLoad(size_t count);

  // Room for any node's links (m is at most 128).
  using LinkBuffer = std::array<uint32_t, 256>;
  // Construction: copies a node's links on `level` into `out` under the node's lock; their count.
  uint32_t CopyLinks(uint32_t node, int level, LinkBuffer& out) const;
  // Construction: the ef nearest nodes to `query` on `level` from `entry`, other than the node
  // `linking`, reading each node's links under its lock (other nodes are being linked
  // meanwhile). Nearest first.
  std::vector<Candidate> SearchLayer(const float* query, Candidate entry, size_t ef, int level,
                                     uint32_t linking) const;
  // The greedy walk to the node nearest `query` on `level`, from `entry`.
  Candidate Descend(const float* query, Candidate entry, int level) const;
  // hnswlib's neighbour heuristic: from candidates sorted nearest first, keeps those nearer to
  // the base than to every one kept already, up to `keep`.
  std::vector<Candidate> SelectNeighbors(const std::vector<Candidate>& candidates,
                                         size_t keep) const;
  // Adds `others` to the links of `node` on `level`, under its lock, pruning them by the
  // heuristic when they are more than the level holds.
  void Connect(uint32_t node, const std::vector<Candidate>& others, int level);

  size_t dim_;
  bool l2_;
  int max_links_, max_links0_, ef_construction_;
  double level_scale_;

  std::vector<float, HugePageAllocator<float>> vectors_;  // node i's vector at i * dim
  std::vector<uint32_t> slots_;
  std::vector<uint8_t> levels_;
  // Node i's base-layer list at i * (1 + max_links0).
  std::vector<uint32_t, HugePageAllocator<uint32_t>> links0_;
  std::vector<std::unique_ptr<uint32_t[]>> upper_links_;  // levels 1..L, (1 + max_links) each

  // Guards entry_ and max_level_ while Link runs; an insertion that raises the top level holds
  // it until it is linked, as in the paper.
  std::mutex entry_mu_;
  int64_t entry_ = -1;  // no node linked yet
  int max_level_ = 0;

  static constexpr size_t kLockStripes = 4096;  // a node's links are guarded by stripe node % N
  std::unique_ptr<std::mutex[]> locks_;
  std::unique_ptr<VisitedPool> visited_;
};

}  // namespace vecmesh::engine
