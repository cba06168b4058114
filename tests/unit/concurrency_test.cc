// 4 threads search while 2 threads upsert and delete and an IVF collection trains; then the
// final state must equal the sequential expectation. Snapshot restores replace a collection
// while it is written, searched and checkpointed. 8 writers share the log's fsyncs through a
// collection's writer queue. Checkpoints race writes, creates and drops, and the crash image
// replays to the same state. Runs under ThreadSanitizer in `make test`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "engine/store/local_store.h"
#include "tests/support/synthetic.h"

namespace vecmesh::engine {
namespace {

constexpr size_t kDim = 16;

// An empty directory for a test's data: PREFIX and this process's id, under the temp dir.
std::filesystem::path FreshDir(const std::string& prefix) {
  const auto dir = std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

// A durable store's options with its data in `dir`, searches on one thread (see
// SearchesWritesAndTrainingMixSafely).
LocalStoreOptions DurableOptions(const std::filesystem::path& dir) {
  LocalStoreOptions options;
  options.search_threads = 1;
  options.data_dir = dir.string();
  return options;
}

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
  const auto dir = FreshDir("vecmesh_concurrency_");
  LocalStoreOptions options = DurableOptions(dir);
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

TEST(ConcurrencyTest, ConcurrentWritersShareFsyncsAndEveryWriteIsDurableInItsOrder) {
  // 8 writers of one durable collection (fsync=always), each with its own ids: batch-1 upserts,
  // deletes, merges of payloads and deletes by filter (which read the table, and so lead a group
  // of their own), while checkpoints are taken and readers count. Queued writers share fsyncs:
  // the log is asked for fewer appends than there are writes. Each writer's writes take effect in
  // its order, and the log replayed into a copy of the data directory (as a crash leaves it)
  // gives the same collection, down to a point every writer overwrites: the log holds the groups
  // in the order they were applied.
  const auto dir = FreshDir("vecmesh_sequencer_");
  const auto crash_copy = dir.string() + ".crash";
  std::filesystem::remove_all(crash_copy);
  LocalStoreOptions options = DurableOptions(dir);
  auto store = std::move(*LocalStore::Open(options));
  ASSERT_TRUE(store->CreateCollection({}, {"c", kDim, Metric::kL2, {}}).ok());
  const testing::Dataset data = testing::MakeClustered(1600, 1, kDim, 8, 5);
  constexpr int kWriters = 8;
  constexpr size_t kIdsPerWriter = 40;
  const uint64_t shared = kWriters * kIdsPerWriter;  // every writer overwrites it

  // Writer w: its ids are w * kIdsPerWriter + i. It upserts each with {"w": w, "round": 1},
  // deletes every third, merges {"round": 2} into the others, upserts them all again (the
  // deleted come back) with {"w": w, "round": 3, "drop": i % 4 == 0}, each followed by the shared
  // point with {"w": w, "i": i}, then deletes by filter those it marked to drop. Expected: ids
  // with i % 4 != 0, payload {"w", "round": 3, "drop": false}. Checkpoints stop once a writer
  // starts its third round, so that the log after the last one is long.
  std::atomic<int> in_third_round{0};
  auto writer = [&](int w) {
    auto id = [&](size_t i) { return uint64_t(w * kIdsPerWriter + i); };
    auto point = [&](uint64_t id, Payload payload) {
      const float* v = data.Base(id);
      return Point{id, {v, v + kDim}, std::move(payload)};
    };
    for (size_t i = 0; i < kIdsPerWriter; ++i) {
      ASSERT_TRUE(store->Upsert({}, "c", {point(id(i), {{"w", w}, {"round", 1}})}).ok());
    }
    for (size_t i = 0; i < kIdsPerWriter; ++i) {
      if (i % 3 == 0) {
        ASSERT_TRUE(store->Delete({}, "c", {id(i)}).ok());
      } else {
        ASSERT_TRUE(store->SetPayload({}, "c", {id(i)}, {{"round", 2}}, PayloadMode::kMerge).ok());
      }
    }
    ++in_third_round;
    for (size_t i = 0; i < kIdsPerWriter; ++i) {
      ASSERT_TRUE(
          store->Upsert({}, "c", {point(id(i), {{"w", w}, {"round", 3}, {"drop", i % 4 == 0}})})
              .ok());
      ASSERT_TRUE(store->Upsert({}, "c", {point(shared, {{"w", w}, {"i", i}})}).ok());
    }
    const Filter mine = *Filter::Parse({{"must",
                                         {{{"key", "w"}, {"match", {{"value", w}}}},
                                          {{"key", "drop"}, {"match", {{"value", true}}}}}}},
                                       FilterLimits{});
    auto deleted = store->DeleteByFilter({}, "c", mine);
    ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
    EXPECT_EQ(*deleted, kIdsPerWriter / 4);
  };

  std::atomic<bool> done{false};
  std::thread checkpointer([&] {
    while (!done && in_third_round == 0) ASSERT_TRUE(store->Checkpoint().ok());
  });
  std::thread reader([&] {
    while (!done) ASSERT_LE(*store->Count({}, "c", nullptr), kWriters * kIdsPerWriter + 1);
  });
  const uint64_t appends_before = store->LogLatency().count;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) writers.emplace_back(writer, w);
  for (auto& t : writers) t.join();
  const uint64_t appends = store->LogLatency().count - appends_before;
  done = true;
  checkpointer.join();
  reader.join();

  const size_t writes = kWriters * (4 * kIdsPerWriter + 1);
  EXPECT_LT(appends, writes) << "queued writers share the log's appends (and fsyncs)";
  auto expect_final_state = [&](LocalStore& s) {
    ASSERT_EQ(*s.Count({}, "c", nullptr), kWriters * (kIdsPerWriter - kIdsPerWriter / 4) + 1);
    for (int w = 0; w < kWriters; ++w) {
      for (size_t i = 0; i < kIdsPerWriter; ++i) {
        const uint64_t id = w * kIdsPerWriter + i;
        auto got = s.Get({}, "c", {id}, true, false);
        ASSERT_TRUE(got.ok());
        if (i % 4 == 0) {
          EXPECT_TRUE(got->empty()) << id;
        } else {
          ASSERT_EQ(got->size(), 1u) << id;
          EXPECT_EQ((*got)[0].payload, (Payload{{"w", w}, {"round", 3}, {"drop", false}})) << id;
        }
      }
    }
  };
  expect_final_state(*store);
  const Payload last_shared = *(*store->Get({}, "c", {shared}, true, false))[0].payload;
  // What a crash now would leave: the last checkpoint and the log after it.
  std::filesystem::copy(dir, crash_copy, std::filesystem::copy_options::recursive);
  store.reset();
  options.data_dir = crash_copy;
  auto replayed = LocalStore::Open(options);
  ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
  EXPECT_GT((*replayed)->recovery().records, size_t{kWriters * kIdsPerWriter})
      << "the third round comes back from the log";
  expect_final_state(**replayed);
  EXPECT_EQ(*(*(*replayed)->Get({}, "c", {shared}, true, false))[0].payload, last_shared);
  replayed->reset();
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(crash_copy);
}

TEST(ConcurrencyTest, CheckpointsRaceWritesCreatesAndDropsAndTheCrashImageReplays) {
  // Checkpoints run back to back while two writers upsert, merge payloads into and delete the
  // points of collections "a" and "b" (one each, batch 1), and a third thread creates collection
  // "t", writes to it and drops it, over and over. A checkpoint switches segments without
  // stopping the writers and exports the collections one at a time, each as of its own moment:
  // a copy of the data directory (as a crash leaves it: the last checkpoint, its images at
  // different places of its segment, and the log after it) opens to exactly what the writers
  // did, in each of three rounds.
  const auto dir = FreshDir("vecmesh_ckpt_race_");
  const auto crash_copy = dir.string() + ".crash";
  LocalStoreOptions options = DurableOptions(dir);
  auto store = std::move(*LocalStore::Open(options));
  const testing::Dataset data = testing::MakeClustered(400, 1, kDim, 8, 11);
  auto point = [&](uint64_t id, Payload payload) {
    const float* v = data.Base(id % 400);
    return Point{id, {v, v + kDim}, std::move(payload)};
  };
  for (const char* name : {"a", "b"}) {
    ASSERT_TRUE(store->CreateCollection({}, {name, kDim, Metric::kL2, {}}).ok());
  }
  // By collection, by id; each writer changes only its own collection's map.
  std::map<std::string, std::map<uint64_t, Payload>> expected{{"a", {}}, {"b", {}}};
  constexpr size_t kWrites = 150;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    auto writer = [&](const std::string& name) {
      std::map<uint64_t, Payload>& mine = expected.at(name);
      for (size_t i = 0; i < kWrites; ++i) {
        const uint64_t id = (round * kWrites + i) % 200;  // later rounds overwrite earlier ones
        Payload payload = {{"round", round}, {"i", i}};
        ASSERT_TRUE(store->Upsert({}, name, {point(id, payload)}).ok());
        mine[id] = payload;
        if (i % 3 == 2) {
          ASSERT_TRUE(
              store->SetPayload({}, name, {id}, {{"merged", true}}, PayloadMode::kMerge).ok());
          mine[id]["merged"] = true;
        }
        if (i % 5 == 4) {
          const uint64_t doomed = (round * kWrites + i - 2) % 200;
          ASSERT_TRUE(store->Delete({}, name, {doomed}).ok());
          mine.erase(doomed);
        }
      }
    };
    std::atomic<int> writing{3};
    std::thread checkpointer([&] {
      while (writing > 0) ASSERT_TRUE(store->Checkpoint().ok());
    });
    auto churn = [&] {  // "t" is left with its sixth incarnation
      for (int k = 0; k < 6; ++k) {
        ASSERT_TRUE(store->CreateCollection({}, {"t", kDim, Metric::kL2, {}}).ok());
        for (uint64_t id = 0; id < 5; ++id) {
          ASSERT_TRUE(store->Upsert({}, "t", {point(id, {{"round", round}, {"k", k}})}).ok());
        }
        if (k < 5) ASSERT_TRUE(store->DropCollection({}, "t").ok());
      }
    };
    std::thread creator([&] {
      churn();
      --writing;
    });
    std::thread writer_a([&] {
      writer("a");
      --writing;
    });
    std::thread writer_b([&] {
      writer("b");
      --writing;
    });
    writer_a.join();
    writer_b.join();
    creator.join();
    checkpointer.join();
    auto expect_state = [&](LocalStore& s) {
      for (const auto& [name, points] : expected) {
        ASSERT_EQ(*s.Count({}, name, nullptr), points.size()) << name;
        for (const auto& [id, payload] : points) {
          auto got = s.Get({}, name, {id}, true, false);
          ASSERT_TRUE(got.ok() && got->size() == 1) << name << " " << id;
          EXPECT_EQ(*(*got)[0].payload, payload) << name << " " << id;
        }
      }
      ASSERT_EQ(*s.Count({}, "t", nullptr), 5u);
      EXPECT_EQ(*(*s.Get({}, "t", {uint64_t{4}}, true, false))[0].payload,
                (Payload{{"round", round}, {"k", 5}}));
    };
    expect_state(*store);
    std::filesystem::remove_all(crash_copy);
    std::filesystem::copy(dir, crash_copy, std::filesystem::copy_options::recursive);
    LocalStoreOptions copy_options = options;
    copy_options.data_dir = crash_copy;
    auto replayed = LocalStore::Open(copy_options);
    ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
    expect_state(**replayed);
    replayed->reset();
    ASSERT_TRUE(store->DropCollection({}, "t").ok());
  }
  store.reset();
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(crash_copy);
}

}  // namespace
}  // namespace vecmesh::engine
