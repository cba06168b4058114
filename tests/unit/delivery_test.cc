// The deliverer (api/service/delivery.h) over a real durable LocalStore and a remote store
// stand-in: an in-memory LocalStore behind a switch that makes it unreachable (UNAVAILABLE) on
// demand. Writes reach the remote in order and exactly; an outage only delays them; a restart
// resumes from the persisted position; a refusal fails that collection only; a restored
// snapshot and a log already gone are delivered as resyncs.
#include "api/service/delivery.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "engine/store/local_store.h"

namespace vecmesh::api {
namespace {

namespace fs = std::filesystem;
using engine::CallOptions;
using engine::CollectionConfig;
using engine::LocalStore;
using engine::Metric;
using engine::Payload;
using engine::Point;
using engine::PointId;
using engine::Status;
using engine::StatusOr;

// A VectorStore that answers as `store` does while up, and UNAVAILABLE while down. An upsert
// of more than `points_in_time` points runs out of time (DEADLINE_EXCEEDED), as one too big for
// a slow store does, and changes nothing.
class SwitchableStore : public engine::VectorStore {
 public:
  LocalStore store;
  std::atomic<bool> down{false};
  std::atomic<int> calls{0};
  std::atomic<size_t> points_in_time{SIZE_MAX};
  std::atomic<size_t> largest_upsert{0};

  Status Gate() const {
    ++const_cast<SwitchableStore*>(this)->calls;
    return down ? Status::Unavailable("remote: connection refused") : Status::Ok();
  }
  Status ValidateCreateCollection(const CallOptions& o, const CollectionConfig& c) const override {
    return store.ValidateCreateCollection(o, c);
  }
  StatusOr<bool> CreateCollection(const CallOptions& o, const CollectionConfig& c) override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.CreateCollection(o, c);
  }
  StatusOr<engine::CollectionInfo> GetCollection(const CallOptions& o,
                                                 const std::string& n) const override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.GetCollection(o, n);
  }
  StatusOr<std::vector<engine::CollectionInfo>> ListCollections(
      const CallOptions& o) const override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.ListCollections(o);
  }
  Status DropCollection(const CallOptions& o, const std::string& n) override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.DropCollection(o, n);
  }
  Status ValidateUpsert(const CallOptions& o, const std::string& c,
                        const std::vector<Point>& p) const override {
    return store.ValidateUpsert(o, c, p);
  }
  StatusOr<size_t> Upsert(const CallOptions& o, const std::string& c,
                          std::vector<Point> p) override {
    if (Status s = Gate(); !s.ok()) return s;
    if (p.size() > points_in_time) return Status::DeadlineExceeded("remote: deadline exceeded");
    largest_upsert = std::max<size_t>(largest_upsert, p.size());
    return store.Upsert(o, c, std::move(p));
  }
  StatusOr<size_t> Delete(const CallOptions& o, const std::string& c,
                          const std::vector<PointId>& ids) override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.Delete(o, c, ids);
  }
  StatusOr<size_t> DeleteByFilter(const CallOptions& o, const std::string& c,
                                  const engine::Filter& f) override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.DeleteByFilter(o, c, f);
  }
  Status ValidateSetPayload(const CallOptions& o, const std::string& c,
                            const Payload& p) const override {
    return store.ValidateSetPayload(o, c, p);
  }
  StatusOr<size_t> SetPayload(const CallOptions& o, const std::string& c,
                              const std::vector<PointId>& ids, const Payload& p,
                              engine::PayloadMode m) override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.SetPayload(o, c, ids, p, m);
  }
  StatusOr<std::vector<engine::Record>> Get(const CallOptions& o, const std::string& c,
                                            const std::vector<PointId>& ids, bool wp,
                                            bool wv) const override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.Get(o, c, ids, wp, wv);
  }
  StatusOr<size_t> Count(const CallOptions& o, const std::string& c,
                         const engine::Filter* f) const override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.Count(o, c, f);
  }
  StatusOr<engine::ScrollPage> Scroll(const CallOptions& o, const std::string& c,
                                      const engine::ScrollRequest& r) const override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.Scroll(o, c, r);
  }
  StatusOr<std::vector<engine::ScoredPoint>> Search(const CallOptions& o, const std::string& c,
                                                    const engine::SearchRequest& r) const override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.Search(o, c, r);
  }
  StatusOr<std::vector<std::vector<engine::ScoredPoint>>> SearchBatch(
      const CallOptions& o, const std::string& c,
      const std::vector<engine::SearchRequest>& r) const override {
    if (Status s = Gate(); !s.ok()) return s;
    return store.SearchBatch(o, c, r);
  }
};

// Every point of `collection` in `store`, as "id:payload:vector" strings, in id order.
std::vector<std::string> Contents(const engine::VectorStore& store, const std::string& collection) {
  std::vector<std::string> out;
  engine::ScrollRequest page;
  page.limit = 1000;
  page.with_vector = true;
  while (true) {
    auto points = store.Scroll({}, collection, page);
    EXPECT_TRUE(points.ok()) << points.status().ToString();
    if (!points.ok()) return out;
    for (const auto& r : points->points) {
      std::string row = std::holds_alternative<uint64_t>(r.id)
                            ? std::to_string(std::get<uint64_t>(r.id))
                            : "'" + std::get<std::string>(r.id) + "'";
      row += ":" + r.payload->dump() + ":";
      for (float x : *r.vector) row += std::to_string(x) + ",";
      out.push_back(row);
    }
    if (!points->next_cursor) return out;
    page.cursor = points->next_cursor;
  }
}

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("vecmesh_delivery_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    OpenLocal();
    remote_ = std::make_shared<SwitchableStore>();
  }
  void TearDown() override {
    deliverer_.reset();
    local_.reset();
    fs::remove_all(root_);
  }
  void OpenLocal() {
    engine::LocalStoreOptions options;
    options.data_dir = (root_ / "data").string();
    auto store = LocalStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    local_ = std::shared_ptr<LocalStore>(std::move(*store));
  }
  void StartDeliverer() {
    DeliveryOptions options;
    options.state_dir = (root_ / "delivery").string();
    options.retry_base_ms = 5;
    options.retry_max_ms = 20;
    options.call_timeout_ms = 5000;
    options.max_pending_bytes = max_pending_bytes_;
    options.max_points_per_call = max_points_per_call_;
    deliverer_ = std::make_unique<Deliverer>("remote", remote_, local_, local_, std::move(options));
    ASSERT_TRUE(deliverer_->Start().ok());
  }
  // Waits (bounded) until everything logged so far is delivered for `collection`.
  DeliveryStatus Drain(const std::string& collection) {
    return deliverer_->WaitFor(collection, local_->LogEnd(),
                               std::chrono::steady_clock::now() + std::chrono::seconds(20));
  }
  void Create(const std::string& name, std::vector<std::string> backends = {"faiss", "remote"},
              uint32_t dimension = 2) {
    CollectionConfig config{name, dimension, Metric::kL2, {}};
    config.backends = std::move(backends);
    ASSERT_TRUE(local_->CreateCollection({}, config).ok());
  }
  void Put(const std::string& name, uint64_t from, uint64_t to) {
    std::vector<Point> points;
    for (uint64_t i = from; i < to; ++i) {
      points.push_back({i, {float(i), 1}, {{"i", i}}});
    }
    ASSERT_TRUE(local_->Upsert({}, name, std::move(points)).ok());
  }

  fs::path root_;
  std::shared_ptr<LocalStore> local_;
  std::shared_ptr<SwitchableStore> remote_;
  std::unique_ptr<Deliverer> deliverer_;
  uint64_t max_pending_bytes_ = 1ull << 30;
  size_t max_points_per_call_ = 5000;
};

TEST_F(DeliveryTest, EveryWriteReachesTheRemoteInOrderAndExactly) {
  StartDeliverer();
  Create("docs");
  Create("local_only", {"faiss"});
  Put("docs", 0, 100);
  Put("docs", 50, 150);  // rewrites half: the later write wins there too
  Put("local_only", 0, 10);
  ASSERT_TRUE(local_
                  ->SetPayload({}, "docs", {uint64_t{1}, uint64_t{2}}, {{"tag", "x"}},
                               engine::PayloadMode::kMerge)
                  .ok());
  ASSERT_TRUE(
      local_->SetPayload({}, "docs", {uint64_t{3}}, {{"only", 1}}, engine::PayloadMode::kReplace)
          .ok());
  ASSERT_TRUE(local_->Delete({}, "docs", {uint64_t{4}, uint64_t{5}, uint64_t{999}}).ok());
  auto filter = engine::Filter::Parse({{"must", {{{"key", "i"}, {"range", {{"gte", 140}}}}}}}, {});
  ASSERT_TRUE(filter.ok());
  ASSERT_TRUE(local_->DeleteByFilter({}, "docs", *filter).ok());

  const DeliveryStatus status = Drain("docs");
  EXPECT_EQ(status.state, DeliveryState::kOk) << status.message;
  EXPECT_EQ(status.pending, 0u);
  EXPECT_EQ(Contents(remote_->store, "docs"), Contents(*local_, "docs"));
  EXPECT_EQ(remote_->store.GetCollection({}, "local_only").status().code(),
            engine::StatusCode::kNotFound)
      << "a collection without the backend is not delivered there";

  ASSERT_TRUE(local_->DropCollection({}, "docs").ok());
  EXPECT_EQ(Drain("docs").state, DeliveryState::kOk);
  EXPECT_EQ(remote_->store.GetCollection({}, "docs").status().code(),
            engine::StatusCode::kNotFound);
  EXPECT_EQ(deliverer_->stats().pending, 0u);
}

TEST_F(DeliveryTest, AnOutageDelaysDeliveryAndLosesNothing) {
  StartDeliverer();
  Create("docs");
  Put("docs", 0, 10);
  ASSERT_EQ(Drain("docs").state, DeliveryState::kOk);
  remote_->down = true;
  Put("docs", 10, 20);
  Put("docs", 20, 30);
  const DeliveryStatus waiting = deliverer_->WaitFor(
      "docs", local_->LogEnd(), std::chrono::steady_clock::now() + std::chrono::milliseconds(300));
  EXPECT_EQ(waiting.state, DeliveryState::kPending);
  EXPECT_EQ(waiting.pending, 2u) << "the two upserts wait";
  EXPECT_NE(waiting.message.find("connection refused"), std::string::npos) << waiting.message;
  EXPECT_EQ(remote_->store.Count({}, "docs", nullptr).value(), 10u);
  remote_->down = false;
  EXPECT_EQ(Drain("docs").state, DeliveryState::kOk);
  EXPECT_EQ(Contents(remote_->store, "docs"), Contents(*local_, "docs"));
}

TEST_F(DeliveryTest, ABacklogTooBigForOneCallGoesInSmallerCalls) {
  max_points_per_call_ = 1000;
  StartDeliverer();
  Create("docs");
  ASSERT_EQ(Drain("docs").state, DeliveryState::kOk);
  // An outage leaves a backlog, and the store, back, takes no more than 150 points a call in time.
  remote_->down = true;
  for (uint64_t i = 0; i < 3000; i += 250) Put("docs", i, i + 250);
  remote_->points_in_time = 150;
  remote_->down = false;
  EXPECT_EQ(Drain("docs").state, DeliveryState::kOk);
  EXPECT_EQ(Contents(remote_->store, "docs"), Contents(*local_, "docs"));
  EXPECT_LE(deliverer_->stats().points_per_call, 150u);
  EXPECT_LE(remote_->largest_upsert, 150u);

  // The store is fast again: calls grow back to the maximum after enough of them succeed.
  remote_->points_in_time = SIZE_MAX;
  for (uint64_t i = 0; i < 40'000 && deliverer_->stats().points_per_call < 1000; i += 1000) {
    Put("docs", i, i + 1000);
    Drain("docs");
  }
  EXPECT_EQ(deliverer_->stats().points_per_call, 1000u);
  Put("docs", 0, 1000);
  EXPECT_EQ(Drain("docs").state, DeliveryState::kOk);
  EXPECT_EQ(remote_->largest_upsert, 1000u);
  EXPECT_EQ(Contents(remote_->store, "docs"), Contents(*local_, "docs"));
}

TEST_F(DeliveryTest, ARestartResumesWhereDeliveryStopped) {
  StartDeliverer();
  Create("docs");
  Put("docs", 0, 10);
  ASSERT_EQ(Drain("docs").state, DeliveryState::kOk);
  remote_->down = true;
  Put("docs", 10, 40);
  deliverer_.reset();  // stops, persisting its position
  // Checkpoints meanwhile must keep what is undelivered (the log is held only while a
  // deliverer runs; its position is where the next one starts).
  local_.reset();
  OpenLocal();
  remote_->down = false;
  StartDeliverer();
  Put("docs", 40, 50);
  EXPECT_EQ(Drain("docs").state, DeliveryState::kOk);
  EXPECT_EQ(Contents(remote_->store, "docs"), Contents(*local_, "docs"));
}

TEST_F(DeliveryTest, ARefusalFailsThatCollectionOnly) {
  // The remote already has "clash" with another dimension: creating it there is refused.
  ASSERT_TRUE(remote_->store.CreateCollection({}, {"clash", 3, Metric::kL2, {}}).ok());
  StartDeliverer();
  Create("clash");
  Create("fine");
  Put("clash", 0, 5);
  Put("fine", 0, 5);
  const DeliveryStatus clash = Drain("clash");
  EXPECT_EQ(clash.state, DeliveryState::kFailed);
  EXPECT_NE(clash.message.find("another configuration"), std::string::npos) << clash.message;
  EXPECT_EQ(Drain("fine").state, DeliveryState::kOk);
  EXPECT_EQ(Contents(remote_->store, "fine"), Contents(*local_, "fine"));
  EXPECT_EQ(deliverer_->stats().failed_collections, 1u);
  // Made again, the collection is delivered from its new create on.
  ASSERT_TRUE(remote_->store.DropCollection({}, "clash").ok());
  ASSERT_TRUE(local_->DropCollection({}, "clash").ok());
  Create("clash");
  Put("clash", 0, 3);
  EXPECT_EQ(Drain("clash").state, DeliveryState::kOk);
  EXPECT_EQ(Contents(remote_->store, "clash"), Contents(*local_, "clash"));
}

TEST_F(DeliveryTest, TooFarBehindFailsTheCollectionsWaiting) {
  max_pending_bytes_ = 2000;
  StartDeliverer();
  Create("docs");
  ASSERT_EQ(Drain("docs").state, DeliveryState::kOk);
  remote_->down = true;
  Put("docs", 0, 200);  // far more than 2,000 bytes
  const DeliveryStatus status = deliverer_->WaitFor(
      "docs", local_->LogEnd(), std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(status.state, DeliveryState::kFailed);
  EXPECT_NE(status.message.find("too far behind"), std::string::npos) << status.message;
  // Dropped, the failed collection is dropped there too (it was ours) and nothing stays failed.
  remote_->down = false;
  ASSERT_TRUE(local_->DropCollection({}, "docs").ok());
  Drain("docs");
  EXPECT_EQ(remote_->store.GetCollection({}, "docs").status().code(),
            engine::StatusCode::kNotFound);
  EXPECT_EQ(deliverer_->stats().failed_collections, 0u);
}

TEST_F(DeliveryTest, AResyncCutShortByAStopIsTakenUpAtTheRestart) {
  Create("docs");
  Put("docs", 0, 30);
  remote_->down = true;
  StartDeliverer();  // a new backend: "docs" already lists it and is made there first
  const DeliveryStatus waiting = deliverer_->WaitFor(
      "docs", local_->LogEnd(), std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
  EXPECT_EQ(waiting.state, DeliveryState::kPending);
  deliverer_.reset();
  remote_->down = false;
  StartDeliverer();
  // Waiting ends when the resync is done, not at the wait's deadline (20 s).
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(Drain("docs").state, DeliveryState::kOk);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_EQ(Contents(remote_->store, "docs"), Contents(*local_, "docs"));
}

TEST_F(DeliveryTest, ARestoredSnapshotAndAGoneLogAreResynced) {
  StartDeliverer();
  Create("docs");
  Put("docs", 0, 20);
  auto snapshot = local_->CreateSnapshot("docs");
  ASSERT_TRUE(snapshot.ok());
  Put("docs", 20, 40);
  auto path = local_->SnapshotPath("docs", snapshot->name);
  ASSERT_TRUE(path.ok());
  ASSERT_TRUE(local_->RestoreSnapshot(*path, "docs").ok());
  EXPECT_EQ(Drain("docs").state, DeliveryState::kOk);
  EXPECT_EQ(Contents(remote_->store, "docs"), Contents(*local_, "docs"));
  EXPECT_EQ(remote_->store.Count({}, "docs", nullptr).value(), 20u);

  // No deliverer runs while writes come and checkpoints drop the log: the next one finds its
  // position gone and makes the collection again there.
  deliverer_.reset();
  Put("docs", 100, 130);
  ASSERT_TRUE(local_->Checkpoint().ok());
  Put("docs", 130, 140);
  ASSERT_TRUE(local_->Checkpoint().ok());
  StartDeliverer();
  Put("docs", 140, 150);
  EXPECT_EQ(Drain("docs").state, DeliveryState::kOk);
  EXPECT_EQ(Contents(remote_->store, "docs"), Contents(*local_, "docs"));
}

}  // namespace
}  // namespace vecmesh::api
