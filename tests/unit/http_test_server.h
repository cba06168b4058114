// TestHttpServer: a loopback HTTP/1.1 server (optionally TLS) for the HTTP client's tests, whose
// answers each test scripts: status, headers, body, a delay, or closing the connection. It counts
// what it saw so that tests can tell reused connections and retries apart.
//
// One thread accepts; each connection is served by a thread of its own with blocking I/O. Every
// wait (a scripted delay, a read) ends when the server is destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vecmesh::testing {

class TestHttpServer {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    int connection = 0;  // which accepted connection it came on, from 0
  };

  struct Reply {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::milliseconds delay{0};  // before answering
    bool chunked = false;                // send the body chunked, without Content-Length
    bool close = false;                  // answer with Connection: close, then close
    bool close_silently = false;  // answer as if keeping the connection, then close it anyway
    bool drop = false;            // close the connection without answering
  };

  // Decides the reply to the `index`-th request the server has seen (from 0).
  using Script = std::function<Reply(const Request& request, int index)>;

  // A certificate and its key, PEM; with them the server speaks TLS only.
  struct Tls {
    std::string cert_pem;
    std::string key_pem;
  };

  explicit TestHttpServer(Script script, const Tls* tls = nullptr);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  uint16_t port() const;
  // "http://127.0.0.1:PORT" (https:// with TLS).
  std::string url() const;
  void SetScript(Script script);

  int connections() const;
  int requests() const;
  std::vector<Request> seen() const;

  // A self-signed certificate for 127.0.0.1 and localhost, valid for an hour.
  static Tls MakeSelfSignedCert();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A loopback port nobody listens on: bound, then let go.
uint16_t ClosedPort();

}  // namespace vecmesh::testing
