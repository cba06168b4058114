// The Consul adapter without an agent: the address forms CONSUL_HTTP_ADDR takes, the service
// definition of API.md "Service discovery (Consul)", and the client and the registrar against a
// loopback server of the test's own that answers as the agent's HTTP API does (the end-to-end
// tests run vecmeshd against tests/support's Consul agent double).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "adapters/consul/blocking_watch.h"
#include "adapters/consul/consul_client.h"
#include "adapters/consul/registrar.h"
#include "http_test_server.h"

namespace vecmesh::adapters {
namespace {

using engine::StatusCode;
using nlohmann::json;
using std::chrono::milliseconds;
using testing::TestHttpServer;
using Reply = TestHttpServer::Reply;
using Request = TestHttpServer::Request;

TEST(ConsulAddressTest, TakesTheFormsOfConsulHttpAddr) {
  auto plain = ParseConsulAddress("127.0.0.1:8500");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->ToString(), "http://127.0.0.1:8500");
  auto http = ParseConsulAddress("http://consul.service:8500");
  ASSERT_TRUE(http.ok());
  EXPECT_EQ(http->host, "consul.service");
  auto https = ParseConsulAddress("https://consul:8501");
  ASSERT_TRUE(https.ok());
  EXPECT_TRUE(https->tls);
  for (const char* bad : {"unix:///var/run/consul.sock", "http://consul:8500/v1", "", "a b:1"}) {
    auto refused = ParseConsulAddress(bad);
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(refused.status().message().find("CONSUL_HTTP_ADDR"), std::string::npos);
  }
}

TEST(ConsulDurationTest, WritesGoDurations) {
  EXPECT_EQ(ConsulDuration(milliseconds(10'000)), "10s");
  EXPECT_EQ(ConsulDuration(milliseconds(60'000)), "1m");
  EXPECT_EQ(ConsulDuration(milliseconds(90'000)), "90s");
  EXPECT_EQ(ConsulDuration(milliseconds(1'500)), "1500ms");
}

ServiceRegistration Faiss() {
  ServiceRegistration r;
  r.advertise_host = "10.0.0.7";
  r.rest_port = 8000;
  r.grpc_port = 50051;
  r.version = "1.2.3";
  return r;
}

TEST(ServiceRegistrationTest, IsApiMdsDefinition) {
  const json got = Faiss().ToJson();
  const json want = R"({
    "ID": "faiss-10.0.0.7-8000", "Name": "faiss", "Address": "10.0.0.7", "Port": 8000,
    "Tags": ["vecmesh", "rest", "grpc"], "Meta": {"grpc_port": "50051", "version": "1.2.3"},
    "Checks": [
      {"CheckID": "faiss-10.0.0.7-8000:http", "Name": "vecmeshd REST /health",
       "HTTP": "http://10.0.0.7:8000/health", "Method": "GET", "Interval": "10s",
       "Timeout": "2s", "DeregisterCriticalServiceAfter": "1m"},
      {"CheckID": "faiss-10.0.0.7-8000:grpc", "Name": "vecmeshd gRPC health",
       "GRPC": "10.0.0.7:50051", "GRPCUseTLS": false, "Interval": "10s", "Timeout": "2s",
       "DeregisterCriticalServiceAfter": "1m"}]})"_json;
  EXPECT_EQ(got, want) << got.dump(2);
}

TEST(ServiceRegistrationTest, TlsIpv6AndTtlChecks) {
  ServiceRegistration r = Faiss();
  r.advertise_host = "fd00::7";
  r.tls = true;
  json got = r.ToJson();
  EXPECT_EQ(got["ID"], "faiss-fd00::7-8000");
  EXPECT_EQ(got["Address"], "fd00::7");
  EXPECT_EQ(got["Checks"][0]["HTTP"], "https://[fd00::7]:8000/health");
  EXPECT_EQ(got["Checks"][1]["GRPC"], "[fd00::7]:50051");
  EXPECT_EQ(got["Checks"][1]["GRPCUseTLS"], true);

  r = Faiss();
  r.check_mode = ConsulCheckMode::kTtl;
  r.ttl = milliseconds(30'000);
  got = r.ToJson();
  ASSERT_EQ(got["Checks"].size(), 1u);
  EXPECT_EQ(got["Checks"][0], json({{"CheckID", "faiss-10.0.0.7-8000:ttl"},
                                    {"Name", "vecmeshd reports its /health"},
                                    {"TTL", "30s"},
                                    {"DeregisterCriticalServiceAfter", "1m"}}));
}

// A loopback agent: the services registered through it, forgotten on demand (a restart), with
// the token it takes; unreachable answers 500 while `down`.
class FakeAgent {
 public:
  explicit FakeAgent(std::string token = "")
      : token_(std::move(token)), server_([this](const Request& r, int) { return Answer(r); }) {}

  std::string address() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  std::set<std::string> services() const {
    std::lock_guard lock(mu_);
    return services_;
  }
  void Forget() {
    std::lock_guard lock(mu_);
    services_.clear();
  }
  std::vector<std::string> ttl_updates() const {
    std::lock_guard lock(mu_);
    return ttl_updates_;
  }
  std::vector<Request> seen() const { return server_.seen(); }
  // What GET /v1/kv/... answers: `body` (404 when empty) at `index`.
  void SetKv(uint64_t index, std::string body) {
    std::lock_guard lock(mu_);
    kv_index_ = index;
    kv_body_ = std::move(body);
  }
  std::atomic<bool> down{false};

 private:
  Reply Answer(const Request& r) {
    if (down) return {.status = 500, .body = "rpc error: No cluster leader"};
    auto header = r.headers.find("x-consul-token");
    if (!token_.empty() && (header == r.headers.end() || header->second != token_)) {
      return {.status = 403, .body = "Permission denied"};
    }
    std::lock_guard lock(mu_);
    const std::string service = "/v1/agent/service/";
    if (r.method == "PUT" && r.target == "/v1/agent/service/register") {
      const json body = json::parse(r.body, nullptr, false);
      if (!body.is_object() || !body.contains("Name")) return {.status = 400, .body = "bad"};
      services_.insert(body.value("ID", body["Name"].get<std::string>()));
      return {.status = 200};
    }
    if (r.method == "PUT" && r.target.rfind("/v1/agent/service/deregister/", 0) == 0) {
      services_.erase(r.target.substr(std::string("/v1/agent/service/deregister/").size()));
      return {.status = 200};
    }
    if (r.method == "GET" && r.target.rfind(service, 0) == 0) {
      const bool known = services_.count(r.target.substr(service.size())) > 0;
      return known ? Reply{.status = 200, .body = "{}"}
                   : Reply{.status = 404, .body = "unknown service ID"};
    }
    if (r.method == "GET" && r.target.rfind("/v1/kv/", 0) == 0) {
      // A blocking query already at the current index waits (a little: a test's agent).
      const size_t at = r.target.find("index=");
      if (at != std::string::npos && std::stoull(r.target.substr(at + 6)) >= kv_index_) {
        mu_.unlock();
        std::this_thread::sleep_for(milliseconds(100));
        mu_.lock();
      }
      Reply reply{.status = kv_body_.empty() ? 404 : 200, .body = kv_body_};
      reply.headers = {{"X-Consul-Index", std::to_string(kv_index_)}};
      return reply;
    }
    if (r.method == "PUT" && r.target.rfind("/v1/agent/check/", 0) == 0) {
      ttl_updates_.push_back(r.target);
      return {.status = 200};
    }
    return {.status = 405, .body = "method not allowed"};
  }

  const std::string token_;
  mutable std::mutex mu_;
  std::set<std::string> services_;
  std::vector<std::string> ttl_updates_;
  uint64_t kv_index_ = 1;
  std::string kv_body_;
  TestHttpServer server_;
};

std::shared_ptr<ConsulClient> ClientOf(const FakeAgent& agent, std::string token = "") {
  ConsulOptions options;
  options.address = agent.address();
  options.token = std::move(token);
  options.http.max_attempts = 1;
  options.http.breaker_failures = 0;
  auto client = ConsulClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::move(*client);
}

TEST(ConsulClientTest, RegistersAsksAndDeregistersWithItsToken) {
  FakeAgent agent("s3cret");
  auto consul = ClientOf(agent, "s3cret");
  const auto call = [] { return engine::CallOptions::WithTimeout(milliseconds(2000)); };
  ASSERT_TRUE(consul->RegisterService(call(), Faiss().ToJson()).ok());
  EXPECT_EQ(agent.services(), std::set<std::string>{"faiss-10.0.0.7-8000"});
  EXPECT_EQ(consul->KnowsService(call(), "faiss-10.0.0.7-8000").value(), true);
  EXPECT_EQ(consul->KnowsService(call(), "faiss-other").value(), false);
  ASSERT_TRUE(
      consul->UpdateTtl(call(), "faiss-10.0.0.7-8000:ttl", TtlState::kFail, "no store").ok());
  EXPECT_EQ(agent.ttl_updates().back(),
            "/v1/agent/check/fail/faiss-10.0.0.7-8000%3Attl?note=no%20store");
  ASSERT_TRUE(consul->DeregisterService(call(), "faiss-10.0.0.7-8000").ok());
  EXPECT_TRUE(agent.services().empty());
  for (const Request& r : agent.seen()) EXPECT_EQ(r.headers.at("x-consul-token"), "s3cret");

  // A wrong token: refused, and the token is in no message.
  auto wrong = ClientOf(agent, "guess");
  engine::Status refused = wrong->RegisterService(call(), Faiss().ToJson());
  EXPECT_EQ(refused.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(refused.message().find("CONSUL_HTTP_TOKEN"), std::string::npos) << refused.message();
  EXPECT_EQ(refused.message().find("guess"), std::string::npos);
  agent.down = true;
  EXPECT_EQ(consul->KnowsService(call(), "x").status().code(), StatusCode::kUnavailable);
}

// Waits (bounded) for `done`.
template <typename F>
bool Eventually(F done, milliseconds within = milliseconds(10'000)) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

TEST(RegistrarTest, RegistersAfterAnOutageAndAgainWhenTheAgentForgets) {
  FakeAgent agent;
  agent.down = true;  // the agent is down at start-up
  RegistrarOptions options;
  options.registration = Faiss();
  options.sync_interval = milliseconds(200);
  Registrar registrar(ClientOf(agent), options);
  registrar.Start();
  ASSERT_TRUE(Eventually([&] { return registrar.stats().failed_syncs >= 2; }));
  EXPECT_FALSE(registrar.stats().registered);
  EXPECT_NE(registrar.stats().error.find("No cluster leader"), std::string::npos)
      << registrar.stats().error;

  agent.down = false;
  ASSERT_TRUE(Eventually([&] { return registrar.stats().registered; }));
  EXPECT_EQ(agent.services(), std::set<std::string>{"faiss-10.0.0.7-8000"});
  EXPECT_EQ(registrar.stats().error, "");
  EXPECT_EQ(registrar.stats().registrations, 1u);

  agent.Forget();  // an agent restart
  ASSERT_TRUE(Eventually([&] { return registrar.stats().registrations == 2; }));
  EXPECT_EQ(agent.services(), std::set<std::string>{"faiss-10.0.0.7-8000"});

  ASSERT_TRUE(registrar.Deregister(milliseconds(2000)).ok());
  EXPECT_TRUE(agent.services().empty());
  EXPECT_FALSE(registrar.stats().registered);
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_TRUE(agent.services().empty()) << "no sync after the deregistration";
}

TEST(RegistrarTest, FindsItsAdvertisedHostWhenItRegistersAndLeavesNothingBehindWithoutIt) {
  FakeAgent agent;
  std::atomic<int> tries{0};
  RegistrarOptions options;
  options.registration = Faiss();
  options.registration.advertise_host = "";
  options.sync_interval = milliseconds(100);
  options.find_advertise_host = [&]() -> engine::StatusOr<std::string> {
    if (++tries < 3) return engine::Status::Unavailable("consul.local: not resolvable yet");
    return std::string("10.0.0.9");
  };
  Registrar registrar(ClientOf(agent), options);
  EXPECT_EQ(registrar.stats().service_id, "");
  registrar.Start();
  ASSERT_TRUE(Eventually([&] { return registrar.stats().registered; }));
  EXPECT_EQ(registrar.stats().service_id, "faiss-10.0.0.9-8000");
  EXPECT_EQ(agent.services(), std::set<std::string>{"faiss-10.0.0.9-8000"});
  EXPECT_EQ(registrar.stats().failed_syncs, 2u);
  ASSERT_TRUE(registrar.Deregister(milliseconds(2000)).ok());
  EXPECT_TRUE(agent.services().empty());

  // Never registered: the deregistration has nothing to remove and asks the agent nothing.
  options.find_advertise_host = [] {
    return engine::StatusOr<std::string>(engine::Status::Unavailable("never"));
  };
  Registrar never(ClientOf(agent), options);
  never.Start();
  ASSERT_TRUE(Eventually([&] { return never.stats().failed_syncs > 0; }));
  const size_t requests = agent.seen().size();
  EXPECT_TRUE(never.Deregister(milliseconds(2000)).ok());
  EXPECT_EQ(agent.seen().size(), requests);
}

TEST(RegistrarTest, PassesAndFailsItsTtlCheck) {
  FakeAgent agent;
  std::mutex mu;
  std::string reason;
  RegistrarOptions options;
  options.registration = Faiss();
  options.registration.check_mode = ConsulCheckMode::kTtl;
  options.sync_interval = milliseconds(100);
  options.unhealthy_reason = [&] {
    std::lock_guard lock(mu);
    return reason;
  };
  Registrar registrar(ClientOf(agent), options);
  registrar.Start();
  const std::string pass = "/v1/agent/check/pass/faiss-10.0.0.7-8000%3Attl?note=serving";
  ASSERT_TRUE(Eventually([&] {
    auto updates = agent.ttl_updates();
    return !updates.empty() && updates.back() == pass;
  }));
  {
    std::lock_guard lock(mu);
    reason = "shutting_down";
  }
  ASSERT_TRUE(Eventually([&] {
    return agent.ttl_updates().back() ==
           "/v1/agent/check/fail/faiss-10.0.0.7-8000%3Attl?note=shutting_down";
  }));
  ASSERT_TRUE(registrar.Deregister(milliseconds(2000)).ok());
}

TEST(ConsulKvTest, ParsesEntriesAndTheirBase64Values) {
  auto entries = ParseKvEntries(R"([
    {"Key": "keys/admin/ops", "Value": "c2VjcmV0", "ModifyIndex": 12},
    {"Key": "keys/read_only/a", "Value": "YQ==", "ModifyIndex": 13},
    {"Key": "keys/read_only/ab", "Value": "YWI=", "ModifyIndex": 14},
    {"Key": "keys/folder/", "Value": null, "ModifyIndex": 15}])");
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[0].key, "keys/admin/ops");
  EXPECT_EQ((*entries)[0].value, "secret");
  EXPECT_EQ((*entries)[0].modify_index, 12u);
  EXPECT_EQ((*entries)[1].value, "a");
  EXPECT_EQ((*entries)[2].value, "ab");
  EXPECT_EQ((*entries)[3].value, "");
  for (const char* bad :
       {R"({"Key": "x"})", R"([{"Value": "YQ=="}])", R"([{"Key": "k", "Value": "YQ="}])",
        R"([{"Key": "k", "Value": "Y!=="}])"}) {
    EXPECT_EQ(ParseKvEntries(bad).status().code(), StatusCode::kInternal) << bad;
  }
}

TEST(ConsulHealthTest, ParsesTheInstancesOfAService) {
  auto instances = ParseServiceInstances(R"([
    {"Node": {"Address": "10.0.0.1"}, "Service": {"ID": "a", "Address": "10.0.0.5", "Port": 8000}},
    {"Node": {"Address": "10.0.0.2"}, "Service": {"ID": "b", "Address": "", "Port": 8001}},
    {"Node": {"Address": "10.0.0.3"}, "Service": {"ID": "c", "Address": "fd00::9", "Port": 8002}}
  ])");
  ASSERT_TRUE(instances.ok()) << instances.status().ToString();
  std::vector<std::string> urls;
  for (const HttpEndpoint& e : *instances) urls.push_back(e.ToString());
  EXPECT_EQ(urls, (std::vector<std::string>{"http://10.0.0.5:8000", "http://10.0.0.2:8001",
                                            "http://[fd00::9]:8002"}));
  EXPECT_TRUE(ParseServiceInstances("[]").value().empty());
  auto over_tls = ParseServiceInstances(
      R"([{"Node": {"Address": "10.0.0.1"}, "Service": {"Address": "", "Port": 6333}}])", true);
  ASSERT_TRUE(over_tls.ok());
  EXPECT_EQ(over_tls->at(0).ToString(), "https://10.0.0.1:6333");
  for (const char* bad : {"{}", R"([{"Node": {}}])", R"([{"Service": {"Address": "a"}}])",
                          R"([{"Service": {"Address": "a", "Port": 70000}}])"}) {
    EXPECT_EQ(ParseServiceInstances(bad).status().code(), StatusCode::kInternal) << bad;
  }
}

TEST(BlockingWatchTest, HandsOnEachChangeOnceAndKeepsTheLastWhileTheAgentIsDown) {
  FakeAgent agent;
  agent.SetKv(5, R"([{"Key": "k", "Value": "djE="}])");
  std::mutex mu;
  std::vector<std::string> values;
  BlockingWatchOptions options;
  options.target = "/v1/kv/k?recurse";
  options.wait = milliseconds(2000);
  BlockingWatch watch(ClientOf(agent), options, [&](const BlockingAnswer& answer) {
    std::lock_guard lock(mu);
    values.push_back(answer.found ? ParseKvEntries(answer.body).value().at(0).value : "(none)");
  });
  const auto got = [&] {
    std::lock_guard lock(mu);
    return values;
  };
  watch.Start();
  ASSERT_TRUE(Eventually([&] { return got().size() == 1; }));
  std::this_thread::sleep_for(milliseconds(400));  // unchanged answers are not handed on
  EXPECT_EQ(got(), std::vector<std::string>{"v1"});

  agent.SetKv(6, R"([{"Key": "k", "Value": "djI="}])");
  ASSERT_TRUE(Eventually([&] { return got().size() == 2; }));
  agent.SetKv(7, "");  // deleted: 404
  ASSERT_TRUE(Eventually([&] { return got().size() == 3; }));
  EXPECT_EQ(got(), (std::vector<std::string>{"v1", "v2", "(none)"}));

  agent.down = true;
  ASSERT_TRUE(Eventually([&] { return watch.stats().failures > 0; }));
  EXPECT_NE(watch.stats().error.find("No cluster leader"), std::string::npos);
  EXPECT_EQ(got().size(), 3u) << "nothing handed on while the agent is down";
  // Back, restarted: its index went backwards; the watch starts over from it.
  agent.SetKv(2, R"([{"Key": "k", "Value": "djM="}])");
  agent.down = false;
  ASSERT_TRUE(Eventually([&] { return got().size() == 4; }));
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(got().size(), 4u) << "the read that starts over is not handed on again";
  EXPECT_EQ(got().back(), "v3");
  EXPECT_EQ(watch.stats().index, 2u);
  EXPECT_EQ(watch.stats().error, "");
  int from_scratch = 0;  // the first read, and the one after the index went backwards
  for (const Request& r : agent.seen()) from_scratch += r.target == "/v1/kv/k?recurse";
  EXPECT_EQ(from_scratch, 2);
  watch.Stop();
}

}  // namespace
}  // namespace vecmesh::adapters
