// `make run` until the daemon exists: builds one collection of each index type on generated
// clustered data, searches it (plain and filtered), and prints recall@10 and speed.
#include <chrono>
#include <cstdio>

#include "engine/local_store.h"
#include "tests/support/synthetic.h"

using namespace vecmesh;
using engine::IndexType;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when piped
  constexpr size_t kPoints = 50'000, kQueries = 500, kDim = 64, kK = 10;
  std::printf("vecmesh engine demo: %zu clustered points of dimension %zu, %zu queries, k=%zu\n\n",
              kPoints, kDim, kQueries, kK);
  const auto data = testing::MakeClustered(kPoints, kQueries, kDim, 200, 1);
  const char* half = R"({"must": [{"key": "half", "match": {"value": true}}]})";
  auto filter = *engine::Filter::Parse(nlohmann::json::parse(half), {});
  std::vector<bool> even(kPoints);
  for (size_t i = 0; i < kPoints; i += 2) even[i] = true;

  std::printf("%-9s %10s %10s %12s %10s %16s\n", "index", "load s", "index s", "search QPS",
              "recall@10", "filtered recall");
  engine::LocalStore store;
  for (IndexType type : {IndexType::kFlat, IndexType::kHnsw, IndexType::kIvfFlat, IndexType::kIvfPq,
                         IndexType::kIvfSq8}) {
    const std::string name(engine::IndexTypeName(type));
    engine::IndexConfig index;
    index.type = type;
    index.nlist = 256;
    index.nprobe = 16;
    if (auto s = store.CreateCollection({name, kDim, engine::Metric::kL2, index}); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
      return 1;
    }
    auto start = std::chrono::steady_clock::now();
    for (size_t begin = 0; begin < kPoints; begin += 10'000) {
      if (auto s = store.Upsert(name, testing::MakePoints(data, begin, begin + 10'000)); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
        return 1;
      }
    }
    const double load_s = Seconds(start);
    if (!testing::WaitUntilIndexed(store, name)) {
      std::fprintf(stderr, "%s: index did not catch up\n", name.c_str());
      return 1;
    }
    const double index_s = Seconds(start) - load_s;

    std::vector<std::vector<uint64_t>> found(kQueries);
    start = std::chrono::steady_clock::now();
    for (size_t q = 0; q < kQueries; ++q) {
      engine::SearchRequest r;
      r.vector.assign(data.Query(q), data.Query(q) + kDim);
      r.k = kK;
      auto results = store.Search(name, r);
      if (!results.ok()) {
        std::fprintf(stderr, "%s\n", results.status().ToString().c_str());
        return 1;
      }
      found[q] = testing::IdsOf(*results);
    }
    const double qps = kQueries / Seconds(start);
    double recall = 0, filtered_recall = 0;
    for (size_t q = 0; q < kQueries; ++q) {
      recall += testing::Recall(testing::ExactTopK(data, engine::Metric::kL2, data.Query(q), kK),
                                found[q], kK);
    }
    for (size_t q = 0; q < kQueries; q += 5) {
      engine::SearchRequest r;
      r.vector.assign(data.Query(q), data.Query(q) + kDim);
      r.k = kK;
      r.filter = filter;
      auto results = store.Search(name, r);
      filtered_recall +=
          testing::Recall(testing::ExactTopK(data, engine::Metric::kL2, data.Query(q), kK, &even),
                          testing::IdsOf(*results), kK);
    }
    std::printf("%-9s %10.2f %10.2f %12.0f %10.4f %16.4f\n", name.c_str(), load_s, index_s, qps,
                recall / kQueries, filtered_recall / (kQueries / 5));
  }
  std::printf(
      "\nfiltered = payload filter {\"half\": true}, keeping 50%% of the points.\n"
      "Search is single-query (batch 1); see `make bench` for the comparison with raw "
      "FAISS and hnswlib.\n");
  return 0;
}
