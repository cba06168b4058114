// ConsulClient: the part of a Consul agent's HTTP API that vecmeshd uses
// (../shared/contracts/README.md "Consul agent HTTP API"): registering its service with checks,
// deregistering it, asking whether the agent still knows it, and updating a TTL check.
//
// The agent's address takes CONSUL_HTTP_ADDR's forms: "host:port", "http://host:port" or
// "https://host:port" (ParseConsulAddress). The ACL token, when there is one, goes with every
// request in X-Consul-Token; it is never put into a message or a log line.
//
// Answers, mapped to a Status (every message starts with "consul" and the agent's address):
//   2xx       Ok
//   400       InvalidArgument  with the agent's message (Consul answers errors in plain text)
//   403       PermissionDenied (the token was refused)
//   404       NotFound
//   5xx, 429, no answer: Unavailable (DeadlineExceeded when out of time)
//
// Thread safety: every method is safe for concurrent calls. Blocking: each call blocks until the
// answer or its deadline (and the HTTP client's timeouts).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http/http_client.h"

namespace vecmesh::adapters {

// The agent's endpoint from CONSUL_HTTP_ADDR's forms ("host:port" is http). InvalidArgument
// naming the address otherwise (a unix socket, user info, a path).
engine::StatusOr<HttpEndpoint> ParseConsulAddress(const std::string& address);

// The local address this host uses to reach `agent` (from the routing table, by a UDP socket
// connected toward it: no packet is sent): the address to advertise when vecmeshd listens on
// every interface. Unavailable naming the agent when it cannot be resolved or routed to.
engine::StatusOr<std::string> LocalAddressToward(const HttpEndpoint& agent);

struct ConsulOptions {
  std::string address;  // the agent, as ParseConsulAddress takes it
  std::string token;    // the ACL token; empty: none
  HttpClientOptions http;
};

// A TTL check's state, as the agent's /v1/agent/check/{pass,warn,fail} set it.
enum class TtlState { kPass, kWarn, kFail };

// A read of the agent as a blocking query answers it (Consul's "Blocking Queries"): the body
// (empty with found false when the agent answered 404: nothing there) and X-Consul-Index.
struct BlockingAnswer {
  uint64_t index = 0;
  bool found = false;
  std::string body;
};

// One entry of a KV read (GET /v1/kv/PREFIX?recurse), its value base64-decoded.
struct KvEntry {
  std::string key;
  std::string value;
  uint64_t modify_index = 0;
};
// The entries of a KV read's body. Internal when it is not the array of entries Consul answers.
engine::StatusOr<std::vector<KvEntry>> ParseKvEntries(const std::string& body);

// The instances of a health read (GET /v1/health/service/NAME?passing) as http:// (or, with
// `tls`, https://) endpoints: each Service.Address (the Node.Address when empty) and
// Service.Port. Internal when the body is not the array of entries Consul answers.
engine::StatusOr<std::vector<HttpEndpoint>> ParseServiceInstances(const std::string& body,
                                                                  bool tls = false);

class ConsulClient {
 public:
  // InvalidArgument when the address is not one. Connects lazily.
  static engine::StatusOr<std::unique_ptr<ConsulClient>> Create(ConsulOptions options);

  // PUT /v1/agent/service/register: `registration` as Consul's service definition. The agent
  // replaces a service of the same ID.
  engine::Status RegisterService(const engine::CallOptions& options,
                                 const nlohmann::json& registration);
  // PUT /v1/agent/service/deregister/{id}.
  engine::Status DeregisterService(const engine::CallOptions& options, const std::string& id);
  // GET /v1/agent/service/{id}: whether the agent knows the service (an agent that restarted
  // forgot it).
  engine::StatusOr<bool> KnowsService(const engine::CallOptions& options, const std::string& id);
  // PUT /v1/agent/check/{pass,warn,fail}/{check_id}, with `note` as the check's output.
  engine::Status UpdateTtl(const engine::CallOptions& options, const std::string& check_id,
                           TtlState state, const std::string& note);

  // GET `target` ("/v1/kv/...?recurse", "/v1/health/service/...?passing") as a blocking query:
  // answered once the agent's index for it passes `index`, or after `wait` (0 and 0: at once).
  // The call's deadline must leave room for the wait (Consul adds up to wait/16).
  engine::StatusOr<BlockingAnswer> BlockingGet(const engine::CallOptions& options,
                                               const std::string& target, uint64_t index,
                                               std::chrono::milliseconds wait);

  const HttpEndpoint& endpoint() const { return http_.endpoint(); }
  HttpClient::Stats http_stats() const { return http_.stats(); }

 private:
  ConsulClient(HttpEndpoint endpoint, ConsulOptions options);
  // Sends a request to the agent (the token with it); the answer, whatever its status.
  engine::StatusOr<HttpResponse> Send(const engine::CallOptions& options, HttpMethod method,
                                      const std::string& target, std::string body, bool idempotent);
  // Ok for a 2xx answer, else the error it maps to (see above).
  engine::Status ErrorOf(const HttpResponse& response, const std::string& target) const;
  // Send, then the answer when it is 2xx, else the mapped error.
  engine::StatusOr<HttpResponse> Call(const engine::CallOptions& options, HttpMethod method,
                                      const std::string& target, std::string body, bool idempotent);

  const std::string token_;
  HttpClient http_;
};

}  // namespace vecmesh::adapters
