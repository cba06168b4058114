// gpu_flat and gpu_ivf_flat over the CUDA library gpu/ (built only with CUDA).
#include "engine/index/gpu_index.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "engine/index/device_worker.h"
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

// The device side of one index. Shared with the operations queued for it, so that it is
// released on the worker after them, whenever the GpuIndex itself goes.
struct DeviceIndex {
  std::unique_ptr<gpu::FlatIndex> flat;  // gpu_flat
  std::unique_ptr<gpu::IvfFlatIndex> ivf;  // gpu_ivf_flat
  std::string collection;
  std::function<void()> request_rebuild;  // BuildOptions::request_rebuild
  Logger logger;                          // BuildOptions::logger; never empty
  std::atomic<bool> lost_points{false};   // a queued add failed

  Status Add(size_t n, const float* x, const int64_t* ids) {
    return FromGpu(ivf ? ivf->Add(n, x, ids) : flat->Add(n, x, ids));
  }
  Status Search(size_t nq, const float* x, size_t k, size_t nprobe, float* distances,
                int64_t* labels) {
    if (ivf) return FromGpu(ivf->Search(nq, x, k, nprobe, distances, labels));
    return FromGpu(flat->Search(nq, x, k, distances, labels));
  }
};

// One of gpu/'s indexes behind the AnnIndex interface. It is built by the collection's build
// thread, which owns it until the collection takes it; from then on every call into it runs
// on the device's worker.
class GpuIndex : public AnnIndex {
 public:
  GpuIndex(const CollectionConfig& config, DeviceWorker* worker,
           std::shared_ptr<DeviceIndex> device, size_t size)
      : dim_(config.dimension), worker_(worker), device_(std::move(device)), size_(size) {}

  ~GpuIndex() override {
    // Released on the worker, after what is queued for it; not waited for.
    Logger logger = device_->logger;
    worker_->Post([device = std::move(device_)]() mutable { device.reset(); }, std::move(logger));
  }

  std::vector<Neighbor> Search(const float* query, size_t k, const Bitset* allowed,
                               const AnnSearchParams& params) const override {
    return std::move(SearchBatch(query, 1, k, allowed, params, 1)[0]);
  }

  // The device answers the nearest of all indexed points; tombstones and filters are applied
  // here, so it is asked for as many more as there are excluded points, up to kGpuMaxK. An
  // empty answer (a device failure, which is logged, or lost points) or one that comes up short
  // is answered exactly by the collection.
  std::vector<std::vector<Neighbor>> SearchBatch(const float* queries, size_t n, size_t k,
                                                 const Bitset* allowed,
                                                 const AnnSearchParams& params,
                                                 int /*threads*/) const override {
    std::vector<std::vector<Neighbor>> out(n);
    const size_t excluded = allowed ? size_ - allowed->CountBelow(size_) : 0;
    const size_t fetch = std::min({kGpuMaxK, size_, k + excluded});
    if (fetch == 0 || n == 0) return out;
    const size_t nprobe = static_cast<size_t>(std::max(1, params.nprobe));
    DeviceIndex* device = device_.get();
    DeviceWorker::BatchSearch search = [device, fetch, nprobe](size_t nq, const float* x,
                                                               float* distances, int64_t* labels) {
      return device->Search(nq, x, fetch, nprobe, distances, labels);
    };
    std::vector<float> distances(n * fetch);
    std::vector<int64_t> labels(n * fetch);
    const DeviceWorker::SearchKey key{device, fetch, device->ivf ? static_cast<int>(nprobe) : 0};
    Status s = worker_->Search(key, dim_, n, queries, search, distances.data(), labels.data());
    if (!s.ok()) {
      device->logger("warn", "GPU search failed; answering exactly",
                     {{"collection", device->collection}, {"error", s.message()}});
      return out;
    }
    if (device->lost_points) return out;  // an add queued before this search failed
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
  // exactly, and the collection is asked to rebuild it (needs_rebuild).
  void AddEncoded(size_t n, const float* x, const uint8_t*, const uint32_t* slots) override {
    auto vectors = std::make_shared<const std::vector<float>>(x, x + n * dim_);
    auto ids = std::make_shared<const std::vector<int64_t>>(slots, slots + n);
    auto add = [device = device_, vectors, ids] {
      Status s = device->Add(ids->size(), vectors->data(), ids->data());
      if (s.ok()) return;
      device->lost_points = true;
      device->logger("warn",
                     "adding to the GPU index failed; answering exactly until it is rebuilt",
                     {{"collection", device->collection}, {"error", s.message()}});
      if (device->request_rebuild) device->request_rebuild();
    };
    worker_->Post(std::move(add), device_->logger);
    size_ += n;
  }

  bool needs_rebuild() const override { return device_->lost_points; }
  size_t AddBatchSize() const override { return kAddBatch; }
  // The device copy is rebuilt from the points after a restart: an upload (and, for
  // gpu_ivf_flat, a k-means on the device) costs less than writing it to the checkpoint.
  std::string Save() const override { return {}; }
  bool exact_vectors() const override { return true; }
  size_t dim() const override { return dim_; }

 private:
  const size_t dim_;
  DeviceWorker* const worker_;
  std::shared_ptr<DeviceIndex> device_;
  size_t size_;  // points added or queued; changed only while no search runs
};

}  // namespace

Status CheckIndexTypeAvailable(IndexType type) {
  if (!IsGpuIndex(type)) return Status::Ok();
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
  auto picked = PickDevice();
  if (!picked.ok()) return picked.status();
  const int device_number = *picked;
  const size_t dim = config.dimension;
  auto cancelled = [&] { return options.cancelled && options.cancelled->load(); };
  // Built here, on the build thread, not on the device's worker: training and uploading take
  // long, and the worker must go on serving the device's searches meanwhile. Nothing else sees
  // this index until it is returned.
  auto device = std::make_shared<DeviceIndex>();
  device->collection = config.name;
  device->request_rebuild = options.request_rebuild;
  device->logger = options.logger ? options.logger : StderrLogger();
  const gpu::Metric metric = GpuMetric(config.metric);
  Status s;
  if (config.index.type == IndexType::kGpuFlat) {
    s = FromGpu(
        gpu::FlatIndex::Create(device_number, dim, metric, gpu::Storage::kFloat32, &device->flat));
  } else {
    s = FromGpu(gpu::IvfFlatIndex::Create(device_number, dim, metric, gpu::Storage::kFloat32,
                                          static_cast<size_t>(config.index.nlist), &device->ivf));
    if (s.ok() && cancelled()) return std::unique_ptr<AnnIndex>();
    if (s.ok()) s = FromGpu(device->ivf->Train(n, x));  // k-means on the device, on a sample
  }
  for (size_t begin = 0; s.ok() && begin < n; begin += kAddBatch) {
    if (cancelled()) return std::unique_ptr<AnnIndex>();
    const size_t count = std::min(kAddBatch, n - begin);
    const std::vector<int64_t> ids(slots + begin, slots + begin + count);
    s = device->Add(count, x + begin * dim, ids.data());
  }
  if (!s.ok()) return s;
  return std::unique_ptr<AnnIndex>(
      std::make_unique<GpuIndex>(config, &WorkerOf(device_number), std::move(device), n));
}

}  // namespace vecmesh::engine
