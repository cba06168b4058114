// The translations between this API and Qdrant's (adapters/qdrant/qdrant_translation.h), which
// need no server: string ids become the documented UUIDs and come back through the payload key,
// payloads keep everything but that key, and filters map condition by condition (or are refused
// naming the condition). The conformance suite checks the same against the Qdrant double, and
// against a real Qdrant when QDRANT_URL is set.
#include "adapters/qdrant/qdrant_translation.h"

#include <gtest/gtest.h>

#include <set>

namespace vecmesh::adapters::qdrant {
namespace {

using engine::Filter;
using engine::Metric;
using engine::PointId;
using engine::StatusCode;
using json = nlohmann::json;

Filter Parse(const std::string& text) {
  auto parsed = Filter::Parse(json::parse(text), engine::FilterLimits{});
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().ToString();
  return parsed.ok() ? *parsed : Filter{};
}

json Translated(const std::string& filter) {
  auto translated = ToQdrantFilter(Parse(filter));
  EXPECT_TRUE(translated.ok()) << filter << ": " << translated.status().ToString();
  return translated.ok() ? *translated : json();
}

// The README's recipe: Python's uuid.uuid5(uuid.NAMESPACE_URL, "vecmesh:id:" + s).
TEST(QdrantIdsTest, StringIdsAreTheDocumentedUuids) {
  EXPECT_EQ(UuidOf("7"), "37900b03-0c4f-56ac-8655-520ad5487cef");
  EXPECT_EQ(UuidOf("hello"), "f8148d2c-a7c6-5448-953c-1cd8598e4b74");
  EXPECT_EQ(UuidOf("日本"), "9d34ab2b-741b-5284-a69d-d3497bdedba5");
  EXPECT_EQ(ToQdrantId(PointId(std::string("7"))), json("37900b03-0c4f-56ac-8655-520ad5487cef"));
  EXPECT_EQ(ToQdrantId(PointId(uint64_t{7})), json(7));
  EXPECT_EQ(ToQdrantId(PointId(uint64_t{18446744073709551615u})), json(18446744073709551615u));
}

TEST(QdrantIdsTest, MapOneToOneAndComeBackThroughThePayload) {
  const std::vector<PointId> ids = {uint64_t{7},
                                    std::string("7"),
                                    std::string("007"),
                                    uint64_t{0},
                                    std::string("0"),
                                    uint64_t{18446744073709551615u},
                                    std::string("ü/ß 日本 😀"),
                                    std::string("3f2504e0-4f89-11d3-9a0c-0305e82c3301")};
  std::set<std::string> seen;
  for (const PointId& id : ids) {
    const json qid = ToQdrantId(id);
    EXPECT_TRUE(seen.insert(qid.dump()).second) << qid << " maps two ids";
    const json payload = ToQdrantPayload(json{{"a", 1}}, id);
    EXPECT_EQ(FromQdrantId(qid, payload), id) << qid;
    EXPECT_EQ(FromQdrantPayload(payload).dump(), R"({"a":1})") << "the id key is not the user's";
  }
  // A UUID point someone else wrote (no id key, or a key that is not its string) reads back as
  // its UUID.
  const std::string uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
  EXPECT_EQ(FromQdrantId(uuid, json()), PointId(uuid));
  EXPECT_EQ(FromQdrantId(uuid, json{{std::string(kIdKey), "other"}}), PointId(uuid));
}

TEST(QdrantPayloadsTest, AnyObjectButTheIdKey) {
  EXPECT_TRUE(
      CheckPayload(json::parse(R"({"a": {"b": [1, null, "x"]}, "n": 18446744073709551615})"),
                   "points[0].payload")
          .ok());
  EXPECT_TRUE(CheckPayload(nullptr, "points[0].payload").ok());
  auto refused = CheckPayload(json{{std::string(kIdKey), "x"}}, "points[2].payload");
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("points[2].payload._vecmesh_id"), std::string::npos)
      << refused.message();
  EXPECT_EQ(CheckPayload(json::array(), "payload").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ToQdrantPayload(nullptr, PointId(uint64_t{1})), json::object());
  EXPECT_EQ(FromQdrantPayload(nullptr), json::object());
}

TEST(QdrantFiltersTest, ConditionByCondition) {
  EXPECT_EQ(Translated(R"({})"), json::object());
  EXPECT_EQ(Translated(R"({"must": [{"key": "color", "match": {"value": "red"}}]})"),
            json::parse(R"({"must": [{"key": "color", "match": {"value": "red"}}]})"));
  EXPECT_EQ(Translated(R"({"must_not": [{"key": "flag", "match": {"value": true}}]})"),
            json::parse(R"({"must_not": [{"key": "flag", "match": {"value": true}}]})"));
  EXPECT_EQ(Translated(R"({"should": [{"key": "a", "range": {"gt": 1.5, "lte": 3}}]})"),
            json::parse(R"({"should": [{"key": "a", "range": {"gt": 1.5, "lte": 3.0}}]})"));
  EXPECT_EQ(Translated(R"({"must": [{"is_empty": {"key": "tags"}}]})"),
            json::parse(R"({"must": [{"is_empty": {"key": "tags"}}]})"));
  EXPECT_EQ(Translated(R"({"must": [{"has_id": [7, "7"]}]})"),
            json::parse(R"({"must": [{"has_id": [7, "37900b03-0c4f-56ac-8655-520ad5487cef"]}]})"));
  EXPECT_EQ(
      Translated(R"({"must": [{"must_not": [{"key": "c", "match": {"except": ["x", "y"]}}]}]})"),
      json::parse(R"({"must": [{"must_not": [{"key": "c", "match": {"except": ["x", "y"]}}]}]})"));
}

// An integral float payload value equals that integer here, not in Qdrant's match: integers of
// double precision become ranges [n, n].
TEST(QdrantFiltersTest, IntegersMatchIntegralFloatsToo) {
  EXPECT_EQ(Translated(R"({"must": [{"key": "n", "match": {"value": -3}}]})"),
            json::parse(R"({"must": [{"key": "n", "range": {"gte": -3, "lte": -3}}]})"));
  EXPECT_EQ(Translated(R"({"must": [{"key": "n", "match": {"value": 9007199254740993}}]})"),
            json::parse(R"({"must": [{"key": "n", "match": {"value": 9007199254740993}}]})"));
  EXPECT_EQ(Translated(R"({"must": [{"key": "n", "match": {"any": [0, "red", true, "blue"]}}]})"),
            json::parse(R"({"must": [{"should": [{"key": "n", "range": {"gte": 0, "lte": 0}},
                                            {"key": "n", "match": {"value": true}},
                                            {"key": "n", "match": {"any": ["red", "blue"]}}]}]})"));
  // Nothing is in an empty list.
  EXPECT_EQ(Translated(R"({"must": [{"key": "n", "match": {"any": []}}]})"),
            json::parse(R"({"must": [{"has_id": []}]})"));
}

// A level of a dotted key may be an object or an array of objects (engine/filter.h); Qdrant's
// path says which, so a condition holds on either path, and is_empty on both.
TEST(QdrantFiltersTest, DottedKeysTakeEveryPath) {
  EXPECT_EQ(Translated(R"({"must": [{"key": "a.b", "match": {"value": "x"}}]})"),
            json::parse(R"({"must": [{"should": [{"key": "a.b", "match": {"value": "x"}},
                                                  {"key": "a[].b", "match": {"value": "x"}}]}]})"));
  EXPECT_EQ(Translated(R"({"must_not": [{"is_empty": {"key": "a.b"}}]})"),
            json::parse(R"({"must_not": [{"must": [{"is_empty": {"key": "a.b"}},
                                                    {"is_empty": {"key": "a[].b"}}]}]})"));
  EXPECT_EQ(
      Translated(R"({"must": [{"key": "x y.日本", "match": {"value": 1}}]})")["must"][0]["should"]
                                                                             [1]["key"],
      json(R"("x y"[]."日本")"));
  EXPECT_EQ(
      Translated(R"({"must": [{"key": "a.b.c.d.e", "match": {"value": 1}}]})")["must"][0]["should"]
          .size(),
      16u);
  // Repeats go: Qdrant's lists are sets.
  EXPECT_EQ(Translated(R"({"must": [{"has_id": [7, 7, "7"]},
                                     {"key": "c", "match": {"any": ["x", "x"]}}]})"),
            json::parse(R"({"must": [{"has_id": [7, "37900b03-0c4f-56ac-8655-520ad5487cef"]},
                                      {"key": "c", "match": {"any": ["x"]}}]})"));
}

TEST(QdrantFiltersTest, WhatQdrantCannotExpressIsRefusedNamingTheCondition) {
  struct Case {
    const char* filter;
    const char* names;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"must": [{"key": "n", "match": {"except": ["x", 1]}}]})",
            "filter.must[0].match.except[1]"},
           {R"({"must": [{"key": "n", "match": {"except": [true]}}]})",
            "filter.must[0].match.except[0]"},
           {R"({"must": [{"key": "n", "match": {"except": [5]}}]})",
            "filter.must[0].match.except[0]"},
           {R"({"must": [{"key": "n", "match": {"except": []}}]})", "filter.must[0].match.except"},
           {R"({"should": [{"key": "n", "match": {"value": 18446744073709551615}}]})",
            "filter.should[0].match.value"},
           {R"({"must_not": [{"key": "_vecmesh_id", "match": {"value": "x"}}]})",
            "filter.must_not[0].key '_vecmesh_id'"},
           {R"({"must": [{"key": "a.b.c.d.e.f", "range": {"gt": 1}}]})",
            "filter.must[0].key 'a.b.c.d.e.f'"},
           {R"({"must": [{"key": "say \"hi\"", "range": {"gt": 1}}]})", "filter.must[0].key"},
       }) {
    auto translated = ToQdrantFilter(Parse(c.filter));
    ASSERT_FALSE(translated.ok()) << c.filter;
    EXPECT_EQ(translated.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(translated.status().message().find(c.names), std::string::npos)
        << c.filter << ": " << translated.status().message();
  }
}

TEST(QdrantDistancesTest, EachMetricHasItsDistance) {
  for (Metric m : {Metric::kL2, Metric::kIp, Metric::kCosine}) {
    EXPECT_EQ(FromDistance(ToDistance(m)), m);
  }
  EXPECT_EQ(ToDistance(Metric::kL2), "Euclid");
  EXPECT_EQ(FromDistance("Manhattan"), std::nullopt);
}

}  // namespace
}  // namespace vecmesh::adapters::qdrant
