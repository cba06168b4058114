#include "adapters/http/http_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http_test_server.h"

namespace vecmesh::adapters {
namespace {

using engine::CallOptions;
using engine::StatusCode;
using std::chrono::milliseconds;
using testing::ClosedPort;
using testing::TestHttpServer;
using Reply = TestHttpServer::Reply;
using Request = TestHttpServer::Request;
using Clock = std::chrono::steady_clock;

// Small waits everywhere, so that every case takes well under a second (the Retry-After one
// excepted: Retry-After counts in whole seconds).
HttpClientOptions FastOptions() {
  HttpClientOptions options;
  options.connect_timeout_ms = 1000;
  options.request_timeout_ms = 5000;
  options.retry_base_ms = 1;
  options.retry_max_ms = 5;
  options.breaker_cooldown_ms = 100;
  return options;
}

std::unique_ptr<HttpClient> ClientFor(const std::string& url,
                                      HttpClientOptions options = FastOptions()) {
  engine::StatusOr<HttpEndpoint> endpoint = ParseHttpUrl(url);
  EXPECT_TRUE(endpoint.ok()) << endpoint.status().ToString();
  return std::make_unique<HttpClient>(*endpoint, std::move(options));
}

HttpRequest Get(std::string target) {
  HttpRequest request;
  request.target = std::move(target);
  request.idempotent = true;
  return request;
}

HttpRequest Post(std::string target, std::string body) {
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.target = std::move(target);
  request.body = std::move(body);
  return request;
}

TestHttpServer::Script Always(Reply reply) {
  return [reply](const Request&, int) { return reply; };
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ParseHttpUrlTest, AcceptsHttpAndHttpsUrls) {
  engine::StatusOr<HttpEndpoint> plain = ParseHttpUrl("http://127.0.0.1:8000");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 8000);
  EXPECT_EQ(plain->base_path, "");
  EXPECT_EQ(plain->ToString(), "http://127.0.0.1:8000");

  engine::StatusOr<HttpEndpoint> tls = ParseHttpUrl("HTTPS://chroma.example/api/v2/");
  ASSERT_TRUE(tls.ok()) << tls.status().ToString();
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->host, "chroma.example");
  EXPECT_EQ(tls->port, 443);
  EXPECT_EQ(tls->base_path, "/api/v2");
  EXPECT_EQ(tls->ToString(), "https://chroma.example:443/api/v2");

  engine::StatusOr<HttpEndpoint> v6 = ParseHttpUrl("http://[::1]:6333/");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6333);
  EXPECT_EQ(v6->base_path, "");
  EXPECT_EQ(v6->ToString(), "http://[::1]:6333");

  ASSERT_TRUE(ParseHttpUrl("http://consul").ok());
  EXPECT_EQ(ParseHttpUrl("http://consul")->port, 80);
}

TEST(ParseHttpUrlTest, RefusesWhatIsNotAnHttpBaseUrl) {
  for (const std::string url :
       {"", "localhost:8000", "ftp://host", "http://", "http://:80", "http:///path",
        "http://host:", "http://host:0", "http://host:65536", "http://host:8o", "http://user@host",
        "http://host/a?b=1", "http://host/#top", "http://ho st", "http://[::1", "http://[zz]:80",
        "http://[::1]x"}) {
    engine::StatusOr<HttpEndpoint> endpoint = ParseHttpUrl(url);
    EXPECT_FALSE(endpoint.ok()) << url;
    if (!endpoint.ok()) {
      EXPECT_EQ(endpoint.status().code(), StatusCode::kInvalidArgument) << url;
      EXPECT_TRUE(Contains(endpoint.status().message(), "'" + url + "'"))
          << endpoint.status().message();
    }
  }
}

TEST(HttpClientTest, SendsGetAndPostAndReturnsTheAnswer) {
  TestHttpServer server([](const Request& request, int) {
    return Reply{.status = request.method == "POST" ? 201 : 200,
                 .body = request.method + " " + request.target + " " + request.body,
                 .headers = {{"X-Consul-Index", "42"}}};
  });
  std::unique_ptr<HttpClient> client = ClientFor(server.url() + "/base/");

  engine::StatusOr<HttpResponse> got = client->Send({}, Get("/items?limit=2"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "GET /base/items?limit=2 ");
  ASSERT_NE(got->Header("x-consul-index"), nullptr) << "header names match in any case";
  EXPECT_EQ(*got->Header("x-consul-index"), "42");
  EXPECT_EQ(got->Header("X-Missing"), nullptr);

  HttpRequest post = Post("/items", R"({"id":1})");
  post.headers = {{"X-Request-Id", "abc"}, {"Accept", "text/plain"}};
  got = client->Send({}, post);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 201);
  EXPECT_EQ(got->body, R"(POST /base/items {"id":1})");

  const std::vector<Request> seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  const std::string host = "127.0.0.1:" + std::to_string(server.port());
  EXPECT_EQ(seen[0].headers.at("host"), host);
  EXPECT_EQ(seen[0].headers.at("user-agent"), "vecmesh");
  EXPECT_EQ(seen[0].headers.at("accept"), "application/json");
  EXPECT_EQ(seen[0].headers.count("content-type"), 0u);
  EXPECT_EQ(seen[1].headers.at("host"), host);
  EXPECT_EQ(seen[1].headers.at("content-type"), "application/json");
  EXPECT_EQ(seen[1].headers.at("x-request-id"), "abc");
  EXPECT_EQ(seen[1].headers.at("accept"), "text/plain");  // the caller's replaces the client's
  EXPECT_EQ(seen[1].body, R"({"id":1})");
}

TEST(HttpClientTest, RefusesRequestsThatCannotBeSentAsTheyAre) {
  TestHttpServer server(Always({}));
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  HttpRequest no_slash = Get("items");
  HttpRequest space = Get("/a b");
  HttpRequest injected = Get("/");
  injected.headers = {{"X-Id", "1\r\nX-Evil: 1"}};
  HttpRequest owned = Get("/");
  owned.headers = {{"content-length", "5"}};
  HttpRequest bad_name = Get("/");
  bad_name.headers = {{"X Id", "1"}};
  for (const HttpRequest& request : {no_slash, space, injected, owned, bad_name}) {
    engine::StatusOr<HttpResponse> got = client->Send({}, request);
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << got.status().ToString();
  }
  EXPECT_EQ(server.requests(), 0);
}

TEST(HttpClientTest, KeepsTheConnectionAlive) {
  TestHttpServer server(Always({.body = "ok"}));
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  for (int i = 0; i < 5; ++i) {
    engine::StatusOr<HttpResponse> got = client->Send({}, Get("/"));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
  }
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.requests(), 5);
  const HttpClient::Stats stats = client->stats();
  EXPECT_EQ(stats.requests, 5u);
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(stats.latency.count, 5u);
  EXPECT_EQ(stats.transport_errors, 0u);
}

TEST(HttpClientTest, SharesItsPoolAcrossThreads) {
  TestHttpServer server([](const Request& request, int) { return Reply{.body = request.body}; });
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  constexpr int kThreads = 8;
  constexpr int kCalls = 25;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const std::string body = std::to_string(t) + "/" + std::to_string(i);
        engine::StatusOr<HttpResponse> got = client->Send({}, Post("/", body));
        if (got.ok() && got->body == body) ++answered;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(answered.load(), kThreads * kCalls);
  // A connection serves one call at a time, and goes back to the pool after it.
  EXPECT_LE(server.connections(), kThreads);
  EXPECT_EQ(client->stats().connections_opened, static_cast<uint64_t>(server.connections()));
}

TEST(HttpClientTest, HonoursConnectionClose) {
  TestHttpServer server(Always({.close = true}));
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Send({}, Get("/")).ok());
  EXPECT_EQ(server.connections(), 3);
  EXPECT_EQ(client->stats().stale_connections, 0u);
}

TEST(HttpClientTest, ReplacesAnIdleConnectionTheServerClosed) {
  TestHttpServer server(Always({.close_silently = true}));
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  ASSERT_TRUE(client->Send({}, Post("/", "{}")).ok());
  std::this_thread::sleep_for(milliseconds(50));  // the server's FIN arrives
  engine::StatusOr<HttpResponse> got = client->Send({}, Post("/", "{}"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(client->stats().stale_connections, 1u);
}

TEST(HttpClientTest, SendsAgainOnceWhenAReusedConnectionClosesUnderTheRequest) {
  // The second request arrives as the server closes the connection (the race an idle timeout
  // makes); it goes again on a fresh connection although a POST is not idempotent.
  TestHttpServer server([](const Request&, int index) { return Reply{.drop = index == 1}; });
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  ASSERT_TRUE(client->Send({}, Post("/", "{}")).ok());
  engine::StatusOr<HttpResponse> got = client->Send({}, Post("/", "{}"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests(), 3);
  const HttpClient::Stats stats = client->stats();
  EXPECT_EQ(stats.stale_connections, 1u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(stats.requests, 2u);
}

TEST(HttpClientTest, ADropOnAFreshConnectionIsRetriedOnlyWhenIdempotent) {
  TestHttpServer server(Always({.drop = true}));
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  engine::StatusOr<HttpResponse> post = client->Send({}, Post("/", "{}"));
  EXPECT_EQ(post.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(post.status().message(), server.url() + ": reading the response: "))
      << post.status().message();
  EXPECT_EQ(server.requests(), 1);

  engine::StatusOr<HttpResponse> get = client->Send({}, Get("/"));
  EXPECT_EQ(get.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(get.status().message(), "(3 attempts)")) << get.status().message();
  EXPECT_EQ(server.requests(), 4);
}

TEST(HttpClientTest, EndsACallToASlowServerAtItsDeadline) {
  TestHttpServer server(Always({.delay = milliseconds(10000)}));
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  const Clock::time_point start = Clock::now();
  engine::StatusOr<HttpResponse> got =
      client->Send(CallOptions::WithTimeout(milliseconds(200)), Get("/"));
  const double seconds = SecondsSince(start);
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded) << got.status().ToString();
  EXPECT_TRUE(Contains(got.status().message(),
                       server.url() + ": waiting for the response: deadline exceeded after"))
      << got.status().message();
  EXPECT_GE(seconds, 0.19);
  EXPECT_LT(seconds, 0.6);
  EXPECT_EQ(server.requests(), 1);  // a timeout is not retried: the deadline is spent

  HttpClientOptions options = FastOptions();
  options.request_timeout_ms = 150;
  client = ClientFor(server.url(), options);
  got = client->Send({}, Get("/"));
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(Contains(got.status().message(), "(request_timeout_ms)")) << got.status().message();

  EXPECT_EQ(client->Send(CallOptions::WithTimeout(milliseconds(0)), Get("/")).status().code(),
            StatusCode::kDeadlineExceeded);
}

TEST(HttpClientTest, ConnectionRefusedNamesTheEndpoint) {
  const std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort());
  std::unique_ptr<HttpClient> client = ClientFor(url);
  engine::StatusOr<HttpResponse> got = client->Send({}, Get("/"));
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(got.status().message(), url + ": connect: Connection refused (3 attempts)");
  const HttpClient::Stats stats = client->stats();
  EXPECT_EQ(stats.requests, 3u);
  EXPECT_EQ(stats.transport_errors, 3u);
  EXPECT_EQ(stats.retries, 2u);
  EXPECT_EQ(stats.connections_opened, 0u);
}

TEST(HttpClientTest, ResolvesHostNames) {
  TestHttpServer server(Always({.body = "ok"}));
  std::unique_ptr<HttpClient> client =
      ClientFor("http://localhost:" + std::to_string(server.port()));
  engine::StatusOr<HttpResponse> got = client->Send({}, Get("/"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->body, "ok");
}

TEST(HttpClientTest, RefusesAResponseOverMaxResponseBytes) {
  for (const bool chunked : {false, true}) {
    TestHttpServer server(Always({.body = std::string(2000, 'x'), .chunked = chunked}));
    HttpClientOptions options = FastOptions();
    options.max_response_bytes = 1000;
    options.breaker_failures = 1;
    std::unique_ptr<HttpClient> client = ClientFor(server.url(), options);
    engine::StatusOr<HttpResponse> got = client->Send({}, Get("/"));
    EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << chunked;
    EXPECT_EQ(got.status().message(), server.url() +
                                          ": response too large: the body is over 1000 bytes "
                                          "(max_response_bytes)");
    EXPECT_EQ(server.requests(), 1);                            // not retried
    EXPECT_EQ(client->stats().breaker, BreakerState::kClosed);  // the server is fine

    options.max_response_bytes = 2000;  // exactly the body's size
    client = ClientFor(server.url(), options);
    got = client->Send({}, Get("/"));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->body.size(), 2000u);
  }
}

TEST(HttpClientTest, RetriesAnIdempotentCallOn5xx) {
  TestHttpServer server(
      [](const Request&, int index) { return Reply{.status = index < 2 ? 503 : 200}; });
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  engine::StatusOr<HttpResponse> got = client->Send({}, Get("/"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(server.requests(), 3);
  const HttpClient::Stats stats = client->stats();
  EXPECT_EQ(stats.retries, 2u);
  EXPECT_EQ(stats.http_errors, 2u);
  EXPECT_EQ(stats.requests, 3u);
}

TEST(HttpClientTest, ReturnsA5xxOfANonIdempotentCallAtOnce) {
  TestHttpServer server(Always({.status = 503, .body = "busy"}));
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  engine::StatusOr<HttpResponse> got = client->Send({}, Post("/", "{}"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 503);
  EXPECT_EQ(got->body, "busy");
  EXPECT_EQ(server.requests(), 1);
}

TEST(HttpClientTest, WaitsForRetryAfterOn429) {
  TestHttpServer server([](const Request&, int index) {
    return index == 0 ? Reply{.status = 429, .headers = {{"Retry-After", "1"}}} : Reply{};
  });
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  const Clock::time_point start = Clock::now();
  engine::StatusOr<HttpResponse> got = client->Send({}, Get("/"));
  const double seconds = SecondsSince(start);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(server.requests(), 2);
  EXPECT_GE(seconds, 0.99);
  EXPECT_LT(seconds, 1.5);
}

TEST(HttpClientTest, ReturnsA429WhoseRetryAfterPassesTheDeadlineOrIsADate) {
  for (const std::string retry_after : {"5", "Wed, 21 Oct 2015 07:28:00 GMT"}) {
    TestHttpServer server(Always({.status = 429, .headers = {{"Retry-After", retry_after}}}));
    std::unique_ptr<HttpClient> client = ClientFor(server.url());
    const Clock::time_point start = Clock::now();
    engine::StatusOr<HttpResponse> got =
        client->Send(CallOptions::WithTimeout(milliseconds(1000)), Get("/"));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->status, 429);
    EXPECT_LT(SecondsSince(start), 0.5);
    EXPECT_EQ(server.requests(), 1) << retry_after;
  }
}

TEST(HttpClientTest, ReturnsTheLastResponseRatherThanALaterFailure) {
  TestHttpServer server([](const Request&, int index) {
    return index == 0 ? Reply{.status = 503, .body = "restarting"} : Reply{.drop = true};
  });
  std::unique_ptr<HttpClient> client = ClientFor(server.url());
  engine::StatusOr<HttpResponse> got = client->Send({}, Get("/"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 503);
  EXPECT_EQ(got->body, "restarting");
  // Three attempts; the second went out on the 503's kept-alive connection first, and was sent
  // again on a fresh one when that closed under it.
  EXPECT_EQ(server.requests(), 4);
  EXPECT_EQ(client->stats().requests, 3u);
}

TEST(HttpClientTest, NeverBacksOffPastTheDeadline) {
  TestHttpServer server(Always({.status = 500}));
  HttpClientOptions options = FastOptions();
  options.max_attempts = 100;
  options.retry_base_ms = 100;
  options.retry_max_ms = 100;
  std::unique_ptr<HttpClient> client = ClientFor(server.url(), options);
  const Clock::time_point start = Clock::now();
  engine::StatusOr<HttpResponse> got =
      client->Send(CallOptions::WithTimeout(milliseconds(300)), Get("/"));
  // The last answer, a 500, even if the last attempt ran into the deadline.
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 500);
  EXPECT_LT(SecondsSince(start), 0.4);  // the last attempt ends by the deadline
  EXPECT_GE(server.requests(), 2);
}

TEST(HttpClientTest, BreakerOpensRefusesAndClosesAfterAProbe) {
  TestHttpServer server(Always({.status = 500}));
  HttpClientOptions options = FastOptions();
  options.breaker_failures = 3;
  options.breaker_cooldown_ms = 150;
  std::unique_ptr<HttpClient> client = ClientFor(server.url(), options);
  for (int i = 0; i < 3; ++i) {
    engine::StatusOr<HttpResponse> got = client->Send({}, Post("/", "{}"));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->status, 500);
  }
  EXPECT_EQ(client->stats().breaker, BreakerState::kOpen);

  engine::StatusOr<HttpResponse> refused = client->Send({}, Get("/"));
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(refused.status().message(),
                       server.url() + ": circuit breaker open after 3 consecutive failures " +
                           "(last: HTTP 500); next probe in "))
      << refused.status().message();
  EXPECT_EQ(server.requests(), 3);  // refused without touching the server
  EXPECT_EQ(client->stats().breaker_rejections, 1u);

  server.SetScript(Always({}));
  std::this_thread::sleep_for(milliseconds(200));
  engine::StatusOr<HttpResponse> probe = client->Send({}, Get("/"));
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  EXPECT_EQ(probe->status, 200);
  EXPECT_EQ(client->stats().breaker, BreakerState::kClosed);
  EXPECT_TRUE(client->Send({}, Get("/")).ok());
  EXPECT_EQ(server.requests(), 5);
}

TEST(HttpClientTest, BreakerLetsOneProbeAtATimeAndReopensWhenItFails) {
  TestHttpServer server(Always({.status = 502}));
  HttpClientOptions options = FastOptions();
  options.breaker_failures = 1;
  options.breaker_cooldown_ms = 50;
  std::unique_ptr<HttpClient> client = ClientFor(server.url(), options);
  ASSERT_EQ(client->Send({}, Get("/"))->status, 502);  // three attempts, one failed call
  EXPECT_EQ(client->stats().breaker, BreakerState::kOpen);
  std::this_thread::sleep_for(milliseconds(80));

  // The probe fails, after a while, in one attempt although idempotent.
  server.SetScript(Always({.status = 502, .delay = milliseconds(300)}));
  engine::StatusOr<HttpResponse> probe = engine::Status::Internal("not run");
  std::thread prober([&] { probe = client->Send({}, Get("/")); });
  while (server.requests() < 4) std::this_thread::sleep_for(milliseconds(5));
  engine::StatusOr<HttpResponse> other = client->Send({}, Get("/"));
  EXPECT_EQ(other.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(other.status().message(), "a probe call is in flight"))
      << other.status().message();
  prober.join();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  EXPECT_EQ(probe->status, 502);
  EXPECT_EQ(server.requests(), 4);
  EXPECT_EQ(client->stats().breaker, BreakerState::kOpen);
  EXPECT_FALSE(client->Send({}, Get("/")).ok());
}

TEST(HttpClientTest, ClientErrorsKeepTheBreakerClosed) {
  TestHttpServer server(Always({.status = 404}));
  HttpClientOptions options = FastOptions();
  options.breaker_failures = 2;
  std::unique_ptr<HttpClient> client = ClientFor(server.url(), options);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client->Send({}, Get("/"))->status, 404);
  EXPECT_EQ(client->stats().breaker, BreakerState::kClosed);
  EXPECT_EQ(server.requests(), 5);  // not retried either
}

class HttpClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = TestHttpServer::MakeSelfSignedCert();
    ca_file_ = ::testing::TempDir() + "/vecmesh_http_ca_" + std::to_string(::getpid()) + ".pem";
    std::ofstream(ca_file_) << cert_.cert_pem;
  }
  void TearDown() override { ::unlink(ca_file_.c_str()); }

  TestHttpServer::Tls cert_;
  std::string ca_file_;
};

TEST_F(HttpClientTlsTest, TalksToAServerItsCaFileTrusts) {
  TestHttpServer server(Always({.body = "secret"}), &cert_);
  HttpClientOptions options = FastOptions();
  options.ca_file = ca_file_;
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    std::unique_ptr<HttpClient> client =
        ClientFor("https://" + host + ":" + std::to_string(server.port()), options);
    for (int i = 0; i < 2; ++i) {
      engine::StatusOr<HttpResponse> got = client->Send({}, Get("/"));
      ASSERT_TRUE(got.ok()) << host << ": " << got.status().ToString();
      EXPECT_EQ(got->body, "secret");
    }
    EXPECT_EQ(client->stats().connections_opened, 1u) << host;
  }
}

TEST_F(HttpClientTlsTest, RefusesAServerItDoesNotTrust) {
  TestHttpServer server(Always({}), &cert_);
  std::unique_ptr<HttpClient> client = ClientFor(server.url());  // the system's CAs
  engine::StatusOr<HttpResponse> got = client->Send({}, Get("/"));
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(got.status().message(), server.url() + ": tls handshake: "))
      << got.status().message();
  EXPECT_TRUE(Contains(got.status().message(), "self-signed certificate"))
      << got.status().message();
  EXPECT_EQ(server.connections(), 1);  // not worth retrying
  EXPECT_EQ(server.requests(), 0);

  HttpClientOptions options = FastOptions();
  options.ca_file = ca_file_ + ".missing";
  client = ClientFor(server.url(), options);
  got = client->Send({}, Get("/"));
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(got.status().message(), "tls: cannot load ca_file"))
      << got.status().message();
}

}  // namespace
}  // namespace vecmesh::adapters
