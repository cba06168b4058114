#include "api/rest/rest_api.h"

#include <exception>
#include <filesystem>

#include "api/json/json_codec.h"
#include "api/service/log.h"

namespace vecmesh::api {
namespace {

// A write's answer, with "stores" when the collection has a remote backend.
json WithStores(json answer, const StoreStates& stores) {
  if (!stores.empty()) answer["stores"] = EncodeStoreStates(stores);
  return answer;
}

// A read's answer, with "stores" when a remote store answered it.
json WithOutcomes(json answer, const std::vector<StoreOutcome>& stores) {
  if (!stores.empty()) answer["stores"] = EncodeStoreOutcomes(stores);
  return answer;
}

// Strings that are not UTF-8 (a request path can hold any byte) are written with U+FFFD rather
// than making dump() throw.
HttpResponse Json(int status, const json& body) {
  return {status, "OK", "application/json",
          body.dump(-1, ' ', false, json::error_handler_t::replace), ""};
}

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  size_t begin = 1;
  while (begin <= path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

// Whether `path` fits `pattern`; fills the {placeholder} values.
bool Matches(const std::string& pattern, const std::vector<std::string>& path, PathParams* params) {
  const std::vector<std::string> parts = Segments(pattern);
  if (parts.size() != path.size()) return false;
  PathParams values;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].size() > 2 && parts[i].front() == '{' && parts[i].back() == '}') {
      if (path[i].empty()) return false;
      values.push_back(path[i]);
    } else if (parts[i] != path[i]) {
      return false;
    }
  }
  *params = std::move(values);
  return true;
}

}  // namespace

int HttpStatusOf(engine::StatusCode code) {
  switch (code) {
    case engine::StatusCode::kOk:
      return 200;
    case engine::StatusCode::kInvalidArgument:
      return 400;
    case engine::StatusCode::kUnauthenticated:
      return 401;
    case engine::StatusCode::kPermissionDenied:
      return 403;
    case engine::StatusCode::kNotFound:
      return 404;
    case engine::StatusCode::kAlreadyExists:
    case engine::StatusCode::kFailedPrecondition:
      return 409;
    case engine::StatusCode::kResourceExhausted:
      return 429;
    case engine::StatusCode::kUnavailable:
      return 503;
    case engine::StatusCode::kDeadlineExceeded:
      return 504;
    case engine::StatusCode::kInternal:
      return 500;
  }
  return 500;
}

RestApi::RestApi(Service& service, Metrics& metrics, const AccessLog& access_log)
    : service_(service), metrics_(metrics), access_log_(access_log) {
  BuildRoutes();
}

HttpResponse RestApi::Error(const engine::Status& status) const {
  HttpResponse response = Json(HttpStatusOf(status.code()), EncodeError(status));
  response.code = std::string(engine::CodeName(status.code()));
  return response;
}

void RestApi::BuildRoutes() {
  Service& svc = service_;
  const engine::Limits& limits = svc.options().limits;
  auto error = [this](const engine::Status& s) { return Error(s); };
  // Runs `body` on the parsed JSON body, answering a parse error itself.
  auto with_json = [error](auto body) {
    return [error, body](const HttpRequest& request, const PathParams& params) -> HttpResponse {
      auto parsed = ParseBody(request.body);
      if (!parsed.ok()) return error(parsed.status());
      return body(*parsed, params);
    };
  };
  auto add = [this](std::string method, std::string pattern, std::optional<Operation> op,
                    std::function<HttpResponse(const HttpRequest&, const PathParams&)> handler) {
    routes_.push_back({std::move(method), std::move(pattern), op, std::move(handler)});
  };

  // ---- collections
  add("PUT", "/v1/collections/{name}", Operation::kCreateCollection,
      with_json([&svc, error](const json& body, const PathParams& p) {
        auto request = DecodeCreateCollection(p[0], body);
        if (!request.ok()) return error(request.status());
        StoreStates stores;
        auto created = svc.CreateCollection(*request, &stores);
        if (!created.ok()) return error(created.status());
        auto view = svc.GetCollection(p[0]);
        if (!view.ok()) return error(view.status());
        json out = EncodeCollection(*view);
        if (!stores.empty()) out["stores"] = EncodeStoreStates(stores);
        return Json(*created ? 201 : 200, std::move(out));
      }));
  add("GET", "/v1/collections", Operation::kListCollections,
      [&svc, error](const HttpRequest&, const PathParams&) {
        auto all = svc.ListCollections();
        if (!all.ok()) return error(all.status());
        json list = json::array();
        for (const auto& c : *all) list.push_back(EncodeCollection(c));
        return Json(200, {{"collections", std::move(list)}});
      });
  add("GET", "/v1/collections/{name}", Operation::kGetCollection,
      [&svc, error](const HttpRequest&, const PathParams& p) {
        auto view = svc.GetCollection(p[0]);
        if (!view.ok()) return error(view.status());
        return Json(200, EncodeCollection(*view));
      });
  add("DELETE", "/v1/collections/{name}", Operation::kDeleteCollection,
      [&svc, error](const HttpRequest&, const PathParams& p) {
        StoreStates stores;
        engine::Status s = svc.DeleteCollection(p[0], &stores);
        if (!s.ok()) return error(s);
        return Json(200, WithStores({{"deleted", true}}, stores));
      });

  // ---- points
  add("PUT", "/v1/collections/{name}/points", Operation::kUpsert,
      with_json([&svc, error](const json& body, const PathParams& p) {
        auto points = DecodePoints(body);
        if (!points.ok()) return error(points.status());
        StoreStates stores;
        auto n = svc.Upsert(p[0], std::move(*points), &stores);
        if (!n.ok()) return error(n.status());
        return Json(200, WithStores({{"upserted", *n}}, stores));
      }));
  add("POST", "/v1/collections/{name}/points/get", Operation::kGetPoints,
      with_json([&svc, error](const json& body, const PathParams& p) {
        auto request = DecodeGetPoints(body);
        if (!request.ok()) return error(request.status());
        std::vector<StoreOutcome> stores;
        auto records = svc.GetPoints(p[0], *request, &stores);
        if (!records.ok()) return error(records.status());
        json list = json::array();
        for (const auto& r : *records) list.push_back(EncodeRecord(r));
        return Json(200, WithOutcomes({{"points", std::move(list)}}, stores));
      }));
  add("POST", "/v1/collections/{name}/points/delete", Operation::kDeletePoints,
      with_json([&svc, &limits, error](const json& body, const PathParams& p) {
        auto request = DecodeDeletePoints(body, limits);
        if (!request.ok()) return error(request.status());
        StoreStates stores;
        auto n = svc.DeletePoints(p[0], *request, &stores);
        if (!n.ok()) return error(n.status());
        return Json(200, WithStores({{"deleted", *n}}, stores));
      }));
  add("POST", "/v1/collections/{name}/points/payload", Operation::kUpdatePayload,
      with_json([&svc, error](const json& body, const PathParams& p) {
        auto request = DecodeUpdatePayload(body);
        if (!request.ok()) return error(request.status());
        StoreStates stores;
        auto n = svc.UpdatePayload(p[0], *request, &stores);
        if (!n.ok()) return error(n.status());
        return Json(200, WithStores({{"updated", *n}}, stores));
      }));
  add("POST", "/v1/collections/{name}/points/count", Operation::kCount,
      with_json([&svc, &limits, error](const json& body, const PathParams& p) {
        auto request = DecodeCount(body, limits);
        if (!request.ok()) return error(request.status());
        std::vector<StoreOutcome> stores;
        auto n = svc.Count(p[0], *request, &stores);
        if (!n.ok()) return error(n.status());
        return Json(200, WithOutcomes({{"count", *n}}, stores));
      }));
  add("POST", "/v1/collections/{name}/points/scroll", Operation::kScroll,
      with_json([&svc, &limits, error](const json& body, const PathParams& p) {
        auto request = DecodeScroll(body, limits);
        if (!request.ok()) return error(request.status());
        std::vector<StoreOutcome> stores;
        auto page = svc.Scroll(p[0], *request, &stores);
        if (!page.ok()) return error(page.status());
        json list = json::array();
        for (const auto& r : page->points) list.push_back(EncodeRecord(r));
        return Json(
            200,
            WithOutcomes({{"points", std::move(list)},
                          {"next_cursor", page->next_cursor ? json(*page->next_cursor) : json()}},
                         stores));
      }));
  add("POST", "/v1/collections/{name}/points/import", Operation::kSubmitImport,
      with_json([&svc, error](const json& body, const PathParams& p) {
        auto points = DecodePoints(body);
        if (!points.ok()) return error(points.status());
        auto job = svc.SubmitImport(p[0], std::move(*points));
        if (!job.ok()) return error(job.status());
        return Json(202, {{"job_id", *job}});
      }));
  add("GET", "/v1/jobs/{job_id}", Operation::kGetJob,
      [&svc, error](const HttpRequest&, const PathParams& p) {
        auto job = svc.GetJob(p[0]);
        if (!job.ok()) return error(job.status());
        return Json(200, EncodeJob(*job));
      });

  // ---- search
  add("POST", "/v1/collections/{name}/search", Operation::kSearch,
      with_json([&svc, &limits, error](const json& body, const PathParams& p) {
        auto search = DecodeSearch(body, limits);
        if (!search.ok()) return error(search.status());
        auto answer = svc.SearchOne(p[0], *search);
        if (!answer.ok()) return error(answer.status());
        return Json(200, EncodeSearchAnswer(*answer));
      }));
  add("POST", "/v1/collections/{name}/search/batch", Operation::kSearchBatch,
      with_json([&svc, &limits, error](const json& body, const PathParams& p) {
        auto searches = DecodeSearchBatch(body, limits);
        if (!searches.ok()) return error(searches.status());
        auto answers = svc.SearchBatch(p[0], *searches);
        if (!answers.ok()) return error(answers.status());
        json results = json::array();
        json stores = json::array();
        bool any_stores = false;
        for (const auto& a : *answers) {
          json one = EncodeSearchAnswer(a);
          results.push_back(std::move(one["results"]));
          any_stores = any_stores || one.contains("stores");
          stores.push_back(one.contains("stores") ? one["stores"] : json());
        }
        json out = {{"results", std::move(results)}};
        if (any_stores) out["stores"] = std::move(stores);
        return Json(200, out);
      }));

  // ---- snapshots
  add("POST", "/v1/collections/{name}/snapshots", Operation::kCreateSnapshot,
      [&svc, error](const HttpRequest&, const PathParams& p) {
        auto snapshot = svc.CreateSnapshot(p[0]);
        if (!snapshot.ok()) return error(snapshot.status());
        return Json(200, {{"snapshot", snapshot->name}, {"size", snapshot->size_bytes}});
      });
  add("GET", "/v1/collections/{name}/snapshots", Operation::kListSnapshots,
      [&svc, error](const HttpRequest&, const PathParams& p) {
        auto all = svc.ListSnapshots(p[0]);
        if (!all.ok()) return error(all.status());
        json list = json::array();
        for (const auto& s : *all) list.push_back({{"snapshot", s.name}, {"size", s.size_bytes}});
        return Json(200, {{"snapshots", std::move(list)}});
      });
  add("GET", "/v1/collections/{name}/snapshots/{snapshot}", Operation::kDownloadSnapshot,
      [&svc, error](const HttpRequest&, const PathParams& p) {
        auto path = svc.SnapshotPath(p[0], p[1]);
        if (!path.ok()) return error(path.status());
        return HttpResponse{200, "OK", "application/octet-stream", "", *path};
      });
  add("POST", "/v1/collections/{name}/snapshots/{snapshot}/restore", Operation::kRestoreSnapshot,
      [&svc, error](const HttpRequest&, const PathParams& p) {
        engine::Status s = svc.RestoreSnapshot(p[0], p[1]);
        if (!s.ok()) return error(s);
        return Json(200, {{"restored", true}});
      });
  add("PUT", "/v1/collections/{name}/snapshots/upload", Operation::kUploadSnapshot,
      [&svc, error](const HttpRequest& request, const PathParams& p) {
        engine::Status s = svc.RestoreUploadedSnapshot(p[0], request.body);
        if (!s.ok()) return error(s);
        return Json(200, {{"restored", true}});
      });

  // ---- legacy
  add("POST", "/create_index", Operation::kLegacyCreateIndex,
      with_json([&svc, error](const json& body, const PathParams&) {
        auto request = DecodeLegacyCreateIndex(body);
        if (!request.ok()) return error(request.status());
        engine::Status s = svc.LegacyCreateIndex(request->name, request->dimension);
        if (!s.ok()) return error(s);
        // API.md: the same answer whether it was made now or already there.
        return Json(200, {{"status", "created"}});
      }));
  add("POST", "/add_vectors", Operation::kLegacyAddVectors,
      with_json([&svc, error](const json& body, const PathParams&) {
        auto request = DecodeLegacyAddVectors(body);
        if (!request.ok()) return error(request.status());
        auto ids = svc.LegacyAddVectors(std::move(*request));
        if (!ids.ok()) return error(ids.status());
        return Json(200, {{"inserted", ids->size()}, {"ids", *ids}});
      }));
  add("POST", "/search", Operation::kLegacySearch,
      with_json([&svc, error](const json& body, const PathParams&) {
        auto request = DecodeLegacySearch(body);
        if (!request.ok()) return error(request.status());
        auto results = svc.LegacySearch(request->index, std::move(request->vector), request->k);
        if (!results.ok()) return error(results.status());
        json list = json::array();
        for (const auto& r : *results) {
          list.push_back({{"id", EncodeId(r.id)},
                          {"score", r.score},
                          {"metadata", r.payload ? *r.payload : json::object()}});
        }
        return Json(200, {{"results", std::move(list)}});
      }));

  // ---- operations (no key needed)
  add("GET", "/health", std::nullopt, [&svc](const HttpRequest&, const PathParams&) {
    const std::string_view state = svc.State();
    return Json(state == "healthy" ? 200 : 503,
                {{"status", state}, {"version", svc.options().version}});
  });
  add("GET", "/health/live", std::nullopt, [](const HttpRequest&, const PathParams&) {
    return Json(200, {{"status", "alive"}});
  });
  add("GET", "/health/deep", std::nullopt, [&svc](const HttpRequest&, const PathParams&) {
    const auto engine = svc.DeepHealth();
    json body = {{"status", engine.status},
                 {"version", svc.options().version},
                 {"dependencies",
                  {{"engine",
                    {{"status", engine.status},
                     {"state", svc.State()},
                     {"collections", engine.collections},
                     {"points", engine.points},
                     {"read_only", engine.read_only}}}}}};
    // A remote backend down or behind: still serving, with a warning (API.md "Operations").
    for (const DependencyHealth& d : svc.DependenciesHealth()) {
      body["dependencies"][d.name] = {{"status", d.status},
                                      {"message", d.message},
                                      {"latency_ms", d.latency_ms},
                                      {"pending", d.pending}};
      if (d.status != "healthy" && body["status"] == "healthy") body["status"] = "warning";
    }
    return Json(engine.status == "unhealthy" ? 503 : 200, body);
  });
  add("GET", "/metrics", std::nullopt, [this](const HttpRequest&, const PathParams&) {
    return HttpResponse{200, "OK", "text/plain; version=0.0.4", metrics_.Render(service_), ""};
  });
  add("GET", "/openapi.json", std::nullopt, [](const HttpRequest&, const PathParams&) {
    return HttpResponse{200, "OK", "application/json", kOpenApiDocument, ""};
  });
}

const Route* RestApi::Match(const std::string& method, const std::string& path, PathParams* params,
                            HttpResponse* error) const {
  const std::vector<std::string> segments = Segments(path);
  std::string allowed;
  for (const Route& route : routes_) {
    PathParams values;
    if (!Matches(route.pattern, segments, &values)) continue;
    if (route.method == method) {
      *params = std::move(values);
      return &route;
    }
    allowed += (allowed.empty() ? "" : ", ") + route.method;
  }
  if (allowed.empty()) {
    *error = Error(engine::Status::NotFound("no route " + method + " " + path));
  } else {
    *error = Error(
        engine::Status::NotFound(method + " is not allowed on " + path + "; allowed: " + allowed));
    error->status = 405;
  }
  return nullptr;
}

void RestApi::Record(const HttpRequest& request, const std::string& label,
                     const HttpResponse& response, double seconds) const {
  metrics_.Record("rest", label, response.code, seconds);
  if (!access_log_.enabled()) return;
  size_t bytes_out = response.body.size();
  if (!response.file.empty()) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(response.file, ec);
    if (!ec) bytes_out = size;
  }
  access_log_.Write({"rest", request.request_id, label, response.status, response.code, seconds,
                     request.body.size(), bytes_out});
}

std::string RestApi::LabelOf(const HttpRequest& request) const {
  const std::string path = request.target.substr(0, request.target.find('?'));
  PathParams params;
  HttpResponse error;
  const Route* route = Match(request.method, path, &params, &error);
  if (!route) return "unmatched";
  return route->operation ? std::string(OperationName(*route->operation)) : route->pattern;
}

bool RestApi::IsLight(const HttpRequest& request) const {
  return request.method == "GET" &&
         (request.target.starts_with("/health") || request.target == "/metrics");
}

HttpResponse RestApi::Handle(const HttpRequest& request) const {
  const auto start = request.arrival.value_or(std::chrono::steady_clock::now());
  const std::string path = request.target.substr(0, request.target.find('?'));
  PathParams params;
  HttpResponse response;
  const Route* route = Match(request.method, path, &params, &response);
  if (route) {
    engine::Status allowed = route->operation
                                 ? service_.Authorize(*route->operation, request.api_key)
                                 : engine::Status::Ok();
    if (!allowed.ok()) {
      response = Error(allowed);
    } else {
      try {
        response = route->handler(request, params);
      } catch (const std::exception& e) {
        // Nothing below should throw; if it does, the request fails, not the process.
        response = Error(engine::Status::Internal(std::string("unexpected error: ") + e.what()));
      }
    }
  }
  const std::string label =
      route ? (route->operation ? std::string(OperationName(*route->operation)) : route->pattern)
            : "unmatched";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Record(request, label, response, seconds);
  if (response.status >= 500 && route && route->operation) {
    Log("error", "request failed",
        {{"request_id", request.request_id},
         {"method", request.method},
         {"path", path},
         {"status", response.status},
         {"code", response.code},
         {"answer", response.body},
         {"seconds", seconds}});
  }
  return response;
}

std::optional<HttpResponse> RestApi::RefuseEarly(const HttpRequest& header) const {
  const std::string path = header.target.substr(0, header.target.find('?'));
  PathParams params;
  HttpResponse unmatched;
  const Route* route = Match(header.method, path, &params, &unmatched);
  if (!route || !route->operation) return std::nullopt;
  engine::Status allowed = service_.Authorize(*route->operation, header.api_key);
  if (allowed.ok()) return std::nullopt;
  HttpResponse response = Error(allowed);
  Record(header, std::string(OperationName(*route->operation)), response, 0);
  return response;
}

HttpResponse RestApi::Overloaded(const HttpRequest& request) const {
  HttpResponse response = Error(engine::Status::ResourceExhausted(
      "the server is at capacity (its request queue is full): retry with backoff"));
  Record(request, LabelOf(request), response, 0);
  return response;
}

HttpResponse RestApi::TooLarge(const HttpRequest& request, size_t limit) const {
  HttpResponse response = Error(engine::Status::ResourceExhausted(
      "the request body is larger than the limit of " + std::to_string(limit) + " bytes"));
  response.status = 413;
  Record(request, LabelOf(request), response, 0);
  return response;
}

}  // namespace vecmesh::api
