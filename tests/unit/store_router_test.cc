// The store router over real stores: LocalStores in separate directories stand in for the
// backends (faiss holds the catalog). Fan-out reaches every backend with a per-store outcome; one
// failing store degrades a store "all" search and is reported; every store failing is
// UNAVAILABLE with each store's message; reads go to the store asked for.
#include "api/service/store_router.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/store/local_store.h"

namespace vecmesh::api {
namespace {

namespace fs = std::filesystem;
using engine::CollectionConfig;
using engine::LocalStore;
using engine::Point;

class StoreRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("vecmesh_router_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    for (const char* name : {"faiss", "qdrant", "chroma"}) {
      engine::LocalStoreOptions options;
      options.data_dir = (root_ / name).string();
      auto store = LocalStore::Open(options);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      stores_[name] = std::shared_ptr<LocalStore>(std::move(*store));
    }
    router_ = std::make_unique<StoreRouter>(
        std::map<std::string, std::shared_ptr<engine::VectorStore>>(stores_.begin(), stores_.end()),
        "faiss");
  }
  void TearDown() override {
    router_.reset();
    stores_.clear();
    fs::remove_all(root_);
  }

  // Creates `name` in the catalog with `backends`, and in each backend that is not the catalog
  // (as the delivery log will), then writes `points` to each store listed in `holding`.
  void Create(const std::string& name, std::vector<std::string> backends,
              const std::vector<std::string>& holding, const std::vector<Point>& points) {
    CollectionConfig config{name, 2, engine::Metric::kL2, {}, backends};
    ASSERT_TRUE(stores_["faiss"]->CreateCollection({}, config).ok());
    for (const auto& store : holding) {
      if (store != "faiss") ASSERT_TRUE(stores_[store]->CreateCollection({}, config).ok());
      ASSERT_TRUE(stores_[store]->Upsert({}, name, points).ok());
    }
  }

  engine::SearchRequest Near(float x, int64_t k) {
    engine::SearchRequest request;
    request.vector = {x, 0};
    request.k = k;
    return request;
  }

  fs::path root_;
  std::map<std::string, std::shared_ptr<LocalStore>> stores_;
  std::unique_ptr<StoreRouter> router_;
};

std::vector<Point> Line(std::vector<uint64_t> ids) {
  std::vector<Point> points;
  for (uint64_t id : ids) points.push_back({id, {float(id), 0}, nullptr});
  return points;
}

std::vector<engine::PointId> IdsOf(const std::vector<engine::ScoredPoint>& results) {
  std::vector<engine::PointId> ids;
  for (const auto& r : results) ids.push_back(r.id);
  return ids;
}

TEST_F(StoreRouterTest, ASearchOfAllReachesEveryBackendAndMergesByScore) {
  // faiss holds 0..4, qdrant 3..9: the merge has each id once, best first, across both.
  CollectionConfig config{"docs", 2, engine::Metric::kL2, {}, {"faiss", "qdrant"}};
  ASSERT_TRUE(stores_["faiss"]->CreateCollection({}, config).ok());
  ASSERT_TRUE(stores_["qdrant"]->CreateCollection({}, config).ok());
  ASSERT_TRUE(stores_["faiss"]->Upsert({}, "docs", Line({0, 1, 2, 3, 4})).ok());
  ASSERT_TRUE(stores_["qdrant"]->Upsert({}, "docs", Line({3, 4, 5, 6, 7, 8, 9})).ok());

  auto all = router_->SearchAll({}, "docs", Near(5.2f, 4));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(IdsOf(all->results), (std::vector<engine::PointId>{5u, 6u, 4u, 7u}));
  ASSERT_EQ(all->stores.size(), 2u);
  EXPECT_EQ(all->stores[0].store, "faiss");
  EXPECT_EQ(all->stores[1].store, "qdrant");
  for (const auto& outcome : all->stores) {
    EXPECT_TRUE(outcome.status.ok()) << outcome.store;
    EXPECT_GE(outcome.took_ms, 0);
  }
}

TEST_F(StoreRouterTest, ABatchFansOutOnceAndIsMergedRequestByRequest) {
  CollectionConfig config{"docs", 2, engine::Metric::kL2, {}, {"faiss", "qdrant"}};
  ASSERT_TRUE(stores_["faiss"]->CreateCollection({}, config).ok());
  ASSERT_TRUE(stores_["qdrant"]->CreateCollection({}, config).ok());
  ASSERT_TRUE(stores_["faiss"]->Upsert({}, "docs", Line({0, 1, 2})).ok());
  ASSERT_TRUE(stores_["qdrant"]->Upsert({}, "docs", Line({7, 8, 9})).ok());
  auto all = router_->SearchBatchAll({}, "docs", {Near(0, 2), Near(9, 2)});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(IdsOf((*all)[0].results), (std::vector<engine::PointId>{0u, 1u}));
  EXPECT_EQ(IdsOf((*all)[1].results), (std::vector<engine::PointId>{9u, 8u}));
  EXPECT_EQ((*all)[1].stores.size(), 2u);

  engine::SearchRequest bad = Near(0, 1);
  bad.k = 0;
  auto refused = router_->SearchBatchAll({}, "docs", {Near(0, 1), bad});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), engine::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message().rfind("searches[1].k", 0), 0u) << refused.status().message();
}

TEST_F(StoreRouterTest, ASingleBackendsErrorIsPassedOnAsItIs) {
  Create("docs", {"qdrant"}, {}, {});  // the catalog knows it; qdrant does not
  auto all = router_->SearchAll({}, "docs", Near(0, 1));
  EXPECT_EQ(all.status().code(), engine::StatusCode::kNotFound) << all.status().ToString();
}

TEST_F(StoreRouterTest, OneFailingStoreDegradesTheSearchAndIsReported) {
  // qdrant lost the collection (a store that restarted empty): faiss still answers.
  Create("docs", {"faiss", "qdrant"}, {"faiss"}, Line({0, 1, 2, 3}));
  auto all = router_->SearchAll({}, "docs", Near(2.1f, 2));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(IdsOf(all->results), (std::vector<engine::PointId>{2u, 3u}));
  ASSERT_EQ(all->stores.size(), 2u);
  EXPECT_TRUE(all->stores[0].status.ok());
  EXPECT_EQ(all->stores[1].store, "qdrant");
  EXPECT_EQ(all->stores[1].status.code(), engine::StatusCode::kNotFound);
}

TEST_F(StoreRouterTest, EveryStoreFailingIsUnavailableWithEachStoresMessage) {
  // The catalog (faiss) knows the collection; neither of its backends has it.
  Create("docs", {"qdrant", "chroma"}, {}, {});
  auto all = router_->SearchAll({}, "docs", Near(1, 3));
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), engine::StatusCode::kUnavailable);
  EXPECT_NE(all.status().message().find("qdrant: NOT_FOUND"), std::string::npos)
      << all.status().message();
  EXPECT_NE(all.status().message().find("chroma: NOT_FOUND"), std::string::npos)
      << all.status().message();
}

TEST_F(StoreRouterTest, ABadRequestRefusedByEveryStoreIsThatError) {
  Create("docs", {"faiss", "qdrant"}, {"faiss", "qdrant"}, Line({0, 1}));
  engine::SearchRequest request = Near(0, 1);
  request.vector = {1, 2, 3};
  auto all = router_->SearchAll({}, "docs", request);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), engine::StatusCode::kInvalidArgument) << all.status().ToString();
}

TEST_F(StoreRouterTest, ReadsGoToTheStoreAskedForOrTheFirstBackend) {
  Create("docs", {"qdrant", "faiss"}, {"faiss", "qdrant"}, Line({0, 1}));
  ASSERT_TRUE(stores_["qdrant"]->Upsert({}, "docs", Line({2})).ok());  // qdrant holds one more
  auto first = router_->ReadStore({}, "docs", std::nullopt, "store");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*(*first)->Count({}, "docs", nullptr), 3u) << "qdrant is the first backend";
  auto faiss = router_->ReadStore({}, "docs", "faiss", "store");
  ASSERT_TRUE(faiss.ok());
  EXPECT_EQ(*(*faiss)->Count({}, "docs", nullptr), 2u);
  auto other = router_->ReadStore({}, "docs", "chroma", "store");
  EXPECT_EQ(other.status().code(), engine::StatusCode::kInvalidArgument);
  EXPECT_NE(other.status().message().find("held by qdrant, faiss"), std::string::npos);
  EXPECT_EQ(router_->ReadStore({}, "nope", std::nullopt, "store").status().code(),
            engine::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vecmesh::api
