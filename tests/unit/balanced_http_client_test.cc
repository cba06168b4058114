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
  // The busy instance holds its answer until the test lets it go.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  TestHttpServer busy([released](const Request&, int) {
    released.wait();
    return Reply{.status = 200, .body = "busy"};
  });
  // Let go however the test ends: the server waits for its answers when it is destroyed.
  std::shared_ptr<void> let_go(nullptr, [&release](void*) {
    try {
      release.set_value();
    } catch (const std::future_error&) {
    }
  });
  auto idle = Named("idle");
  BalancedHttpClient client("consul://store", Options());
  client.SetInstances({EndpointOf(busy.url())});
  auto first = std::async(std::launch::async, [&] { return client.Send({}, Get()); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (busy.requests() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(busy.requests(), 1);
  client.SetInstances({EndpointOf(busy.url()), EndpointOf(idle->url())});
  for (int i = 0; i < 5; ++i) {
    auto answer = client.Send({}, Get());
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(answer->body, "idle") << "the instance with a request outstanding is passed over";
  }
  release.set_value();
  ASSERT_TRUE(first.get().ok());
  EXPECT_EQ(busy.requests(), 1);
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

  bool seen = false;
  for (const HttpInstanceStats& i : stats.instances) seen = seen || i.instance == gone.ToString();
  EXPECT_TRUE(seen);

  // Not idempotent: one instance, whatever happens there. The one that answers was used last,
  // so the request goes to the one that drops it, and no further.
  TestHttpServer dropping([](const Request&, int) { return Reply{.drop = true}; });
  BalancedHttpClient fresh("consul://store", Options());
  fresh.SetInstances({EndpointOf(up->url())});
  ASSERT_TRUE(fresh.Send({}, Get()).ok());
  const int up_before = up->requests();
  fresh.SetInstances({EndpointOf(up->url()), EndpointOf(dropping.url())});
  HttpRequest create = Get();
  create.method = HttpMethod::kPost;
  create.idempotent = false;
  auto refused = fresh.Send({}, create);
  EXPECT_EQ(refused.status().code(), engine::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("consul://store"), std::string::npos);
  EXPECT_EQ(dropping.requests(), 1);
  EXPECT_EQ(up->requests(), up_before) << "not sent twice";
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
  EXPECT_EQ(client.stats().requests, 12u) << "the counters of an instance that went stay";
  EXPECT_EQ(client.stats().instances.size(), 1u);
}

}  // namespace
}  // namespace vecmesh::adapters
