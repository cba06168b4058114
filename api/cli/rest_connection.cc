#include "api/cli/rest_connection.h"

#include <chrono>

namespace vecmesh::cli {
namespace {

using adapters::HttpMethod;
using nlohmann::json;

std::string CollectionPath(const std::string& name) {
  return "/v1/collections/" + adapters::PercentEncode(name);
}

adapters::HttpClientOptions ClientOptions(const ConnectionOptions& options) {
  adapters::HttpClientOptions client;
  client.request_timeout_ms = options.timeout_ms;
  client.ca_file = options.ca_file;
  client.breaker_failures = 0;  // one user's calls: each says for itself what went wrong
  return client;
}

}  // namespace

RestConnection::RestConnection(adapters::HttpEndpoint endpoint, const ConnectionOptions& options)
    : http_(std::move(endpoint), ClientOptions(options)),
      api_key_(options.api_key),
      timeout_ms_(options.timeout_ms) {}

Reply RestConnection::Call(HttpMethod method, const std::string& target, const json* body,
                           int* status) {
  adapters::HttpRequest request;
  request.method = method;
  request.target = target;
  if (body != nullptr) request.body = body->dump();
  if (!api_key_.empty()) request.headers.emplace_back("api-key", api_key_);
  // Reads, and the writes API.md makes idempotent (a create of an identical collection, a drop
  // answered NOT_FOUND the second time), may be sent again after a transient failure.
  request.idempotent = method != HttpMethod::kPost;
  auto response =
      http_.Send(engine::CallOptions::WithTimeout(std::chrono::milliseconds(timeout_ms_)), request);
  if (!response.ok()) return Reply::Unreachable(response.status().message());
  if (status != nullptr) *status = response->status;
  json answer = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (response->status >= 400) {
    if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
      const json& error = answer["error"];
      return Reply::Refused(error.value("code", "UNKNOWN"), error.value("message", ""));
    }
    Reply refused = Reply::Refused("HTTP_" + std::to_string(response->status), response->body);
    if (!answer.is_discarded()) refused.body = std::move(answer);
    return refused;
  }
  if (answer.is_discarded()) {
    return Reply::Unreachable(http_.endpoint().ToString() + target + " answered " +
                              std::to_string(response->status) + " with a body that is not JSON");
  }
  return Reply::Ok(std::move(answer));
}

Reply RestConnection::Health() {
  // An unhealthy vecmeshd answers 503 with its report: refused, the report kept for printing.
  Reply reply = Call(HttpMethod::kGet, "/health/deep", nullptr);
  if (reply.outcome == Reply::Outcome::kRefused && reply.body.is_object() &&
      reply.body.contains("status")) {
    reply.code = "UNAVAILABLE";
    reply.message = "vecmeshd is " + reply.body["status"].dump();
  }
  return reply;
}

Reply RestConnection::ListCollections() {
  return Call(HttpMethod::kGet, "/v1/collections", nullptr);
}

Reply RestConnection::GetCollection(const std::string& name) {
  return Call(HttpMethod::kGet, CollectionPath(name), nullptr);
}

Reply RestConnection::CreateCollection(const std::string& name, const json& config) {
  int status = 0;
  Reply reply = Call(HttpMethod::kPut, CollectionPath(name), &config, &status);
  if (reply.outcome != Reply::Outcome::kOk) return reply;
  json out = {{"created", status == 201}};
  if (reply.body.contains("stores")) {
    out["stores"] = reply.body["stores"];
    reply.body.erase("stores");
  }
  out["collection"] = std::move(reply.body);
  return Reply::Ok(std::move(out));
}

Reply RestConnection::DropCollection(const std::string& name) {
  return Call(HttpMethod::kDelete, CollectionPath(name), nullptr);
}

}  // namespace vecmesh::cli
