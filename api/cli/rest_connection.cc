#include "api/cli/rest_connection.h"

#include <chrono>

#include "api/cli/output.h"

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

Reply RestConnection::Exchange(adapters::HttpRequest request, adapters::HttpResponse* response) {
  if (!api_key_.empty()) request.headers.emplace_back("api-key", api_key_);
  // Reads, and the writes API.md makes idempotent (upserts by id, a create of an identical
  // collection, a drop answered NOT_FOUND the second time), may be sent again after a transient
  // failure; POSTs (an import job, a snapshot, a restore) are not.
  request.idempotent = request.method != HttpMethod::kPost;
  auto sent =
      http_.Send(engine::CallOptions::WithTimeout(std::chrono::milliseconds(timeout_ms_)), request);
  if (!sent.ok()) return Reply::Unreachable(sent.status().message());
  *response = std::move(*sent);
  if (response->status < 400) return Reply::Ok(nullptr);
  json answer = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
    const json& error = answer["error"];
    return Reply::Refused(error.value("code", "UNKNOWN"), error.value("message", ""));
  }
  Reply refused = Reply::Refused("HTTP_" + std::to_string(response->status), response->body);
  if (!answer.is_discarded()) refused.body = std::move(answer);
  return refused;
}

Reply RestConnection::Call(HttpMethod method, const std::string& target, const json* body,
                           int* status) {
  adapters::HttpRequest request;
  request.method = method;
  request.target = target;
  if (body != nullptr) request.body = body->dump(-1, ' ', false, json::error_handler_t::replace);
  adapters::HttpResponse response;
  Reply reply = Exchange(std::move(request), &response);
  if (reply.outcome != Reply::Outcome::kOk) return reply;
  if (status != nullptr) *status = response.status;
  json answer = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded()) {
    return Reply::Unreachable(http_.endpoint().ToString() + target + " answered " +
                              std::to_string(response.status) + " with a body that is not JSON");
  }
  return Reply::Ok(std::move(answer));
}

Reply RestConnection::Health() {
  // An unhealthy vecmeshd answers 503 with its report: refused, the report kept for printing.
  Reply reply = Call(HttpMethod::kGet, "/health/deep", nullptr);
  if (reply.outcome == Reply::Outcome::kRefused && reply.body.is_object() &&
      reply.body.contains("status")) {
    reply.code = "UNAVAILABLE";
    reply.message = "vecmeshd is " + Cell(reply.body["status"]);
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

Reply RestConnection::Upsert(const std::string& collection, const json& points) {
  const json body = {{"points", points}};
  return Call(HttpMethod::kPut, CollectionPath(collection) + "/points", &body);
}

Reply RestConnection::SubmitImport(const std::string& collection, const json& points) {
  const json body = {{"points", points}};
  return Call(HttpMethod::kPost, CollectionPath(collection) + "/points/import", &body);
}

Reply RestConnection::GetJob(const std::string& job_id) {
  return Call(HttpMethod::kGet, "/v1/jobs/" + adapters::PercentEncode(job_id), nullptr);
}

Reply RestConnection::Search(const std::string& collection, const json& request) {
  return Call(HttpMethod::kPost, CollectionPath(collection) + "/search", &request);
}

Reply RestConnection::CreateSnapshot(const std::string& collection) {
  return Call(HttpMethod::kPost, CollectionPath(collection) + "/snapshots", nullptr);
}

Reply RestConnection::ListSnapshots(const std::string& collection) {
  return Call(HttpMethod::kGet, CollectionPath(collection) + "/snapshots", nullptr);
}

Reply RestConnection::RestoreSnapshot(const std::string& collection, const std::string& snapshot) {
  return Call(
      HttpMethod::kPost,
      CollectionPath(collection) + "/snapshots/" + adapters::PercentEncode(snapshot) + "/restore",
      nullptr);
}

Reply RestConnection::UploadSnapshot(const std::string& collection, const std::string& file) {
  adapters::HttpRequest request;
  request.method = HttpMethod::kPut;
  request.target = CollectionPath(collection) + "/snapshots/upload";
  request.body = file;
  request.headers.emplace_back("Content-Type", "application/octet-stream");
  adapters::HttpResponse response;
  Reply reply = Exchange(std::move(request), &response);
  if (reply.outcome != Reply::Outcome::kOk) return reply;
  return Reply::Ok({{"restored", true}});
}

Reply RestConnection::DownloadSnapshot(const std::string& collection, const std::string& snapshot,
                                       std::string* file) {
  adapters::HttpRequest request;
  request.target = CollectionPath(collection) + "/snapshots/" + adapters::PercentEncode(snapshot);
  adapters::HttpResponse response;
  Reply reply = Exchange(std::move(request), &response);
  if (reply.outcome != Reply::Outcome::kOk) return reply;
  *file = std::move(response.body);
  return Reply::Ok({{"snapshot", snapshot}, {"size", file->size()}});
}

}  // namespace vecmesh::cli
