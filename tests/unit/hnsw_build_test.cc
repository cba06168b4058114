// An HNSW index built, and grown, on four threads (run under ThreadSanitizer by `make test`):
// every link list and the entry point are read and written under their locks, the graph finds
// the exact neighbours as often as one built on one thread, and a grown copy is made while the
// original answers searches.
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <thread>

#include "engine/index/ann_index.h"
#include "tests/support/synthetic.h"

namespace vecmesh::engine {
namespace {

constexpr size_t kDim = 16, kPoints = 4000, kQueries = 100, kK = 10;

const testing::Dataset& Data() {
  static const testing::Dataset data = testing::MakeClustered(kPoints, kQueries, kDim, 40, 5);
  return data;
}

CollectionConfig Config() {
  CollectionConfig config{"c", kDim, Metric::kL2, {}};
  config.index.type = IndexType::kHnsw;
  config.index.hnsw_m = 8;
  config.index.ef_construction = 64;
  return config;
}

std::vector<uint32_t> Slots(uint32_t from, uint32_t to) {
  std::vector<uint32_t> slots(to - from);
  std::iota(slots.begin(), slots.end(), from);
  return slots;
}

// Recall@k over the queries, against exact search among the first `points` points.
double MeanRecall(const AnnIndex& index, size_t points = kPoints) {
  std::vector<bool> held(kPoints);
  std::fill_n(held.begin(), points, true);
  double recall = 0;
  for (size_t q = 0; q < kQueries; ++q) {
    std::vector<uint64_t> found;
    for (const Neighbor& n : index.Search(Data().Query(q), kK, nullptr, {.ef_search = 48})) {
      found.push_back(n.slot);
    }
    const float* query = Data().Query(q);
    recall += testing::Recall(testing::ExactTopK(Data(), Metric::kL2, query, kK, &held), found, kK);
  }
  return recall / kQueries;
}

TEST(HnswBuildTest, AGraphBuiltOnFourThreadsFindsNeighboursAsOneBuiltOnOne) {
  const testing::Dataset& data = Data();
  const CollectionConfig config = Config();
  const std::vector<uint32_t> slots = Slots(0, kPoints);
  auto serial = BuildAnnIndex(config, kPoints, data.base.data(), slots.data(), {.threads = 1});
  auto parallel = BuildAnnIndex(config, kPoints, data.base.data(), slots.data(), {.threads = 4});
  ASSERT_TRUE(serial.ok() && parallel.ok());
  const double serial_recall = MeanRecall(**serial);
  EXPECT_GE(serial_recall, 0.95);
  EXPECT_GE(MeanRecall(**parallel), serial_recall - 0.01);
}

TEST(HnswBuildTest, AGrownCopyIsLinkedOnFourThreadsWhileTheOriginalAnswersSearches) {
  constexpr uint32_t kHalf = kPoints / 2;
  auto half =
      BuildAnnIndex(Config(), kHalf, Data().base.data(), Slots(0, kHalf).data(), {.threads = 2});
  ASSERT_TRUE(half.ok());
  const AnnIndex& original = **half;
  std::atomic<bool> grown_done{false};
  std::thread searches([&] {
    while (!grown_done) EXPECT_GE(MeanRecall(original, kHalf), 0.95);
  });
  auto grown = original.Grown(kPoints - kHalf, Data().Base(kHalf), Slots(kHalf, kPoints).data(),
                              {.threads = 4});
  grown_done = true;
  searches.join();
  ASSERT_TRUE(grown.ok() && *grown);
  EXPECT_GE(MeanRecall(**grown), 0.95);
  EXPECT_GE(MeanRecall(original, kHalf), 0.95) << "the original is unchanged";
}

}  // namespace
}  // namespace vecmesh::engine
