// HnswGraph: a graph linked on several threads finds the exact neighbours as often as one linked
// on one thread, and keeps its nodes reachable; images round-trip, hnswlib 0.6.2's images
// (checkpoints written before the graph was ours) read back as the graph hnswlib searches, and
// a damaged image is refused, never trusted.
#include "engine/index/hnsw_graph.h"

#include <gtest/gtest.h>
#include <hnswlib/hnswlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <numeric>
#include <thread>

#include "tests/support/synthetic.h"

namespace vecmesh::engine {
namespace {

constexpr size_t kDim = 16, kPoints = 3000, kQueries = 100, kK = 10;
constexpr int kM = 8, kEfConstruction = 64, kEfSearch = 48;

const testing::Dataset& Data() {
  static const testing::Dataset data = testing::MakeClustered(kPoints, kQueries, kDim, 30, 11);
  return data;
}

std::vector<uint32_t> Slots() {
  std::vector<uint32_t> slots(kPoints);
  std::iota(slots.begin(), slots.end(), 0);
  return slots;
}

// Links every node on `threads` threads, each taking the next node not yet taken.
std::unique_ptr<HnswGraph> Build(int threads) {
  auto graph = std::make_unique<HnswGraph>(kDim, true, kM, kEfConstruction);
  graph->Append(kPoints, Data().base.data(), Slots().data());
  std::atomic<uint32_t> next{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (uint32_t node; (node = next.fetch_add(1)) < kPoints;) graph->Link(node);
    });
  }
  for (auto& w : workers) w.join();
  return graph;
}

std::vector<uint64_t> Ids(const std::vector<Neighbor>& found) {
  std::vector<uint64_t> ids;
  for (const Neighbor& n : found) ids.push_back(n.slot);
  return ids;
}

double MeanRecall(const HnswGraph& graph, const Bitset* allowed = nullptr,
                  const std::vector<bool>* allowed_points = nullptr) {
  double recall = 0;
  for (size_t q = 0; q < kQueries; ++q) {
    const float* query = Data().Query(q);
    const auto truth = testing::ExactTopK(Data(), Metric::kL2, query, kK, allowed_points);
    recall += testing::Recall(truth, Ids(graph.Search(query, kK, kEfSearch, allowed)), kK);
  }
  return recall / kQueries;
}

TEST(HnswGraphTest, GraphLinkedOnFourThreadsFindsNeighboursAsOneThreadsDoes) {
  const auto serial = Build(1);
  const auto parallel = Build(4);
  const double serial_recall = MeanRecall(*serial), parallel_recall = MeanRecall(*parallel);
  EXPECT_GE(serial_recall, 0.95);
  EXPECT_GE(parallel_recall, serial_recall - 0.01);
  // Nodes stay reachable: a search for a point's own vector finds it. (Pruning may in principle
  // cut a node off; one linked while its neighbours are being linked must not be cut off for
  // that, as it was when a node could start its search from one whose lists were still empty.)
  size_t lost_serial = 0, lost_parallel = 0;
  for (uint32_t node = 0; node < kPoints; ++node) {
    lost_serial += serial->Search(Data().Base(node), 1, kEfSearch, nullptr)[0].distance != 0;
    lost_parallel += parallel->Search(Data().Base(node), 1, kEfSearch, nullptr)[0].distance != 0;
  }
  EXPECT_EQ(lost_serial, 0u);
  EXPECT_LE(lost_parallel, kPoints / 1000);
}

TEST(HnswGraphTest, FilteredSearchReturnsOnlyAllowedSlotsNearestFirst) {
  const auto graph = Build(2);
  Bitset allowed(kPoints);
  std::vector<bool> allowed_points(kPoints);
  for (uint32_t i = 0; i < kPoints; i += 10) {
    allowed.Set(i);
    allowed_points[i] = true;
  }
  EXPECT_GE(MeanRecall(*graph, &allowed, &allowed_points), 0.95);
  const auto found = graph->Search(Data().Query(0), kK, kEfSearch, &allowed);
  ASSERT_EQ(found.size(), kK);
  for (size_t i = 0; i < found.size(); ++i) {
    EXPECT_EQ(found[i].slot % 10, 0u);
    if (i > 0) EXPECT_LE(found[i - 1].distance, found[i].distance);
  }
}

TEST(HnswGraphTest, SavedImageReadsBackAsTheSameGraph) {
  const auto graph = Build(2);
  const std::string image = graph->Save();
  auto loaded = HnswGraph::Load(image, kDim, true, kM, kEfConstruction, kPoints);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->Save(), image);
  for (size_t q = 0; q < kQueries; ++q) {
    EXPECT_EQ(Ids((*loaded)->Search(Data().Query(q), kK, kEfSearch, nullptr)),
              Ids(graph->Search(Data().Query(q), kK, kEfSearch, nullptr)));
  }
  // A loaded graph takes more nodes.
  const uint32_t extra = kPoints;
  (*loaded)->Link((*loaded)->Append(1, Data().Query(0), &extra));
  const auto found = (*loaded)->Search(Data().Query(0), 1, kEfSearch, nullptr);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].slot, extra);
}

TEST(HnswGraphTest, DamagedOrMismatchedImagesAreRefusedNamingWhy) {
  const std::string image = Build(1)->Save();
  auto refused = [&](std::string_view bytes, size_t dim, int m, uint32_t slots) {
    auto loaded = HnswGraph::Load(bytes, dim, true, m, kEfConstruction, slots);
    return loaded.ok() ? std::string() : loaded.status().message();
  };
  EXPECT_EQ(refused(image, kDim + 1, kM, kPoints), "its vectors are of dimension 16, not 17");
  EXPECT_EQ(refused(image, kDim, kM + 1, kPoints), "it was built with m 8, not 9");
  EXPECT_EQ(refused(image, kDim, kM, kPoints - 1),
            "it holds 3000 points, not one for each of the 2999 slots");
  EXPECT_EQ(refused(image, kDim, kM, kPoints + 1),
            "it holds 3000 points, not one for each of the 3001 slots");
  // The second node standing for the first's slot.
  std::string twice = image;
  const size_t slots_at = 8 + 4 + 4 + 8 + 4 + 8;
  std::memcpy(twice.data() + slots_at + 4, twice.data() + slots_at, 4);
  EXPECT_EQ(refused(twice, kDim, kM, kPoints), "it holds slot 0 twice");
  EXPECT_EQ(refused(image + "x", kDim, kM, kPoints), "it has bytes past its end");
  for (size_t cut = 0; cut < image.size(); cut += image.size() / 97 + 1) {
    EXPECT_NE(refused(std::string_view(image).substr(0, cut), kDim, kM, kPoints), "") << cut;
  }
  // A link past the last node (the first node's first base-layer link, after the header, the
  // slots and the levels).
  std::string bad_link = image;
  const size_t links0 = 8 + 4 + 4 + 8 + 4 + 8 + kPoints * 4 + kPoints;
  const uint32_t far = kPoints + 5;
  ASSERT_GT(bad_link[links0], 0);  // the first node has links
  std::memcpy(bad_link.data() + links0 + 4, &far, 4);
  EXPECT_EQ(refused(bad_link, kDim, kM, kPoints), "node 0's links are malformed");
}

// hnswlib writes its image to a path: an anonymous memory file gives it one.
std::string HnswlibImage(hnswlib::HierarchicalNSW<float>& index) {
  const int fd = ::memfd_create("hnswlib-image", MFD_CLOEXEC);
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  index.saveIndex(path);
  std::ifstream in(path, std::ios::binary);
  std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ::close(fd);
  return image;
}

TEST(HnswGraphTest, ReadsHnswlibImagesAsTheGraphHnswlibSearches) {
  hnswlib::L2Space space(kDim);
  hnswlib::HierarchicalNSW<float> index(&space, kPoints, kM, kEfConstruction);
  for (size_t i = 0; i < kPoints; ++i) index.addPoint(Data().Base(i), i);
  index.setEf(kEfSearch);
  auto loaded = HnswGraph::Load(HnswlibImage(index), kDim, true, kM, kEfConstruction, kPoints);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  size_t same = 0;
  for (size_t q = 0; q < kQueries; ++q) {
    auto top = index.searchKnn(Data().Query(q), kK);
    std::vector<uint64_t> expected(top.size());
    for (size_t i = top.size(); i-- > 0; top.pop()) expected[i] = top.top().second;
    same += Ids((*loaded)->Search(Data().Query(q), kK, kEfSearch, nullptr)) == expected;
  }
  EXPECT_GE(same, kQueries * 99 / 100);
  EXPECT_EQ(HnswGraph::Load(HnswlibImage(index), kDim, true, kM + 1, kEfConstruction, kPoints)
                .status()
                .message(),
            "it was built with m 8, not 9");
}

}  // namespace
}  // namespace vecmesh::engine
