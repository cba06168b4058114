// An HNSW index built on four threads (run under ThreadSanitizer by `make test`): every link list
// and the entry point are read and written under their locks, and the graph finds the exact
// neighbours as often as one built on one thread.
#include <gtest/gtest.h>

#include <numeric>

#include "engine/index/ann_index.h"
#include "tests/support/synthetic.h"

namespace vecmesh::engine {
namespace {

constexpr size_t kDim = 16, kPoints = 4000, kQueries = 100, kK = 10;

double MeanRecall(const AnnIndex& index, const testing::Dataset& data) {
  double recall = 0;
  for (size_t q = 0; q < kQueries; ++q) {
    std::vector<uint64_t> found;
    for (const Neighbor& n : index.Search(data.Query(q), kK, nullptr, {.ef_search = 48})) {
      found.push_back(n.slot);
    }
    recall += testing::Recall(testing::ExactTopK(data, Metric::kL2, data.Query(q), kK), found, kK);
  }
  return recall / kQueries;
}

TEST(HnswBuildTest, AGraphBuiltOnFourThreadsFindsNeighboursAsOneBuiltOnOne) {
  const testing::Dataset data = testing::MakeClustered(kPoints, kQueries, kDim, 40, 5);
  CollectionConfig config{"c", kDim, Metric::kL2, {}};
  config.index.type = IndexType::kHnsw;
  config.index.hnsw_m = 8;
  config.index.ef_construction = 64;
  std::vector<uint32_t> slots(kPoints);
  std::iota(slots.begin(), slots.end(), 0);
  auto serial = BuildAnnIndex(config, kPoints, data.base.data(), slots.data(), {.threads = 1});
  auto parallel = BuildAnnIndex(config, kPoints, data.base.data(), slots.data(), {.threads = 4});
  ASSERT_TRUE(serial.ok() && parallel.ok());
  const double serial_recall = MeanRecall(**serial, data);
  EXPECT_GE(serial_recall, 0.95);
  EXPECT_GE(MeanRecall(**parallel, data), serial_recall - 0.01);
}

}  // namespace
}  // namespace vecmesh::engine
