// The GPU IVF-Flat index against a double-precision brute force on the CPU. On 50,000 clustered
// 64-dimensional points (200 Gaussian blobs), nlist 256, trained on the GPU: recall@10 >= 0.95 at
// nprobe 32 for l2, ip and cosine, fp32 and fp16 storage; nprobe = nlist gives the exact answer
// (same neighbours up to ties), over several query chunks; lists too long for one pass (several
// probe passes merged); removal; centroids set from outside (SetCentroids, GetCentroids); invalid
// arguments; an out-of-memory add that fails cleanly and leaves the index working.
// Self-contained (no test framework, see reference.h): the GPU machine has none of our Debian
// libraries. Exit 77 (CTest: skipped) when there is no CUDA device.
#include "vecmesh_gpu/ivf_flat_index.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include "reference.h"
#include "vecmesh_gpu/flat_index.h"

using namespace vecmesh::gpu;
using namespace vecmesh::gpu::test;

namespace {

// The documented operating point: on the clustered data below (nlist 256), nprobe 32 gives
// recall@10 >= 0.95 for every metric and storage.
constexpr size_t kNprobe = 32;
constexpr size_t kNlist = 256;
constexpr double kMinRecall = 0.95;

// n points, each a uniformly chosen centre (centers: rows of dim) plus N(0, sigma^2) noise in
// every dimension.
Data Around(const std::vector<float>& centers, size_t dim, size_t n, float sigma, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<size_t> pick(0, centers.size() / dim - 1);
  Data d{n, dim, std::vector<float>(n * dim), std::vector<int64_t>(n)};
  for (size_t i = 0; i < n; ++i) {
    const float* c = &centers[pick(random) * dim];
    for (size_t j = 0; j < dim; ++j) d.x[i * dim + j] = c[j] + sigma * normal(random);
    d.ids[i] = IdOf(i);
  }
  return d;
}

const char* Name(Metric metric) {
  switch (metric) {
    case Metric::kL2:
      return "l2";
    case Metric::kInnerProduct:
      return "ip";
    case Metric::kCosine:
      return "cosine";
  }
  return "?";
}

std::unique_ptr<IvfFlatIndex> Build(const Data& data, Metric metric, Storage storage,
                                    size_t nlist) {
  std::unique_ptr<IvfFlatIndex> index;
  Status s = IvfFlatIndex::Create(0, data.dim, metric, storage, nlist, &index);
  CHECK(s.ok(), "create: %s", s.message.c_str());
  if (!s.ok()) return nullptr;
  s = index->Train(data.n, data.x.data());
  CHECK(s.ok() && index->is_trained(), "train: %s", s.message.c_str());
  s = index->Add(data.n, data.x.data(), data.ids.data());
  CHECK(s.ok() && index->size() == data.n, "add: %s", s.message.c_str());
  return s.ok() ? std::move(index) : nullptr;
}

// Recall at the documented nprobe for every metric and storage; nprobe = nlist is exact (fp32),
// over 2,000 queries (several query chunks: a query's row then holds all 50,000 candidates).
void RecallAndExactness() {
  const std::vector<float> centers = Normals(200 * 64, 11);
  const Data data = Around(centers, 64, 50000, 1.2f, 12);
  const Data queries = Around(centers, 64, 2000, 1.2f, 13);
  Data recall_queries = queries;  // the first 200 for recall
  recall_queries.n = 200;
  recall_queries.x.resize(200 * 64);
  const size_t k = 10;
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    const auto truth = Truth(data, recall_queries, metric, k);
    for (Storage storage : {Storage::kFloat32, Storage::kFloat16}) {
      const char* storage_name = storage == Storage::kFloat16 ? "fp16" : "fp32";
      auto index = Build(data, metric, storage, kNlist);
      if (!index) continue;
      std::vector<float> d(queries.n * k);
      std::vector<int64_t> l(queries.n * k);
      for (size_t nprobe : {size_t{1}, size_t{8}, kNprobe}) {
        Status s = index->Search(recall_queries.n, queries.x.data(), k, nprobe, d.data(), l.data());
        CHECK(s.ok(), "search: %s", s.message.c_str());
        const double recall = Recall(truth, l, k);
        std::printf("%-6s %s nlist %zu nprobe %2zu: recall@10 %.4f\n", Name(metric), storage_name,
                    kNlist, nprobe, recall);
        if (nprobe == kNprobe) {
          CHECK(recall >= kMinRecall, "%s %s recall@10 at nprobe %zu is %.4f < %.2f", Name(metric),
                storage_name, kNprobe, recall, kMinRecall);
        }
      }
      if (storage == Storage::kFloat16) continue;
      // Every list probed: the exact answer. nprobe beyond nlist is clamped to nlist.
      for (size_t nprobe : {kNlist, size_t{100000}}) {
        Status s = index->Search(queries.n, queries.x.data(), k, nprobe, d.data(), l.data());
        CHECK(s.ok(), "exhaustive search: %s", s.message.c_str());
        char what[96];
        std::snprintf(what, sizeof what, "%s nprobe %zu", Name(metric), nprobe);
        for (size_t q = 0; q < queries.n; q += 97) {
          CheckExact(data, metric, &queries.x[q * data.dim], k, &d[q * k], &l[q * k], 1e-3, what);
        }
      }
      // nprobe 0 is clamped to 1; k up to 1024 (more than the probed lists may hold: padding).
      std::vector<float> big_d(3 * 1024);
      std::vector<int64_t> big_l(3 * 1024);
      Status s = index->Search(3, queries.x.data(), 1024, 0, big_d.data(), big_l.data());
      CHECK(s.ok(), "nprobe 0, k 1024: %s", s.message.c_str());
      for (size_t q = 0; q < 3; ++q) {
        for (size_t i = 1; i < 1024; ++i) {
          const bool ordered =
              big_l[q * 1024 + i] == -1 ||
              (big_l[q * 1024 + i - 1] != -1 && big_d[q * 1024 + i - 1] <= big_d[q * 1024 + i]);
          CHECK(ordered, "k 1024 nprobe 1: result %zu out of order or after padding", i);
          if (!ordered) break;
        }
      }
      s = index->Search(3, queries.x.data(), 1024, kNlist, big_d.data(), big_l.data());
      CHECK(s.ok(), "k 1024 exhaustive: %s", s.message.c_str());
      for (size_t q = 0; q < 3; ++q) {
        CheckExact(data, metric, &queries.x[q * data.dim], 1024, &big_d[q * 1024], &big_l[q * 1024],
                   1e-3, "k 1024 exhaustive");
      }
    }
  }
}

// Two lists of ~18M 4-dimensional vectors: with nprobe 2, a query's candidates (~36M) exceed
// one pass's buffer (32Mi distances), so the lists are scanned in two passes whose best are
// merged.
void ManyPasses() {
  const std::vector<float> centers = {-10, 0, 0, 0, 10, 0, 0, 0};
  const Data data = Around(centers, 4, 36'000'000, 3.0f, 21);
  const Data queries = Around(centers, 4, 3, 3.0f, 22);
  auto index = Build(data, Metric::kL2, Storage::kFloat32, 2);
  if (!index) return;
  const size_t k = 100;
  std::vector<float> d(queries.n * k);
  std::vector<int64_t> l(queries.n * k);
  Status s = index->Search(queries.n, queries.x.data(), k, 2, d.data(), l.data());
  CHECK(s.ok(), "search 36M: %s", s.message.c_str());
  for (size_t q = 0; q < queries.n; ++q) {
    CheckExact(data, Metric::kL2, &queries.x[q * 4], k, &d[q * k], &l[q * k], 1e-3,
               "two passes over 36M vectors");
  }
  std::printf("36M vectors in 2 lists: %zu device bytes\n", index->device_bytes());
}

// Removal: removed ids never come back, the rest is still found exactly, moved rows keep their
// ids; removing twice or an absent id removes nothing; a removed id can be added again; Reset
// keeps the quantizer.
void RemoveAndReset() {
  const std::vector<float> centers = Normals(50 * 32, 31);
  const Data data = Around(centers, 32, 20000, 1.0f, 32);
  auto index = Build(data, Metric::kL2, Storage::kFloat32, 64);
  if (!index) return;
  std::vector<int64_t> gone;
  for (size_t i = 0; i < data.n; i += 3) gone.push_back(data.ids[i]);
  gone.push_back(gone.front());  // twice in one request: removed once
  gone.push_back(1);             // not an id
  size_t removed = 0;
  Status s = index->Remove(gone.size(), gone.data(), &removed);
  const size_t expect_removed = (data.n + 2) / 3;
  CHECK(s.ok() && removed == expect_removed, "remove: %s, %zu", s.message.c_str(), removed);
  CHECK(index->size() == data.n - expect_removed, "size after remove %zu", index->size());
  s = index->Remove(gone.size(), gone.data(), &removed);
  CHECK(s.ok() && removed == 0, "remove again: %s, %zu", s.message.c_str(), removed);

  Data kept{0, data.dim, {}, {}};
  for (size_t i = 0; i < data.n; ++i) {
    if (i % 3 == 0) continue;
    kept.x.insert(kept.x.end(), &data.x[i * data.dim], &data.x[(i + 1) * data.dim]);
    kept.ids.push_back(data.ids[i]);
    ++kept.n;
  }
  const std::set<int64_t> removed_ids(gone.begin(), gone.end());
  const size_t k = 50, nq = 100;
  std::vector<float> d(nq * k);
  std::vector<int64_t> l(nq * k);
  for (size_t nprobe : {size_t{4}, size_t{64}}) {
    s = index->Search(nq, data.x.data(), k, nprobe, d.data(), l.data());
    CHECK(s.ok(), "search after remove: %s", s.message.c_str());
    for (int64_t label : l) {
      CHECK(!removed_ids.count(label), "removed id %lld came back", static_cast<long long>(label));
    }
  }
  for (size_t q = 0; q < nq; q += 7) {
    CheckExact(kept, Metric::kL2, &data.x[q * data.dim], k, &d[q * k], &l[q * k], 1e-3,
               "exhaustive after remove");
  }
  // Rows moved into holes keep their ids: each kept vector still finds itself.
  for (size_t i = 1; i < data.n; i += 3 * 37) {
    s = index->Search(1, &data.x[i * data.dim], 1, 64, d.data(), l.data());
    CHECK(s.ok() && l[0] == data.ids[i] && std::fabs(d[0]) < 1e-3,
          "kept vector %zu after removals: %lld at %g", i, static_cast<long long>(l[0]),
          double{d[0]});
  }
  s = index->Add(1, data.x.data(), data.ids.data());
  CHECK(s.ok() && index->size() == kept.n + 1, "a removed id is added again: %s",
        s.message.c_str());
  s = index->Search(1, data.x.data(), 1, 64, d.data(), l.data());
  CHECK(s.ok() && l[0] == data.ids[0], "the re-added vector is found: %lld",
        static_cast<long long>(l[0]));
  CHECK(index->Add(1, data.x.data(), &data.ids[1]).code == Code::kInvalidArgument,
        "a present id is refused");

  const size_t held = index->device_bytes();
  index->Reset();
  CHECK(index->size() == 0 && index->is_trained() && index->device_bytes() < held,
        "reset drops the vectors and keeps the quantizer");
  s = index->Search(1, data.x.data(), 1, 64, d.data(), l.data());
  CHECK(s.ok() && l[0] == -1, "search of an empty index: %s, %lld", s.message.c_str(),
        static_cast<long long>(l[0]));
  s = index->Add(data.n, data.x.data(), data.ids.data());
  CHECK(s.ok() && index->size() == data.n, "add after reset: %s", s.message.c_str());
}

// A quantizer computed elsewhere: the blobs' own centres as centroids give the same recall; the
// centroids of a GPU-trained index set into another give the same answers.
void SetCentroids() {
  const size_t blobs = 200, dim = 64, k = 10;
  const std::vector<float> centers = Normals(blobs * dim, 11);
  const Data data = Around(centers, dim, 50000, 1.2f, 12);
  const Data queries = Around(centers, dim, 200, 1.2f, 14);
  const auto truth = Truth(data, queries, Metric::kL2, k);
  std::unique_ptr<IvfFlatIndex> index;
  Status s = IvfFlatIndex::Create(0, dim, Metric::kL2, Storage::kFloat32, blobs, &index);
  CHECK(s.ok(), "create: %s", s.message.c_str());
  if (!s.ok()) return;
  CHECK(!index->is_trained(), "a new index is untrained");
  s = index->SetCentroids(centers.data());
  CHECK(s.ok() && index->is_trained(), "set centroids: %s", s.message.c_str());
  std::vector<float> back(blobs * dim);
  s = index->GetCentroids(back.data());
  CHECK(s.ok() && back == centers, "get centroids: %s", s.message.c_str());
  s = index->Add(data.n, data.x.data(), data.ids.data());
  CHECK(s.ok(), "add: %s", s.message.c_str());
  std::vector<float> d(queries.n * k);
  std::vector<int64_t> l(queries.n * k);
  s = index->Search(queries.n, queries.x.data(), k, kNprobe, d.data(), l.data());
  CHECK(s.ok(), "search: %s", s.message.c_str());
  const double recall = Recall(truth, l, k);
  std::printf("l2 fp32 with the blob centres as centroids, nprobe %zu: recall@10 %.4f\n", kNprobe,
              recall);
  CHECK(recall >= kMinRecall, "set centroids: recall@10 %.4f", recall);
  CHECK(index->SetCentroids(centers.data()).code == Code::kInvalidArgument,
        "new centroids for a non-empty index are refused");

  auto trained = Build(data, Metric::kCosine, Storage::kFloat32, kNlist);
  if (!trained) return;
  std::vector<float> cents(kNlist * dim);
  s = trained->GetCentroids(cents.data());
  CHECK(s.ok(), "get centroids: %s", s.message.c_str());
  std::unique_ptr<IvfFlatIndex> copy;
  s = IvfFlatIndex::Create(0, dim, Metric::kCosine, Storage::kFloat32, kNlist, &copy);
  CHECK(s.ok(), "create the copy: %s", s.message.c_str());
  if (!s.ok()) return;
  s = copy->SetCentroids(cents.data());
  CHECK(s.ok(), "set trained centroids: %s", s.message.c_str());
  s = copy->Add(data.n, data.x.data(), data.ids.data());
  CHECK(s.ok(), "add to the copy: %s", s.message.c_str());
  std::vector<float> d2(queries.n * k);
  std::vector<int64_t> l2(queries.n * k);
  s = trained->Search(queries.n, queries.x.data(), k, kNprobe, d.data(), l.data());
  CHECK(s.ok(), "search: %s", s.message.c_str());
  s = copy->Search(queries.n, queries.x.data(), k, kNprobe, d2.data(), l2.data());
  CHECK(s.ok(), "search the copy: %s", s.message.c_str());
  CHECK(l == l2, "the same centroids give the same answers");
}

void InvalidArguments() {
  const std::vector<float> centers = Normals(8 * 16, 41);
  const Data data = Around(centers, 16, 1000, 1.0f, 42);
  std::unique_ptr<IvfFlatIndex> index;
  CHECK(IvfFlatIndex::Create(DeviceCount(), 16, Metric::kL2, Storage::kFloat32, 8, &index).code ==
            Code::kNoDevice,
        "a device that does not exist");
  CHECK(IvfFlatIndex::Create(0, 16, Metric::kL2, Storage::kFloat32, 0, &index).code ==
            Code::kInvalidArgument,
        "nlist 0");
  CHECK(IvfFlatIndex::Create(0, 0, Metric::kL2, Storage::kFloat32, 8, &index).code ==
            Code::kInvalidArgument,
        "dim 0");
  Status s = IvfFlatIndex::Create(0, 16, Metric::kL2, Storage::kFloat32, 8, &index);
  CHECK(s.ok(), "create: %s", s.message.c_str());
  if (!s.ok()) return;
  std::vector<float> d(10 * 1025);
  std::vector<int64_t> l(10 * 1025);
  CHECK(index->Add(data.n, data.x.data(), data.ids.data()).code == Code::kInvalidArgument,
        "add to an untrained index");
  CHECK(index->Search(1, data.x.data(), 10, 4, d.data(), l.data()).code == Code::kInvalidArgument,
        "search an untrained index");
  CHECK(index->Train(7, data.x.data()).code == Code::kInvalidArgument, "fewer than nlist to train");
  std::vector<float> bad(data.x.begin(), data.x.begin() + 100 * 16);
  bad[50] = NAN;
  CHECK(index->Train(100, bad.data()).code == Code::kInvalidArgument, "NaN in the training set");
  CHECK(!index->is_trained(), "failed trainings leave the index untrained");
  s = index->Train(data.n, data.x.data());
  CHECK(s.ok(), "train: %s", s.message.c_str());
  CHECK(index->Add(100, bad.data(), data.ids.data()).code == Code::kInvalidArgument,
        "NaN in a vector");
  std::vector<int64_t> twice = {1, 2, 1};
  CHECK(index->Add(3, data.x.data(), twice.data()).code == Code::kInvalidArgument,
        "an id twice in one add");
  CHECK(index->size() == 0, "refused adds add nothing");
  s = index->Add(data.n, data.x.data(), data.ids.data());
  CHECK(s.ok(), "add: %s", s.message.c_str());
  CHECK(index->Search(1, data.x.data(), 0, 4, d.data(), l.data()).code == Code::kInvalidArgument,
        "k 0");
  CHECK(index->Search(1, data.x.data(), 1025, 4, d.data(), l.data()).code == Code::kInvalidArgument,
        "k 1025");
  CHECK(index->Train(data.n, data.x.data()).code == Code::kInvalidArgument,
        "training a non-empty index");
  CHECK(index->Search(0, data.x.data(), 10, 4, d.data(), l.data()).ok(), "no queries");
}

// Fill the device until an add runs out of memory: that add fails cleanly (kOutOfMemory, no
// partial block), the index keeps what it had and goes on answering. A ballast index, dropped
// after the failure, guarantees the search's own buffers room on the full device.
void OutOfMemory() {
  const std::vector<float> centers = Normals(16 * 1024, 51);
  const Data block = Around(centers, 1024, 65536, 1.0f, 52);  // 256 MiB per add
  std::unique_ptr<FlatIndex> ballast;
  Status s = FlatIndex::Create(0, block.dim, Metric::kL2, Storage::kFloat32, &ballast);
  CHECK(s.ok(), "create ballast: %s", s.message.c_str());
  if (!s.ok()) return;
  s = ballast->Add(block.n, block.x.data(), block.ids.data());
  CHECK(s.ok(), "ballast: %s", s.message.c_str());
  std::unique_ptr<IvfFlatIndex> big;
  s = IvfFlatIndex::Create(0, block.dim, Metric::kL2, Storage::kFloat32, 16, &big);
  CHECK(s.ok(), "create big: %s", s.message.c_str());
  if (!s.ok()) return;
  s = big->Train(4096, block.x.data());
  CHECK(s.ok(), "train big: %s", s.message.c_str());
  FillUntilOutOfMemory(big.get(), block, 4000);
  ballast->Reset();
  std::vector<float> d(1);
  std::vector<int64_t> l(1);
  // nprobe 1: vector 5's own list (its nearest centroid). Every round added the same vectors:
  // vector 5 is id 5 of some round, at distance 0.
  s = big->Search(1, block.x.data() + 5 * block.dim, 1, 1, d.data(), l.data());
  CHECK(s.ok() && l[0] % 100'000 == 5 && d[0] < 1.0, "search after the failed add: %s, %lld at %g",
        s.message.c_str(), static_cast<long long>(l[0]), double{d[0]});
  big->Reset();
  std::printf("after reset: %zu device bytes (the quantizer and list tables)\n",
              big->device_bytes());
  CHECK(big->size() == 0 && big->device_bytes() < (size_t{1} << 20), "reset frees the lists");
}

}  // namespace

int main() {
  if (NoDevice()) return kSkipped;
  std::printf("documented operating point: nlist %zu, nprobe %zu, recall@10 >= %.2f\n", kNlist,
              kNprobe, kMinRecall);
  InvalidArguments();
  RecallAndExactness();
  SetCentroids();
  RemoveAndReset();
  ManyPasses();
  OutOfMemory();
  return Verdict();
}
