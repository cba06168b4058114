// gpu_flat and gpu_ivf_flat over the CUDA library gpu/ (built only with CUDA).
#include "engine/gpu_index.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "engine/device_worker.h"
#include "vecmesh_gpu/flat_index.h"
#include "vecmesh_gpu/ivf_flat_index.h"

namespace vecmesh::engine {
namespace {

static_assert(kGpuMaxK == gpu::FlatIndex::kMaxK);

// Vectors a device add takes at once: bounds the copy AddEncoded makes under the collection's
// lock, and the time other work on the device waits for one add.
constexpr size_t kAddBatch = 16'384;

Status FromGpu(const gpu::Status& s) {
  switch (s.code) {
    case gpu::Code::kOk:
      return Status::Ok();
    case gpu::Code::kNoDevice:
      return Status::FailedPrecondition("GPU: " + s.message);
    case gpu::Code::kOutOfMemory:
      return Status::ResourceExhausted("GPU: " + s.message);
    case gpu::Code::kInvalidArgument:
    case gpu::Code::kCudaError:
      break;
  }
  return Status::Internal("GPU: " + s.message);
}

gpu::Metric GpuMetric(Metric metric) {
  switch (metric) {
    case Metric::kL2:
      return gpu::Metric::kL2;
    case Metric::kIp:
      return gpu::Metric::kInnerProduct;
    case Metric::kCosine:
      break;
  }
  return gpu::Metric::kCosine;
}

// The owner thread of each device, made on first use. Never destroyed: an index may be freed
// during the process's exit, after static objects are gone, and still needs its worker.
struct Workers {
  std::mutex mu;  // guards by_device (not the workers, which are thread-safe)
  std::map<int, std::unique_ptr<DeviceWorker>> by_device;
};
Workers& AllWorkers() {
  static auto* workers = new Workers;
  return *workers;
}

DeviceWorker& WorkerOf(int device) {
  Workers& workers = AllWorkers();
  std::lock_guard lock(workers.mu);
  auto& worker = workers.by_device[device];
  if (!worker) worker = std::make_unique<DeviceWorker>();
  return *worker;
}

// The device with the most free memory, or FailedPrecondition when there is none.
StatusOr<int> PickDevice() {
  const int count = gpu::DeviceCount();
  int best = -1;
  size_t best_free = 0;
  for (int device = 0; device < count; ++device) {
    gpu::DeviceMemory memory;
    if (gpu::QueryMemory(device, &memory).ok() && (best < 0 || memory.free_bytes > best_free)) {
      best = device;
      best_free = memory.free_bytes;
    }
  }
  if (best < 0) return Status::FailedPrecondition("no usable CUDA device on this machine");
  return best;
}

// One of gpu/'s indexes behind the AnnIndex interface. Every call into it runs on the device's
// worker; the collection's locks already keep AddEncoded apart from searches.
class GpuIndex : public AnnIndex {
 public:
  GpuIndex(const CollectionConfig& config, DeviceWorker* worker,
           std::unique_ptr<gpu::FlatIndex> flat, std::unique_ptr<gpu::IvfFlatIndex> ivf)
      : dim_(config.dimension),
        name_(config.name),
        worker_(worker),
        flat_(std::move(flat)),
        ivf_(std::move(ivf)) {}

  ~GpuIndex() override {
    // Device memory is released on the owner thread, in order with the device's other work.
    (void)worker_->Run([&] {
      flat_.reset();
      ivf_.reset();
      return Status::Ok();
    });
  }

  std::vector<Neighbor> Search(const float* query, size_t k, const Bitset* allowed,
                               const AnnSearchParams& params) const override {
    return std::move(SearchBatch(query, 1, k, allowed, params, 1)[0]);
  }

  // The device answers the nearest of all indexed points; tombstones and filters are applied
  // here, so it is asked for as many more as there are excluded points, up to kGpuMaxK. A result
  // that comes up short (or a device failure, reported on stderr) is answered exactly by the
  // collection.
  std::vector<std::vector<Neighbor>> SearchBatch(const float* queries, size_t n, size_t k,
                                                 const Bitset* allowed,
                                                 const AnnSearchParams& params,
                                                 int /*threads*/) const override {
    std::vector<std::vector<Neighbor>> out(n);
    const size_t excluded = allowed ? size_ - allowed->CountBelow(size_) : 0;
    const size_t fetch = std::min({kGpuMaxK, size_, k + excluded});
    if (fetch == 0 || n == 0) return out;
    const size_t nprobe = static_cast<size_t>(std::max(1, params.nprobe));
    DeviceWorker::BatchSearch search = [this, fetch, nprobe](size_t nq, const float* x,
                                                             float* distances, int64_t* labels) {
      if (ivf_) return FromGpu(ivf_->Search(nq, x, fetch, nprobe, distances, labels));
      return FromGpu(flat_->Search(nq, x, fetch, distances, labels));
    };
    std::vector<float> distances(n * fetch);
    std::vector<int64_t> labels(n * fetch);
    const DeviceWorker::SearchKey key{this, fetch, ivf_ ? static_cast<int>(nprobe) : 0};
    Status s = worker_->Search(key, dim_, n, queries, search, distances.data(), labels.data());
    if (!s.ok()) {
      std::fprintf(stderr, "vecmesh: GPU search of collection '%s' failed, answering exactly: %s\n",
                   name_.c_str(), s.message().c_str());
      return out;
    }
    if (lost_points_) return out;  // an add queued before this search failed
    for (size_t q = 0; q < n; ++q) {
      for (size_t j = 0; j < fetch && out[q].size() < k; ++j) {
        const int64_t label = labels[q * fetch + j];
        if (label < 0) break;  // fewer than fetch points in the probed lists
        const auto slot = static_cast<uint32_t>(label);
        if (allowed && !allowed->Test(slot)) continue;
        out[q].push_back({distances[q * fetch + j], slot});
      }
    }
    return out;
  }

  // Nothing to prepare: the upload in AddEncoded is the work.
  std::vector<uint8_t> Encode(size_t, const float*) const override { return {}; }

  // Queued on the device's worker, not waited for: the collection holds its exclusive lock here,
  // and the device may be busy with other collections' work. Searches queue behind the add, so
  // they see it. If it fails, the points are lost to the index: its searches are then answered
  // exactly and the collection rebuilds it (needs_rebuild).
  void AddEncoded(size_t n, const float* x, const uint8_t*, const uint32_t* slots) override {
    auto vectors = std::make_shared<const std::vector<float>>(x, x + n * dim_);
    auto ids = std::make_shared<const std::vector<int64_t>>(slots, slots + n);
    worker_->Post([this, vectors, ids] {
      Status s = AddOnDevice(ids->size(), vectors->data(), ids->data());
      if (!s.ok()) {
        lost_points_ = true;
        std::fprintf(stderr,
                     "vecmesh: adding to the GPU index of collection '%s' failed, answering "
                     "exactly until it is rebuilt: %s\n",
                     name_.c_str(), s.message().c_str());
      }
    });
    size_ += n;
  }

  // Adds and waits (building an index, before anyone searches it). The index is unchanged on
  // failure (out of device memory...).
  Status Add(size_t n, const float* x, const uint32_t* slots) {
    const std::vector<int64_t> ids(slots, slots + n);
    Status s = worker_->Run([&] { return AddOnDevice(n, x, ids.data()); });
    if (s.ok()) size_ += n;
    return s;
  }

  bool needs_rebuild() const override { return lost_points_; }
  size_t AddBatchSize() const override { return kAddBatch; }
  // The device copy is rebuilt from the points after a restart: an upload (and, for
  // gpu_ivf_flat, a k-means on the device) costs less than writing it to the checkpoint.
  std::string Save() const override { return {}; }
  bool exact_vectors() const override { return true; }
  size_t dim() const override { return dim_; }

 private:
  const size_t dim_;
  const std::string name_;
  DeviceWorker* const worker_;
  std::unique_ptr<gpu::FlatIndex> flat_;    // gpu_flat
  std::unique_ptr<gpu::IvfFlatIndex> ivf_;  // gpu_ivf_flat
  size_t size_ = 0;  // points added or queued; changed only while no search runs
  std::atomic<bool> lost_points_{false};  // a queued add failed: set on the worker

  // On the worker only.
  Status AddOnDevice(size_t n, const float* x, const int64_t* ids) {
    return FromGpu(ivf_ ? ivf_->Add(n, x, ids) : flat_->Add(n, x, ids));
  }
};

}  // namespace

Status CheckGpuAvailable(IndexType type) {
  static const bool available = gpu::DeviceCount() > 0;  // devices do not come and go
  if (available) return Status::Ok();
  return Status::FailedPrecondition("index.type '" + std::string(IndexTypeName(type)) +
                                    "' needs a CUDA GPU, and none was found on this machine; "
                                    "use flat or ivf_flat");
}

std::vector<GpuDeviceStats> GpuDevices() {
  Workers& workers = AllWorkers();
  std::lock_guard lock(workers.mu);
  std::vector<GpuDeviceStats> out;
  for (const auto& [device, worker] : workers.by_device) {
    out.push_back({device, worker->batches(), worker->queries(), worker->waiting()});
  }
  return out;
}

StatusOr<std::unique_ptr<AnnIndex>> BuildGpuIndex(const CollectionConfig& config, size_t n,
                                                  const float* x, const uint32_t* slots,
                                                  const BuildOptions& options) {
  auto device = PickDevice();
  if (!device.ok()) return device.status();
  DeviceWorker& worker = WorkerOf(*device);
  const size_t dim = config.dimension;
  std::unique_ptr<gpu::FlatIndex> flat;
  std::unique_ptr<gpu::IvfFlatIndex> ivf;
  Status s = worker.Run([&] {
    const gpu::Metric metric = GpuMetric(config.metric);
    if (config.index.type == IndexType::kGpuFlat) {
      return FromGpu(gpu::FlatIndex::Create(*device, dim, metric, gpu::Storage::kFloat32, &flat));
    }
    const auto nlist = static_cast<size_t>(config.index.nlist);
    Status created = FromGpu(
        gpu::IvfFlatIndex::Create(*device, dim, metric, gpu::Storage::kFloat32, nlist, &ivf));
    if (!created.ok()) return created;
    return FromGpu(ivf->Train(n, x));  // k-means on the device, over a sample of x
  });
  if (!s.ok()) return s;
  auto index = std::make_unique<GpuIndex>(config, &worker, std::move(flat), std::move(ivf));
  for (size_t begin = 0; begin < n; begin += kAddBatch) {
    if (options.cancelled && options.cancelled->load()) return std::unique_ptr<AnnIndex>();
    const size_t count = std::min(kAddBatch, n - begin);
    s = index->Add(count, x + begin * dim, slots + begin);
    if (!s.ok()) return s;
  }
  return std::unique_ptr<AnnIndex>(std::move(index));
}

}  // namespace vecmesh::engine
