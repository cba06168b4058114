// `make bench` (bench/engine): the vecmesh engine beside raw FAISS (the same libfaiss, C++) and
// hnswlib (C++) on the same data and parameters, single-threaded, batch 1 and batched, with
// recall@10 beside every QPS figure and the ratios; then filtered-search QPS at 50%, 5% and 0.1%.
//
// Usage: vecmesh_engine_bench [--points N] [--queries N] [--dim N] [--indexes flat,hnsw,ivf_flat]
//                             [--sweep] [--json FILE]
//
// --sweep adds, after each index's rows, batch-1 runs of the same indexes (no second build) over a
// range of the search parameter, for recall-against-QPS curves (`make bench-report`): ef_search for
// hnsw (vecmesh, faiss, hnswlib, hnswlib -native), nprobe for ivf_flat (vecmesh, faiss). Each point
// uses the queries and the exact truth of its index's batch-1 rows, so the point at the default
// parameter repeats the row. On small runs vecmesh searches exactly where that is cheaper: ivf_flat
// until it has nlist * 39 points to train on, hnsw once 2 * M * ef_search reaches the points.
//
// --json FILE also writes every figure printed, for scripts; the text output stays as it is:
//   {"bench": "engine", "points": N, "queries": Q, "dim": D, "k": 10,
//    "queries_batch_1": the queries of the flat and ivf_flat batch-1 rows (brute force is slow),
//    "build_threads": T, "hnsw": {"m", "ef_construction", "ef_search"},
//    "ivf_flat": {"nlist", "nprobe"}, "figures": [...]}
// One figure per printed figure, told apart by "group":
//   "flat", "hnsw", "ivf_flat": a comparison row. "mode" is "batch-1" or "batched", "system" is
//     "vecmesh", "faiss", "hnswlib" or "hnswlib -native", "queries" the queries measured, "qps",
//     "recall" (recall@10 against exact search) and, on the other systems' rows,
//     "vecmesh_qps_ratio" (vecmesh's QPS / this system's, in the same mode).
//   "hnsw_build": "system", "threads", "seconds" to build its hnsw graph of all the points
//     (vecmesh's incrementally, in the background, through the store).
//   "graph_build": the engine's graph built straight from the vectors: "system", "threads",
//     "seconds", and "recall", "queries" at ef_search.
//   "target": a ratio the issues hold to: "what", "value", one of "at_least", "at_most" or
//     "within" (|value| at most), and "met".
//   "filtered": "index", "selectivity" (share of points the filter keeps), "system", "mode",
//     "queries", "qps", "recall" (against exact filtered search).
//   "hnsw_sweep", "ivf_sweep" (--sweep): "system", "mode" ("batch-1"), "param" ("ef_search" or
//     "nprobe"), "value" (the parameter), "queries", "qps", "recall".
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/IDSelector.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>

#include "bench/engine/hnswlib_native.h"
#include "engine/index/ann_index.h"
#include "engine/store/local_store.h"
#include "tests/support/synthetic.h"

using namespace vecmesh;
using Clock = std::chrono::steady_clock;
using idx_t = faiss::Index::idx_t;

namespace {

constexpr size_t kK = 10;
constexpr int kHnswM = 16, kEfConstruction = 200, kEfSearch = 64;
constexpr int kNlist = 1024, kNprobe = 32;
constexpr int kEfSearchSweep[] = {10, 16, 24, 32, 48, 64, 96, 128, 192, 256};
constexpr int kNprobeSweep[] = {1, 2, 4, 8, 16, 32, 64, 128};

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Bench {
  testing::Dataset data;
  size_t nq;                 // queries for batched runs
  size_t nq_single;          // queries for batch-1 runs (fewer for brute force, which is slow)
  std::vector<idx_t> truth;  // nq * kK exact neighbours

  double Recall(size_t q, const std::vector<uint64_t>& found) const {
    std::vector<uint64_t> t(truth.begin() + q * kK, truth.begin() + (q + 1) * kK);
    return testing::Recall(t, found, kK);
  }
};

struct Measure {
  double qps = 0, recall = 0;
  size_t queries = 0;
};

// Runs search(q) -> ids for queries [0, n) one at a time.
Measure Single(const Bench& b, size_t n,
               const std::function<std::vector<uint64_t>(size_t)>& search) {
  Measure m;
  m.queries = n;
  std::vector<std::vector<uint64_t>> found(n);
  for (size_t q = 0; q < std::min<size_t>(n, 50); ++q) search(q);  // warm-up, untimed
  auto t = Clock::now();
  for (size_t q = 0; q < n; ++q) found[q] = search(q);
  m.qps = n / Since(t);
  for (size_t q = 0; q < n; ++q) m.recall += b.Recall(q, found[q]);
  m.recall /= n;
  return m;
}

// Runs search_all() -> ids per query, for all b.nq queries in one call.
Measure Batched(const Bench& b, const std::function<std::vector<std::vector<uint64_t>>()>& search) {
  Measure m;
  m.queries = b.nq;
  search();  // warm-up, untimed
  auto t = Clock::now();
  auto found = search();
  m.qps = b.nq / Since(t);
  for (size_t q = 0; q < b.nq; ++q) m.recall += b.Recall(q, found[q]);
  m.recall /= b.nq;
  return m;
}

std::vector<uint64_t> FaissIds(const idx_t* labels, size_t k) {
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < k && labels[i] >= 0; ++i) ids.push_back(labels[i]);
  return ids;
}

// params: none for the index's own.
Measure FaissSingle(const Bench& b, faiss::Index& index,
                    const faiss::SearchParameters* params = nullptr) {
  return Single(b, b.nq_single, [&](size_t q) {
    std::vector<float> d(kK);
    std::vector<idx_t> l(kK);
    index.search(1, b.data.Query(q), kK, d.data(), l.data(), params);
    return FaissIds(l.data(), kK);
  });
}

Measure FaissBatched(const Bench& b, faiss::Index& index) {
  return Batched(b, [&] {
    std::vector<float> d(b.nq * kK);
    std::vector<idx_t> l(b.nq * kK);
    index.search(b.nq, b.data.queries.data(), kK, d.data(), l.data());
    std::vector<std::vector<uint64_t>> out(b.nq);
    for (size_t q = 0; q < b.nq; ++q) out[q] = FaissIds(l.data() + q * kK, kK);
    return out;
  });
}

std::vector<engine::SearchRequest> Requests(const Bench& b, size_t n,
                                            const std::optional<engine::Filter>& filter = {}) {
  std::vector<engine::SearchRequest> requests(n);
  for (size_t q = 0; q < n; ++q) {
    requests[q].vector.assign(b.data.Query(q), b.data.Query(q) + b.data.dim);
    requests[q].k = kK;
    requests[q].with_payload = false;
    requests[q].filter = filter;
  }
  return requests;
}

Measure EngineSingle(const Bench& b, const engine::LocalStore& store, const std::string& name,
                     size_t n, const engine::SearchParams& params = {}) {
  auto requests = Requests(b, n);
  for (auto& r : requests) r.params = params;
  return Single(b, n,
                [&](size_t q) { return testing::IdsOf(*store.Search({}, name, requests[q])); });
}

Measure EngineBatched(const Bench& b, const engine::LocalStore& store, const std::string& name) {
  auto requests = Requests(b, b.nq);
  return Batched(b, [&] {
    auto results = store.SearchBatch({}, name, requests);
    std::vector<std::vector<uint64_t>> out;
    for (const auto& r : *results) out.push_back(testing::IdsOf(r));
    return out;
  });
}

// Prints a row and adds it to `figures` (--json).
void Row(nlohmann::json& figures, const char* index, const char* mode, const char* system,
         const Measure& m, const Measure* engine) {
  nlohmann::json figure = {{"group", index},       {"mode", mode}, {"system", system},
                           {"queries", m.queries}, {"qps", m.qps}, {"recall", m.recall}};
  std::printf("%-9s %-8s %-16s %11.0f %9.4f", index, mode, system, m.qps, m.recall);
  if (engine) {
    std::printf("   engine/this = %.2fx", engine->qps / m.qps);
    figure["vecmesh_qps_ratio"] = engine->qps / m.qps;
  }
  std::printf("\n");
  figures.push_back(std::move(figure));
}

// The four rows comparing the engine with raw FAISS, batch 1 and batched.
void CompareWithFaiss(nlohmann::json& figures, const char* index, const Measure& engine_single,
                      const Measure& faiss_single, const Measure& engine_batched,
                      const Measure& faiss_batched) {
  Row(figures, index, "batch-1", "vecmesh", engine_single, nullptr);
  Row(figures, index, "batch-1", "faiss", faiss_single, &engine_single);
  Row(figures, index, "batched", "vecmesh", engine_batched, nullptr);
  Row(figures, index, "batched", "faiss", faiss_batched, &engine_batched);
}

// --sweep: one system's batch-1 runs, measure_at(value) for each value of `param`, printed under
// the table header SweepHeader prints and added to `figures` in `group`.
void Sweep(nlohmann::json& figures, const char* group, const char* system, const char* param,
           std::span<const int> values, const std::function<Measure(int)>& measure_at) {
  for (int value : values) {
    Measure m = measure_at(value);
    std::printf("%-16s %9d %11.0f %9.4f\n", system, value, m.qps, m.recall);
    figures.push_back({{"group", group},
                       {"system", system},
                       {"mode", "batch-1"},
                       {"param", param},
                       {"value", value},
                       {"queries", m.queries},
                       {"qps", m.qps},
                       {"recall", m.recall}});
  }
}

// Sweep for vecmesh: `field` of the per-search parameters (ef_search or nprobe) at each value.
void EngineSweep(nlohmann::json& figures, const Bench& b, const engine::LocalStore& store,
                 const char* index, size_t n, const char* group, const char* param,
                 std::optional<int> engine::SearchParams::*field, std::span<const int> values) {
  Sweep(figures, group, "vecmesh", param, values, [&](int value) {
    engine::SearchParams params;
    params.*field = value;
    return EngineSingle(b, store, index, n, params);
  });
}

void SweepHeader(const char* index, const char* param, size_t queries) {
  std::printf("\n%s sweep (batch 1, %zu queries)\n", index, queries);
  std::printf("%-16s %9s %11s %9s\n", "system", param, "QPS", "recall@10");
}

double LoadEngine(engine::LocalStore& store, const std::string& name, const Bench& b,
                  engine::IndexConfig index) {
  auto t = Clock::now();
  if (!store
           .CreateCollection({},
                             {name, static_cast<uint32_t>(b.data.dim), engine::Metric::kL2, index})
           .ok()) {
    std::abort();
  }
  for (size_t begin = 0; begin < b.data.num_base(); begin += 10'000) {
    size_t end = std::min(b.data.num_base(), begin + 10'000);
    if (!store.Upsert({}, name, testing::MakePoints(b.data, begin, end)).ok()) std::abort();
  }
  testing::WaitUntilIndexed(store, name, 3600);
  return Since(t);
}

// A ratio held to a floor, printed with MET or MISSED.
void Target(nlohmann::json& figures, const char* what, double ratio, double floor) {
  const bool met = ratio >= floor;
  std::printf("  %s = %.2fx (target >= %.1fx: %s)\n", what, ratio, floor, met ? "MET" : "MISSED");
  figures.push_back(
      {{"group", "target"}, {"what", what}, {"value", ratio}, {"at_least", floor}, {"met", met}});
}

// Issue 16, item 3: the engine's graph built straight from the vectors on one thread and on
// `threads`, timed, with the recall of each at the same ef.
void BuildOnThreads(nlohmann::json& figures, const Bench& b, int threads) {
  engine::CollectionConfig config{"build", static_cast<uint32_t>(b.data.dim), engine::Metric::kL2,
                                  engine::ResolveIndexDefaults({}, b.data.dim)};
  config.index.type = engine::IndexType::kHnsw;
  config.index.hnsw_m = kHnswM;
  config.index.ef_construction = kEfConstruction;
  std::vector<uint32_t> slots(b.data.num_base());
  std::iota(slots.begin(), slots.end(), 0);
  double seconds[2], recall[2];
  const int thread_counts[2] = {1, threads};
  for (int run = 0; run < 2; ++run) {
    engine::BuildOptions build;
    build.threads = thread_counts[run];
    auto t = Clock::now();
    auto index =
        engine::BuildAnnIndex(config, slots.size(), b.data.base.data(), slots.data(), build);
    seconds[run] = Since(t);
    if (!index.ok()) std::abort();
    recall[run] = 0;
    for (size_t q = 0; q < b.nq; ++q) {
      std::vector<uint64_t> ids;
      for (const auto& n :
           (*index)->Search(b.data.Query(q), kK, nullptr, {.ef_search = kEfSearch})) {
        ids.push_back(n.slot);
      }
      recall[run] += b.Recall(q, ids);
    }
    recall[run] /= b.nq;
  }
  const double ratio = seconds[1] / seconds[0], recall_change = recall[1] - recall[0];
  const bool time_met = ratio <= 0.6, recall_met = std::abs(recall_change) <= 0.005;
  std::printf(
      "  build of %zu points: 1 thread %.1f s (recall@10 %.4f), %d threads %.1f s (recall@10 "
      "%.4f)\n",
      b.data.num_base(), seconds[0], recall[0], threads, seconds[1], recall[1]);
  std::printf(
      "  build time, %d threads / 1 thread = %.2fx (target <= 0.6x: %s); recall %+.4f "
      "(target within 0.005: %s)\n",
      threads, ratio, time_met ? "MET" : "MISSED", recall_change, recall_met ? "MET" : "MISSED");
  for (int run = 0; run < 2; ++run) {
    figures.push_back({{"group", "graph_build"},
                       {"system", "vecmesh"},
                       {"threads", thread_counts[run]},
                       {"seconds", seconds[run]},
                       {"queries", b.nq},
                       {"recall", recall[run]}});
  }
  const std::string n_threads = std::to_string(threads) + " threads";
  figures.push_back({{"group", "target"},
                     {"what", "hnsw build time, " + n_threads + " / 1 thread"},
                     {"value", ratio},
                     {"at_most", 0.6},
                     {"met", time_met}});
  figures.push_back({{"group", "target"},
                     {"what", "hnsw build recall@10, " + n_threads + " - 1 thread"},
                     {"value", recall_change},
                     {"within", 0.005},
                     {"met", recall_met}});
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when piped
  size_t points = 200'000, queries = 1000, dim = 128;
  std::string indexes = "flat,hnsw,ivf_flat", json_path;
  bool sweep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string option = argv[i];
    if (option == "--sweep") {
      sweep = true;
      continue;
    }
    // Every other option takes a value.
    if (i + 1 == argc) {
      std::fprintf(stderr, "%s needs a value, or is unknown\n", option.c_str());
      return 2;
    }
    const char* value = argv[++i];
    if (option == "--points") {
      points = std::stoul(value);
    } else if (option == "--queries") {
      queries = std::stoul(value);
    } else if (option == "--dim") {
      dim = std::stoul(value);
    } else if (option == "--indexes") {
      indexes = value;
    } else if (option == "--json") {
      json_path = value;
    } else {
      std::fprintf(stderr, "unknown option %s\n", option.c_str());
      return 2;
    }
  }
  // Opened now so that a bad path fails before the run, not after it.
  std::ofstream json_out;
  if (!json_path.empty()) {
    json_out.open(json_path);
    if (!json_out) {
      std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
      return 2;
    }
  }
  const int build_threads = std::max(1u, std::thread::hardware_concurrency());
  omp_set_num_threads(1);

  Bench b;
  b.data = testing::MakeClustered(points, queries, dim, 1000, 7);
  b.nq = queries;
  b.nq_single = std::min<size_t>(queries, 200);
  std::printf(
      "engine bench: %zu clustered points x %zu dims, %zu queries (batch 1: %zu), k=%zu, "
      "one search thread\n",
      points, dim, queries, b.nq_single, kK);
  std::printf("hnsw M=%d ef_construction=%d ef_search=%d; ivf_flat nlist=%d nprobe=%d\n\n", kHnswM,
              kEfConstruction, kEfSearch, kNlist, kNprobe);

  faiss::IndexFlatL2 flat(dim);
  flat.add(points, b.data.base.data());
  b.truth.resize(queries * kK);
  {
    std::vector<float> d(queries * kK);
    flat.search(queries, b.data.queries.data(), kK, d.data(), b.truth.data());
  }

  nlohmann::json figures = nlohmann::json::array();
  engine::LocalStoreOptions options;
  options.search_threads = 1;
  engine::LocalStore store(options);

  std::printf("%-9s %-8s %-16s %11s %9s\n", "index", "mode", "system", "QPS", "recall@10");
  auto wanted = [&](const std::string& index) {
    return ("," + indexes + ",").find("," + index + ",") != std::string::npos;
  };
  if (wanted("flat")) {
    engine::IndexConfig index;
    LoadEngine(store, "flat", b, index);
    Measure e1 = EngineSingle(b, store, "flat", b.nq_single), f1 = FaissSingle(b, flat);
    Measure eb = EngineBatched(b, store, "flat"), fb = FaissBatched(b, flat);
    CompareWithFaiss(figures, "flat", e1, f1, eb, fb);
  }
  if (wanted("hnsw")) {
    engine::IndexConfig index;
    index.type = engine::IndexType::kHnsw;
    double engine_build = LoadEngine(store, "hnsw", b, index);

    auto t = Clock::now();
    faiss::IndexHNSWFlat fh(dim, kHnswM);
    fh.hnsw.efConstruction = kEfConstruction;
    omp_set_num_threads(build_threads);
    fh.add(points, b.data.base.data());
    omp_set_num_threads(1);
    double faiss_build = Since(t);
    fh.hnsw.efSearch = kEfSearch;

    t = Clock::now();
    hnswlib::L2Space space(dim);
    hnswlib::HierarchicalNSW<float> hl(&space, points, kHnswM, kEfConstruction);
    std::vector<std::thread> workers;
    for (int w = 0; w < build_threads; ++w) {
      workers.emplace_back([&, w] {
        for (size_t i = w; i < points; i += build_threads) hl.addPoint(b.data.Base(i), i);
      });
    }
    for (auto& w : workers) w.join();
    double hnswlib_build = Since(t);
    hl.setEf(kEfSearch);
    auto hnswlib_search = [&](size_t q) {
      auto top = hl.searchKnn(b.data.Query(q), kK);
      std::vector<uint64_t> ids(top.size());
      for (size_t i = top.size(); i-- > 0; top.pop()) ids[i] = top.top().second;
      return ids;
    };
    t = Clock::now();
    bench::NativeHnswlib native(dim, points, b.data.base.data(), kHnswM, kEfConstruction,
                                build_threads);
    double native_build = Since(t);

    auto faiss_single = [&] {
      return Single(b, b.nq, [&](size_t q) {
        float d[kK];
        idx_t l[kK];
        fh.search(1, b.data.Query(q), kK, d, l);
        return FaissIds(l, kK);
      });
    };
    auto native_single = [&](int ef) {
      return Single(b, b.nq, [&](size_t q) { return native.Search(b.data.Query(q), kK, ef); });
    };

    Measure e1 = EngineSingle(b, store, "hnsw", b.nq);
    Measure f1 = faiss_single();
    Measure h1 = Single(b, b.nq, hnswlib_search);
    Measure n1 = native_single(kEfSearch);
    Row(figures, "hnsw", "batch-1", "vecmesh", e1, nullptr);
    Row(figures, "hnsw", "batch-1", "faiss", f1, &e1);
    Row(figures, "hnsw", "batch-1", "hnswlib", h1, &e1);
    Row(figures, "hnsw", "batch-1", "hnswlib -native", n1, &e1);
    Measure eb = EngineBatched(b, store, "hnsw"), fb = FaissBatched(b, fh);
    Measure hb = Batched(b, [&] {
      std::vector<std::vector<uint64_t>> out;
      for (size_t q = 0; q < b.nq; ++q) out.push_back(hnswlib_search(q));
      return out;
    });
    Row(figures, "hnsw", "batched", "vecmesh", eb, nullptr);
    Row(figures, "hnsw", "batched", "faiss", fb, &eb);
    Row(figures, "hnsw", "batched", "hnswlib", hb, &eb);
    std::printf(
        "  build (%d threads): vecmesh %.1f s (incremental, background), faiss %.1f s, hnswlib "
        "%.1f s, hnswlib -native %.1f s\n",
        build_threads, engine_build, faiss_build, hnswlib_build, native_build);
    for (const auto& [system, seconds] :
         {std::pair{"vecmesh", engine_build}, std::pair{"faiss", faiss_build},
          std::pair{"hnswlib", hnswlib_build}, std::pair{"hnswlib -native", native_build}}) {
      figures.push_back({{"group", "hnsw_build"},
                         {"system", system},
                         {"threads", build_threads},
                         {"seconds", seconds}});
    }
    // Issue 16, item 4: the search loop against hnswlib's, at the same M, ef_construction and ef.
    Target(figures, "hnsw batch 1: vecmesh / Debian's hnswlib", e1.qps / h1.qps, 1.5);
    Target(figures, "hnsw batch 1: vecmesh / hnswlib built -march=native", e1.qps / n1.qps, 1.0);
    BuildOnThreads(figures, b, build_threads);

    if (sweep) {
      SweepHeader("hnsw", "ef_search", b.nq);
      EngineSweep(figures, b, store, "hnsw", b.nq, "hnsw_sweep", "ef_search",
                  &engine::SearchParams::ef_search, kEfSearchSweep);
      // FAISS 1.7.3 sizes its candidate heap from hnsw.efSearch whatever SearchParametersHNSW
      // says (recall stops rising at the index's own ef), and hnswlib takes ef only as index
      // state: both are set on the index, which nothing searches after the sweep.
      Sweep(figures, "hnsw_sweep", "faiss", "ef_search", kEfSearchSweep, [&](int ef) {
        fh.hnsw.efSearch = ef;
        return faiss_single();
      });
      Sweep(figures, "hnsw_sweep", "hnswlib", "ef_search", kEfSearchSweep, [&](int ef) {
        hl.setEf(ef);
        return Single(b, b.nq, hnswlib_search);
      });
      Sweep(figures, "hnsw_sweep", "hnswlib -native", "ef_search", kEfSearchSweep, native_single);
    }
  }
  if (wanted("ivf_flat")) {
    engine::IndexConfig index;
    index.type = engine::IndexType::kIvfFlat;
    index.nlist = kNlist;
    index.nprobe = kNprobe;
    LoadEngine(store, "ivf_flat", b, index);
    faiss::IndexFlatL2 quantizer(dim);
    faiss::IndexIVFFlat fi(&quantizer, dim, kNlist);
    omp_set_num_threads(build_threads);
    fi.train(points, b.data.base.data());
    fi.add(points, b.data.base.data());
    omp_set_num_threads(1);
    fi.nprobe = kNprobe;
    Measure e1 = EngineSingle(b, store, "ivf_flat", b.nq_single), f1 = FaissSingle(b, fi);
    Measure eb = EngineBatched(b, store, "ivf_flat"), fb = FaissBatched(b, fi);
    CompareWithFaiss(figures, "ivf_flat", e1, f1, eb, fb);

    if (sweep) {
      SweepHeader("ivf_flat", "nprobe", b.nq_single);
      EngineSweep(figures, b, store, "ivf_flat", b.nq_single, "ivf_sweep", "nprobe",
                  &engine::SearchParams::nprobe, kNprobeSweep);
      Sweep(figures, "ivf_sweep", "faiss", "nprobe", kNprobeSweep, [&](int nprobe) {
        faiss::SearchParametersIVF params;
        params.nprobe = nprobe;
        return FaissSingle(b, fi, &params);
      });
    }
  }

  // Filtered search: payload filters resolved through the payload index, batch 1.
  const size_t nf = std::min<size_t>(b.nq, 200);
  std::printf("\nfiltered search (vecmesh, batch 1, %zu queries)\n", nf);
  std::printf("%-9s %-12s %11s %9s\n", "index", "selectivity", "QPS", "recall@10");
  for (const testing::Selectivity& s : testing::Selectivities()) {
    // Exact filtered truth from FAISS with the same subset as an IDSelector.
    std::vector<uint8_t> bitmap((points + 7) / 8);
    for (size_t i = 0; i < points; ++i) {
      if (s.keeps(i)) bitmap[i / 8] |= 1 << (i % 8);
    }
    faiss::IDSelectorBitmap selector(points, bitmap.data());
    faiss::SearchParameters params;
    params.sel = &selector;
    Bench fb = b;
    fb.nq = nf;
    {
      std::vector<float> d(nf * kK);
      flat.search(nf, b.data.queries.data(), kK, d.data(), fb.truth.data(), &params);
    }
    auto filter = *engine::Filter::Parse(nlohmann::json::parse(s.filter), {});
    for (const char* name : {"flat", "hnsw", "ivf_flat"}) {
      if (!wanted(name)) continue;
      auto requests = Requests(fb, nf, filter);
      Measure m = Single(
          fb, nf, [&](size_t q) { return testing::IdsOf(*store.Search({}, name, requests[q])); });
      std::printf("%-9s %-12s %11.0f %9.4f\n", name, s.name, m.qps, m.recall);
      figures.push_back({{"group", "filtered"},
                         {"index", name},
                         {"selectivity", s.name},
                         {"system", "vecmesh"},
                         {"mode", "batch-1"},
                         {"queries", m.queries},
                         {"qps", m.qps},
                         {"recall", m.recall}});
    }
  }

  if (json_out.is_open()) {
    const nlohmann::json report = {
        {"bench", "engine"},
        {"points", points},
        {"queries", queries},
        {"dim", dim},
        {"k", kK},
        {"queries_batch_1", b.nq_single},
        {"build_threads", build_threads},
        {"hnsw", {{"m", kHnswM}, {"ef_construction", kEfConstruction}, {"ef_search", kEfSearch}}},
        {"ivf_flat", {{"nlist", kNlist}, {"nprobe", kNprobe}}},
        {"figures", std::move(figures)}};
    json_out << report.dump(2) << "\n";
    if (!json_out.flush()) {
      std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  return 0;
}
