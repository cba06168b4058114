// Indexing jobs' messages (api/jobs/job_message.h) and their application (Service::ApplyJob):
// each op decodes as the REST call it mirrors, a bad message is refused naming the field, and a
// job is applied once in effect through the service, as REST's writes are.
#include "api/jobs/job_message.h"

#include <gtest/gtest.h>

#include "engine/store/local_store.h"

namespace vecmesh::api {
namespace {

using engine::PointId;

TEST(JobMessageTest, EachOpDecodesAsTheCallItMirrors) {
  const engine::Limits limits;
  auto upsert = DecodeJobMessage(
      R"({"job_id": "batch-1", "collection": "docs", "op": "upsert",
          "points": [{"id": 1, "vector": [1, 2], "payload": {"a": 1}}, {"id": "x", "vector": [3, 4]}]})",
      "ignored", limits);
  ASSERT_TRUE(upsert.ok()) << upsert.status().ToString();
  EXPECT_EQ(upsert->job_id, "batch-1") << "the body's id over the message_id";
  EXPECT_EQ(upsert->collection, "docs");
  const auto& points = std::get<std::vector<engine::Point>>(upsert->write);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[1].id, PointId(std::string("x")));

  auto del = DecodeJobMessage(R"({"collection": "docs", "op": "delete", "ids": [1, "x"]})", "msg-7",
                              limits);
  ASSERT_TRUE(del.ok()) << del.status().ToString();
  EXPECT_EQ(del->job_id, "msg-7") << "the message_id when the body has none";
  EXPECT_EQ(std::get<DeletePointsRequest>(del->write).ids->size(), 2u);

  auto by_filter = DecodeJobMessage(
      R"({"job_id": "j", "collection": "docs", "op": "delete",
          "filter": {"must": [{"key": "a", "match": {"value": 1}}]}})",
      "", limits);
  ASSERT_TRUE(by_filter.ok()) << by_filter.status().ToString();
  EXPECT_TRUE(std::get<DeletePointsRequest>(by_filter->write).filter.has_value());

  auto payload = DecodeJobMessage(
      R"({"job_id": "j", "collection": "docs", "op": "set_payload", "ids": [1],
          "payload": {"b": 2}, "mode": "replace"})",
      "", limits);
  ASSERT_TRUE(payload.ok()) << payload.status().ToString();
  EXPECT_EQ(std::get<UpdatePayloadRequest>(payload->write).mode, engine::PayloadMode::kReplace);

  // The encoding of an import's job decodes back to its points.
  const std::vector<engine::Point> written = {{uint64_t{7}, {0.5f, -1}, {{"k", "v"}}},
                                              {std::string("7"), {1, 1}, nullptr}};
  auto back = DecodeJobMessage(EncodeUpsertJob("imp-1", "docs", written), "", limits);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->job_id, "imp-1");
  const auto& decoded = std::get<std::vector<engine::Point>>(back->write);
  ASSERT_EQ(decoded.size(), 2u);
  EXPECT_EQ(decoded[0].id, written[0].id);
  EXPECT_EQ(decoded[0].vector, written[0].vector);
  EXPECT_EQ(decoded[0].payload, written[0].payload);
  EXPECT_EQ(decoded[1].id, written[1].id);
}

TEST(JobMessageTest, AHopelessMessageIsRefusedNamingTheField) {
  const engine::Limits limits;
  struct Case {
    std::string body;
    std::string message_id;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {"not json", "m", "JSON"},
           {R"([1, 2])", "m", "object"},
           {R"({"collection": "docs", "op": "delete", "ids": [1]})", "", "job_id"},
           {R"({"job_id": ")" + std::string(129, 'j') + R"(", "collection": "docs",
                "op": "delete", "ids": [1]})",
            "", "128"},
           {R"({"job_id": 7, "collection": "docs", "op": "delete", "ids": [1]})", "", "job_id"},
           {R"({"job_id": "j", "op": "delete", "ids": [1]})", "", "collection"},
           {R"({"job_id": "j", "collection": "docs", "ids": [1]})", "", "op"},
           {R"({"job_id": "j", "collection": "docs", "op": "merge", "ids": [1]})", "", "op"},
           {R"({"job_id": "j", "collection": "docs", "op": "upsert"})", "", "points"},
           {R"({"job_id": "j", "collection": "docs", "op": "upsert", "points": [{"id": -1,
                "vector": [1]}]})",
            "", "points[0].id"},
           {R"({"job_id": "j", "collection": "docs", "op": "delete", "ids": [1], "extra": 1})", "",
            "extra"},
       }) {
    auto decoded = DecodeJobMessage(c.body, c.message_id, limits);
    ASSERT_FALSE(decoded.ok()) << c.body;
    EXPECT_EQ(decoded.status().code(), engine::StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(decoded.status().message().find(c.names), std::string::npos)
        << c.body << ": " << decoded.status().message();
  }
}

TEST(ServiceApplyJobTest, AJobIsAppliedOnceInEffectThroughTheService) {
  Service service(ServiceOptions{}, KeyRing());
  auto store = std::make_shared<engine::LocalStore>();
  service.Attach(
      std::make_shared<const StoreRouter>(
          std::map<std::string, std::shared_ptr<engine::VectorStore>>{{"faiss", store}}, "faiss"),
      store);
  service.Serve();
  auto created = service.CreateCollection({"docs", 2});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::vector<engine::Point> points = {{uint64_t{1}, {1, 2}, {}}, {uint64_t{2}, {3, 4}, {}}};
  auto first = service.ApplyJob("j1", "docs", points);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->count, 2u);
  EXPECT_FALSE(first->already_applied);
  ASSERT_TRUE(
      service.ApplyJob("j2", "docs", DeletePointsRequest{std::vector<PointId>{uint64_t{1}}, {}})
          .ok());
  auto again = service.ApplyJob("j1", "docs", points);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->already_applied) << "a redelivered job changes nothing";
  EXPECT_EQ(store->Count({}, "docs", nullptr).value(), 1u) << "point 1 stays deleted";
  // Its write is checked as REST's: a refusal names the field, and the job may come again.
  std::vector<engine::Point> bad = {{uint64_t{3}, {1, 2, 3}, {}}};
  auto refused = service.ApplyJob("j3", "docs", bad);
  EXPECT_EQ(refused.status().code(), engine::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("points[0].vector"), std::string::npos);
  EXPECT_EQ(service.ApplyJob("j3", "missing", points).status().code(),
            engine::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vecmesh::api
