// Every on-disk format version stays readable: a data directory written by each one, kept in
// tests/fixtures/vN, opens with every configuration and point as that version left it.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/synthetic.h"
#include "tests/unit/durability_fixture.h"

namespace vecmesh::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// tests/fixtures/v1 was written by format version 1 (log, checkpoint and snapshot files): a
// checkpoint (segment 2), the log before it (kept as the fallback), and a log tail after it,
// left by a process that died without a shutdown checkpoint. Every later version must still
// read it.
TEST_F(DurabilityTest, OpensDataWrittenByFormatVersion1) {
  fs::copy(fs::path(VECMESH_SOURCE_DIR) / "tests/fixtures/v1", dir_, fs::copy_options::recursive);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->recovery().records, 3u) << "the log tail after the checkpoint";
  auto vectors = store->GetCollection("vectors");
  ASSERT_TRUE(vectors.ok());
  EXPECT_EQ(vectors->config.dimension, 3u);
  EXPECT_EQ(vectors->config.metric, Metric::kL2);
  auto got = *store->Get("vectors", {uint64_t{1}, std::string("two"), uint64_t{3}, uint64_t{4}},
                         true, true);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(*got[0].vector, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(*got[0].payload, json({{"tag", "a"}, {"n", 1}}));
  EXPECT_EQ(*got[1].payload, json({{"tag", "b"}, {"nested", {{"x", true}}}, {"n", 2}}));
  EXPECT_EQ(*got[2].vector, (std::vector<float>{0.5f, -1, 2}));
  auto docs = store->GetCollection("docs");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->config.index.type, IndexType::kHnsw);
  EXPECT_EQ(docs->config.index.hnsw_m, 8);
  auto snapshots = *store->ListSnapshots("docs");
  ASSERT_EQ(snapshots.size(), 1u);
  ASSERT_TRUE(store->RestoreSnapshot(*store->SnapshotPath("docs", "docs-v1.vms"), "docs2").ok());
  auto doc = *store->Get("docs2", {uint64_t{10}}, true, true);
  ASSERT_EQ(doc.size(), 1u);
  EXPECT_NEAR((*doc[0].vector)[0], 0.6f, 1e-6) << "stored normalised";
  EXPECT_EQ(*doc[0].payload, json({{"title", "ten"}}));
}

// tests/fixtures/v2 was written by format version 2, which saves indexes in checkpoints: a
// checkpoint (segment 2) holding an hnsw and an ivf_flat collection of 100 points each (point 5
// deleted) with their indexes, and a log tail after it (point 7 deleted from both), left by a
// process that died without a shutdown checkpoint. Point i is (i % 10, i / 10), payload {"i": i}.
TEST_F(DurabilityTest, OpensDataWrittenByFormatVersion2) {
  fs::copy(fs::path(VECMESH_SOURCE_DIR) / "tests/fixtures/v2", dir_, fs::copy_options::recursive);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->recovery().records, 2u) << "the log tail after the checkpoint";
  auto graph = store->GetCollection("graph");
  ASSERT_TRUE(graph.ok());
  EXPECT_EQ(graph->config.index.hnsw_m, 4);
  EXPECT_EQ(graph->points, 98u);
  EXPECT_EQ(graph->indexed_points, 100u) << "the saved index (a rebuild would hold 98 slots)";
  auto lists = store->GetCollection("lists");
  ASSERT_TRUE(lists.ok());
  EXPECT_EQ(lists->config.metric, Metric::kIp);
  EXPECT_EQ(lists->points, 98u);
  EXPECT_EQ(lists->indexed_points, 100u);

  auto got = *store->Get("graph", {uint64_t{5}, uint64_t{7}, uint64_t{42}}, true, true);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(*got[0].vector, (std::vector<float>{2, 4}));
  EXPECT_EQ(*got[0].payload, json({{"i", 42}}));
  SearchRequest near;
  near.vector = {3.1f, 6.9f};
  near.k = 1;
  EXPECT_EQ(testing::IdsOf(*store->Search("graph", near)), std::vector<uint64_t>{73});
  near.vector = {6.9f, 0};
  EXPECT_EQ(testing::IdsOf(*store->Search("graph", near)), std::vector<uint64_t>{6})
      << "7 is deleted";
  near.vector = {1, 1};
  EXPECT_EQ(testing::IdsOf(*store->Search("lists", near)), std::vector<uint64_t>{99});
  EXPECT_TRUE(store->Get("lists", {uint64_t{5}, uint64_t{7}}, false, false)->empty());
}

}  // namespace
}  // namespace vecmesh::engine
