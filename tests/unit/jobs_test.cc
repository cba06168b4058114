// Writes applied as jobs (CallOptions::job_id, engine/store/job_ledger.h): a job is applied at
// most once in effect, its id is remembered exactly when its write is durable, across a crash and
// across checkpoints, for the retention; a job's write reaches the change feed as a write.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine/storage/write_ops.h"
#include "engine/store/local_store.h"
#include "tests/unit/durability_fixture.h"

namespace vecmesh::engine {
namespace {

CallOptions AsJob(const std::string& id) {
  CallOptions options;
  options.job_id = id;
  return options;
}

std::vector<Point> Points(uint64_t from, uint64_t to) {
  std::vector<Point> points;
  for (uint64_t i = from; i < to; ++i) points.push_back({i, {float(i), 1}, {{"i", i}}});
  return points;
}

TEST(JobsTest, AJobIsAppliedOnceInEffect) {
  LocalStore store;
  ASSERT_TRUE(store.CreateCollection({}, {"docs", 2, Metric::kL2, {}}).ok());
  ASSERT_EQ(store.Upsert(AsJob("j1"), "docs", Points(0, 10)).value(), 10u);
  // Another copy of j1 (a redelivery) changes nothing, and says so.
  auto again = store.Upsert(AsJob("j1"), "docs", Points(0, 20));
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();
  EXPECT_NE(again.status().message().find("'j1'"), std::string::npos);
  EXPECT_EQ(store.Count({}, "docs", nullptr).value(), 10u);
  // A later job deletes the points; j1 delivered once more does not bring them back.
  ASSERT_EQ(store.Delete(AsJob("j2"), "docs", {uint64_t{0}, uint64_t{1}}).value(), 2u);
  EXPECT_EQ(store.Upsert(AsJob("j1"), "docs", Points(0, 10)).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(store.Count({}, "docs", nullptr).value(), 8u);
  // Every write kind takes a job, once.
  ASSERT_TRUE(
      store.SetPayload(AsJob("j3"), "docs", {uint64_t{5}}, {{"x", 1}}, PayloadMode::kMerge).ok());
  EXPECT_EQ(store.SetPayload(AsJob("j3"), "docs", {uint64_t{5}}, {{"x", 2}}, PayloadMode::kMerge)
                .status()
                .code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(store.DeleteByFilter(AsJob("j4"), "docs", Filter{}).ok());
  EXPECT_EQ(store.Count({}, "docs", nullptr).value(), 0u);
  // Writes without a job are not remembered.
  ASSERT_TRUE(store.Upsert({}, "docs", Points(0, 3)).ok());
  ASSERT_TRUE(store.Upsert({}, "docs", Points(0, 3)).ok());
}

TEST(JobsTest, AFailedWriteIsNotRemembered) {
  LocalStore store;
  ASSERT_TRUE(store.CreateCollection({}, {"docs", 2, Metric::kL2, {}}).ok());
  std::vector<Point> bad = Points(0, 2);
  bad[1].vector = {1, 2, 3};
  EXPECT_EQ(store.Upsert(AsJob("j1"), "docs", bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Upsert(AsJob("j1"), "missing", Points(0, 2)).status().code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(store.Upsert(AsJob("j1"), "docs", Points(0, 2)).ok()) << "j1 was never applied";
  // A job id API.md allows is 1 to 128 bytes.
  auto long_id = store.Upsert(AsJob(std::string(129, 'x')), "docs", Points(0, 1));
  EXPECT_EQ(long_id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(long_id.status().message().find("job_id"), std::string::npos);
  EXPECT_NE(long_id.status().message().find("128"), std::string::npos);
}

TEST(JobsTest, AJobRunningElsewhereIsRefusedForNow) {
  JobLedger ledger(std::chrono::hours(1));
  auto first = ledger.Claim("j");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(ledger.Claim("j").status().code(), StatusCode::kUnavailable);
  ledger.Release("j");  // that write failed: the job may run again
  auto second = ledger.Claim("j");
  ASSERT_TRUE(second.ok());
  ledger.Applied(*second);
  ledger.Release("j");
  EXPECT_EQ(ledger.Claim("j").status().code(), StatusCode::kAlreadyExists);
}

// The ids of applied jobs survive a crash (replayed from the log) and a checkpoint (saved in it),
// and a checkpoint forgets those older than the retention.
TEST_F(DurabilityTest, AppliedJobsSurviveACrashAndCheckpoints) {
  InCrashingChild([&] {
    auto store = OpenStore();
    if (!store || !store->CreateCollection({}, {"docs", 2, Metric::kL2, {}}).ok()) _exit(1);
    if (!store->Upsert(AsJob("j1"), "docs", Points(0, 10)).ok()) _exit(2);
    if (!store->Delete(AsJob("j2"), "docs", {uint64_t{0}}).ok()) _exit(3);
  });
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->Upsert(AsJob("j1"), "docs", Points(0, 10)).status().code(),
              StatusCode::kAlreadyExists)
        << "replayed from the log";
    EXPECT_EQ(store->Count({}, "docs", nullptr).value(), 9u);
    ASSERT_TRUE(store->Checkpoint().ok());
    ASSERT_TRUE(store->Upsert(AsJob("j3"), "docs", Points(20, 21)).ok());
    ASSERT_TRUE(store->Checkpoint().ok());  // the log of j1 and j2 is gone now
  }
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    for (const char* id : {"j1", "j2", "j3"}) {
      EXPECT_EQ(store->Upsert(AsJob(id), "docs", Points(0, 1)).status().code(),
                StatusCode::kAlreadyExists)
          << id << " kept by the checkpoints";
    }
    EXPECT_EQ(store->Count({}, "docs", nullptr).value(), 10u);
  }
  // A store whose retention has passed forgets them at its next checkpoint.
  LocalStoreOptions options;
  options.data_dir = dir_.string();
  options.job_retention = std::chrono::seconds(0);
  {
    auto store = LocalStore::Open(options);
    ASSERT_TRUE(store.ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE((*store)->Checkpoint().ok());
    ASSERT_TRUE((*store)->Checkpoint().ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Upsert(AsJob("j1"), "docs", Points(0, 1)).ok()) << "forgotten";
}

// The deliverers of remote stores read a job's write from the change feed as a plain write.
TEST_F(DurabilityTest, AJobsWriteReachesTheChangeFeedAsAWrite) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateCollection({}, {"docs", 2, Metric::kL2, {}}).ok());
  const LogPosition before = store->LogEnd();
  ASSERT_TRUE(store->Upsert(AsJob("j1"), "docs", Points(0, 3)).ok());
  auto read = store->ReadLog(before, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->records.size(), 1u);
  std::string name;
  WriteOp op;
  std::optional<JobTag> job;
  ASSERT_TRUE(DecodeWriteOp(read->records[0].bytes, &name, &op, &job).ok());
  EXPECT_EQ(name, "docs");
  ASSERT_TRUE(std::holds_alternative<UpsertOp>(op));
  EXPECT_EQ(std::get<UpsertOp>(op).points.size(), 3u);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->id, "j1");
}

}  // namespace
}  // namespace vecmesh::engine
