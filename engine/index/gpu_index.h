// The GPU index types, gpu_flat and gpu_ivf_flat: AnnIndexes over the CUDA library gpu/.
// gpu_index.cc implements them in builds with CUDA; no_gpu.cc in builds without.
//
// Each index lives on one device. It is built on the collection's build thread; once the
// collection has it, everything it does runs on that device's DeviceWorker, so concurrent
// searches of one index are coalesced into one batch. As an AnnIndex it is safe for concurrent
// searches; AddEncoded runs alone (the collection's exclusive lock). The slots are the ids the
// device holds; tombstones and payload filters are applied to what the device returns, which
// fetches more neighbours than asked for when some points are excluded.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/index/ann_index.h"
#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::engine {

// The most neighbours a GPU index returns for one query (gpu::FlatIndex::kMaxK).
constexpr size_t kGpuMaxK = 1024;

// Whether a collection of this index type can be created here: Ok for every CPU type, and for
// the GPU types in a CUDA build on a machine with a CUDA device (looked up once per process: the
// store does it when it starts, outside its locks); otherwise FailedPrecondition saying which
// of the two is missing.
Status CheckIndexTypeAvailable(IndexType type);

// What each device's owner thread has done, for /metrics: one entry per device an index has
// used (none without CUDA). queries / search_batches is how well searches coalesce.
struct GpuDeviceStats {
  int device = 0;
  uint64_t search_batches = 0;
  uint64_t queries = 0;
  size_t waiting = 0;  // operations and searches queued now
};
std::vector<GpuDeviceStats> GpuDevices();

// Builds a gpu_flat or gpu_ivf_flat index (training gpu_ivf_flat's coarse quantizer on the
// device) over n vectors with their slots, on the device with the most free memory. No device,
// or not enough device memory: FailedPrecondition or ResourceExhausted, and the collection keeps
// answering exactly on the CPU.
StatusOr<std::unique_ptr<AnnIndex>> BuildGpuIndex(const CollectionConfig& config, size_t n,
                                                  const float* x, const uint32_t* slots,
                                                  const BuildOptions& options);

}  // namespace vecmesh::engine
