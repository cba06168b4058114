// The engine's messages go to the Logger its owner injects, with their particulars as fields,
// and never to stderr; without one, StderrLogger writes them as the daemon's log lines.
#include "engine/logger.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/storage/wal.h"
#include "engine/storage/write_ops.h"
#include "engine/store/local_store.h"
#include "tests/support/log_recorder.h"

namespace vecmesh::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class LoggerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vecmesh_logger_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// A log whose hnsw collection "c" holds 3 points and then a saved index said to cover 10 slots:
// recovery cannot use that index, says so, and rebuilds it.
TEST_F(LoggerTest, AnUnusableSavedIndexReachesTheInjectedLoggerAndNothingReachesStderr) {
  IndexConfig hnsw;
  hnsw.type = IndexType::kHnsw;
  std::vector<Point> points;
  for (uint64_t i = 0; i < 3; ++i) points.push_back({i, {float(i), 1}, json::object()});
  {
    std::ofstream log(dir_ / "wal-00000001.log", std::ios::binary);
    log << WalHeader()
        << FrameWalRecord(EncodeWriteOp("c", CreateCollectionOp{{"c", 2, Metric::kL2, hnsw}}))
        << FrameWalRecord(EncodeWriteOp("c", UpsertOp{points}))
        << FrameWalRecord(EncodeWriteOp("c", IndexPartOp{10, 4, "junk"}));
  }
  auto recorder = std::make_shared<testing::LogRecorder>();
  LocalStoreOptions options;
  options.data_dir = dir_.string();
  options.logger = recorder->logger();

  ::testing::internal::CaptureStderr();
  {
    auto store = LocalStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ(*(*store)->Count({}, "c", nullptr), 3u) << "the points are kept";
  }  // closed with a checkpoint: the rebuilt index (or none) is saved without complaint
  const std::string stderr_text = ::testing::internal::GetCapturedStderr();

  EXPECT_EQ(stderr_text, "");
  const auto lines = recorder->lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].level, "warn");
  EXPECT_EQ(lines[0].message, "the saved index is unusable; rebuilding it");
  EXPECT_EQ(lines[0].fields.value("collection", ""), "c");
  EXPECT_EQ(lines[0].fields.value("error", ""),
            "the saved index of collection 'c' does not match its parts or slots");
}

// A checkpoint that cannot open its new log segment fails, in the background and at shutdown;
// both failures are reported to the injected logger (the log keeps every write meanwhile).
TEST_F(LoggerTest, AFailedCheckpointReachesTheInjectedLogger) {
  auto recorder = std::make_shared<testing::LogRecorder>();
  LocalStoreOptions options;
  options.data_dir = dir_.string();
  options.logger = recorder->logger();
  options.checkpoint_bytes = 1;  // due after the first write
  options.open_wal_file = [](const std::string& path) -> StatusOr<std::unique_ptr<WalFile>> {
    if (path.ends_with("wal-00000001.log")) return OpenPosixWalFile(path);
    return Status::Unavailable("open of " + path + " failed: Read-only file system");
  };
  auto messages = [&] {
    std::vector<std::string> out;
    for (const auto& line : recorder->lines()) out.push_back(line.level + " " + line.message);
    return out;
  };

  ::testing::internal::CaptureStderr();
  {
    auto store = LocalStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->CreateCollection({}, {"c", 2, Metric::kL2, {}}).ok());
    for (int i = 0; i < 100 && messages().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_FALSE(messages().empty()) << "the checkpointer runs every second";
  }
  const std::string stderr_text = ::testing::internal::GetCapturedStderr();

  EXPECT_EQ(stderr_text, "");
  const auto lines = recorder->lines();
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines.front().level + " " + lines.front().message,
            "error a background checkpoint failed");
  EXPECT_EQ(lines.back().level + " " + lines.back().message,
            "warn the checkpoint at shutdown failed");
  EXPECT_NE(lines.back().fields.value("error", "").find("Read-only file system"), std::string::npos)
      << lines.back().fields.dump();
}

TEST(StderrLoggerTest, WritesOneJsonLineShapedLikeTheDaemonsLog) {
  ::testing::internal::CaptureStderr();
  StderrLogger()("warn", "building the index failed", {{"collection", "c"}, {"error", "boom"}});
  const std::string text = ::testing::internal::GetCapturedStderr();

  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\n'), text.size() - 1) << "one line";
  const json line = json::parse(text);
  EXPECT_TRUE(line["ts"].is_number());
  EXPECT_EQ(line["level"], "warn");
  EXPECT_EQ(line["msg"], "building the index failed");
  EXPECT_EQ(line["collection"], "c");
  EXPECT_EQ(line["error"], "boom");
}

}  // namespace
}  // namespace vecmesh::engine
