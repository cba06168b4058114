// The FAISS IVF family. Deletes are never applied to FAISS (remove_ids is not safe during
// searches): dead slots are filtered out by an IDSelector and dropped at the next rebuild.
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/IDSelector.h>
#include <omp.h>

#include "engine/ann_index.h"

namespace vecmesh::engine {
namespace {

using idx_t = faiss::Index::idx_t;

class BitsetSelector : public faiss::IDSelector {
 public:
  explicit BitsetSelector(const Bitset& bits) : bits_(bits) {}
  bool is_member(idx_t id) const override { return bits_.Test(id); }

 private:
  const Bitset& bits_;
};

class IvfIndex : public AnnIndex {
 public:
  IvfIndex(std::unique_ptr<faiss::IndexIVF> index, Metric metric, bool exact)
      : index_(std::move(index)), metric_(metric), exact_(exact) {}

  std::vector<Neighbor> Search(const float* query, size_t k, const Bitset* allowed,
                               const AnnSearchParams& params) const override {
    return SearchBatch(query, 1, k, allowed, params, 1)[0];
  }

  std::vector<std::vector<Neighbor>> SearchBatch(const float* queries, size_t n, size_t k,
                                                 const Bitset* allowed,
                                                 const AnnSearchParams& params,
                                                 int threads) const override {
    faiss::SearchParametersIVF search_params;
    search_params.nprobe = std::min<size_t>(params.nprobe, index_->nlist);
    std::optional<BitsetSelector> selector;
    if (allowed) search_params.sel = &selector.emplace(*allowed);
    std::vector<float> distances(n * k);
    std::vector<idx_t> labels(n * k);
    // FAISS parallelises over the queries with OpenMP's thread count of the calling thread.
    omp_set_num_threads(threads);
    index_->search(n, queries, k, distances.data(), labels.data(), &search_params);
    std::vector<std::vector<Neighbor>> out(n);
    for (size_t q = 0; q < n; ++q) {
      out[q].reserve(k);
      for (size_t i = q * k; i < (q + 1) * k && labels[i] >= 0; ++i) {
        float d = metric_ == Metric::kL2 ? distances[i] : -distances[i];
        out[q].push_back({d, static_cast<uint32_t>(labels[i])});
      }
    }
    return out;
  }

  std::vector<uint8_t> Encode(size_t n, const float* x) const override {
    std::vector<uint8_t> codes(n * index_->sa_code_size());
    index_->sa_encode(n, x, codes.data());
    return codes;
  }
  void AddEncoded(size_t n, const float*, const uint8_t* codes, const uint32_t* slots) override {
    std::vector<idx_t> ids(slots, slots + n);
    index_->add_sa_codes(n, codes, ids.data());
  }
  // Appending codes is a copy: large batches keep the exclusive section short.
  size_t AddBatchSize() const override { return 4096; }
  bool exact_vectors() const override { return exact_; }
  size_t dim() const override { return index_->d; }

 private:
  std::unique_ptr<faiss::IndexIVF> index_;
  Metric metric_;
  bool exact_;
};

}  // namespace

StatusOr<std::unique_ptr<AnnIndex>> BuildIvfIndex(const CollectionConfig& config, size_t n,
                                                  const float* x, const uint32_t* slots,
                                                  const BuildOptions& options) {
  const size_t d = config.dimension;
  const IndexConfig& ic = config.index;
  const faiss::MetricType metric =
      config.metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
  std::unique_ptr<faiss::IndexFlat> quantizer;
  if (metric == faiss::METRIC_L2) {
    quantizer = std::make_unique<faiss::IndexFlatL2>(d);
  } else {
    quantizer = std::make_unique<faiss::IndexFlatIP>(d);
  }
  std::unique_ptr<faiss::IndexIVF> ivf;
  switch (ic.type) {
    case IndexType::kIvfFlat:
      ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), d, ic.nlist, metric);
      break;
    case IndexType::kIvfPq:
      ivf = std::make_unique<faiss::IndexIVFPQ>(quantizer.get(), d, ic.nlist, ic.pq_m, ic.pq_nbits,
                                                metric);
      break;
    case IndexType::kIvfSq8:
      ivf = std::make_unique<faiss::IndexIVFScalarQuantizer>(
          quantizer.get(), d, ic.nlist, faiss::ScalarQuantizer::QT_8bit, metric);
      break;
    case IndexType::kFlat:
    case IndexType::kHnsw:
      return Status::Internal("BuildIvfIndex called for a non-IVF index type");
  }
  ivf->own_fields = true;
  quantizer.release();  // owned by ivf from here on
  ivf->cp.verbose = false;
  omp_set_num_threads(options.threads);  // FAISS's k-means and encoding use OpenMP
  ivf->train(n, x);

  auto index =
      std::make_unique<IvfIndex>(std::move(ivf), config.metric, ic.type == IndexType::kIvfFlat);
  const size_t batch = index->AddBatchSize();
  for (size_t begin = 0; begin < n; begin += batch) {
    if (options.cancelled && options.cancelled->load()) return std::unique_ptr<AnnIndex>();
    size_t count = std::min(batch, n - begin);
    std::vector<uint8_t> codes = index->Encode(count, x + begin * d);
    index->AddEncoded(count, nullptr, codes.data(), slots + begin);
  }
  return std::unique_ptr<AnnIndex>(std::move(index));
}

}  // namespace vecmesh::engine
