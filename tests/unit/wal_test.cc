// The write-ahead log: round trips under concurrent appends with group commit, torn tails,
// corruption in the middle of the log, and disk faults (ENOSPC on append, a failing fsync).
#include "engine/storage/wal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "tests/support/faulty_wal_file.h"

namespace vecmesh::engine {
namespace {

namespace fs = std::filesystem;

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vecmesh_wal_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / "wal.log").string();
    fs::remove(path_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Wal> Open(std::vector<std::string>* replayed = nullptr,
                            CorruptionPolicy policy = CorruptionPolicy::kFail) {
    auto recovered = Recover(replayed, policy);
    EXPECT_TRUE(recovered.ok()) << recovered.status().ToString();
    auto file = OpenPosixWalFile(path_);
    EXPECT_TRUE(file.ok());
    auto wal = Wal::Create(std::move(*file), recovered->valid_bytes, path_);
    EXPECT_TRUE(wal.ok());
    return std::move(*wal);
  }
  StatusOr<WalRecovery> Recover(std::vector<std::string>* replayed,
                                CorruptionPolicy policy = CorruptionPolicy::kFail) {
    std::vector<std::string> ignored;
    if (!replayed) replayed = &ignored;
    replayed->clear();
    return RecoverWal(path_, policy, [&](std::string_view r, uint64_t) {
      replayed->emplace_back(r);
      return Status::Ok();
    });
  }
  std::string Contents() {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  void Rewrite(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << bytes;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(WalTest, ConcurrentAppendsAreAllRecoveredInOrderPerWriter) {
  {
    auto wal = Open();
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          std::string record =
              std::to_string(t) + ":" + std::to_string(i) + std::string(i % 37, 'x');
          ASSERT_TRUE(wal->Append(record).ok());
        }
      });
    }
    for (auto& w : writers) w.join();
  }
  std::vector<std::string> replayed;
  auto recovery = Recover(&replayed);
  ASSERT_TRUE(recovery.ok());
  EXPECT_EQ(recovery->records, 800u);
  EXPECT_TRUE(recovery->note.empty());
  std::map<int, int> next;  // writer -> the next index it must show
  for (const std::string& r : replayed) {
    int t = std::stoi(r.substr(0, r.find(':')));
    int i = std::stoi(r.substr(r.find(':') + 1));
    EXPECT_EQ(i, next[t]++) << "writer " << t << " out of order";
  }
  for (int t = 0; t < 4; ++t) EXPECT_EQ(next[t], 200);
}

TEST_F(WalTest, OneAppendOfSeveralRecordsIsAllOrNothingAndInOrder) {
  {
    auto wal = Open();
    ASSERT_TRUE(wal->Append(std::vector<std::string_view>{"one", "two", "three"}).ok());
    // A record of the wrong size refuses the whole call: nothing of it reaches the log.
    const std::string too_big(kWalMaxRecordBytes + 1, 'x');
    Status refused = wal->Append(std::vector<std::string_view>{"four", too_big, "five"});
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(wal->Append(std::vector<std::string_view>{"six", ""}).code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(wal->Append(std::vector<std::string_view>{}).code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE(wal->Append("seven").ok());
  }
  std::vector<std::string> replayed;
  ASSERT_TRUE(Recover(&replayed).ok());
  EXPECT_EQ(replayed, (std::vector<std::string>{"one", "two", "three", "seven"}));
}

// Counts syncs, so the test can see that concurrent appends share them.
class CountingFile : public WalFile {
 public:
  CountingFile(std::unique_ptr<WalFile> inner, std::atomic<int>* syncs)
      : inner_(std::move(inner)), syncs_(syncs) {}
  Status Append(std::string_view bytes) override { return inner_->Append(bytes); }
  Status Sync() override {
    ++*syncs_;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow disk
    return inner_->Sync();
  }
  Status Truncate(uint64_t size) override { return inner_->Truncate(size); }

 private:
  std::unique_ptr<WalFile> inner_;
  std::atomic<int>* syncs_;
};

TEST_F(WalTest, ConcurrentAppendsShareFsyncs) {
  std::atomic<int> syncs{0};
  auto wal =
      *Wal::Create(std::make_unique<CountingFile>(*OpenPosixWalFile(path_), &syncs), 0, path_);
  syncs = 0;
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 25; ++i) ASSERT_TRUE(wal->Append("record").ok());
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_LT(syncs.load(), 200) << "200 appends, each waiting for its own fsync";
  EXPECT_GT(syncs.load(), 0);
}

TEST_F(WalTest, IntervalModeReturnsBeforeTheFsyncAndSyncsInTheBackground) {
  std::atomic<int> syncs{0};
  {
    auto wal = *Wal::Create(std::make_unique<CountingFile>(*OpenPosixWalFile(path_), &syncs), 0,
                            path_, /*sync_interval_ms=*/50);
    syncs = 0;
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(wal->Append("record " + std::to_string(i)).ok());
    EXPECT_LT(syncs.load(), 10) << "appends do not wait for an fsync each";
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_GE(syncs.load(), 1) << "the background fsync ran";
  }
  std::vector<std::string> replayed;
  ASSERT_EQ(Recover(&replayed)->records, 200u);
  EXPECT_EQ(replayed.back(), "record 199");
}

TEST_F(WalTest, TornTailIsCutAndTheLogGoesOn) {
  {
    auto wal = Open();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(wal->Append("record " + std::to_string(i)).ok());
  }
  const std::string full = Contents();
  const size_t record_bytes = kWalRecordHeaderBytes + std::string("record 0").size();
  // Cut inside the last record's header, inside its body, and leave zeros where it was.
  for (size_t cut : {size_t{3}, size_t{10}}) {
    Rewrite(full.substr(0, full.size() - record_bytes + cut));
    std::vector<std::string> replayed;
    auto recovery = Recover(&replayed);
    ASSERT_TRUE(recovery.ok()) << recovery.status().ToString();
    EXPECT_EQ(recovery->records, 9u);
    EXPECT_EQ(recovery->cut_bytes, cut);
    EXPECT_NE(recovery->note.find("torn tail"), std::string::npos) << recovery->note;
    EXPECT_EQ(Contents().size(), full.size() - record_bytes) << "the tail is gone from disk";
  }
  Rewrite(full.substr(0, full.size() - record_bytes) + std::string(record_bytes, '\0'));
  EXPECT_EQ(Recover(nullptr)->records, 9u);

  // Appends after recovery follow the last good record.
  {
    auto wal = Open();
    ASSERT_TRUE(wal->Append("after").ok());
  }
  std::vector<std::string> replayed;
  ASSERT_EQ(Recover(&replayed)->records, 10u);
  EXPECT_EQ(replayed.back(), "after");
}

TEST_F(WalTest, ChecksumMismatchInTheLastRecordIsATornTail) {
  {
    auto wal = Open();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(wal->Append("record " + std::to_string(i)).ok());
  }
  std::string bytes = Contents();
  bytes.back() ^= 0x01;
  Rewrite(bytes);
  auto recovery = Recover(nullptr);
  ASSERT_TRUE(recovery.ok());
  EXPECT_EQ(recovery->records, 2u);
}

TEST_F(WalTest, CorruptionInsideTheLogStopsRecoveryUnlessTruncationIsAsked) {
  {
    auto wal = Open();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(wal->Append("record " + std::to_string(i)).ok());
  }
  std::string bytes = Contents();
  const size_t record_bytes = kWalRecordHeaderBytes + std::string("record 0").size();
  const size_t fourth = kWalHeaderBytes + 3 * record_bytes;
  bytes[fourth + kWalRecordHeaderBytes + 2] ^= 0x40;  // flip a byte in record 3's body
  Rewrite(bytes);

  auto failed = Recover(nullptr);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal);
  EXPECT_NE(failed.status().message().find(path_ + " is corrupt at offset " +
                                           std::to_string(fourth) + ": checksum mismatch"),
            std::string::npos)
      << failed.status().message();
  EXPECT_EQ(Contents(), bytes) << "a failed recovery changes nothing";

  std::vector<std::string> replayed;
  auto truncated = Recover(&replayed, CorruptionPolicy::kTruncate);
  ASSERT_TRUE(truncated.ok());
  EXPECT_EQ(truncated->records, 3u);
  EXPECT_EQ(replayed.back(), "record 2");
  EXPECT_EQ(Contents().size(), fourth);
}

// ReadWal is for files that must not change by being read (snapshots): it reports a torn tail
// and never cuts it.
TEST_F(WalTest, AReadOnlyReadReportsATornTailAndLeavesTheFileAsItIs) {
  {
    auto wal = Open();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(wal->Append("record " + std::to_string(i)).ok());
  }
  const std::string full = Contents();
  const std::string torn = full.substr(0, full.size() - 3);
  Rewrite(torn);
  std::vector<std::string> replayed;
  auto read = ReadWal(path_, [&](std::string_view r) {
    replayed.emplace_back(r);
    return Status::Ok();
  });
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->records, 4u);
  EXPECT_EQ(replayed.back(), "record 3");
  const size_t record_bytes = kWalRecordHeaderBytes + std::string("record 0").size();
  EXPECT_EQ(read->valid_bytes, full.size() - record_bytes);
  EXPECT_EQ(read->cut_bytes, record_bytes - 3);
  EXPECT_NE(read->note.find("torn tail: incomplete record"), std::string::npos) << read->note;
  EXPECT_NE(read->note.find("left as it is"), std::string::npos) << read->note;
  EXPECT_EQ(Contents(), torn);

  // Corruption inside the file fails the read, and changes nothing either.
  std::string corrupt = full;
  corrupt[kWalHeaderBytes + kWalRecordHeaderBytes + 1] ^= 0x40;
  Rewrite(corrupt);
  auto failed = ReadWal(path_, [](std::string_view) { return Status::Ok(); });
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal);
  EXPECT_EQ(Contents(), corrupt);
}

TEST_F(WalTest, ABadHeaderIsNotALog) {
  Rewrite(std::string("not a log at all, longer than a header"));
  auto r = Recover(nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is not a vecmesh write-ahead log"), std::string::npos);
}

TEST_F(WalTest, DiskFaultsFailTheWriteAndEveryLaterOneAndLoseNothingAcknowledged) {
  for (bool on_sync : {false, true}) {
    SCOPED_TRACE(on_sync ? "fsync fails" : "ENOSPC on append");
    fs::remove(path_);
    testing::DiskFaults faults;
    auto wal = *Wal::Create(
        std::make_unique<testing::FaultyWalFile>(*OpenPosixWalFile(path_), &faults), 0, path_);
    ASSERT_TRUE(wal->Append("acknowledged 1").ok());
    ASSERT_TRUE(wal->Append("acknowledged 2").ok());
    (on_sync ? faults.fail_sync : faults.fail_append) = true;
    Status s = wal->Append("refused");
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
    EXPECT_NE(s.message().find(on_sync ? "fsync" : "No space left on device"), std::string::npos);
    EXPECT_NE(s.message().find("accepts no more writes"), std::string::npos) << s.message();
    // The disk recovers, but the log does not pretend it did: a failed fsync may have lost pages.
    faults.fail_append = faults.fail_sync = false;
    EXPECT_FALSE(wal->Append("after the fault").ok());
    wal.reset();

    std::vector<std::string> replayed;
    auto recovery = Recover(&replayed);
    ASSERT_TRUE(recovery.ok()) << recovery.status().ToString();
    EXPECT_EQ(replayed, (std::vector<std::string>{"acknowledged 1", "acknowledged 2"}));
  }
}

}  // namespace
}  // namespace vecmesh::engine
