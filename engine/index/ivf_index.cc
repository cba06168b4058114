// The FAISS IVF family. Deletes are never applied to FAISS (remove_ids is not safe during
// searches): dead slots are filtered out by an IDSelector and dropped at the next rebuild.
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <omp.h>

#include <cstring>
#include <optional>

#include "engine/index/ann_index.h"

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

// FAISS's (de)serialisation to and from memory: the checkpoint writes the bytes itself (FAISS's
// file writer ignores the errors of fclose).
class StringWriter : public faiss::IOWriter {
 public:
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    out.append(static_cast<const char*>(ptr), size * nitems);
    return nitems;
  }
  std::string out;
};

class StringReader : public faiss::IOReader {
 public:
  explicit StringReader(std::string_view in) : in_(in) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0) return nitems;
    const size_t items = std::min(nitems, in_.size() / size);
    std::memcpy(ptr, in_.data(), items * size);
    in_.remove_prefix(items * size);
    return items;
  }

 private:
  std::string_view in_;
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
  std::string Save() const override {
    StringWriter writer;
    faiss::write_index(index_.get(), &writer);
    return std::move(writer.out);
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

faiss::MetricType FaissMetric(Metric metric) {
  return metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

// Why `index` cannot be the saved index of `config` over slots [0, slots), or "".
std::string CheckIvf(const CollectionConfig& config, const faiss::IndexIVF& index, uint32_t slots) {
  const IndexConfig& ic = config.index;
  const bool type_ok =
      (ic.type == IndexType::kIvfFlat && dynamic_cast<const faiss::IndexIVFFlat*>(&index)) ||
      (ic.type == IndexType::kIvfPq && dynamic_cast<const faiss::IndexIVFPQ*>(&index)) ||
      (ic.type == IndexType::kIvfSq8 &&
       dynamic_cast<const faiss::IndexIVFScalarQuantizer*>(&index));
  if (!type_ok) return "it is not an " + std::string(IndexTypeName(ic.type)) + " index";
  if (index.d != static_cast<int>(config.dimension) || index.metric_type != FaissMetric(config.metric) ||
      index.nlist != static_cast<size_t>(ic.nlist) || !index.is_trained) {
    return "its dimension, metric or list count differ from the collection's";
  }
  for (size_t list = 0; list < index.nlist; ++list) {
    faiss::InvertedLists::ScopedIds ids(index.invlists, list);
    for (size_t i = 0; i < index.invlists->list_size(list); ++i) {
      if (ids[i] < 0 || ids[i] >= slots) {
        return "it holds slot " + std::to_string(ids[i]) + " of only " + std::to_string(slots);
      }
    }
  }
  return "";
}

}  // namespace

StatusOr<std::unique_ptr<AnnIndex>> LoadIvfIndex(const CollectionConfig& config,
                                                 std::string_view image, uint32_t slots) {
  StringReader reader(image);
  std::unique_ptr<faiss::Index> read(faiss::read_index(&reader));
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(read.get());
  std::string problem = ivf ? CheckIvf(config, *ivf, slots) : "it is not an IVF index";
  if (!problem.empty()) {
    return Status::Internal("the saved " + std::string(IndexTypeName(config.index.type)) +
                            " index of collection '" + config.name + "' is unusable: " + problem);
  }
  read.release();
  return std::unique_ptr<AnnIndex>(std::make_unique<IvfIndex>(
      std::unique_ptr<faiss::IndexIVF>(ivf), config.metric,
      config.index.type == IndexType::kIvfFlat));
}

StatusOr<std::unique_ptr<AnnIndex>> BuildIvfIndex(const CollectionConfig& config, size_t n,
                                                  const float* x, const uint32_t* slots,
                                                  const BuildOptions& options) {
  const size_t d = config.dimension;
  const IndexConfig& ic = config.index;
  const faiss::MetricType metric = FaissMetric(config.metric);
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
    case IndexType::kGpuFlat:
    case IndexType::kGpuIvfFlat:
      return Status::Internal("BuildIvfIndex called for a non-FAISS IVF index type");
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
