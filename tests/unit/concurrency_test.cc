// 4 threads search while 2 threads upsert and delete and an IVF collection trains; then the
// final state must equal the sequential expectation. And snapshot restores replace a collection
// while it is written, searched and checkpointed. Runs under ThreadSanitizer in `make test`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "engine/store/local_store.h"
#include "tests/support/synthetic.h"

namespace vecmesh::engine {
namespace {

constexpr size_t kDim = 16;

TEST(ConcurrencyTest, SearchesWritesAndTrainingMixSafely) {
  // One OpenMP thread per search batch: the concurrency under test is between requests, and
  // libgomp's barriers are invisible to ThreadSanitizer (libgomp is not instrumented), so its
  // worker threads would make every batch look racy. Batch fan-out is covered by the unit tests.
  LocalStoreOptions options;
  options.search_threads = 1;
  LocalStore store(options);
  IndexConfig ivf;
  ivf.type = IndexType::kIvfFlat;
  ivf.nlist = 16;  // trains at 624 points, while the writers are still going
  ivf.nprobe = 4;
  IndexConfig hnsw;
  hnsw.type = IndexType::kHnsw;
  ASSERT_TRUE(store.CreateCollection({}, {"ivf", kDim, Metric::kL2, ivf}).ok());
  ASSERT_TRUE(store.CreateCollection({}, {"hnsw", kDim, Metric::kCosine, hnsw}).ok());
  const testing::Dataset data = testing::MakeClustered(4000, 50, kDim, 20, 7);

  // Writer w owns ids with id % 2 == w: it upserts them in batches, then deletes those with
  // id % 3 == 0 and rewrites those with id % 5 == 0 with payload {"v": 2}.
  auto writer = [&](int w, const std::string& collection) {
    for (size_t begin = 0; begin < 4000; begin += 200) {
      std::vector<Point> batch;
      for (size_t i = begin; i < begin + 200; ++i) {
        if (i % 2 != size_t(w)) continue;
        batch.push_back({uint64_t{i}, {data.Base(i), data.Base(i) + kDim}, {{"v", 1}}});
      }
      ASSERT_TRUE(store.Upsert({}, collection, batch).ok());
    }
    std::vector<PointId> doomed;
    std::vector<Point> rewrites;
    for (size_t i = w; i < 4000; i += 2) {
      if (i % 3 == 0) {
        doomed.push_back(uint64_t{i});
      } else if (i % 5 == 0) {
        rewrites.push_back({uint64_t{i}, {data.Base(i), data.Base(i) + kDim}, {{"v", 2}}});
      }
    }
    ASSERT_TRUE(store.Delete({}, collection, doomed).ok());
    ASSERT_TRUE(store.Upsert({}, collection, rewrites).ok());
  };

  std::atomic<bool> done{false};
  std::atomic<size_t> searches{0};
  auto searcher = [&](int s) {
    const std::string collection = s % 2 ? "ivf" : "hnsw";
    for (size_t i = 0; !done; ++i) {
      std::vector<SearchRequest> requests(s < 2 ? 1 : 8);
      for (auto& r : requests) {
        r.vector.assign(data.Query(i % 50), data.Query(i % 50) + kDim);
        r.k = 10;
        if (i % 3 == 0)
          r.filter = *Filter::Parse({{"must", {{{"key", "v"}, {"match", {{"value", 1}}}}}}}, {});
      }
      auto results = store.SearchBatch({}, collection, requests);
      ASSERT_TRUE(results.ok()) << results.status().ToString();
      for (const auto& r : *results) {
        for (const auto& p : r) {
          // Never a torn point: ids are ours, payloads are whole.
          ASSERT_LT(std::get<uint64_t>(p.id), 4000u);
          ASSERT_TRUE(p.payload->contains("v"));
        }
      }
      ++searches;
      if (i % 7 == 0) {
        ASSERT_TRUE(store.Count({}, collection, nullptr).ok());
      }
    }
  };

  std::vector<std::thread> searchers;
  for (int s = 0; s < 4; ++s) searchers.emplace_back(searcher, s);
  std::thread w0([&] {
    writer(0, "ivf");
    writer(0, "hnsw");
  });
  std::thread w1([&] {
    writer(1, "ivf");
    writer(1, "hnsw");
  });
  w0.join();
  w1.join();
  ASSERT_TRUE(testing::WaitUntilIndexed(store, "ivf"));
  ASSERT_TRUE(testing::WaitUntilIndexed(store, "hnsw"));
  done = true;
  for (auto& t : searchers) t.join();
  EXPECT_GT(searches.load(), 0u);

  // The sequential expectation.
  for (const std::string collection : {"ivf", "hnsw"}) {
    SCOPED_TRACE(collection);
    EXPECT_GT(store.GetCollection({}, collection)->indexed_points, 0u) << "the IVF index trained";
    std::vector<PointId> all;
    for (uint64_t i = 0; i < 4000; ++i) all.push_back(i);
    auto got = store.Get({}, collection, all, true, true);
    ASSERT_TRUE(got.ok());
    size_t expected = 0;
    for (uint64_t i = 0; i < 4000; ++i) expected += i % 3 != 0;
    ASSERT_EQ(got->size(), expected);
    EXPECT_EQ(*store.Count({}, collection, nullptr), expected);
    for (const Record& r : *got) {
      uint64_t id = std::get<uint64_t>(r.id);
      EXPECT_NE(id % 3, 0u);
      EXPECT_EQ((*r.payload)["v"], id % 5 == 0 ? 2 : 1) << id;
    }
    // Every live point is found by an exact search for its own vector.
    for (uint64_t id : {1u, 2u, 10u, 3997u}) {
      SearchRequest q;
      q.vector.assign(data.Base(id), data.Base(id) + kDim);
      q.k = 1;
      auto r = store.Search({}, collection, q);
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(r->size(), 1u);
      EXPECT_EQ((*r)[0].id, PointId(id));
    }
  }
}

// A collection is restored from a snapshot, again and again, while one thread writes to it,
// two search it and one takes checkpoints: writes succeed or are refused as retryable, searches
// always answer from one whole collection, and the store ends with the snapshot's points and
// the writes that followed the last restore.
TEST(ConcurrencyTest, RestoresRaceWritesSearchesAndCheckpointsSafely) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("vecmesh_concurrency_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  LocalStoreOptions options;
  options.search_threads = 1;  // see SearchesWritesAndTrainingMixSafely
  options.data_dir = dir.string();
  auto store = std::move(*LocalStore::Open(options));
  const testing::Dataset data = testing::MakeClustered(600, 10, kDim, 5, 3);
  ASSERT_TRUE(store->CreateCollection({}, {"c", kDim, Metric::kL2, {}}).ok());
  ASSERT_TRUE(store->Upsert({}, "c", testing::MakePoints(data, 0, 500)).ok());
  auto snapshot = store->CreateSnapshot("c");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  const std::string path = *store->SnapshotPath("c", snapshot->name);

  std::atomic<bool> done{false};
  std::atomic<size_t> refused{0};
  std::thread writer([&] {
    for (size_t i = 0; !done; ++i) {
      const size_t id = 500 + i % 100;
      Status s = store->Upsert({}, "c", testing::MakePoints(data, id, id + 1)).status();
      if (s.code() == StatusCode::kUnavailable) ++refused;
      ASSERT_TRUE(s.ok() || s.code() == StatusCode::kUnavailable) << s.ToString();
    }
  });
  std::vector<std::thread> searchers;
  for (int t = 0; t < 2; ++t) {
    searchers.emplace_back([&, t] {
      for (size_t i = t; !done; ++i) {
        SearchRequest q;
        q.vector.assign(data.Query(i % 10), data.Query(i % 10) + kDim);
        q.k = 5;
        auto found = store->Search({}, "c", q);
        ASSERT_TRUE(found.ok()) << found.status().ToString();
        ASSERT_EQ(found->size(), 5u);
        auto counted = store->Count({}, "c", nullptr);
        ASSERT_TRUE(counted.ok() && *counted >= 500 && *counted <= 600);
      }
    });
  }
  std::thread checkpointer([&] {
    while (!done) ASSERT_TRUE(store->Checkpoint().ok());
  });
  for (int r = 0; r < 10; ++r) ASSERT_TRUE(store->RestoreSnapshot(path, "c").ok());
  done = true;
  writer.join();
  for (auto& t : searchers) t.join();
  checkpointer.join();

  // The writes after the last restore are on top of the snapshot's 500 points.
  const size_t count = *store->Count({}, "c", nullptr);
  EXPECT_GE(count, 500u);
  EXPECT_LE(count, 600u);
  EXPECT_EQ(store->Get({}, "c", {uint64_t{0}, uint64_t{499}}, false, false)->size(), 2u);
  store.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vecmesh::engine
