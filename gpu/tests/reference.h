// What the GPU library's tests share: a CHECK that counts failures, random data, the
// double-precision brute force the indexes are checked against (distances as the indexes define
// them, the exact k nearest, recall), and the out-of-memory fill both indexes go through.
// Self-contained (no test framework): the GPU machine has none of our Debian libraries.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "vecmesh_gpu/status.h"

namespace vecmesh::gpu::test {

inline int failures = 0;

// Counts and prints a failure; the test goes on.
#define CHECK(cond, ...)                                 \
  do {                                                   \
    if (!(cond)) {                                       \
      ++::vecmesh::gpu::test::failures;                  \
      std::printf("FAILED %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                          \
      std::printf("\n");                                 \
    }                                                    \
  } while (0)

// main's first step: true (after saying so) when there is no CUDA device; main then returns
// kSkipped, which CTest reports as skipped.
constexpr int kSkipped = 77;
inline bool NoDevice() {
  if (DeviceCount() > 0) return false;
  std::printf("SKIPPED: no CUDA device here (DeviceCount() is 0); run on a GPU machine\n");
  return true;
}

// main's last step: the verdict and the exit code.
inline int Verdict() {
  std::printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}

struct Data {
  size_t n = 0, dim = 0;
  std::vector<float> x;      // n * dim, row-major
  std::vector<int64_t> ids;  // ascending, and not positions: IdOf(i) for generated data
};

inline int64_t IdOf(size_t i) { return static_cast<int64_t>(i * 3 + 7); }

// count standard normal floats from a fixed seed.
inline std::vector<float> Normals(size_t count, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::normal_distribution<float> normal;
  std::vector<float> values(count);
  for (auto& v : values) v = normal(random);
  return values;
}

// n vectors of dim standard normal values.
inline Data Make(size_t n, size_t dim, uint64_t seed) {
  Data d{n, dim, Normals(n * dim, seed), std::vector<int64_t>(n)};
  for (size_t i = 0; i < n; ++i) d.ids[i] = IdOf(i);
  return d;
}

// Lower-is-better distances in double precision, as the indexes define them.
inline double Distance(Metric metric, const float* a, const float* q, size_t dim) {
  double dot = 0, aa = 0, qq = 0;
  for (size_t d = 0; d < dim; ++d) {
    dot += double{a[d]} * q[d];
    aa += double{a[d]} * a[d];
    qq += double{q[d]} * q[d];
  }
  switch (metric) {
    case Metric::kL2:
      return aa - 2 * dot + qq;
    case Metric::kInnerProduct:
      return -dot;
    case Metric::kCosine:
      return -dot / std::sqrt(aa * qq);
  }
  return 0;
}

// The true k nearest ids of each query.
inline std::vector<std::set<int64_t>> Truth(const Data& data, const Data& queries, Metric metric,
                                            size_t k) {
  std::vector<std::set<int64_t>> truth(queries.n);
  std::vector<std::pair<double, int64_t>> all(data.n);
  for (size_t q = 0; q < queries.n; ++q) {
    for (size_t i = 0; i < data.n; ++i) {
      all[i] = {Distance(metric, &data.x[i * data.dim], &queries.x[q * data.dim], data.dim),
                data.ids[i]};
    }
    std::partial_sort(all.begin(), all.begin() + k, all.end());
    for (size_t i = 0; i < k; ++i) truth[q].insert(all[i].second);
  }
  return truth;
}

// The share of the true k nearest found, over every query of truth (labels: k per query).
inline double Recall(const std::vector<std::set<int64_t>>& truth,
                     const std::vector<int64_t>& labels, size_t k) {
  size_t hits = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    for (size_t i = 0; i < k; ++i) hits += truth[q].count(labels[q * k + i]);
  }
  return double(hits) / double(truth.size() * k);
}

// Checks one query's answer against the exact one: k results (fewer only if the index is
// smaller, then label -1 at distance +inf), ascending, each label an id of data whose true
// distance equals the reported one, and the i-th distance equal to the i-th smallest true
// distance (so the ids are right up to ties).
inline void CheckExact(const Data& data, Metric metric, const float* q, size_t k,
                       const float* got_d, const int64_t* got_l, double tolerance,
                       const char* what) {
  std::vector<double> all(data.n);
  for (size_t i = 0; i < data.n; ++i) all[i] = Distance(metric, &data.x[i * data.dim], q, data.dim);
  const size_t expect = std::min(k, data.n);
  std::vector<double> sorted = all;
  std::partial_sort(sorted.begin(), sorted.begin() + expect, sorted.end());
  for (size_t i = 0; i < k; ++i) {
    if (i >= expect) {
      CHECK(got_l[i] == -1 && std::isinf(got_d[i]) && got_d[i] > 0,
            "%s: result %zu should be empty (label -1, distance +inf): %lld at %g", what, i,
            static_cast<long long>(got_l[i]), double{got_d[i]});
      continue;
    }
    const auto found = std::lower_bound(data.ids.begin(), data.ids.end(), got_l[i]);
    const bool known = found != data.ids.end() && *found == got_l[i];
    CHECK(known, "%s: label %lld is not an id in the index", what,
          static_cast<long long>(got_l[i]));
    if (!known) continue;
    const size_t pos = static_cast<size_t>(found - data.ids.begin());
    const double scale = 1 + std::fabs(sorted[i]);
    CHECK(std::fabs(all[pos] - got_d[i]) <= tolerance * scale,
          "%s: result %zu: id %lld is at %g, reported %g", what, i,
          static_cast<long long>(got_l[i]), all[pos], double{got_d[i]});
    CHECK(std::fabs(sorted[i] - got_d[i]) <= tolerance * scale,
          "%s: result %zu is %g, the %zu-th nearest is %g", what, i, double{got_d[i]}, i,
          sorted[i]);
    if (i > 0) CHECK(got_d[i - 1] <= got_d[i], "%s: results out of order at %zu", what, i);
  }
}

// Adds `block` again and again (round r's ids: r * 100'000 + i) until an add fails, at most
// max_rounds times: that add must fail with kOutOfMemory and leave no partial block behind.
template <typename Index>
void FillUntilOutOfMemory(Index* index, const Data& block, int64_t max_rounds) {
  std::vector<int64_t> block_ids(block.n);
  Status failed;
  for (int64_t round = 0; round < max_rounds && failed.ok(); ++round) {
    for (size_t i = 0; i < block.n; ++i) block_ids[i] = round * 100'000 + static_cast<int64_t>(i);
    failed = index->Add(block.n, block.x.data(), block_ids.data());
  }
  CHECK(failed.code == Code::kOutOfMemory, "filling the device: %s", failed.message.c_str());
  const size_t held = index->size();
  std::printf("out of memory after %zu vectors (%zu device bytes): %s\n", held,
              index->device_bytes(), failed.message.c_str());
  CHECK(held > 0 && held % block.n == 0, "the failed add left a partial block: %zu", held);
}

}  // namespace vecmesh::gpu::test
