// Collections and points: lifecycle, upsert/delete/get/scroll/count/payload semantics, and the
// refusal of bad input (a clear InvalidArgument that changes nothing) and of calls whose
// deadline has passed.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "engine/store/local_store.h"
#include "tests/support/synthetic.h"

namespace vecmesh::engine {
namespace {

using nlohmann::json;

void ExpectInvalid(const Status& s, const std::string& fragment) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find(fragment), std::string::npos)
      << "message '" << s.message() << "' lacks '" << fragment << "'";
}

TEST(CollectionsTest, CreateGetListDrop) {
  LocalStore store;
  CollectionConfig config{"docs", 8, Metric::kCosine, {}};
  config.index.type = IndexType::kHnsw;
  auto created = store.CreateCollection({}, config);
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(*created);
  auto again = store.CreateCollection({}, config);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "an identical collection already exists: not created again";
  config.dimension = 16;
  EXPECT_EQ(store.CreateCollection({}, config).status().code(), StatusCode::kAlreadyExists);

  auto info = store.GetCollection({}, "docs");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->config.dimension, 8u);
  EXPECT_EQ(info->config.metric, Metric::kCosine);
  EXPECT_EQ(info->points, 0u);
  EXPECT_EQ(info->status, "ready");
  ASSERT_TRUE(store.CreateCollection({}, {"other", 4, Metric::kL2, {}}).ok());
  EXPECT_EQ(store.ListCollections({})->size(), 2u);

  EXPECT_TRUE(store.DropCollection({}, "docs").ok());
  EXPECT_EQ(store.GetCollection({}, "docs").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.DropCollection({}, "docs").code(), StatusCode::kNotFound);
  EXPECT_EQ(store.Upsert({}, "docs", {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.ListCollections({})->size(), 1u);
}

TEST(CollectionsTest, RejectsInvalidConfigurations) {
  LocalStore store;
  ExpectInvalid(store.CreateCollection({}, {"bad name", 4, Metric::kL2, {}}).status(),
                "collection name 'bad name' is invalid: it must match [A-Za-z0-9_-]{1,64}");
  ExpectInvalid(store.CreateCollection({}, {std::string(65, 'a'), 4, Metric::kL2, {}}).status(),
                "[A-Za-z0-9_-]{1,64}");
  ExpectInvalid(store.CreateCollection({}, {"d", 0, Metric::kL2, {}}).status(),
                "dimension must be in [1, 65536], got 0");
  ExpectInvalid(store.CreateCollection({}, {"d", 70000, Metric::kL2, {}}).status(),
                "dimension must be in [1, 65536], got 70000");
  ExpectInvalid(store.CreateCollection({}, {"d", 4, Metric::kL2, {}, {}}).status(),
                "backends must list at least one store");
  ExpectInvalid(store.CreateCollection({}, {"d", 4, Metric::kL2, {}, {"faiss", "faiss"}}).status(),
                "backends[1] is 'faiss': store names must be non-empty and listed once");
  IndexConfig hnsw;
  hnsw.type = IndexType::kHnsw;
  hnsw.hnsw_m = 1;
  ExpectInvalid(store.CreateCollection({}, {"d", 4, Metric::kL2, hnsw}).status(),
                "index.m must be in [2, 128], got 1");
  IndexConfig ivf;
  ivf.type = IndexType::kIvfFlat;
  ivf.nlist = 8;
  ivf.nprobe = 9;
  ExpectInvalid(store.CreateCollection({}, {"d", 4, Metric::kL2, ivf}).status(),
                "index.nprobe must be at most index.nlist (8), got 9");
  IndexConfig pq;
  pq.type = IndexType::kIvfPq;
  pq.pq_m = 3;
  ExpectInvalid(store.CreateCollection({}, {"d", 8, Metric::kL2, pq}).status(),
                "index.m must divide the dimension 8, got 3");
  EXPECT_TRUE(store.ListCollections({})->empty());
}

TEST(CollectionsTest, IndexConfigJson) {
  auto c = IndexConfigFromJson(json::parse(R"({"type": "ivf_pq", "nlist": 64})"), 128);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->pq_m, 32) << "pq m defaults to the largest divisor of the dimension <= dim / 4";
  EXPECT_EQ(IndexConfigToJson(*c),
            json::parse(R"({"type": "ivf_pq", "nlist": 64, "m": 32, "nbits": 8, "nprobe": 16})"));
  ExpectInvalid(IndexConfigFromJson(json::parse(R"({"type": "hnsw", "nlist": 4})"), 8).status(),
                "index.nlist is not a parameter of hnsw indexes");
  ExpectInvalid(IndexConfigFromJson(json::parse(R"({"type": "hnsw", "m": "x"})"), 8).status(),
                "index.m must be an integer, got string");
  ExpectInvalid(IndexConfigFromJson(json::parse(R"({"type": "lsh"})"), 8).status(),
                "index.type 'lsh' is unknown");
  ExpectInvalid(IndexConfigFromJson(json::parse(R"({"type": "ivf_flat", "nlist": 0})"), 8).status(),
                "index.nlist must be in [1, 65536], got 0");
}

class PointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.CreateCollection({}, {"c", 3, Metric::kL2, {}}).ok());
  }
  std::vector<Record> GetAll(std::vector<PointId> ids, bool with_vector = true) {
    auto r = store_.Get({}, "c", ids, true, with_vector);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<Record>{};
  }
  std::vector<ScoredPoint> Nearest(std::vector<float> q, int64_t k = 10) {
    SearchRequest req;
    req.vector = std::move(q);
    req.k = k;
    auto r = store_.Search({}, "c", req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<ScoredPoint>{};
  }
  LocalStore store_;
};

TEST_F(PointsTest, UpsertReplacesAndTheOldVectorNeverComesBack) {
  ASSERT_TRUE(store_
                  .Upsert({}, "c",
                          {{uint64_t{1}, {0, 0, 0}, {{"v", 1}}}, {std::string("1"), {5, 5, 5}, {}}})
                  .ok());
  ASSERT_TRUE(store_.Upsert({}, "c", {{uint64_t{1}, {10, 10, 10}, {{"v", 2}}}}).ok());
  auto got = GetAll({uint64_t{1}, std::string("1"), uint64_t{2}});
  ASSERT_EQ(got.size(), 2u) << "unknown ids are left out";
  EXPECT_EQ(*got[0].vector, (std::vector<float>{10, 10, 10}));
  EXPECT_EQ(*got[0].payload, json({{"v", 2}}));
  EXPECT_EQ(got[1].id, PointId(std::string("1"))) << "7 and \"7\" are different ids";
  EXPECT_EQ(*got[1].payload, json::object());
  EXPECT_EQ(*store_.Count({}, "c", nullptr), 2u);
  auto near_origin = Nearest({0, 0, 0});
  ASSERT_EQ(near_origin.size(), 2u);
  EXPECT_EQ(near_origin[0].id, PointId(std::string("1")));
  EXPECT_FLOAT_EQ(near_origin[0].score, std::sqrt(75.0f)) << "l2 score is the Euclidean distance";
  EXPECT_EQ(near_origin[1].id, PointId(uint64_t{1}));
  EXPECT_FLOAT_EQ(near_origin[1].score, std::sqrt(300.0f));
}

TEST_F(PointsTest, DeletedPointsNeverComeBack) {
  std::vector<Point> points;
  for (uint64_t i = 0; i < 100; ++i) points.push_back({i, {float(i), 0, 0}, {{"i", i}}});
  ASSERT_TRUE(store_.Upsert({}, "c", points).ok());
  auto deleted = store_.Delete({}, "c", {uint64_t{0}, uint64_t{1}, uint64_t{500}});
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 2u) << "only existing ids count";
  auto filter = *Filter::Parse(json::parse(R"({"must": [{"key": "i", "range": {"lt": 10}}]})"), {});
  auto by_filter = store_.DeleteByFilter({}, "c", filter);
  ASSERT_TRUE(by_filter.ok());
  EXPECT_EQ(*by_filter, 8u);
  EXPECT_EQ(*store_.Count({}, "c", nullptr), 90u);
  EXPECT_TRUE(GetAll({uint64_t{0}, uint64_t{5}}).empty());
  auto results = Nearest({0, 0, 0}, 1000);
  ASSERT_EQ(results.size(), 90u);
  EXPECT_EQ(results[0].id, PointId(uint64_t{10}));
  for (const auto& r : results) EXPECT_GE(std::get<uint64_t>(r.id), 10u);
}

TEST_F(PointsTest, ScrollVisitsEveryPointOnceEvenWhileWritesGoOn) {
  std::vector<Point> points;
  for (uint64_t i = 0; i < 250; ++i) points.push_back({i, {1, 2, 3}, {}});
  for (int i = 0; i < 50; ++i) points.push_back({"s" + std::to_string(i), {1, 2, 3}, {}});
  ASSERT_TRUE(store_.Upsert({}, "c", points).ok());
  std::multiset<std::string> seen;
  ScrollRequest request;
  request.limit = 7;
  int pages = 0;
  for (;; ++pages) {
    auto page = store_.Scroll({}, "c", request);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const Record& r : page->points) seen.insert(PointIdToString(r.id));
    // Rewriting points that were already visited must not make them appear twice.
    if (!page->points.empty()) {
      ASSERT_TRUE(store_.Upsert({}, "c", {{page->points.front().id, {3, 2, 1}, {}}}).ok());
    }
    if (!page->next_cursor) break;
    request.cursor = page->next_cursor;
  }
  EXPECT_EQ(pages, 300 / 7);
  EXPECT_EQ(seen.size(), 300u);
  for (const auto& id : seen) EXPECT_EQ(seen.count(id), 1u) << id;
  request.cursor = "nonsense";
  ExpectInvalid(store_.Scroll({}, "c", request).status(),
                "is not a next_cursor returned by scroll");
  request.cursor.reset();
  request.limit = 0;
  ExpectInvalid(store_.Scroll({}, "c", request).status(), "limit must be in [1, 10000], got 0");
}

TEST_F(PointsTest, SetPayloadMergesOrReplaces) {
  ASSERT_TRUE(
      store_.Upsert({}, "c", {{uint64_t{1}, {1, 1, 1}, {{"a", 1}, {"b", {{"x", 1}}}}}}).ok());
  auto n = store_.SetPayload({}, "c", {uint64_t{1}, uint64_t{2}}, {{"b", 2}, {"c", 3}},
                             PayloadMode::kMerge);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(*GetAll({uint64_t{1}})[0].payload, json({{"a", 1}, {"b", 2}, {"c", 3}}))
      << "merge sets the given top-level keys and keeps the others";
  ASSERT_TRUE(store_.SetPayload({}, "c", {uint64_t{1}}, {{"z", true}}, PayloadMode::kReplace).ok());
  auto got = GetAll({uint64_t{1}});
  EXPECT_EQ(*got[0].payload, json({{"z", true}})) << "replace sets the whole payload";
  EXPECT_EQ(*got[0].vector, (std::vector<float>{1, 1, 1})) << "the vector is untouched";
}

TEST_F(PointsTest, BadInputIsRefusedAndChangesNothing) {
  ASSERT_TRUE(store_.Upsert({}, "c", {{uint64_t{1}, {1, 1, 1}, {{"keep", true}}}}).ok());
  auto unchanged = [&] {
    EXPECT_EQ(*store_.Count({}, "c", nullptr), 1u);
    auto got = GetAll({uint64_t{1}, uint64_t{2}});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(*got[0].vector, (std::vector<float>{1, 1, 1}));
    EXPECT_EQ(*got[0].payload, json({{"keep", true}}));
  };
  auto upsert = [&](std::vector<Point> p) { return store_.Upsert({}, "c", std::move(p)).status(); };
  const float nan = std::nanf(""), inf = INFINITY;
  // One bad point in a batch: none of the batch is applied.
  ExpectInvalid(upsert({{uint64_t{2}, {1, 1, 1}, {}}, {uint64_t{3}, {1, 1}, {}}}),
                "points[1].vector has 2 values; collection 'c' has dimension 3");
  ExpectInvalid(upsert({{uint64_t{2}, {1, nan, 1}, {}}}), "points[0].vector[1] is NaN");
  ExpectInvalid(upsert({{uint64_t{2}, {1, 1, inf}, {}}}), "points[0].vector[2] is infinite");
  ExpectInvalid(upsert({{uint64_t{1}, {2, 2, 2}, {}}, {uint64_t{1}, {3, 3, 3}, {}}}),
                "points[1].id 1 repeats points[0].id");
  ExpectInvalid(upsert({{uint64_t{1}, {2, 2, 2}, json::array({1})}}),
                "points[0].payload must be a JSON object, got array");
  ExpectInvalid(upsert({{uint64_t{1}, {2, 2, 2}, {{"big", std::string(70000, 'x')}}}}),
                "points[0].payload is 70010 bytes serialized; the limit is 65536");
  ExpectInvalid(upsert({{std::string(300, 'x'), {2, 2, 2}, {}}}),
                "points[0].id is 300 bytes; the limit is 256");
  ExpectInvalid(upsert(std::vector<Point>(10001, Point{uint64_t{9}, {1, 1, 1}, {}})),
                "points has 10001 entries; the limit is 10000");
  ExpectInvalid(
      store_.SetPayload({}, "c", {uint64_t{1}}, json::array(), PayloadMode::kMerge).status(),
      "payload must be a JSON object, got array");
  ExpectInvalid(store_
                    .SetPayload({}, "c", {uint64_t{1}}, {{"big", std::string(65520, 'x')}},
                                PayloadMode::kMerge)
                    .status(),
                "payload merged into ids[0] is");
  unchanged();

  auto search = [&](SearchRequest r) { return store_.Search({}, "c", r).status(); };
  SearchRequest ok;
  ok.vector = {1, 1, 1};
  SearchRequest r = ok;
  r.vector = {1, 1};
  ExpectInvalid(search(r), "vector has 2 values; collection 'c' has dimension 3");
  r = ok;
  r.vector[0] = nan;
  ExpectInvalid(search(r), "vector[0] is NaN");
  r = ok;
  r.k = 0;
  ExpectInvalid(search(r), "k must be in [1, 10000], got 0");
  r.k = 10001;
  ExpectInvalid(search(r), "k must be in [1, 10000], got 10001");
  r = ok;
  r.params.ef_search = 0;
  ExpectInvalid(search(r), "params.ef_search must be in [1, 32768], got 0");
  std::vector<SearchRequest> batch(3, ok);
  batch[2].k = -1;
  ExpectInvalid(store_.SearchBatch({}, "c", batch).status(), "searches[2].k must be in [1, 10000]");
  EXPECT_EQ(store_.Search({}, "nope", ok).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.Search({}, "nope", ok).status().message(), "collection 'nope' not found");
  unchanged();
}

TEST_F(PointsTest, ACallWhoseDeadlinePassedIsRefusedAndChangesNothing) {
  ASSERT_TRUE(store_.Upsert({}, "c", {{uint64_t{1}, {1, 1, 1}, {{"keep", true}}}}).ok());
  EXPECT_FALSE(CallOptions{}.Expired()) << "no deadline";
  EXPECT_FALSE(CallOptions::WithTimeout(std::chrono::hours(1)).Expired());
  EXPECT_FALSE(CallOptions::WithTimeout(CallOptions::Clock::duration::max()).Expired())
      << "a timeout too large to represent is no deadline";
  const CallOptions expired = CallOptions::WithTimeout(-std::chrono::milliseconds(1));
  ASSERT_TRUE(expired.Expired());
  auto refused = [](const Status& s, const std::string& operation) {
    EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
    EXPECT_EQ(s.message(), operation + " was not started: its deadline had passed");
  };
  const std::vector<Point> points = {{uint64_t{2}, {2, 2, 2}, {}}};
  const Filter all =
      *Filter::Parse(json::parse(R"({"must": [{"key": "keep", "match": {"value": true}}]})"), {});
  SearchRequest q;
  q.vector = {1, 1, 1};
  refused(store_.CreateCollection(expired, {"d", 3, Metric::kL2, {}}).status(), "CreateCollection");
  refused(store_.GetCollection(expired, "c").status(), "GetCollection");
  refused(store_.ListCollections(expired).status(), "ListCollections");
  refused(store_.DropCollection(expired, "c"), "DropCollection");
  refused(store_.ValidateUpsert(expired, "c", points), "ValidateUpsert");
  refused(store_.Upsert(expired, "c", points).status(), "Upsert");
  refused(store_.Delete(expired, "c", {uint64_t{1}}).status(), "Delete");
  refused(store_.DeleteByFilter(expired, "c", all).status(), "DeleteByFilter");
  refused(store_.SetPayload(expired, "c", {uint64_t{1}}, {{"keep", false}}, PayloadMode::kMerge)
              .status(),
          "SetPayload");
  refused(store_.Get(expired, "c", {uint64_t{1}}, true, true).status(), "Get");
  refused(store_.Count(expired, "c", nullptr).status(), "Count");
  refused(store_.Scroll(expired, "c", ScrollRequest{}).status(), "Scroll");
  refused(store_.Search(expired, "c", q).status(), "Search");
  refused(store_.SearchBatch(expired, "c", {q}).status(), "SearchBatch");
  refused(store_.Upsert(expired, "nope", points).status(), "Upsert");

  auto collections = store_.ListCollections({});
  ASSERT_EQ(collections->size(), 1u) << "nothing created, nothing dropped";
  EXPECT_EQ((*collections)[0].config.name, "c");
  auto got = GetAll({uint64_t{1}, uint64_t{2}});
  ASSERT_EQ(got.size(), 1u) << "nothing upserted, nothing deleted";
  EXPECT_EQ(*got[0].payload, json({{"keep", true}})) << "no payload set";

  const CallOptions in_time = CallOptions::WithTimeout(std::chrono::minutes(1));
  EXPECT_TRUE(store_.Upsert(in_time, "c", points).ok());
  EXPECT_EQ(*store_.Count(in_time, "c", nullptr), 2u);
}

TEST_F(PointsTest, ValidateUpsertRefusesABadBatchWholeAndWritesNothing) {
  std::vector<Point> batch = {{uint64_t{1}, {1, 1, 1}, {}}, {uint64_t{2}, {1, 1}, {}}};
  ExpectInvalid(store_.ValidateUpsert({}, "c", batch),
                "points[1].vector has 2 values; collection 'c' has dimension 3");
  batch[1] = {uint64_t{1}, {2, 2, 2}, {}};
  ExpectInvalid(store_.ValidateUpsert({}, "c", batch), "points[1].id 1 repeats points[0].id");
  EXPECT_EQ(*store_.Count({}, "c", nullptr), 0u) << "not even the good point";
  batch[1].id = uint64_t{2};
  EXPECT_TRUE(store_.ValidateUpsert({}, "c", batch).ok());
  EXPECT_EQ(*store_.Count({}, "c", nullptr), 0u) << "a valid batch is not written either";
  EXPECT_EQ(store_.ValidateUpsert({}, "nope", batch).code(), StatusCode::kNotFound);

  // The limit on points per request is the upsert's alone: a job is checked whole, then written
  // in parts.
  std::vector<Point> many;
  for (uint64_t i = 0; i < 10'001; ++i) many.push_back({i, {1, 1, 1}, {}});
  EXPECT_TRUE(store_.ValidateUpsert({}, "c", many).ok());
  ExpectInvalid(store_.Upsert({}, "c", many).status(),
                "points has 10001 entries; the limit is 10000");
}

TEST(MetricsTest, ScoresFollowTheApiConvention) {
  LocalStore store;
  ASSERT_TRUE(store.CreateCollection({}, {"ip", 2, Metric::kIp, {}}).ok());
  ASSERT_TRUE(store.CreateCollection({}, {"cos", 2, Metric::kCosine, {}}).ok());
  std::vector<Point> points = {
      {uint64_t{1}, {1, 0}, {}}, {uint64_t{2}, {3, 3}, {}}, {uint64_t{3}, {-2, 0}, {}}};
  ASSERT_TRUE(store.Upsert({}, "ip", points).ok());
  ASSERT_TRUE(store.Upsert({}, "cos", points).ok());
  SearchRequest q;
  q.vector = {2, 0};
  auto ip = *store.Search({}, "ip", q);
  ASSERT_EQ(ip.size(), 3u);
  EXPECT_EQ(ip[0].id, PointId(uint64_t{2}));
  EXPECT_FLOAT_EQ(ip[0].score, 6.0f);
  EXPECT_FLOAT_EQ(ip[2].score, -4.0f);
  auto cos = *store.Search({}, "cos", q);
  ASSERT_EQ(cos.size(), 3u);
  EXPECT_EQ(cos[0].id, PointId(uint64_t{1}));
  EXPECT_NEAR(cos[0].score, 1.0f, 1e-6);
  EXPECT_NEAR(cos[1].score, std::sqrt(0.5f), 1e-6);
  EXPECT_NEAR(cos[2].score, -1.0f, 1e-6);
  q.score_threshold = 0.5f;
  EXPECT_EQ(store.Search({}, "cos", q)->size(), 2u) << "cosine keeps scores >= threshold";
  q.with_vector = true;
  auto with_vectors = *store.Search({}, "cos", q);
  EXPECT_NEAR((*with_vectors[1].vector)[0], std::sqrt(0.5f), 1e-6)
      << "cosine vectors are stored normalised";
  ExpectInvalid(store.Upsert({}, "cos", {{uint64_t{4}, {0, 0}, {}}}).status(),
                "points[0].vector is all zeros");
}

}  // namespace
}  // namespace vecmesh::engine
