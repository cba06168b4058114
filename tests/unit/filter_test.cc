// The FILTER language: parsing and its errors, and its semantics checked against an
// independent evaluator over every point.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/store/local_store.h"
#include "tests/support/synthetic.h"

namespace vecmesh::engine {
namespace {

using nlohmann::json;

Status ParseError(const json& j, FilterLimits limits = {}) {
  auto f = Filter::Parse(j, limits);
  return f.ok() ? Status::Ok() : f.status();
}

TEST(FilterParseTest, AcceptsTheWholeLanguage) {
  json j = json::parse(R"({
    "must": [{"key": "a.b", "match": {"value": "x"}}, {"key": "n", "range": {"gte": 1, "lt": 2.5}}],
    "should": [{"key": "t", "match": {"any": [1, 2, true]}}, {"has_id": [1, "two"]}],
    "must_not": [{"key": "t", "match": {"except": ["a"]}}, {"is_empty": {"key": "z"}},
                 {"must": [{"key": "q", "match": {"value": false}}]}]
  })");
  auto f = Filter::Parse(j, {});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->must.size(), 2u);
  EXPECT_EQ(f->should.size(), 2u);
  EXPECT_EQ(f->must_not.size(), 3u);
  EXPECT_EQ(f->must_not[2].kind, Condition::Kind::kNested);
}

TEST(FilterParseTest, ErrorsNameTheFieldAndTheLimit) {
  struct Case {
    const char* filter;
    const char* message;
  } cases[] = {
      {R"({"must": [{"key": "a", "range": {"gtx": 1}}]})",
       "filter.must[0].range: unknown operator 'gtx'; expected gt, gte, lt or lte"},
      {R"({"must": [{"key": "a", "match": {"like": "x"}}]})",
       "filter.must[0].match: unknown operator 'like'; expected value, any or except"},
      {R"({"must": [{"key": "a", "match": {"value": 1.5}}]})",
       "filter.must[0].match.value must be a string, an integer or a boolean, got number"},
      {R"({"must": [{"key": "a", "range": {"lt": "x"}}]})",
       "filter.must[0].range.lt must be a finite number, got string"},
      {R"({"must": [{"key": 3, "match": {"value": 1}}]})", "filter.must[0].key must be a string"},
      {R"({"should": {"key": "a"}})", "filter.should must be an array of conditions, got object"},
      {R"({"must": [{"has_id": [-1]}]})",
       "filter.must[0].has_id[0] must be an unsigned integer or a string, got -1"},
      {R"({"maybe": []})", "filter.maybe is not a filter clause"},
      {R"([1])", "filter must be an object"},
      {R"({"must": [{"key": "a"}]})", "filter.must[0] needs exactly one of match or range"},
  };
  for (const Case& c : cases) {
    Status s = ParseError(json::parse(c.filter));
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.filter;
    EXPECT_NE(s.message().find(c.message), std::string::npos)
        << c.filter << " gave: " << s.message();
  }
}

TEST(FilterParseTest, DepthAndConditionLimits) {
  json deep = {{"must", json::array({{{"key", "a"}, {"match", {{"value", 1}}}}})}};
  for (int i = 0; i < 8; ++i) deep = {{"must", json::array({deep})}};  // 9 levels
  Status s = ParseError(deep);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("levels deep; the limit is 8"), std::string::npos) << s.message();

  json wide = {{"should", json::array()}};
  for (int i = 0; i < 129; ++i) wide["should"].push_back({{"key", "a"}, {"match", {{"value", i}}}});
  s = ParseError(wide);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("the limit is 128"), std::string::npos) << s.message();
  wide["should"].erase(0);
  EXPECT_TRUE(ParseError(wide).ok());
}

// ---- semantics --------------------------------------------------------------------------

// The values a dotted key reaches in a payload, arrays flattened (nulls included).
void Reach(const json& node, const std::vector<std::string>& path, size_t i,
           std::vector<const json*>* out) {
  if (node.is_array()) {
    for (const auto& e : node) Reach(e, path, i, out);
    return;
  }
  if (i == path.size()) {
    out->push_back(&node);
    return;
  }
  if (node.is_object() && node.contains(path[i])) Reach(node[path[i]], path, i + 1, out);
}

std::vector<const json*> Values(const json& payload, const std::string& key) {
  std::vector<std::string> path;
  size_t start = 0;
  for (size_t dot; (dot = key.find('.', start)) != std::string::npos; start = dot + 1) {
    path.push_back(key.substr(start, dot - start));
  }
  path.push_back(key.substr(start));
  std::vector<const json*> out;
  Reach(payload, path, 0, &out);
  return out;
}

bool ScalarEquals(const json& stored, const json& wanted) {
  if (wanted.is_string() || wanted.is_boolean()) return stored == wanted;
  if (!stored.is_number()) return false;
  return stored.get<double>() == wanted.get<double>();
}

bool Eval(const json& filter, uint64_t id, const json& payload);

bool EvalCondition(const json& c, uint64_t id, const json& payload) {
  if (c.contains("must") || c.contains("should") || c.contains("must_not")) {
    return Eval(c, id, payload);
  }
  if (c.contains("has_id")) {
    for (const auto& v : c["has_id"]) {
      if (v.is_number() && v.get<uint64_t>() == id) return true;
    }
    return false;
  }
  if (c.contains("is_empty")) {
    for (const json* v : Values(payload, c["is_empty"]["key"])) {
      if (!v->is_null()) return false;
    }
    return true;
  }
  auto values = Values(payload, c["key"]);
  for (const json* v : values) {
    if (c.contains("range")) {
      if (!v->is_number()) continue;
      double x = v->get<double>();
      const json& r = c["range"];
      if ((!r.contains("gt") || x > r["gt"].get<double>()) &&
          (!r.contains("gte") || x >= r["gte"].get<double>()) &&
          (!r.contains("lt") || x < r["lt"].get<double>()) &&
          (!r.contains("lte") || x <= r["lte"].get<double>())) {
        return true;
      }
      continue;
    }
    const json& m = c["match"];
    if (m.contains("value") && ScalarEquals(*v, m["value"])) return true;
    if (m.contains("any")) {
      for (const auto& w : m["any"]) {
        if (ScalarEquals(*v, w)) return true;
      }
    }
    if (m.contains("except") && !v->is_null() && !v->is_object()) {
      bool listed = false;
      for (const auto& w : m["except"]) listed = listed || ScalarEquals(*v, w);
      if (!listed) return true;
    }
  }
  return false;
}

bool Eval(const json& f, uint64_t id, const json& payload) {
  if (f.contains("must")) {
    for (const auto& c : f["must"]) {
      if (!EvalCondition(c, id, payload)) return false;
    }
  }
  if (f.contains("should") && !f["should"].empty()) {
    bool any = false;
    for (const auto& c : f["should"]) any = any || EvalCondition(c, id, payload);
    if (!any) return false;
  }
  if (f.contains("must_not")) {
    for (const auto& c : f["must_not"]) {
      if (EvalCondition(c, id, payload)) return false;
    }
  }
  return true;
}

class FilterSemanticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.CreateCollection({}, {"c", 4, Metric::kL2, {}}).ok());
    // Hand-made payloads covering arrays, nesting, nulls, mixed types and missing keys.
    payloads_ = {
        json::parse(R"({"color": "red", "n": 1, "tags": ["a", "b"], "ok": true})"),
        json::parse(R"({"color": "blue", "n": 2.5, "tags": [], "ok": false, "nested": {"x": 1}})"),
        json::parse(R"({"color": ["red", "green"], "n": 3, "nested": {"x": [2, 3]}})"),
        json::parse(R"({"color": null, "n": "3", "items": [{"x": 5}, {"x": 6}]})"),
        json::parse(R"({})"),
        json::parse(R"({"color": "green", "n": -1, "tags": ["b"], "nested": {"x": 2.0}})"),
    };
    // Many more from the synthetic generator, for volume.
    for (size_t i = 0; i < 300; ++i) payloads_.push_back(testing::SyntheticPayload(i));
    std::vector<Point> points;
    for (size_t i = 0; i < payloads_.size(); ++i) {
      points.push_back({uint64_t{i}, {float(i), 0, 0, 0}, payloads_[i]});
    }
    ASSERT_TRUE(store_.Upsert({}, "c", points).ok());
  }

  LocalStore store_;
  std::vector<json> payloads_;
};

TEST_F(FilterSemanticsTest, CountAndScrollAgreeWithAnIndependentEvaluator) {
  const char* filters[] = {
      R"({"must": [{"key": "color", "match": {"value": "red"}}]})",
      R"({"must": [{"key": "color", "match": {"any": ["green", "blue"]}}]})",
      R"({"must": [{"key": "color", "match": {"except": ["red"]}}]})",
      R"({"must": [{"key": "n", "range": {"gt": 1, "lte": 3}}]})",
      R"({"must": [{"key": "nested.x", "match": {"value": 2}}]})",
      R"({"must": [{"key": "items.x", "range": {"gte": 6}}]})",
      R"({"must": [{"key": "tags", "match": {"value": "b"}}]})",
      R"({"must": [{"is_empty": {"key": "tags"}}]})",
      R"({"must": [{"is_empty": {"key": "color"}}]})",
      R"({"must": [{"key": "ok", "match": {"value": false}}]})",
      R"({"should": [{"has_id": [0, 3, 999]}, {"key": "n", "range": {"lt": 0}}]})",
      R"({"must_not": [{"key": "half", "match": {"value": true}}]})",
      R"({"must": [{"key": "bucket", "range": {"gte": 10, "lt": 20}}],
          "must_not": [{"key": "group.id", "match": {"any": [1, 3]}}]})",
      R"({"should": [{"must": [{"key": "tag", "match": {"value": "t7"}}]},
                     {"must": [{"key": "bucket", "range": {"gt": 290}}],
                      "must_not": [{"key": "half", "match": {"value": false}}]}]})",
      R"({"must": [{"key": "missing", "match": {"except": ["x"]}}]})",
      R"({})",
  };
  for (const char* text : filters) {
    json j = json::parse(text);
    auto filter = Filter::Parse(j, {});
    ASSERT_TRUE(filter.ok()) << text << ": " << filter.status().ToString();
    std::vector<uint64_t> expected;
    for (size_t i = 0; i < payloads_.size(); ++i) {
      if (Eval(j, i, payloads_[i])) expected.push_back(i);
    }
    auto count = store_.Count({}, "c", &*filter);
    ASSERT_TRUE(count.ok());
    EXPECT_EQ(*count, expected.size()) << text;
    ScrollRequest scroll;
    scroll.filter = *filter;
    scroll.limit = 1000;
    auto page = store_.Scroll({}, "c", scroll);
    ASSERT_TRUE(page.ok());
    std::vector<uint64_t> got;
    for (const Record& r : page->points) got.push_back(std::get<uint64_t>(r.id));
    EXPECT_EQ(got, expected) << text;
  }
}

TEST_F(FilterSemanticsTest, IndexFollowsPayloadUpdatesAndDeletes) {
  auto red =
      *Filter::Parse(json::parse(R"({"must": [{"key": "color", "match": {"value": "red"}}]})"), {});
  EXPECT_EQ(*store_.Count({}, "c", &red), 2u);
  ASSERT_TRUE(
      store_.SetPayload({}, "c", {uint64_t{1}}, {{"color", "red"}}, PayloadMode::kMerge).ok());
  EXPECT_EQ(*store_.Count({}, "c", &red), 3u);
  ASSERT_TRUE(
      store_.SetPayload({}, "c", {uint64_t{0}}, {{"shape", "x"}}, PayloadMode::kReplace).ok());
  EXPECT_EQ(*store_.Count({}, "c", &red), 2u);
  ASSERT_TRUE(store_.Delete({}, "c", {uint64_t{2}}).ok());
  EXPECT_EQ(*store_.Count({}, "c", &red), 1u);
  ASSERT_TRUE(store_.Upsert({}, "c", {{uint64_t{1}, {0, 0, 0, 0}, {{"color", "blue"}}}}).ok());
  EXPECT_EQ(*store_.Count({}, "c", &red), 0u);
}

}  // namespace
}  // namespace vecmesh::engine
