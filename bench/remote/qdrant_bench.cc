// `make bench` (bench/remote): vecmesh in front of Qdrant beside Qdrant called directly, with the
// same client (the project's HTTP client, one keep-alive connection), the same data and in the
// same run (scripts/bench-remote starts the in-tree Qdrant double, tests/support/qdrant_double.py,
// and vecmeshd on it; a real Qdrant can be given instead with --qdrant):
//   ingest  --points clustered 128-d points in batches of --batch: upserted into Qdrant directly
//           (wait=true), against upserted into vecmesh into a ["faiss", "qdrant"] collection,
//           timed until Qdrant holds them all; through a vecmeshd whose answers wait for Qdrant
//           and through one whose answers come once durable (--vecmesh-async);
//   search  --queries searches, k = 10, one at a time: Qdrant's points/query directly, against
//           vecmesh's search with store "qdrant"; recall@10 against exact search beside each.
// Then the adapter's own overhead per call: the time of a search through vecmesh less the time of
// the same search straight to Qdrant, beside the floor of vecmesh's own hop (the same call on a
// collection of one point in vecmesh itself). The double searches exactly (numpy), so recall is
// 1 on both paths; what is measured is the hop, not Qdrant.
//
// --json FILE also writes every row to FILE (remote_bench.h says how).
//
// Usage: vecmesh_qdrant_bench --qdrant URL --vecmesh URL --vecmesh-async URL [--points N]
//        [--queries N] [--batch N] [--json FILE]
#include <cstdio>
#include <optional>
#include <string>

#include "bench/remote/remote_bench.h"

using namespace vecmesh;
using namespace vecmesh::bench;
using adapters::HttpClient;
using adapters::HttpMethod;

namespace {

Figure IngestDirect(HttpClient& qdrant, const testing::Dataset& data, size_t batch) {
  (void)Call(qdrant, HttpMethod::kDelete, "/collections/bench_direct", nullptr);
  (void)Call(qdrant, HttpMethod::kPut, "/collections/bench_direct",
             {{"vectors", {{"size", kDim}, {"distance", "Euclid"}}}});
  const auto start = Clock::now();
  for (size_t from = 0; from < data.num_base(); from += batch) {
    json points = json::array();
    for (size_t i = from; i < std::min(data.num_base(), from + batch); ++i) {
      points.push_back({{"id", i}, {"vector", Vector(data.Base(i))}, {"payload", {{"i", i}}}});
    }
    (void)Call(qdrant, HttpMethod::kPut, "/collections/bench_direct/points?wait=true",
               {{"points", points}});
  }
  return {data.num_base() / SecondsSince(start)};
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Run> run = ParseRun(argc, argv, "qdrant", 20'000, 300);
  if (!run) return 2;
  const testing::Dataset& data = run->data;
  HttpClient& qdrant = *run->store;
  HttpClient& vecmesh = *run->vecmesh;
  const size_t batch = run->batch;

  const Figure direct_ingest = IngestDirect(qdrant, data, batch);
  const Figure vecmesh_ingest = IngestThroughVecmesh(vecmesh, "bench_vm", "qdrant", data, batch);
  const Figure async_ingest =
      IngestThroughVecmesh(*run->vecmesh_async, "bench_vm_async", "qdrant", data, batch);

  const auto [direct_search, vecmesh_search] = SearchesSideBySide(
      *run,
      [&](size_t q) {
        json answer = Call(qdrant, HttpMethod::kPost, "/collections/bench_direct/points/query",
                           {{"query", Vector(data.Query(q))}, {"limit", kK}});
        std::vector<uint64_t> ids;
        for (const json& p : answer["result"]["points"]) ids.push_back(p["id"].get<uint64_t>());
        return ids;
      },
      [&](size_t q) { return SearchThroughVecmesh(vecmesh, "bench_vm", "qdrant", data.Query(q)); });
  const Figure floor = HopFloor(vecmesh, data);

  Rows rows;
  rows.Row("ingest, Qdrant directly", direct_ingest, "points/s");
  rows.Row("ingest, vecmesh, answers wait for Qdrant", vecmesh_ingest, "points/s");
  rows.Row("ingest, vecmesh, answers once durable here", async_ingest, "points/s");
  rows.Row("search, Qdrant directly", direct_search, "QPS");
  rows.Row("search, vecmesh store \"qdrant\"", vecmesh_search, "QPS");
  rows.Row("floor: vecmesh's hop alone (1-point search)", floor, "QPS");
  const double direct_ms = 1e3 / direct_search.per_second;
  const double through_ms = 1e3 / vecmesh_search.per_second;
  std::printf(
      "  a search: Qdrant %.3f ms, through vecmesh %.3f ms: the adapter's overhead %.3f ms per "
      "call (vecmesh's hop alone %.3f ms); recall@10 %.3f directly, %.3f through vecmesh\n",
      direct_ms, through_ms, through_ms - direct_ms, 1e3 / floor.per_second, direct_search.recall,
      vecmesh_search.recall);
  return rows.Write(*run) ? 0 : 1;
}
