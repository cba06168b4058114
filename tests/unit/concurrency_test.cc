// 4 threads search while 2 threads upsert and delete and an IVF collection trains; then the
// final state must equal the sequential expectation. Runs under ThreadSanitizer in `make test`.
#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace vecmesh::engine
