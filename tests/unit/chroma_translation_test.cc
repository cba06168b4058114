// The translations between this API and Chroma's (adapters/chroma/chroma_translation.h), which
// need no server: the id map is one to one and keeps types, payloads Chroma cannot hold are
// refused naming the field, filters become `where` (or are refused naming the condition), and
// distances become this API's scores. The conformance suite checks the same against a real
// Chroma server.
#include "adapters/chroma/chroma_translation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace vecmesh::adapters::chroma {
namespace {

using engine::Filter;
using engine::Metric;
using engine::PointId;
using engine::StatusCode;
using json = nlohmann::json;

TEST(ChromaIdsTest, MapOneToOneAndKeepTheirType) {
  const std::vector<PointId> ids = {uint64_t{7},
                                    std::string("7"),
                                    std::string("007"),
                                    std::string("s:7"),
                                    std::string("s:"),
                                    std::string("abc"),
                                    uint64_t{0},
                                    std::string("0"),
                                    uint64_t{18446744073709551615u},
                                    std::string("18446744073709551616"),
                                    std::string("ü/ß 日本 😀"),
                                    std::string("3f2504e0-4f89-11d3-9a0c-0305e82c3301")};
  std::set<std::string> seen;
  for (const PointId& id : ids) {
    const std::string chroma = ToChromaId(id);
    EXPECT_TRUE(seen.insert(chroma).second) << chroma << " maps two ids";
    EXPECT_EQ(FromChromaId(chroma), id) << chroma;
  }
  EXPECT_EQ(ToChromaId(uint64_t{7}), "7");
  EXPECT_EQ(ToChromaId(std::string("7")), "s:7");
  EXPECT_EQ(ToChromaId(std::string("007")), "007") << "not the form of an integer id";
  EXPECT_EQ(ToChromaId(std::string("abc")), "abc");
}

TEST(ChromaPayloadTest, HoldsFlatScalarsAndRefusesTheRestNamingTheField) {
  EXPECT_TRUE(CheckPayload({{"s", "x"}, {"i", -3}, {"f", 2.5}, {"b", true}}, "p").ok());
  EXPECT_TRUE(CheckPayload(json(), "p").ok());
  for (const auto& [payload, field] : std::vector<std::pair<json, std::string>>{
           {{{"tags", {1, 2}}}, "p.tags"},
           {{{"nested", {{"a", 1}}}}, "p.nested"},
           {{{"gone", nullptr}}, "p.gone"},
           {{{"big", uint64_t{1} << 63}}, "p.big"},
           {{{"chroma:document", "x"}}, "p.chroma:document"}}) {
    engine::Status s = CheckPayload(payload, "p");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << payload.dump();
    EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
  }
  EXPECT_TRUE(ToMetadata(json::object()).is_null()) << "an empty payload is no metadata";
  // Chroma merges metadata: replacing one nulls the keys the new one lacks.
  EXPECT_EQ(Replacing({{"a", 1}}, {{"a", 0}, {"b", 2}}), json({{"a", 1}, {"b", nullptr}}));
  EXPECT_EQ(Replacing(nullptr, {{"b", 2}}), json({{"b", nullptr}}));
  EXPECT_EQ(Replacing({{"a", 1}}, nullptr), json({{"a", 1}}));
  EXPECT_EQ(FromMetadata(nullptr), json::object());
}

json Where(const json& filter) {
  auto parsed = Filter::Parse(filter, {});
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto where = ToWhere(*parsed);
  EXPECT_TRUE(where.ok()) << where.status().ToString();
  return where.ok() && *where ? **where : json();
}

TEST(ChromaWhereTest, TranslatesConditionsAndPushesNegationsDown) {
  EXPECT_EQ(Where(json::object()), json()) << "no filter: no where";
  EXPECT_EQ(Where({{"must", {{{"key", "k"}, {"match", {{"value", "x"}}}}}}}),
            json({{"k", {{"$eq", "x"}}}}));
  EXPECT_EQ(Where({{"must", {{{"key", "k"}, {"match", {{"any", {1, 2}}}}}}}}),
            json({{"k", {{"$in", {1, 2}}}}}));
  EXPECT_EQ(Where({{"must_not", {{{"key", "k"}, {"match", {{"any", {"a", "b"}}}}}}}}),
            json({{"k", {{"$nin", {"a", "b"}}}}}));
  // Mixed types are one comparison each (Chroma refuses a mixed $in).
  EXPECT_EQ(Where({{"must", {{{"key", "k"}, {"match", {{"any", {1, "1"}}}}}}}}),
            json({{"$or", {{{"k", {{"$eq", 1}}}}, {{"k", {{"$eq", "1"}}}}}}}));
  // should: at least one; must_not of a nested filter: De Morgan.
  EXPECT_EQ(Where({{"should",
                    {{{"key", "a"}, {"match", {{"value", 1}}}},
                     {{"key", "b"}, {"match", {{"value", 2}}}}}}}),
            json({{"$or", {{{"a", {{"$eq", 1}}}}, {{"b", {{"$eq", 2}}}}}}}));
  EXPECT_EQ(Where({{"must_not",
                    {{{"must",
                       {{{"key", "a"}, {"match", {{"value", 1}}}},
                        {{"key", "b"}, {"match", {{"value", true}}}}}}}}}}),
            json({{"$or", {{{"a", {{"$ne", 1}}}}, {{"b", {{"$ne", true}}}}}}}));
  // Integral bounds as integers; a fractional one gets its integral companion.
  EXPECT_EQ(Where({{"must", {{{"key", "n"}, {"range", {{"gte", 2}}}}}}}),
            json({{"n", {{"$gte", 2}}}}));
  EXPECT_EQ(Where({{"must", {{{"key", "n"}, {"range", {{"gte", 2.5}}}}}}}),
            json({{"$and", {{{"n", {{"$gte", 2.5}}}}, {{"n", {{"$gt", 2}}}}}}}));
  EXPECT_EQ(Where({{"must", {{{"key", "n"}, {"range", {{"lt", -2.5}}}}}}}),
            json({{"$or", {{{"n", {{"$lt", -2.5}}}}, {{"n", {{"$lte", -3}}}}}}}));
}

// The rewritten bounds, evaluated as Chroma does (a fractional bound truncated toward zero
// against an integer field), equal the exact comparison for integers and floats alike.
bool ChromaCompares(const std::string& op, double field, bool integer_field, double bound) {
  const double b = integer_field ? std::trunc(bound) : bound;
  if (op == "$gt") return field > b;
  if (op == "$gte") return field >= b;
  if (op == "$lt") return field < b;
  return field <= b;
}
bool Evaluate(const json& where, double field, bool integer_field) {
  if (where.contains("$and")) {
    for (const json& part : where["$and"]) {
      if (!Evaluate(part, field, integer_field)) return false;
    }
    return true;
  }
  if (where.contains("$or")) {
    for (const json& part : where["$or"]) {
      if (Evaluate(part, field, integer_field)) return true;
    }
    return false;
  }
  const auto& [key, comparison] = *where.items().begin();
  const auto& [op, bound] = *comparison.items().begin();
  return ChromaCompares(op, field, integer_field, bound.get<double>());
}

TEST(ChromaWhereTest, FractionalBoundsAreExactAgainstIntegerAndFloatFields) {
  for (const char* op : {"gt", "gte", "lt", "lte"}) {
    for (double bound : {2.5, -2.5, 0.5, -0.5, 3.0, -3.0}) {
      const json where = Where({{"must", {{{"key", "n"}, {"range", {{op, bound}}}}}}});
      for (double field : {-4.0, -3.0, -2.5, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0}) {
        const bool integer_field = std::trunc(field) == field;
        const std::string o(op);
        const bool exact = o == "gt"    ? field > bound
                           : o == "gte" ? field >= bound
                           : o == "lt"  ? field < bound
                                        : field <= bound;
        EXPECT_EQ(Evaluate(where, field, integer_field), exact)
            << op << " " << bound << " on " << field << (integer_field ? " (int)" : "");
      }
    }
  }
}

TEST(ChromaWhereTest, BoundsPastTheIntegersStayFloats) {
  EXPECT_EQ(Where({{"must", {{{"key", "n"}, {"range", {{"gt", 1e19}}}}}}}),
            json({{"n", {{"$gt", 1e19}}}}));
  EXPECT_EQ(Where({{"must", {{{"key", "n"}, {"range", {{"lte", -1e19}}}}}}}),
            json({{"n", {{"$lte", -1e19}}}}));
}

TEST(ChromaWhereTest, RefusesWhatChromaCannotExpressNamingTheCondition) {
  for (const auto& [filter, named] : std::vector<std::pair<json, std::string>>{
           {{{"must", {{{"has_id", {1}}}}}}, "filter.must[0].has_id"},
           {{{"must", {{{"is_empty", {{"key", "k"}}}}}}}, "filter.must[0].is_empty"},
           {{{"must", {{{"key", "k"}, {"match", {{"except", {1}}}}}}}}, "match.except"},
           {{{"must", {{{"key", "a.b"}, {"match", {{"value", 1}}}}}}}, "'a.b'"},
           {{{"must_not", {{{"key", "n"}, {"range", {{"gt", 1}}}}}}},
            "filter.must_not[0].range"}}) {
    auto parsed = Filter::Parse(filter, {});
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    auto where = ToWhere(*parsed);
    ASSERT_FALSE(where.ok()) << filter.dump();
    EXPECT_EQ(where.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(where.status().message().find(named), std::string::npos) << where.status().message();
    EXPECT_NE(where.status().message().find("Chroma"), std::string::npos)
        << where.status().message();
  }
}

TEST(ChromaScoresTest, DistancesBecomeThisApisScores) {
  EXPECT_FLOAT_EQ(ToScore(Metric::kL2, 4.0), 2.0f) << "squared l2 to the distance";
  EXPECT_FLOAT_EQ(ToScore(Metric::kCosine, 0.25), 0.75f) << "1 - cos to the similarity";
  EXPECT_FLOAT_EQ(ToScore(Metric::kIp, -0.75), 1.75f) << "1 - dot to the inner product";
  EXPECT_EQ(FromSpace(ToSpace(Metric::kIp)), Metric::kIp);
}

TEST(ChromaNamesTest, RefusesNamesChromaCannotTake) {
  EXPECT_TRUE(CheckCollectionName("docs").ok());
  EXPECT_TRUE(CheckCollectionName("a-b_c").ok());
  for (const char* name : {"a", "ab", "_ab", "ab_", "-ab"}) {
    engine::Status s = CheckCollectionName(name);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(s.message().find(std::string("'") + name + "'"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace vecmesh::adapters::chroma
