// `make bench` (bench/engine): the vecmesh engine beside raw FAISS (the same libfaiss, C++) and
// hnswlib (C++) on the same data and parameters, single-threaded, batch 1 and batched, with
// recall@10 beside every QPS figure and the ratios; then filtered-search QPS at 50%, 5% and 0.1%.
//
// Usage: vecmesh_engine_bench [--points N] [--queries N] [--dim N] [--indexes flat,hnsw,ivf_flat]
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
#include <functional>
#include <numeric>
#include <string>
#include <thread>

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
};

// Runs search(q) -> ids for queries [0, n) one at a time.
Measure Single(const Bench& b, size_t n,
               const std::function<std::vector<uint64_t>(size_t)>& search) {
  Measure m;
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

Measure FaissSingle(const Bench& b, faiss::Index& index) {
  return Single(b, b.nq_single, [&](size_t q) {
    std::vector<float> d(kK);
    std::vector<idx_t> l(kK);
    index.search(1, b.data.Query(q), kK, d.data(), l.data());
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
                     size_t n) {
  auto requests = Requests(b, n);
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

void Row(const char* index, const char* mode, const char* system, const Measure& m,
         const Measure* engine) {
  std::printf("%-9s %-8s %-16s %11.0f %9.4f", index, mode, system, m.qps, m.recall);
  if (engine) std::printf("   engine/this = %.2fx", engine->qps / m.qps);
  std::printf("\n");
}

// The four rows comparing the engine with raw FAISS, batch 1 and batched.
void CompareWithFaiss(const char* index, const Measure& engine_single, const Measure& faiss_single,
                      const Measure& engine_batched, const Measure& faiss_batched) {
  Row(index, "batch-1", "vecmesh", engine_single, nullptr);
  Row(index, "batch-1", "faiss", faiss_single, &engine_single);
  Row(index, "batched", "vecmesh", engine_batched, nullptr);
  Row(index, "batched", "faiss", faiss_batched, &engine_batched);
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
void Target(const char* what, double ratio, double floor) {
  std::printf("  %s = %.2fx (target >= %.1fx: %s)\n", what, ratio, floor,
              ratio >= floor ? "MET" : "MISSED");
}

// Issue 16, item 3: the engine's graph built straight from the vectors on one thread and on
// `threads`, timed, with the recall of each at the same ef.
void BuildOnThreads(const Bench& b, int threads) {
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
    auto t = Clock::now();
    auto index = engine::BuildAnnIndex(config, slots.size(), b.data.base.data(), slots.data(),
                                       {.threads = thread_counts[run]});
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
  std::printf(
      "  build of %zu points: 1 thread %.1f s (recall@10 %.4f), %d threads %.1f s (recall@10 "
      "%.4f)\n",
      b.data.num_base(), seconds[0], recall[0], threads, seconds[1], recall[1]);
  std::printf(
      "  build time, %d threads / 1 thread = %.2fx (target <= 0.6x: %s); recall %+.4f "
      "(target within 0.005: %s)\n",
      threads, ratio, ratio <= 0.6 ? "MET" : "MISSED", recall_change,
      std::abs(recall_change) <= 0.005 ? "MET" : "MISSED");
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when piped
  size_t points = 200'000, queries = 1000, dim = 128;
  std::string indexes = "flat,hnsw,ivf_flat";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--points")) {
      points = std::stoul(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--queries")) {
      queries = std::stoul(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--dim")) {
      dim = std::stoul(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--indexes")) {
      indexes = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
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
    CompareWithFaiss("flat", e1, f1, eb, fb);
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

    Measure e1 = EngineSingle(b, store, "hnsw", b.nq);
    Measure f1 = Single(b, b.nq, [&](size_t q) {
      float d[kK];
      idx_t l[kK];
      fh.search(1, b.data.Query(q), kK, d, l);
      return FaissIds(l, kK);
    });
    Measure h1 = Single(b, b.nq, hnswlib_search);
    Measure n1 =
        Single(b, b.nq, [&](size_t q) { return native.Search(b.data.Query(q), kK, kEfSearch); });
    Row("hnsw", "batch-1", "vecmesh", e1, nullptr);
    Row("hnsw", "batch-1", "faiss", f1, &e1);
    Row("hnsw", "batch-1", "hnswlib", h1, &e1);
    Row("hnsw", "batch-1", "hnswlib -native", n1, &e1);
    Measure eb = EngineBatched(b, store, "hnsw"), fb = FaissBatched(b, fh);
    Measure hb = Batched(b, [&] {
      std::vector<std::vector<uint64_t>> out;
      for (size_t q = 0; q < b.nq; ++q) out.push_back(hnswlib_search(q));
      return out;
    });
    Row("hnsw", "batched", "vecmesh", eb, nullptr);
    Row("hnsw", "batched", "faiss", fb, &eb);
    Row("hnsw", "batched", "hnswlib", hb, &eb);
    std::printf(
        "  build (%d threads): vecmesh %.1f s (incremental, background), faiss %.1f s, hnswlib "
        "%.1f s, hnswlib -native %.1f s\n",
        build_threads, engine_build, faiss_build, hnswlib_build, native_build);
    // Issue 16, item 4: the search loop against hnswlib's, at the same M, ef_construction and ef.
    Target("hnsw batch 1: vecmesh / Debian's hnswlib", e1.qps / h1.qps, 1.5);
    Target("hnsw batch 1: vecmesh / hnswlib built -march=native", e1.qps / n1.qps, 1.0);
    BuildOnThreads(b, build_threads);
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
    CompareWithFaiss("ivf_flat", e1, f1, eb, fb);
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
    }
  }
  return 0;
}
