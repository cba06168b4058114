// The service layer and REST routing without sockets: the route table and the OpenAPI document
// describe the same API, keys map to roles, and roles gate operations as API.md says.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "api/json/json_codec.h"
#include "api/rest/rest_api.h"
#include "engine/store/local_store.h"

namespace vecmesh::api {
namespace {

// The service over one local store, as the daemon's composition root puts them together.
void Attach(Service& service, std::shared_ptr<engine::LocalStore> store) {
  service.Attach(std::make_shared<const StoreRouter>(
                     std::map<std::string, std::shared_ptr<engine::VectorStore>>{{"faiss", store}},
                     "faiss"),
                 store);
}

TEST(RestApiTest, EveryRouteIsInTheOpenApiDocumentAndEveryDocumentedRouteIsRegistered) {
  ServiceOptions options;
  Service service(options, KeyRing());
  Metrics metrics;
  const AccessLog access_log(false);
  RestApi api(service, metrics, access_log);
  const json doc = json::parse(kOpenApiDocument);
  std::set<std::pair<std::string, std::string>> registered, documented;
  for (const Route& route : api.routes()) {
    std::string method = route.method;
    std::transform(method.begin(), method.end(), method.begin(), ::tolower);
    registered.emplace(method, route.pattern);
  }
  for (const auto& [path, methods] : doc["paths"].items()) {
    for (const auto& [method, operation] : methods.items()) documented.emplace(method, path);
  }
  EXPECT_EQ(registered, documented);
  EXPECT_EQ(registered.size(), api.routes().size()) << "no route is registered twice";
}

TEST(RestApiTest, OperationsAnswerUnavailableUntilTheStoreIsAttached) {
  Service service(ServiceOptions{}, KeyRing());
  Metrics metrics;
  const AccessLog access_log(false);
  RestApi api(service, metrics, access_log);
  HttpResponse health = api.Handle({"GET", "/health", "", std::nullopt});
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(json::parse(health.body)["status"], "recovering");
  HttpResponse list = api.Handle({"GET", "/v1/collections", "", std::nullopt});
  EXPECT_EQ(list.status, 503);
  EXPECT_EQ(list.code, "UNAVAILABLE");

  Attach(service, std::make_shared<engine::LocalStore>());
  EXPECT_EQ(api.Handle({"GET", "/health", "", std::nullopt}).status, 503)
      << "attached, but not serving yet";
  service.Serve();
  EXPECT_EQ(api.Handle({"GET", "/health", "", std::nullopt}).status, 200);
  EXPECT_EQ(api.Handle({"GET", "/v1/collections?x=1", "", std::nullopt}).status, 200);
  service.BeginShutdown();
  EXPECT_EQ(api.Handle({"GET", "/health", "", std::nullopt}).status, 503)
      << "load balancers stop sending while requests in flight finish";
  EXPECT_EQ(api.Handle({"GET", "/v1/collections", "", std::nullopt}).status, 200);
  service.Detach();
  EXPECT_EQ(json::parse(api.Handle({"GET", "/health", "", std::nullopt}).body)["status"],
            "shutting_down");
  EXPECT_EQ(api.Handle({"GET", "/v1/collections", "", std::nullopt}).status, 503);
}

TEST(ServiceTest, AFailedImportKeepsItsCodeAndSaysHowFarItGot) {
  ServiceOptions options;
  options.limits.max_points_per_upsert = 2;
  Service service(options, KeyRing());
  Attach(service, std::make_shared<engine::LocalStore>());
  service.Serve();
  CreateCollectionRequest create;
  create.name = "docs";
  create.dimension = 2;
  ASSERT_TRUE(service.CreateCollection(create).ok());
  std::vector<engine::Point> points;
  for (uint64_t id = 0; id < 5; ++id) points.push_back({id, {1.0f, float(id)}, nullptr});
  points[3].vector = {1.0f};  // the second chunk fails; the first is written
  engine::Status s = service.ApplyImport("docs", points);
  EXPECT_EQ(s.code(), engine::StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), "2 of 5 points were written before this failure: points[3].vector has 1 "
                        "values; collection 'docs' has dimension 2")
      << "the point is named by its place in the job, not in its chunk";
  EXPECT_EQ(*service.Count("docs", {}), 2u);
  EXPECT_EQ(service.ApplyImport("gone", {{7u, {1.0f, 2.0f}, nullptr}}).code(),
            engine::StatusCode::kNotFound);
  service.Detach();
}

TEST(ServiceTest, ABatchAcrossStoresNamesEachSearchByItsPlaceInTheBatch) {
  Service service(ServiceOptions{}, KeyRing());
  Attach(service, std::make_shared<engine::LocalStore>());
  service.Serve();
  CreateCollectionRequest create;
  create.name = "docs";
  create.dimension = 2;
  ASSERT_TRUE(service.CreateCollection(create).ok());
  ASSERT_TRUE(service.Upsert("docs", {{1u, {1.0f, 0.0f}, nullptr}, {2u, {0.0f, 1.0f}, nullptr}}).ok());
  std::vector<Search> batch(3);
  for (auto& search : batch) search.request.vector = {1.0f, 0.0f};
  batch[1].store = "all";
  batch[2].store = "faiss";
  auto answers = service.SearchBatch("docs", batch);
  ASSERT_TRUE(answers.ok()) << answers.status().ToString();
  ASSERT_EQ(answers->size(), 3u);
  for (const auto& answer : *answers) EXPECT_EQ(answer.results.front().id, engine::PointId(1u));
  EXPECT_TRUE((*answers)[0].stores.empty());
  ASSERT_EQ((*answers)[1].stores.size(), 1u) << "a fan-out reports its stores";
  EXPECT_EQ((*answers)[1].stores[0].store, "faiss");

  batch[2].request.k = 0;  // the only search of its group: the store calls it searches[0]
  auto refused = service.SearchBatch("docs", batch);
  EXPECT_EQ(refused.status().code(), engine::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message().rfind("searches[2].k must be", 0), 0u)
      << refused.status().message();

  Search unnamed;
  unnamed.request.vector = {1.0f, 0.0f};
  unnamed.store = "";
  EXPECT_EQ(service.SearchOne("docs", unnamed).status().code(),
            engine::StatusCode::kInvalidArgument)
      << "an empty store name is a mistake, not the default";
  service.Detach();
}

TEST(KeyRingTest, RolesComeFromTheFileAndGateOperations) {
  const std::string path = ::testing::TempDir() + "/vecmesh_keys";
  {
    std::ofstream out(path);
    out << "# comment\nadmin a-key\n\nread_write rw-key\nread_only ro-key\n";
  }
  auto keys = KeyRing::FromFile(path);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->RoleOf("a-key"), Role::kAdmin);
  EXPECT_EQ(keys->RoleOf("ro-key"), Role::kReadOnly);
  EXPECT_EQ(keys->RoleOf("ro-ke"), Role::kNone) << "a prefix is not the key";
  EXPECT_EQ(keys->RoleOf("ro-keyy"), Role::kNone);
  EXPECT_EQ(keys->RoleOf(""), Role::kNone);

  Service service(ServiceOptions{}, std::move(*keys));
  EXPECT_EQ(service.Authorize(Operation::kSearch, std::nullopt).code(),
            engine::StatusCode::kUnauthenticated);
  EXPECT_TRUE(service.Authorize(Operation::kSearch, "ro-key").ok());
  EXPECT_EQ(service.Authorize(Operation::kUpsert, "ro-key").code(),
            engine::StatusCode::kPermissionDenied);
  EXPECT_TRUE(service.Authorize(Operation::kUpsert, "rw-key").ok());
  EXPECT_EQ(service.Authorize(Operation::kDeleteCollection, "rw-key").code(),
            engine::StatusCode::kPermissionDenied);
  EXPECT_TRUE(service.Authorize(Operation::kDeleteCollection, "a-key").ok());

  {
    std::ofstream out(path);
    out << "superuser k\n";
  }
  auto bad = KeyRing::FromFile(path);
  EXPECT_EQ(bad.status().code(), engine::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().find(" k"), std::string::npos) << "never the key itself";
}

TEST(JsonCodecTest, ErrorsNameTheFieldByItsPath) {
  engine::Limits limits;
  auto body = [](const char* text) { return *ParseBody(text); };
  EXPECT_EQ(DecodeSearchBatch(body(R"({"searches": [{"vector": [1]}, {"vector": [1], "params":
                                      {"nprobe": "x"}}]})"),
                              limits)
                .status()
                .message(),
            "searches[1].params.nprobe must be an integer");
  EXPECT_EQ(DecodePoints(body(R"({"points": [{"id": 1, "vector": [1], "payload": 3}]})"))
                .status()
                .message(),
            "points[0].payload must be a JSON object");
  EXPECT_EQ(DecodeUpdatePayload(body(R"({"ids": [1], "payload": {}, "mode": "upsert"})"))
                .status()
                .message(),
            "mode is 'upsert'; it must be merge or replace");
  EXPECT_EQ(ParseBody("[1]").status().message(), "the request body must be a JSON object");
  auto search = DecodeSearch(body(R"({"vector": [0.5, 2], "k": 3, "store": "all"})"), limits);
  ASSERT_TRUE(search.ok());
  EXPECT_EQ(search->request.vector, (std::vector<float>{0.5f, 2}));
  EXPECT_EQ(search->request.k, 3);
  EXPECT_EQ(search->store, "all");
}

}  // namespace
}  // namespace vecmesh::api
