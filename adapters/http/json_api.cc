#include "adapters/http/json_api.h"

#include "engine/types.h"

namespace vecmesh::adapters {

using engine::Status;
using engine::StatusOr;
using json = nlohmann::json;

JsonApi::JsonApi(std::string name, HttpSender* http, ErrorMessage error_message,
                 std::vector<std::pair<std::string, std::string>> headers)
    : name_(std::move(name)),
      http_(http),
      error_message_(error_message),
      headers_(std::move(headers)) {}

StatusOr<json> JsonApi::Call(const engine::CallOptions& options, HttpMethod method,
                             const std::string& target, const json* body, bool idempotent) const {
  HttpRequest request;
  request.method = method;
  request.target = target;
  request.idempotent = idempotent;
  request.headers = headers_;
  if (body) request.body = body->dump(-1, ' ', false, json::error_handler_t::replace);
  auto response = http_->Send(options, request);
  if (!response.ok()) return response.status().WithContext(name_);
  // A tree deeper than the engine's limit is not parsed: copying or destroying it recurses.
  if (engine::JsonNestingDepth(response->body) > engine::kMaxJsonDepth) {
    return Status::Internal(name_ + " answered " + target + " with JSON nested deeper than " +
                            std::to_string(engine::kMaxJsonDepth) + " levels");
  }
  json answer = json::parse(response->body, nullptr, false);
  const int status = response->status;
  if (status >= 200 && status < 300) {
    if (response->body.empty()) return json();
    if (answer.is_discarded()) {
      return Status::Internal(name_ + " answered " + target + " with a body that is not JSON");
    }
    return answer;
  }
  std::string message = name_ + " answered HTTP " + std::to_string(status);
  if (std::string said = error_message_(answer); !said.empty()) {
    message += ": " + said;
  } else if (!response->body.empty()) {
    message += ": " + response->body.substr(0, 512);
  }
  if (status == 400 || status == 422) return Status::InvalidArgument(message);
  if (status == 401 || status == 403) {
    return Status::Unavailable(message + " (the credentials were refused: check the API key)");
  }
  if (status == 404) return Status::NotFound(message);
  if (status == 409) return Status::AlreadyExists(message);
  if (status == 429) return Status::ResourceExhausted(message);
  if (status >= 500) return Status::Unavailable(message);
  return Status::Internal(message);
}

}  // namespace vecmesh::adapters
