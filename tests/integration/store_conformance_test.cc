// Store conformance: one suite over every VectorStore operation, run with the same assertions
// against the local engine ("faiss": LocalStore, in memory), against ChromaStore ("chroma") on
// the real Chroma server of the CTest fixture `chroma` (its URL is in the file that
// VECMESH_CHROMA_URL_FILE names; without that variable the chroma cases are skipped), against
// QdrantStore ("qdrant") on the Qdrant double of the fixture `qdrant` (VECMESH_QDRANT_URL_FILE;
// the double validates every request and answer against Qdrant's OpenAPI document, and the
// fixture fails the run on any violation), and against QdrantStore on a real Qdrant
// ("qdrant_live") when QDRANT_URL (and QDRANT_API_KEY) is set: otherwise those cases say
// SKIPPED and why.
//
// What is asserted is the VectorStore contract (engine/vector_store.h, engine/types.h,
// engine/filter.h, API.md): searches return the exact answer (computed here in double precision)
// with scores in this API's convention within 1e-4; filters, deletes, payload and id round trips
// (7 and "7" are different ids; every id reads back as exactly the id written, type included).
// Where a remote store differs by design (adapters/chroma/chroma_store.h,
// adapters/qdrant/qdrant_store.h), the difference is asserted on both sides: what it cannot hold
// or express is refused with InvalidArgument naming the field or the condition, and accepted by
// the local store. Search parameters are not Chroma's to take, so none are set here.
//
// Each test uses collections of its own, named uniquely per store, test and process (the Chroma
// server and the Qdrant double are shared by every test of the run), and drops them in TearDown,
// also on failure.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/chroma/chroma_store.h"
#include "adapters/qdrant/qdrant_store.h"
#include "engine/store/local_store.h"
#include "tests/support/synthetic.h"

namespace vecmesh {
namespace {

using engine::CallOptions;
using engine::CollectionConfig;
using engine::CollectionInfo;
using engine::Filter;
using engine::Metric;
using engine::PayloadMode;
using engine::Point;
using engine::PointId;
using engine::Record;
using engine::ScoredPoint;
using engine::ScrollPage;
using engine::ScrollRequest;
using engine::SearchRequest;
using engine::Status;
using engine::StatusCode;
using engine::StatusOr;
using nlohmann::json;

// ---- helpers --------------------------------------------------------------------------------

std::string Show(const Status& s) { return s.ToString(); }
template <typename T>
std::string Show(const StatusOr<T>& s) {
  return s.status().ToString();
}

#define CONF_CAT2(a, b) a##b
#define CONF_CAT(a, b) CONF_CAT2(a, b)
#define ASSERT_OK(expr)                                               \
  do {                                                                \
    const auto conf_result = (expr);                                  \
    ASSERT_TRUE(conf_result.ok()) << #expr ": " << Show(conf_result); \
  } while (0)
#define EXPECT_OK(expr)                                               \
  do {                                                                \
    const auto conf_result = (expr);                                  \
    EXPECT_TRUE(conf_result.ok()) << #expr ": " << Show(conf_result); \
  } while (0)
// ASSERT_OK_AND_ASSIGN(auto x, store().Count(...)): x is the value; the test stops on an error.
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                  \
  auto CONF_CAT(conf_or_, __LINE__) = (expr);                            \
  ASSERT_TRUE(CONF_CAT(conf_or_, __LINE__).ok())                         \
      << #expr ": " << CONF_CAT(conf_or_, __LINE__).status().ToString(); \
  lhs = std::move(*CONF_CAT(conf_or_, __LINE__))

PointId I(uint64_t v) { return PointId(v); }
PointId S(std::string v) { return PointId(std::move(v)); }
std::string Show(const PointId& id) { return engine::PointIdToString(id); }
// prefix + i. (Not "p" + std::to_string(i): GCC 12 warns about it, wrongly, -Wrestrict.)
std::string Numbered(std::string prefix, size_t i) { return prefix.append(std::to_string(i)); }

// The helpers below report failures at their caller's line (`where`).
#define CONF_TRACE_CALLER(where) \
  ::testing::ScopedTrace conf_trace((where).file_name(), int((where).line()), "called from here")

void ExpectCode(const Status& s, StatusCode code, const std::vector<std::string>& fragments,
                std::source_location where = std::source_location::current()) {
  CONF_TRACE_CALLER(where);
  EXPECT_EQ(s.code(), code) << "expected " << engine::CodeName(code) << ", got " << s.ToString();
  for (const std::string& fragment : fragments) {
    EXPECT_NE(s.message().find(fragment), std::string::npos)
        << "message '" << s.message() << "' lacks '" << fragment << "'";
  }
}
void ExpectInvalid(const Status& s, const std::vector<std::string>& fragments,
                   std::source_location where = std::source_location::current()) {
  ExpectCode(s, StatusCode::kInvalidArgument, fragments, where);
}
void ExpectNotFound(const Status& s, const std::string& name,
                    std::source_location where = std::source_location::current()) {
  ExpectCode(s, StatusCode::kNotFound, {name}, where);
}

// The message names `name` quoted ('a', "a" or `a`): a bare "a" is in any message.
void ExpectNamesQuoted(const Status& s, const std::string& name,
                       std::source_location where = std::source_location::current()) {
  CONF_TRACE_CALLER(where);
  const std::string& m = s.message();
  bool found = false;
  for (const char* q : {"'", "\"", "`"}) found |= m.find(q + name + q) != std::string::npos;
  EXPECT_TRUE(found) << "message '" << m << "' does not name '" << name << "'";
}

// Payloads compared by their serialization: nlohmann's == takes 1 and 1.0 as equal, and a round
// trip must keep the kind (an integer stays an integer, 1.0 stays a float).
void ExpectPayload(const std::optional<json>& got, const json& want, const std::string& what,
                   std::source_location where = std::source_location::current()) {
  CONF_TRACE_CALLER(where);
  ASSERT_TRUE(got.has_value()) << what << ": no payload";
  EXPECT_EQ(got->dump(), want.dump()) << what;
}

void ExpectVectorNear(const std::optional<std::vector<float>>& got, const std::vector<float>& want,
                      const std::string& what,
                      std::source_location where = std::source_location::current()) {
  CONF_TRACE_CALLER(where);
  ASSERT_TRUE(got.has_value()) << what << ": no vector";
  ASSERT_EQ(got->size(), want.size()) << what;
  for (size_t j = 0; j < want.size(); ++j)
    EXPECT_NEAR((*got)[j], want[j], 1e-6) << what << "[" << j << "]";
}

Filter ParseFilter(const std::string& text) {
  auto parsed = Filter::Parse(json::parse(text), engine::FilterLimits{});
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().ToString();
  return parsed.ok() ? *parsed : Filter{};
}

std::vector<uint64_t> IntIds(const std::vector<ScoredPoint>& results) {
  std::vector<uint64_t> ids;
  for (const ScoredPoint& r : results) {
    if (!std::holds_alternative<uint64_t>(r.id)) {
      ADD_FAILURE() << "expected an integer id, got " << Show(r.id);
      continue;
    }
    ids.push_back(std::get<uint64_t>(r.id));
  }
  return ids;
}

std::string Join(const std::vector<uint64_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

std::vector<float> Row(const testing::Dataset& data, size_t i) {
  return {data.Base(i), data.Base(i) + data.dim};
}
std::vector<float> QueryRow(const testing::Dataset& data, size_t q) {
  return {data.Query(q), data.Query(q) + data.dim};
}

// The vector a store holds for `v` (README "Collections and points"): cosine collections store
// vectors normalised, so with_vector returns the normalised vector.
std::vector<float> Stored(Metric metric, std::vector<float> v) {
  if (metric != Metric::kCosine) return v;
  double norm = 0;
  for (float x : v) norm += double(x) * x;
  norm = std::sqrt(norm);
  for (float& x : v) x = float(x / norm);
  return v;
}

// This API's score for ExactNeighbors' key (lower is better: squared l2, -ip, -cosine).
double ScoreOfKey(Metric metric, double key) {
  return metric == Metric::kL2 ? std::sqrt(key) : -key;
}
bool HigherIsBetter(Metric metric) { return metric != Metric::kL2; }

// The exact answer to a search, in double precision.
struct Exact {
  std::vector<uint64_t> ids;
  std::vector<double> scores;
};

// The exact top k of `query`, or nullopt when two of its first k + 1 scores are closer than
// `margin` (a near tie that float32 arithmetic may order either way).
std::optional<Exact> ExactWithMargin(const testing::Dataset& data, Metric metric,
                                     const float* query, size_t k, const std::vector<bool>* allowed,
                                     double margin) {
  auto neighbors = testing::ExactNeighbors(data, metric, query, k + 1, allowed);
  std::vector<double> scores;
  for (const auto& [key, id] : neighbors) scores.push_back(ScoreOfKey(metric, key));
  for (size_t j = 0; j + 1 < scores.size(); ++j) {
    if (std::abs(scores[j + 1] - scores[j]) < margin) return std::nullopt;
  }
  Exact exact;
  for (size_t j = 0; j < std::min(k, neighbors.size()); ++j) {
    exact.ids.push_back(neighbors[j].second);
    exact.scores.push_back(scores[j]);
  }
  return exact;
}

constexpr double kScoreTolerance = 1e-4;
constexpr double kTieMargin = 1e-3;

void ExpectExactAnswer(const std::vector<ScoredPoint>& results, const Exact& exact,
                       const std::string& what,
                       std::source_location where = std::source_location::current()) {
  CONF_TRACE_CALLER(where);
  EXPECT_EQ(Join(IntIds(results)), Join(exact.ids)) << what << ": ids";
  for (size_t j = 0; j < std::min(results.size(), exact.scores.size()); ++j) {
    EXPECT_NEAR(results[j].score, exact.scores[j], kScoreTolerance)
        << what << ": score of result " << j << " (id " << Show(results[j].id) << ")";
  }
}

// ---- the data of the filter tests -----------------------------------------------------------

// Payload fields of point i: a string with some points lacking it, an integer field (negative
// values included), a bool, a float field (exact -2.5 and 2.5 among its values, and integral
// floats such as 1.0), a field that is an integer in some points and a float in others, and a
// unicode string.
struct FilterData {
  static constexpr size_t kPoints = 300;
  static constexpr uint32_t kDim = 16;
  static bool HasColor(size_t i) { return i % 13 != 0; }
  static std::string Color(size_t i) {
    static const char* const kColors[] = {"red", "green", "blue"};
    return kColors[i % 3];
  }
  static bool IsColor(size_t i, const std::string& c) { return HasColor(i) && Color(i) == c; }
  static int64_t N(size_t i) { return int64_t(i % 11) - 5; }  // -5..5
  static bool Flag(size_t i) { return i % 4 == 0; }
  static double F(size_t i) { return double(i % 21) * 0.25 - 2.5; }  // -2.5..2.5, step 0.25
  static double M(size_t i) {                                        // int if i even
    return double(int64_t(i % 7) - 3) + (i % 2 == 0 ? 0.0 : 0.5);
  }
  static std::string Tag(size_t i) { return i % 5 == 0 ? "日本" : "x"; }
  static json Payload(size_t i) {
    json p = {{"n", N(i)}, {"flag", Flag(i)}, {"f", F(i)}, {"tag", Tag(i)}};
    if (HasColor(i)) p["color"] = Color(i);
    if (i % 2 == 0) {
      p["m"] = int64_t(M(i));
    } else {
      p["m"] = M(i);
    }
    return p;
  }
  static std::vector<Point> Points(const testing::Dataset& data) {
    std::vector<Point> points;
    for (size_t i = 0; i < data.num_base(); ++i) points.push_back({I(i), Row(data, i), Payload(i)});
    return points;
  }
};

struct FilterCase {
  std::string name;
  std::string filter;  // FILTER JSON
  std::function<bool(size_t)> keeps;
};

// Every filter here is expressible in Chroma's `where` (no has_id, is_empty, except, dotted
// key, or range under must_not): both stores must answer them exactly.
const std::vector<FilterCase>& FilterCases() {
  using D = FilterData;
  static const std::vector<FilterCase> cases = [] {
    std::vector<FilterCase> cases = {
        {"match_string", R"({"must": [{"key": "color", "match": {"value": "red"}}]})",
         [](size_t i) { return D::IsColor(i, "red"); }},
        {"match_unicode_string", R"({"must": [{"key": "tag", "match": {"value": "日本"}}]})",
         [](size_t i) { return D::Tag(i) == "日本"; }},
        {"match_negative_int", R"({"must": [{"key": "n", "match": {"value": -3}}]})",
         [](size_t i) { return D::N(i) == -3; }},
        {"match_bool_true", R"({"must": [{"key": "flag", "match": {"value": true}}]})",
         [](size_t i) { return D::Flag(i); }},
        {"match_bool_false", R"({"must": [{"key": "flag", "match": {"value": false}}]})",
         [](size_t i) { return !D::Flag(i); }},
        // filter.h: "an integral float payload value equals that integer".
        {"match_int_on_integral_float", R"({"must": [{"key": "f", "match": {"value": 1}}]})",
         [](size_t i) { return D::F(i) == 1.0; }},
        {"match_int_on_mixed_field", R"({"must": [{"key": "m", "match": {"value": 2}}]})",
         [](size_t i) { return D::M(i) == 2.0; }},
        {"match_nothing", R"({"must": [{"key": "color", "match": {"value": "purple"}}]})",
         [](size_t) { return false; }},
        {"match_unknown_key", R"({"must": [{"key": "nope", "match": {"value": 1}}]})",
         [](size_t) { return false; }},
        {"match_any_string", R"({"must": [{"key": "color", "match": {"any": ["red", "blue"]}}]})",
         [](size_t i) { return D::IsColor(i, "red") || D::IsColor(i, "blue"); }},
        {"match_any_int", R"({"must": [{"key": "n", "match": {"any": [0, 1, -5]}}]})",
         [](size_t i) { return D::N(i) == 0 || D::N(i) == 1 || D::N(i) == -5; }},
        {"range_int_gt_-2.5_lt_2.5",
         R"({"must": [{"key": "n", "range": {"gt": -2.5, "lt": 2.5}}]})",
         [](size_t i) { return D::N(i) > -2.5 && D::N(i) < 2.5; }},
        {"range_int_gte_-0.5_lte_0.5",
         R"({"must": [{"key": "n", "range": {"gte": -0.5, "lte": 0.5}}]})",
         [](size_t i) { return D::N(i) == 0; }},
        {"range_int_integral_bounds", R"({"must": [{"key": "n", "range": {"gt": -2, "lte": 3}}]})",
         [](size_t i) { return D::N(i) > -2 && D::N(i) <= 3; }},
        {"range_float_gt_-2.5", R"({"must": [{"key": "f", "range": {"gt": -2.5}}]})",
         [](size_t i) { return D::F(i) > -2.5; }},
        {"range_float_gte_-2.5_lte_2.5",
         R"({"must": [{"key": "f", "range": {"gte": -2.5, "lte": 2.5}}]})",
         [](size_t) { return true; }},
        {"range_float_lt_2.5", R"({"must": [{"key": "f", "range": {"lt": 2.5}}]})",
         [](size_t i) { return D::F(i) < 2.5; }},
        {"range_float_lte_-2.5", R"({"must": [{"key": "f", "range": {"lte": -2.5}}]})",
         [](size_t i) { return D::F(i) <= -2.5; }},
        {"range_float_integral_bounds",
         R"({"must": [{"key": "f", "range": {"gt": -1, "lte": 1}}]})",
         [](size_t i) { return D::F(i) > -1 && D::F(i) <= 1; }},
        {"range_float_gte_0.3", R"({"must": [{"key": "f", "range": {"gte": 0.3}}]})",
         [](size_t i) { return D::F(i) >= 0.3; }},
        {"range_mixed_lt_1.5", R"({"must": [{"key": "m", "range": {"lt": 1.5}}]})",
         [](size_t i) { return D::M(i) < 1.5; }},
        {"range_mixed_gte_-0.5", R"({"must": [{"key": "m", "range": {"gte": -0.5}}]})",
         [](size_t i) { return D::M(i) >= -0.5; }},
        {"range_mixed_gt_2", R"({"must": [{"key": "m", "range": {"gt": 2}}]})",
         [](size_t i) { return D::M(i) > 2; }},
        {"must_two", R"({"must": [{"key": "color", "match": {"value": "red"}},
                                {"key": "n", "range": {"gte": 0}}]})",
         [](size_t i) { return D::IsColor(i, "red") && D::N(i) >= 0; }},
        {"should_two", R"({"should": [{"key": "color", "match": {"value": "red"}},
                                    {"key": "flag", "match": {"value": true}}]})",
         [](size_t i) { return D::IsColor(i, "red") || D::Flag(i); }},
        // must_not holds for points without the key.
        {"must_not_match", R"({"must_not": [{"key": "color", "match": {"value": "green"}}]})",
         [](size_t i) { return !D::IsColor(i, "green"); }},
        {"must_not_any", R"({"must_not": [{"key": "color", "match": {"any": ["red", "green"]}}]})",
         [](size_t i) { return !D::IsColor(i, "red") && !D::IsColor(i, "green"); }},
        {"must_should_must_not",
         R"({"must": [{"key": "n", "range": {"gte": -2.5}}],
           "should": [{"key": "color", "match": {"value": "red"}},
                      {"key": "flag", "match": {"value": true}}],
           "must_not": [{"key": "tag", "match": {"value": "日本"}}]})",
         [](size_t i) {
           return D::N(i) >= -2.5 && (D::IsColor(i, "red") || D::Flag(i)) && D::Tag(i) != "日本";
         }},
        {"nested_should_and_must_not",
         R"({"must": [{"should": [{"key": "color", "match": {"value": "red"}},
                                {"key": "color", "match": {"value": "blue"}}]},
                    {"must_not": [{"key": "flag", "match": {"value": true}}]}]})",
         [](size_t i) { return (D::IsColor(i, "red") || D::IsColor(i, "blue")) && !D::Flag(i); }},
        {"must_not_nested_must",
         R"({"must_not": [{"must": [{"key": "color", "match": {"value": "red"}},
                                  {"key": "flag", "match": {"value": true}}]}]})",
         [](size_t i) { return !(D::IsColor(i, "red") && D::Flag(i)); }},
        {"must_not_nested_should",
         R"({"must_not": [{"should": [{"key": "color", "match": {"value": "red"}},
                                    {"key": "flag", "match": {"value": true}}]}]})",
         [](size_t i) { return !(D::IsColor(i, "red") || D::Flag(i)); }},
        {"should_ranges_with_must",
         R"({"must": [{"key": "color", "match": {"any": ["red", "green"]}}],
           "should": [{"key": "n", "range": {"lt": -2.5}}, {"key": "f", "range": {"gt": 1.5}}]})",
         [](size_t i) {
           return (D::IsColor(i, "red") || D::IsColor(i, "green")) &&
                  (D::N(i) < -2.5 || D::F(i) > 1.5);
         }},
        {"nested_two_levels",
         R"({"should": [{"must": [{"key": "m", "range": {"gte": 0.5, "lt": 2.5}},
                                {"should": [{"key": "tag", "match": {"value": "日本"}},
                                            {"key": "n", "match": {"any": [4, 5]}}]}]},
                      {"key": "f", "range": {"lte": -2.25}}]})",
         [](size_t i) {
           return (D::M(i) >= 0.5 && D::M(i) < 2.5 && (D::Tag(i) == "日本" || D::N(i) >= 4)) ||
                  D::F(i) <= -2.25;
         }},
        {"empty_filter", R"({})", [](size_t) { return true; }},
        {"match_any_mixed_types", R"({"must": [{"key": "n", "match": {"any": [0, "red", true]}}]})",
         [](size_t i) { return D::N(i) == 0; }},
    };
    // Every range operator with fractional bounds of both signs, on the integer field n, the
    // float field f and the mixed field m (an integer in some points, a float in others).
    struct Field {
      const char* key;
      double (*value)(size_t);
    };
    const Field fields[] = {{"n", [](size_t i) { return double(D::N(i)); }},
                            {"f", [](size_t i) { return D::F(i); }},
                            {"m", [](size_t i) { return D::M(i); }}};
    const char* const ops[] = {"gt", "gte", "lt", "lte"};
    for (const Field& field : fields) {
      for (const char* op : ops) {
        for (double bound : {-2.5, -0.5, 0.5, 2.5}) {
          const std::string b = json(bound).dump();
          const std::string kind = field.key == std::string("n")   ? "int"
                                   : field.key == std::string("f") ? "float"
                                                                   : "mixed";
          const std::string o = op;
          auto value = field.value;
          cases.push_back({"range_" + kind + "_" + o + "_" + b,
                           R"({"must": [{"key": ")" + std::string(field.key) + R"(", "range": {")" +
                               o + R"(": )" + b + "}}]}",
                           [value, o, bound](size_t i) {
                             const double v = value(i);
                             return o == "gt"    ? v > bound
                                    : o == "gte" ? v >= bound
                                    : o == "lt"  ? v < bound
                                                 : v <= bound;
                           }});
        }
      }
    }
    return cases;
  }();
  return cases;
}

// ---- the fixture ----------------------------------------------------------------------------

class StoreConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "faiss") {
      store_ = std::make_unique<engine::LocalStore>();
      return;
    }
    if (GetParam() == "qdrant_live") {
      const char* url = std::getenv("QDRANT_URL");
      if (url == nullptr || *url == '\0') {
        GTEST_SKIP() << "SKIPPED: QDRANT_URL is not set: no real Qdrant for this run (set "
                        "QDRANT_URL, and QDRANT_API_KEY if it asks for one, to run this suite "
                        "against it; the qdrant cases ran against the Qdrant double)";
      }
      adapters::QdrantOptions options;
      options.url = url;
      if (const char* key = std::getenv("QDRANT_API_KEY")) options.api_key = key;
      return Connect<adapters::QdrantStore>(options);
    }
    const char* variable =
        GetParam() == "chroma" ? "VECMESH_CHROMA_URL_FILE" : "VECMESH_QDRANT_URL_FILE";
    const char* file = std::getenv(variable);
    if (file == nullptr || *file == '\0') {
      GTEST_SKIP() << variable << " is not set: no " << GetParam()
                   << " server for this run (ctest starts one: the fixtures of "
                      "tests/integration)";
    }
    std::ifstream in(file);
    std::string url;
    ASSERT_TRUE(in && std::getline(in, url)) << "cannot read the URL from " << file;
    while (!url.empty() && std::isspace(static_cast<unsigned char>(url.back()))) url.pop_back();
    if (GetParam() == "chroma") {
      adapters::ChromaOptions options;
      options.url = url;
      return Connect<adapters::ChromaStore>(options);
    }
    adapters::QdrantOptions options;
    options.url = url;
    Connect<adapters::QdrantStore>(options);
  }

  // The store `options` name, once its server answers.
  template <typename Store, typename Options>
  void Connect(const Options& options) {
    auto store = Store::Create(options);
    ASSERT_TRUE(store.ok()) << options.url << ": " << store.status().ToString();
    ASSERT_OK((*store)->Heartbeat(CallOptions::WithTimeout(std::chrono::seconds(10))));
    store_ = std::move(*store);
  }

  void TearDown() override {
    if (!store_) return;
    for (const std::string& name : names_) {
      Status s = store_->DropCollection(CallOptions::WithTimeout(std::chrono::seconds(30)), name);
      EXPECT_TRUE(s.ok() || s.code() == StatusCode::kNotFound)
          << "dropping " << name << ": " << s.ToString();
    }
  }

  bool chroma() const { return GetParam() == "chroma"; }
  bool qdrant() const { return GetParam().starts_with("qdrant"); }
  // A store over the network, whose ValidateUpsert asks no server (engine/vector_store.h).
  bool remote() const { return GetParam() != "faiss"; }
  engine::VectorStore& store() { return *store_; }

  // A collection name of this store, test and process (3 to 64 characters of [A-Za-z0-9_-],
  // starting and ending with a letter or a digit), dropped in TearDown.
  std::string NewName(std::string_view tag) {
    static const std::string process = [] {
      std::random_device entropy;
      char suffix[32];
      std::snprintf(suffix, sizeof suffix, "%d%04x", int(getpid()), unsigned(entropy() & 0xffff));
      return std::string(suffix);
    }();
    static std::atomic<int> counter{0};
    std::string name = "vc-" + GetParam() + "-" + process + "-" + std::to_string(counter++) + "-" +
                       std::string(tag);
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    }
    name.resize(std::min<size_t>(name.size(), 64));
    while (!std::isalnum(static_cast<unsigned char>(name.back()))) name.pop_back();
    names_.push_back(name);
    return name;
  }

  // A remote store's index is its HNSW; the local store's exact flat index gives the reference
  // answer.
  CollectionConfig Config(const std::string& name, uint32_t dim, Metric metric) const {
    CollectionConfig config;
    config.name = name;
    config.dimension = dim;
    config.metric = metric;
    config.index.type = remote() ? engine::IndexType::kHnsw : engine::IndexType::kFlat;
    return config;
  }

  // Creates a new collection; its name, or "" after a failure (recorded).
  std::string Create(std::string_view tag, uint32_t dim, Metric metric) {
    std::string name = NewName(tag);
    auto created = store().CreateCollection({}, Config(name, dim, metric));
    if (!created.ok() || !*created) {
      ADD_FAILURE() << "creating " << name << ": "
                    << (created.ok() ? "not created" : created.status().ToString());
      return "";
    }
    return name;
  }

  // Upserts `points`; false after a failure (recorded).
  bool Put(const std::string& name, std::vector<Point> points) {
    const size_t n = points.size();
    auto written = store().Upsert({}, name, std::move(points));
    if (!written.ok()) {
      ADD_FAILURE() << "upsert into " << name << ": " << written.status().ToString();
      return false;
    }
    EXPECT_EQ(*written, n) << "upsert returns the number of points written";
    return *written == n;
  }

  size_t CountOf(const std::string& name, const Filter* filter = nullptr) {
    auto n = store().Count({}, name, filter);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : size_t(-1);
  }

  // Every record of a scroll over `request` (pages of request.limit), each page checked.
  std::vector<Record> ScrollAll(const std::string& name, ScrollRequest request) {
    std::vector<Record> all;
    for (int page = 0; page < 10000; ++page) {
      auto got = store().Scroll({}, name, request);
      if (!got.ok()) {
        ADD_FAILURE() << "scroll page " << page << ": " << got.status().ToString();
        return all;
      }
      EXPECT_LE(int64_t(got->points.size()), request.limit) << "page " << page;
      for (Record& r : got->points) all.push_back(std::move(r));
      if (!got->next_cursor) return all;
      request.cursor = got->next_cursor;
    }
    ADD_FAILURE() << "scroll never ended";
    return all;
  }

  void CheckSearch(Metric metric);

  std::unique_ptr<engine::VectorStore> store_;
  std::vector<std::string> names_;
};

// ---- collections ----------------------------------------------------------------------------

TEST_P(StoreConformanceTest, CollectionLifecycle) {
  const std::string name = NewName("lifecycle");
  const CollectionConfig config = Config(name, 8, Metric::kCosine);
  EXPECT_OK(store().ValidateCreateCollection({}, config));
  ASSERT_OK_AND_ASSIGN(bool created, store().CreateCollection({}, config));
  EXPECT_TRUE(created);
  ASSERT_OK_AND_ASSIGN(bool again, store().CreateCollection({}, config));
  EXPECT_FALSE(again) << "an identical collection exists: not created again";

  CollectionConfig other_dim = config;
  other_dim.dimension = 16;
  ExpectCode(store().CreateCollection({}, other_dim).status(), StatusCode::kAlreadyExists, {name});
  CollectionConfig other_metric = config;
  other_metric.metric = Metric::kL2;
  ExpectCode(store().CreateCollection({}, other_metric).status(), StatusCode::kAlreadyExists,
             {name});

  ASSERT_OK_AND_ASSIGN(CollectionInfo info, store().GetCollection({}, name));
  EXPECT_EQ(info.config.name, name);
  EXPECT_EQ(info.config.dimension, 8u);
  EXPECT_EQ(info.config.metric, Metric::kCosine);
  EXPECT_EQ(info.points, 0u);

  ASSERT_TRUE(
      Put(name, {{I(1), {1, 0, 0, 0, 0, 0, 0, 0}, {}}, {S("1"), {0, 1, 0, 0, 0, 0, 0, 0}, {}}}));
  ASSERT_OK_AND_ASSIGN(info, store().GetCollection({}, name));
  EXPECT_EQ(info.points, 2u);

  ASSERT_OK_AND_ASSIGN(std::vector<CollectionInfo> listed, store().ListCollections({}));
  auto it = std::find_if(listed.begin(), listed.end(),
                         [&](const CollectionInfo& c) { return c.config.name == name; });
  ASSERT_NE(it, listed.end()) << "ListCollections lacks " << name;
  EXPECT_EQ(it->config.dimension, 8u);
  EXPECT_EQ(it->config.metric, Metric::kCosine);

  ASSERT_OK(store().DropCollection({}, name));
  ExpectNotFound(store().GetCollection({}, name).status(), name);
  ExpectNotFound(store().DropCollection({}, name), name);
  ASSERT_OK_AND_ASSIGN(listed, store().ListCollections({}));
  for (const CollectionInfo& c : listed) EXPECT_NE(c.config.name, name) << "dropped, yet listed";

  // The name can be taken again, by another configuration, and starts empty.
  CollectionConfig recreated = Config(name, 4, Metric::kL2);
  ASSERT_OK_AND_ASSIGN(created, store().CreateCollection({}, recreated));
  EXPECT_TRUE(created);
  EXPECT_EQ(CountOf(name), 0u);
  ASSERT_OK_AND_ASSIGN(info, store().GetCollection({}, name));
  EXPECT_EQ(info.config.dimension, 4u);
  EXPECT_EQ(info.config.metric, Metric::kL2);
}

TEST_P(StoreConformanceTest, UnknownCollectionIsNotFound) {
  const std::string name = NewName("missing");  // never created
  const std::vector<Point> points = {{I(1), {1, 2, 3, 4}, {}}};
  SearchRequest search;
  search.vector = {1, 2, 3, 4};
  const Filter filter = ParseFilter(R"({"must": [{"key": "a", "match": {"value": 1}}]})");
  ExpectNotFound(store().GetCollection({}, name).status(), name);
  ExpectNotFound(store().DropCollection({}, name), name);
  // A remote store's ValidateUpsert does not ask its server (engine/vector_store.h): its
  // Upsert says the collection is not there.
  if (!remote()) ExpectNotFound(store().ValidateUpsert({}, name, points), name);
  ExpectNotFound(store().Upsert({}, name, points).status(), name);
  ExpectNotFound(store().Delete({}, name, {I(1)}).status(), name);
  ExpectNotFound(store().DeleteByFilter({}, name, filter).status(), name);
  ExpectNotFound(store().SetPayload({}, name, {I(1)}, {{"a", 1}}, PayloadMode::kMerge).status(),
                 name);
  ExpectNotFound(store().Get({}, name, {I(1)}, true, true).status(), name);
  ExpectNotFound(store().Count({}, name, nullptr).status(), name);
  ExpectNotFound(store().Count({}, name, &filter).status(), name);
  ExpectNotFound(store().Scroll({}, name, ScrollRequest{}).status(), name);
  ExpectNotFound(store().Search({}, name, search).status(), name);
  ExpectNotFound(store().SearchBatch({}, name, {search, search}).status(), name);
  ASSERT_OK_AND_ASSIGN(std::vector<CollectionInfo> listed, store().ListCollections({}));
  for (const CollectionInfo& c : listed) EXPECT_NE(c.config.name, name);
}

// ---- points: upsert, get, payload and vector round trip ------------------------------------

TEST_P(StoreConformanceTest, UpsertAndGetRoundTrip) {
  const std::string name = Create("roundtrip", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  const json rich = {{"s", "hello"},
                     {"unicode", "ü/ß 日本 😀"},
                     {"empty", ""},
                     {"int", 42},
                     {"neg", -7},
                     {"zero", 0},
                     {"big", int64_t{9007199254740993}},  // 2^53 + 1: no double on the way
                     {"min", std::numeric_limits<int64_t>::min()},
                     {"f", 2.5},
                     {"one", 1.0},
                     {"negf", -0.125},
                     {"t", true},
                     {"fa", false}};
  const std::vector<float> v1 = {0.1f, -3.25f, 1e-3f, 7.5f};
  const std::vector<float> v2 = {-0.3333333f, 2.0f, 0.0f, 1e-7f};
  const std::vector<float> v3 = {123.456f, -0.5f, 9.75f, -42.0f};
  ASSERT_OK(store().ValidateUpsert({}, name, {{I(1), v1, rich}}));
  ASSERT_TRUE(Put(name, {{I(1), v1, rich}, {S("two"), v2, {{"k", "v"}}}, {I(3), v3, nullptr}}));
  EXPECT_EQ(CountOf(name), 3u);

  // Unknown ids are left out; the others come in request order.
  ASSERT_OK_AND_ASSIGN(
      std::vector<Record> got,
      store().Get({}, name, {I(3), S("missing"), I(1), I(99), S("two")}, true, true));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].id, I(3));
  EXPECT_EQ(got[1].id, I(1));
  EXPECT_EQ(got[2].id, S("two"));
  ExpectPayload(got[0].payload, json::object(), "a point written without payload has {}");
  ExpectPayload(got[1].payload, rich, "payload round trip");
  ExpectPayload(got[2].payload, {{"k", "v"}}, "payload of \"two\"");
  ExpectVectorNear(got[0].vector, v3, "vector of 3");
  ExpectVectorNear(got[1].vector, v1, "vector of 1");
  ExpectVectorNear(got[2].vector, v2, "vector of \"two\"");

  ASSERT_OK_AND_ASSIGN(got, store().Get({}, name, {I(1), S("1")}, false, false));
  ASSERT_EQ(got.size(), 1u) << "\"1\" is not 1";
  EXPECT_EQ(got[0].id, I(1));
  EXPECT_FALSE(got[0].payload.has_value()) << "with_payload false";
  EXPECT_FALSE(got[0].vector.has_value()) << "with_vector false";
  ASSERT_OK_AND_ASSIGN(got, store().Get({}, name, {S("nothing"), I(12345)}, true, true));
  EXPECT_TRUE(got.empty());

  // An upsert of an existing id replaces the point: its whole payload and its vector.
  const std::vector<float> v1b = {5.0f, 6.0f, -7.0f, 8.5f};
  ASSERT_TRUE(
      Put(name, {{I(1), v1b, {{"s", "new"}, {"added", 2.5}}}, {S("two"), v2, json::object()}}));
  EXPECT_EQ(CountOf(name), 3u) << "replaced, not added";
  ASSERT_OK_AND_ASSIGN(got, store().Get({}, name, {I(1), S("two")}, true, true));
  ASSERT_EQ(got.size(), 2u);
  ExpectPayload(got[0].payload, {{"s", "new"}, {"added", 2.5}},
                "keys absent from the new payload are gone");
  ExpectVectorNear(got[0].vector, v1b, "the new vector");
  ExpectPayload(got[1].payload, json::object(), "an upsert with an empty payload clears it");
  // The filters forget the old payload too.
  const Filter old_int = ParseFilter(R"({"must": [{"key": "int", "match": {"value": 42}}]})");
  const Filter old_k = ParseFilter(R"({"must": [{"key": "k", "match": {"value": "v"}}]})");
  const Filter new_s = ParseFilter(R"({"must": [{"key": "s", "match": {"value": "new"}}]})");
  EXPECT_EQ(CountOf(name, &old_int), 0u);
  EXPECT_EQ(CountOf(name, &old_k), 0u);
  EXPECT_EQ(CountOf(name, &new_s), 1u);
  // The old vector never answers again.
  SearchRequest near_old;
  near_old.vector = v1;
  near_old.k = 3;
  ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> results, store().Search({}, name, near_old));
  ASSERT_EQ(results.size(), 3u);
  for (const ScoredPoint& r : results) {
    if (r.id == I(1)) {
      double d = 0;
      for (size_t j = 0; j < 4; ++j) d += (double(v1[j]) - v1b[j]) * (double(v1[j]) - v1b[j]);
      EXPECT_NEAR(r.score, std::sqrt(d), kScoreTolerance) << "1 is scored by its new vector";
    }
  }
}

// ---- ids ------------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, IdMappingRoundTrip) {
  const std::string name = Create("ids", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  const std::vector<PointId> ids = {
      I(7),
      S("7"),
      S("007"),
      I(0),
      S("0"),
      I(18446744073709551615ull),
      S("18446744073709551615"),
      S("18446744073709551616"),
      S("-1"),
      S("123e4567-e89b-12d3-a456-426614174000"),
      S("ü/ß 日本 😀"),
      S("s:7"),
      S("s:"),
      S("s:s:7"),
      S("7 "),
  };
  auto vector_of = [](size_t j) {
    return std::vector<float>{float(j), 0.5f, -1.0f, float(j) * 0.25f};
  };
  std::vector<Point> points;
  for (size_t j = 0; j < ids.size(); ++j) points.push_back({ids[j], vector_of(j), {{"j", j}}});
  ASSERT_TRUE(Put(name, points));
  EXPECT_EQ(CountOf(name), ids.size()) << "every id is a point of its own";

  // Get, in reverse order: each id back as exactly the id given, with its own payload.
  std::vector<PointId> reversed(ids.rbegin(), ids.rend());
  ASSERT_OK_AND_ASSIGN(std::vector<Record> got, store().Get({}, name, reversed, true, true));
  ASSERT_EQ(got.size(), ids.size());
  for (size_t r = 0; r < reversed.size(); ++r) {
    const size_t j = ids.size() - 1 - r;
    EXPECT_EQ(got[r].id, ids[j]) << "Get: " << Show(got[r].id) << " for " << Show(ids[j]);
    ExpectPayload(got[r].payload, {{"j", j}}, "Get " + Show(ids[j]));
    ExpectVectorNear(got[r].vector, vector_of(j), "Get " + Show(ids[j]));
  }
  // Search: each point's own vector finds it first, at distance 0.
  for (size_t j = 0; j < ids.size(); ++j) {
    SearchRequest request;
    request.vector = vector_of(j);
    request.k = 2;
    ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> results, store().Search({}, name, request));
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[0].id, ids[j])
        << "Search: " << Show(results[0].id) << " for " << Show(ids[j]);
    EXPECT_NEAR(results[0].score, 0.0, kScoreTolerance);
    ExpectPayload(results[0].payload, {{"j", j}}, "Search " + Show(ids[j]));
  }
  // Scroll: every id once, exactly as given.
  ScrollRequest scroll;
  scroll.limit = 4;
  std::multiset<std::string> seen;
  for (const Record& r : ScrollAll(name, scroll)) {
    seen.insert(Show(r.id));
    auto j = r.payload ? r.payload->value("j", size_t(999)) : size_t(999);
    ASSERT_LT(j, ids.size()) << "Scroll: " << Show(r.id) << " has no payload j";
    EXPECT_EQ(r.id, ids[j]) << "Scroll: " << Show(r.id) << " for " << Show(ids[j]);
  }
  std::multiset<std::string> want;
  for (const PointId& id : ids) want.insert(Show(id));
  EXPECT_EQ(seen, want);

  // Writes by id reach exactly that id.
  ASSERT_OK_AND_ASSIGN(size_t updated, store().SetPayload({}, name, {S("s:7")}, {{"hit", true}},
                                                          PayloadMode::kMerge));
  EXPECT_EQ(updated, 1u);
  ScrollRequest hits;
  hits.filter = ParseFilter(R"({"must": [{"key": "hit", "match": {"value": true}}]})");
  std::vector<Record> hit = ScrollAll(name, hits);
  ASSERT_EQ(hit.size(), 1u);
  EXPECT_EQ(hit[0].id, S("s:7"));
  ASSERT_OK_AND_ASSIGN(size_t deleted,
                       store().Delete({}, name, {S("7"), I(18446744073709551615ull)}));
  EXPECT_EQ(deleted, 2u);
  ASSERT_OK_AND_ASSIGN(got, store().Get({}, name,
                                        {I(7), S("7"), S("18446744073709551615"),
                                         I(18446744073709551615ull), S("s:7"), S("007")},
                                        false, false));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].id, I(7)) << "deleting \"7\" leaves 7";
  EXPECT_EQ(got[1].id, S("18446744073709551615"))
      << "deleting 18446744073709551615 leaves the string";
  EXPECT_EQ(got[2].id, S("s:7"));
  EXPECT_EQ(got[3].id, S("007"));
  EXPECT_EQ(CountOf(name), ids.size() - 2);
}

// ---- search ---------------------------------------------------------------------------------

void StoreConformanceTest::CheckSearch(Metric metric) {
  const size_t kBase = 300, kDim = 16;
  const testing::Dataset data =
      testing::MakeClustered(kBase, 40, kDim, 6, 20240611 + uint64_t(metric));
  const std::string name =
      Create(std::string("search-") + std::string(engine::MetricName(metric)), kDim, metric);
  ASSERT_FALSE(name.empty());
  auto payload_of = [](size_t i) {
    return json{{"i", i}, {"half", i % 2 == 0}, {"name", Numbered("p", i)}};
  };
  std::vector<Point> points;
  for (size_t i = 0; i < kBase; ++i) points.push_back({I(i), Row(data, i), payload_of(i)});
  ASSERT_TRUE(Put(name, std::move(points)));
  ASSERT_EQ(CountOf(name), kBase);

  // Queries whose top 11 has no near tie.
  std::vector<std::pair<size_t, Exact>> queries;
  for (size_t q = 0; q < data.num_queries() && queries.size() < 5; ++q) {
    auto exact = ExactWithMargin(data, metric, data.Query(q), 10, nullptr, kTieMargin);
    if (exact) queries.emplace_back(q, *exact);
  }
  ASSERT_GE(queries.size(), 3u) << "the data has too many near ties";

  for (const auto& [q, exact] : queries) {
    SCOPED_TRACE("query " + std::to_string(q));
    SearchRequest request;
    request.vector = QueryRow(data, q);
    request.k = 10;
    ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> results, store().Search({}, name, request));
    ExpectExactAnswer(results, exact, "top 10");
    for (const ScoredPoint& r : results) {
      ExpectPayload(r.payload, payload_of(std::get<uint64_t>(r.id)), "payload of " + Show(r.id));
      EXPECT_FALSE(r.vector.has_value()) << "with_vector is false by default";
    }
  }

  const auto& [q0, exact0] = queries[0];
  // score_threshold between the 5th and the 6th score keeps the first 5.
  {
    SearchRequest request;
    request.vector = QueryRow(data, q0);
    request.k = 10;
    request.score_threshold = float((exact0.scores[4] + exact0.scores[5]) / 2);
    ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> results, store().Search({}, name, request));
    Exact first5 = exact0;
    first5.ids.resize(5);
    first5.scores.resize(5);
    ExpectExactAnswer(results, first5, "score_threshold");
  }
  // with_payload false, with_vector true.
  {
    SearchRequest request;
    request.vector = QueryRow(data, q0);
    request.k = 10;
    request.with_payload = false;
    request.with_vector = true;
    ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> results, store().Search({}, name, request));
    ExpectExactAnswer(results, exact0, "with_vector");
    for (const ScoredPoint& r : results) {
      EXPECT_FALSE(r.payload.has_value()) << "with_payload false";
      ExpectVectorNear(r.vector, Stored(metric, Row(data, std::get<uint64_t>(r.id))),
                       "vector of " + Show(r.id));
    }
  }
  // k past the number of matches: every match, best first.
  {
    SearchRequest request;
    request.vector = QueryRow(data, q0);
    request.k = 1000;
    request.filter = ParseFilter(R"({"must": [{"key": "half", "match": {"value": true}}]})");
    ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> results, store().Search({}, name, request));
    EXPECT_EQ(results.size(), kBase / 2);
    std::set<uint64_t> ids;
    for (uint64_t id : IntIds(results)) {
      EXPECT_EQ(id % 2, 0u) << id << " does not match the filter";
      ids.insert(id);
    }
    EXPECT_EQ(ids.size(), results.size()) << "each point once";
    for (size_t j = 0; j + 1 < results.size(); ++j) {
      if (HigherIsBetter(metric)) {
        EXPECT_GE(results[j].score, results[j + 1].score) << "best first, at " << j;
      } else {
        EXPECT_LE(results[j].score, results[j + 1].score) << "best first, at " << j;
      }
    }
  }
  // SearchBatch of three requests answers as three Searches.
  {
    std::vector<SearchRequest> batch(3);
    batch[0].vector = QueryRow(data, queries[0].first);
    batch[0].k = 10;
    batch[1].vector = QueryRow(data, queries[1].first);
    batch[1].k = 5;
    batch[1].filter = ParseFilter(R"({"must": [{"key": "half", "match": {"value": false}}]})");
    batch[2].vector = QueryRow(data, queries[2].first);
    batch[2].k = 3;
    batch[2].with_vector = true;
    batch[2].with_payload = false;
    ASSERT_OK_AND_ASSIGN(auto answers, store().SearchBatch({}, name, batch));
    ASSERT_EQ(answers.size(), 3u);
    for (size_t b = 0; b < batch.size(); ++b) {
      SCOPED_TRACE("searches[" + std::to_string(b) + "]");
      ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> single, store().Search({}, name, batch[b]));
      EXPECT_EQ(Join(IntIds(answers[b])), Join(IntIds(single)));
      ASSERT_EQ(answers[b].size(), single.size());
      for (size_t j = 0; j < single.size(); ++j) {
        EXPECT_NEAR(answers[b][j].score, single[j].score, 1e-6);
        EXPECT_EQ(answers[b][j].payload.has_value(), single[j].payload.has_value());
        EXPECT_EQ(answers[b][j].vector.has_value(), single[j].vector.has_value());
      }
    }
    ExpectExactAnswer(answers[0], queries[0].second, "searches[0] is exact");
  }
}

TEST_P(StoreConformanceTest, SearchIsExactL2) { CheckSearch(Metric::kL2); }
TEST_P(StoreConformanceTest, SearchIsExactIp) { CheckSearch(Metric::kIp); }
TEST_P(StoreConformanceTest, SearchIsExactCosine) { CheckSearch(Metric::kCosine); }

// ---- filters --------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, FiltersInCountScrollAndSearch) {
  const testing::Dataset data =
      testing::MakeClustered(FilterData::kPoints, 60, FilterData::kDim, 6, 777);
  const std::string name = Create("filters", FilterData::kDim, Metric::kL2);
  ASSERT_FALSE(name.empty());
  ASSERT_TRUE(Put(name, FilterData::Points(data)));

  for (const FilterCase& c : FilterCases()) {
    SCOPED_TRACE("filter " + c.name + ": " + c.filter);
    const Filter filter = ParseFilter(c.filter);
    std::vector<bool> allowed(FilterData::kPoints);
    std::set<uint64_t> matching;
    for (size_t i = 0; i < FilterData::kPoints; ++i) {
      allowed[i] = c.keeps(i);
      if (allowed[i]) matching.insert(i);
    }
    // Count.
    EXPECT_EQ(CountOf(name, &filter), matching.size()) << "count";
    // Scroll: exactly the matching points, each once.
    ScrollRequest scroll;
    scroll.filter = filter;
    scroll.limit = 50;
    std::multiset<uint64_t> scrolled;
    for (const Record& r : ScrollAll(name, scroll)) {
      ASSERT_TRUE(std::holds_alternative<uint64_t>(r.id)) << Show(r.id);
      scrolled.insert(std::get<uint64_t>(r.id));
    }
    EXPECT_EQ(std::set<uint64_t>(scrolled.begin(), scrolled.end()), matching) << "scroll";
    EXPECT_EQ(scrolled.size(), matching.size()) << "scroll: each point once";
    // Search: the exact best 10 among the matching points.
    std::optional<Exact> exact;
    size_t q = 0;
    for (; q < data.num_queries() && !exact; ++q) {
      exact = ExactWithMargin(data, Metric::kL2, data.Query(q), 10, &allowed, kTieMargin);
    }
    ASSERT_TRUE(exact.has_value()) << "no query without near ties";
    SearchRequest request;
    request.vector = QueryRow(data, q - 1);
    request.k = 10;
    request.filter = filter;
    ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> results, store().Search({}, name, request));
    ExpectExactAnswer(results, *exact, "filtered search, query " + std::to_string(q - 1));
  }
}

TEST_P(StoreConformanceTest, DeleteByIdsAndByFilter) {
  using D = FilterData;
  const testing::Dataset data = testing::MakeClustered(60, 1, D::kDim, 4, 4242);
  const std::string name = Create("deletes", D::kDim, Metric::kL2);
  ASSERT_FALSE(name.empty());
  ASSERT_TRUE(Put(name, D::Points(data)));
  std::set<uint64_t> alive;
  for (uint64_t i = 0; i < 60; ++i) alive.insert(i);

  // By ids: how many existed.
  ASSERT_OK_AND_ASSIGN(size_t deleted,
                       store().Delete({}, name, {I(1), I(2), I(3), I(1000), S("4"), S("x")}));
  EXPECT_EQ(deleted, 3u) << "only existing ids count; \"4\" is not 4";
  for (uint64_t i : {1, 2, 3}) alive.erase(i);
  ASSERT_OK_AND_ASSIGN(deleted, store().Delete({}, name, {I(1), I(2)}));
  EXPECT_EQ(deleted, 0u) << "already deleted";
  ASSERT_OK_AND_ASSIGN(std::vector<Record> got,
                       store().Get({}, name, {I(1), I(2), I(3), I(4)}, true, false));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, I(4));
  EXPECT_EQ(CountOf(name), alive.size());

  auto delete_by = [&](const std::string& text, const std::function<bool(size_t)>& keeps) {
    SCOPED_TRACE("delete by filter " + text);
    const Filter filter = ParseFilter(text);
    size_t want = 0;
    for (auto it = alive.begin(); it != alive.end();) {
      if (keeps(*it)) {
        ++want;
        it = alive.erase(it);
      } else {
        ++it;
      }
    }
    auto n = store().DeleteByFilter({}, name, filter);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, want) << "deleted";
    EXPECT_EQ(CountOf(name, &filter), 0u) << "none left matching";
    EXPECT_EQ(CountOf(name), alive.size());
  };
  delete_by(R"({"must": [{"key": "color", "match": {"value": "red"}}]})",
            [](size_t i) { return D::IsColor(i, "red"); });
  delete_by(R"({"must": [{"key": "n", "range": {"gte": 2.5}}],
                "must_not": [{"key": "flag", "match": {"value": true}}]})",
            [](size_t i) { return D::N(i) >= 2.5 && !D::Flag(i); });
  delete_by(
      R"({"should": [{"key": "f", "range": {"lt": -1.5}}, {"key": "tag", "match": {"value": "日本"}}]})",
      [](size_t i) { return D::F(i) < -1.5 || D::Tag(i) == "日本"; });
  ASSERT_OK_AND_ASSIGN(
      deleted,
      store().DeleteByFilter(
          {}, name, ParseFilter(R"({"must": [{"key": "color", "match": {"value": "red"}}]})")));
  EXPECT_EQ(deleted, 0u) << "nothing left to delete";

  // What is left is exactly what Get, Scroll and Search see.
  std::vector<PointId> every;
  for (uint64_t i = 0; i < 60; ++i) every.push_back(I(i));
  ASSERT_OK_AND_ASSIGN(got, store().Get({}, name, every, false, false));
  std::set<uint64_t> got_ids, scrolled_ids, searched_ids;
  for (const Record& r : got) got_ids.insert(std::get<uint64_t>(r.id));
  EXPECT_EQ(got_ids, alive) << "get";
  ScrollRequest scroll;
  scroll.limit = 9;
  for (const Record& r : ScrollAll(name, scroll)) scrolled_ids.insert(std::get<uint64_t>(r.id));
  EXPECT_EQ(scrolled_ids, alive) << "scroll";
  SearchRequest request;
  request.vector = QueryRow(data, 0);
  request.k = 100;
  ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> results, store().Search({}, name, request));
  for (uint64_t id : IntIds(results)) searched_ids.insert(id);
  EXPECT_EQ(searched_ids, alive) << "search";
}

// ---- set_payload ----------------------------------------------------------------------------

TEST_P(StoreConformanceTest, SetPayloadMergeAndReplace) {
  const std::string name = Create("payload", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  const json initial = {{"a", 1}, {"b", "x"}, {"keep", true}};
  ASSERT_TRUE(Put(name, {{I(1), {1, 0, 0, 0}, initial},
                         {I(2), {0, 1, 0, 0}, initial},
                         {S("3"), {0, 0, 1, 0}, initial}}));

  // Merge: sets the given keys, keeps the others; counts the ids that existed.
  ASSERT_OK(store().ValidateSetPayload({}, name, {{"b", "y"}, {"c", 2.5}}));
  ASSERT_OK_AND_ASSIGN(size_t updated, store().SetPayload({}, name, {I(1), S("3"), I(99), S("1")},
                                                          {{"b", "y"}, {"c", 2.5}, {"u", "日本"}},
                                                          PayloadMode::kMerge));
  EXPECT_EQ(updated, 2u) << "unknown ids are ignored";
  ASSERT_OK_AND_ASSIGN(std::vector<Record> got,
                       store().Get({}, name, {I(1), I(2), S("3")}, true, true));
  ASSERT_EQ(got.size(), 3u);
  const json merged = {{"a", 1}, {"b", "y"}, {"keep", true}, {"c", 2.5}, {"u", "日本"}};
  ExpectPayload(got[0].payload, merged, "merge on 1");
  ExpectPayload(got[1].payload, initial, "2 was not named");
  ExpectPayload(got[2].payload, merged, "merge on \"3\"");
  ExpectVectorNear(got[0].vector, {1, 0, 0, 0}, "the vector is untouched");

  // Replace: the given object becomes the whole payload.
  ASSERT_OK_AND_ASSIGN(updated,
                       store().SetPayload({}, name, {I(2), S("nope")}, {{"z", false}, {"n", 1.0}},
                                          PayloadMode::kReplace));
  EXPECT_EQ(updated, 1u);
  ASSERT_OK_AND_ASSIGN(got, store().Get({}, name, {I(2)}, true, true));
  ASSERT_EQ(got.size(), 1u);
  ExpectPayload(got[0].payload, {{"z", false}, {"n", 1.0}}, "replace removes keys not given");
  ExpectVectorNear(got[0].vector, {0, 1, 0, 0}, "the vector is untouched");
  ASSERT_OK_AND_ASSIGN(
      updated, store().SetPayload({}, name, {S("3")}, json::object(), PayloadMode::kReplace));
  EXPECT_EQ(updated, 1u);
  ASSERT_OK_AND_ASSIGN(got, store().Get({}, name, {S("3")}, true, false));
  ASSERT_EQ(got.size(), 1u);
  ExpectPayload(got[0].payload, json::object(), "replace by {} clears the payload");

  // Filters see the payloads as they are now.
  const Filter b_y = ParseFilter(R"({"must": [{"key": "b", "match": {"value": "y"}}]})");
  const Filter b_x = ParseFilter(R"({"must": [{"key": "b", "match": {"value": "x"}}]})");
  const Filter keep = ParseFilter(R"({"must": [{"key": "keep", "match": {"value": true}}]})");
  const Filter z = ParseFilter(R"({"must": [{"key": "z", "match": {"value": false}}]})");
  EXPECT_EQ(CountOf(name, &b_y), 1u);
  EXPECT_EQ(CountOf(name, &b_x), 0u);
  EXPECT_EQ(CountOf(name, &keep), 1u);
  EXPECT_EQ(CountOf(name, &z), 1u);

  // Only unknown ids: nothing is written, no point appears.
  ASSERT_OK_AND_ASSIGN(
      updated, store().SetPayload({}, name, {I(50), S("ghost")}, {{"a", 2}}, PayloadMode::kMerge));
  EXPECT_EQ(updated, 0u);
  ASSERT_OK_AND_ASSIGN(updated,
                       store().SetPayload({}, name, {I(51)}, {{"a", 2}}, PayloadMode::kReplace));
  EXPECT_EQ(updated, 0u);
  EXPECT_EQ(CountOf(name), 3u);
  ASSERT_OK_AND_ASSIGN(got, store().Get({}, name, {I(50), S("ghost"), I(51)}, true, false));
  EXPECT_TRUE(got.empty());
}

// ---- scroll ---------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, ScrollVisitsEveryPointOnce) {
  const std::string name = Create("scroll", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  std::vector<Point> points;
  std::set<std::string> all, even;
  for (uint64_t i = 0; i < 60; ++i) {
    points.push_back({I(i), {float(i), 1, 2, 3}, {{"even", i % 2 == 0}}});
  }
  for (int i = 0; i < 40; ++i) {
    points.push_back({S(Numbered("p", i)), {1, float(i), 2, 3}, {{"even", i % 2 == 0}}});
  }
  for (const Point& p : points) {
    all.insert(Show(p.id));
    if (p.payload["even"] == true) even.insert(Show(p.id));
  }
  ASSERT_TRUE(Put(name, points));

  ScrollRequest request;
  request.limit = 7;
  std::vector<Record> records = ScrollAll(name, request);
  std::multiset<std::string> seen;
  for (const Record& r : records) {
    seen.insert(Show(r.id));
    EXPECT_TRUE(r.payload.has_value()) << "with_payload is true by default";
    EXPECT_FALSE(r.vector.has_value()) << "with_vector is false by default";
  }
  EXPECT_EQ(seen.size(), all.size()) << "each point once";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), all);

  request.filter = ParseFilter(R"({"must": [{"key": "even", "match": {"value": true}}]})");
  request.with_payload = false;
  request.with_vector = true;
  records = ScrollAll(name, request);
  seen.clear();
  for (const Record& r : records) {
    seen.insert(Show(r.id));
    EXPECT_FALSE(r.payload.has_value()) << "with_payload false";
    EXPECT_TRUE(r.vector.has_value()) << "with_vector true";
  }
  EXPECT_EQ(seen.size(), even.size()) << "each matching point once";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), even);

  request.filter = ParseFilter(R"({"must": [{"key": "even", "match": {"value": "yes"}}]})");
  ASSERT_OK_AND_ASSIGN(ScrollPage page, store().Scroll({}, name, request));
  EXPECT_TRUE(page.points.empty());
  EXPECT_FALSE(page.next_cursor.has_value()) << "an empty scroll has no next page";
}

// types.h ScrollPage: "Points come in id order (integer ids ascending, then string ids in byte
// order)", whatever order they were written in.
TEST_P(StoreConformanceTest, ScrollComesInIdOrder) {
  const std::string name = Create("scrollorder", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  std::vector<PointId> ids;
  for (uint64_t i = 0; i < 20; ++i) ids.push_back(I(i * 7919 % 1000));
  for (const char* s : {"b", "a", "10", "9", "Z", "ü", "aa"}) ids.push_back(S(s));
  std::mt19937 shuffle(5);
  std::shuffle(ids.begin(), ids.end(), shuffle);
  std::vector<Point> points;
  for (const PointId& id : ids) points.push_back({id, {1, 2, 3, 4}, {}});
  ASSERT_TRUE(Put(name, points));
  std::vector<PointId> want = ids;
  std::sort(want.begin(), want.end());  // variant order: every integer before every string
  ScrollRequest request;
  request.limit = 6;
  std::vector<std::string> got, expected;
  for (const Record& r : ScrollAll(name, request)) got.push_back(Show(r.id));
  for (const PointId& id : want) expected.push_back(Show(id));
  EXPECT_EQ(got, expected);
}

// types.h ScrollPage: "a scroll visits every point that exists throughout it exactly once,
// whatever is written meanwhile". Between pages, a point already visited is deleted and another
// one rewritten.
TEST_P(StoreConformanceTest, ScrollVisitsEveryPointOnceWhileWritesGoOn) {
  const std::string name = Create("scrollwrites", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  std::vector<Point> points;
  for (uint64_t i = 0; i < 70; ++i) points.push_back({I(i), {float(i), 0, 0, 1}, {{"i", i}}});
  ASSERT_TRUE(Put(name, points));
  std::set<std::string> deleted;
  std::multiset<std::string> seen;
  ScrollRequest request;
  request.limit = 7;
  for (int page = 0; page < 100; ++page) {
    ASSERT_OK_AND_ASSIGN(ScrollPage got, store().Scroll({}, name, request));
    for (const Record& r : got.points) seen.insert(Show(r.id));
    if (got.points.size() >= 2) {
      ASSERT_OK(store().Delete({}, name, {got.points.front().id}).status());
      deleted.insert(Show(got.points.front().id));
      const PointId& again = got.points.back().id;
      ASSERT_TRUE(Put(name, {{again, {0, 0, 0, 2}, {{"rewritten", true}}}}));
    }
    if (!got.next_cursor) break;
    request.cursor = got.next_cursor;
  }
  for (uint64_t i = 0; i < 70; ++i) {
    const std::string id = Show(I(i));
    if (deleted.count(id)) continue;  // visited, then deleted: it did not exist throughout
    EXPECT_EQ(seen.count(id), 1u) << "point " << id << " exists throughout the scroll";
  }
}

// VectorStore: "A call whose deadline has passed before it starts answers DeadlineExceeded,
// naming the operation, and changes nothing."
TEST_P(StoreConformanceTest, ExpiredDeadlineIsRefusedAndChangesNothing) {
  const std::string name = Create("deadline", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  ASSERT_TRUE(Put(name, {{I(1), {1, 1, 1, 1}, {{"keep", true}}}}));
  const CallOptions expired = CallOptions::WithTimeout(-std::chrono::milliseconds(1));
  ASSERT_TRUE(expired.Expired());
  const std::vector<Point> points = {{I(2), {2, 2, 2, 2}, {}}};
  const Filter keep = ParseFilter(R"({"must": [{"key": "keep", "match": {"value": true}}]})");
  SearchRequest search;
  search.vector = {1, 1, 1, 1};
  auto refused = [](const Status& s, const std::string& operation,
                    std::source_location where = std::source_location::current()) {
    ExpectCode(s, StatusCode::kDeadlineExceeded, {operation}, where);
  };
  refused(store().ValidateCreateCollection(expired, Config(NewName("d2"), 4, Metric::kL2)),
          "ValidateCreateCollection");
  refused(store().CreateCollection(expired, Config(NewName("d3"), 4, Metric::kL2)).status(),
          "CreateCollection");
  refused(store().GetCollection(expired, name).status(), "GetCollection");
  refused(store().ListCollections(expired).status(), "ListCollections");
  refused(store().DropCollection(expired, name), "DropCollection");
  refused(store().ValidateUpsert(expired, name, points), "ValidateUpsert");
  refused(store().Upsert(expired, name, points).status(), "Upsert");
  refused(store().Delete(expired, name, {I(1)}).status(), "Delete");
  refused(store().DeleteByFilter(expired, name, keep).status(), "DeleteByFilter");
  refused(store().ValidateSetPayload(expired, name, {{"keep", false}}), "ValidateSetPayload");
  refused(
      store().SetPayload(expired, name, {I(1)}, {{"keep", false}}, PayloadMode::kMerge).status(),
      "SetPayload");
  refused(store().Get(expired, name, {I(1)}, true, true).status(), "Get");
  refused(store().Count(expired, name, nullptr).status(), "Count");
  refused(store().Scroll(expired, name, ScrollRequest{}).status(), "Scroll");
  refused(store().Search(expired, name, search).status(), "Search");
  refused(store().SearchBatch(expired, name, {search}).status(), "SearchBatch");

  ASSERT_OK_AND_ASSIGN(std::vector<Record> got, store().Get({}, name, {I(1), I(2)}, true, true));
  ASSERT_EQ(got.size(), 1u) << "the collection is there, with its one point";
  ExpectPayload(got[0].payload, {{"keep", true}}, "unchanged");
}

// ---- what Chroma cannot hold or express: refused there, named; accepted locally --------------

TEST_P(StoreConformanceTest, FiltersChromaCannotExpress) {
  using D = FilterData;
  const testing::Dataset data = testing::MakeClustered(40, 1, D::kDim, 4, 99);
  const std::string name = Create("inexpressible", D::kDim, Metric::kL2);
  ASSERT_FALSE(name.empty());
  ASSERT_TRUE(Put(name, D::Points(data)));
  struct Case {
    std::string filter;
    std::string names;  // what a refusal must name
    std::function<bool(size_t)> keeps;
  };
  const std::vector<Case> cases = {
      {R"({"must": [{"has_id": [1, 2, 999]}]})", "has_id",
       [](size_t i) { return i == 1 || i == 2; }},
      {R"({"must": [{"is_empty": {"key": "color"}}]})", "is_empty",
       [](size_t i) { return !D::HasColor(i); }},
      {R"({"must": [{"key": "color", "match": {"except": ["red"]}}]})", "except",
       [](size_t i) { return D::HasColor(i) && !D::IsColor(i, "red"); }},
      {R"({"must": [{"key": "a.b", "match": {"value": 1}}]})", "a.b", [](size_t) { return false; }},
      {R"({"must_not": [{"key": "n", "range": {"gt": 2.5}}]})", "range",
       [](size_t i) { return !(D::N(i) > 2.5); }},
      {R"({"must": [{"must_not": [{"key": "f", "range": {"lte": 0}}]}]})", "range",
       [](size_t i) { return !(D::F(i) <= 0); }},
      {R"({"should": [{"key": "flag", "match": {"value": true}}, {"is_empty": {"key": "nope"}}]})",
       "is_empty", [](size_t) { return true; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("filter " + c.filter);
    const Filter filter = ParseFilter(c.filter);
    size_t want = 0;
    for (size_t i = 0; i < 40; ++i) want += c.keeps(i);
    SearchRequest search;
    search.vector = QueryRow(data, 0);
    search.k = 100;
    search.filter = filter;
    ScrollRequest scroll;
    scroll.filter = filter;
    if (chroma()) {
      const std::vector<std::string> named = {c.names, "Chroma"};
      ExpectInvalid(store().Count({}, name, &filter).status(), named);
      ExpectInvalid(store().Search({}, name, search).status(), named);
      ExpectInvalid(store().SearchBatch({}, name, {search}).status(), named);
      ExpectInvalid(store().Scroll({}, name, scroll).status(), named);
      ExpectInvalid(store().DeleteByFilter({}, name, filter).status(), named);
      EXPECT_EQ(CountOf(name), 40u) << "a refused delete deletes nothing";
    } else {
      EXPECT_EQ(CountOf(name, &filter), want);
      ASSERT_OK_AND_ASSIGN(std::vector<ScoredPoint> results, store().Search({}, name, search));
      EXPECT_EQ(results.size(), want);
      EXPECT_OK(store().SearchBatch({}, name, {search}));
      EXPECT_EQ(ScrollAll(name, scroll).size(), want);
    }
  }
  if (!chroma()) {
    ASSERT_OK_AND_ASSIGN(size_t deleted,
                         store().DeleteByFilter({}, name, ParseFilter(cases[0].filter)));
    EXPECT_EQ(deleted, 2u);
  }
}

TEST_P(StoreConformanceTest, PayloadsChromaCannotHold) {
  const std::string name = Create("payloads", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  ASSERT_TRUE(Put(name, {{I(100), {1, 1, 1, 1}, {{"keep", true}}}}));
  struct Case {
    json payload;
    std::vector<std::string> names;  // what a refusal must name
  };
  const std::vector<Case> cases = {
      {{{"ok", 1}, {"tags", {{"x", 1}}}}, {"points[1].payload.tags"}},
      {{{"ok", 1}, {"tags", json::array({"a", "b"})}}, {"points[1].payload.tags"}},
      {{{"ok", 1}, {"tags", json::array()}}, {"points[1].payload.tags"}},
      {{{"ok", 1}, {"tags", nullptr}}, {"points[1].payload.tags"}},
      {{{"ok", 1}, {"tags", uint64_t{18446744073709551615ull}}}, {"points[1].payload.tags"}},
      {{{"ok", 1}, {"chroma:document", "text"}}, {"points[1].payload", "chroma:document"}},
  };
  size_t expected_count = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE("payload " + c.payload.dump());
    const std::vector<Point> points = {{I(1), {0, 0, 0, 1}, {{"fine", "yes"}}},
                                       {I(2), {0, 0, 1, 0}, c.payload}};
    if (chroma()) {
      ExpectInvalid(store().ValidateUpsert({}, name, points), c.names);
      ExpectInvalid(store().Upsert({}, name, points).status(), c.names);
      EXPECT_EQ(CountOf(name), 1u) << "nothing is written";
      ASSERT_OK_AND_ASSIGN(std::vector<Record> got,
                           store().Get({}, name, {I(1), I(2)}, true, false));
      EXPECT_TRUE(got.empty()) << "not even the batch's valid point";
    } else {
      EXPECT_OK(store().ValidateUpsert({}, name, points));
      ASSERT_TRUE(Put(name, points));
      expected_count = 3;
      EXPECT_EQ(CountOf(name), expected_count);
      ASSERT_OK_AND_ASSIGN(std::vector<Record> got, store().Get({}, name, {I(2)}, true, false));
      ASSERT_EQ(got.size(), 1u);
      ExpectPayload(got[0].payload, c.payload, "held as written");
    }
  }

  // A payload update Chroma cannot hold.
  const json nested = {{"x", {{"y", 1}}}};
  if (chroma()) {
    ExpectInvalid(store().ValidateSetPayload({}, name, nested), {"payload.x"});
    ExpectInvalid(store().SetPayload({}, name, {I(100)}, nested, PayloadMode::kMerge).status(),
                  {"payload.x"});
    ExpectInvalid(store().SetPayload({}, name, {I(100)}, nested, PayloadMode::kReplace).status(),
                  {"payload.x"});
    ExpectInvalid(store().ValidateSetPayload({}, name, {{"list", json::array({1})}}),
                  {"payload.list"});
    ASSERT_OK_AND_ASSIGN(std::vector<Record> got, store().Get({}, name, {I(100)}, true, false));
    ASSERT_EQ(got.size(), 1u);
    ExpectPayload(got[0].payload, {{"keep", true}}, "a refused update changes nothing");
  } else {
    EXPECT_OK(store().ValidateSetPayload({}, name, nested));
    ASSERT_OK_AND_ASSIGN(size_t updated,
                         store().SetPayload({}, name, {I(100)}, nested, PayloadMode::kMerge));
    EXPECT_EQ(updated, 1u);
    ASSERT_OK_AND_ASSIGN(std::vector<Record> got, store().Get({}, name, {I(100)}, true, false));
    ASSERT_EQ(got.size(), 1u);
    ExpectPayload(got[0].payload, {{"keep", true}, {"x", {{"y", 1}}}}, "merged");
  }
}

TEST_P(StoreConformanceTest, CollectionNamesChromaCannotTake) {
  for (const std::string bad : {"a", "ab", "_ab", "ab_", "-ab", "ab-"}) {
    SCOPED_TRACE("name " + bad);
    const CollectionConfig config = Config(bad, 4, Metric::kL2);
    if (chroma()) {
      const Status s = store().ValidateCreateCollection({}, config);
      ExpectInvalid(s, {});
      ExpectNamesQuoted(s, bad);
      ExpectInvalid(store().CreateCollection({}, config).status(), {});
    } else {
      EXPECT_OK(store().ValidateCreateCollection({}, config));
    }
  }
  // A name both take (3 characters, alphanumeric at both ends, '_' and '-' inside).
  const std::string good = NewName("a_b-c");
  EXPECT_OK(store().ValidateCreateCollection({}, Config(good, 4, Metric::kL2)));
}

// What QdrantStore refuses by design (adapters/qdrant/qdrant_translation.h): the payload key that
// keeps string ids, and a match.except of anything but strings (Qdrant takes an integral float as
// outside a list of integers); the local store takes both (Chroma refuses every except:
// FiltersChromaCannotExpress).
TEST_P(StoreConformanceTest, WhatQdrantCannotHoldOrExpress) {
  const std::string name = Create("qdrantrefusals", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  ASSERT_TRUE(Put(name, {{I(1), {1, 1, 1, 1}, {{"n", 1}}},
                         {I(2), {1, 1, 1, 2}, {{"n", "x"}}},
                         {I(3), {1, 1, 2, 1}, {{"n", true}}}}));
  const std::vector<Point> points = {{I(4), {0, 0, 0, 1}, {}},
                                     {I(5), {0, 0, 1, 0}, {{"_vecmesh_id", "mine"}}}};
  const Filter mixed = ParseFilter(R"({"must": [{"key": "n", "match": {"except": [1, "x"]}}]})");
  if (qdrant()) {
    ExpectInvalid(store().ValidateUpsert({}, name, points), {"points[1].payload._vecmesh_id"});
    ExpectInvalid(store().Upsert({}, name, points).status(), {"points[1].payload._vecmesh_id"});
    EXPECT_EQ(CountOf(name), 3u) << "nothing is written";
    ExpectInvalid(
        store().SetPayload({}, name, {I(1)}, {{"_vecmesh_id", "x"}}, PayloadMode::kMerge).status(),
        {"payload._vecmesh_id"});
    ExpectInvalid(store().Count({}, name, &mixed).status(),
                  {"filter.must[0].match.except[0]", "Qdrant"});
    return;
  }
  ASSERT_TRUE(Put(name, points));  // a string: Chroma holds it as metadata too
  if (!chroma()) EXPECT_EQ(CountOf(name, &mixed), 1u) << "only true is outside [1, \"x\"]";
}

// Refusals every store makes alike: a bad batch is refused whole, naming the field.
TEST_P(StoreConformanceTest, BadPointsAreRefusedWhole) {
  const std::string name = Create("badpoints", 4, Metric::kL2);
  ASSERT_FALSE(name.empty());
  ASSERT_TRUE(Put(name, {{I(100), {1, 1, 1, 1}, {{"keep", true}}}}));
  // `by_server`: what only the collection itself can tell (its dimension), which a remote store's
  // ValidateUpsert does not ask its server (engine/vector_store.h); Upsert refuses it all the same.
  auto refused = [&](const std::string& what, std::vector<Point> points,
                     const std::vector<std::string>& names, bool by_server = false) {
    SCOPED_TRACE(what);
    if (!(by_server && remote())) ExpectInvalid(store().ValidateUpsert({}, name, points), names);
    std::vector<PointId> ids;
    for (const Point& p : points) ids.push_back(p.id);
    ExpectInvalid(store().Upsert({}, name, std::move(points)).status(), names);
    EXPECT_EQ(CountOf(name), 1u) << "nothing is written";
    // Remove what a store wrote all the same, so that the next case starts from one point (an
    // id the store refuses to name is refused here too, and is not there).
    for (const PointId& id : ids) (void)store().Delete({}, name, {id});
  };
  const float nan = std::nanf(""), inf = INFINITY;
  refused("a vector of another dimension", {{I(1), {0, 0, 0, 1}, {}}, {I(2), {0, 0, 1}, {}}},
          {"points[1].vector"}, /*by_server=*/true);
  refused("a NaN", {{I(1), {0, 0, 0, 1}, {}}, {I(2), {0, nan, 1, 1}, {}}}, {"points[1].vector"});
  refused("an infinity", {{I(1), {0, 0, 0, 1}, {}}, {I(2), {0, 1, 1, -inf}, {}}},
          {"points[1].vector"});
  refused("a repeated id", {{I(1), {0, 0, 0, 1}, {}}, {I(1), {0, 0, 1, 1}, {}}}, {"points[1].id"});
  refused("an id of 300 bytes",
          {{I(1), {0, 0, 0, 1}, {}}, {S(std::string(300, 'x')), {0, 0, 1, 1}, {}}},
          {"points[1].id"});
  ASSERT_OK_AND_ASSIGN(std::vector<Record> got, store().Get({}, name, {I(100)}, true, true));
  ASSERT_EQ(got.size(), 1u);
  ExpectPayload(got[0].payload, {{"keep", true}}, "untouched");
  ExpectVectorNear(got[0].vector, {1, 1, 1, 1}, "untouched");
  // README "Collections and points": a cosine collection refuses a zero vector.
  const std::string cosine = Create("badcosine", 4, Metric::kCosine);
  ASSERT_FALSE(cosine.empty());
  const std::vector<Point> zero = {{I(1), {0, 0, 0, 1}, {}}, {I(2), {0, 0, 0, 0}, {}}};
  if (!remote()) ExpectInvalid(store().ValidateUpsert({}, cosine, zero), {"points[1].vector"});
  ExpectInvalid(store().Upsert({}, cosine, zero).status(), {"points[1].vector"});
  EXPECT_EQ(CountOf(cosine), 0u) << "nothing is written";

  SearchRequest search;
  search.vector = {1, 1, 1};
  ExpectInvalid(store().Search({}, name, search).status(), {"vector"});
  search.vector = {1, nan, 1, 1};
  ExpectInvalid(store().Search({}, name, search).status(), {"vector"});
  search.vector = {1, 1, 1, 1};
  search.k = 0;
  ExpectInvalid(store().Search({}, name, search).status(), {"k"});
  SearchRequest ok;
  ok.vector = {1, 1, 1, 1};
  ExpectInvalid(store().SearchBatch({}, name, {ok, search}).status(), {"searches[1].k"});
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformanceTest,
                         ::testing::Values("faiss", "chroma", "qdrant", "qdrant_live"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace vecmesh
