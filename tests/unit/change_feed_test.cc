// The change feed (LocalAdmin's LogEnd, ReadLog, HoldLog): the log read from outside, in order,
// across checkpoints, and kept while a holder still reads it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/storage/write_ops.h"
#include "tests/unit/durability_fixture.h"

namespace vecmesh::engine {
namespace {

using ChangeFeedTest = DurabilityTest;

struct Decoded {
  std::string collection;
  WriteOp op;
};

std::vector<Decoded> DecodeAll(const LogRead& read) {
  std::vector<Decoded> out;
  for (const LogRecord& record : read.records) {
    Decoded d;
    EXPECT_TRUE(DecodeWriteOp(record.bytes, &d.collection, &d.op).ok());
    out.push_back(std::move(d));
  }
  return out;
}

// Every record from `from` to the end, in reads of at most max_bytes.
std::vector<Decoded> ReadToEnd(const LocalStore& store, LogPosition from, uint64_t max_bytes) {
  std::vector<Decoded> out;
  while (from < store.LogEnd()) {
    auto read = store.ReadLog(from, max_bytes);
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    if (!read.ok()) break;
    EXPECT_LT(from, read->next) << "a read moves on";
    if (!(from < read->next)) break;
    for (Decoded& d : DecodeAll(*read)) out.push_back(std::move(d));
    from = read->next;
  }
  return out;
}

TEST_F(ChangeFeedTest, ReadsEveryOperationInLogOrderFromAnyPosition) {
  auto store = OpenStore();
  const LogPosition start = store->LogEnd();
  ASSERT_TRUE(store->CreateCollection({}, {"docs", 2, Metric::kL2, {}}).ok());
  const LogPosition after_create = store->LogEnd();
  EXPECT_LT(start, after_create) << "an answered write is before the end";
  ASSERT_TRUE(store->Upsert({}, "docs", {{uint64_t{1}, {1, 0}, {{"a", 1}}}}).ok());
  ASSERT_TRUE(store->SetPayload({}, "docs", {uint64_t{1}}, {{"b", 2}}, PayloadMode::kMerge).ok());
  ASSERT_TRUE(store->Delete({}, "docs", {uint64_t{1}}).ok());
  ASSERT_TRUE(store->DropCollection({}, "docs").ok());

  for (uint64_t max_bytes : {uint64_t{1}, uint64_t{1} << 20}) {
    std::vector<Decoded> all = ReadToEnd(*store, start, max_bytes);
    ASSERT_EQ(all.size(), 5u) << "max_bytes " << max_bytes;
    EXPECT_TRUE(std::holds_alternative<CreateCollectionOp>(all[0].op));
    EXPECT_EQ(std::get<UpsertOp>(all[1].op).points.at(0).payload, Payload({{"a", 1}}));
    EXPECT_EQ(std::get<SetPayloadOp>(all[2].op).payload, Payload({{"b", 2}}));
    EXPECT_TRUE(std::holds_alternative<DeleteOp>(all[3].op));
    EXPECT_TRUE(std::holds_alternative<DropCollectionOp>(all[4].op));
    for (const Decoded& d : all) EXPECT_EQ(d.collection, "docs");
  }
  EXPECT_EQ(ReadToEnd(*store, after_create, 1 << 20).size(), 4u) << "from a position: what follows";
  auto at_end = store->ReadLog(store->LogEnd(), 1 << 20);
  ASSERT_TRUE(at_end.ok());
  EXPECT_TRUE(at_end->records.empty());
  EXPECT_EQ(at_end->next, store->LogEnd());
  EXPECT_EQ(store->ReadLog({store->LogEnd().segment + 1, 0}, 1).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ChangeFeedTest, CrossesCheckpointsAndKeepsWhatAHolderStillReads) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateCollection({}, {"docs", 2, Metric::kL2, {}}).ok());
  const LogPosition held = store->LogEnd();
  store->HoldLog("chroma", held);
  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->Upsert({}, "docs", {{i, {float(i), 0}, {}}}).ok());
    ASSERT_TRUE(store->Checkpoint().ok());  // each checkpoint starts a new segment
  }
  EXPECT_EQ(store->LogEnd().segment, held.segment + 3);
  std::vector<Decoded> all = ReadToEnd(*store, held, 1 << 20);
  ASSERT_EQ(all.size(), 3u) << "the upserts, read across three segments";
  for (uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(std::get<UpsertOp>(all[i].op).points.at(0).id, PointId(i));
  }
  // Released, the old segments go at the next checkpoint; reading them then is refused.
  store->HoldLog("chroma", std::nullopt);
  ASSERT_TRUE(store->Upsert({}, "docs", {{uint64_t{9}, {9, 0}, {}}}).ok());
  ASSERT_TRUE(store->Checkpoint().ok());
  auto gone = store->ReadLog(held, 1 << 20);
  EXPECT_EQ(gone.status().code(), StatusCode::kFailedPrecondition) << gone.status().ToString();
  // {0, 0} starts at the oldest segment kept.
  auto oldest = store->ReadLog({}, 1 << 20);
  ASSERT_TRUE(oldest.ok()) << oldest.status().ToString();
}

TEST_F(ChangeFeedTest, ReadsWhatACrashedStoreLogged) {
  InCrashingChild([&] {
    auto store = OpenStore();
    if (!store->CreateCollection({}, {"docs", 2, Metric::kL2, {}}).ok()) _exit(1);
    if (!store->Upsert({}, "docs", {{uint64_t{1}, {1, 0}, {}}}).ok()) _exit(1);
  });
  auto store = OpenStore();
  std::vector<Decoded> all = ReadToEnd(*store, {}, 1 << 20);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<CreateCollectionOp>(all[0].op));
  EXPECT_TRUE(std::holds_alternative<UpsertOp>(all[1].op));
}

TEST(ChangeFeedInMemoryTest, IsRefused) {
  LocalStore store;
  EXPECT_EQ(store.LogEnd(), LogPosition{});
  EXPECT_EQ(store.ReadLog({}, 1).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace vecmesh::engine
