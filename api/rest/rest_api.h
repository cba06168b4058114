// The REST transport's routes (API.md's paths) and their handlers: decode the JSON body,
// authorize, call the service layer, encode the answer or the error. Knows nothing of sockets:
// the server (server.h) reads requests and writes what Handle returns.
//
// Thread safety: Handle is safe to call from any number of threads.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/service/access_log.h"
#include "api/service/metrics.h"
#include "api/service/service.h"

namespace vecmesh::api {

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // path and query, as sent
  std::string body;
  std::optional<std::string> api_key;  // from api-key or Authorization: Bearer
  std::string request_id;              // X-Request-Id: the client's, or one made for it
  // When its header was read (none: when Handle starts); latencies count from here.
  std::optional<std::chrono::steady_clock::time_point> arrival;
};

struct HttpResponse {
  int status = 200;
  std::string code = "OK";  // the status code name, for metrics
  std::string content_type = "application/json";
  std::string body;
  std::string file;  // when set, the response body is this file (snapshot downloads)
};

using PathParams = std::vector<std::string>;  // the {placeholders} of the route, in order

struct Route {
  std::string method;
  std::string pattern;  // "/v1/collections/{name}/points", as in the OpenAPI document
  std::optional<Operation> operation;  // none: health, metrics, openapi (no key needed)
  std::function<HttpResponse(const HttpRequest&, const PathParams&)> handler;
};

// The HTTP status of API.md for a status code.
int HttpStatusOf(engine::StatusCode code);

class RestApi {
 public:
  RestApi(Service& service, Metrics& metrics, const AccessLog& access_log);

  const std::vector<Route>& routes() const { return routes_; }
  // Whether `request` is answered without the worker pool (health, metrics: cheap, and needed
  // most when the server is overloaded).
  bool IsLight(const HttpRequest& request) const;
  // Routes, authorizes and answers one request, and records it in the metrics and the access
  // log. Operations answered with a 5xx status are also logged as errors with the request id.
  HttpResponse Handle(const HttpRequest& request) const;
  // The answer for a request that must be refused from its header alone (method, target, key):
  // an unauthenticated or unauthorized call, so that its body is never read. None: go on.
  std::optional<HttpResponse> RefuseEarly(const HttpRequest& header) const;
  // The 429 answer when the worker pool is full (recorded like every answer).
  HttpResponse Overloaded(const HttpRequest& request) const;
  // A 413 answer for a body over `limit` bytes (recorded like every answer).
  HttpResponse TooLarge(const HttpRequest& request, size_t limit) const;

 private:
  // The route matching method and path, with its parameters; or an error answer (404, 405).
  const Route* Match(const std::string& method, const std::string& path, PathParams* params,
                     HttpResponse* error) const;
  HttpResponse Error(const engine::Status& status) const;
  std::string LabelOf(const HttpRequest& request) const;
  // Records an answer in the metrics and the access log.
  void Record(const HttpRequest& request, const std::string& label, const HttpResponse& response,
              double seconds) const;
  void BuildRoutes();

  Service& service_;
  Metrics& metrics_;
  const AccessLog& access_log_;
  std::vector<Route> routes_;
};

// The OpenAPI 3 document served at /openapi.json (api/openapi.json, embedded at build time).
extern const char* const kOpenApiDocument;

}  // namespace vecmesh::api
