// The device owner thread: ordering and coalescing, with an exact CPU search as the device.
// Built into the concurrency test, so it also runs under ThreadSanitizer.
#include "engine/index/device_worker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/log_recorder.h"

namespace vecmesh::engine {
namespace {

constexpr size_t kDim = 4;

// A "device" holding vectors, searched exactly; it records the size of every batch it runs.
// Touched only on the worker thread (and by the test once the worker is idle).
struct CpuDevice {
  std::vector<float> data;
  std::vector<size_t> batch_sizes;

  Status Search(size_t nq, const float* queries, size_t k, float* distances, int64_t* labels) {
    batch_sizes.push_back(nq);
    const size_t n = data.size() / kDim;
    for (size_t q = 0; q < nq; ++q) {
      std::vector<std::pair<float, int64_t>> all;
      for (size_t i = 0; i < n; ++i) {
        float d = 0;
        for (size_t j = 0; j < kDim; ++j) {
          const float diff = data[i * kDim + j] - queries[q * kDim + j];
          d += diff * diff;
        }
        all.push_back({d, static_cast<int64_t>(i)});
      }
      std::sort(all.begin(), all.end());
      for (size_t j = 0; j < k; ++j) {
        distances[q * k + j] = j < all.size() ? all[j].first : INFINITY;
        labels[q * k + j] = j < all.size() ? all[j].second : -1;
      }
    }
    return Status::Ok();
  }
};

std::vector<float> Point(float x) { return {x, x, x, x}; }

class DeviceWorkerTest : public ::testing::Test {
 protected:
  DeviceWorkerTest() {
    for (int i = 0; i < 100; ++i) {
      auto p = Point(static_cast<float>(i));
      device_.data.insert(device_.data.end(), p.begin(), p.end());
    }
  }

  // Occupies the worker until Release(), so that what is submitted meanwhile queues up.
  void Block() {
    blocker_ = std::async(std::launch::async, [this] {
      return worker_->Run([this] {
        blocked_ = true;
        released_.get_future().wait();
        return Status::Ok();
      });
    });
    while (!blocked_) std::this_thread::yield();
  }
  void Release() {
    released_.set_value();
    EXPECT_TRUE(blocker_.get().ok());
  }
  void AwaitWaiting(size_t n) {
    while (worker_->waiting() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  // Queries (nq * kDim floats) for the k nearest each, from another thread: their labels, or
  // the error.
  std::future<StatusOr<std::vector<int64_t>>> SearchAsync(std::vector<float> queries, size_t k,
                                                          bool fail = false) {
    return std::async(std::launch::async, [this, queries, k, fail]() -> StatusOr<std::vector<int64_t>> {
      DeviceWorker::BatchSearch search = [this, k, fail](size_t nq, const float* q, float* d,
                                                         int64_t* l) {
        if (fail) return Status::Internal("device lost");
        return device_.Search(nq, q, k, d, l);
      };
      const size_t nq = queries.size() / kDim;
      std::vector<float> distances(nq * k);
      std::vector<int64_t> labels(nq * k);
      Status s = worker_->Search({&device_, k, 0}, kDim, nq, queries.data(), search,
                                 distances.data(), labels.data());
      if (!s.ok()) return s;
      return labels;
    });
  }

  CpuDevice device_;
  std::unique_ptr<DeviceWorker> worker_ = std::make_unique<DeviceWorker>();
  std::atomic<bool> blocked_{false};
  std::promise<void> released_;
  std::future<Status> blocker_;
};

TEST_F(DeviceWorkerTest, SearchesThatWaitTogetherRunAsOneBatch) {
  Block();
  std::vector<std::future<StatusOr<std::vector<int64_t>>>> results;
  for (int i = 0; i < 8; ++i) results.push_back(SearchAsync(Point(i * 10.0f + 0.2f), 2));
  // One caller with three queries in the middle of the batch: its answers come back in order.
  std::vector<float> three = Point(50.8f);
  for (float x : {70.8f, 20.2f}) {
    auto p = Point(x);
    three.insert(three.end(), p.begin(), p.end());
  }
  auto many = SearchAsync(three, 2);
  for (int i = 8; i < 10; ++i) results.push_back(SearchAsync(Point(i * 10.0f + 0.2f), 2));
  AwaitWaiting(11);
  Release();
  for (int i = 0; i < 10; ++i) {
    auto labels = results[i].get();
    ASSERT_TRUE(labels.ok()) << labels.status().ToString();
    EXPECT_EQ(*labels, (std::vector<int64_t>{i * 10, i * 10 + 1})) << "query " << i;
  }
  EXPECT_EQ(*many.get(), (std::vector<int64_t>{51, 50, 71, 70, 20, 21}));
  EXPECT_EQ(device_.batch_sizes, std::vector<size_t>{13});
  EXPECT_EQ(worker_->batches(), 1u);
  EXPECT_EQ(worker_->queries(), 13u);
}

TEST_F(DeviceWorkerTest, ASearchNeverRunsBeforeAnOperationSubmittedBeforeIt) {
  Block();
  auto before = SearchAsync(Point(1000), 1);
  AwaitWaiting(1);
  auto add = std::async(std::launch::async, [this] {
    return worker_->Run([this] {
      auto p = Point(999);  // the nearest to the query from now on: label 100
      device_.data.insert(device_.data.end(), p.begin(), p.end());
      return Status::Ok();
    });
  });
  AwaitWaiting(2);
  auto after = SearchAsync(Point(1000), 1);
  AwaitWaiting(3);
  Release();
  EXPECT_EQ(*before.get(), std::vector<int64_t>{99});
  EXPECT_TRUE(add.get().ok());
  EXPECT_EQ(*after.get(), std::vector<int64_t>{100});
  EXPECT_EQ(device_.batch_sizes, (std::vector<size_t>{1, 1}));
}

TEST_F(DeviceWorkerTest, APostReturnsAtOnceAndLaterSearchesSeeIt) {
  Block();
  // The worker is busy: a Post that waited for it would never return.
  auto log = std::make_shared<testing::LogRecorder>();
  worker_->Post(
      [this] {
        auto p = Point(999);  // label 100
        device_.data.insert(device_.data.end(), p.begin(), p.end());
      },
      log->logger());
  // Logged, and the worker goes on.
  worker_->Post([] { throw std::runtime_error("a failed upload"); }, log->logger());
  auto after = SearchAsync(Point(1000), 1);
  AwaitWaiting(3);
  Release();
  EXPECT_EQ(*after.get(), std::vector<int64_t>{100});
  const auto lines = log->lines();
  ASSERT_EQ(lines.size(), 1u) << "the poster's logger hears of the failed Post";
  EXPECT_EQ(lines[0].level, "error");
  EXPECT_EQ(lines[0].fields.value("error", ""), "device operation failed: a failed upload");
}

TEST_F(DeviceWorkerTest, SearchesWithDifferentKeysAreNotMerged) {
  Block();
  auto one = SearchAsync(Point(5), 1);
  auto two = SearchAsync(Point(5), 2);
  auto another_one = SearchAsync(Point(7), 1);
  AwaitWaiting(3);
  Release();
  EXPECT_EQ(*one.get(), std::vector<int64_t>{5});
  EXPECT_EQ(two.get()->size(), 2u);
  EXPECT_EQ(*another_one.get(), std::vector<int64_t>{7});
  EXPECT_EQ(worker_->batches(), 2u);  // k=1 twice in one batch, k=2 alone
}

TEST_F(DeviceWorkerTest, EveryCallerOfAFailedBatchGetsTheError) {
  Block();
  std::vector<std::future<StatusOr<std::vector<int64_t>>>> results;
  for (int i = 0; i < 3; ++i) results.push_back(SearchAsync(Point(i), 1, /*fail=*/true));
  AwaitWaiting(3);
  Release();
  for (auto& r : results) {
    auto labels = r.get();
    ASSERT_FALSE(labels.ok());
    EXPECT_EQ(labels.status().code(), StatusCode::kInternal);
    EXPECT_EQ(labels.status().message(), "device lost");
  }
  // An exception from the device code is an error too, and the worker goes on.
  Status thrown = worker_->Run([]() -> Status { throw std::runtime_error("launch failed"); });
  EXPECT_EQ(thrown.code(), StatusCode::kInternal);
  EXPECT_NE(thrown.message().find("launch failed"), std::string::npos);
  EXPECT_EQ(*SearchAsync(Point(3), 1).get(), std::vector<int64_t>{3});
}

TEST_F(DeviceWorkerTest, ABatchTakesAtMostItsLimitOfQueries) {
  worker_ = std::make_unique<DeviceWorker>(/*max_batch_queries=*/2);
  Block();
  std::vector<std::future<StatusOr<std::vector<int64_t>>>> results;
  for (int i = 0; i < 5; ++i) results.push_back(SearchAsync(Point(i), 1));
  AwaitWaiting(5);
  Release();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(*results[i].get(), std::vector<int64_t>{i});
  EXPECT_EQ(device_.batch_sizes, (std::vector<size_t>{2, 2, 1}));
}

}  // namespace
}  // namespace vecmesh::engine
