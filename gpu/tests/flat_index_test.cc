// The GPU flat index against a double-precision brute force on the CPU: same neighbours (up to
// ties) for l2, ip and cosine, k in {1, 10, 100, 1024}, batches of 1, 7 and 1000 (both distance
// paths), the split selection of small batches (one tile and several), several query chunks and
// distance tiles, fewer vectors than k, ties; fp16 storage recall@10 >= 0.99; removal; an
// out-of-memory add that fails cleanly and leaves the index working. Self-contained (no test
// framework, see reference.h): the GPU machine has none of our Debian libraries. Exit 77 (CTest:
// skipped) when there is no CUDA device.
#include "vecmesh_gpu/flat_index.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

#include "reference.h"

using namespace vecmesh::gpu;
using namespace vecmesh::gpu::test;

namespace {

// An index on device 0 holding all of `data`; null if creating it failed (counted).
std::unique_ptr<FlatIndex> Filled(const Data& data, Metric metric, Storage storage) {
  std::unique_ptr<FlatIndex> index;
  Status s = FlatIndex::Create(0, data.dim, metric, storage, &index);
  CHECK(s.ok(), "create: %s", s.message.c_str());
  if (!s.ok()) return nullptr;
  s = index->Add(data.n, data.x.data(), data.ids.data());
  CHECK(s.ok(), "add: %s", s.message.c_str());
  return index;
}

// Searches the first nq queries for k neighbours each and checks every `step`-th answer
// against the brute force.
void SearchAndCheckExact(FlatIndex& index, const Data& data, const Data& queries, Metric metric,
                         size_t nq, size_t k, size_t step, const char* what) {
  std::vector<float> d(nq * k);
  std::vector<int64_t> l(nq * k);
  Status s = index.Search(nq, queries.x.data(), k, d.data(), l.data());
  CHECK(s.ok(), "search (%s): %s", what, s.message.c_str());
  char where[128];
  std::snprintf(where, sizeof where, "%s: metric %d k %zu batch %zu", what,
                static_cast<int>(metric), k, nq);
  for (size_t q = 0; q < nq; q += step) {
    CheckExact(data, metric, &queries.x[q * data.dim], k, &d[q * k], &l[q * k], 1e-3, where);
  }
}

void ExactAgainstBruteForce() {
  const Data data = Make(5000, 48, 1);
  const Data queries = Make(1000, 48, 2);
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    auto index = Filled(data, metric, Storage::kFloat32);
    if (!index) return;
    for (size_t k : {size_t{1}, size_t{10}, size_t{100}, size_t{1024}}) {
      for (size_t nq : {size_t{1}, size_t{7}, size_t{1000}}) {
        SearchAndCheckExact(*index, data, queries, metric, nq, k, std::max<size_t>(1, nq / 25),
                            "exact");
      }
    }
  }
}

// Small batches over a larger index take the split selection (several blocks per query, then a
// merge): every answer exact, for k up to 1024 and parts of unequal length.
void SplitSelectionOfSmallBatches() {
  const Data data = Make(50000, 32, 11);
  const Data queries = Make(7, 32, 12);
  for (Metric metric : {Metric::kL2, Metric::kCosine}) {
    auto index = Filled(data, metric, Storage::kFloat32);
    if (!index) return;
    for (size_t k : {size_t{1}, size_t{10}, size_t{1024}}) {
      for (size_t nq : {size_t{1}, size_t{7}}) {
        SearchAndCheckExact(*index, data, queries, metric, nq, k, 1, "split");
      }
    }
  }
}

// On a device of more than 75 multiprocessors (an H100 has 132) a batch of 300 splits each
// query's selection into parts, over 3 distance tiles of 111,848 vectors: each tile's parts
// merge with the best of the tiles before.
void SplitSelectionAcrossTiles() {
  const Data data = Make(250000, 16, 13);
  const Data queries = Make(300, 16, 14);
  auto index = Filled(data, Metric::kL2, Storage::kFloat32);
  if (!index) return;
  SearchAndCheckExact(*index, data, queries, Metric::kL2, queries.n, 10, 29, "split, tiles");
}

// Paths the first test does not reach: more queries than one chunk and more vectors than one
// tile (the running best merged across tiles), fewer vectors than k (empty results), and ties.
void ChunksTilesSmallIndexesAndTies() {
  const Data data = Make(20000, 32, 7);
  const Data queries = Make(5000, 32, 8);
  auto index = Filled(data, Metric::kL2, Storage::kFloat32);
  if (!index) return;
  SearchAndCheckExact(*index, data, queries, Metric::kL2, queries.n, 10, 250,
                      "5000 queries over 20000 vectors");

  const Data small = Make(30, 32, 9);
  auto tiny = Filled(small, Metric::kInnerProduct, Storage::kFloat32);
  if (!tiny) return;
  SearchAndCheckExact(*tiny, small, queries, Metric::kInnerProduct, 3, 100, 1,
                      "k 100 over 30 vectors");

  // 50 copies of one vector: any 10 of them, each once.
  Data copies = Make(50, 32, 10);
  for (size_t i = 1; i < copies.n; ++i) {
    std::copy_n(copies.x.begin(), copies.dim, copies.x.begin() + i * copies.dim);
  }
  auto same = Filled(copies, Metric::kL2, Storage::kFloat32);
  if (!same) return;
  const size_t k = 10;
  std::vector<float> d(k);
  std::vector<int64_t> l(k);
  Status s = same->Search(1, copies.x.data(), k, d.data(), l.data());
  CHECK(s.ok(), "search the copies: %s", s.message.c_str());
  std::set<int64_t> distinct(l.begin(), l.end());
  CHECK(distinct.size() == k && !distinct.count(-1), "10 distinct copies, got %zu",
        distinct.size());
}

void Float16Recall() {
  const Data data = Make(20000, 64, 3);
  const Data queries = Make(200, 64, 4);
  auto index = Filled(data, Metric::kL2, Storage::kFloat16);
  if (!index) return;
  const size_t k = 10;
  std::vector<float> d(queries.n * k);
  std::vector<int64_t> l(queries.n * k);
  Status s = index->Search(queries.n, queries.x.data(), k, d.data(), l.data());
  CHECK(s.ok(), "search fp16: %s", s.message.c_str());
  const double recall = Recall(Truth(data, queries, Metric::kL2, k), l, k);
  std::printf("fp16 storage recall@10: %.4f\n", recall);
  CHECK(recall >= 0.99, "fp16 recall@10 %.4f < 0.99", recall);
}

void RemoveAndOutOfMemory() {
  const Data data = Make(3000, 16, 5);
  auto index = Filled(data, Metric::kL2, Storage::kFloat32);
  if (!index) return;
  std::vector<int64_t> gone;
  for (size_t i = 0; i < data.n; i += 2) gone.push_back(data.ids[i]);
  size_t removed = 0;
  Status s = index->Remove(gone.size(), gone.data(), &removed);
  CHECK(s.ok() && removed == gone.size(), "remove: %s, %zu", s.message.c_str(), removed);
  CHECK(index->size() == data.n - gone.size(), "size after remove %zu", index->size());
  const size_t k = 50;
  std::vector<float> d(100 * k);
  std::vector<int64_t> l(100 * k);
  s = index->Search(100, data.x.data(), k, d.data(), l.data());
  CHECK(s.ok(), "search after remove: %s", s.message.c_str());
  const std::set<int64_t> removed_ids(gone.begin(), gone.end());
  for (int64_t label : l)
    CHECK(!removed_ids.count(label), "removed id %lld came back", static_cast<long long>(label));
  CHECK(index->Add(1, data.x.data(), &data.ids[1]).code == Code::kInvalidArgument,
        "a present id is refused");
  // Kept vectors moved into the holes keep their norms and ids: each still finds itself.
  for (size_t i = 1; i < data.n; i += 2 * 97) {
    s = index->Search(1, &data.x[i * data.dim], 1, d.data(), l.data());
    CHECK(s.ok() && l[0] == data.ids[i] && std::fabs(d[0]) < 1e-2,
          "kept vector %zu after removals: %lld at %g", i, static_cast<long long>(l[0]),
          double{d[0]});
  }

  // Fill a second index until the device is out of memory: that add fails cleanly, the index
  // keeps what it had and goes on answering.
  const Data block = Make(65536, 1024, 6);  // 256 MiB per add
  std::unique_ptr<FlatIndex> big;
  s = FlatIndex::Create(0, block.dim, Metric::kL2, Storage::kFloat32, &big);
  CHECK(s.ok(), "create big: %s", s.message.c_str());
  if (!s.ok()) return;
  FillUntilOutOfMemory(big.get(), block, 2000);
  s = big->Search(1, block.x.data() + 5 * block.dim, 1, d.data(), l.data());
  // Every round added the same vectors: vector 5 is id 5 of some round, at distance 0.
  CHECK(s.ok() && l[0] % 100'000 == 5 && d[0] < 1.0, "search after the failed add: %s, %lld at %g",
        s.message.c_str(), static_cast<long long>(l[0]), double{d[0]});
  big->Reset();
  CHECK(big->size() == 0 && big->device_bytes() == 0, "reset frees the device memory");
  std::printf("device bytes held: %zu\n", index->device_bytes());
}

}  // namespace

int main() {
  if (NoDevice()) return kSkipped;
  std::unique_ptr<FlatIndex> none;
  CHECK(FlatIndex::Create(DeviceCount(), 8, Metric::kL2, Storage::kFloat32, &none).code ==
            Code::kNoDevice,
        "a device that does not exist");
  ExactAgainstBruteForce();
  SplitSelectionOfSmallBatches();
  SplitSelectionAcrossTiles();
  ChunksTilesSmallIndexesAndTies();
  Float16Recall();
  RemoveAndOutOfMemory();
  return Verdict();
}
