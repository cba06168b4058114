// JsonApi: one JSON request to a store's REST API (Chroma, Qdrant), the answer's HTTP status
// mapped to a Status the service layer acts on. The store adapters' one way to call their server.
//
//   2xx          the body parsed (null when empty; Internal if it is not JSON)
//   400, 422     InvalidArgument  (the server refused the request: delivery marks it failed)
//   401, 403     Unavailable      (the credentials were refused: an operator fixes the key, and
//                                  delivery retries until then instead of failing collections)
//   404          NotFound
//   409          AlreadyExists
//   429          ResourceExhausted
//   5xx          Unavailable
//   other        Internal
// Every message starts with the API's name and the HTTP status, then the server's own message. An
// answer nested deeper than engine::kMaxJsonDepth is Internal (as a request that deep is refused).
//
// Thread safety: as its sender's; a JsonApi is immutable once made.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "adapters/http/http_client.h"

namespace vecmesh::adapters {

class JsonApi {
 public:
  // The server's message in an error body (`body` may be discarded when it was not JSON); ""
  // when it has none.
  using ErrorMessage = std::string (*)(const nlohmann::json& body);

  // `name` prefixes messages ("qdrant"); `headers` go with every request (credentials: never
  // logged, never in a message).
  JsonApi(std::string name, HttpSender* http, ErrorMessage error_message,
          std::vector<std::pair<std::string, std::string>> headers = {});

  engine::StatusOr<nlohmann::json> Call(const engine::CallOptions& options, HttpMethod method,
                                        const std::string& target, const nlohmann::json* body,
                                        bool idempotent) const;

  const std::string& name() const { return name_; }

 private:
  const std::string name_;
  HttpSender* const http_;
  const ErrorMessage error_message_;
  const std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace vecmesh::adapters
