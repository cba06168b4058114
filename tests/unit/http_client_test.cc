#include "adapters/http/http_client.h"

#include <gtest/gtest.h>

#include <string>

namespace vecmesh::adapters {
namespace {

using engine::StatusCode;

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

}  // namespace
}  // namespace vecmesh::adapters
