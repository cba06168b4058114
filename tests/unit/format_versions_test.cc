// Every on-disk format version stays readable: a data directory written by each one, kept in
// tests/fixtures/vN, opens with every configuration and point as that version left it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/storage/wal.h"
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
  auto vectors = store->GetCollection({}, "vectors");
  ASSERT_TRUE(vectors.ok());
  EXPECT_EQ(vectors->config.dimension, 3u);
  EXPECT_EQ(vectors->config.metric, Metric::kL2);
  auto got = *store->Get({}, "vectors", {uint64_t{1}, std::string("two"), uint64_t{3}, uint64_t{4}},
                         true, true);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(*got[0].vector, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(*got[0].payload, json({{"tag", "a"}, {"n", 1}}));
  EXPECT_EQ(*got[1].payload, json({{"tag", "b"}, {"nested", {{"x", true}}}, {"n", 2}}));
  EXPECT_EQ(*got[2].vector, (std::vector<float>{0.5f, -1, 2}));
  auto docs = store->GetCollection({}, "docs");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->config.index.type, IndexType::kHnsw);
  EXPECT_EQ(docs->config.index.hnsw_m, 8);
  auto snapshots = *store->ListSnapshots("docs");
  ASSERT_EQ(snapshots.size(), 1u);
  ASSERT_TRUE(store->RestoreSnapshot(*store->SnapshotPath("docs", "docs-v1.vms"), "docs2").ok());
  auto doc = *store->Get({}, "docs2", {uint64_t{10}}, true, true);
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
  auto graph = store->GetCollection({}, "graph");
  ASSERT_TRUE(graph.ok());
  EXPECT_EQ(graph->config.index.hnsw_m, 4);
  EXPECT_EQ(graph->points, 98u);
  EXPECT_EQ(graph->indexed_points, 100u) << "the saved index (a rebuild would hold 98 slots)";
  auto lists = store->GetCollection({}, "lists");
  ASSERT_TRUE(lists.ok());
  EXPECT_EQ(lists->config.metric, Metric::kIp);
  EXPECT_EQ(lists->points, 98u);
  EXPECT_EQ(lists->indexed_points, 100u);

  auto got = *store->Get({}, "graph", {uint64_t{5}, uint64_t{7}, uint64_t{42}}, true, true);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(*got[0].vector, (std::vector<float>{2, 4}));
  EXPECT_EQ(*got[0].payload, json({{"i", 42}}));
  SearchRequest near;
  near.vector = {3.1f, 6.9f};
  near.k = 1;
  EXPECT_EQ(testing::IdsOf(*store->Search({}, "graph", near)), std::vector<uint64_t>{73});
  near.vector = {6.9f, 0};
  EXPECT_EQ(testing::IdsOf(*store->Search({}, "graph", near)), std::vector<uint64_t>{6})
      << "7 is deleted";
  near.vector = {1, 1};
  EXPECT_EQ(testing::IdsOf(*store->Search({}, "lists", near)), std::vector<uint64_t>{99});
  EXPECT_TRUE(store->Get({}, "lists", {uint64_t{5}, uint64_t{7}}, false, false)->empty());
}

// tests/fixtures/v3 was written by format version 3, whose create records hold the backends:
// a checkpoint (segment 2) holding a flat, an hnsw, an ivf_flat and an ivf_sq8 collection of 100
// points each (point 5 deleted) with their indexes, the log before it, a log tail after it
// (point 7 deleted from each, and a collection "late" created with two points), and a snapshot
// of "graph" taken before the checkpoint; left by a process that died without a shutdown
// checkpoint. Point i is (i % 10, i / 10), payload {"i": i}. A throwaway program wrote it
// through engine::LocalStore (the service refuses remote backends it has not configured).
TEST_F(DurabilityTest, OpensDataWrittenByFormatVersion3) {
  fs::copy(fs::path(VECMESH_SOURCE_DIR) / "tests/fixtures/v3", dir_, fs::copy_options::recursive);
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string header(kWalHeaderBytes, '\0');
    in.read(header.data(), header.size());
    EXPECT_EQ(header, WalHeader(3)) << entry.path() << " is not of version 3";
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->recovery().records, 6u) << "the log tail after the checkpoint";

  IndexConfig flat, hnsw, ivf, sq8;
  hnsw.type = IndexType::kHnsw;
  hnsw.hnsw_m = 6;
  hnsw.ef_construction = 40;
  hnsw.ef_search = 32;
  ivf.type = IndexType::kIvfFlat;
  ivf.nlist = 2;
  ivf.nprobe = 2;
  sq8.type = IndexType::kIvfSq8;
  sq8.nlist = 2;
  sq8.nprobe = 1;
  const std::vector<CollectionConfig> configs = {
      {"flat", 2, Metric::kL2, flat, {"faiss"}},
      {"graph", 2, Metric::kL2, hnsw, {"faiss", "chroma"}},
      {"lists", 2, Metric::kIp, ivf, {"faiss"}},
      {"bytes", 2, Metric::kL2, sq8, {"qdrant", "faiss"}},
  };
  for (const CollectionConfig& config : configs) {
    SCOPED_TRACE(config.name);
    auto info = store->GetCollection({}, config.name);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->config, config);
    EXPECT_EQ(info->points, 98u);
    if (config.index.type != IndexType::kFlat) {
      EXPECT_EQ(info->indexed_points, 100u) << "the saved index (a rebuild would hold 98 slots)";
    }
    auto got = *store->Get({}, config.name, {uint64_t{5}, uint64_t{7}, uint64_t{42}}, true, true);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(*got[0].vector, (std::vector<float>{2, 4}));
    EXPECT_EQ(*got[0].payload, json({{"i", 42}}));
  }
  auto late = store->GetCollection({}, "late");
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->config,
            (CollectionConfig{"late", 3, Metric::kCosine, flat, {"faiss", "chroma"}}));
  auto a = *store->Get({}, "late", {std::string("a")}, true, true);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(*a[0].vector, (std::vector<float>{0.6f, 0, 0.8f})) << "stored normalised";

  SearchRequest near;
  near.vector = {3.1f, 6.9f};
  near.k = 1;
  EXPECT_EQ(testing::IdsOf(*store->Search({}, "graph", near)), std::vector<uint64_t>{73});
  near.vector = {6.9f, 0};
  EXPECT_EQ(testing::IdsOf(*store->Search({}, "graph", near)), std::vector<uint64_t>{6})
      << "7 is deleted";
  EXPECT_EQ(testing::IdsOf(*store->Search({}, "bytes", near)), std::vector<uint64_t>{6});

  // The snapshot keeps the backends too, and restores as it was taken: 7 is still there.
  ASSERT_TRUE(store->RestoreSnapshot(*store->SnapshotPath("graph", "graph-v3.vms"), "graph2").ok());
  auto restored = store->GetCollection({}, "graph2");
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->config.backends, (std::vector<std::string>{"faiss", "chroma"}));
  EXPECT_EQ(restored->points, 99u);
}

// tests/fixtures/v4 was written by format version 4, which logs a snapshot restore as one
// record naming a file in restores/. Collection "docs" (hnsw m 6, ef_construction 40,
// ef_search 32; backends faiss and chroma) held points 0..99 when snapshot docs-v4.vms was
// taken, then lost 0..49 and gained 100..119; the snapshot was restored over it (segment 1,
// restores/restore-00000001-1.vms) and point 200 written. A checkpoint (segment 2) followed;
// then the snapshot was restored as "copy" (restore-00000002-2.vms), point 7 deleted from copy
// and point 300 written to docs, and the process died without a shutdown checkpoint. Point i is
// (i % 10, i / 10), payload {"i": i}. A throwaway program wrote it through engine::LocalStore.
// Log segments carry version 4; checkpoints and snapshots are still written as version 3.
TEST_F(DurabilityTest, OpensDataWrittenByFormatVersion4) {
  fs::copy(fs::path(VECMESH_SOURCE_DIR) / "tests/fixtures/v4", dir_, fs::copy_options::recursive);
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string header(kWalHeaderBytes, '\0');
    in.read(header.data(), header.size());
    const bool log = entry.path().extension() == ".log";
    EXPECT_EQ(header, WalHeader(log ? 4 : 3)) << entry.path();
  }
  IndexConfig hnsw;
  hnsw.type = IndexType::kHnsw;
  hnsw.hnsw_m = 6;
  hnsw.ef_construction = 40;
  hnsw.ef_search = 32;
  const CollectionConfig docs{"docs", 2, Metric::kL2, hnsw, {"faiss", "chroma"}};
  auto expect_state = [&](const LocalStore& store) {
    auto info = store.GetCollection({}, "docs");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->config, docs);
    EXPECT_EQ(info->points, 102u) << "the snapshot's 100, then 200 and 300";
    auto got = *store.Get({}, "docs", {uint64_t{0}, uint64_t{42}, uint64_t{110}, uint64_t{300}},
                          true, true);
    ASSERT_EQ(got.size(), 3u) << "110 was not in the snapshot";
    EXPECT_EQ(*got[0].payload, json({{"i", 0}}));
    EXPECT_EQ(*got[1].vector, (std::vector<float>{2, 4}));
    EXPECT_EQ(got[2].id, PointId(uint64_t{300}));

    auto copy = store.GetCollection({}, "copy");
    ASSERT_TRUE(copy.ok());
    EXPECT_EQ(copy->config, (CollectionConfig{"copy", 2, Metric::kL2, hnsw, {"faiss", "chroma"}}));
    EXPECT_EQ(copy->points, 99u);
    EXPECT_TRUE(store.Get({}, "copy", {uint64_t{7}}, false, false)->empty());
    SearchRequest near;
    near.vector = {3.1f, 6.9f};
    near.k = 1;
    EXPECT_EQ(testing::IdsOf(*store.Search({}, "copy", near)), std::vector<uint64_t>{73});
  };
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->recovery().records, 3u) << "the log tail after the checkpoint";
    expect_state(*store);
  }
  // Without the checkpoint, the whole log from segment 1 gives the same state: the restore
  // record of segment 1 is replayed from its file, kept for as long as that segment is.
  fs::remove_all(dir_);
  fs::copy(fs::path(VECMESH_SOURCE_DIR) / "tests/fixtures/v4", dir_, fs::copy_options::recursive);
  fs::remove(dir_ / "checkpoint-00000002.vmc");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->recovery().records, 9u) << "both segments";
  expect_state(*store);
}

// tests/fixtures/v5 was written by format version 5: a flat collection written by jobs (an
// upsert and a delete before a checkpoint, which saved the jobs, then a payload update after it)
// and by a write of no job, left by a process that died without a shutdown checkpoint. Every job
// is remembered, from the checkpoint and from the log alike.
TEST_F(DurabilityTest, OpensDataWrittenByFormatVersion5) {
  const fs::path fixture = fs::path(VECMESH_SOURCE_DIR) / "tests/fixtures/v5";
  fs::copy(fixture, dir_, fs::copy_options::recursive);
  for (const auto& entry : fs::directory_iterator(dir_)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string header(kWalHeaderBytes, '\0');
    in.read(header.data(), header.size());
    EXPECT_EQ(header, WalHeader(5)) << entry.path() << ": a log, or a checkpoint that holds jobs";
  }
  auto expect_state = [&](LocalStore& store) {
    EXPECT_EQ(store.Count({}, "docs", nullptr).value(), 10u) << "1..9 and 100";
    auto got = *store.Get({}, "docs", {uint64_t{0}, uint64_t{5}}, true, true);
    ASSERT_EQ(got.size(), 1u) << "0 was deleted";
    EXPECT_EQ(*got[0].payload, json({{"i", 5}, {"tag", "c"}}));
    EXPECT_EQ(*got[0].vector, (std::vector<float>{5, 10}));
    for (const char* job : {"job-a", "job-b", "job-c"}) {
      CallOptions again;
      again.job_id = job;
      EXPECT_EQ(store.Delete(again, "docs", {uint64_t{5}}).status().code(),
                StatusCode::kAlreadyExists)
          << job;
    }
  };
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->recovery().records, 2u) << "the log tail after the checkpoint";
    expect_state(*store);
  }
  // Without the checkpoint, the whole log gives the same state and the same jobs.
  fs::remove_all(dir_);
  fs::copy(fixture, dir_, fs::copy_options::recursive);
  fs::remove(dir_ / "checkpoint-00000002.vmc");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  expect_state(*store);
}

// tests/fixtures/v6 was written by format version 6, whose checkpoints export the collections one
// at a time while writers go on: flat collections "docs" (points 0..9, vector (i, 2i), payload
// {"i": i}) and "other" (point 1), a checkpoint (segment 2), then in segment 2 docs' point 10,
// docs' point 11, the delete of docs' 0 and other's point 2, left by a process that died without
// a shutdown checkpoint. The checkpoint's image of docs holds point 10 as if its export had run
// just after that write, with an applied-through record at that write's end; its payload there
// was edited to {"i": 10, "tag": "image"} (the log says "logged"), so that the test can tell the
// record skipped from the record replayed.
TEST_F(DurabilityTest, OpensDataWrittenByFormatVersion6) {
  const fs::path fixture = fs::path(VECMESH_SOURCE_DIR) / "tests/fixtures/v6";
  fs::copy(fixture, dir_, fs::copy_options::recursive);
  for (const auto& entry : fs::directory_iterator(dir_)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string header(kWalHeaderBytes, '\0');
    in.read(header.data(), header.size());
    EXPECT_EQ(header, WalHeader(6)) << entry.path();
  }
  auto expect_state = [&](LocalStore& store, const std::string& tag_of_10) {
    EXPECT_EQ(store.Count({}, "docs", nullptr).value(), 11u) << "1..11";
    EXPECT_TRUE(store.Get({}, "docs", {uint64_t{0}}, false, false)->empty());
    auto got = *store.Get({}, "docs", {uint64_t{10}, uint64_t{11}}, true, true);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(*got[0].payload, json({{"i", 10}, {"tag", tag_of_10}}));
    EXPECT_EQ(*got[0].vector, (std::vector<float>{10, 20}));
    EXPECT_EQ(*got[1].payload, json({{"i", 11}}));
    EXPECT_EQ(store.Count({}, "other", nullptr).value(), 2u);
  };
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->recovery().records, 4u) << "segment 2, read whole";
    expect_state(*store, "image");
  }
  // Without the checkpoint, the whole log: point 10 as logged.
  fs::remove_all(dir_);
  fs::copy(fixture, dir_, fs::copy_options::recursive);
  fs::remove(dir_ / "checkpoint-00000002.vmc");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  expect_state(*store, "logged");
}

// Versions 1 and 2 knew no backends but this engine: their collections are on faiss alone.
TEST_F(DurabilityTest, DataOfFormatVersions1And2IsOnTheFaissBackend) {
  for (const char* version : {"v1", "v2"}) {
    SCOPED_TRACE(version);
    fs::remove_all(dir_);
    fs::copy(fs::path(VECMESH_SOURCE_DIR) / "tests/fixtures" / version, dir_,
             fs::copy_options::recursive);
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    const std::vector<CollectionInfo> collections = store->ListCollections({}).value();
    EXPECT_EQ(collections.size(), 2u);
    for (const CollectionInfo& info : collections) {
      EXPECT_EQ(info.config.backends, std::vector<std::string>{"faiss"}) << info.config.name;
    }
  }
}

}  // namespace
}  // namespace vecmesh::engine
