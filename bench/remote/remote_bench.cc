#include "bench/remote/remote_bench.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <queue>
#include <thread>

namespace vecmesh::bench {

using adapters::HttpClient;
using adapters::HttpMethod;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

json Call(HttpClient& http, HttpMethod method, const std::string& target, const json& body,
          int expect_max) {
  adapters::HttpRequest request;
  request.method = method;
  request.target = target;
  if (!body.is_null()) request.body = body.dump();
  auto response = http.Send({}, request);
  if (!response.ok() || response->status > expect_max) {
    std::fprintf(stderr, "%s %s failed: %s\n", http.endpoint().ToString().c_str(), target.c_str(),
                 response.ok() ? response->body.substr(0, 500).c_str()
                               : response.status().ToString().c_str());
    std::exit(1);
  }
  return response->body.empty() ? json() : json::parse(response->body, nullptr, false);
}

std::vector<std::vector<uint64_t>> Exact(const testing::Dataset& data) {
  std::vector<std::vector<uint64_t>> out(data.num_queries());
  for (size_t q = 0; q < data.num_queries(); ++q) {
    std::priority_queue<std::pair<double, uint64_t>> best;
    for (size_t i = 0; i < data.num_base(); ++i) {
      double d = 0;
      for (size_t j = 0; j < kDim; ++j) {
        const double x = double{data.Query(q)[j]} - data.Base(i)[j];
        d += x * x;
      }
      best.push({d, i});
      if (best.size() > kK) best.pop();
    }
    while (!best.empty()) {
      out[q].push_back(best.top().second);
      best.pop();
    }
  }
  return out;
}

double Recall(const std::vector<std::vector<uint64_t>>& got,
              const std::vector<std::vector<uint64_t>>& exact) {
  size_t hits = 0, total = 0;
  for (size_t q = 0; q < exact.size(); ++q) {
    for (uint64_t id : got[q]) hits += std::count(exact[q].begin(), exact[q].end(), id);
    total += exact[q].size();
  }
  return total ? double(hits) / double(total) : 0;
}

json Vector(const float* v) { return std::vector<float>(v, v + kDim); }

namespace {

// Upserts every point of `data` into the collection at `path`, in batches of `batch`.
void UpsertAll(HttpClient& vecmesh, const std::string& path, const testing::Dataset& data,
               size_t batch) {
  for (size_t from = 0; from < data.num_base(); from += batch) {
    json points = json::array();
    for (size_t i = from; i < std::min(data.num_base(), from + batch); ++i) {
      points.push_back({{"id", i}, {"vector", Vector(data.Base(i))}, {"payload", {{"i", i}}}});
    }
    (void)Call(vecmesh, HttpMethod::kPut, path + "/points", {{"points", points}});
  }
}

}  // namespace

Figure IngestThroughVecmesh(HttpClient& vecmesh, const std::string& collection,
                            const std::string& store, const testing::Dataset& data, size_t batch) {
  const std::string path = "/v1/collections/" + collection;
  (void)Call(vecmesh, HttpMethod::kDelete, path, nullptr, 404);
  (void)Call(vecmesh, HttpMethod::kPut, path,
             {{"dimension", kDim}, {"metric", "l2"}, {"backends", {"faiss", store}}});
  const auto start = Clock::now();
  UpsertAll(vecmesh, path, data, batch);
  // Until the store holds every point.
  while (true) {
    json info = Call(vecmesh, HttpMethod::kGet, path, nullptr);
    const json& state = info["stores"][store];
    if (state["status"] == "ok" && state["pending"] == 0) break;
    if (state["status"] == "failed") {
      std::fprintf(stderr, "delivery to %s failed: %s\n", store.c_str(), state.dump().c_str());
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {data.num_base() / SecondsSince(start)};
}

Figure IngestToReady(HttpClient& vecmesh, const std::string& collection,
                     const testing::Dataset& data, size_t batch) {
  const std::string path = "/v1/collections/" + collection;
  (void)Call(vecmesh, HttpMethod::kDelete, path, nullptr, 404);
  (void)Call(vecmesh, HttpMethod::kPut, path,
             {{"dimension", kDim},
              {"metric", "l2"},
              {"index", {{"type", "hnsw"}, {"m", 16}, {"ef_construction", 100}}}});
  const auto start = Clock::now();
  UpsertAll(vecmesh, path, data, batch);
  while (Call(vecmesh, HttpMethod::kGet, path, nullptr)["status"] != "ready") {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {data.num_base() / SecondsSince(start)};
}

std::vector<uint64_t> SearchThroughVecmesh(HttpClient& vecmesh, const std::string& collection,
                                           const std::string& store, const float* query,
                                           std::optional<int> ef_search) {
  json request = {{"vector", Vector(query)}, {"k", kK}, {"store", store}, {"with_payload", false}};
  if (ef_search) request["params"] = {{"ef_search", *ef_search}};
  json answer =
      Call(vecmesh, HttpMethod::kPost, "/v1/collections/" + collection + "/search", request);
  std::vector<uint64_t> ids;
  for (const json& r : answer["results"]) ids.push_back(r["id"].get<uint64_t>());
  return ids;
}

Figure HopFloor(HttpClient& vecmesh, const testing::Dataset& data) {
  (void)Call(vecmesh, HttpMethod::kDelete, "/v1/collections/bench_floor", nullptr, 404);
  (void)Call(vecmesh, HttpMethod::kPut, "/v1/collections/bench_floor",
             {{"dimension", kDim}, {"metric", "l2"}});
  (void)Call(vecmesh, HttpMethod::kPut, "/v1/collections/bench_floor/points",
             {{"points", {{{"id", 0}, {"vector", Vector(data.Base(0))}}}}});
  const std::vector<std::vector<uint64_t>> none(data.num_queries());
  Figure floor = Searches(data, none, [&](size_t q) {
    (void)SearchThroughVecmesh(vecmesh, "bench_floor", "faiss", data.Query(q));
    return std::vector<uint64_t>();
  });
  floor.recall = -1;
  return floor;
}

std::optional<Run> ParseRun(int argc, char** argv, const std::string& store, size_t points,
                            size_t queries) {
  Run run;
  run.store_name = store;
  std::string vecmesh_url, async_url;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--" + store) run.store_url = argv[i + 1];
    if (flag == "--vecmesh") vecmesh_url = argv[i + 1];
    if (flag == "--vecmesh-async") async_url = argv[i + 1];
    if (flag == "--points") points = std::stoul(argv[i + 1]);
    if (flag == "--queries") queries = std::stoul(argv[i + 1]);
    if (flag == "--batch") run.batch = std::stoul(argv[i + 1]);
    if (flag == "--json") run.json_path = argv[i + 1];
  }
  auto store_endpoint = adapters::ParseHttpUrl(run.store_url);
  auto vecmesh_endpoint = adapters::ParseHttpUrl(vecmesh_url);
  auto async_endpoint = adapters::ParseHttpUrl(async_url);
  if (!store_endpoint.ok() || !vecmesh_endpoint.ok() || !async_endpoint.ok()) {
    std::fprintf(stderr,
                 "usage: %s --%s URL --vecmesh URL --vecmesh-async URL [--points N] "
                 "[--queries N] [--batch N] [--json FILE] (http:// URLs)\n",
                 argv[0], store.c_str());
    return std::nullopt;
  }
  // Now rather than after the run: a run takes minutes.
  if (!run.json_path.empty() && !std::ofstream(run.json_path)) {
    std::fprintf(stderr, "--json %s: cannot write it\n", run.json_path.c_str());
    return std::nullopt;
  }
  adapters::HttpClientOptions options;
  options.request_timeout_ms = 300'000;
  run.store = std::make_unique<HttpClient>(*store_endpoint, options);
  run.vecmesh = std::make_unique<HttpClient>(*vecmesh_endpoint, options);
  run.vecmesh_async = std::make_unique<HttpClient>(*async_endpoint, options);
  run.data = testing::MakeClustered(points, queries, kDim, 100, 42);
  run.exact = Exact(run.data);
  std::printf(
      "vecmesh in front of %s (%s): %zu x %zu clustered points, batches of %zu, %zu searches "
      "(k = %zu), one connection\n",
      store.c_str(), run.store_url.c_str(), points, kDim, run.batch, queries, kK);
  return run;
}

void Rows::Row(const std::string& what, const Figure& f, const char* unit) {
  if (f.recall >= 0) {
    std::printf("  %-44s %10.1f %-9s recall@10 %.3f\n", what.c_str(), f.per_second, unit, f.recall);
  } else {
    std::printf("  %-44s %10.1f %s\n", what.c_str(), f.per_second, unit);
  }
  Keep(what.substr(0, what.find_first_of(" ,:")), what, f.per_second, unit, f.recall);
}

void Rows::Ratio(const std::string& what, double ratio, double target) {
  const bool met = ratio >= target;
  std::printf("  %-44s %10.2fx (target >= %.1fx: %s)\n", what.c_str(), ratio, target,
              met ? "MET" : "MISSED");
  Keep("ratio", what, ratio, "x", -1).update({{"target", target}, {"met", met}});
}

void Rows::RatioAtEqualRecall(const std::string& what, double ratio, double target, double recall,
                              const std::string& base, double base_recall) {
  if (recall >= base_recall) {
    Ratio(what, ratio, target);
    figures_.back()["recall"] = recall;
    return;
  }
  std::printf(
      "  %-44s %10.2fx at recall %.3f, below %s's %.3f (target >= %.1fx at equal recall: "
      "MISSED)\n",
      what.c_str(), ratio, recall, base.c_str(), base_recall, target);
  Keep("ratio", what, ratio, "x", recall).update({{"target", target}, {"met", false}});
}

json& Rows::Keep(const std::string& group, const std::string& what, double value, const char* unit,
                 double recall) {
  figures_.push_back({{"group", group},
                      {"name", what},
                      {"value", value},
                      {"unit", unit},
                      {"recall", recall >= 0 ? json(recall) : json()}});
  return figures_.back();
}

bool Rows::Write(const Run& run) const {
  if (run.json_path.empty()) return true;
  std::ofstream out(run.json_path);
  out << json{{"bench", run.store_name},
              {"points", run.data.num_base()},
              {"queries", run.data.num_queries()},
              {"batch", run.batch},
              {"figures", figures_}}
             .dump(2)
      << "\n";
  out.close();
  if (!out) {
    std::fprintf(stderr, "--json %s: cannot write it\n", run.json_path.c_str());
    return false;
  }
  return true;
}

}  // namespace vecmesh::bench
