#include "engine/index/hnsw_graph.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <queue>
#include <thread>

namespace vecmesh::engine {

template <typename T>
T* HugePageAllocator<T>::allocate(size_t n) {
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t bytes = n * sizeof(T);
  void* p = bytes < kHugePage
                ? std::malloc(bytes)
                : std::aligned_alloc(kHugePage, (bytes + kHugePage - 1) / kHugePage * kHugePage);
  if (p == nullptr) throw std::bad_alloc();
  if (bytes >= kHugePage) ::madvise(p, bytes, MADV_HUGEPAGE);  // advice: failure changes nothing
  return static_cast<T*>(p);
}
template struct HugePageAllocator<float>;
template struct HugePageAllocator<uint32_t>;

// The nodes one search has visited, as a bitset (N/8 bytes, so that it stays in the nearest
// caches) that remembers which of its words it set, and clears just those when reused. Sets are
// reused across searches through a pool, one per concurrent search.
class HnswGraph::VisitedPool {
 public:
  struct List {
    std::vector<uint64_t> bits;
    std::vector<uint32_t> touched;  // words of `bits` that may be non-zero
  };

  class Marks {
   public:
    Marks(VisitedPool& pool, std::unique_ptr<List> list) : pool_(pool), list_(std::move(list)) {}
    ~Marks() { pool_.Release(std::move(list_)); }
    Marks(const Marks&) = delete;
    Marks& operator=(const Marks&) = delete;
    // Marks `node`; whether it was marked already.
    bool TestAndSet(uint32_t node) {
      uint64_t& word = list_->bits[node >> 6];
      const uint64_t bit = uint64_t{1} << (node & 63);
      if (word & bit) return true;
      if (word == 0) list_->touched.push_back(node >> 6);
      word |= bit;
      return false;
    }

   private:
    VisitedPool& pool_;
    std::unique_ptr<List> list_;
  };

  Marks Acquire(size_t nodes) {
    std::unique_ptr<List> list;
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        list = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!list) {
      list = std::make_unique<List>();
      // Room on the free list for every list there is, so that Release (from a destructor)
      // never allocates.
      std::lock_guard lock(mu_);
      free_.reserve(++lists_);
    }
    for (uint32_t word : list->touched) list->bits[word] = 0;
    list->touched.clear();
    if (list->bits.size() * 64 < nodes) list->bits.resize((nodes + 63) / 64, 0);
    return Marks(*this, std::move(list));
  }

 private:
  void Release(std::unique_ptr<List> list) {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(list));
  }

  std::mutex mu_;
  std::vector<std::unique_ptr<List>> free_;
  size_t lists_ = 0;  // made so far
};

HnswGraph::HnswGraph(size_t dim, bool l2, int m, int ef_construction)
    : dim_(dim),
      l2_(l2),
      max_links_(m),
      max_links0_(2 * m),
      ef_construction_(std::max(ef_construction, m)),
      level_scale_(1 / std::log(std::max(m, 2))),
      locks_(std::make_unique<std::mutex[]>(kLockStripes)),
      visited_(std::make_unique<VisitedPool>()) {}

HnswGraph::~HnswGraph() = default;

std::unique_ptr<HnswGraph> HnswGraph::Copy(size_t capacity) const {
  auto copy = std::make_unique<HnswGraph>(dim_, l2_, max_links_, ef_construction_);
  copy->Reserve(capacity);
  copy->vectors_ = vectors_;
  copy->slots_ = slots_;
  copy->levels_ = levels_;
  copy->links0_ = links0_;
  for (size_t node = 0; node < size(); ++node) {
    const size_t words = levels_[node] * size_t(1 + max_links_);
    auto& links = copy->upper_links_.emplace_back();
    if (words == 0) continue;
    links = std::make_unique<uint32_t[]>(words);
    std::copy_n(upper_links_[node].get(), words, links.get());
  }
  copy->entry_ = entry_;
  copy->max_level_ = max_level_;
  return copy;
}

void HnswGraph::Reserve(size_t capacity) {
  vectors_.reserve(capacity * dim_);
  slots_.reserve(capacity);
  levels_.reserve(capacity);
  links0_.reserve(capacity * (1 + max_links0_));
  upper_links_.reserve(capacity);
}

// A node's level is drawn from its number (a hash of it as the uniform draw), so that it does
// not depend on the order in which threads link the nodes.
int HnswGraph::LevelFor(uint32_t node) const {
  uint64_t x = node + 0x9E3779B97F4A7C15ull;  // splitmix64
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  const double uniform = (static_cast<double>(x >> 11) + 0.5) / 9007199254740992.0;  // (0, 1)
  return std::min(static_cast<int>(-std::log(uniform) * level_scale_), 255);
}

uint32_t HnswGraph::Append(size_t n, const float* x, const uint32_t* slots) {
  const auto first = static_cast<uint32_t>(size());
  // Everything that can throw comes first, so that a failed Append leaves the graph as it was.
  std::vector<uint8_t> levels(n);
  std::vector<std::unique_ptr<uint32_t[]>> upper_links(n);
  for (uint32_t i = 0; i < n; ++i) {
    levels[i] = static_cast<uint8_t>(LevelFor(first + i));
    if (levels[i] > 0) upper_links[i] = std::make_unique<uint32_t[]>(levels[i] * (1 + max_links_));
  }
  if (slots_.capacity() < first + n) Reserve(std::max(first + n, 2 * slots_.capacity()));
  vectors_.insert(vectors_.end(), x, x + n * dim_);
  slots_.insert(slots_.end(), slots, slots + n);
  links0_.resize(links0_.size() + n * (1 + max_links0_), 0);
  levels_.insert(levels_.end(), levels.begin(), levels.end());
  std::move(upper_links.begin(), upper_links.end(), std::back_inserter(upper_links_));
  return first;
}

uint32_t HnswGraph::CopyLinks(uint32_t node, int level, LinkBuffer& out) const {
  std::lock_guard lock(LockOf(node));
  const uint32_t* list = Links(node, level);
  std::copy_n(list + 1, list[0], out.begin());
  return list[0];
}

HnswGraph::Candidate HnswGraph::Descend(const float* query, Candidate entry, int level) const {
  Candidate best = entry;
  LinkBuffer links;
  for (bool moved = true; moved;) {
    moved = false;
    const uint32_t count = CopyLinks(best.node, level, links);
    for (uint32_t i = 0; i < count; ++i) {
      const float d = Distance(query, Vector(links[i]));
      if (d < best.distance) {
        best = {d, links[i]};
        moved = true;
      }
    }
  }
  return best;
}

std::vector<HnswGraph::Candidate> HnswGraph::SearchLayer(const float* query, Candidate entry,
                                                         size_t ef, int level,
                                                         uint32_t linking) const {
  auto visited = visited_->Acquire(size());
  visited.TestAndSet(linking);
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> frontier;
  std::priority_queue<Candidate> nearest;  // farthest on top, at most ef
  visited.TestAndSet(entry.node);
  frontier.push(entry);
  nearest.push(entry);
  LinkBuffer links;
  while (!frontier.empty()) {
    const Candidate current = frontier.top();
    if (current.distance > nearest.top().distance && nearest.size() >= ef) break;
    frontier.pop();
    const uint32_t count = CopyLinks(current.node, level, links);
    for (uint32_t i = 0; i < count; ++i) {
      const uint32_t next = links[i];
      if (visited.TestAndSet(next)) continue;
      const float d = Distance(query, Vector(next));
      if (nearest.size() < ef || d < nearest.top().distance) {
        frontier.push({d, next});
        nearest.push({d, next});
        if (nearest.size() > ef) nearest.pop();
      }
    }
  }
  std::vector<Candidate> out(nearest.size());
  for (size_t i = out.size(); i-- > 0; nearest.pop()) out[i] = nearest.top();
  return out;
}

std::vector<HnswGraph::Candidate> HnswGraph::SelectNeighbors(
    const std::vector<Candidate>& candidates, size_t keep) const {
  if (candidates.size() <= keep) return candidates;
  std::vector<Candidate> kept;
  kept.reserve(keep);
  for (const Candidate& c : candidates) {
    if (kept.size() >= keep) break;
    const float* v = Vector(c.node);
    bool nearer_to_base = true;
    for (const Candidate& k : kept) {
      if (Distance(v, Vector(k.node)) < c.distance) {
        nearer_to_base = false;
        break;
      }
    }
    if (nearer_to_base) kept.push_back(c);
  }
  return kept;
}

void HnswGraph::Connect(uint32_t node, const std::vector<Candidate>& others, int level) {
  std::lock_guard lock(LockOf(node));
  uint32_t* list = Links(node, level);
  std::vector<uint32_t> links(list + 1, list + 1 + list[0]);
  for (const Candidate& other : others) {
    if (other.node != node && std::find(links.begin(), links.end(), other.node) == links.end()) {
      links.push_back(other.node);
    }
  }
  const auto limit = static_cast<size_t>(max_links(level));
  if (links.size() > limit) {
    const float* base = Vector(node);
    std::vector<Candidate> candidates;
    candidates.reserve(links.size());
    for (uint32_t link : links) candidates.push_back({Distance(base, Vector(link)), link});
    std::sort(candidates.begin(), candidates.end());
    const std::vector<Candidate> kept = SelectNeighbors(candidates, limit);
    links.clear();
    for (const Candidate& k : kept) links.push_back(k.node);
  }
  list[0] = links.size();
  std::copy(links.begin(), links.end(), list + 1);
}

void HnswGraph::Link(uint32_t node) {
  const int level = levels_[node];
  const float* query = Vector(node);
  std::unique_lock entry_lock(entry_mu_);
  if (entry_ < 0) {
    entry_ = node;
    max_level_ = level;
    return;
  }
  const auto entry = static_cast<uint32_t>(entry_);
  const int top = max_level_;
  // Only an insertion that raises the top level keeps the entry lock: the entry point it sets
  // must not be used before its links exist.
  if (level <= top) entry_lock.unlock();

  Candidate current{Distance(query, Vector(entry)), entry};
  for (int l = top; l > level; --l) current = Descend(query, current, l);
  // Every level's neighbours are found before any link is made: the node becomes reachable
  // only once all its own lists are written, so that no search, on this thread or another,
  // starts from a node whose lower lists are still empty.
  const int lowest_top = std::min(level, top);
  std::vector<std::vector<Candidate>> neighbors(lowest_top + 1);
  for (int l = lowest_top; l >= 0; --l) {
    const std::vector<Candidate> nearest = SearchLayer(query, current, ef_construction_, l, node);
    current = nearest.front();
    neighbors[l] = SelectNeighbors(nearest, max_links_);
  }
  for (int l = lowest_top; l >= 0; --l) Connect(node, neighbors[l], l);
  const std::vector<Candidate> self{{0, node}};
  for (int l = lowest_top; l >= 0; --l) {
    for (const Candidate& n : neighbors[l]) Connect(n.node, self, l);
  }
  if (level > top) {
    entry_ = node;
    max_level_ = level;
  }
}

bool HnswGraph::LinkAll(uint32_t first, int threads, const std::atomic<bool>* cancelled) {
  // The first nodes of a graph are linked on one thread (a graph of a few nodes is no place for
  // threads to meet), then every thread links the next node not yet taken.
  constexpr uint32_t kSerialPrefix = 64, kCancelCheck = 256;
  const auto end = static_cast<uint32_t>(size());
  uint32_t serial = std::clamp(kSerialPrefix, first, end);
  for (uint32_t node = first; node < serial; ++node) Link(node);
  std::atomic<uint32_t> next{serial};
  std::atomic<bool> stopped{false};
  // The first exception any thread meets stops them all and is thrown here.
  std::mutex failure_mu;
  std::exception_ptr failure;
  const auto fail = [&](std::exception_ptr e) {
    std::lock_guard lock(failure_mu);
    if (!failure) failure = e;
    stopped = true;
  };
  const auto link = [&] {
    try {
      for (uint32_t node; (node = next.fetch_add(1)) < end;) {
        if (node % kCancelCheck == 0 && cancelled && cancelled->load()) stopped = true;
        if (stopped) return;
        Link(node);
      }
    } catch (...) {
      fail(std::current_exception());
    }
  };
  std::vector<std::thread> workers;
  try {
    for (int t = 1; t < threads; ++t) workers.emplace_back(link);
  } catch (...) {
    fail(std::current_exception());  // no thread to be had: those started stop too
  }
  link();
  for (auto& w : workers) w.join();
  if (failure) std::rethrow_exception(failure);
  return !stopped;
}

std::vector<Neighbor> HnswGraph::Search(const float* query, size_t k, size_t ef,
                                        const Bitset* allowed) const {
  if (entry_ < 0 || k == 0) return {};
  ef = std::max(ef, k);
  const auto is_allowed = [&](uint32_t node) {
    return allowed == nullptr || allowed->Test(slots_[node]);
  };

  // Greedy descent through the upper layers, unfiltered: they only route.
  auto current = static_cast<uint32_t>(entry_);
  float current_distance = Distance(query, Vector(current));
  for (int level = max_level_; level > 0; --level) {
    for (bool moved = true; moved;) {
      moved = false;
      const uint32_t* list = Links(current, level);
      for (uint32_t i = 0; i < list[0]; ++i) {
        const float d = Distance(query, Vector(list[1 + i]));
        if (d < current_distance) {
          current_distance = d;
          current = list[1 + i];
          moved = true;
        }
      }
    }
  }

  // Beam search in the base layer. Every node routes; only allowed nodes enter the results, and
  // while fewer than ef are found the search keeps expanding (so a filter cannot starve it). The
  // unvisited links of a node are gathered and their vectors prefetched before any distance is
  // taken, so that the memory loads overlap.
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> frontier;
  std::priority_queue<Candidate> results;  // farthest on top, at most ef
  auto visited = visited_->Acquire(size());
  visited.TestAndSet(current);
  frontier.push({current_distance, current});
  if (is_allowed(current)) results.push({current_distance, current});
  float bound = results.empty() ? std::numeric_limits<float>::infinity() : results.top().distance;
  LinkBuffer fresh;
  while (!frontier.empty()) {
    const Candidate nearest = frontier.top();
    if (nearest.distance > bound && results.size() >= ef) break;
    frontier.pop();
    if (!frontier.empty()) __builtin_prefetch(Links(frontier.top().node, 0));
    const uint32_t* list = Links(nearest.node, 0);
    uint32_t count = 0;
    for (uint32_t i = 0; i < list[0]; ++i) {
      const uint32_t next = list[1 + i];
      if (visited.TestAndSet(next)) continue;
      fresh[count++] = next;
      __builtin_prefetch(Vector(next));
    }
    for (uint32_t i = 0; i < count; ++i) {
      const uint32_t next = fresh[i];
      const float d = Distance(query, Vector(next));
      if (results.size() < ef || d < bound) {
        frontier.push({d, next});
        if (is_allowed(next)) {
          results.push({d, next});
          if (results.size() > ef) results.pop();
          bound = results.top().distance;
        }
      }
    }
  }

  while (results.size() > k) results.pop();
  std::vector<Neighbor> out(results.size());
  for (size_t i = out.size(); i-- > 0; results.pop()) {
    out[i] = {results.top().distance, slots_[results.top().node]};
  }
  return out;
}

}  // namespace vecmesh::engine

namespace vecmesh::engine {
namespace {

constexpr std::string_view kMagic("vmhnsw1\n", 8);

template <typename T>
void Put(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}
template <typename T>
void PutArray(std::string& out, const T* values, size_t n) {
  out.append(reinterpret_cast<const char*>(values), n * sizeof(T));
}

// Reads an image front to back; a read past its end fails the reader, not the process.
class ImageReader {
 public:
  explicit ImageReader(std::string_view image) : rest_(image) {}
  template <typename T>
  bool Get(T* value) {
    return GetArray(value, 1);
  }
  template <typename T>
  bool GetArray(T* values, size_t n) {
    if (n > rest_.size() / sizeof(T)) return false;
    std::memcpy(values, rest_.data(), n * sizeof(T));
    rest_.remove_prefix(n * sizeof(T));
    return true;
  }
  bool Skip(size_t bytes) {
    if (bytes > rest_.size()) return false;
    rest_.remove_prefix(bytes);
    return true;
  }
  size_t left() const { return rest_.size(); }

 private:
  std::string_view rest_;
};

Status WrongNodeCount(uint64_t count, uint32_t slots) {
  return Status::InvalidArgument("it holds " + std::to_string(count) +
                                 " points, not one for each of the " + std::to_string(slots) +
                                 " slots");
}

}  // namespace

void HnswGraph::ResizeForLoad(size_t count) {
  slots_.resize(count);
  levels_.resize(count);
  links0_.resize(count * (1 + max_links0_));
  vectors_.resize(count * dim_);
  upper_links_.resize(count);
}

std::string HnswGraph::Save() const {
  std::string out(kMagic);
  Put(out, static_cast<uint32_t>(dim_));
  Put(out, static_cast<uint32_t>(max_links_));
  Put(out, static_cast<uint64_t>(size()));
  Put(out, static_cast<int32_t>(max_level_));
  Put(out, static_cast<int64_t>(entry_));
  PutArray(out, slots_.data(), slots_.size());
  PutArray(out, levels_.data(), levels_.size());
  PutArray(out, links0_.data(), links0_.size());
  PutArray(out, vectors_.data(), vectors_.size());
  for (size_t node = 0; node < size(); ++node) {
    PutArray(out, upper_links_[node].get(), levels_[node] * size_t(1 + max_links_));
  }
  return out;
}

StatusOr<std::unique_ptr<HnswGraph>> HnswGraph::Load(std::string_view image, size_t dim, bool l2,
                                                     int m, int ef_construction, uint32_t slots) {
  auto graph = std::make_unique<HnswGraph>(dim, l2, m, ef_construction);
  HnswGraph& g = *graph;
  ImageReader in(image);
  const auto truncated = [] { return Status::InvalidArgument("it ends early"); };
  uint64_t count = 0;
  if (image.substr(0, kMagic.size()) == kMagic) {
    in.Skip(kMagic.size());
    uint32_t image_dim, image_m;
    int32_t max_level;
    int64_t entry;
    if (!in.Get(&image_dim) || !in.Get(&image_m) || !in.Get(&count) || !in.Get(&max_level) ||
        !in.Get(&entry)) {
      return truncated();
    }
    if (image_dim != dim) {
      return Status::InvalidArgument("its vectors are of dimension " + std::to_string(image_dim) +
                                     ", not " + std::to_string(dim));
    }
    if (image_m != static_cast<uint32_t>(m)) {
      return Status::InvalidArgument("it was built with m " + std::to_string(image_m) + ", not " +
                                     std::to_string(m));
    }
    // Sizes are checked against the bytes there before anything is allocated for them.
    if (count != slots) return WrongNodeCount(count, slots);
    const size_t node_bytes = 4 + 1 + 4 * (1 + g.max_links0_) + 4 * dim;
    if (count > in.left() / node_bytes) return truncated();
    g.ResizeForLoad(count);
    if (!in.GetArray(g.slots_.data(), count) || !in.GetArray(g.levels_.data(), count) ||
        !in.GetArray(g.links0_.data(), g.links0_.size()) ||
        !in.GetArray(g.vectors_.data(), g.vectors_.size())) {
      return truncated();
    }
    for (size_t node = 0; node < count; ++node) {
      const size_t words = g.levels_[node] * size_t(1 + g.max_links_);
      if (words == 0) continue;
      g.upper_links_[node] = std::make_unique<uint32_t[]>(words);
      if (!in.GetArray(g.upper_links_[node].get(), words)) return truncated();
    }
    g.max_level_ = max_level;
    g.entry_ = entry;
  } else {
    // hnswlib 0.6.2's saveIndex: a header of size_t fields, then every node's base-layer block
    // (a count word, 2m links, the vector, a size_t label), then each node's upper lists.
    uint64_t offset_level0, max_elements, block, label_offset, data_offset, max_m, max_m0, image_m,
        image_ef;
    int32_t max_level;
    uint32_t entry;
    double mult;
    if (!in.Get(&offset_level0) || !in.Get(&max_elements) || !in.Get(&count) || !in.Get(&block) ||
        !in.Get(&label_offset) || !in.Get(&data_offset) || !in.Get(&max_level) || !in.Get(&entry) ||
        !in.Get(&max_m) || !in.Get(&max_m0) || !in.Get(&image_m) || !in.Get(&mult) ||
        !in.Get(&image_ef)) {
      return truncated();
    }
    const uint64_t links_bytes = 4 + 4 * max_m0;
    if (data_offset != links_bytes || label_offset != links_bytes + 4 * dim ||
        block != label_offset + 8) {
      return Status::InvalidArgument("its vectors are not of dimension " + std::to_string(dim));
    }
    if (image_m != static_cast<uint64_t>(m) || max_m != image_m || max_m0 != 2 * image_m) {
      return Status::InvalidArgument("it was built with m " + std::to_string(image_m) + ", not " +
                                     std::to_string(m));
    }
    if (count != slots) return WrongNodeCount(count, slots);
    if (count > in.left() / block) return truncated();
    g.ResizeForLoad(count);
    for (size_t node = 0; node < count; ++node) {
      uint32_t* links = g.links0_.data() + node * (1 + g.max_links0_);
      uint64_t label;
      if (!in.GetArray(links, 1 + g.max_links0_) ||
          !in.GetArray(g.vectors_.data() + node * dim, dim) || !in.Get(&label)) {
        return truncated();
      }
      links[0] &= 0xFFFF;  // the count is 16 bits; hnswlib keeps a deleted mark above it
      if (label >= slots) {
        return Status::InvalidArgument("it holds slot " + std::to_string(label) + " of only " +
                                       std::to_string(slots));
      }
      g.slots_[node] = static_cast<uint32_t>(label);
    }
    const uint64_t level_bytes = 4 * (1 + max_m);
    for (size_t node = 0; node < count; ++node) {
      uint32_t bytes;
      if (!in.Get(&bytes)) return truncated();
      if (bytes % level_bytes != 0 || bytes / level_bytes > 255) {
        return Status::InvalidArgument("node " + std::to_string(node) + "'s links are malformed");
      }
      g.levels_[node] = bytes / level_bytes;
      if (bytes == 0) continue;
      g.upper_links_[node] = std::make_unique<uint32_t[]>(bytes / 4);
      if (!in.GetArray(g.upper_links_[node].get(), bytes / 4)) return truncated();
      for (int level = 1; level <= g.levels_[node]; ++level) g.Links(node, level)[0] &= 0xFFFF;
    }
    g.max_level_ = max_level;
    g.entry_ = count == 0 ? -1 : int64_t{entry};
  }
  if (in.left() != 0) return Status::InvalidArgument("it has bytes past its end");

  // Every link, level and slot in range, so that a search can trust them.
  if (count == 0 ? g.entry_ != -1
                 : g.entry_ < 0 || static_cast<uint64_t>(g.entry_) >= count ||
                       g.levels_[g.entry_] != g.max_level_) {
    return Status::InvalidArgument("its entry point is out of range");
  }
  Bitset seen(slots);
  for (size_t node = 0; node < count; ++node) {
    if (g.slots_[node] >= slots) {
      return Status::InvalidArgument("it holds slot " + std::to_string(g.slots_[node]) +
                                     " of only " + std::to_string(slots));
    }
    if (seen.Test(g.slots_[node])) {
      return Status::InvalidArgument("it holds slot " + std::to_string(g.slots_[node]) + " twice");
    }
    seen.Set(g.slots_[node]);
    if (g.levels_[node] > g.max_level_) {
      return Status::InvalidArgument("node " + std::to_string(node) + " is above the top level");
    }
    for (int level = 0; level <= g.levels_[node]; ++level) {
      const uint32_t* list = g.Links(node, level);
      if (list[0] > static_cast<uint32_t>(g.max_links(level)) ||
          std::any_of(list + 1, list + 1 + list[0],
                      [&](uint32_t n) { return n >= count || g.levels_[n] < level; })) {
        return Status::InvalidArgument("node " + std::to_string(node) + "'s links are malformed");
      }
    }
  }
  return graph;
}

}  // namespace vecmesh::engine
