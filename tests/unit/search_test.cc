// Search quality against brute-force exact search on clustered synthetic data (20,000 x 64):
// flat is exact; hnsw, ivf_flat, ivf_pq and ivf_sq8 meet their documented recall; filtered
// search keeps its recall and never starves; indexes train, extend and compact in the background.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/store/local_store.h"
#include "tests/support/synthetic.h"

namespace vecmesh::engine {
namespace {

using nlohmann::json;
using testing::Dataset;

constexpr size_t kBase = 20'000;
constexpr size_t kQueries = 200;
constexpr size_t kDim = 64;
constexpr size_t kK = 10;

const Dataset& Data() {
  static const Dataset data = testing::MakeClustered(kBase, kQueries, kDim, 100, 42);
  return data;
}

IndexConfig Index(IndexType type) {
  IndexConfig c;
  c.type = type;
  if (type != IndexType::kFlat && type != IndexType::kHnsw) {
    c.nlist = 128;  // the documented test setting: nprobe 16 of 128 lists
    c.nprobe = 16;
  }
  return c;
}

// A store holding all of Data() in collection "c", its index caught up.
std::unique_ptr<LocalStore> Load(Metric metric, IndexConfig index) {
  auto store = std::make_unique<LocalStore>();
  EXPECT_TRUE(store->CreateCollection({}, {"c", kDim, metric, index}).ok());
  for (size_t begin = 0; begin < kBase; begin += 5000) {
    EXPECT_TRUE(store->Upsert({}, "c", testing::MakePoints(Data(), begin, begin + 5000)).ok());
  }
  EXPECT_TRUE(testing::WaitUntilIndexed(*store, "c"));
  return store;
}

std::vector<SearchRequest> Queries(size_t k, const char* filter = nullptr,
                                   SearchParams params = {}) {
  std::vector<SearchRequest> requests(kQueries);
  for (size_t i = 0; i < kQueries; ++i) {
    requests[i].vector.assign(Data().Query(i), Data().Query(i) + kDim);
    requests[i].k = k;
    requests[i].with_payload = false;
    requests[i].params = params;
    if (filter) requests[i].filter = *Filter::Parse(json::parse(filter), {});
  }
  return requests;
}

using testing::Selectivities;
using testing::Selectivity;

// Mean recall@k of `store` over the queries, also checking that each answer has
// min(k, matching) results, best first.
double MeasureRecall(const LocalStore& store, Metric metric, size_t k,
                     const Selectivity* selectivity = nullptr, SearchParams params = {}) {
  std::vector<bool> allowed(kBase, true);
  size_t matching = kBase;
  if (selectivity) {
    matching = 0;
    for (size_t i = 0; i < kBase; ++i) matching += (allowed[i] = selectivity->keeps(i));
  }
  auto results =
      store.SearchBatch({}, "c", Queries(k, selectivity ? selectivity->filter : nullptr, params));
  EXPECT_TRUE(results.ok()) << results.status().ToString();
  if (!results.ok()) return 0;
  double sum = 0;
  for (size_t q = 0; q < kQueries; ++q) {
    const auto& r = (*results)[q];
    EXPECT_EQ(r.size(), std::min(k, matching)) << "query " << q << " starved";
    for (size_t i = 1; i < r.size(); ++i) {
      if (metric == Metric::kL2)
        EXPECT_LE(r[i - 1].score, r[i].score);
      else
        EXPECT_GE(r[i - 1].score, r[i].score);
    }
    for (const auto& p : r) EXPECT_TRUE(allowed[std::get<uint64_t>(p.id)]);
    sum += testing::Recall(testing::ExactTopK(Data(), metric, Data().Query(q), k, &allowed),
                           testing::IdsOf(r), k);
  }
  return sum / kQueries;
}

// Exactness up to float ties: the same ids as the double-precision reference, except that an id
// whose true key is within `eps` of the k-th best may stand in for another such id.
void ExpectExact(const std::vector<ScoredPoint>& got, const Dataset& data, Metric metric,
                 const float* query, size_t k, const std::vector<bool>* allowed = nullptr) {
  auto reference = testing::ExactNeighbors(data, metric, query, kBase, allowed);
  ASSERT_EQ(got.size(), std::min(k, reference.size()));
  if (got.empty()) return;
  const double kth = reference[got.size() - 1].first;
  const double eps = 1e-4 * std::max(1.0, std::abs(kth));
  std::map<uint64_t, double> key_of;
  for (const auto& [key, id] : reference) key_of[id] = key;
  for (size_t i = 0; i < got.size(); ++i) {
    uint64_t id = std::get<uint64_t>(got[i].id);
    if (id != reference[i].second) {
      EXPECT_NEAR(key_of[id], reference[i].first, eps) << "rank " << i << " is not a tie";
    }
    EXPECT_LE(key_of[id], kth + eps);
    // Scores are exact, in the API's convention.
    double expected = metric == Metric::kL2 ? std::sqrt(key_of[id]) : -key_of[id];
    EXPECT_NEAR(got[i].score, expected, 1e-3 * std::max(1.0, std::abs(expected)));
  }
}

TEST(FlatSearchTest, ReturnsTheExactAnswerForEveryMetric) {
  for (Metric metric : {Metric::kL2, Metric::kIp, Metric::kCosine}) {
    SCOPED_TRACE(std::string(MetricName(metric)));
    auto store = Load(metric, Index(IndexType::kFlat));
    // The batch goes through BLAS tiles, single queries through the SIMD kernels.
    auto batch = store->SearchBatch({}, "c", Queries(kK));
    ASSERT_TRUE(batch.ok());
    for (size_t q = 0; q < kQueries; ++q) {
      ExpectExact((*batch)[q], Data(), metric, Data().Query(q), kK);
    }
    for (size_t q = 0; q < 20; ++q) {
      auto single = store->Search({}, "c", Queries(kK)[q]);
      ASSERT_TRUE(single.ok());
      ExpectExact(*single, Data(), metric, Data().Query(q), kK);
    }
  }
}

TEST(FlatSearchTest, FilteredSearchIsExactFilteredSearch) {
  auto store = Load(Metric::kL2, Index(IndexType::kFlat));
  for (const Selectivity& s : Selectivities()) {
    SCOPED_TRACE(s.name);
    std::vector<bool> allowed(kBase);
    for (size_t i = 0; i < kBase; ++i) allowed[i] = s.keeps(i);
    auto batch = store->SearchBatch({}, "c", Queries(kK, s.filter));
    ASSERT_TRUE(batch.ok());
    for (size_t q = 0; q < kQueries; ++q) {
      ExpectExact((*batch)[q], Data(), Metric::kL2, Data().Query(q), kK, &allowed);
    }
  }
}

struct AnnCase {
  IndexType type;
  Metric metric;
  double recall_floor;  // documented in README.md ("Indexes")
};

class AnnRecallTest : public ::testing::TestWithParam<AnnCase> {};

TEST_P(AnnRecallTest, MeetsItsRecallFloorUnfilteredAndFiltered) {
  const AnnCase& c = GetParam();
  auto store = Load(c.metric, Index(c.type));
  auto info = *store->GetCollection({}, "c");
  EXPECT_EQ(info.indexed_points, kBase) << "the index has caught up with every point";
  double recall = MeasureRecall(*store, c.metric, kK);
  std::printf("%s/%s recall@10 = %.4f\n", IndexTypeName(c.type).data(), MetricName(c.metric).data(),
              recall);
  EXPECT_GE(recall, c.recall_floor);
  // The answers really come from the approximate index: starved of its search budget
  // (ef_search = k, or a single IVF list) it must lose recall.
  SearchParams starved;
  starved.ef_search = kK;
  starved.nprobe = 1;
  double starved_recall = MeasureRecall(*store, c.metric, kK, nullptr, starved);
  std::printf("  starved (ef_search 10, nprobe 1) recall@10 = %.4f\n", starved_recall);
  EXPECT_LT(starved_recall, recall);
  if (c.type == IndexType::kHnsw || c.type == IndexType::kIvfFlat) {
    for (const Selectivity& s : Selectivities()) {
      double filtered = MeasureRecall(*store, c.metric, kK, &s);
      std::printf("%s filtered %s recall@10 = %.4f\n", IndexTypeName(c.type).data(), s.name,
                  filtered);
      EXPECT_GE(filtered, 0.9) << s.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Indexes, AnnRecallTest,
                         ::testing::Values(AnnCase{IndexType::kHnsw, Metric::kL2, 0.95},
                                           AnnCase{IndexType::kHnsw, Metric::kCosine, 0.95},
                                           AnnCase{IndexType::kIvfFlat, Metric::kL2, 0.95},
                                           AnnCase{IndexType::kIvfFlat, Metric::kIp, 0.95},
                                           AnnCase{IndexType::kIvfPq, Metric::kL2, 0.90},
                                           AnnCase{IndexType::kIvfSq8, Metric::kL2, 0.95}),
                         [](const auto& info) {
                           return std::string(IndexTypeName(info.param.type)) + "_" +
                                  std::string(MetricName(info.param.metric));
                         });

TEST(IndexLifecycleTest, IvfAnswersExactlyUntilItTrainsThenSwitches) {
  LocalStore store;
  IndexConfig ivf = Index(IndexType::kIvfFlat);  // trains at 39 * 128 = 4992 points
  ASSERT_TRUE(store.CreateCollection({}, {"c", kDim, Metric::kL2, ivf}).ok());
  ASSERT_TRUE(store.Upsert({}, "c", testing::MakePoints(Data(), 0, 4000)).ok());
  ASSERT_TRUE(testing::WaitUntilIndexed(store, "c"));
  auto info = *store.GetCollection({}, "c");
  EXPECT_EQ(info.indexed_points, 0u) << "too few points to train";
  EXPECT_EQ(info.status, "ready");
  auto results = store.SearchBatch({}, "c", Queries(kK));
  ASSERT_TRUE(results.ok());
  Dataset first = Data();
  first.base.resize(4000 * kDim);
  for (size_t q = 0; q < 20; ++q) {
    ExpectExact((*results)[q], first, Metric::kL2, Data().Query(q), kK);
  }

  ASSERT_TRUE(store.Upsert({}, "c", testing::MakePoints(Data(), 4000, 6000)).ok());
  ASSERT_TRUE(testing::WaitUntilIndexed(store, "c"));
  EXPECT_EQ(store.GetCollection({}, "c")->indexed_points, 6000u) << "trained and switched";
}

TEST(IndexLifecycleTest, HnswCompactsTombstonesAndNeverReturnsDeletedPoints) {
  auto store = Load(Metric::kL2, Index(IndexType::kHnsw));
  // Delete every odd point (50%): enough tombstones to trigger a background compaction.
  std::vector<PointId> odd;
  for (uint64_t i = 1; i < kBase; i += 2) odd.push_back(i);
  ASSERT_EQ(*store->Delete({}, "c", odd), kBase / 2);
  // Searches right away honour the tombstones...
  auto now = store->SearchBatch({}, "c", Queries(kK));
  ASSERT_TRUE(now.ok());
  for (const auto& r : *now) {
    for (const auto& p : r) EXPECT_EQ(std::get<uint64_t>(p.id) % 2, 0u);
  }
  // ...and after compaction the index holds only the live points.
  ASSERT_TRUE(testing::WaitUntilIndexed(*store, "c"));
  EXPECT_EQ(store->GetCollection({}, "c")->indexed_points, kBase / 2);
  EXPECT_GE(MeasureRecall(*store, Metric::kL2, kK, &Selectivities()[0]), 0.95)
      << "the compacted index searches the remaining half as well as before";
}

TEST(IndexLifecycleTest, HnswTakesALongTailAsAGrownCopyWhileSearchesGoOn) {
  LocalStore store;
  ASSERT_TRUE(store.CreateCollection({}, {"c", kDim, Metric::kL2, Index(IndexType::kHnsw)}).ok());
  ASSERT_TRUE(store.Upsert({}, "c", testing::MakePoints(Data(), 0, kBase / 2)).ok());
  ASSERT_TRUE(testing::WaitUntilIndexed(store, "c"));
  // A tail as long as the graph: grown on the build threads while the old graph answers.
  for (size_t begin = kBase / 2; begin < kBase; begin += 1000) {
    ASSERT_TRUE(store.Upsert({}, "c", testing::MakePoints(Data(), begin, begin + 1000)).ok());
  }
  for (int round = 0; round < 20 && store.GetCollection({}, "c")->status != "ready"; ++round) {
    EXPECT_GE(MeasureRecall(store, Metric::kL2, kK), 0.95) << "searched while the graph grows";
  }
  ASSERT_TRUE(testing::WaitUntilIndexed(store, "c"));
  EXPECT_EQ(store.GetCollection({}, "c")->indexed_points, kBase);
  EXPECT_GE(MeasureRecall(store, Metric::kL2, kK), 0.95);
}

TEST(IndexLifecycleTest, NewPointsAreSearchableBeforeTheyAreIndexed) {
  auto store = Load(Metric::kL2, Index(IndexType::kHnsw));
  // A point far from everything, written after the index was built: found at once.
  std::vector<float> far(kDim, 1000.0f);
  ASSERT_TRUE(store->Upsert({}, "c", {{uint64_t{99'999}, far, {}}}).ok());
  SearchRequest q;
  q.vector = far;
  q.k = 1;
  auto r = store->Search({}, "c", q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, PointId(uint64_t{99'999}));
  EXPECT_FLOAT_EQ((*r)[0].score, 0.0f);
}

}  // namespace
}  // namespace vecmesh::engine
