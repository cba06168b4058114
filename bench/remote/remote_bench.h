// What the remote-store benchmarks (bench/remote: vecmesh in front of Chroma, and of the Qdrant
// double) share: one client call, the exact answer and recall, ingest through vecmesh until a
// store holds it all, timed searches, and the printed rows. Every figure of a run comes from the
// same client (the project's HTTP client, one keep-alive connection) and the same data.
//
// With --json FILE a run also writes every row it prints to FILE, for the plots of
// `make bench-report`:
//   {"bench": "chroma"|"qdrant", "points": N, "queries": Q, "batch": B, "figures": [...]}
// one figure per row, in the order printed:
//   {"group": "ingest"|"search"|"floor"|"ratio", "name": the row's label as printed,
//    "value": X, "unit": "points/s"|"QPS"|"x", "recall": recall@10 or null}
// and, for ratios, "target" (the least the ratio should be) and "met"; a ratio held at equal
// recall has the recall of its numerator, and is not met below its denominator's.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adapters/http/http_client.h"
#include "tests/support/synthetic.h"

namespace vecmesh::bench {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

inline constexpr size_t kDim = 128, kK = 10;

double SecondsSince(Clock::time_point start);

// Sends one request and returns its JSON answer; exits on an error or a status above
// `expect_max` (a benchmark has no use for a partial figure).
json Call(adapters::HttpClient& http, adapters::HttpMethod method, const std::string& target,
          const json& body, int expect_max = 299);

// The exact top k ids of every query (l2, double precision).
std::vector<std::vector<uint64_t>> Exact(const testing::Dataset& data);

json Vector(const float* v);

struct Figure {
  double per_second = 0;
  double recall = -1;  // searches only
};

// Upserts every point into vecmesh's `collection`, made anew with backends ["faiss", store], in
// batches of `batch`, timed until `store` holds them all (its status ok, 0 pending).
Figure IngestThroughVecmesh(adapters::HttpClient& vecmesh, const std::string& collection,
                            const std::string& store, const testing::Dataset& data, size_t batch);

// Upserts every point into vecmesh's `collection`, made anew as an hnsw collection on vecmesh
// alone with Chroma's default graph (m 16, ef_construction 100), in batches of `batch`, timed
// from the first write until the collection reports "ready": its graph holds every point.
Figure IngestToReady(adapters::HttpClient& vecmesh, const std::string& collection,
                     const testing::Dataset& data, size_t batch);

// Runs `search` over every query (after a warm-up of 50), timed, and scores the ids it gives.
double Recall(const std::vector<std::vector<uint64_t>>& got,
              const std::vector<std::vector<uint64_t>>& exact);
template <typename Search>
Figure Searches(const testing::Dataset& data, const std::vector<std::vector<uint64_t>>& exact,
                Search search) {
  for (size_t q = 0; q < std::min<size_t>(50, data.num_queries()); ++q) (void)search(q);
  std::vector<std::vector<uint64_t>> got(data.num_queries());
  const auto start = Clock::now();
  for (size_t q = 0; q < data.num_queries(); ++q) got[q] = search(q);
  const double seconds = SecondsSince(start);
  return {data.num_queries() / seconds, Recall(got, exact)};
}

// vecmesh's search with `store` (and `ef_search`, when given), its result ids.
std::vector<uint64_t> SearchThroughVecmesh(adapters::HttpClient& vecmesh,
                                           const std::string& collection, const std::string& store,
                                           const float* query,
                                           std::optional<int> ef_search = std::nullopt);
// The floor of vecmesh's own hop: the same search call on a collection of one point in vecmesh
// itself.
Figure HopFloor(adapters::HttpClient& vecmesh, const testing::Dataset& data);

// One run's servers, data and sizes, from its command line: --STORE URL --vecmesh URL
// --vecmesh-async URL [--points N] [--queries N] [--batch N] [--json FILE]. `vecmesh` answers
// writes once the store has them, `vecmesh_async` once they are durable in vecmesh.
struct Run {
  std::string store_name;  // "chroma" or "qdrant": the STORE of --STORE
  std::string store_url;
  std::string json_path;  // empty: no --json
  std::unique_ptr<adapters::HttpClient> store, vecmesh, vecmesh_async;
  testing::Dataset data;
  std::vector<std::vector<uint64_t>> exact;
  size_t batch = 500;
};
// nullopt, after the usage on stderr, when the command line is not one.
std::optional<Run> ParseRun(int argc, char** argv, const std::string& store, size_t points,
                            size_t queries);

// The searches `direct` and `through` twice each, interleaved (a store may still be indexing
// what it was given), the faster run of each counting.
template <typename Direct, typename Through>
std::pair<Figure, Figure> SearchesSideBySide(const Run& run, Direct direct, Through through) {
  Figure best_direct, best_through;
  for (int round = 0; round < 2; ++round) {
    const Figure d = Searches(run.data, run.exact, direct);
    const Figure t = Searches(run.data, run.exact, through);
    if (d.per_second > best_direct.per_second) best_direct = d;
    if (t.per_second > best_through.per_second) best_through = t;
  }
  return {best_direct, best_through};
}

// The rows of a run's results: each printed when added, and kept for --json.
class Rows {
 public:
  // `what` begins with the row's group: "ingest", "search" or "floor".
  void Row(const std::string& what, const Figure& f, const char* unit);
  // Met when `ratio` >= `target`.
  void Ratio(const std::string& what, double ratio, double target);
  // Met when `ratio` >= `target` and `recall` reaches `base_recall`, the recall of `base`, what
  // the ratio divides by.
  void RatioAtEqualRecall(const std::string& what, double ratio, double target, double recall,
                          const std::string& base, double base_recall);
  // Writes the run's sizes and every row to run.json_path, when given; false, after the error on
  // stderr, when it cannot.
  bool Write(const Run& run) const;

 private:
  // Keeps a figure for --json (`recall` < 0: none) and returns it, for the fields of ratios.
  json& Keep(const std::string& group, const std::string& what, double value, const char* unit,
             double recall);

  json figures_ = json::array();
};

}  // namespace vecmesh::bench
