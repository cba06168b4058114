// Snapshot restores: one log record, so that a crash leaves the collection as it was before the
// restore or as the snapshot holds it; a restore that cannot be logged changes nothing; and a
// file that is not a whole snapshot is refused and left as it is.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "engine/storage/wal.h"
#include "engine/storage/write_ops.h"
#include "engine/store/local_store.h"
#include "tests/unit/durability_fixture.h"

namespace vecmesh::engine {
namespace {

namespace fs = std::filesystem;

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Every point of `collection` (id, vector, payload) in id order, and its configuration, as JSON
// text: two states compare as strings. "missing" if there is no such collection.
std::string Contents(const LocalStore& store, const std::string& collection) {
  auto info = store.GetCollection({}, collection);
  if (!info.ok()) return "missing";
  nlohmann::json points = nlohmann::json::array();
  ScrollRequest request;
  request.limit = 1000;
  request.with_vector = true;
  for (;;) {
    auto page = store.Scroll({}, collection, request);
    if (!page.ok()) return page.status().ToString();
    for (const Record& r : page->points) {
      const nlohmann::json id = std::holds_alternative<uint64_t>(r.id)
                                    ? nlohmann::json(std::get<uint64_t>(r.id))
                                    : nlohmann::json(std::get<std::string>(r.id));
      points.push_back({id, *r.vector, *r.payload});
    }
    if (!page->next_cursor) break;
    request.cursor = page->next_cursor;
  }
  const CollectionConfig& config = info->config;
  return nlohmann::json({{"dimension", config.dimension},
                         {"metric", static_cast<int>(config.metric)},
                         {"backends", config.backends},
                         {"points", points}})
      .dump();
}

// Points `first`..`last` - 1 of state `label`: vectors of dimension 4, payload {"state", "i"}.
std::vector<Point> StatePoints(uint64_t first, uint64_t last, const std::string& label) {
  std::vector<Point> points;
  for (uint64_t i = first; i < last; ++i) {
    points.push_back({i,
                      {float(i % 7) + 1, float(i % 5), label == "A" ? 1.f : 2.f, float(i)},
                      {{"state", label}, {"i", i}}});
  }
  return points;
}

// Collection "docs" in state A (points 0..2499), a snapshot of it, then state B (0..799 deleted,
// 2500..3299 added): the setting of every restore test. Returns the snapshot's path, or an
// empty string after a failure (which the caller's checks then report).
std::string WriteStatesAAndB(LocalStore& store) {
  if (!store.CreateCollection({}, {"docs", 4, Metric::kCosine, {}, {"faiss", "chroma"}}).ok() ||
      !store.Upsert({}, "docs", StatePoints(0, 2500, "A")).ok()) {
    return "";
  }
  auto snapshot = store.CreateSnapshot("docs");
  std::vector<PointId> gone;
  for (uint64_t i = 0; i < 800; ++i) gone.emplace_back(i);
  if (!snapshot.ok() || !store.Delete({}, "docs", gone).ok() ||
      !store.Upsert({}, "docs", StatePoints(2500, 3300, "B")).ok()) {
    return "";
  }
  return store.SnapshotPath("docs", snapshot->name).value();
}

// Reading a snapshot must never change it: a torn tail is reported, not cut (the file may be
// the only copy, or someone else's), and a corrupt record or a miscounted end refuses the whole
// file, changing nothing and keeping nothing of it.
TEST_F(DurabilityTest, ATornOrCorruptSnapshotIsRefusedAndLeftAsItIs) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateCollection({}, {"src", 2, Metric::kL2, {}}).ok());
  std::vector<Point> points;
  for (uint64_t i = 0; i < 2500; ++i) points.push_back({i, {float(i), 1}, {{"i", i}}});
  ASSERT_TRUE(store->Upsert({}, "src", points).ok());
  auto snapshot = store->CreateSnapshot("src");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  const std::string whole = ReadBytes(*store->SnapshotPath("src", snapshot->name));
  ASSERT_TRUE(store->CreateCollection({}, {"target", 2, Metric::kL2, {}}).ok());
  ASSERT_TRUE(store->Upsert({}, "target", {{uint64_t{7}, {7, 7}, {}}}).ok());

  std::string corrupt = whole;
  corrupt[corrupt.size() / 2] ^= 0x40;  // inside the second of three point records
  // Every record whole, but the end record counts two where one precedes it.
  const std::string miscounted =
      WalHeader(3) +
      FrameWalRecord(EncodeWriteOp("src", CreateCollectionOp{{"src", 2, Metric::kL2, {}}})) +
      FrameWalRecord(std::string("\xFF\x02\0\0\0\0\0\0\0", 9));
  const std::map<std::string, std::string> bad = {{"torn", whole.substr(0, whole.size() - 5)},
                                                  {"corrupt", corrupt},
                                                  {"miscounted", miscounted}};
  for (const auto& [what, bytes] : bad) {
    SCOPED_TRACE(what);
    const fs::path path = dir_ / (what + ".vms");
    WriteBytes(path, bytes);
    Status s = store->RestoreSnapshot(path.string(), "target");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(path.string()), std::string::npos) << s.message();
    EXPECT_EQ(ReadBytes(path), bytes) << "the file is read, never changed";
    EXPECT_EQ(*store->Count({}, "target", nullptr), 1u) << "nothing restored";
    EXPECT_FALSE(store->GetCollection({}, "other").ok());
    EXPECT_EQ(store->RestoreSnapshot(path.string(), "other").code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(store->GetCollection({}, "other").ok()) << "nothing created";
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "restores")) << "a refused file is not kept";

  // The same bytes whole restore; a file that is not one of our snapshots is copied, not
  // linked (its owner may change it in place later).
  const fs::path copy = dir_ / "whole.vms";
  WriteBytes(copy, whole);
  ASSERT_TRUE(store->RestoreSnapshot(copy.string(), "target").ok());
  EXPECT_EQ(*store->Count({}, "target", nullptr), 2500u);
  EXPECT_EQ(fs::hard_link_count(copy), 1u);
  EXPECT_EQ(ReadBytes(dir_ / "restores/restore-00000001-1.vms"), whole);
}

// A restore is one record of the log, naming a copy of the snapshot kept in restores/: a start
// after a crash replays it from that file, to the snapshot's state, with what was written after
// it on top. Checkpoints capture the restored collections, and the file goes with its segment.
TEST_F(DurabilityTest, ARestoreIsOneLogRecordThatALaterStartReplaysFromItsFile) {
  const fs::path expected = dir_ / "expected";
  InCrashingChild([&] {
    LocalStoreOptions options;
    options.data_dir = dir_.string();
    auto store = std::move(*LocalStore::Open(options));
    const std::string snapshot = WriteStatesAAndB(*store);
    if (snapshot.empty()) _exit(1);
    const std::string state_a = Contents(*store, "docs");
    if (!store->RestoreSnapshot(snapshot, "docs").ok()) _exit(2);
    if (Contents(*store, "docs") == state_a) _exit(3);  // the name, not the configuration?
    if (!store->RestoreSnapshot(snapshot, "copy").ok()) _exit(4);
    if (!store->Upsert({}, "copy", StatePoints(9000, 9001, "C")).ok()) _exit(5);
    fs::create_directories(expected);
    WriteBytes(expected / "docs", Contents(*store, "docs"));
    WriteBytes(expected / "copy", Contents(*store, "copy"));
    _exit(0);  // a crash: no shutdown checkpoint
  });
  const std::string docs = ReadBytes(expected / "docs");
  const std::string copy = ReadBytes(expected / "copy");
  ASSERT_NE(docs.find(R"(["faiss","chroma"])"), std::string::npos) << "the backends are kept";
  ASSERT_NE(copy.find(R"([9000,)"), std::string::npos);
  // One of our snapshots is never changed in place: both restore files share its bytes.
  EXPECT_EQ(fs::hard_link_count(dir_ / "restores/restore-00000001-1.vms"), 3u);
  EXPECT_EQ(fs::hard_link_count(dir_ / "restores/restore-00000001-2.vms"), 3u);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    // create, A, delete, B, restore, restore, upsert (the snapshot's records are in its file).
    EXPECT_EQ(store->recovery().records, 7u);
    EXPECT_EQ(Contents(*store, "docs"), docs);
    EXPECT_EQ(Contents(*store, "copy"), copy);

    // The first checkpoint keeps segment 1 (the fallback), so its restore files stay.
    ASSERT_TRUE(store->Checkpoint().ok());
    EXPECT_TRUE(fs::exists(dir_ / "restores/restore-00000001-1.vms"));
  }  // the shutdown checkpoint drops segment 1, and the files it named
  EXPECT_FALSE(fs::exists(dir_ / "wal-00000001.log"));
  EXPECT_TRUE(fs::is_empty(dir_ / "restores"));
  auto store = OpenStore();
  EXPECT_EQ(Contents(*store, "docs"), docs);
  EXPECT_EQ(Contents(*store, "copy"), copy);
}

// The restore record cannot be logged (the disk is full, or fsync fails): the restore fails and
// changes nothing, now or after a restart.
TEST_F(DurabilityTest, ARestoreWhoseLogAppendFailsChangesNothing) {
  for (bool on_sync : {false, true}) {
    SCOPED_TRACE(on_sync ? "fsync fails" : "ENOSPC on append");
    fs::remove_all(dir_);
    testing::DiskFaults faults;
    LocalStoreOptions options = FaultyOptions(&faults);
    std::string state_b;
    {
      auto store = std::move(*LocalStore::Open(options));
      const std::string snapshot = WriteStatesAAndB(*store);
      ASSERT_FALSE(snapshot.empty());
      state_b = Contents(*store, "docs");
      (on_sync ? faults.fail_sync : faults.fail_append) = true;
      for (const char* target : {"docs", "copy"}) {
        Status s = store->RestoreSnapshot(snapshot, target);
        EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
      }
      EXPECT_EQ(Contents(*store, "docs"), state_b) << "the collection it would have replaced";
      EXPECT_EQ(Contents(*store, "copy"), "missing") << "the collection it would have created";
      faults.fail_append = faults.fail_sync = false;
    }
    options.open_wal_file = nullptr;
    auto store = std::move(*LocalStore::Open(options));
    EXPECT_EQ(Contents(*store, "docs"), state_b);
    EXPECT_EQ(Contents(*store, "copy"), "missing");
  }
}

// A restore file that is gone when the log names it is corruption: the start stops, naming it;
// with the truncate option the log is cut at the restore record (what followed is lost).
TEST_F(DurabilityTest, AMissingRestoreFileStopsTheStartUnlessTheOperatorTruncates) {
  const fs::path expected = dir_ / "expected";
  InCrashingChild([&] {
    LocalStoreOptions options;
    options.data_dir = dir_.string();
    auto store = std::move(*LocalStore::Open(options));
    const std::string snapshot = WriteStatesAAndB(*store);
    if (snapshot.empty()) _exit(1);
    fs::create_directories(expected);
    WriteBytes(expected / "docs", Contents(*store, "docs"));
    if (!store->RestoreSnapshot(snapshot, "docs").ok()) _exit(2);
    if (!store->Upsert({}, "docs", StatePoints(9000, 9001, "C")).ok()) _exit(3);
    _exit(0);
  });
  const fs::path file = dir_ / "restores/restore-00000001-1.vms";
  ASSERT_TRUE(fs::remove(file));
  LocalStoreOptions options;
  options.data_dir = dir_.string();
  auto refused = LocalStore::Open(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInternal);
  EXPECT_NE(refused.status().message().find("restores collection 'docs' from " + file.string() +
                                            ", which is missing"),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("wal-00000001.log at offset "), std::string::npos)
      << refused.status().message();

  options.corruption_policy = CorruptionPolicy::kTruncate;
  auto store = LocalStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_NE((*store)->recovery().note.find("which is missing"), std::string::npos)
      << (*store)->recovery().note;
  EXPECT_EQ(Contents(**store, "docs"), ReadBytes(expected / "docs")) << "state B, as before it";
}

// Writes racing a restore of their collection either land before its record (and are replaced)
// or after it (on the restored collection), or are refused as retryable: never "not found",
// never lost from what a restart finds.
TEST_F(DurabilityTest, WritesRacingARestoreAreRetryableAndARestartFindsWhatWasThere) {
  const fs::path expected = dir_ / "expected";
  InCrashingChild([&] {
    LocalStoreOptions options;
    options.data_dir = dir_.string();
    auto store = std::move(*LocalStore::Open(options));
    const std::string snapshot = WriteStatesAAndB(*store);
    if (snapshot.empty()) _exit(1);
    std::atomic<bool> stop{false};
    std::atomic<int> refused{0};
    std::thread writer([&] {
      for (uint64_t i = 10'000; !stop; ++i) {
        Status s = store->Upsert({}, "docs", StatePoints(i, i + 1, "W")).status();
        if (s.code() == StatusCode::kUnavailable) ++refused;
        if (!s.ok() && s.code() != StatusCode::kUnavailable) _exit(2);
      }
    });
    for (int i = 0; i < 5; ++i) {
      if (!store->RestoreSnapshot(snapshot, "docs").ok()) _exit(3);
    }
    stop = true;
    writer.join();
    fs::create_directories(expected);
    WriteBytes(expected / "docs", Contents(*store, "docs"));
    _exit(0);
  });
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Contents(*store, "docs"), ReadBytes(expected / "docs"));
}

// An in-memory store restores too (nothing is staged or logged), with the same checks.
TEST_F(DurabilityTest, AnInMemoryStoreRestoresAFile) {
  std::string path;
  std::string state_a;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->CreateCollection({}, {"docs", 4, Metric::kCosine, {}}).ok());
    ASSERT_TRUE(store->Upsert({}, "docs", StatePoints(0, 1200, "A")).ok());
    state_a = Contents(*store, "docs");
    path = *store->SnapshotPath("docs", store->CreateSnapshot("docs")->name);
  }
  LocalStore in_memory;
  ASSERT_TRUE(in_memory.CreateCollection({}, {"docs", 2, Metric::kL2, {}}).ok());
  ASSERT_TRUE(in_memory.RestoreSnapshot(path, "docs").ok());
  EXPECT_EQ(Contents(in_memory, "docs"), state_a);
  EXPECT_EQ(in_memory.RestoreSnapshot((dir_ / "nope.vms").string(), "docs").code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Contents(in_memory, "docs"), state_a);
}

}  // namespace
}  // namespace vecmesh::engine
