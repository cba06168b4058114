// Durability: everything acknowledged survives a restart, and a process killed with SIGKILL at
// random moments (20 times) loses no acknowledged write and invents nothing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "engine/index/gpu_index.h"
#include "engine/store/local_store.h"
#include "engine/storage/wal.h"
#include "engine/storage/write_ops.h"
#include "tests/support/synthetic.h"
#include "tests/unit/crash_protocol.h"
#include "tests/unit/durability_fixture.h"

namespace vecmesh::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST_F(DurabilityTest, ARestartRecoversEveryAcknowledgedWrite) {
  IndexConfig hnsw;
  hnsw.type = IndexType::kHnsw;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->CreateCollection({}, {"docs", 3, Metric::kCosine, hnsw}).ok());
    ASSERT_TRUE(store->CreateCollection({}, {"gone", 2, Metric::kL2, {}}).ok());
    ASSERT_TRUE(store->Upsert({}, "gone", {{uint64_t{1}, {1, 1}, {}}}).ok());
    ASSERT_TRUE(store->DropCollection({}, "gone").ok());
    ASSERT_TRUE(store->CreateCollection({}, {"gone", 4, Metric::kIp, {}}).ok());
    ASSERT_TRUE(store
                    ->Upsert({}, "docs",
                             {{uint64_t{1}, {1, 0, 0}, {{"a", 1}}},
                              {std::string("x"), {0, 2, 0}, {{"b", "t"}}},
                              {uint64_t{3}, {0, 0, 3}, {}}})
                    .ok());
    ASSERT_TRUE(store->Upsert({}, "docs", {{uint64_t{1}, {1, 1, 0}, {{"a", 2}}}}).ok());
    ASSERT_TRUE(store->Delete({}, "docs", {uint64_t{3}}).ok());
    ASSERT_TRUE(
        store->SetPayload({}, "docs", {std::string("x")}, {{"c", true}}, PayloadMode::kMerge).ok());
  }
  auto store = OpenStore();
  EXPECT_EQ(store->recovery().records, 0u) << "a clean shutdown leaves a checkpoint: no replay";
  EXPECT_TRUE(store->recovery().note.empty());
  auto gone = store->GetCollection({}, "gone");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->config.dimension, 4u) << "the drop and the re-create replayed in order";
  EXPECT_EQ(gone->points, 0u);
  auto docs = store->GetCollection({}, "docs");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->config.index, ResolveIndexDefaults(hnsw, 3));
  EXPECT_EQ(docs->points, 2u);
  auto got = *store->Get({}, "docs", {uint64_t{1}, std::string("x"), uint64_t{3}}, true, true);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(*got[0].payload, json({{"a", 2}}));
  EXPECT_NEAR((*got[0].vector)[0], std::sqrt(0.5f), 1e-6);
  EXPECT_EQ(*got[1].payload, json({{"b", "t"}, {"c", true}}));
  // And the recovered store keeps logging.
  ASSERT_TRUE(store->Upsert({}, "gone", {{uint64_t{9}, {1, 2, 3, 4}, {}}}).ok());
  store.reset();
  EXPECT_EQ(OpenStore()->GetCollection({}, "gone")->points, 1u);
}

TEST_F(DurabilityTest, CheckpointsTruncateTheLogAndALostCheckpointFallsBackToTheOneBefore) {
  auto write_and_crash = [&] {
    LocalStoreOptions options;
    options.data_dir = dir_.string();
    auto store = std::move(*LocalStore::Open(options));
    if (!store->CreateCollection({}, {"c", 2, Metric::kL2, {}}).ok()) _exit(1);
    for (uint64_t round = 0; round < 3; ++round) {
      std::vector<Point> points;
      for (uint64_t i = 0; i < 100; ++i) {
        points.push_back({round * 100 + i, {float(round), float(i)}, {{"round", round}}});
      }
      if (!store->Upsert({}, "c", points).ok()) _exit(2);
      if (round < 2 && !store->Checkpoint().ok()) _exit(3);
    }
    if (!store->Delete({}, "c", {uint64_t{0}}).ok()) _exit(4);
    _exit(0);  // a crash: no shutdown checkpoint
  };
  InCrashingChild(write_and_crash);
  // Two checkpoints were taken: the log kept is the one from the older on.
  EXPECT_TRUE(fs::exists(dir_ / "checkpoint-00000002.vmc"));
  EXPECT_TRUE(fs::exists(dir_ / "checkpoint-00000003.vmc"));
  EXPECT_FALSE(fs::exists(dir_ / "wal-00000001.log")) << "the log before the checkpoints is gone";
  const auto backup = dir_.string() + ".backup";
  fs::remove_all(backup);
  fs::copy(dir_, backup);

  auto expect_all = [&](LocalStore& store) {
    EXPECT_EQ(*store.Count({}, "c", nullptr), 299u);
    auto got = *store.Get({}, "c", {uint64_t{0}, uint64_t{150}, uint64_t{299}}, true, true);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(*got[0].vector, (std::vector<float>{1, 50}));
    EXPECT_EQ((*got[1].payload)["round"], 2);
  };
  {
    auto store = OpenStore();
    EXPECT_EQ(store->recovery().records, 2u) << "only what followed the last checkpoint";
    expect_all(*store);
  }

  // The newest checkpoint corrupt: the previous one and the log from it give the same state.
  fs::remove_all(dir_);
  fs::copy(backup, dir_);
  {
    std::fstream f(dir_ / "checkpoint-00000003.vmc",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x5a');
  }
  {
    auto store = OpenStore();
    EXPECT_NE(store->recovery().note.find("checkpoint-00000003.vmc is unusable"), std::string::npos)
        << store->recovery().note;
    expect_all(*store);
  }
  // The newest checkpoint missing: the same.
  fs::remove_all(dir_);
  fs::copy(backup, dir_);
  fs::remove(dir_ / "checkpoint-00000003.vmc");
  expect_all(*OpenStore());

  // Both checkpoints lost and the log before them gone: startup refuses, naming what is missing.
  fs::remove_all(dir_);
  fs::copy(backup, dir_);
  fs::remove(dir_ / "checkpoint-00000003.vmc");
  fs::remove(dir_ / "checkpoint-00000002.vmc");
  LocalStoreOptions options;
  options.data_dir = dir_.string();
  auto refused = LocalStore::Open(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("wal-00000002.log is gone"), std::string::npos)
      << refused.status().message();
  fs::remove_all(backup);
}

// ---- the crash test -----------------------------------------------------------------------

struct Op {
  uint64_t version;
  bool del;
};

TEST_F(DurabilityTest, SigkillAtRandomMomentsLosesNoAcknowledgedWrite) {
  const std::string journal = (dir_.string() + ".journal");
  fs::remove(journal);
  std::mt19937 rng(12345);
  for (uint64_t cycle = 1; cycle <= 20; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    // A fresh process (fork + exec): nothing of this one's threads or OpenMP pool in it.
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      const std::string epoch = std::to_string(cycle);
      ::execl(VECMESH_CRASH_WRITER, VECMESH_CRASH_WRITER, dir_.c_str(), journal.c_str(),
              epoch.c_str(), nullptr);
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited on its own with " << WEXITSTATUS(status);

    // For each id: the last acknowledged op, and any op tried after it (at most one in flight).
    std::map<uint64_t, Op> acked;
    std::map<uint64_t, std::vector<Op>> tried_after;
    std::ifstream in(journal);
    std::string tag, kind;
    uint64_t id, version;
    size_t acks = 0;
    while (in >> tag >> id >> version >> kind) {
      Op op{version, kind == "D"};
      if (tag == "A") {
        acked[id] = op;
        tried_after[id].clear();
        ++acks;
      } else {
        tried_after[id].push_back(op);
      }
    }
    ASSERT_GT(acks, cycle * 10) << "the writers barely ran before the kill";

    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    std::vector<PointId> all;
    for (uint64_t i = 0; i < testing::kCrashIds + 10; ++i) all.push_back(i);
    auto points = *store->Get({}, "c", all, true, true);
    std::map<uint64_t, const Record*> present;
    for (const Record& r : points) {
      uint64_t pid = std::get<uint64_t>(r.id);
      ASSERT_TRUE(present.emplace(pid, &r).second) << "duplicate id " << pid;
      ASSERT_LT(pid, testing::kCrashIds) << "an id that was never written";
    }
    for (uint64_t i = 0; i < testing::kCrashIds; ++i) {
      // The last acknowledged state (absent before any), or an attempt made after it.
      std::vector<Op> allowed = tried_after[i];
      allowed.push_back(acked.count(i) ? acked[i] : Op{0, /*del=*/true});
      auto matches = [&](const Op& op) {
        auto it = present.find(i);
        if (op.del) return it == present.end();
        return it != present.end() && *it->second->vector == testing::CrashVector(i, op.version) &&
               (*it->second->payload)["version"] == op.version;
      };
      const bool ok = std::any_of(allowed.begin(), allowed.end(), matches);
      if (!ok) {
        std::string held = "absent";
        if (auto it = present.find(i); it != present.end()) held = it->second->payload->dump();
        std::string expected;
        for (const Op& op : allowed) {
          expected += (op.del ? " delete@" : " upsert@") + std::to_string(op.version);
        }
        FAIL() << "id " << i << " holds " << held << ", not its last acknowledged write or a "
               << "later attempt:" << expected;
      }
    }
    EXPECT_EQ(*store->Count({}, "c", nullptr), present.size());
    // Search still finds the points.
    if (!present.empty()) {
      const Record& r = *present.begin()->second;
      SearchRequest q;
      q.vector = *r.vector;
      q.k = 1;
      auto found = store->Search({}, "c", q);
      ASSERT_TRUE(found.ok());
      ASSERT_EQ(found->size(), 1u);
      EXPECT_EQ((*found)[0].id, r.id);
    }
  }
  fs::remove(journal);
}

}  // namespace
}  // namespace vecmesh::engine

namespace vecmesh::engine {
namespace {

TEST_F(DurabilityTest, ASnapshotUnderConcurrentWritesIsOnePointInTimeAndRestores) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateCollection({}, {"src", 4, Metric::kCosine, {}}).ok());
  // One writer upserts ids 0, 1, 2, ... in order: a point-in-time copy holds exactly a prefix.
  std::atomic<uint64_t> acked{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint64_t i = 0; !stop; ++i) {
      ASSERT_TRUE(store->Upsert({}, "src", {{i, {float(i), 1, 2, 3}, {{"i", i}}}}).ok());
      acked = i + 1;
    }
  });
  while (acked < 50) std::this_thread::yield();
  const uint64_t before = acked;
  auto snapshot = store->CreateSnapshot("src");
  const uint64_t after = acked;
  while (acked < after + 20) std::this_thread::yield();
  stop = true;
  writer.join();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_GT(snapshot->size_bytes, 0u);
  EXPECT_EQ(*store->ListSnapshots("src"), std::vector<SnapshotInfo>{*snapshot});

  auto path = store->SnapshotPath("src", snapshot->name);
  ASSERT_TRUE(path.ok());
  ASSERT_TRUE(store->RestoreSnapshot(*path, "copy").ok());
  const uint64_t held = *store->Count({}, "copy", nullptr);
  EXPECT_GE(held, before);
  EXPECT_LE(held, after + 1);
  std::vector<PointId> ids;
  for (uint64_t i = 0; i < held + 20; ++i) ids.push_back(i);
  auto original = *store->Get({}, "src", ids, true, true);
  auto copy = *store->Get({}, "copy", ids, true, true);
  ASSERT_EQ(copy.size(), held) << "a prefix: no holes";
  for (size_t i = 0; i < held; ++i) {
    EXPECT_EQ(copy[i].id, PointId(uint64_t{i}));
    EXPECT_EQ(*copy[i].vector, *original[i].vector) << "exact vectors";
    EXPECT_EQ(*copy[i].payload, *original[i].payload);
  }
  EXPECT_EQ(store->GetCollection({}, "copy")->config.metric, Metric::kCosine);

  // Restoring over an existing collection replaces it; a bad file changes nothing.
  ASSERT_TRUE(store->Upsert({}, "copy", {{uint64_t{999'999}, {1, 1, 1, 1}, {}}}).ok());
  ASSERT_TRUE(store->RestoreSnapshot(*path, "copy").ok());
  EXPECT_EQ(*store->Count({}, "copy", nullptr), held);
  const std::string bad = (dir_ / "bad.vms").string();
  { std::ofstream(bad) << "not a snapshot"; }
  EXPECT_EQ(store->RestoreSnapshot(bad, "copy").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*store->Count({}, "copy", nullptr), held);
  EXPECT_EQ(store->SnapshotPath("src", "../../etc/passwd").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->SnapshotPath("src", "nope.vms").status().code(), StatusCode::kNotFound);

  // The restore is logged like any write: it survives a restart.
  store.reset();
  EXPECT_EQ(*OpenStore()->Count({}, "copy", nullptr), held);
}

TEST_F(DurabilityTest, ASnapshotRestoresFromTheBytesOfAnUpload) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateCollection({}, {"src", 2, Metric::kL2, {}}).ok());
  ASSERT_TRUE(
      store->Upsert({}, "src", {{uint64_t{1}, {1, 2}, {{"a", 1}}}, {std::string("x"), {3, 4}, {}}})
          .ok());
  auto snapshot = store->CreateSnapshot("src");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  std::ifstream in(*store->SnapshotPath("src", snapshot->name), std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};

  ASSERT_TRUE(store->RestoreSnapshotBytes(bytes, "copy").ok());
  auto copy = *store->Get({}, "copy", {uint64_t{1}, std::string("x")}, true, true);
  ASSERT_EQ(copy.size(), 2u);
  EXPECT_EQ(*copy[0].vector, (std::vector<float>{1, 2}));
  EXPECT_EQ(*copy[0].payload, json({{"a", 1}}));
  EXPECT_EQ(copy[1].id, PointId(std::string("x")));
  const fs::path uploads = dir_ / "snapshots" / "uploads";
  EXPECT_TRUE(fs::is_empty(uploads)) << "the upload's file is removed once restored";

  // Bytes that are not a whole snapshot change nothing, and the message calls them "the
  // upload": the caller never saw the file they were kept in.
  for (const std::string& bad :
       {std::string("not a snapshot"), bytes.substr(0, bytes.size() - 3)}) {
    Status s = store->RestoreSnapshotBytes(bad, "copy");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_TRUE(s.message().starts_with("the uploaded file is not a vecmesh snapshot: the upload "))
        << s.message();
    EXPECT_EQ(s.message().find(uploads.string()), std::string::npos) << s.message();
    EXPECT_EQ(*store->Count({}, "copy", nullptr), 2u);
    EXPECT_TRUE(fs::is_empty(uploads));
  }

  LocalStore in_memory;
  EXPECT_EQ(in_memory.RestoreSnapshotBytes(bytes, "copy").code(), StatusCode::kFailedPrecondition)
      << "an in-memory store keeps no files";
}

}  // namespace
}  // namespace vecmesh::engine

namespace vecmesh::engine {
namespace {

// A checkpoint saves each index with the slots it numbers (dead ones included): after a restart
// the index serves at once, without a rebuild, and answers exactly as before.
TEST_F(DurabilityTest, ACheckpointKeepsTheIndexes) {
  const testing::Dataset data = testing::MakeClustered(3000, 30, 16, 30, 11);
  IndexConfig hnsw;
  hnsw.type = IndexType::kHnsw;
  IndexConfig pq;
  pq.type = IndexType::kIvfPq;
  pq.nlist = 16;
  pq.pq_m = 4;
  pq.pq_nbits = 6;
  const std::vector<CollectionConfig> configs = {{"hnsw", 16, Metric::kL2, hnsw},
                                                 {"pq", 16, Metric::kIp, pq}};
  // Starved parameters, so that the answers are the index's own and not exact search's.
  SearchParams starved;
  starved.ef_search = 10;
  starved.nprobe = 1;
  auto search_all = [&](const LocalStore& store, const std::string& name) {
    std::vector<std::vector<uint64_t>> out;
    for (size_t q = 0; q < data.num_queries(); ++q) {
      SearchRequest request;
      request.vector.assign(data.Query(q), data.Query(q) + data.dim);
      request.k = 10;
      request.params = starved;
      out.push_back(testing::IdsOf(*store.Search({}, name, request)));
    }
    return out;
  };
  std::map<std::string, std::vector<std::vector<uint64_t>>> before;
  {
    auto store = OpenStore();
    for (const CollectionConfig& config : configs) {
      ASSERT_TRUE(store->CreateCollection({}, config).ok());
      ASSERT_TRUE(
          store->Upsert({}, config.name, testing::MakePoints(data, 0, data.num_base())).ok());
      ASSERT_TRUE(testing::WaitUntilIndexed(*store, config.name));
      std::vector<PointId> dead;
      for (uint64_t id = 0; id < 300; id += 3) dead.push_back(id);
      ASSERT_TRUE(store->Delete({}, config.name, dead).ok());
      EXPECT_EQ(store->GetCollection({}, config.name)->indexed_points, data.num_base());
      before[config.name] = search_all(*store, config.name);
    }
  }
  auto store = OpenStore();
  for (const CollectionConfig& config : configs) {
    SCOPED_TRACE(config.name);
    // A rebuild would have compacted the 100 dead slots away.
    auto info = store->GetCollection({}, config.name);
    EXPECT_EQ(info->indexed_points, data.num_base()) << "the saved index, read back";
    EXPECT_EQ(info->status, "ready");
    EXPECT_EQ(info->points, data.num_base() - 100);
    const auto after = search_all(*store, config.name);
    EXPECT_EQ(after, before[config.name]);
    size_t differs_from_exact = 0;
    for (size_t q = 0; q < data.num_queries(); ++q) {
      std::vector<bool> live(data.num_base(), true);
      for (size_t id = 0; id < 300; id += 3) live[id] = false;
      differs_from_exact +=
          after[q] != testing::ExactTopK(data, config.metric, data.Query(q), 10, &live);
    }
    EXPECT_GT(differs_from_exact, 0u) << "starved searches must be approximate to prove anything";

    // The read-back index takes new points.
    ASSERT_TRUE(
        store
            ->Upsert({}, config.name, {{uint64_t{50'000}, {data.Query(0), data.Query(0) + 16}, {}}})
            .ok());
    ASSERT_TRUE(testing::WaitUntilIndexed(*store, config.name));
    EXPECT_EQ(store->GetCollection({}, config.name)->indexed_points, data.num_base() + 1);
    SearchRequest request;
    request.vector.assign(data.Query(0), data.Query(0) + data.dim);
    request.k = 1;
    EXPECT_EQ(testing::IdsOf(*store->Search({}, config.name, request)),
              std::vector<uint64_t>{50'000});
  }
}

}  // namespace
}  // namespace vecmesh::engine

namespace vecmesh::engine {
namespace {

TEST_F(DurabilityTest, ADiskFaultFailsTheWriteAndTurnsTheStoreReadOnly) {
  for (bool on_sync : {false, true}) {
    SCOPED_TRACE(on_sync ? "fsync fails" : "ENOSPC on append");
    fs::remove_all(dir_);
    testing::DiskFaults faults;
    LocalStoreOptions options = FaultyOptions(&faults);
    {
      auto store = std::move(*LocalStore::Open(options));
      ASSERT_TRUE(store->CreateCollection({}, {"c", 2, Metric::kL2, {}}).ok());
      ASSERT_TRUE(store->Upsert({}, "c", {{uint64_t{1}, {1, 1}, {}}}).ok());
      (on_sync ? faults.fail_sync : faults.fail_append) = true;
      Status s = store->Upsert({}, "c", {{uint64_t{2}, {2, 2}, {}}}).status();
      EXPECT_EQ(s.code(), StatusCode::kUnavailable);
      EXPECT_NE(s.message().find(on_sync ? "fsync of wal.log failed" : "No space left on device"),
                std::string::npos)
          << s.message();
      EXPECT_EQ(*store->Count({}, "c", nullptr), 1u) << "nothing of the failed write is applied";
      EXPECT_EQ(store->GetCollection({}, "c")->status, "read_only");
      EXPECT_EQ((*store->ListCollections({}))[0].status, "read_only");
      SearchRequest q;
      q.vector = {1, 1};
      EXPECT_TRUE(store->Search({}, "c", q).ok()) << "searches go on";
      faults.fail_append = faults.fail_sync = false;
      EXPECT_EQ(store->Delete({}, "c", {uint64_t{1}}).status().code(), StatusCode::kUnavailable)
          << "the disk came back, but a failed fsync may have lost pages: no more writes";
      EXPECT_EQ(store->CreateCollection({}, {"d", 2, Metric::kL2, {}}).status().code(),
                StatusCode::kUnavailable);
    }
    // The operator restarts it: the acknowledged write is there, the failed one is not.
    options.open_wal_file = nullptr;
    auto store = std::move(*LocalStore::Open(options));
    EXPECT_EQ(*store->Count({}, "c", nullptr), 1u);
    EXPECT_EQ(store->GetCollection({}, "c")->status, "ready");
    EXPECT_TRUE(store->Upsert({}, "c", {{uint64_t{3}, {3, 3}, {}}}).ok());
  }
}


// A log written on a GPU machine opens on one without a GPU (this one, unless the test runs on
// a GPU machine): its gpu_flat collection keeps every point, is searched exactly on the CPU and
// can be asked for again, while creating a new GPU collection here is refused.
TEST_F(DurabilityTest, AGpuCollectionOpensWithoutAGpuAndIsSearchedExactly) {
  IndexConfig gpu;
  gpu.type = IndexType::kGpuFlat;
  const auto data = testing::MakeClustered(3000, 5, 8, 10, 3);
  fs::create_directories(dir_);
  {
    std::ofstream log(dir_ / "wal-00000001.log", std::ios::binary);
    log << WalHeader()
        << FrameWalRecord(EncodeWriteOp("g", CreateCollectionOp{{"g", 8, Metric::kL2, gpu}}))
        << FrameWalRecord(EncodeWriteOp("g", UpsertOp{testing::MakePoints(data, 0, 3000)}));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto info = store->GetCollection({}, "g");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->config.index.type, IndexType::kGpuFlat);
  EXPECT_EQ(info->points, 3000u);
  for (size_t q = 0; q < data.num_queries(); ++q) {
    SearchRequest request;
    request.vector.assign(data.Query(q), data.Query(q) + data.dim);
    request.k = 10;
    auto found = store->SearchBatch({}, "g", {request});
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_EQ(testing::IdsOf((*found)[0]), testing::ExactTopK(data, Metric::kL2, data.Query(q), 10));
  }
  // Asking for the same collection again is still "it exists", not "no GPU".
  auto again = store->CreateCollection({}, {"g", 8, Metric::kL2, gpu});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(*again);
  if (!CheckIndexTypeAvailable(IndexType::kGpuFlat).ok()) {
    EXPECT_EQ(info->status, "ready") << "no index is pending where none can be built";
    Status refused = store->CreateCollection({}, {"g2", 8, Metric::kL2, gpu}).status();
    EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(refused.message().find("index.type 'gpu_flat' needs a CUDA GPU"), std::string::npos)
        << refused.message();
  }
}

}  // namespace
}  // namespace vecmesh::engine
