// BalancedHttpClient over loopback servers of the test's own: requests spread by the fewest
// outstanding, an instance that refuses connections is skipped (and ejected by its breaker), a
// request that is not idempotent is not sent twice, the set follows SetInstances.
#include "adapters/http/balanced_http_client.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "http_test_server.h"

namespace vecmesh::adapters {
namespace {

using std::chrono::milliseconds;
using testing::ClosedPort;
using testing::TestHttpServer;
using Reply = TestHttpServer::Reply;
using Request = TestHttpServer::Request;

HttpClientOptions Options() {
  HttpClientOptions options;
  options.connect_timeout_ms = 1000;
  options.request_timeout_ms = 5000;
  options.max_attempts = 1;
  options.breaker_failures = 2;
  options.breaker_cooldown_ms = 60'000;
  return options;
}

HttpEndpoint EndpointOf(const std::string& url) { return ParseHttpUrl(url).value(); }

HttpRequest Get() {
  HttpRequest request;
  request.target = "/api/v2/heartbeat";
  request.idempotent = true;
  return request;
}

// A server that answers with its own name after `delay`.
std::unique_ptr<TestHttpServer> Named(std::string name, milliseconds delay = milliseconds(0)) {
  return std::make_unique<TestHttpServer>([name, delay](const Request&, int) {
    return Reply{.status = 200, .body = name, .delay = delay};
  });
}

TEST(BalancedHttpClientTest, SpreadsRequestsOverTheInstances) {
  auto a = Named("a"), b = Named("b"), c = Named("c");
  BalancedHttpClient client("consul://store", Options());
  client.SetInstances({EndpointOf(a->url()), EndpointOf(b->url()), EndpointOf(c->url())});
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(client.Send({}, Get()).ok());
  EXPECT_EQ(a->requests(), 10);
  EXPECT_EQ(b->requests(), 10);
  EXPECT_EQ(c->requests(), 10);
  const HttpStats stats = client.stats();
  EXPECT_EQ(stats.requests, 30u);
  ASSERT_EQ(stats.instances.size(), 3u);
  for (const HttpInstanceStats& i : stats.instances) EXPECT_EQ(i.requests, 10u) << i.instance;
}

TEST(BalancedHttpClientTest, ARequestGoesWhereFewestAreOutstanding) {
  auto slow = Named("slow", milliseconds(400)), fast = Named("fast");
  BalancedHttpClient client("consul://store", Options());
  // A slow request in flight on one instance; then a second instance joins.
  client.SetInstances({EndpointOf(slow->url())});
  auto first = std::async(std::launch::async, [&] { return client.Send({}, Get()); });
  std::this_thread::sleep_for(milliseconds(100));
  client.SetInstances({EndpointOf(slow->url()), EndpointOf(fast->url())});
  int fast_answers = 0;
  for (int i = 0; i < 5; ++i) {
    auto answer = client.Send({}, Get());
    ASSERT_TRUE(answer.ok());
    fast_answers += answer->body == "fast";
  }
  ASSERT_TRUE(first.get().ok());
  EXPECT_EQ(slow->requests(), 1);
  EXPECT_EQ(fast_answers, 5) << "the busy instance is passed over";
}

TEST(BalancedHttpClientTest, AnInstanceThatIsGoneIsSkippedAndEjected) {
  auto up = Named("up");
  const HttpEndpoint gone = EndpointOf("http://127.0.0.1:" + std::to_string(ClosedPort()));
  BalancedHttpClient client("consul://store", Options());
  client.SetInstances({gone, EndpointOf(up->url())});
  for (int i = 0; i < 10; ++i) {
    auto answer = client.Send({}, Get());
    ASSERT_TRUE(answer.ok()) << answer.status().ToString();
    EXPECT_EQ(answer->body, "up");
  }
  HttpStats stats = client.stats();
  for (const HttpInstanceStats& i : stats.instances) {
    if (i.instance == gone.ToString()) {
      EXPECT_EQ(i.breaker, BreakerState::kOpen) << "ejected by its breaker";
      EXPECT_EQ(i.requests, 2u) << "tried until its breaker opened, not after";
    }
  }
  EXPECT_EQ(stats.breaker, BreakerState::kClosed) << "the service answers";

  // Not idempotent: one instance, whatever happens there.
  BalancedHttpClient fresh("consul://store", Options());
  fresh.SetInstances({gone});
  HttpRequest create = Get();
  create.method = HttpMethod::kPost;
  create.idempotent = false;
  auto refused = fresh.Send({}, create);
  EXPECT_EQ(refused.status().code(), engine::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("consul://store"), std::string::npos);
}

TEST(BalancedHttpClientTest, FollowsTheSetItIsGiven) {
  auto a = Named("a"), b = Named("b");
  BalancedHttpClient client("consul://store", Options());
  auto none = client.Send({}, Get());
  EXPECT_EQ(none.status().code(), engine::StatusCode::kUnavailable);
  EXPECT_NE(none.status().message().find("no passing instance"), std::string::npos);
  EXPECT_EQ(client.stats().breaker, BreakerState::kOpen);

  client.SetInstances({EndpointOf(a->url())});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(client.Send({}, Get())->body, "a");
  client.SetInstances({EndpointOf(a->url()), EndpointOf(b->url())});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client.Send({}, Get()).ok());
  EXPECT_EQ(b->requests(), 2);
  EXPECT_EQ(client.stats().instances.size(), 2u);
  client.SetInstances({EndpointOf(b->url())});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(client.Send({}, Get())->body, "b");
  EXPECT_EQ(a->requests(), 6);
}

}  // namespace
}  // namespace vecmesh::adapters
